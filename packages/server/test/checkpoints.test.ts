import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.js';

/**
 * A running model's text is checkpointed by time as well as by tokens: with the token trigger
 * out of reach, the stored row still follows the stream every `checkpointMs`, and a model that
 * has stopped sending still gets its last text saved.
 */
describe('checkpoints by time', () => {
  let server: TestServer;
  let db: SqliteDatabase.Database;

  beforeAll(async () => {
    server = await startServer({
      demo: { speed: 1, models: { 'demo/slow': { name: 'Slow', firstTokenMs: 0, tokensPerSecond: 20, answerTokens: 2_000 } } },
      durability: { checkpointTokens: 1_000_000, checkpointMs: 150 },
      web: { enabled: false },
    });
    db = new SqliteDatabase(join(server.dataDir, 'tributary.db'), { readonly: true });
  });
  afterAll(async () => {
    db?.close();
    await server?.close();
  });

  const stored = (id: string) =>
    db.prepare('select status, text from comparison_results where comparison_id = ? and position = 0').get(id) as { status: string; text: string } | undefined;

  it('saves a running model every checkpointMs, each a longer prefix of its text, never after its end', async () => {
    const started = await fetch(`${server.url}/v1/comparisons`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Tell a long story.', models: ['demo/slow'] }),
    });
    expect(started.status).toBe(201);
    const { id } = await started.json();

    await new Promise((r) => setTimeout(r, 500));
    const first = stored(id);
    expect(first?.status).toBe('running');
    expect(first!.text.length).toBeGreaterThan(0);

    await new Promise((r) => setTimeout(r, 500));
    const second = stored(id);
    expect(second?.status).toBe('running');
    expect(second!.text.length).toBeGreaterThan(first!.text.length);
    expect(second!.text.startsWith(first!.text)).toBe(true);

    // Cancelled: the final row stays final (no checkpoint of the timer overwrites it).
    expect((await fetch(`${server.url}/v1/comparisons/${id}`, { method: 'DELETE' })).status).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 400));
    const final = stored(id);
    expect(final?.status).toBe('cancelled');
    expect(final!.text.startsWith(second!.text)).toBe(true);
  });
});
