import { describe, expect, it } from 'vitest';
import { demoFailureMode } from '../src/llm/demo-provider.js';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { startServer } from './support/server.js';
import { postJson } from './support/sse-client.js';

const pgUp = await postgresAvailable();

describe.each([
  { name: 'SQLite', database: () => ({}), enabled: true },
  { name: 'PostgreSQL', database: () => ({ url: TEST_DATABASE_URL, schema: randomSchema() }), enabled: pgUp },
])('usage_log and the seed monitoring queries on $name', ({ database, enabled }) => {
  it.runIf(enabled)('rows match what happened and the three queries return the right numbers', async () => {
    const db = database();
    const server = await startServer({ database: db });
    try {
      let flakyPrompt = 'p';
      for (let i = 0; demoFailureMode('demo/flaky', [{ role: 'user', content: flakyPrompt }]) === 'none'; i++) flakyPrompt = `p${i}`;
      const a = await postJson(`${server.url}/compare`, { input_data: 'Hello', models: ['demo/fast', 'demo/slow'] });
      const b = await postJson(`${server.url}/compare`, { input_data: flakyPrompt, models: ['demo/fast', 'demo/flaky', 'demo/nope'] });
      const c = await postJson(`${server.url}/compare`, { input_data: 'Again', models: ['demo/slow', 'demo/fast'] });
      expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);

      const figures = await server.app.ctx.store.monitoring();
      expect(figures.successful).toBe(2 + 1 + 2);
      expect(figures.failed).toBe(2);
      expect(figures.successRate).toBeCloseTo((5 / 7) * 100, 6);
      const times = [a, b, c].map((r) => r.json.metadata.processing_time_ms as number);
      expect(figures.averageProcessingTimeMs).toBeCloseTo(times.reduce((x, y) => x + y, 0) / 3, 6);
      expect(figures.mostUsedModels).toEqual([
        { modelsUsed: 'demo/fast,demo/slow', usageCount: 2 },
        { modelsUsed: 'demo/fast,demo/flaky,demo/nope', usageCount: 1 },
      ]);
    } finally {
      await server.close();
      if ('schema' in db && db.schema) await dropSchema(db.schema);
    }
  });
});

describe('a clean shutdown loses no write', () => {
  // A finished /compare is committed before it answers, so what a clean shutdown must save is
  // the writes of comparisons still running when it starts.
  it('comparisons running at close are all stored after a restart', async () => {
    const first = await startServer({ usage: { flushIntervalMs: 60_000, batchSize: 10_000 } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await postJson(`${first.url}/v1/comparisons`, { prompt: `q${i}`, models: ['demo/fast'] })).json.id);
    expect(first.app.ctx.store.pendingWrites()).toBeGreaterThan(0);
    await first.app.close();
    const second = await startServer({}, { dataDir: first.dataDir });
    try {
      for (const id of ids) {
        const c = await (await fetch(`${second.url}/v1/comparisons/${id}`)).json();
        expect(c.status).toBe('completed');
      }
      expect((await second.app.ctx.store.monitoring()).successful).toBe(5);
    } finally {
      await second.close();
      await first.close();
    }
  });
});
