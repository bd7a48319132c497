import { copyFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DemoProvider, demoFailureMode } from '../../server/src/llm/demo-provider.js';
import { RecordingProvider } from '../../server/test/support/recording-provider.js';
import type { startServer, TestServer } from '../../server/test/support/server.js';
import { browserRigPerTest, chromiumAvailable, screenshot } from './support/browser.js';
import { ScriptedProvider } from './support/scripted-provider.js';

const THREE = ['demo/fast', 'demo/balanced', 'demo/slow'];
const DOCS_SCREENSHOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../docs/workspace.png');

const card = (model: string) => `article.card[data-model="${model}"]`;

async function selectModels(page: Page, models: string[]) {
  const clear = page.getByRole('button', { name: 'Clear' });
  if (await clear.isEnabled()) await clear.click();
  for (const m of models) await page.locator(`input[type=checkbox][data-model="${m}"]`).check();
  await expect.poll(() => page.getByTestId('selected-count').textContent()).toMatch(new RegExp(`^${models.length} of \\d+ selected$`));
}

async function send(page: Page, prompt: string, tier?: 'brief' | 'standard' | 'extended') {
  if (tier) {
    await page.locator('label.tier', { hasText: tier }).click();
    expect(await page.getByRole('radio', { name: new RegExp(tier) }).isChecked()).toBe(true);
  }
  const box = page.locator('form.prompt textarea');
  await box.fill(prompt);
  await box.press('Enter');
}

const statusOf = (page: Page, model: string) => page.locator(card(model)).getAttribute('data-status');

async function waitStatus(page: Page, models: string[], statuses: string[]) {
  for (const m of models) await expect.poll(() => statusOf(page, m), { timeout: 30_000 }).toMatch(new RegExp(`^(${statuses.join('|')})$`));
}

/** The exact text of a card's latest answer (raw view). */
async function rawText(page: Page, model: string): Promise<string> {
  const c = page.locator(card(model));
  const toggle = c.getByRole('button', { name: 'Raw' });
  if (await toggle.count()) await toggle.click();
  return (await c.locator('.turn').last().locator('pre.raw').textContent()) ?? '';
}

async function serverTexts(server: TestServer, id: string): Promise<Record<string, string>> {
  const snapshot = await (await fetch(`${server.url}/v1/comparisons/${id}`)).json();
  return Object.fromEntries(snapshot.models.map((m: { model: string; text: string }) => [m.model, m.text]));
}

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

const comparisonIdOf = (page: Page) =>
  page.evaluate(() => JSON.parse(localStorage.getItem('tributary.session') ?? '{}').turns?.at(-1)?.comparisonId as string | undefined);

describe.runIf(chromiumAvailable())('the compare workspace in Chromium', () => {
  const rig = browserRigPerTest();

  async function setUp(...args: Parameters<typeof startServer>): Promise<Page> {
    const page = await rig.open('', ...args);
    await page.getByTestId('selected-count').waitFor();
    return page;
  }

  it('streams three demo models at once: text in two cards before any is done, all finish with stats', async () => {
    const page = await setUp({ demo: { speed: 2 } });
    await selectModels(page, THREE);
    // Watch every frame from before the send: did two cards show text while none had finished?
    await page.evaluate(() => {
      const w = window as unknown as { overlap: boolean; watching: boolean };
      w.overlap = false;
      w.watching = true;
      const tick = () => {
        const cards = [...document.querySelectorAll('article.card')];
        const done = cards.some((c) => !['waiting', 'streaming'].includes(c.getAttribute('data-status') ?? ''));
        if (done) return void (w.watching = false);
        if (cards.filter((c) => (c.querySelector('[data-answer]')?.textContent ?? '').trim().length > 0).length >= 2) w.overlap = true;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    await send(page, 'Explain how rivers shape valleys.');
    await waitStatus(page, THREE, ['ok']);
    expect(await page.evaluate(() => (window as unknown as { overlap: boolean }).overlap)).toBe(true);

    const id = (await comparisonIdOf(page))!;
    const texts = await serverTexts(rig.server!, id);
    for (const m of THREE) {
      const stats = page.locator(card(m)).getByTestId('stats');
      expect(await stats.locator('[data-stat=ttft]').textContent()).toMatch(/^\d+\.\d+ s$/);
      expect(await stats.locator('[data-stat=tps]').textContent()).toMatch(/^\d+\.\d$/);
      expect(await stats.locator('[data-stat=elapsed]').textContent()).toMatch(/^\d+\.\d+ s$/);
      expect(await stats.locator('[data-stat=tokens]').textContent()).toMatch(/^\d+ out · \d+ in$/);
      expect(await page.locator(card(m)).locator('.badge.demo').count()).toBe(1);
      expect(texts[m]!.length).toBeGreaterThan(100);
    }
    await screenshot(page, 'three-models-done');
  });

  it('reload mid-stream: every card continues from its last event and ends with the server text', async () => {
    const page = await setUp({ demo: { speed: 2 } });
    await selectModels(page, THREE);
    await send(page, 'Describe the water cycle in detail.', 'extended');
    // Every card has text (its status, not its answer: a waiting card's answer holds "Waiting for the
    // first token…"), and the slow one is far from done.
    await waitStatus(page, THREE, ['streaming', 'ok']);
    const resumed: (string | undefined)[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/stream')) resumed.push(r.headers()['last-event-id']);
    });
    const id = (await comparisonIdOf(page))!;
    expect(await statusOf(page, 'demo/slow')).toBe('streaming');
    expect((await (await fetch(`${rig.server!.url}/v1/comparisons/${id}`)).json()).status).toBe('running');
    await page.reload();
    await waitStatus(page, THREE, ['ok']);
    // The page resumed from a position, it did not replay from the start.
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed[0]).toMatch(new RegExp(`^comparison:${id}:[^:]+:\\d+$`));
    const texts = await serverTexts(rig.server!, id);
    for (const m of THREE) expect(await rawText(page, m)).toBe(texts[m]);
  });

  it('a flaky model shows its classified error while the others finish', async () => {
    const prompt = Array.from({ length: 50 }, (_, i) => `Compare lakes and rivers, take ${i}.`).find(
      (p) => demoFailureMode('demo/flaky', [{ role: 'user', content: p }]) === 'before_first_token',
    )!;
    const page = await setUp({ demo: { speed: 3 } });
    await selectModels(page, ['demo/fast', 'demo/flaky', 'demo/balanced']);
    await send(page, prompt);
    await waitStatus(page, ['demo/fast', 'demo/balanced'], ['ok']);
    await waitStatus(page, ['demo/flaky'], ['failed']);
    const outcome = page.locator(card('demo/flaky')).locator('[data-outcome=failed]');
    expect(await outcome.textContent()).toMatch(/^rate_limited: Demo rate limit.*\(retry after 2\.00 s\)$/);
    expect(await outcome.getAttribute('role')).toBe('alert');
    await screenshot(page, 'flaky-model-error');
  });

  it('cancel mid-stream: cards show cancelled and the server reports the comparison cancelled', async () => {
    const page = await setUp({ demo: { speed: 2 } });
    await selectModels(page, THREE);
    await send(page, 'Write a long essay about estuaries.', 'extended');
    await waitStatus(page, ['demo/fast'], ['streaming']);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await waitStatus(page, THREE, ['cancelled']);
    for (const m of THREE) expect(await page.locator(card(m)).locator('[data-outcome=cancelled]').count()).toBe(1);
    const id = (await comparisonIdOf(page))!;
    await expect.poll(async () => (await (await fetch(`${rig.server!.url}/v1/comparisons/${id}`)).json()).status).toBe('cancelled');
    await screenshot(page, 'cancelled');
  });

  it('a follow-up reaches each model with its own earlier answer, shown as a thread in each card', async () => {
    const recording = new RecordingProvider(new DemoProvider({ speed: 4 }));
    const page = await setUp({}, { providers: [recording] });
    const models = ['demo/fast', 'demo/balanced'];
    await selectModels(page, models);
    await send(page, 'What is a delta?', 'brief');
    await waitStatus(page, models, ['ok']);
    const first = await serverTexts(rig.server!, (await comparisonIdOf(page))!);
    await send(page, 'And how does one form?', 'brief');
    await expect.poll(() => page.locator(card('demo/fast')).locator('.turn').count()).toBe(2);
    await waitStatus(page, models, ['ok']);
    for (const m of models) {
      const asked = recording.requests.filter((r) => r.model === m);
      expect(asked).toHaveLength(2);
      expect(asked[1]!.messages).toEqual([
        { role: 'user', content: 'What is a delta?' },
        { role: 'assistant', content: first[m] },
        { role: 'user', content: 'And how does one form?' },
      ]);
      expect(await page.locator(card(m)).locator('.turn-prompt').allTextContents()).toEqual([
        'You asked: What is a delta?',
        'You asked: And how does one form?',
      ]);
    }
  });

  it('renders Markdown: highlighted code with a copy button, a table and KaTeX math', async () => {
    const answer = [
      'Here is the **formula** $E = mc^2$ inline, and displayed:',
      '',
      '$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$',
      '',
      '| river | length |',
      '|---|---|',
      '| Nile | 6650 km |',
      '',
      '```ts',
      'const flow = (q: number) => q * 2; // rivers',
      '```',
      '',
      'Done.',
    ].join('\n');
    const scripted = new ScriptedProvider({ 'scripted/markdown': answer });
    const page = await setUp({ demo: { speed: 2 } }, { providers: [new DemoProvider({ speed: 2 }), scripted] });
    await selectModels(page, ['scripted/markdown', 'demo/fast', 'demo/balanced']);
    await send(page, 'Show me code in TypeScript and a formula.');
    await waitStatus(page, ['scripted/markdown', 'demo/fast', 'demo/balanced'], ['ok']);
    const md = page.locator(card('scripted/markdown')).locator('.markdown');
    await md.locator('pre code.hljs .hljs-keyword').first().waitFor();
    expect(await md.locator('pre code').textContent()).toContain('const flow = (q: number) => q * 2;');
    expect(await md.locator('pre button.copy-code').count()).toBe(1);
    await md.locator('.math-inline .katex').waitFor();
    expect(await md.locator('.math-display .katex-display').count()).toBe(1);
    expect(await md.locator('table td').allTextContents()).toEqual(['Nile', '6650 km']);
    expect(await md.locator('strong').first().textContent()).toBe('formula');
    // The raw toggle shows the source exactly.
    expect(await rawText(page, 'scripted/markdown')).toBe(answer);
    await page.locator(card('scripted/markdown')).getByRole('button', { name: 'Rendered' }).click();
    await md.locator('.katex').first().waitFor();
    const shot = await screenshot(page, 'workspace');
    if (process.env.UPDATE_DOCS_SCREENSHOT) copyFileSync(shot, DOCS_SCREENSHOT);
  });

  it('falls back to the non-streaming compare when the sse_streaming flag is off, and says so', async () => {
    const page = await setUp({ demo: { speed: 4 }, flags: { sse_streaming: false } });
    const streams: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/stream')) streams.push(r.url());
    });
    expect(await page.getByTestId('mode').textContent()).toMatch(/Streaming is off/);
    expect(await page.getByTestId('notice').textContent()).toMatch(/non-streaming compare endpoint/);
    const models = ['demo/fast', 'demo/balanced'];
    await selectModels(page, models);
    await send(page, 'Name three rivers.', 'brief');
    await waitStatus(page, models, ['ok']);
    const id = (await comparisonIdOf(page))!;
    expect(id).toMatch(/^cmp_/);
    const texts = await serverTexts(rig.server!, id);
    for (const m of models) expect(await rawText(page, m)).toBe(texts[m]);
    expect(streams).toEqual([]);
  });

  it('12 models at 100 tokens/s: each card is redrawn at most once per frame, and frames keep coming', async () => {
    const models = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [
        `demo/m${String(i + 1).padStart(2, '0')}`,
        { name: `Demo · M${i + 1}`, firstTokenMs: 50, tokensPerSecond: 100, answerTokens: 300, flaky: false },
      ]),
    );
    const ids = Object.keys(models);
    const page = await setUp({ demo: { speed: 1, models } });
    await selectModels(page, ids);
    await page.evaluate(() => {
      // Count animation frames, the longest gaps between them, and DOM commits per card.
      const w = window as unknown as { perf: { frames: number; gaps: number[]; commits: Record<string, number>; running: boolean } };
      w.perf = { frames: 0, gaps: [], commits: {}, running: true };
      let last = performance.now();
      const tick = (t: number) => {
        if (!w.perf.running) return;
        w.perf.frames++;
        w.perf.gaps.push(t - last);
        last = t;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      new MutationObserver((records) => {
        const touched = new Set<string>();
        for (const r of records) {
          const model = (r.target instanceof Element ? r.target : r.target.parentElement)?.closest('article.card')?.getAttribute('data-model');
          if (model) touched.add(model);
        }
        for (const m of touched) w.perf.commits[m] = (w.perf.commits[m] ?? 0) + 1;
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await send(page, 'Stress the renderer, please.');
    await waitStatus(page, ids, ['ok']);
    const perf = await page.evaluate(() => {
      const w = window as unknown as { perf: { frames: number; gaps: number[]; commits: Record<string, number>; running: boolean } };
      w.perf.running = false;
      return w.perf;
    });
    const tokens = await page.evaluate(() => JSON.parse(localStorage.getItem('tributary.session')!).turns[0].runs);
    const gaps = [...perf.gaps].sort((a, b) => a - b);
    const p95 = gaps[Math.floor(gaps.length * 0.95)]!;
    console.log(
      `12×100 tok/s: ${perf.frames} frames, p95 frame gap ${p95.toFixed(0)} ms, max ${gaps.at(-1)!.toFixed(0)} ms; commits per card ${Math.min(...Object.values(perf.commits))}–${Math.max(...Object.values(perf.commits))} for ~${(tokens[ids[0]!] as { tokens: number }).tokens} tokens each`,
    );
    for (const m of ids) {
      expect((tokens[m] as { tokens: number }).tokens).toBeGreaterThan(250);
      // Batched: a card changes at most once a frame (plus a few for start, stats ticks and the end).
      expect(perf.commits[m]!).toBeLessThanOrEqual(perf.frames + 20);
    }
    // Generous on a shared 2-core machine: the page never froze for long.
    expect(p95).toBeLessThan(250);
  });

  it('picker, prompt box, hide/restore, export and theme behave as a user expects', async () => {
    const page = await setUp({
      demo: { speed: 4 },
      compare: {
        maxModels: 2,
        tiers: {
          brief: { maxInputChars: 20, maxOutputTokens: 60 },
          standard: { maxInputChars: 5000, maxOutputTokens: 4000 },
          extended: { maxInputChars: 15000, maxOutputTokens: 8192 },
        },
      },
    });
    // At most two models: the others are disabled; search filters; the choice survives a reload.
    await selectModels(page, ['demo/fast', 'demo/slow']);
    expect(await page.getByTestId('selected-count').textContent()).toBe('2 of 2 selected');
    expect(await page.locator('input[data-model="demo/balanced"]').isDisabled()).toBe(true);
    await page.getByPlaceholder('Search models…').fill('slo');
    expect(await page.locator('.picker-item').allTextContents()).toEqual(['Demo · Slowdemo']);
    await page.reload();
    await page.getByTestId('selected-count').waitFor();
    expect(await page.getByTestId('selected-count').textContent()).toBe('2 of 2 selected');

    // Shift+Enter is a new line, the count follows the tier's limit, over the limit cannot send.
    await page.locator('label.tier', { hasText: 'brief' }).click();
    const box = page.locator('form.prompt textarea');
    await box.pressSequentially('Rivers');
    await box.press('Shift+Enter');
    await box.pressSequentially('and lakes?');
    expect(await box.inputValue()).toBe('Rivers\nand lakes?');
    expect(await page.getByTestId('char-count').textContent()).toBe('17 / 20');
    await box.pressSequentially(' And seas?');
    expect(await page.getByTestId('char-count').textContent()).toBe('27 / 20');
    expect(await page.getByRole('button', { name: 'Send', exact: true }).isDisabled()).toBe(true);
    await box.fill('Rivers?');
    await box.press('Enter');
    await waitStatus(page, ['demo/fast', 'demo/slow'], ['ok', 'truncated']);

    // Hide a card, restore it.
    await page.getByRole('button', { name: 'Hide Demo · Slow' }).click();
    expect(await page.locator(card('demo/slow')).count()).toBe(0);
    await page.getByRole('button', { name: 'Restore Demo · Slow' }).click();
    expect(await page.locator(card('demo/slow')).count()).toBe(1);

    // Export JSON holds every model's text as the server has it.
    const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
    const exported = JSON.parse(await streamText(await file.createReadStream()));
    const texts = await serverTexts(rig.server!, exported.turns[0].comparisonId);
    expect(exported.turns[0].runs['demo/fast'].text).toBe(texts['demo/fast']);
    const [md] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export Markdown' }).click()]);
    expect(await streamText(await md.createReadStream())).toContain('### Demo · Slow (`demo/slow`)');

    // Theme switch.
    const before = await page.evaluate(() => document.documentElement.dataset.theme);
    await page.getByRole('button', { name: /Switch to/ }).click();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).not.toBe(before);
  });

  it('when the event stream is unavailable (blocked by a proxy), it says so and shows the answers whole', async () => {
    const page = await setUp({ demo: { speed: 4 } });
    let blocked = 0;
    await page.route('**/v1/comparisons/*/stream', (route) => {
      blocked++;
      return route.abort('connectionreset');
    });
    const models = ['demo/fast', 'demo/balanced'];
    await selectModels(page, models);
    await send(page, 'Name two lakes.', 'brief');
    await expect
      .poll(() =>
        page
          .getByTestId('notice')
          .textContent()
          .catch(() => ''),
      )
      .toMatch(/Streaming is unavailable/);
    await waitStatus(page, models, ['ok']);
    expect(blocked).toBeGreaterThan(1);
    const texts = await serverTexts(rig.server!, (await comparisonIdOf(page))!);
    for (const m of models) expect(await rawText(page, m)).toBe(texts[m]);
  });

  it('history lists past comparisons, reopens one and deletes one', async () => {
    const page = await setUp({ demo: { speed: 4 } });
    await selectModels(page, ['demo/fast']);
    await send(page, 'First question about lakes', 'brief');
    await waitStatus(page, ['demo/fast'], ['ok']);
    const firstId = (await comparisonIdOf(page))!;
    await page.getByRole('button', { name: 'New conversation' }).click();
    await send(page, 'Second question about seas', 'brief');
    await waitStatus(page, ['demo/fast'], ['ok']);
    await page.getByRole('button', { name: 'History' }).click();
    const items = page.locator('.history-item');
    await expect.poll(() => items.count()).toBe(2);
    await page.locator(`.history-item[data-comparison="${firstId}"] .history-open`).click();
    await expect.poll(() => page.locator(card('demo/fast')).locator('.turn-prompt').count()).toBe(0);
    expect(await rawText(page, 'demo/fast')).toBe((await serverTexts(rig.server!, firstId))['demo/fast']);
    await page
      .locator(`.history-item[data-comparison="${firstId}"]`)
      .getByRole('button', { name: /Delete/ })
      .click();
    await expect.poll(() => items.count()).toBe(1);
    expect((await fetch(`${rig.server!.url}/v1/comparisons/${firstId}`)).status).toBe(404);
  });
});
