import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, startRealtimeServer } from '../support/realtime.js';
import type { TestServer } from '../support/server.js';

/**
 * Slowloris: a client that trickles its headers or its body holds a socket (and a parser)
 * forever unless the server times the *request* out. Responses are never timed: a long SSE
 * stream outlives both timeouts.
 */
describe('attack: slow headers and slow bodies', () => {
  let server: TestServer;
  let port: number;
  beforeAll(async () => {
    server = await startRealtimeServer({ server: { headersTimeoutMs: 800, requestTimeoutMs: 1_500 } });
    port = Number(new URL(server.url).port);
  });
  afterAll(() => server.close());

  /** Writes `head` then one byte of `rest` every `everyMs`; resolves with what the server answered and how long the socket lived. */
  function trickle(head: string, rest: string, everyMs: number): Promise<{ answer: string; ms: number }> {
    return new Promise((resolve) => {
      const started = Date.now();
      const socket: Socket = connect(port, '127.0.0.1');
      let answer = '';
      let i = 0;
      const timer = setInterval(() => {
        if (i < rest.length && !socket.destroyed) socket.write(rest[i++]!);
      }, everyMs);
      socket.on('data', (d) => {
        answer += d;
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ answer, ms: Date.now() - started });
      });
      socket.write(head);
      // A server without the defence keeps the socket for minutes; give up after 8 s.
      setTimeout(() => socket.destroy(), 8_000).unref();
    });
  }

  it('headers trickled one byte every 100 ms: the socket is closed (408) within the headers timeout', async () => {
    const { answer, ms } = await trickle('GET /health HTTP/1.1\r\n', 'Host: x\r\nX-Slow: ' + 'a'.repeat(200) + '\r\n\r\n', 100);
    expect(ms).toBeLessThan(4_000);
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('a body trickled one byte every 100 ms: the socket is closed (408) within the request timeout', async () => {
    const body = JSON.stringify({ channel: 'public:slow', data: 'x'.repeat(200) });
    const head = `POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { answer, ms } = await trickle(head, body, 100);
    expect(ms).toBeLessThan(5_000);
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('an SSE stream is not a slow request: it lives past both timeouts and still gets events', async () => {
    const abort = new AbortController();
    const res = await fetch(`${server.url}/v1/subscribe?channels=public:long`, { signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await new Promise((r) => setTimeout(r, 2_500)); // past headersTimeout (0.8 s) and requestTimeout (1.5 s)
    await publish(server.url, { channel: 'public:long', data: { after: 'timeouts' } });
    let text = '';
    while (!text.includes('"after":"timeouts"')) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += new TextDecoder().decode(value);
    }
    abort.abort();
  });
});
