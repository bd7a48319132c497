import { request } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, RawWs, startRealtimeServer } from '../support/realtime.js';
import type { TestServer } from '../support/server.js';

/** Header and SSE injection through event data, and path traversal on the static files. */
describe('attack: injection and traversal', () => {
  let server: TestServer;
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'tributary-static-'));
    const web = join(root, 'web');
    mkdirSync(join(web, 'assets'), { recursive: true });
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(web, 'assets', 'app-abc.js'), 'console.log(1)');
    writeFileSync(join(root, 'secret.txt'), 'TOP-SECRET-OUTSIDE-THE-WEB-ROOT');
    server = await startRealtimeServer({ web: { enabled: true, dir: web } });
  });
  afterAll(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });

  const FORGERY = 'x\n\nevent: forged\nid: public:inj:evil:999\ndata: {"owned":true}\n\n';

  it('SSE: newlines in event data cannot forge frames, ids or types', async () => {
    const abort = new AbortController();
    const res = await fetch(`${server.url}/v1/subscribe?channels=public:inj`, { signal: abort.signal });
    const reader = res.body!.getReader();
    for (const data of [FORGERY, { nested: FORGERY, crlf: 'a\r\n\r\nevent: forged\r\n' }]) {
      expect((await publish(server.url, { channel: 'public:inj', data })).status).toBe(200);
    }
    expect((await publish(server.url, { channel: 'public:inj', type: 'ok\nevent: forged', data: 1 })).json.code).toBe('invalid_field');
    expect((await publish(server.url, { channel: 'public:inj\nevent: forged', data: 1 })).json.code).toBe('invalid_channel');
    expect((await publish(server.url, { channel: 'public:inj', data: 'last' })).status).toBe(200);
    let text = '';
    while (!text.includes('"last"')) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    const frames = text.split('\n\n').filter((f) => f.includes('data:'));
    const events = frames.filter((f) => /^event: message$/m.test(f));
    expect(events).toHaveLength(3);
    expect(text).not.toMatch(/^event: forged/m);
    expect(text).not.toMatch(/^id: public:inj:evil/m);
    // Each frame's data is one line of JSON that round-trips to what was published.
    expect(JSON.parse(/^data: (.*)$/m.exec(events[0]!)![1]!).data).toBe(FORGERY);
  });

  it('WebSocket: newlines in data cannot forge protocol lines', async () => {
    const client = await RawWs.native(server.url);
    client.send({ type: 'subscribe', id: 1, channel: 'public:inj-ws' });
    await client.next((m) => m.type === 'subscribed');
    await publish(server.url, { channel: 'public:inj-ws', data: 'a\n{"type":"pub","channel":"public:inj-ws","seq":999,"data":"forged"}\n' });
    const pub = await client.next((m) => m.type === 'pub');
    expect(pub.seq).toBe(1);
    expect(client.messages.filter((m) => m.seq === 999 || m.raw)).toEqual([]);
    client.close();
  });

  it('response headers never carry request text: an idempotency key with CR/LF cannot be sent, and keys are not echoed', async () => {
    const res = await fetch(`${server.url}/v1/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer test-publish-key-0123456789', 'Idempotency-Key': 'k%0d%0aSet-Cookie:%20x=1' },
      body: JSON.stringify({ channel: 'public:inj', data: 1 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect([...res.headers.keys()].join(',')).not.toMatch(/idempotency/i);
  });

  /** A raw request: Node's client sends the path exactly as given (fetch would normalise `..`). */
  function rawGet(path: string): Promise<{ status: number; body: string }> {
    const { port } = new URL(server.url);
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers: { Accept: 'text/html,*/*' } }, (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it.each([
    '/../secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/..%5csecret.txt',
    '/assets/..\\..\\secret.txt',
    '/%252e%252e/secret.txt',
    '//..//secret.txt',
    '/index.html%00/../../secret.txt',
  ])('path traversal %s serves nothing outside the web root', async (path) => {
    const { status, body } = await rawGet(path);
    expect(body).not.toContain('TOP-SECRET');
    expect(status === 200 ? body.includes('<title>app</title>') : status >= 400 && status < 500).toBe(true);
  });

  it('the app itself is served', async () => {
    expect((await rawGet('/assets/app-abc.js')).body).toBe('console.log(1)');
  });
});
