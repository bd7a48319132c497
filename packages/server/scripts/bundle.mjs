#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli.js) into dist/bundle/: a start parses a few files instead of
// ~1,000 small modules, which is most of its time (docs/benchmarks.md, "Start-up"). Modules loaded
// on demand (Redis, BullMQ, upstream HTTP) become chunks a keyless single node never reads.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const server = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(server, 'dist/bundle');
rmSync(outdir, { recursive: true, force: true }); // chunk names are content hashes: old ones would pile up
await build({
  entryPoints: [join(server, 'dist/cli.js')],
  // dist/bundle/ sits at the same depth as dist/http/, so paths built from import.meta.url
  // (the web app's dist, package.json) resolve the same bundled or not.
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: names stay as written, for stack traces and `constructor.name`
  // (keepNames would restore them, at ~100 ms of start-up).
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  // Native addons, and swagger-ui, which serves files from its own directory.
  external: ['better-sqlite3', 'pg-native', '@fastify/swagger-ui'],
  // CommonJS dependencies call require(); an ES module bundle has to provide it.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
