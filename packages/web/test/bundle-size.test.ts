import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JS build script
import { BUDGET_BYTES, initialBundle } from '../scripts/bundle-size.mjs';

const dist = fileURLToPath(new URL('../dist', import.meta.url));

describe('the built web app', () => {
  it('loads under 300 kB of gzipped JavaScript; KaTeX and highlight.js stay out of it', () => {
    expect(existsSync(`${dist}/index.html`), 'packages/web/dist is missing: `npm test` builds it first').toBe(true);
    const { files, gzip } = initialBundle(dist) as { files: { file: string }[]; gzip: number };
    console.log(`initial JS: ${(gzip / 1024).toFixed(1)} kB gzipped in ${files.length} file(s)`);
    expect(files.length).toBeGreaterThan(0);
    expect(gzip).toBeLessThan(BUDGET_BYTES);
    expect(files.some((f) => /katex|common|highlight/i.test(f.file))).toBe(false);
  });
});
