#!/usr/bin/env node
// Runs the compiled CLI; `npm ci` builds it (the root `prepare` script).
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const path = (p) => fileURLToPath(new URL(p, import.meta.url));
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);
const verify = process.argv[2] === 'verify';
// `verify` checks a server from outside: it starts without loading this one.
const compiled = path(verify ? '../dist/verify-cli.js' : '../dist/cli.js');
// The bundle (scripts/bundle.mjs) starts several times faster; a later `tsc -b` makes it stale.
const bundle = path('../dist/bundle/cli.js');
const fresh = !verify && mtime(bundle) >= Math.max(mtime(path('../tsconfig.tsbuildinfo')), mtime(path('../../client/tsconfig.tsbuildinfo')));
const cli = fresh && mtime(bundle) > 0 ? bundle : compiled;
if (!existsSync(cli)) {
  console.error('Tributary is not built yet: run `npm run build` (npm ci does it).');
  process.exit(1);
}
const { main } = await import(cli);
await main(process.argv.slice(verify ? 3 : 2));
