import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserRigPerTest, chromiumAvailable, screenshot } from './support/browser.js';

const card = (model: string) => `article.card[data-model="${model}"]`;
const TWO = ['demo/fast', 'demo/balanced'];

async function compare(page: Page, prompt: string) {
  await page.goto(page.url().replace(/#.*$/, '#/'));
  const clear = page.getByRole('button', { name: 'Clear' });
  if (await clear.isEnabled()) await clear.click();
  for (const m of TWO) await page.locator(`input[type=checkbox][data-model="${m}"]`).check();
  const box = page.locator('form.prompt textarea');
  await box.fill(prompt);
  await box.press('Enter');
}

const remaining = (page: Page) => page.getByTestId('responses-left').getAttribute('data-remaining');

describe.runIf(chromiumAvailable())('accounts in the web app (Chromium)', () => {
  const rig = browserRigPerTest();

  it('signs up, compares and sees the responses left drop, creates a key, survives a lost access cookie, signs out; a refusal is explained', async () => {
    const page = await rig.open('/#/account', {
      identity: { scrypt: { cost: 1024 }, limits: { anonymous: { responsesPerDay: 3 }, user: { responsesPerDay: 6 } } },
    });
    const url = rig.server!.url;
    await page.getByLabel('Email').fill('browser@example.test');
    await page.getByLabel('Password').fill('a browser password');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await expect.poll(() => page.getByTestId('account-email').textContent()).toContain('browser@example.test');
    // The session lives in HttpOnly cookies: script cannot read it.
    expect(await page.evaluate(() => document.cookie)).not.toContain('tributary_access');

    await compare(page, 'Hello from the browser');
    for (const m of TWO) await expect.poll(() => page.locator(card(m)).getAttribute('data-status'), { timeout: 30_000 }).toBe('ok');
    await expect.poll(() => remaining(page)).toBe('4');
    expect(await page.getByTestId('responses-left').textContent()).toContain('4 of 6 responses left today');

    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByLabel('Name').fill('ci key');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.getByTestId('new-key').textContent())!;
    expect(key).toMatch(/^trb_/);
    const me = await fetch(`${url}/v1/me`, { headers: { Authorization: `Bearer ${key}` } });
    expect((await me.json()).email).toBe('browser@example.test');
    await expect.poll(() => page.getByTestId('keys').locator('tr').count()).toBe(1);
    await expect.poll(() => page.locator('section[aria-label="Usage"] tbody tr').count()).toBe(2);
    await screenshot(page, 'account');

    // The access cookie is short-lived; after it is gone a reload refreshes the session from the refresh cookie.
    await rig.browser!.context.clearCookies({ name: 'tributary_access' });
    await page.reload();
    await expect.poll(() => page.getByTestId('account-email').textContent()).toContain('browser@example.test');
    expect((await rig.browser!.context.cookies()).some((c) => c.name === 'tributary_access' && c.httpOnly)).toBe(true);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Sign up' }).count()).toBe(1);
    await page.getByRole('link', { name: 'Compare' }).click();
    await expect.poll(() => remaining(page)).toBe('3');

    // Anonymous: 3 a day. Two models, then two more: refused with a clear message.
    await compare(page, 'Anonymous now');
    await expect.poll(() => remaining(page)).toBe('1');
    for (const m of TWO) await expect.poll(() => page.locator(card(m)).getAttribute('data-status'), { timeout: 30_000 }).toBe('ok');
    const box = page.locator('form.prompt textarea');
    await box.fill('One more');
    await box.press('Enter');
    await expect
      .poll(() => page.getByTestId('action-error').textContent())
      .toMatch(/Limit reached: you have used all 3 model responses for today\. It resets at .+ Sign in/);
  });
});
