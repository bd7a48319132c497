import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isApiPath } from '../src/http/web-app.js';
import { startServer, type TestServer } from './support/server.js';
import { postJson } from './support/sse-client.js';

describe('serving the web app', () => {
  let server: TestServer;
  let webDir: string;
  beforeAll(async () => {
    // A built app in miniature: the layout Vite writes.
    webDir = mkdtempSync(join(tmpdir(), 'tributary-web-'));
    mkdirSync(join(webDir, 'assets'));
    writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>Tributary</title><script type="module" src="/assets/index-Ab12Cd34.js"></script>');
    writeFileSync(join(webDir, 'assets', 'index-Ab12Cd34.js'), 'console.log("app")');
    writeFileSync(join(webDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    server = await startServer({ web: { dir: webDir } });
  });
  afterAll(async () => {
    await server.close();
    rmSync(webDir, { recursive: true, force: true });
  });

  it('serves index.html at / with no-cache, hashed assets as immutable', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(await page.text()).toContain('<title>Tributary</title>');

    const asset = await fetch(`${server.url}/assets/index-Ab12Cd34.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await asset.text()).toBe('console.log("app")');

    const icon = await fetch(`${server.url}/favicon.svg`);
    expect(icon.headers.get('cache-control')).toBe('no-cache');
  });

  it('answers a page path outside the API with the app (SPA fallback)', async () => {
    const res = await fetch(`${server.url}/c/cmp_123?x=1`, { headers: { Accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toContain('<title>Tributary</title>');
    // A client that does not ask for HTML keeps the JSON 404.
    const api = await fetch(`${server.url}/c/cmp_123`);
    expect(api.status).toBe(404);
    expect((await api.json()).code).toBe('not_found');
  });

  it('keeps JSON 404s for API paths, missing assets and non-GET methods', async () => {
    for (const [method, path] of [
      ['GET', '/v1/nope'],
      ['GET', '/api/nope'],
      ['GET', '/assets/missing-1234abcd.js'],
      ['POST', '/somewhere'],
      ['GET', '/compare-stream'],
    ]) {
      const res = await fetch(`${server.url}${path}`, { method: method!, headers: { Accept: 'text/html' } });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect((await res.json()).code).toBe('not_found');
    }
    // API routes are untouched by the static files.
    expect((await (await fetch(`${server.url}/health`)).json()).status).toBe('healthy');
    expect((await postJson(`${server.url}/compare`, { input_data: 'hi', models: ['demo/fast'] })).status).toBe(200);
  });

  it('says how to build the app when it is not built, and the API still works', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tributary-web-empty-'));
    const bare = await startServer({ web: { dir: empty } });
    try {
      const res = await fetch(`${bare.url}/`);
      expect(res.status).toBe(503);
      expect(await res.text()).toMatch(/npm run build/);
      expect((await fetch(`${bare.url}/v1/nope`)).status).toBe(404);
      expect((await fetch(`${bare.url}/health`)).status).toBe(200);
    } finally {
      await bare.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('classifies API paths', () => {
    expect(['/v1/models', '/api/compare', '/health', '/chat-stream', '/compare-stream', '/models', '/v2/realtime/stream'].every(isApiPath)).toBe(true);
    expect(['/', '/c/cmp_1', '/history', '/comparer', '/modelsx'].some(isApiPath)).toBe(false);
  });
});

describe('what the web app asks of the API', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ compare: { maxModels: 4 }, flags: { sse_streaming: false } });
  });
  afterAll(() => server.close());

  it('GET /v1/client-config gives limits, tiers and flags', async () => {
    const body = await (await fetch(`${server.url}/v1/client-config`)).json();
    expect(body).toEqual({
      maxModels: 4,
      tiers: {
        brief: { maxInputChars: 1000, maxOutputTokens: 2000 },
        standard: { maxInputChars: 5000, maxOutputTokens: 4000 },
        extended: { maxInputChars: 15000, maxOutputTokens: 8192 },
      },
      flags: { sse_streaming: false },
    });
  });

  it('DELETE ?purge=true removes a finished comparison; a running one is cancelled first', async () => {
    const done = await postJson(`${server.url}/compare`, { input_data: 'Rivers?', models: ['demo/fast'] });
    const id = done.json.comparison_id;
    expect((await fetch(`${server.url}/v1/comparisons/${id}`)).status).toBe(200);
    const purged = await fetch(`${server.url}/v1/comparisons/${id}?purge=true`, { method: 'DELETE' });
    expect(purged.status).toBe(200);
    expect(await purged.json()).toEqual({ id, status: 'deleted' });
    expect((await (await fetch(`${server.url}/v1/comparisons/${id}`)).json()).code).toBe('comparison_not_found');
    const again = await fetch(`${server.url}/v1/comparisons/${id}?purge=true`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect((await again.json()).code).toBe('comparison_not_found');

    const running = await postJson(`${server.url}/v1/comparisons`, { prompt: 'A long one', models: ['demo/slow'], tier: 'extended' });
    const gone = await fetch(`${server.url}/v1/comparisons/${running.json.id}?purge=true`, { method: 'DELETE' });
    expect(gone.status).toBe(200);
    const list = await (await fetch(`${server.url}/v1/comparisons?limit=200`)).json();
    expect(list.comparisons.map((c: { id: string }) => c.id)).not.toContain(running.json.id);
  });

  it('rejects an unknown or malformed delete query', async () => {
    const bad = await fetch(`${server.url}/v1/comparisons/cmp_x?purge=yes`, { method: 'DELETE' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).code).toBe('invalid_field');
    const unknown = await fetch(`${server.url}/v1/comparisons/cmp_x?force=1`, { method: 'DELETE' });
    expect((await unknown.json()).code).toBe('unknown_field');
  });
});
