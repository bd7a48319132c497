/**
 * One realtime server under test, in its own process (its RSS and CPU are its own): `tributary`
 * (the real app: native WebSocket /v1/ws and SSE /v1/subscribe), `ws` (plain `ws` broadcast:
 * the practical floor), `socketio` (Socket.IO 4.8, one room) or `sse` (plain node:http SSE
 * broadcast). Over IPC: `publish {rate, durationMs, bytes}` runs a paced publisher in-process,
 * `rss` (after GC), `cpu` (µs used so far), `fill {count}` (history for the replay test), `close`.
 *
 * argv[2]: JSON { target, dataDir?, redisUrl?, keyPrefix? }: with redisUrl, Tributary keeps its
 * stream log in Redis and Socket.IO uses its official Redis adapter (bench/cluster.js).
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from './lib/clock.js';

const { target, dataDir, redisUrl, keyPrefix } = JSON.parse(process.argv[2]);
const CHANNEL = 'public:bench';
process.on('disconnect', () => process.exit(0));

/** 100-byte JSON payload: {"t":…,"n":…,"p":"xxx…"} padded to the size. */
function payload(n, bytes) {
  const base = JSON.stringify({ t: now(), n, p: '' });
  return JSON.stringify({ t: JSON.parse(base).t, n, p: 'x'.repeat(Math.max(0, bytes - base.length)) });
}

let publishOne;
let port;
let close;
if (target === 'tributary') {
  const { buildApp } = await import('../packages/server/dist/app.js');
  const { loadConfig } = await import('../packages/server/dist/config/load.js');
  const config = loadConfig({
    env: {},
    overrides: {
      server: { host: '127.0.0.1', port: 0 },
      dataDir,
      log: { level: 'silent' },
      realtime: { pingIntervalMs: 60_000 },
      ...(redisUrl ? { redis: { url: redisUrl, keyPrefix } } : {}),
    },
  });
  const app = await buildApp(config);
  const url = await app.listen();
  port = Number(new URL(url).port);
  const publisher = app.ctx.realtime.publisher;
  // Pre-parsed payload: the publish API takes data objects (as POST /v1/publish would after parsing).
  publishOne = (n, bytes) => publisher.publish({ channel: CHANNEL, data: JSON.parse(payload(n, bytes)) });
  close = () => app.close();
} else if (target === 'ws') {
  const { WebSocketServer } = await import('ws');
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  publishOne = (n, bytes) => {
    const data = payload(n, bytes);
    for (const client of wss.clients) client.send(data);
  };
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  port = server.address().port;
  close = () => {
    for (const c of wss.clients) c.terminate();
    return new Promise((r) => server.close(r));
  };
} else if (target === 'socketio') {
  const { Server } = await import('socket.io');
  const server = http.createServer();
  const io = new Server(server, { transports: ['websocket'], serveClient: false });
  if (redisUrl) {
    // Socket.IO's official Redis adapter: every emit goes through Redis pub/sub to every node.
    const { createAdapter } = await import('@socket.io/redis-adapter');
    const { Redis } = await import('ioredis');
    const pub = new Redis(redisUrl);
    const sub = pub.duplicate();
    io.adapter(createAdapter(pub, sub, { key: `${keyPrefix}socket.io` }));
  }
  io.on('connection', (socket) => socket.join('bench'));
  publishOne = (n, bytes) => io.to('bench').emit('m', JSON.parse(payload(n, bytes)));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  port = server.address().port;
  close = () => new Promise((r) => io.close(() => r()));
} else if (target === 'sse') {
  const clients = new Set();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write(': open\n\n');
    clients.add(res);
    res.on('close', () => clients.delete(res));
  });
  let id = 0;
  publishOne = (n, bytes) => {
    const frame = `id: ${++id}\ndata: ${payload(n, bytes)}\n\n`;
    for (const res of clients) res.write(frame);
  };
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  port = server.address().port;
  close = () => {
    for (const res of clients) res.destroy();
    return new Promise((r) => server.close(r));
  };
} else throw new Error(`unknown target ${target}`);

let next = 0;
const commands = {
  async publish({ rate, durationMs, bytes }) {
    const start = performance.now();
    const first = next;
    let sent = 0;
    while (performance.now() - start < durationMs) {
      const due = Math.floor(((performance.now() - start) * rate) / 1000) + 1;
      // The messages due now leave together (in order): a Redis-backed publisher pipelines them
      // instead of paying one round trip each, as a busy producer's concurrent publishes would.
      const batch = [];
      while (sent < due) {
        batch.push(publishOne(next++, bytes));
        sent++;
      }
      await Promise.all(batch);
      await sleep(Math.max(1, Math.min(10, 1000 / rate / 2)));
    }
    return { first, count: sent, endedAt: now() };
  },
  async fill({ count, bytes }) {
    for (let i = 0; i < count; i++) await publishOne(next++, bytes);
    return { first: next - count, count };
  },
  /** This process's CPU time so far (µs): the client brackets a step with it. */
  cpu() {
    const { user, system } = process.cpuUsage();
    return { micros: user + system };
  },
  rss() {
    globalThis.gc?.();
    globalThis.gc?.();
    return { rss: process.memoryUsage().rss };
  },
  async close() {
    await close();
    setImmediate(() => process.exit(0));
    return {};
  },
};
process.on('message', async ({ id, cmd, args }) => {
  try {
    process.send({ id, ok: true, result: await commands[cmd](args ?? {}) });
  } catch (err) {
    process.send({ id, ok: false, error: err?.stack ?? String(err) });
  }
});
process.send({ type: 'ready', port });
