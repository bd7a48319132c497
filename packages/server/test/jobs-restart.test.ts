import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { TEST_IDENTITY } from './support/server.js';
import { sseRequest } from './support/sse-client.js';
import { createJob, getJob, pgQuery, prompts, waitForJob } from './support/jobs.js';

const hasPostgres = await postgresAvailable();
const BIN = fileURLToPath(new URL('../bin/tributary.js', import.meta.url));

interface Row {
  id: number | string;
  prompt_index: number;
  model: string;
  status: string;
  attempts: number;
  text: string | null;
  finished_at: number | null;
}

/** A real `tributary serve` child process on its own port; resolves once it listens. */
async function serve(configFile: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 15_000);
    const take = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { child, url };
}

const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

describe.each([{ db: 'sqlite' as const }, { db: 'postgres' as const }])('a job survives SIGKILL of the server on $db', ({ db }) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-jobs-kill-'));
  const schema = randomSchema();
  const children: ChildProcess[] = [];
  afterAll(async () => {
    await Promise.all(children.map(kill));
    rmSync(dataDir, { recursive: true, force: true });
    if (db === 'postgres' && hasPostgres) await dropSchema(schema);
  });

  const rows = async (): Promise<Row[]> => {
    const q = 'select id, prompt_index, model, status, attempts, text, finished_at from job_items order by id';
    if (db === 'postgres') return pgQuery(schema, q);
    const file = new SqliteDatabase(join(dataDir, 'tributary.db'), { readonly: true });
    try {
      return file.prepare(q).all() as Row[];
    } finally {
      file.close();
    }
  };

  it('finished items never run again, in-flight ones run once more, every item exactly once (checked in SQL)', async () => {
    if (db === 'postgres' && !hasPostgres) return;
    const configFile = join(dataDir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        server: { host: '127.0.0.1', port: 0 },
        dataDir,
        log: { level: 'warn' },
        web: { enabled: false },
        demo: { speed: 60 },
        jobs: { pollMs: 50, progressIntervalMs: 20, leaseMs: 1_000 },
        identity: TEST_IDENTITY, // 150 items: past the anonymous daily limit, which identity tests cover
        ...(db === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {}),
      }),
    );
    const first = await serve(configFile);
    children.push(first.child);
    const created = await createJob(first.url, { prompts: prompts(50, 'kill'), models: ['demo/fast', 'demo/balanced', 'demo/verbose'], concurrency: 12 });
    expect(created.status).toBe(201);
    const { id } = created.json;
    // Watch the stream until a good part is done, then kill the server hard.
    const before = await sseRequest(`${first.url}/v1/jobs/${id}/stream`, {
      until: (_m, all) => (all.filter((m) => m.event === 'job.item').length >= 40 ? 'stop' : undefined),
    });
    await kill(first.child);
    const atKill = await rows();
    const finished = atKill.filter((r) => r.status === 'succeeded');
    const inFlight = atKill.filter((r) => r.status === 'running');
    expect(finished.length).toBeGreaterThanOrEqual(40);
    expect(finished.length).toBeLessThan(150);
    expect(inFlight.length).toBeGreaterThan(0);

    const second = await serve(configFile);
    children.push(second.child);
    // A client resuming from before the crash is told its position is gone, gets the state, then the rest.
    const lastId = [...before.messages].reverse().find((m) => m.id)!.id!;
    const resumed = await sseRequest(`${second.url}/v1/jobs/${id}/stream`, { headers: { 'Last-Event-ID': lastId } });
    expect(resumed.messages[0]!.event).toBe('recovery');
    expect(resumed.messages[0]!.json).toMatchObject({ recovered: false });
    expect(resumed.messages[0]!.json.snapshot).toMatchObject({ id, total: 150 });
    expect(resumed.messages.at(-1)).toMatchObject({ event: 'job.done', json: { status: 'succeeded' } });

    const job = await waitForJob(second.url, id);
    expect(job.status).toBe('succeeded');
    expect(job.counts.succeeded).toBe(150);
    const end = await rows();
    expect(end).toHaveLength(150);
    expect(new Set(end.map((r) => `${r.prompt_index}/${r.model}`)).size).toBe(150);
    expect(end.every((r) => r.status === 'succeeded' && r.text)).toBe(true);
    const byId = new Map(end.map((r) => [String(r.id), r]));
    for (const f of finished) {
      const now = byId.get(String(f.id))!;
      expect(now.attempts).toBe(1); // never run again
      expect(Number(now.finished_at)).toBe(Number(f.finished_at));
      expect(now.text).toBe(f.text);
    }
    for (const r of inFlight) expect(byId.get(String(r.id))!.attempts).toBe(2); // run again, once
    const untouched = end.filter((r) => !inFlight.some((x) => String(x.id) === String(r.id)));
    expect(untouched.every((r) => r.attempts === 1)).toBe(true);
    expect((await getJob(second.url, id)).progress.percent).toBe(100);
    await kill(second.child);
  }, 90_000); // two process starts and 150 items: ~3 s alone, past 30 s once in CI beside other files under load
});
