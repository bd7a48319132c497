#!/usr/bin/env node
// Runs the compiled CLI; `npm ci` builds it (the root `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// `verify` checks a server from outside: it starts without loading this one.
const cli = fileURLToPath(new URL(process.argv[2] === 'verify' ? '../dist/verify-cli.js' : '../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('Tributary is not built yet: run `npm run build` (npm ci does it).');
  process.exit(1);
}
const { main } = await import(cli);
await main(process.argv.slice(process.argv[2] === 'verify' ? 3 : 2));
