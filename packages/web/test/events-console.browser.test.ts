import { copyFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../server/test/support/server.js';
import { browserRigPerTest, chromiumAvailable, screenshot } from './support/browser.js';

const DOCS_SCREENSHOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../docs/events-console.png');
const KEY = 'console-test-publish-key-0123456789';
const positionPattern = /^[A-Za-z0-9_-]+:\d+$/;

const transportOf = (page: Page) => page.getByTestId('transport').textContent();
const stateOf = (page: Page) => page.getByTestId('connection-state').getAttribute('data-state');
const channelRow = (page: Page, channel: string) => page.locator(`.channel-list li[data-channel="${channel}"]`);

async function subscribe(page: Page, channel: string) {
  await page.locator('#subscribe-channel').fill(channel);
  await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
}

async function publishFromPage(page: Page, fields: { key?: string; channel: string; type: string; data: string }) {
  const form = page.getByRole('region', { name: 'Publish' });
  if (fields.key !== undefined) await form.getByLabel('Publish key').fill(fields.key);
  await form.getByLabel('Channel').fill(fields.channel);
  await form.getByLabel('Event type').fill(fields.type);
  await form.getByLabel('Data (JSON)').fill(fields.data);
  await form.getByRole('button', { name: 'Publish' }).click();
}

/** Publishes and returns the position of this publish: the previous answer stays on screen until the new one replaces it. */
async function publishedPosition(page: Page, fields: Parameters<typeof publishFromPage>[1]): Promise<string> {
  const result = page.getByTestId('publish-result');
  const shown = async () => ((await result.count()) ? result.textContent() : null);
  const previous = await shown();
  await publishFromPage(page, fields);
  await expect.poll(shown).not.toBe(previous);
  return (await result.textContent())!.match(/at (\S+)$/)![1]!;
}

async function metrics(server: TestServer) {
  return (await (await fetch(`${server.url}/v2/realtime/metrics`)).json()) as { connectionsByTransport: Record<string, number> };
}

describe.runIf(chromiumAvailable())('the events console in Chromium', () => {
  const rig = browserRigPerTest();

  async function openConsole(...args: Parameters<typeof startServer>): Promise<Page> {
    const page = await rig.open('', ...args);
    // The compare workspace stays the default page; the console is one tab away.
    await page.getByTestId('selected-count').waitFor();
    await page.getByRole('link', { name: 'Events' }).click();
    await page.locator('#subscribe-channel').waitFor();
    expect(page.url()).toMatch(/#\/events$/);
    return page;
  }

  it('over WebSocket: subscribes, publishes from the page and shows the event at the position the server gave', async () => {
    const page = await openConsole({ realtime: { publishKey: KEY } });
    expect(await stateOf(page)).toBe('idle');
    await subscribe(page, 'public:demo');
    await expect.poll(() => channelRow(page, 'public:demo').getAttribute('data-status')).toBe('recovered');
    await expect.poll(() => stateOf(page)).toBe('connected');
    expect(await transportOf(page)).toBe('websocket');
    expect((await metrics(rig.server!)).connectionsByTransport.websocket).toBe(1);

    // A wrong key is refused with its code, and nothing reaches the channel.
    await publishFromPage(page, { key: 'not-the-key-at-all-0000', channel: 'public:demo', type: 'greeting', data: '{"n":0}' });
    expect(await page.getByTestId('publish-error').getAttribute('data-code')).toBe('unauthorized');
    await publishFromPage(page, { channel: 'public:demo', type: 'greeting', data: '{"n": oops}' });
    await expect.poll(() => page.getByTestId('publish-error').getAttribute('data-code')).toBe('invalid_json');

    const position = await publishedPosition(page, { key: KEY, channel: 'public:demo', type: 'greeting', data: '{"hello":"river","n":1}' });
    expect(position).toMatch(positionPattern);
    const event = page.locator(`.event[data-channel="public:demo"][data-position="${position}"]`);
    await event.waitFor();
    expect(await event.getByTestId('event-type').textContent()).toBe('greeting');
    expect(JSON.parse((await event.getByTestId('event-data').textContent())!)).toEqual({ hello: 'river', n: 1 });
    expect(await page.locator('.event').count()).toBe(1); // the refused publishes delivered nothing

    // An event published by another client arrives too, newest first, with the next position.
    const res = await fetch(`${rig.server!.url}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'public:demo', type: 'tick', data: { n: 2 } }),
    });
    const second = (await res.json()) as { epoch: string; seq: number };
    expect(`${second.epoch}:${second.seq}`).toBe(position.replace(/\d+$/, (s) => String(Number(s) + 1)));
    await expect.poll(() => page.locator('.event').first().getAttribute('data-position')).toBe(`${second.epoch}:${second.seq}`);

    // The key stays in this tab's sessionStorage, never in localStorage.
    const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('tributary.publishKey'), local: JSON.stringify(localStorage) }));
    expect(stored.session).toBe(KEY);
    expect(stored.local).not.toContain(KEY);
    const shot = await screenshot(page, 'events-console');
    if (process.env.UPDATE_DOCS_SCREENSHOT) copyFileSync(shot, DOCS_SCREENSHOT);

    // A channel the anonymous connection may not read is refused with its code; unsubscribing stops delivery.
    await subscribe(page, 'org:acme:finance');
    await expect.poll(() => page.getByTestId('channel-error').textContent()).toMatch(/^org:acme:finance: channel_forbidden/);
    await page.getByRole('button', { name: 'Unsubscribe public:demo' }).click();
    await expect.poll(() => channelRow(page, 'public:demo').count()).toBe(0);
    await fetch(`${rig.server!.url}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'public:demo', data: { n: 3 } }),
    });
    await subscribe(page, 'public:after');
    await expect.poll(() => channelRow(page, 'public:after').getAttribute('data-status')).toBe('recovered');
    expect(await page.locator('.event').count()).toBe(2);
  });

  it('with WebSocket disabled by its flag, the SDK falls back to SSE: the page shows sse and still receives a published event', async () => {
    const page = await openConsole({}, { env: { TRIBUTARY_PUBLISH_KEY: KEY, ENABLE_WEBSOCKET: 'false' } });
    await subscribe(page, 'public:demo');
    await expect.poll(() => channelRow(page, 'public:demo').getAttribute('data-status')).toBe('recovered');
    await expect.poll(() => stateOf(page)).toBe('connected');
    expect(await transportOf(page)).toBe('sse');
    const m = await metrics(rig.server!);
    expect(m.connectionsByTransport.sse).toBe(1);
    expect(m.connectionsByTransport.websocket).toBe(0);

    const position = await publishedPosition(page, { key: KEY, channel: 'public:demo', type: 'fallback', data: '{"via":"sse"}' });
    const event = page.locator(`.event[data-position="${position}"]`);
    await event.waitFor();
    expect(await event.getByTestId('event-type').textContent()).toBe('fallback');
    expect(JSON.parse((await event.getByTestId('event-data').textContent())!)).toEqual({ via: 'sse' });
    expect(await transportOf(page)).toBe('sse');

    // One SSE request carries every channel: a refused one is reported for itself, the rest go on.
    await subscribe(page, 'org:acme:finance');
    await expect.poll(() => page.getByTestId('channel-error').textContent()).toMatch(/^org:acme:finance: channel_forbidden/);
    const next = await publishedPosition(page, { channel: 'public:demo', type: 'still', data: '{"n":2}' });
    await page.locator(`.event[data-position="${next}"]`).waitFor();
    expect(await transportOf(page)).toBe('sse');
    await screenshot(page, 'events-console-sse');
  });

  it('after a restart of a memory-backed server the page says recovered:false (epoch_changed) and receives live events again', async () => {
    const page = await openConsole({ realtime: { publishKey: KEY } });
    await subscribe(page, 'public:demo');
    await expect.poll(() => channelRow(page, 'public:demo').getAttribute('data-status')).toBe('recovered');
    await publishFromPage(page, { key: KEY, channel: 'public:demo', type: 'before', data: '{"n":1}' });
    await page.locator('.event').first().waitFor();
    expect(await page.getByTestId('recovery-notice').count()).toBe(0);

    // Same port, new process state: the memory log starts a new epoch, so the resume cannot be filled.
    const port = Number(new URL(rig.server!.url).port);
    await rig.server!.close();
    rig.server = await startServer({ realtime: { publishKey: KEY }, server: { port } });
    const notice = page.getByTestId('recovery-notice');
    await notice.waitFor({ timeout: 30_000 });
    expect(await notice.textContent()).toMatch(/^public:demo: recovered:false \(epoch_changed\)/);
    await expect.poll(() => channelRow(page, 'public:demo').getAttribute('data-status')).toBe('not_recovered');
    await expect.poll(() => stateOf(page)).toBe('connected');

    const position = await publishedPosition(page, { channel: 'public:demo', type: 'after', data: '{"n":2}' });
    await page.locator(`.event[data-position="${position}"]`).waitFor();
    expect(await page.locator('.event').count()).toBe(2);
    await screenshot(page, 'events-console-recovered-false');
  });

  it('a server without a publish key answers publish_disabled, shown with its code', async () => {
    const page = await rig.open('/#/events');
    await publishFromPage(page, { key: KEY, channel: 'public:demo', type: 'message', data: '{}' });
    expect(await page.getByTestId('publish-error').getAttribute('data-code')).toBe('publish_disabled');
  });
});
