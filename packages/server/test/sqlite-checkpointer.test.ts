import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/store/database.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open() {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-ckpt-'));
  dirs.push(dir);
  const opened = await openDatabase({ dataDir: dir });
  const file = opened.sqlite!.file;
  file.exec('create table t (id integer primary key, body text)');
  const insert = file.prepare('insert into t (body) values (?)');
  const write = (rows: number) =>
    file.transaction(() => {
      for (let i = 0; i < rows; i++) insert.run('x'.repeat(4_000));
    })();
  return { dir, opened, file, write, size: () => statSync(join(dir, 'tributary.db')).size };
}

describe('SQLite WAL checkpoints run on their own thread', () => {
  it('commits never checkpoint (past 1,000 WAL pages too); the worker folds the WAL in within its interval', async () => {
    const { opened, file, write, size } = await open();
    const before = size();
    write(2_000); // ~8 MB: SQLite's automatic checkpoint would have run inside this commit
    expect(file.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(size()).toBe(before); // every page still in the WAL
    await expect.poll(size, { timeout: 5_000, interval: 100 }).toBeGreaterThan(8_000_000);
    expect((await sql<{ n: number }>`select count(*) as n from t`.execute(opened.db)).rows[0]!.n).toBe(2_000);
    await opened.sqlite!.stopCheckpoints();
    await opened.db.destroy();
  });

  it('a closed database takes its checkpoint thread with it, and the data is all there on reopening', async () => {
    const { dir, opened, write } = await open();
    write(100);
    await opened.sqlite!.stopCheckpoints(); // resolves once the thread has closed its connection
    await opened.db.destroy();
    const again = await openDatabase({ dataDir: dir });
    expect(again.sqlite!.file.prepare('select count(*) as n from t').get()).toEqual({ n: 100 });
    await again.sqlite!.stopCheckpoints();
    await again.db.destroy();
  });
});
