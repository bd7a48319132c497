import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, startChild, type ChildServer } from './support/child-server.js';
import { TEST_DATABASE_URL, dropSchema, postgresAvailable, randomSchema } from './support/postgres.js';

const pgUp = await postgresAvailable();

/** A start that cannot work stops with one clear line on stderr and a non-zero exit, never a stack. */
function expectOneLine(result: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(result.code).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'tributary-cli-'));

describe('tributary serve refuses to start, clearly', () => {
  const children: ChildServer[] = [];
  afterAll(async () => {
    for (const c of children) await c.kill();
  });

  it('on a busy port', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as net.AddressInfo;
    try {
      const result = await runCli(['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', tempDir()]);
      expectOneLine(result, new RegExp(`127\\.0\\.0\\.1:${port}.*already in use`));
    } finally {
      busy.close();
    }
  });

  it('on a data directory that cannot be one (a file)', async () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    const result = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', file]);
    expectOneLine(result, /Cannot use data directory .*not-a-dir/);
  });

  it("on a data directory another live server holds; a dead one's stale lock is taken over", async () => {
    const dataDir = tempDir();
    const first = await startChild(['--data-dir', dataDir]);
    children.push(first);
    expect(readFileSync(join(dataDir, 'tributary.lock'), 'utf8').trim()).toBe(String(first.child.pid));
    const second = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir]);
    expectOneLine(second, new RegExp(`in use by another Tributary server \\(PID ${first.child.pid}`));
    expect((await fetch(`${first.url}/health`)).status).toBe(200); // the first is untouched

    await first.kill(); // SIGKILL: its lock stays behind, naming a dead PID
    expect(readFileSync(join(dataDir, 'tributary.lock'), 'utf8').trim()).toBe(String(first.child.pid));
    const third = await startChild(['--data-dir', dataDir]);
    children.push(third);
    expect(readFileSync(join(dataDir, 'tributary.lock'), 'utf8').trim()).toBe(String(third.child.pid));
    expect(await third.stop()).toBe(0);
    expect(() => readFileSync(join(dataDir, 'tributary.lock'))).toThrow(/ENOENT/); // released on a clean stop
  });

  it('on a database that stays unreachable: retried for the configured time, then one line', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((resolve) => closed.close(resolve)); // nothing listens there now
    const started = Date.now();
    const result = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', tempDir()], {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test`,
      TRIBUTARY_DB_STARTUP_RETRY_MS: '1500',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    expectOneLine(result, /database is unreachable \(ECONNREFUSED\) after [2-9]\d* attempts/);
    expect(result.stdout).toMatch(/Waiting for the database \(ECONNREFUSED\) for up to 1500 ms/);
  });

  it('on a Redis that stays unreachable: retried for the configured time, then one line', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const started = Date.now();
    const result = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', tempDir()], {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      TRIBUTARY_DB_STARTUP_RETRY_MS: '1000',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expectOneLine(result, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} is unreachable \\(.*ECONNREFUSED.*\\)`));
  });

  it.skipIf(!pgUp)('a database that comes up while the start retries is used', async () => {
    const target = new URL(TEST_DATABASE_URL);
    const gate = net.createServer();
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    const { port } = gate.address() as net.AddressInfo;
    await new Promise((resolve) => gate.close(resolve));
    // Its own schema: the shared database's public schema is nobody's to migrate.
    const schema = randomSchema();
    const dir = tempDir();
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ database: { schema } }));
    const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir, '--config', configFile], {
      env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test`, TRIBUTARY_DB_STARTUP_RETRY_MS: '20000' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    let exitCode: number | null | undefined;
    const exited = new Promise((resolve) => child.on('exit', (code) => resolve((exitCode = code))));
    const waitFor = async (done: () => boolean) => {
      while (!done()) {
        if (exitCode !== undefined) throw new Error(`the server exited (${exitCode}): ${out}${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await waitFor(() => out.includes('Waiting for the database'));
      // Now PostgreSQL "comes up" on that port (a plain forwarder to the real one).
      const forwarder = net.createServer((c) => {
        const u = net.connect(Number(target.port || 5432), target.hostname);
        c.pipe(u).pipe(c);
        c.on('error', () => u.destroy());
        u.on('error', () => c.destroy());
      });
      await new Promise<void>((resolve) => forwarder.listen(port, '127.0.0.1', resolve));
      try {
        await waitFor(() => /listening on/.test(out));
        expect(out).toMatch(/PostgreSQL/);
      } finally {
        forwarder.close();
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
      await dropSchema(schema);
    }
  });
});
