import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrationsFor } from '../src/store/migrations.js';
import { monitoringQueries } from '../src/store/monitoring-queries.js';
import { openStore, type OpenStoreOptions } from '../src/store/open-store.js';
import type { ComparisonEnd, ComparisonStart, Store, UsageRecord } from '../src/store/types.js';
import type { BatchInfo } from '../src/store/write-queue.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A place to keep data (temp dir or PostgreSQL schema) plus a side connection for checks and sabotage. */
interface Location {
  options: Pick<OpenStoreOptions, 'dataDir' | 'databaseUrl' | 'schema'>;
  /** Runs SQL on a separate connection, like another process would. */
  query(text: string): Promise<Record<string, unknown>[]>;
}

interface Backend {
  name: 'sqlite' | 'postgres';
  skip: boolean;
  /** Why it cannot run; set means beforeAll fails the suite (CI must not pass without PostgreSQL). */
  unavailable?: string | undefined;
  fresh(): Location;
  cleanup(): Promise<void>;
}

async function probePostgres(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

function sqliteBackend(): Backend {
  const root = mkdtempSync(join(tmpdir(), 'tributary-store-'));
  let n = 0;
  return {
    name: 'sqlite',
    skip: false,
    fresh() {
      const dataDir = join(root, `db${n++}`); // not created: openStore must create it
      return {
        options: { dataDir },
        async query(text) {
          const db = new SqliteDatabase(join(dataDir, 'tributary.db'));
          try {
            const stmt = db.prepare(text);
            if (stmt.reader) return stmt.all() as Record<string, unknown>[];
            stmt.run();
            return [];
          } finally {
            db.close();
          }
        },
      };
    },
    async cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function postgresBackend(problem: string | undefined): Backend {
  const run = `tributary_test_${randomBytes(4).toString('hex')}`;
  const schemas: string[] = [];
  return {
    name: 'postgres',
    skip: problem !== undefined && !process.env.CI,
    unavailable: problem,
    fresh() {
      const schema = `${run}_${schemas.length}`;
      schemas.push(schema);
      return {
        options: { dataDir: '/nonexistent-unused', databaseUrl: PG_URL, schema },
        async query(text) {
          const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
          await client.connect();
          try {
            return (await client.query(text)).rows as Record<string, unknown>[];
          } finally {
            await client.end();
          }
        },
      };
    },
    async cleanup() {
      if (problem) return;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

const pgProblem = await probePostgres(PG_URL);
if (pgProblem && !process.env.CI) {
  console.warn(
    `\n!!! PostgreSQL store tests SKIPPED: cannot reach ${PG_URL} (${pgProblem}).\n` +
      '!!! Start PostgreSQL or set TEST_DATABASE_URL; with CI set these tests fail instead.\n',
  );
}
const backends: Backend[] = [sqliteBackend(), postgresBackend(pgProblem)];

const HOUR = 3_600_000;

function start(id: string, overrides: Partial<ComparisonStart> = {}): ComparisonStart {
  return {
    id,
    conversationId: 'cnv_1',
    kind: 'compare',
    tier: 'standard',
    prompt: 'Why is the sky blue?',
    models: ['demo/fast', 'demo/flaky'],
    createdAt: new Date('2026-11-23T10:00:00.000Z'),
    ...overrides,
  };
}

function end(overrides: Partial<ComparisonEnd> = {}): ComparisonEnd {
  return {
    status: 'completed',
    finishedAt: new Date('2026-11-23T10:00:02.000Z'),
    processingTimeMs: 2_000,
    results: [
      {
        model: 'demo/fast',
        status: 'ok',
        text: 'Rayleigh scattering.',
        finishReason: 'stop',
        inputTokens: 12,
        outputTokens: 40,
        ttftMs: 150,
        durationMs: 1_900,
        tokensPerSecond: 21.5,
      },
      { model: 'demo/flaky', status: 'failed', text: 'partial', errorCode: 'upstream_error', errorMessage: 'boom' },
    ],
    ...overrides,
  };
}

function usage(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    comparisonId: 'cmp_u',
    kind: 'compare',
    inputLength: 20,
    modelsRequested: 2,
    modelsSuccessful: 2,
    modelsFailed: 0,
    modelsUsed: ['demo/a', 'demo/b'],
    processingTimeMs: 100,
    modelTokens: { 'demo/a': { input: 1, output: 2 } },
    createdAt: new Date(),
    ...overrides,
  };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(backends)('store on $name', (backend) => {
  const test = backend.skip ? it.skip : it;
  const opened: Store[] = [];

  /** Slow timer and big batches by default, so a test sees writes queued until it flushes. */
  async function open(loc: Location, extra: Partial<OpenStoreOptions> = {}): Promise<Store> {
    const store = await openStore({ ...loc.options, flushIntervalMs: 60_000, batchSize: 1_000, ...extra });
    opened.push(store);
    return store;
  }

  beforeAll(() => {
    if (backend.unavailable && !backend.skip) {
      throw new Error(`PostgreSQL is required when CI is set, but ${PG_URL} is unreachable: ${backend.unavailable}`);
    }
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  afterAll(() => backend.cleanup());

  test('reports its dialect and answers ping', async () => {
    const store = await open(backend.fresh());
    expect(store.dialect).toBe(backend.name);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  test('migrations are idempotent: opening the same data twice keeps it', async () => {
    const loc = backend.fresh();
    const first = await open(loc);
    first.saveComparisonStart(start('cmp_m'));
    await first.close();

    const second = await open(loc);
    expect((await second.getComparison('cmp_m'))?.id).toBe('cmp_m');
    // Each migration recorded exactly once, however many times the data was opened.
    const [row] = await loc.query('select count(*) as n from kysely_migration');
    expect(Number(row?.n)).toBe(Object.keys(migrationsFor(backend.name)).length); // each applied once
  });

  test('start then end round-trips with results in position order and their stats', async () => {
    const store = await open(backend.fresh());
    const createdAt = new Date('2026-11-23T10:00:00.789Z');
    store.saveComparisonStart(start('cmp_1', { createdAt }));

    const running = await store.getComparison('cmp_1');
    // SQLite keeps created_at as 'YYYY-MM-DD HH:MM:SS' text (seconds); PostgreSQL keeps milliseconds.
    const storedCreatedAt = backend.name === 'sqlite' ? new Date('2026-11-23T10:00:00.000Z') : createdAt;
    expect(running).toEqual({ ...start('cmp_1'), createdAt: storedCreatedAt, status: 'running', results: [] });
    expect(running?.finishedAt).toBeUndefined();

    store.saveComparisonEnd('cmp_1', end());
    const done = await store.getComparison('cmp_1');
    expect(done?.status).toBe('completed');
    expect(done?.finishedAt).toBeInstanceOf(Date);
    expect(done?.finishedAt?.toISOString()).toBe('2026-11-23T10:00:02.000Z');
    expect(done?.createdAt).toBeInstanceOf(Date);
    expect(done?.processingTimeMs).toBe(2_000);
    expect(done?.models).toEqual(['demo/fast', 'demo/flaky']);
    expect(done?.results).toEqual(end().results);
    expect(done?.results.map((r) => r.model)).toEqual(['demo/fast', 'demo/flaky']);
    expect(await store.getComparison('cmp_missing')).toBeUndefined();
  });

  test('lists comparisons newest first, optionally by conversation, with results', async () => {
    const store = await open(backend.fresh());
    store.saveComparisonStart(start('cmp_a', { createdAt: new Date('2026-11-23T10:00:00Z'), conversationId: 'cnv_x' }));
    store.saveComparisonStart(start('cmp_b', { createdAt: new Date('2026-11-23T11:00:00Z'), conversationId: 'cnv_y' }));
    store.saveComparisonStart(start('cmp_c', { createdAt: new Date('2026-11-23T12:00:00Z'), conversationId: 'cnv_x' }));
    store.saveComparisonEnd('cmp_a', end());

    expect((await store.listComparisons({ limit: 10 })).map((c) => c.id)).toEqual(['cmp_c', 'cmp_b', 'cmp_a']);
    expect((await store.listComparisons({ limit: 2 })).map((c) => c.id)).toEqual(['cmp_c', 'cmp_b']);
    const inX = await store.listComparisons({ limit: 10, conversationId: 'cnv_x' });
    expect(inX.map((c) => c.id)).toEqual(['cmp_c', 'cmp_a']);
    expect(inX[1]?.results).toEqual(end().results);
    expect(inX[0]?.results).toEqual([]);
  });

  test('keeps messages in order per conversation', async () => {
    const loc = backend.fresh();
    const store = await open(loc);
    store.appendMessages('cnv_1', [
      { role: 'user', content: 'q1', modelId: null, comparisonId: 'cmp_1' },
      { role: 'assistant', content: 'a1', modelId: 'demo/a', comparisonId: 'cmp_1' },
      { role: 'assistant', content: 'b1', modelId: 'demo/b', comparisonId: 'cmp_1' },
    ]);
    store.appendMessages('cnv_2', [{ role: 'user', content: 'other', modelId: null, comparisonId: 'cmp_9' }]);
    store.appendMessages('cnv_1', [
      { role: 'user', content: 'q2', modelId: null, comparisonId: 'cmp_2' },
      { role: 'assistant', content: 'a2', modelId: 'demo/a', comparisonId: 'cmp_2' },
    ]);
    store.appendMessages('cnv_3', []);

    const one = await store.getConversation('cnv_1');
    expect(one?.map((m) => m.content)).toEqual(['q1', 'a1', 'b1', 'q2', 'a2']);
    expect(one?.[0]).toEqual({ role: 'user', content: 'q1', modelId: null, comparisonId: 'cmp_1' });
    expect(one?.[4]).toEqual({ role: 'assistant', content: 'a2', modelId: 'demo/a', comparisonId: 'cmp_2' });
    expect((await store.getConversation('cnv_2'))?.map((m) => m.content)).toEqual(['other']);
    expect(await store.getConversation('cnv_3')).toBeUndefined();
    expect(await store.getConversation('cnv_none')).toBeUndefined();
    // Conversations are created by their first messages (none for an empty append).
    const conversations = await loc.query('select id from conversations order by id');
    expect(conversations.map((r) => r.id)).toEqual(['cnv_1', 'cnv_2']);
  });

  test('reads see writes still in the queue', async () => {
    const store = await open(backend.fresh());
    store.saveComparisonStart(start('cmp_q'));
    store.appendMessages('cnv_q', [{ role: 'user', content: 'hi', modelId: null, comparisonId: 'cmp_q' }]);
    store.logUsage(usage());
    expect(store.pendingWrites()).toBe(3);

    expect((await store.getComparison('cmp_q'))?.status).toBe('running');
    expect(store.pendingWrites()).toBe(0);
    store.saveComparisonEnd('cmp_q', end());
    expect(store.pendingWrites()).toBe(3); // the comparison row and two result rows
    expect((await store.listComparisons({ limit: 1 }))[0]?.status).toBe('completed');
    expect((await store.getConversation('cnv_q'))?.length).toBe(1);
  });

  test('close() writes everything queued; writes after close throw', async () => {
    const loc = backend.fresh();
    const store = await open(loc);
    store.saveComparisonStart(start('cmp_close'));
    store.saveComparisonEnd('cmp_close', end());
    store.appendMessages('cnv_1', [{ role: 'user', content: 'kept', modelId: null, comparisonId: 'cmp_close' }]);
    store.logUsage(usage({ comparisonId: 'cmp_close' }));
    expect(store.pendingWrites()).toBeGreaterThan(0);
    await store.close();
    expect(() => store.logUsage(usage())).toThrow(/closed/);
    expect(() => store.saveComparisonStart(start('cmp_late'))).toThrow(/closed/);

    const again = await open(loc);
    expect((await again.getComparison('cmp_close'))?.results).toHaveLength(2);
    expect((await again.getConversation('cnv_1'))?.map((m) => m.content)).toEqual(['kept']);
    expect((await again.monitoring()).successful).toBe(2);
  });

  test('batches many writes into few transactions, cut at batchSize rows', async () => {
    const batches: BatchInfo[] = [];
    const store = await open(backend.fresh(), { batchSize: 50, onBatch: (b) => batches.push(b) });
    for (let i = 0; i < 120; i++) store.logUsage(usage({ comparisonId: `cmp_${i}` }));
    expect(store.pendingWrites()).toBe(120);
    // Reaching batchSize starts writing at once, without waiting for the (60 s) interval.
    await until(() => store.pendingWrites() === 0);
    expect(batches.map((b) => [b.ok, b.rows])).toEqual([
      [true, 50],
      [true, 50],
      [true, 20],
    ]);
    expect((await store.monitoring()).mostUsedModels).toEqual([{ modelsUsed: 'demo/a,demo/b', usageCount: 120 }]);
  });

  test('writes below batchSize go out on the flush interval, in one transaction', async () => {
    const batches: BatchInfo[] = [];
    const store = await open(backend.fresh(), { flushIntervalMs: 30, onBatch: (b) => batches.push(b) });
    for (let i = 0; i < 10; i++) store.logUsage(usage());
    store.saveComparisonStart(start('cmp_t'));
    await until(() => store.pendingWrites() === 0);
    expect(batches.map((b) => [b.ok, b.items, b.rows])).toEqual([[true, 11, 11]]);
  });

  test('a failing batch is retried, in order, not lost', async () => {
    const loc = backend.fresh();
    const batches: BatchInfo[] = [];
    const warnings: unknown[] = [];
    const store = await open(loc, {
      flushIntervalMs: 10,
      minRetryMs: 20,
      maxRetryMs: 50,
      onBatch: (b) => batches.push(b),
      logger: { warn: (obj) => warnings.push(obj), error: () => {} },
    });
    store.logUsage(usage({ comparisonId: 'cmp_1' }));
    await store.flush();

    // Another connection takes the table away, as a broken or locked database would.
    await loc.query('ALTER TABLE usage_log RENAME TO usage_log_away');
    store.logUsage(usage({ comparisonId: 'cmp_2' }));
    store.saveComparisonStart(start('cmp_s'));
    store.logUsage(usage({ comparisonId: 'cmp_3' }));
    await expect(store.flush()).rejects.toThrow(/usage_log/);
    expect(store.pendingWrites()).toBe(3);
    // It keeps retrying in the background while broken.
    await until(() => batches.filter((b) => !b.ok).length >= 3);
    expect(store.pendingWrites()).toBe(3);
    expect(warnings.length).toBeGreaterThanOrEqual(3);
    expect(batches.at(-1)?.failures).toBeGreaterThanOrEqual(3);

    await loc.query('ALTER TABLE usage_log_away RENAME TO usage_log');
    await until(() => store.pendingWrites() === 0); // the background retry, not a flush
    const rows = await loc.query('select comparison_id from usage_log order by id');
    expect(rows.map((r) => r.comparison_id)).toEqual(['cmp_1', 'cmp_2', 'cmp_3']);
    expect((await store.getComparison('cmp_s'))?.status).toBe('running');
  });

  test('close() gives up on a database that stays broken after closeTimeoutMs, and says so', async () => {
    const loc = backend.fresh();
    const errors: unknown[] = [];
    const store = await open(loc, { closeTimeoutMs: 150, minRetryMs: 20, logger: { warn: () => {}, error: (obj) => errors.push(obj) } });
    await loc.query('ALTER TABLE usage_log RENAME TO usage_log_away');
    store.logUsage(usage());
    store.logUsage(usage());
    const started = Date.now();
    await store.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(errors).toEqual([expect.objectContaining({ rows: 2 })]);
  });

  test('committed(): group commit — callers waiting together share one batch, long before the flush timer', async () => {
    const batches: BatchInfo[] = [];
    const loc = backend.fresh();
    const store = await open(loc, { onBatch: (b) => batches.push(b) });
    store.saveComparisonStart(start('cmp_gc'));
    store.saveModelResult('cmp_gc', 0, { model: 'demo/fast', status: 'ok', text: 'one' });
    store.saveModelResult('cmp_gc', 1, { model: 'demo/slow', status: 'failed', text: 'par', errorCode: 'timeout' });
    const waits = [store.committed(), store.committed(), store.committed()];
    const t0 = performance.now();
    await Promise.all(waits);
    expect(performance.now() - t0).toBeLessThan(5_000); // the flush timer is 60 s
    expect(batches.filter((b) => b.ok)).toEqual([expect.objectContaining({ items: 3, rows: 3 })]);
    expect(store.pendingWrites()).toBe(0);
    // Committed: another connection sees the results (a crash now would keep them).
    expect(await loc.query("select model_id, status, text from comparison_results where comparison_id = 'cmp_gc' order by position")).toEqual([
      { model_id: 'demo/fast', status: 'ok', text: 'one' },
      { model_id: 'demo/slow', status: 'failed', text: 'par' },
    ]);
    await store.committed(); // nothing queued: resolves at once
  });

  (backend.name === 'sqlite' ? test : it.skip)(
    'committed() on SQLite: an idle queue commits on the waiting tick, before anything else queued on the event loop',
    async () => {
      const batches: BatchInfo[] = [];
      const loc = backend.fresh();
      const store = await open(loc, { onBatch: (b) => batches.push(b) });
      store.saveComparisonStart(start('cmp_tick'));
      store.saveModelResult('cmp_tick', 0, { model: 'demo/fast', status: 'ok', text: 'now' });
      const waiting = store.committed();
      // No await in between: the batch is already applied (a final event is not held behind other work).
      expect(store.pendingWrites()).toBe(0);
      expect(batches).toEqual([expect.objectContaining({ ok: true, items: 2, rows: 2 })]);
      expect(await loc.query("select text from comparison_results where comparison_id = 'cmp_tick'")).toEqual([{ text: 'now' }]);
      await waiting;
    },
  );

  test('checkpoints of a running model are replaced by its result; at start a leftover one becomes interrupted', async () => {
    const loc = backend.fresh();
    const first = await open(loc);
    first.saveComparisonStart(start('cmp_ck', { models: ['demo/fast', 'demo/slow'] }));
    expect(first.saveCheckpoint('cmp_ck', 0, { model: 'demo/fast', status: 'running', text: 'Once' })).toBe(true);
    expect(first.saveCheckpoint('cmp_ck', 1, { model: 'demo/slow', status: 'running', text: 'Long ago' })).toBe(true);
    first.saveModelResult('cmp_ck', 0, { model: 'demo/fast', status: 'ok', text: 'Once upon a time.' });
    expect(first.saveCheckpoint('cmp_ck', 1, { model: 'demo/slow', status: 'running', text: 'Long ago there' })).toBe(true);
    // Replaced while still queued: demo/fast's checkpoint by its result, demo/slow's first checkpoint
    // by its second. Queued: the start, demo/fast's result, demo/slow's last checkpoint.
    expect(first.pendingWrites()).toBe(3);
    await first.committed();
    // While running, only finished models are results.
    expect((await first.getComparison('cmp_ck'))?.results.map((r) => [r.model, r.status, r.text])).toEqual([['demo/fast', 'ok', 'Once upon a time.']]);
    await first.close();

    const second = await open(loc);
    expect(await second.markInterrupted()).toBe(1);
    const after = await second.getComparison('cmp_ck');
    expect(after?.status).toBe('interrupted');
    expect(after?.results.map((r) => [r.model, r.status, r.text])).toEqual([
      ['demo/fast', 'ok', 'Once upon a time.'],
      ['demo/slow', 'interrupted', 'Long ago there'],
    ]);
  });

  test('an end without results keeps the per-model results (every column); after a delete it removes them', async () => {
    const loc = backend.fresh();
    const store = await open(loc);
    store.saveComparisonStart(start('cmp_pm', { models: ['demo/fast', 'demo/slow'] }));
    store.saveCheckpoint('cmp_pm', 0, { model: 'demo/fast', status: 'running', text: 'Ray', outputTokens: 1 });
    const [fast] = end().results!;
    store.saveModelResult('cmp_pm', 0, fast!);
    store.saveModelResult('cmp_pm', 1, {
      model: 'demo/slow',
      status: 'failed',
      text: 'par',
      errorCode: 'timeout',
      errorMessage: 'Too slow.',
      outputTokens: 1,
      durationMs: 9,
    });
    store.saveComparisonEnd('cmp_pm', { ...end(), results: undefined });
    const stored = await store.getComparison('cmp_pm');
    expect(stored?.status).toBe('completed');
    expect(stored?.results).toEqual([
      fast,
      { model: 'demo/slow', status: 'failed', text: 'par', errorCode: 'timeout', errorMessage: 'Too slow.', outputTokens: 1, durationMs: 9 },
    ]);

    // Deleted while running: the models' own results that arrive after the delete do not linger.
    store.saveComparisonStart(start('cmp_pm_gone'));
    await store.flush();
    expect(await store.deleteComparison('cmp_pm_gone')).toBe(true);
    store.saveModelResult('cmp_pm_gone', 0, fast!);
    store.saveComparisonEnd('cmp_pm_gone', { ...end(), results: undefined });
    await store.flush();
    const [row] = await loc.query("select count(*) as n from comparison_results where comparison_id = 'cmp_pm_gone'");
    expect(Number(row?.n)).toBe(0);
  });

  test('the write budget: past maxPendingBytes, checkpoints are skipped and hasWriteRoom() is false', async () => {
    const store = await open(backend.fresh(), { maxPendingBytes: 1_000 });
    expect(store.hasWriteRoom()).toBe(true);
    store.saveComparisonStart(start('cmp_budget', { prompt: 'x'.repeat(600) }));
    expect(store.hasWriteRoom()).toBe(false);
    expect(store.saveCheckpoint('cmp_budget', 0, { model: 'demo/fast', status: 'running', text: 'partial' })).toBe(false);
    await store.committed();
    expect(store.hasWriteRoom()).toBe(true);
  });

  test('values a database would reject for good are cleaned when queued, not retried forever', async () => {
    const store = await open(backend.fresh());
    store.saveComparisonStart(start('cmp_nul', { prompt: 'a\u0000b\ud800c' }));
    store.saveComparisonStart(start('cmp_nul')); // a duplicate start is ignored, not a key violation
    store.saveComparisonEnd(
      'cmp_nul',
      end({
        processingTimeMs: 10.4,
        results: [{ model: 'demo/fast', status: 'ok', text: 'x', ttftMs: 12.6, durationMs: 99.5, tokensPerSecond: Infinity }],
      }),
    );
    await store.flush();
    const stored = await store.getComparison('cmp_nul');
    // PostgreSQL text cannot hold NUL and UTF-8 has no lone surrogate: both become U+FFFD, on both dialects.
    expect(stored?.prompt).toBe('a\uFFFDb\uFFFDc');
    expect(stored?.processingTimeMs).toBe(10);
    expect(stored?.results[0]).toMatchObject({ ttftMs: 13, durationMs: 100, tokensPerSecond: undefined });
  });

  test('usage rows feed the three monitoring queries over the last 24 hours only', async () => {
    const loc = backend.fresh();
    const store = await open(loc);
    expect(await store.monitoring()).toEqual({
      averageProcessingTimeMs: null,
      successful: 0,
      failed: 0,
      successRate: null,
      mostUsedModels: [],
    });

    const now = Date.now();
    store.logUsage(usage({ modelsUsed: ['demo/a', 'demo/b'], modelsSuccessful: 2, modelsFailed: 0, processingTimeMs: 100 }));
    // Unsorted on the way in: still the same model set.
    store.logUsage(usage({ modelsUsed: ['demo/b', 'demo/a'], modelsSuccessful: 1, modelsFailed: 1, processingTimeMs: 200 }));
    store.logUsage(usage({ modelsUsed: ['demo/c'], modelsRequested: 1, modelsSuccessful: 1, modelsFailed: 0, processingTimeMs: 300 }));
    store.logUsage(usage({ modelsSuccessful: 2, modelsFailed: 0, processingTimeMs: 400, createdAt: new Date(now - 23 * HOUR) }));
    // Older than 24 hours: must not count anywhere.
    store.logUsage(
      usage({
        modelsUsed: ['demo/old'],
        modelsSuccessful: 0,
        modelsFailed: 5,
        processingTimeMs: 10_000,
        createdAt: new Date(now - 48 * HOUR),
      }),
    );

    const figures = await store.monitoring();
    expect(figures.averageProcessingTimeMs).toBe(250);
    expect(figures.successful).toBe(6);
    expect(figures.failed).toBe(1);
    expect(figures.successRate).toBeCloseTo((6 / 7) * 100, 10);
    expect(figures.mostUsedModels).toEqual([
      { modelsUsed: 'demo/a,demo/b', usageCount: 3 },
      { modelsUsed: 'demo/c', usageCount: 1 },
    ]);

    const stored = await loc.query('select models_used, model_tokens, created_at from usage_log order by id');
    expect(stored).toHaveLength(5);
    expect(JSON.parse(String(stored[0]?.model_tokens))).toEqual({ 'demo/a': { input: 1, output: 2 } });
    if (backend.name === 'sqlite') {
      // The form datetime('now') produces, which the SQLite queries compare against as text.
      for (const row of stored) expect(row.created_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    }
  });

  test("the PostgreSQL monitoring queries are the seed checklist's, verbatim", () => {
    expect(monitoringQueries.postgres).toEqual({
      averageProcessingTime: "SELECT AVG(processing_time_ms) FROM usage_log WHERE created_at > NOW() - INTERVAL '24 hours';",
      successRate:
        "SELECT SUM(models_successful) as successful, SUM(models_failed) as failed, (SUM(models_successful)::float / (SUM(models_successful) + SUM(models_failed))) * 100 as success_rate FROM usage_log WHERE created_at > NOW() - INTERVAL '24 hours';",
      mostUsedModels:
        "SELECT models_used, COUNT(*) as usage_count FROM usage_log WHERE created_at > NOW() - INTERVAL '24 hours' GROUP BY models_used ORDER BY usage_count DESC LIMIT 10;",
    });
  });

  test('deleteComparison removes the comparison and its results', async () => {
    const loc = backend.fresh();
    const store = await open(loc);
    store.saveComparisonStart(start('cmp_d'));
    store.saveComparisonEnd('cmp_d', end());
    store.saveComparisonStart(start('cmp_keep'));
    expect(await store.deleteComparison('cmp_d')).toBe(true); // still queued when asked: flushed first
    expect(await store.getComparison('cmp_d')).toBeUndefined();
    expect(await store.deleteComparison('cmp_d')).toBe(false);
    expect(await store.getComparison('cmp_keep')).toBeDefined();

    // An end arriving after the delete must not resurrect results.
    store.saveComparisonEnd('cmp_d', end());
    await store.flush();
    const [row] = await loc.query("select count(*) as n from comparison_results where comparison_id = 'cmp_d'");
    expect(Number(row?.n)).toBe(0);
  });

  test('markInterrupted turns running comparisons into interrupted ones', async () => {
    const loc = backend.fresh();
    const first = await open(loc);
    first.saveComparisonStart(start('cmp_run'));
    first.saveComparisonStart(start('cmp_done'));
    first.saveComparisonEnd('cmp_done', end());
    await first.close(); // a crash would leave the same rows behind

    const store = await open(loc);
    expect(await store.markInterrupted()).toBe(1);
    expect((await store.getComparison('cmp_run'))?.status).toBe('interrupted');
    expect((await store.getComparison('cmp_done'))?.status).toBe('completed');
    expect(await store.markInterrupted()).toBe(0);
  });
});
