/** localStorage that never throws (private mode, quota, corrupted JSON). */
export function loadJson<T>(key: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : (JSON.parse(raw) as T);
  } catch {
    return fallback;
  }
}

export function saveJson(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or unavailable: the page keeps working, only resume-after-reload is lost.
  }
}

export const KEYS = {
  session: 'tributary.session',
  models: 'tributary.models',
  tier: 'tributary.tier',
  theme: 'tributary.theme',
} as const;
