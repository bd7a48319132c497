import { useEffect, useState } from 'react';
import { KEYS, loadJson, saveJson } from './state/storage';

type Theme = 'light' | 'dark';

/** Dark or light: the system's preference until the user picks one, then theirs. */
export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => {
    const saved = loadJson<Theme | null>(KEYS.theme, null);
    if (saved === 'light' || saved === 'dark') return saved;
    return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  });
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const toggle = () =>
    setTheme((t) => {
      const next = t === 'dark' ? 'light' : 'dark';
      saveJson(KEYS.theme, next);
      return next;
    });
  return [theme, toggle];
}
