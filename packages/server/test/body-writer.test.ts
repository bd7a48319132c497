import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyWriter } from '../src/transports/body-writer.js';

/** A server whose every response is PIECES written through a BodyWriter, then ended. */
const PIECES = ['data: one\n\n', 'data: ünïcode ✓\n\n', 'x'.repeat(70_000), 'data: last\n\n'];
let server: http.Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/**
 * `/slow` writes half, then the rest 50 ms later; `/corked-first` corks before its first piece;
 * every response writes its middle pieces corked.
 */
async function start(): Promise<number> {
  server = http.createServer((req, res) => {
    const body = new BodyWriter(res, 200, { 'content-type': 'text/event-stream' });
    const uncorkFirst = req.url === '/corked-first' ? body.cork() : undefined;
    body.write(PIECES[0]!);
    body.write(''); // nothing to send: must not end the body
    uncorkFirst?.();
    const rest = () => {
      const uncork = body.cork();
      body.write(PIECES[1]!);
      body.write(PIECES[2]!);
      uncork();
      body.write(PIECES[3]!);
      body.end('data: [DONE]\n\n');
    };
    if (req.url === '/slow') setTimeout(rest, 50);
    else rest();
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** Raw bytes of one or more requests sent on one socket, read until the server closes or `until` matches. */
function raw(port: number, requests: string, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(requests));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      text += d;
      if (until(text)) socket.destroy(), resolve(text);
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('BodyWriter: one write per piece, framed as HTTP/1.1 chunks', () => {
  it('an HTTP/1.1 client reads every piece in order, also pipelined behind a response that still streams, and when corked from the start', async () => {
    const port = await start();
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const text = await raw(port, request('/slow') + request('/') + request('/corked-first'), (t) => t.split('\r\n0\r\n\r\n').length === 4);
    const responses = text.split('HTTP/1.1 200 OK').slice(1);
    expect(responses).toHaveLength(3);
    for (const r of responses) {
      expect(r).toMatch(/transfer-encoding: chunked/i);
      const body = r.slice(r.indexOf('\r\n\r\n') + 4);
      // De-chunk by the sizes the server declared: any framing error breaks the join.
      let rest = body;
      let joined = '';
      for (;;) {
        const eol = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, eol), 16);
        if (size === 0) break;
        const chunk = Buffer.from(rest.slice(eol + 2), 'utf8')
          .subarray(0, size)
          .toString('utf8');
        expect(rest.slice(eol + 2 + chunk.length, eol + 4 + chunk.length)).toBe('\r\n');
        joined += chunk;
        rest = rest.slice(eol + 4 + chunk.length);
      }
      expect(joined).toBe(PIECES.join('') + 'data: [DONE]\n\n');
    }
  });

  it('an HTTP/1.0 client gets the plain body, ended by the close', async () => {
    const port = await start();
    const text = await raw(port, `GET / HTTP/1.0\r\n\r\n`, () => false);
    expect(text).not.toMatch(/transfer-encoding/i);
    expect(text.slice(text.indexOf('\r\n\r\n') + 4)).toBe(PIECES.join('') + 'data: [DONE]\n\n');
  });

  it('node:http reads it as a normal streamed response', async () => {
    const port = await start();
    const body = await new Promise<string>((resolve) =>
      http.get({ port, host: '127.0.0.1' }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve(t));
      }),
    );
    expect(body).toBe(PIECES.join('') + 'data: [DONE]\n\n');
  });
});
