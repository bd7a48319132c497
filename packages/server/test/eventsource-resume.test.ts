import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cuttingProxy } from './support/cutting-proxy.js';
import { startServer, type TestServer } from './support/server.js';
import { postJson } from './support/sse-client.js';

describe('EventSource auto-reconnect resumes a comparison', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 4 }, streams: { sseRetryMs: 50 } });
  });
  afterAll(() => server.close());

  it('through a network that cuts the stream twice, the text equals the stored answer', async () => {
    const models = ['demo/fast', 'demo/balanced'];
    const { json } = await postJson(`${server.url}/v1/comparisons`, { prompt: 'Describe a lighthouse.', models });
    const proxy = await cuttingProxy(server.url, (n) => (n === 0 ? 3_000 : n === 1 ? 6_000 : undefined));
    try {
      const texts: Record<string, string> = {};
      const ids: string[] = [];
      const recoveries: any[] = [];
      await new Promise<void>((resolve, reject) => {
        const es = new EventSource(`${proxy.url}/v1/comparisons/${json.id}/stream`);
        const timer = setTimeout(() => {
          es.close();
          reject(new Error('no end'));
        }, 20_000);
        es.addEventListener('model.delta', (e) => {
          const d = JSON.parse(e.data);
          texts[d.model] = (texts[d.model] ?? '') + d.text;
          ids.push(e.lastEventId);
        });
        es.addEventListener('recovery', (e) => recoveries.push(JSON.parse(e.data)));
        es.addEventListener('comparison.done', () => {
          clearTimeout(timer);
          es.close();
          resolve();
        });
      });
      expect(proxy.requests.length).toBeGreaterThanOrEqual(3);
      expect(proxy.requests[1]).toMatch(/last-event-id: comparison:cmp_/i);
      expect(recoveries.length).toBeGreaterThanOrEqual(2);
      expect(recoveries.every((r) => r.recovered === true)).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      const stored = await (await fetch(`${server.url}/v1/comparisons/${json.id}`)).json();
      expect(texts).toEqual(Object.fromEntries(stored.models.map((m: any) => [m.model, m.text])));
    } finally {
      await proxy.close();
    }
  });
});
