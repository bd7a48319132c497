import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserRigPerTest, chromiumAvailable } from './support/browser.js';

const ADMIN = 'rollout-admin-token-0123456789';
const KEY = 'rollout-publish-key-0123456789';

const transportOf = (page: Page) => page.getByTestId('transport').textContent();
const stateOf = (page: Page) => page.getByTestId('connection-state').getAttribute('data-state');

async function openConsoleAndSubscribe(page: Page, channel: string) {
  await page.getByTestId('selected-count').waitFor();
  await page.getByRole('link', { name: 'Events' }).click();
  await page.locator('#subscribe-channel').fill(channel);
  await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
  await expect.poll(() => stateOf(page)).toBe('connected');
}

describe.runIf(chromiumAvailable())('realtime_ws rollout in Chromium', () => {
  const rig = browserRigPerTest();

  it('a browser outside realtime_ws is closed with 4010 and falls back to SSE; an admin flip lets the next page in, no restart', async () => {
    // The seeds' variables: v2 streaming on, rolled out to 0 %.
    const page = await rig.open(
      '',
      {},
      {
        env: { TRIBUTARY_PUBLISH_KEY: KEY, TRIBUTARY_ADMIN_TOKEN: ADMIN, REALTIME_STREAMING_V2: 'true', REALTIME_ROLLOUT_PERCENT: '0' },
      },
    );
    const url = rig.server!.url;
    await openConsoleAndSubscribe(page, 'public:rollout');
    expect(await transportOf(page)).toBe('sse');
    const m = await (await fetch(`${url}/v2/realtime/metrics`)).json();
    expect(m.connectionsByTransport).toMatchObject({ websocket: 0, sse: 1 });

    // Events still arrive over the fallback.
    await fetch(`${url}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'public:rollout', type: 'hello', data: { via: 'sse' } }),
    });
    await page.locator('.event[data-channel="public:rollout"]').waitFor();
    expect(await transportOf(page)).toBe('sse');

    // Roll out to everyone; a fresh page uses WebSocket.
    const res = await fetch(`${url}/v1/admin/flags/realtime_ws`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled: true, rollout: 100 }),
    });
    expect(res.status).toBe(200);
    await page.goto(`${url}/`);
    await openConsoleAndSubscribe(page, 'public:rollout');
    expect(await transportOf(page)).toBe('websocket');
  });
});
