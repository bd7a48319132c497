import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.js';
import { postJson } from './support/sse-client.js';

const servers: TestServer[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a restart within the second of a crash', () => {
  // SQLite keeps created_at in whole seconds: a comparison created in the same second as the
  // restart once stayed `running` forever, its stream never ending.
  it('marks a comparison the crash left running as interrupted', async () => {
    const demo = { speed: 1, models: { 'demo/crawl': { name: 'Crawl', firstTokenMs: 0, tokensPerSecond: 20, answerTokens: 3_000 } } };
    const first = await startServer({ demo });
    servers.push(first);
    await new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000))); // at the start of a second
    const created = await postJson(`${first.url}/v1/comparisons`, { prompt: 'Tell a long story.', models: ['demo/crawl'] });
    expect(created.status).toBe(201);
    await first.app.ctx.store.committed();
    // The files as a SIGKILL would leave them: the running comparison's row committed, nothing ended.
    const crashed = mkdtempSync(join(tmpdir(), 'tributary-crash-copy-'));
    dirs.push(crashed);
    for (const suffix of ['', '-wal']) {
      const file = join(first.dataDir, `tributary.db${suffix}`);
      if (existsSync(file)) copyFileSync(file, join(crashed, `tributary.db${suffix}`));
    }
    const second = await startServer({ demo }, { dataDir: crashed });
    servers.push(second);
    const stored = await (await fetch(`${second.url}/v1/comparisons/${created.json.id}`)).json();
    expect(stored.status).toBe('interrupted');
    expect(stored.models[0]).toMatchObject({ model: 'demo/crawl', status: 'interrupted' });
  });
});
