/**
 * The fan-out bench's subscribers of one target (tributary, ws, socketio or sse): connecting
 * them, counting what each receives and recording publish-to-receive latency. Used inside the
 * client processes (rt-client-child.js), never next to the server.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { io as ioClient } from 'socket.io-client';
import { now } from './clock.js';

export const CHANNEL = 'public:bench';

/** The native protocol's messages in one frame: one JSON per line (replays come batched). */
export const messagesOf = (data) =>
  String(data)
    .split('\n')
    .map((line) => JSON.parse(line));

/** One subscriber: counts messages and when the last arrived. */
class Subscriber {
  constructor(window) {
    this.window = window;
    this.received = 0;
    this.disconnected = false;
    /** When (wall clock) the last message arrived: the 1-s rule is checked on it, not on a timer a busy process may run late. */
    this.lastAt = 0;
  }

  onPayload(p) {
    const t = now();
    this.received++;
    this.lastAt = t;
    const w = this.window;
    if (w.active && p.n >= w.first) w.histogram.record(t - p.t);
  }
}

function connectSse(target, port, sub, closers) {
  const path = target === 'tributary' ? `/v1/subscribe?channels=${CHANNEL}` : '/';
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { Accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      let buf = '';
      let opened = false;
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!opened && (frame.startsWith(':') || frame.includes('event: recovery'))) {
            opened = true;
            resolve();
          }
          const d = frame.indexOf('data: ');
          if (d === -1 || frame.includes('event: recovery')) continue;
          const json = JSON.parse(frame.slice(d + 6, frame.indexOf('\n', d) === -1 ? undefined : frame.indexOf('\n', d)));
          sub.onPayload(target === 'tributary' ? json.data : json);
        }
      });
      res.on('close', () => {
        sub.disconnected = true;
      });
    });
    req.on('error', reject);
    closers.push(() => req.destroy());
  });
}

async function connectSocketIo(port, sub, closers) {
  const socket = ioClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  socket.on('m', (p) => sub.onPayload(p));
  socket.on('disconnect', () => {
    sub.disconnected = true;
  });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  await sleep(0);
  closers.push(() => socket.close());
}

async function connectWs(target, port, sub, closers) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${target === 'tributary' ? '/v1/ws' : '/'}`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('error', reject);
    if (target !== 'tributary') ws.once('open', resolve);
    else {
      ws.once('open', () => ws.send(JSON.stringify({ type: 'connect', version: 1 })));
      ws.on('message', function first(data) {
        const m = JSON.parse(data);
        if (m.type === 'connected') ws.send(JSON.stringify({ type: 'subscribe', channel: CHANNEL }));
        if (m.type === 'subscribed') {
          ws.off('message', first);
          resolve();
        }
      });
    }
  });
  ws.on('message', (data) => {
    if (target !== 'tributary') return sub.onPayload(JSON.parse(data));
    for (const m of messagesOf(data)) if (m.type === 'pub') sub.onPayload(m.data);
  });
  ws.on('close', () => {
    sub.disconnected = true;
  });
  closers.push(() => ws.terminate());
}

/**
 * Connects `count` subscribers (100 at a time) that record into `window`
 * ({active, first, histogram}); resolves with them and a close-all.
 */
export async function connectAll(target, transport, port, count, window) {
  const subs = [];
  const closers = [];
  const one = async () => {
    const sub = new Subscriber(window);
    if (transport === 'sse') await connectSse(target, port, sub, closers);
    else if (target === 'socketio') await connectSocketIo(port, sub, closers);
    else await connectWs(target, port, sub, closers);
    subs.push(sub);
  };
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, one));
  return { subs, close: () => closers.forEach((c) => c()) };
}
