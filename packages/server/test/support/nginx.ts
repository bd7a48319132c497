import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = '/usr/sbin/nginx';
export const nginxAvailable = existsSync(NGINX);
const SITE = new URL('../../../../deploy/nginx.conf', import.meta.url);

/**
 * What the site file prevents: nginx's defaults (buffering, HTTP/1.0 upstream), also ignoring
 * our X-Accel-Buffering header. An `edit` for startNginx.
 */
export const bufferingOn = (site: string) =>
  site.replace('proxy_buffering off;', 'proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;').replace('proxy_http_version 1.1;', 'proxy_http_version 1.0;');

export interface Nginx {
  url: string;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Debian's nginx in front of `upstream`, configured by the shipped site file
 * (`deploy/nginx.conf`) with only its listen and upstream addresses changed; `edit` may change
 * the site further (the buffering-on variant).
 */
export async function startNginx(upstream: string, edit: (site: string) => string = (s) => s): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-nginx-'));
  const port = await freePort();
  const { host } = new URL(upstream);
  const site = edit(readFileSync(SITE, 'utf8'))
    .replace(/server 127\.0\.0\.1:8080;/, `server ${host};`)
    .replace(/listen 80;/, `listen 127.0.0.1:${port};`);
  if (!site.includes(`server ${host};`) || !site.includes(`:${port};`)) throw new Error('deploy/nginx.conf no longer has the expected listen/upstream lines');
  writeFileSync(join(dir, 'site.conf'), site);
  writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`);
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}`);
    try {
      await fetch(`${url}/health`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`nginx did not answer: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGQUIT');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
