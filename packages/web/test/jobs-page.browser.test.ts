import { copyFileSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { browserRigPerTest, chromiumAvailable, screenshot } from './support/browser.js';

const DOCS_SCREENSHOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../docs/jobs-page.png');

const PROMPTS = Array.from({ length: 8 }, (_, i) => JSON.stringify({ id: `q${i}`, prompt: `Question ${i}: name a river.` })).join('\n');

describe.runIf(chromiumAvailable())('the jobs page in Chromium', () => {
  const rig = browserRigPerTest();

  it('uploads a file with progress, watches the job reach 100 %, opens a result and exports CSV', async () => {
    const page = await rig.open('#/jobs', { demo: { speed: 200 }, jobs: { pollMs: 50, progressIntervalMs: 20 } });
    const form = page.getByRole('region', { name: 'New job' });
    await form.getByLabel('Name').fill('browser upload');
    await form.getByLabel('Upload file').check();

    // A malformed line is reported with its line number, and nothing is created.
    await page
      .getByTestId('job-file')
      .setInputFiles({ name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"prompt":"ok"}\n{"prompt": oops}\n') });
    await form.getByRole('button', { name: 'Create job' }).click();
    await expect.poll(() => page.getByTestId('job-error').textContent()).toContain('Line 2');
    expect(await page.locator('.job-list li').count()).toBe(0);

    await page.getByTestId('job-file').setInputFiles({ name: 'prompts.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(PROMPTS) });
    await form.getByRole('button', { name: 'Create job' }).click();
    await expect.poll(() => page.getByTestId('upload-progress').getAttribute('value')).toBe('100');

    // The list's progress bar follows the stream to 100 %.
    const row = page.locator('.job-list li').first();
    await expect.poll(() => row.getByTestId('job-percent').textContent(), { timeout: 15_000 }).toBe('100 %');
    expect(await row.getByTestId('job-status').textContent()).toBe('succeeded');
    expect(await row.locator('progress').getAttribute('value')).toBe('100');

    // The detail: a results grid of 8 prompts × 2 models; a click shows the text.
    const detail = page.getByRole('region', { name: 'Job detail' });
    await expect.poll(() => detail.getByTestId('detail-status').textContent()).toBe('succeeded');
    await expect.poll(() => detail.getByTestId('result-cell').count()).toBe(16);
    await detail.getByTestId('result-cell').first().click();
    const text = await page.getByTestId('result-text').locator('pre').textContent();
    expect(text!.length).toBeGreaterThan(20);
    expect(await detail.getByRole('table', { name: 'Per-model summary' }).locator('tbody tr').count()).toBe(2);
    const shot = await screenshot(page, 'jobs-page');
    if (process.env.UPDATE_DOCS_SCREENSHOT) copyFileSync(shot, DOCS_SCREENSHOT);

    // Export CSV: a download with a header and one row per item.
    const [download] = await Promise.all([page.waitForEvent('download'), detail.getByRole('link', { name: 'Export CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8');
    expect(csv.split('\r\n')[0]).toMatch(/^prompt_index,prompt_id,prompt,model,status/);
    expect(csv.trim().split('\r\n')).toHaveLength(17);
    expect(csv).toContain('q7');

    // Pasted prompts, one per line: a second job, followed live to 100 % as well.
    await form.getByLabel('Paste').check();
    await form.getByLabel('Name').fill('pasted');
    await form.getByLabel('Prompts, one per line').fill('Name a lake.\n\nName a sea.\nName an ocean.');
    await form.getByRole('button', { name: 'Create job' }).click();
    const pasted = page.locator('.job-list li', { hasText: 'pasted' });
    await expect.poll(() => pasted.getByTestId('job-percent').textContent(), { timeout: 15_000 }).toBe('100 %');
    await expect.poll(() => detail.getByTestId('result-cell').count()).toBe(6);
  });
});
