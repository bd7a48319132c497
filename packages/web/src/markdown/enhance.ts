import { copyText } from '../copy';

/** Highlighting and math are heavy: loaded on first use, never in the initial bundle. */
let hljs: Promise<typeof import('highlight.js').default> | undefined;
let katex: Promise<typeof import('katex').default> | undefined;

const loadHljs = () => (hljs ??= import('highlight.js/lib/common').then((m) => m.default));
const loadKatex = () => (katex ??= Promise.all([import('katex'), import('katex/dist/katex.min.css')]).then(([m]) => m.default));

/** Highlights code blocks (with a copy button) and typesets math inside a rendered block. */
export async function enhance(root: HTMLElement): Promise<void> {
  const codes = [...root.querySelectorAll<HTMLElement>('pre > code:not([data-enhanced])')];
  const maths = [...root.querySelectorAll<HTMLElement>('.math:not([data-enhanced])')];
  for (const code of codes) {
    code.dataset.enhanced = 'true';
    addCopyButton(code);
  }
  if (codes.length > 0) {
    const h = await loadHljs();
    for (const code of codes) if (code.isConnected) h.highlightElement(code);
  }
  if (maths.length > 0) {
    const k = await loadKatex();
    for (const el of maths) {
      if (!el.isConnected) continue;
      el.dataset.enhanced = 'true';
      k.render(el.dataset.tex ?? '', el, { displayMode: el.classList.contains('math-display'), throwOnError: false });
    }
  }
}

function addCopyButton(code: HTMLElement): void {
  const pre = code.parentElement!;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'copy-code';
  button.textContent = 'Copy';
  button.setAttribute('aria-label', 'Copy code');
  button.addEventListener('click', () => {
    void copyText(code.textContent ?? '').then((ok) => {
      button.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => (button.textContent = 'Copy'), 1500);
    });
  });
  pre.classList.add('has-copy');
  pre.appendChild(button);
}
