import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readLikeCompareAi } from '../../server/test/support/compareai-reader.js';
import { startServer, type TestServer } from '../../server/test/support/server.js';
import { chromiumAvailable, openBrowser, type BrowserSession } from './support/browser.js';

/** A front end on its own origin (another port), as the seeds' VITE_API_URL setups have. */
async function frontEnd(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>front end</title><p>CompareAI-style front end</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** In the page: GET /models, then POST /compare-stream read with CompareAI's reader (injected), then an EventSource. */
function callApi(page: Page, api: string) {
  return page.evaluate(async (api) => {
    const out: {
      models?: number;
      modelsError?: string;
      streamError?: string;
      comparisonId?: string | null;
      texts: Record<string, string>;
      complete?: boolean;
      eventSourceText?: string;
    } = { texts: {} };
    try {
      const res = await fetch(`${api}/models`);
      out.models = (await res.json()).models.length;
    } catch (err) {
      out.modelsError = String(err);
    }
    try {
      const res = await fetch(`${api}/compare-stream`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input_data: 'Hello from another origin', models: ['demo/fast', 'demo/balanced'], tier: 'standard', browser_fingerprint: 'fp' }),
      });
      out.comparisonId = res.headers.get('X-Comparison-Id');
      await (window as any).readLikeCompareAi(res.body!, {
        event(event: any) {
          if (event.type === 'chunk') out.texts[event.model] = (out.texts[event.model] ?? '') + event.content;
          if (event.type === 'complete') out.complete = true;
        },
      });
    } catch (err) {
      out.streamError = String(err);
    }
    if (out.complete) {
      out.eventSourceText = await new Promise<string>((resolve) => {
        let text = '';
        const es = new EventSource(`${api}/chat-stream?query=Hi&model=demo/fast`);
        es.onmessage = (e) => {
          const d = JSON.parse(e.data);
          if (d.type === 'chunk') text += d.content;
          if (d.type === 'complete') {
            es.close();
            resolve(text);
          }
        };
        es.onerror = () => {
          es.close();
          resolve(`error after ${JSON.stringify(text)}`);
        };
      });
    }
    return out;
  }, api);
}

describe.skipIf(!chromiumAvailable())('a page on another origin calls the API (CORS)', () => {
  let site: Awaited<ReturnType<typeof frontEnd>>;
  let server: TestServer | undefined;
  let browser: BrowserSession | undefined;
  beforeAll(async () => {
    site = await frontEnd();
  });
  afterAll(() => site.close());
  afterEach(async () => {
    await browser?.close();
    await server?.close();
    browser = server = undefined;
  });

  async function open(cors: { origins: string[] } | undefined): Promise<Page> {
    server = await startServer({ demo: { speed: 10 }, ...(cors ? { server: { cors } } : {}) });
    browser = await openBrowser();
    await browser.page.addInitScript({ content: `window.readLikeCompareAi = ${readLikeCompareAi.toString()};` });
    await browser.page.goto(site.origin);
    return browser.page;
  }

  it('with its origin configured: lists models and streams /compare-stream (preflighted) and /chat-stream', async () => {
    const page = await open({ origins: [site.origin] });
    const result = await callApi(page, server!.url);
    expect(result.modelsError).toBeUndefined();
    expect(result.streamError).toBeUndefined();
    expect(result.models).toBeGreaterThan(3);
    expect(result.complete).toBe(true);
    expect(result.comparisonId).toMatch(/^cmp_/); // an exposed header
    const stored = await (await fetch(`${server!.url}/v1/comparisons/${result.comparisonId}`)).json();
    expect(result.texts).toEqual(Object.fromEntries(stored.models.map((m: any) => [m.model, m.text])));
    expect(result.eventSourceText!.length).toBeGreaterThan(20);
  });

  it('is refused without it, and with only another origin configured', async () => {
    for (const cors of [undefined, { origins: ['http://127.0.0.1:1'] }]) {
      const page = await open(cors);
      const result = await callApi(page, server!.url);
      expect(result.modelsError).toMatch(/Failed to fetch/);
      expect(result.streamError).toMatch(/Failed to fetch/);
      expect(result.complete).toBeUndefined();
      await browser!.close();
      await server!.close();
      browser = server = undefined;
    }
  });
});
