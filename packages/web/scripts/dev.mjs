#!/usr/bin/env node
// `npm run dev`: the API server (demo models unless keys are set) plus Vite with hot reload,
// proxying API paths to the server. Ctrl+C stops both.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const apiPort = process.env.PORT ?? '8080';
const children = [
  spawn(process.execPath, [join(root, 'packages/server/bin/tributary.js'), 'serve', '--port', apiPort], { stdio: 'inherit', cwd: root }),
  spawn(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), '--port', process.env.WEB_PORT ?? '5173'], {
    stdio: 'inherit',
    cwd: join(root, 'packages/web'),
    env: { ...process.env, TRIBUTARY_API: `http://127.0.0.1:${apiPort}` },
  }),
];
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
for (const c of children)
  c.on('exit', (code) => {
    stop();
    process.exitCode = code ?? 0;
  });
