import { describe, expect, it } from 'vitest';
import { browserRigPerTest, chromiumAvailable } from './support/browser.js';

describe.runIf(chromiumAvailable())('the API reference at /docs in Chromium', () => {
  const rig = browserRigPerTest();

  it('renders every family of routes from /openapi.json, offline, under its CSP (a violation fails the test on close)', async () => {
    const page = await rig.open('/docs');
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(rig.server!.url)) external.push(r.url());
    });
    await page.locator('.opblock').first().waitFor();
    for (const path of ['/v1/comparisons', '/compare-stream', '/api/v2/bali-zero/chat-stream', '/v1/chat/completions']) {
      expect(await page.locator(`.opblock-summary-path[data-path="${path}"]`).count(), path).toBeGreaterThan(0);
    }
    // Open one operation: its request schema and error codes come from the route's zod schema and the catalogue.
    await page.locator('.opblock-summary-path[data-path="/v1/comparisons"]').first().click();
    await expect.poll(() => page.locator('.opblock.is-open').textContent()).toContain('unknown_field');
    expect(external).toEqual([]);
  });
});
