import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { demoFailureMode } from '../src/llm/demo-provider.js';
import { startServer, type TestServer } from './support/server.js';

const demo = {
  speed: 1,
  models: {
    'demo/tiny': { name: 'Tiny', firstTokenMs: 0, tokensPerSecond: 2_000, answerTokens: 4 },
    'demo/flaky': { name: 'Flaky', firstTokenMs: 0, tokensPerSecond: 2_000, answerTokens: 4, flaky: true },
  },
};

/** A real HTTP receiver for the alert webhook. */
async function webhookReceiver() {
  const received: any[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ method: req.method, type: req.headers['content-type'], body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, close: () => new Promise((r) => server.close(r)) };
}

const failingPrompts = (n: number) => {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    if (demoFailureMode('demo/flaky', [{ role: 'user', content: `alert ${i}` }]) === 'before_first_token') out.push(`alert ${i}`);
  }
  return out;
};

describe('alerts', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const compare = async (prompt: string, models: string[]) => {
    const res = await fetch(`${server!.url}/compare`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ input_data: prompt, models }),
    });
    expect(res.status).toBe(200);
  };
  const alert = async (name: string) => {
    const { alerts } = (await (await fetch(`${server!.url}/v1/alerts`)).json()) as { alerts: any[] };
    return alerts.find((a) => a.name === name);
  };

  it('error rate above 1 % (demo/flaky) fires, then clears once the window holds only successes; both go to the webhook', async () => {
    const hook = await webhookReceiver();
    try {
      server = await startServer({ demo, ops: { alerts: { windowSeconds: 2, evaluateIntervalMs: 50, minSamples: 4, webhookUrl: hook.url } } });
      expect((await alert('error_rate')).state).toBe('ok');
      for (const prompt of failingPrompts(3)) await compare(prompt, ['demo/tiny', 'demo/flaky']);
      await expect.poll(async () => (await alert('error_rate')).state, { timeout: 5_000 }).toBe('firing');
      // Once every run is counted: 3 failures of 6 runs.
      await expect.poll(async () => (await alert('error_rate')).value).toBe(50);
      expect(await alert('error_rate')).toMatchObject({ state: 'firing', threshold: 1, unit: '%' });
      await expect.poll(() => hook.received.length).toBe(1);
      expect(hook.received[0]).toMatchObject({
        method: 'POST',
        type: 'application/json',
        body: { source: 'tributary', alert: { name: 'error_rate', state: 'firing' } },
      });

      // The failures leave the 2-s window; only successes remain.
      await new Promise((r) => setTimeout(r, 2_100));
      for (let i = 0; i < 4; i++) await compare(`fine ${i}`, ['demo/tiny']);
      await expect.poll(async () => (await alert('error_rate')).state, { timeout: 5_000 }).toBe('resolved');
      expect((await alert('error_rate')).value).toBe(0);
      await expect.poll(() => hook.received.map((r) => r.body.alert.state)).toEqual(['firing', 'resolved']);
      expect((await alert('ttft_p95')).state).toBe('ok');
    } finally {
      await hook.close();
    }
  });

  it('memory above 80 % of the configured limit fires; no limit, no rule', async () => {
    server = await startServer({ ops: { alerts: { evaluateIntervalMs: 20, memoryLimitBytes: 16 * 1024 * 1024 } } });
    await expect.poll(async () => (await alert('memory'))?.state).toBe('firing');
    expect((await alert('memory')).value).toBeGreaterThan(80);
    await server.close();
    server = await startServer();
    expect(await alert('memory')).toBeUndefined();
  });

  it('connection success below 95 % fires when connections are refused', async () => {
    server = await startServer({ realtime: { tokenSecret: 'alert-token-secret-0123456789' }, ops: { alerts: { evaluateIntervalMs: 20, minSamples: 3 } } });
    const { default: WebSocket } = await import('ws');
    for (let i = 0; i < 3; i++) {
      const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/v1/ws`);
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'connect', version: 1, token: 'forged' }));
      await new Promise((r) => ws.once('close', r));
    }
    await expect.poll(async () => (await alert('connection_success')).state).toBe('firing');
    expect((await alert('connection_success')).value).toBe(0);
  });

  it("rate-limit violations above 10 per hour fire, through the hook identity's limiter calls", async () => {
    server = await startServer({ ops: { alerts: { evaluateIntervalMs: 20 } } });
    for (let i = 0; i < 10; i++) server.app.ctx.ops.rateLimited('anonymous');
    await new Promise((r) => setTimeout(r, 100));
    expect((await alert('rate_limit_violations')).state).toBe('ok'); // 10 is the threshold, not above it
    server.app.ctx.ops.rateLimited('key');
    await expect.poll(async () => (await alert('rate_limit_violations')).state).toBe('firing');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('tributary_rate_limit_rejections_total{class="anonymous"} 10');
    expect(metrics).toContain('tributary_rate_limit_rejections_total{class="key"} 1');
  });

  it('/v1/alerts follows the metrics token when one is set', async () => {
    server = await startServer({ ops: { metricsToken: 'metrics-token-0123456789' } });
    const res = await fetch(`${server.url}/v1/alerts`);
    expect([res.status, (await res.json()).code]).toEqual([401, 'unauthorized']);
    expect((await fetch(`${server.url}/v1/alerts`, { headers: { Authorization: 'Bearer metrics-token-0123456789' } })).status).toBe(200);
  });
});
