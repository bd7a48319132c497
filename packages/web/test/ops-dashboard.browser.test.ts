import { describe, expect, it } from 'vitest';
import { demoFailureMode } from '../../server/src/llm/demo-provider.js';
import { browserRigPerTest, chromiumAvailable, screenshot } from './support/browser.js';

const ADMIN = 'dashboard-admin-token-0123456789';
const demo = {
  speed: 1,
  models: {
    'demo/tiny': { name: 'Tiny', firstTokenMs: 5, tokensPerSecond: 400, answerTokens: 30 },
    'demo/flaky': { name: 'Flaky', firstTokenMs: 5, tokensPerSecond: 400, answerTokens: 30, flaky: true },
    // A job on it stays in the queue for the whole test.
    'demo/parked': { name: 'Parked', firstTokenMs: 3_600_000, tokensPerSecond: 10, answerTokens: 4 },
  },
};

describe.runIf(chromiumAvailable())('the ops dashboard in Chromium', () => {
  const rig = browserRigPerTest();

  it('signs in as admin, moves with a scripted load, shows the error-rate alert, and toggles a flag', async () => {
    const page = await rig.open('/#/ops', {
      demo,
      ops: { adminToken: ADMIN, snapshotIntervalMs: 200, alerts: { windowSeconds: 5, evaluateIntervalMs: 100, minSamples: 4 } },
    });
    const url = rig.server!.url;
    // A wrong token is refused with its code; the right one opens the live feed.
    await page.getByLabel('Admin token').fill('not-the-admin-token-000000');
    await page.getByRole('button', { name: 'Open dashboard' }).click();
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toMatch(/^unauthorized/);
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Open dashboard' }).click();
    await expect.poll(() => page.getByTestId('feed-state').getAttribute('data-state')).toBe('live');
    await page.getByTestId('value-ttft-p95').waitFor();
    expect(await page.getByTestId('value-ttft-p95').textContent()).toBe('–');
    expect(await page.getByTestId('alerts-none').count()).toBe(1);

    // Scripted load: comparisons where the flaky model fails before its first token.
    const prompts: string[] = [];
    for (let i = 0; prompts.length < 4; i++) {
      if (demoFailureMode('demo/flaky', [{ role: 'user', content: `dash ${i}` }]) === 'before_first_token') prompts.push(`dash ${i}`);
    }
    await Promise.all(
      prompts.map((p) =>
        fetch(`${url}/compare`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ input_data: p, models: ['demo/tiny', 'demo/flaky'] }),
        }),
      ),
    );
    await expect.poll(() => page.getByTestId('value-ttft-p95').textContent()).toMatch(/^\d+(\.\d)? ms$/);
    await expect.poll(() => page.locator('[data-testid="model-row"][data-model="demo/flaky"] td').nth(2).textContent()).toBe('4');
    const alert = page.locator('[data-testid="alert"][data-name="error_rate"]');
    await expect.poll(() => alert.getAttribute('data-state')).toBe('firing');
    expect(await alert.textContent()).toMatch(/Model runs failing above 1 %/);
    expect(await page.getByTestId('value-errors-by-class').textContent()).toBe('rate_limited 4');
    expect(await page.getByTestId('value-job-queue').textContent()).toBe('0 queued · 0 running · 0 jobs');
    const job = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompts: ['a', 'b', 'c'], models: ['demo/parked'] }),
    });
    expect(job.status).toBe(201);
    await expect.poll(() => page.getByTestId('value-job-queue').textContent()).toMatch(/^\d queued · \d running · 1 jobs$/);
    await screenshot(page, 'ops-dashboard');

    // An admin toggles a flag from the dashboard: the server's answer changes, and the table follows.
    const flagRow = page.locator('[data-testid="flag"][data-name="sse_streaming"]');
    expect(await flagRow.getAttribute('data-enabled')).toBe('true');
    await page.getByRole('button', { name: 'Turn sse_streaming off' }).click();
    await expect.poll(() => flagRow.getAttribute('data-enabled')).toBe('false');
    const flags = await (await fetch(`${url}/v1/flags`)).json();
    expect(flags.flags.sse_streaming).toBe(false);
  });
  it('runs the smoke profile of tributary verify against the server itself and shows each check', async () => {
    const page = await rig.open('/#/ops', {
      demo: { speed: 1, models: { 'demo/tiny': demo.models['demo/tiny'], 'demo/tiny-2': { ...demo.models['demo/tiny'], name: 'Tiny 2' } } },
      ops: { adminToken: ADMIN, snapshotIntervalMs: 500 },
      realtime: { publishKey: 'dashboard-publish-key-0123456789', seedPingIntervalMs: 300 },
    });
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Open dashboard' }).click();
    await expect.poll(() => page.getByTestId('feed-state').getAttribute('data-state')).toBe('live');
    await page.getByRole('button', { name: 'Run smoke check' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Running…' }).count()).toBe(1);
    const summary = page.getByTestId('verify-summary');
    await summary.waitFor({ timeout: 60_000 });
    const rows = page.getByTestId('verify-check');
    const statuses = await rows.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-id')}:${e.getAttribute('data-status')}`));
    expect(statuses.filter((s) => s.endsWith(':fail'))).toEqual([]);
    expect(statuses).toContain('concurrency:pass');
    expect(statuses).toContain('seed-replay:pass');
    expect(await summary.getAttribute('data-passed')).toBe('true');
    expect(await page.locator('[data-testid="verify-check"][data-id="rate-limit"] td').nth(2).textContent()).toMatch(/--allow-destructive/);
  }, 90_000);
});
