import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferingOn, nginxAvailable, startNginx, type Nginx } from './support/nginx.js';
import { PUBLISH_KEY, RawWs, publish } from './support/realtime.js';
import { startServer, type TestServer } from './support/server.js';
import { postJson, sseRequest, type SseResult } from './support/sse-client.js';

// deploy/nginx.conf in front of a real server, with Debian's nginx. In CI its absence fails.
const run = nginxAvailable || process.env.CI === 'true';
if (!nginxAvailable) console.warn(`nginx tests ${run ? 'FAIL' : 'skipped'}: /usr/sbin/nginx is missing (apt-get install -y nginx)`);

const BODY = { input_data: 'Explain how rivers form deltas.', models: ['demo/fast'] };
const firstChunkAt = (r: SseResult) => r.messages.find((m) => m.json?.type === 'chunk')?.t ?? Infinity;
/** Most frames that arrived within 5 ms of each other. */
const largestBurst = (r: SseResult) => {
  const t = r.messages.filter((m) => m.json?.type === 'chunk').map((m) => m.t);
  let most = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! > 5) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe.runIf(run)('through deploy/nginx.conf (Debian nginx)', () => {
  let server: TestServer;
  let nginx: Nginx;
  let buffered: Nginx;
  beforeAll(async () => {
    // Real demo timing (speed 1): the first token comes ~200 ms in, then 80 tokens/s.
    server = await startServer({ demo: { speed: 1 }, realtime: { publishKey: PUBLISH_KEY } });
    nginx = await startNginx(server.url);
    buffered = await startNginx(server.url, bufferingOn);
  });
  afterAll(async () => {
    await nginx?.close();
    await buffered?.close();
    await server?.close();
  });

  it('/compare-stream: the first token arrives within 50 ms of direct, and every frame arrives', async () => {
    const direct: number[] = [];
    const proxied: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [d, p] = await Promise.all([sseRequest(`${server.url}/compare-stream`, { body: BODY }), sseRequest(`${nginx.url}/compare-stream`, { body: BODY })]);
      expect(p.status).toBe(200);
      expect(p.headers['content-encoding'] ?? 'identity').toBe('identity');
      expect(p.messages.at(-1)?.json?.type).toBe('complete');
      expect(p.messages.filter((m) => m.json?.type === 'chunk').length).toBe(d.messages.filter((m) => m.json?.type === 'chunk').length);
      direct.push(firstChunkAt(d));
      proxied.push(firstChunkAt(p));
    }
    expect(median(proxied) - median(direct)).toBeLessThan(50);
  });

  it('with buffering on (the variant the site file avoids) the first token is held back', async () => {
    const [d, b] = await Promise.all([
      sseRequest(`${server.url}/compare-stream`, { body: BODY }),
      sseRequest(`${buffered.url}/compare-stream`, { body: BODY }),
    ]);
    expect(b.messages.at(-1)?.json?.type).toBe('complete');
    expect(firstChunkAt(b) - firstChunkAt(d)).toBeGreaterThan(200);
    // Tokens leave in buffer-sized bursts: many frames share one arrival.
    expect(largestBurst(b)).toBeGreaterThanOrEqual(10);
    expect(largestBurst(d)).toBeLessThan(10);
  });

  it('Last-Event-ID resumes a comparison through nginx with nothing lost or repeated', async () => {
    const { json } = await postJson(`${nginx.url}/v1/comparisons`, { prompt: 'Describe a heron.', models: ['demo/fast', 'demo/balanced'] });
    const streamUrl = `${nginx.url}/v1/comparisons/${json.id}/stream`;
    const first = await sseRequest(streamUrl, { until: (_m, all) => (all.filter((x) => x.event === 'model.delta').length >= 5 ? 'drop' : undefined) });
    const lastId = first.messages.at(-1)!.id!;
    const rest = await sseRequest(streamUrl, { headers: { 'Last-Event-ID': lastId } });
    expect(rest.messages[0]!.event).toBe('recovery');
    expect(rest.messages[0]!.json.recovered).toBe(true);
    const ids = [...first.messages, ...rest.messages].map((m) => m.id).filter(Boolean);
    expect(new Set(ids).size).toBe(ids.length);
    const texts: Record<string, string> = {};
    for (const m of [...first.messages, ...rest.messages]) {
      if (m.event === 'model.delta') texts[m.json.model] = (texts[m.json.model] ?? '') + m.json.text;
    }
    const stored = await (await fetch(`${server.url}/v1/comparisons/${json.id}`)).json();
    expect(texts).toEqual(Object.fromEntries(stored.models.map((m: any) => [m.model, m.text])));
  });

  it('the WebSocket upgrade works through nginx and events arrive', async () => {
    const ws = await RawWs.native(nginx.url);
    try {
      ws.send({ type: 'subscribe', channel: 'public:nginx' });
      await ws.next((m) => m.type === 'subscribed');
      expect((await publish(nginx.url, { channel: 'public:nginx', data: { n: 1 } })).status).toBe(200);
      const event = await ws.next((m) => m.type === 'pub');
      expect(event.data).toEqual({ n: 1 });
    } finally {
      ws.close();
    }
  });
});
