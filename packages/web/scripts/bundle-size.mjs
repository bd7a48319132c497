#!/usr/bin/env node
// Measures the JavaScript a first visit downloads: the entry script and every module it
// preloads, gzipped. Fails the build above the budget; lazy chunks (KaTeX, highlight.js) don't count.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const BUDGET_BYTES = 300 * 1024;

export function initialBundle(dist) {
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const srcs = [...html.matchAll(/<script[^>]+type="module"[^>]+src="([^"]+)"/g), ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g)].map(
    (m) => m[1],
  );
  const files = [...new Set(srcs)].map((src) => {
    const bytes = readFileSync(join(dist, src.replace(/^\//, '')));
    return { file: src, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  return { files, gzip: files.reduce((n, f) => n + f.gzip, 0), raw: files.reduce((n, f) => n + f.bytes, 0) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
  const { files, gzip, raw } = initialBundle(dist);
  if (files.length === 0) {
    console.error('bundle-size: no entry script found in dist/index.html');
    process.exit(1);
  }
  const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
  console.log(`initial JS: ${kb(gzip)} gzipped (${kb(raw)} raw) in ${files.length} file(s); budget ${kb(BUDGET_BYTES)}`);
  if (gzip > BUDGET_BYTES) {
    console.error(`bundle-size: initial JS is over budget by ${kb(gzip - BUDGET_BYTES)}`);
    process.exit(1);
  }
}
