import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.js';

const ADMIN = 'log-admin-token-0123456789';

describe('request logs', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('one info line per request: request id, route pattern, status, duration, identity class; never prompt or completion text', async () => {
    const lines: any[] = [];
    server = await startServer({ log: { level: 'info' }, ops: { adminToken: ADMIN } }, { logStream: { write: (l) => lines.push(JSON.parse(l)) } });
    const { url } = server;
    const secret = 'a very private prompt about the merger';
    const res = await fetch(`${url}/compare`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ input_data: secret, models: ['demo/fast'] }),
    });
    const { comparison_id: id, results } = (await res.json()) as { comparison_id: string; results: Record<string, string> };
    const completion = results['demo/fast']!;
    await fetch(`${url}/v1/comparisons/${id}`);
    await fetch(`${url}/no/such/route`);
    // Probes: no line (and no duration sample, below).
    await fetch(`${url}/health`);
    await fetch(`${url}/ready`);
    await fetch(`${url}/v1/admin/flags`, { headers: { Authorization: `Bearer ${ADMIN}` } });

    const requests = () => lines.filter((l) => l.msg === 'request');
    await expect.poll(() => requests().length).toBe(4);
    expect(requests().map((l) => [l.level, l.method, l.route, l.status, l.identity])).toEqual([
      [30, 'POST', '/compare', 200, 'anonymous'],
      [30, 'GET', '/v1/comparisons/:id', 200, 'anonymous'],
      [30, 'GET', 'unmatched', 404, 'anonymous'],
      [30, 'GET', '/v1/admin/flags', 200, 'admin'],
    ]);
    for (const l of requests()) {
      expect(l.reqId).toMatch(/\S/);
      expect(typeof l.durationMs).toBe('number');
    }
    expect(new Set(requests().map((l) => l.reqId)).size).toBe(4);
    const all = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(all).not.toContain(secret);
    expect(all).not.toContain(completion.slice(0, 40));
    expect(all).not.toContain(id); // the URL's id stays out: the route pattern is logged
    const scrape = await (await fetch(`${url}/metrics`)).text();
    expect(scrape).toMatch(/tributary_http_request_duration_seconds_count\{[^}]*route="\/compare"/);
    expect(scrape).not.toMatch(/route="\/(health|ready)"/);
  });
});
