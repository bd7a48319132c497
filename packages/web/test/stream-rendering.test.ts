import type { ComparisonEvent } from '@tributary/client';
import { describe, expect, it } from 'vitest';
import { FrameBatcher } from '../src/state/frame-batcher.js';
import { applyEvent, liveStats, newTurn, parseEventId, type Turn } from '../src/state/turn.js';
import { splitBlocks } from '../src/markdown/blocks.js';

const EPOCH = 'kP3v9aZt';
const topic = 'comparison:cmp_abc';
const id = (seq: number, epoch = EPOCH) => `${topic}:${epoch}:${seq}`;

/** The native events of a comparison where two models answer in interleaved deltas. */
function script(answers: Record<string, string[]>): ComparisonEvent[] {
  const models = Object.keys(answers);
  const events: Omit<ComparisonEvent, 'id'>[] = [
    { type: 'comparison.start', data: { comparisonId: 'cmp_abc', models } },
    ...models.map((model) => ({ type: 'model.start', data: { model } })),
  ];
  const longest = Math.max(...Object.values(answers).map((a) => a.length));
  for (let i = 0; i < longest; i++) {
    for (const model of models) if (answers[model]![i] !== undefined) events.push({ type: 'model.delta', data: { model, text: answers[model]![i] } });
  }
  for (const model of models) {
    events.push({
      type: 'model.done',
      data: {
        model,
        status: 'ok',
        finishReason: 'stop',
        usage: { inputTokens: 3, outputTokens: answers[model]!.length },
        ttftMs: 120,
        durationMs: 900,
        tokensPerSecond: 42.5,
      },
    });
  }
  events.push({ type: 'comparison.done', data: { status: 'completed', summary: {} } });
  return events.map((e, i) => ({ ...e, id: id(i + 1) }));
}

const ANSWERS = { 'demo/a': ['Rivers ', 'carve ', 'valleys', '.'], 'demo/b': ['Water ', 'finds ', 'the ', 'lowest ', 'path.'] };
const fresh = (): Turn => newTurn({ comparisonId: 'cmp_abc', prompt: 'p', tier: 'standard', models: Object.keys(ANSWERS), mode: 'stream', now: 0 });

describe('chunk batching', () => {
  it('hands over each touched card once per frame however many chunks arrived', () => {
    const frames: (() => void)[] = [];
    const flushed: string[][] = [];
    const batcher = new FrameBatcher<string>(
      (keys) => flushed.push([...keys].sort()),
      (cb) => frames.push(cb),
    );
    const turn = fresh();
    const events = script(ANSWERS);
    // 100 tokens/s for 12 models is ~20 chunks per 60 Hz frame: deliver the whole script in one frame.
    for (const e of events.slice(0, 8)) batcher.mark(applyEvent(turn, e, 10) ?? []);
    expect(frames).toHaveLength(1);
    expect(flushed).toEqual([]);
    frames.shift()!();
    expect(flushed).toEqual([['demo/a', 'demo/b']]);
    // Nothing new: no frame requested. Then one model moves: only it is flushed.
    batcher.mark([]);
    expect(frames).toHaveLength(0);
    batcher.mark(applyEvent(turn, events[8]!, 20) ?? []);
    frames.shift()!();
    expect(flushed[1]).toEqual([events[8]!.data.model]);
  });

  it('run() delivers pending keys at once (before the page is hidden) and a later frame finds nothing', () => {
    const frames: (() => void)[] = [];
    const flushed: string[][] = [];
    const batcher = new FrameBatcher<string>(
      (keys) => flushed.push([...keys]),
      (cb) => frames.push(cb),
    );
    batcher.mark(['x']);
    batcher.run();
    frames.shift()!();
    expect(flushed).toEqual([['x']]);
  });
});

describe('applying stream events', () => {
  it('builds each model text and the ended stats from interleaved deltas', () => {
    const turn = fresh();
    for (const e of script(ANSWERS)) applyEvent(turn, e, 50);
    expect(turn.runs['demo/a']!.text).toBe('Rivers carve valleys.');
    expect(turn.runs['demo/b']!.text).toBe('Water finds the lowest path.');
    expect(turn.status).toBe('completed');
    expect(liveStats(turn.runs['demo/b']!, turn, 999)).toEqual({ ttftMs: 120, elapsedMs: 900, tokensPerSecond: 42.5, outputTokens: 5, inputTokens: 3 });
  });

  it('measures live stats locally while streaming', () => {
    const turn = fresh();
    const events = script(ANSWERS);
    applyEvent(turn, events[0]!, 0);
    applyEvent(turn, events[1]!, 0);
    applyEvent(turn, events[3]!, 200); // first delta of demo/a at 200 ms
    applyEvent(turn, events[5]!, 700); // second one at 700 ms
    const s = liveStats(turn.runs['demo/a']!, turn, 1200);
    expect(s).toMatchObject({ ttftMs: 200, elapsedMs: 1200, outputTokens: 2 });
    expect(s.tokensPerSecond).toBeCloseTo(2, 5);
  });

  it('an error event keeps the partial text and the classified error', () => {
    const turn = fresh();
    applyEvent(turn, { id: id(1), type: 'model.delta', data: { model: 'demo/a', text: 'Half' } }, 5);
    applyEvent(
      turn,
      {
        id: id(2),
        type: 'model.error',
        data: {
          model: 'demo/a',
          status: 'failed',
          error: { code: 'upstream_error', message: 'dropped', retryable: true },
          ttftMs: 5,
          durationMs: 30,
          outputTokens: 1,
        },
      },
      30,
    );
    expect(turn.runs['demo/a']).toMatchObject({ status: 'failed', text: 'Half', error: { code: 'upstream_error', message: 'dropped' }, ttftMs: 5 });
  });
});

describe('resume merging', () => {
  it('a replay that overlaps what the page holds adds nothing twice and misses nothing', () => {
    const events = script(ANSWERS);
    const whole = fresh();
    for (const e of events) applyEvent(whole, e, 1);
    // Page state persisted after event 9, then the page reloads; the server replays from 6
    // (e.g. an older saved position raced the last write): events 6–9 must be ignored.
    for (let cut = 1; cut < events.length; cut++) {
      const page = fresh();
      for (const e of events.slice(0, cut)) applyEvent(page, e, 1);
      const restored: Turn = JSON.parse(JSON.stringify(page));
      const from = Math.max(0, cut - 4);
      const applied = events.slice(from).map((e) => applyEvent(restored, e, 2));
      expect(applied.slice(0, cut - from).every((a) => a === null)).toBe(true);
      expect(restored.runs['demo/a']!.text).toBe(whole.runs['demo/a']!.text);
      expect(restored.runs['demo/b']!.text).toBe(whole.runs['demo/b']!.text);
      expect(restored.lastEventId).toBe(id(events.length));
    }
  });

  it('events of a new epoch are applied (the server said recovered:false first)', () => {
    const turn = fresh();
    applyEvent(turn, { id: id(5), type: 'model.delta', data: { model: 'demo/a', text: 'old ' } }, 1);
    expect(applyEvent(turn, { id: id(2, 'newEpoch'), type: 'model.delta', data: { model: 'demo/a', text: 'new' } }, 2)).toEqual(['demo/a']);
    expect(turn.runs['demo/a']!.text).toBe('old new');
  });

  it('recovered:false replaces the cards with the server snapshot', () => {
    const turn = fresh();
    applyEvent(turn, { id: id(3), type: 'model.delta', data: { model: 'demo/a', text: 'stale' } }, 1);
    const changed = applyEvent(
      turn,
      {
        id: undefined,
        type: 'recovery',
        data: {
          recovered: false,
          reason: 'history_truncated',
          top: 40,
          snapshot: {
            id: 'cmp_abc',
            conversationId: 'cnv',
            kind: 'compare',
            tier: 'standard',
            status: 'completed',
            models: [
              {
                model: 'demo/a',
                status: 'ok',
                text: 'Rivers carve valleys.',
                result: { model: 'demo/a', status: 'ok', text: 'Rivers carve valleys.', outputTokens: 4, ttftMs: 90 },
              },
              {
                model: 'demo/b',
                status: 'failed',
                text: '',
                result: { model: 'demo/b', status: 'failed', text: '', errorCode: 'timeout', errorMessage: 'slow' },
              },
            ],
          },
        },
      },
      2,
    );
    expect(changed).toEqual(['demo/a', 'demo/b']);
    expect(turn.status).toBe('completed');
    expect(turn.runs['demo/a']).toMatchObject({ status: 'ok', text: 'Rivers carve valleys.', tokens: 4, ttftMs: 90 });
    expect(turn.runs['demo/b']).toMatchObject({ status: 'failed', error: { code: 'timeout', message: 'slow' } });
    expect(turn.lastEventId).toBe(id(3));
  });

  it('parses event ids whose topic contains a colon', () => {
    expect(parseEventId('comparison:cmp_Q2x:kP3v9aZt:42')).toEqual({ epoch: 'kP3v9aZt', seq: 42 });
    expect(parseEventId('nonsense')).toBeUndefined();
  });
});

describe('progressive markdown blocks', () => {
  it('splits at blank lines but never inside a code fence or display math', () => {
    const md = 'Intro para\nstill intro\n\n```ts\nconst a = 1;\n\nconst b = 2;\n```\n\n$$\nx^2\n\ny\n$$\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nEnd';
    expect(splitBlocks(md)).toEqual([
      'Intro para\nstill intro',
      '```ts\nconst a = 1;\n\nconst b = 2;\n```',
      '$$\nx^2\n\ny\n$$',
      '| a | b |\n|---|---|\n| 1 | 2 |',
      'End',
    ]);
  });

  it('while streaming, earlier blocks stay identical as text grows (only the last one changes)', () => {
    const full = 'One paragraph here.\n\n```py\nprint(1)\n\nprint(2)\n```\n\nTail text that keeps growing';
    let previous: string[] = [];
    for (let n = 1; n <= full.length; n++) {
      const blocks = splitBlocks(full.slice(0, n));
      // Every block but the last one of the previous frame is unchanged now.
      for (let i = 0; i < previous.length - 1; i++) expect(blocks[i]).toBe(previous[i]);
      previous = blocks;
    }
    expect(previous).toHaveLength(3);
  });
});
