import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.js';

async function headersOf(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return { status: res.status, headers: res.headers };
}

describe('security headers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 50 } });
  });
  afterAll(() => server.close());

  it('gives the web app a CSP without inline scripts, nosniff and no referrer', async () => {
    for (const path of ['/', '/index.html', '/jobs/some-page']) {
      const { status, headers } = await headersOf(`${server.url}${path}`, { headers: { accept: 'text/html' } });
      expect(status, path).toBeLessThan(400);
      const csp = headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).not.toContain('upgrade-insecure-requests');
      expect(headers.get('x-content-type-options')).toBe('nosniff');
      expect(headers.get('referrer-policy')).toBe('no-referrer');
      expect(headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(headers.get('strict-transport-security')).toBeNull();
    }
  });

  it('puts nosniff and Referrer-Policy on API answers, errors and streams written past Fastify, without a page CSP', async () => {
    const json = { method: 'POST', headers: { 'content-type': 'application/json' } };
    const cases: [string, RequestInit][] = [
      ['/health', {}],
      ['/v1/nope', {}],
      ['/compare', { ...json, body: JSON.stringify({ input_data: 'Hi', models: ['demo/fast'] }) }],
      ['/compare-stream', { ...json, body: JSON.stringify({ input_data: 'Hi', models: ['demo/fast'] }) }],
      ['/v1/chat/completions', { ...json, body: JSON.stringify({ model: 'demo/fast', stream: true, messages: [{ role: 'user', content: 'Hi' }] }) }],
      ['/v1/comparisons', { ...json, body: '{"prompt": 1}' }],
    ];
    for (const [path, init] of cases) {
      const { headers } = await headersOf(`${server.url}${path}`, init);
      expect(headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(headers.get('content-security-policy'), path).toBeNull();
    }
  });

  it("lets /docs keep swagger-ui's own CSP (with the other page headers)", async () => {
    const { headers } = await headersOf(`${server.url}/docs`);
    expect(headers.get('content-security-policy')).toContain('script-src-attr');
    expect(headers.get('content-security-policy')).not.toContain("frame-ancestors 'none'");
    expect(headers.get('x-content-type-options')).toBe('nosniff');
  });
});
