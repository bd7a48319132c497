import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { metrics, publish, RawWs, startRealtimeServer } from './support/realtime.js';
import type { TestServer } from './support/server.js';

type Writes = { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };

/** Counts the writes handed to the kernel (`_write` / `_writev`) per server-side socket, by the client's port. */
function countSocketWrites(): { byPeerPort: Map<number, number>; restore: () => void } {
  const proto = net.Socket.prototype as unknown as Writes;
  const original = { _write: proto._write, _writev: proto._writev };
  const byPeerPort = new Map<number, number>();
  for (const name of ['_write', '_writev'] as const) {
    proto[name] = function (this: net.Socket, ...args: unknown[]) {
      if (this.remotePort !== undefined) byPeerPort.set(this.remotePort, (byPeerPort.get(this.remotePort) ?? 0) + 1);
      return original[name].apply(this, args);
    };
  }
  return { byPeerPort, restore: () => Object.assign(proto, original) };
}

describe('bursts of live events', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('leave in a few writes per connection when published together, in order, deflated or not', async () => {
    server = await startRealtimeServer();
    const plain = await RawWs.native(server.url, undefined, { perMessageDeflate: false });
    const deflating = await RawWs.native(server.url);
    for (const c of [plain, deflating]) {
      c.send({ type: 'subscribe', channel: 'public:burst' });
      await c.next((m) => m.type === 'subscribed');
    }
    // 400 events, every fourth one 2 KB (deflated for the client that negotiated it): about 250 KB.
    const events = Array.from({ length: 400 }, (_, i) => ({ channel: 'public:burst', data: { i, pad: i % 4 === 0 ? 'z'.repeat(2_000) : '' } }));
    const writes = countSocketWrites();
    try {
      expect((await publish(server.url, { events })).status).toBe(200);
      for (const c of [plain, deflating]) {
        const got = await c.until((m) => m.type === 'pub', 400);
        expect(got.map((m) => m.data.i)).toEqual(events.map((e) => e.data.i));
      }
    } finally {
      writes.restore();
    }
    for (const c of [plain, deflating]) {
      const port = (c.ws as unknown as { _socket: net.Socket })._socket.localPort!;
      // One write for the first event, then the rest of the burst in writes of up to 64 KiB.
      expect(writes.byPeerPort.get(port)).toBeGreaterThan(0);
      expect(writes.byPeerPort.get(port)).toBeLessThan(20);
    }
    expect((await metrics(server.url)).compressedMessages).toBeGreaterThan(0);
    // A lone event after the burst still goes out at once, on its own.
    await publish(server.url, { channel: 'public:burst', data: { i: 400 } });
    expect((await plain.next((m) => m.type === 'pub' && m.data.i === 400)).seq).toBe(401);
    plain.close();
    deflating.close();
  });

  it('leave in a few writes per SSE subscriber when published together, in order', async () => {
    server = await startRealtimeServer();
    const url = new URL('/v1/subscribe?channels=public:burst', server.url);
    const datas: string[] = [];
    let opened!: () => void;
    const open = new Promise<void>((r) => {
      opened = r;
    });
    let buf = '';
    const req = http.get(url, { headers: { Accept: 'text/event-stream' }, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (frame.includes('event: recovery')) opened();
          else if (frame.includes('data: ')) datas.push(frame.slice(frame.indexOf('data: ') + 6));
        }
      });
    });
    await open;
    const events = Array.from({ length: 400 }, (_, i) => ({ channel: 'public:burst', data: { i, pad: i % 4 === 0 ? 'z'.repeat(2_000) : '' } }));
    const writes = countSocketWrites();
    try {
      expect((await publish(server.url, { events })).status).toBe(200);
      await expect.poll(() => datas.length, { timeout: 5_000 }).toBe(400);
    } finally {
      writes.restore();
    }
    expect(datas.map((d) => JSON.parse(d).data.i)).toEqual(events.map((e) => e.data.i));
    // One write for the first event, then the rest of the burst in writes of up to 64 KiB (not 400).
    const port = req.socket!.localPort!;
    expect(writes.byPeerPort.get(port)).toBeGreaterThan(0);
    expect(writes.byPeerPort.get(port)).toBeLessThan(20);
    // A lone event after the burst still goes out at once.
    await publish(server.url, { channel: 'public:burst', data: { i: 400 } });
    await expect.poll(() => datas.length, { timeout: 5_000 }).toBe(401);
    req.destroy();
  });
});
