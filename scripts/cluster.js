/**
 * N Tributary nodes (real `tributary serve` processes) on consecutive ports against one Redis
 * and one PostgreSQL, optionally behind Debian's nginx configured by deploy/nginx.conf
 * (round-robin, no stickiness). A module for tests and benchmarks, and a command:
 *
 *   npm run cluster -- --nodes 3 [--port 8080] [--nginx] [--nginx-port 8000]
 *
 * The command takes REDIS_URL (default redis://127.0.0.1:6379) and DATABASE_URL from the
 * environment, prints the nodes' URLs and runs until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const BIN = fileURLToPath(new URL('../packages/server/bin/tributary.js', import.meta.url));
export const NGINX = '/usr/sbin/nginx';
const SITE = fileURLToPath(new URL('../deploy/nginx.conf', import.meta.url));

/** Children still running: killed if this process exits without closing them (a crashed test or bench). */
const LIVE = new Set();
process.once('exit', () => {
  for (const child of LIVE) child.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (for nginx, whose listen address we write before it starts). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * One node: `tributary serve` with the cluster's environment and config file. `port` 0 lets the
 * OS choose (tests); `restart()` starts it again on the port it had.
 */
async function startNode(index, { port, env, configPath, dataDir }) {
  const node = { index, url: '', port, child: null, output: '', exited: null };
  node.start = async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', String(node.port), '--host', '127.0.0.1', '--config', configPath], {
      env: { ...env, TRIBUTARY_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    node.child = child;
    LIVE.add(child);
    child.once('exit', () => LIVE.delete(child));
    node.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
    let out = '';
    child.stderr.on('data', (d) => (node.output += d));
    node.url = await new Promise((resolve, reject) => {
      const onData = (d) => {
        out += d;
        node.output += d;
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) {
          child.stdout.off('data', onData);
          child.stdout.on('data', (more) => (node.output += more));
          resolve(m[1]);
        }
      };
      child.stdout.on('data', onData);
      void node.exited.then((code) => reject(new Error(`node ${index} exited ${code}: ${node.output}`)));
    });
    node.port = Number(new URL(node.url).port);
    return node;
  };
  /** SIGKILL: no shutdown code runs (a crash, the OOM killer). */
  node.kill = async () => {
    if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
    await node.exited;
  };
  /** SIGTERM: graceful shutdown; resolves with the exit code. */
  node.stop = async () => {
    if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGTERM');
    return node.exited;
  };
  node.restart = async () => {
    await node.stop();
    return node.start();
  };
  await node.start();
  return node;
}

/**
 * Debian's nginx in front of `upstreams` ("host:port"), configured by deploy/nginx.conf with
 * only its listen line and upstream servers changed; `edit` may change the site further.
 */
export async function startNginx(upstreams, { port, edit = (s) => s } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-nginx-'));
  const listen = port ?? (await freePort());
  const site = edit(readFileSync(SITE, 'utf8'))
    .replace(/server 127\.0\.0\.1:8080;[^\n]*/, upstreams.map((u) => `server ${u};`).join('\n    '))
    .replace(/listen 80;/, `listen 127.0.0.1:${listen};`);
  if (!site.includes(`server ${upstreams[0]};`) || !site.includes(`:${listen};`))
    throw new Error('deploy/nginx.conf no longer has the expected listen/upstream lines');
  writeFileSync(join(dir, 'site.conf'), site);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  LIVE.add(child);
  child.once('exit', () => LIVE.delete(child));
  child.once('error', () => undefined); // reported below as an exit
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${listen}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`nginx exited: ${stderr}${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}`);
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
    pid: child.pid,
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

/**
 * Starts `nodes` nodes sharing `redisUrl` (under `keyPrefix`) and `databaseUrl` (in `schema`),
 * each with `config` (a config file object) and its own data directory. `basePort` 0: each
 * node on a port the OS picks; else consecutive ports from it.
 */
export async function startCluster({
  nodes = 3,
  basePort = 0,
  redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  databaseUrl = process.env.DATABASE_URL,
  keyPrefix = process.env.TRIBUTARY_REDIS_PREFIX ?? 'tributary:',
  schema,
  config = {},
  env = {},
  nginx = false,
  nginxPort,
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cluster-'));
  const configPath = join(dir, 'config.json');
  const database = { ...(databaseUrl ? { url: databaseUrl } : {}), ...(schema ? { schema } : {}), ...config.database };
  writeFileSync(configPath, JSON.stringify({ ...config, database, redis: { url: redisUrl, keyPrefix, ...config.redis } }));
  const nodeEnv = { ...process.env, LOG_LEVEL: 'warn', ...env };
  // The nodes read only the config file for these: a stray variable of the caller must not win.
  for (const key of ['REDIS_URL', 'DATABASE_URL', 'TRIBUTARY_REDIS_PREFIX', 'PORT', 'HOST', 'TRIBUTARY_CONFIG']) delete nodeEnv[key];
  const started = [];
  const cluster = {
    nodes: started,
    dir,
    keyPrefix,
    schema,
    url: '',
    nginx: null,
    async close() {
      await cluster.nginx?.close();
      await Promise.all(started.map((n) => n.stop().catch(() => undefined)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    // One after another: the first node runs the database migrations, the others find them done.
    for (let i = 0; i < nodes; i++) {
      const port = basePort === 0 ? 0 : basePort + i;
      const node = await startNode(i, { port, env: nodeEnv, configPath, dataDir: join(dir, `node${i}`) });
      started.push(node);
    }
    if (nginx)
      cluster.nginx = await startNginx(
        started.map((n) => `127.0.0.1:${n.port}`),
        { port: nginxPort },
      );
    cluster.url = cluster.nginx?.url ?? started[0].url;
    return cluster;
  } catch (err) {
    await cluster.close();
    throw err;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      port: { type: 'string', default: '8080' },
      nginx: { type: 'boolean', default: false },
      'nginx-port': { type: 'string' },
    },
  });
  if (!process.env.DATABASE_URL) console.warn('DATABASE_URL is not set: each node keeps its own SQLite (comparisons are then not shared).');
  // Every node must sign and check with the same secrets: made once here unless the environment has them.
  const { randomBytes } = await import('node:crypto');
  const realtime = {
    publishKey: process.env.TRIBUTARY_PUBLISH_KEY ?? randomBytes(24).toString('base64url'),
    tokenSecret: process.env.TRIBUTARY_TOKEN_SECRET ?? randomBytes(32).toString('base64url'),
  };
  const cluster = await startCluster({
    config: { realtime },
    nodes: Number(values.nodes),
    basePort: Number(values.port),
    nginx: values.nginx,
    nginxPort: values['nginx-port'] ? Number(values['nginx-port']) : undefined,
  });
  for (const n of cluster.nodes) console.log(`node ${n.index + 1}: ${n.url}`);
  if (cluster.nginx) console.log(`nginx (round-robin): ${cluster.nginx.url}`);
  console.log(`publish key: ${realtime.publishKey}`);
  console.log('Ctrl-C stops the cluster.');
  const stop = () => void cluster.close().finally(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
