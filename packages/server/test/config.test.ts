import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';

const run = promisify(execFile);
const BIN = new URL('../bin/tributary.js', import.meta.url).pathname;

describe('configuration', () => {
  it('has working defaults with no env and no file', () => {
    const c = loadConfig({ env: {} });
    expect(c.server).toMatchObject({ port: 8080, host: '127.0.0.1' });
    expect(c.compare.maxModels).toBe(12);
    expect(c.compare.tiers.extended).toEqual({ maxInputChars: 15_000, maxOutputTokens: 8_192 });
    expect(c.flags.sse_streaming).toBe(true);
    expect(c.database.url).toBeUndefined();
    expect(c.redis).toEqual({ keyPrefix: 'tributary:' });
  });

  it('layers file < env < overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ server: { port: 1000, host: '0.0.0.0' }, compare: { maxModels: 3 } }));
    const c = loadConfig({ env: { TRIBUTARY_CONFIG: file, PORT: '2000', ENABLE_SSE_STREAMING: 'off' }, overrides: { compare: { maxModels: 4 } } });
    expect(c.server).toMatchObject({ port: 2000, host: '0.0.0.0' });
    expect(c.compare.maxModels).toBe(4);
    expect(c.flags.sse_streaming).toBe(false);
  });

  it.each([
    [{ PORT: 'eighty' }, /server\.port: .*\(from env PORT\)/],
    [{ ENABLE_SSE_STREAMING: 'maybe' }, /flags\.sse_streaming: .*\(from env ENABLE_SSE_STREAMING\)/],
    [{ DATABASE_URL: 'mysql://x' }, /database\.url: must be a postgres:\/\/ URL \(from env DATABASE_URL\)/],
    [{ PORT: '70000' }, /server\.port/],
    [{ REDIS_URL: 'http://x' }, /redis\.url: must be a redis:\/\/ URL \(from env REDIS_URL\)/],
    [{ TRIBUTARY_LIMIT_STORE: 'redis' }, /identity\.limitStore: redis needs redis\.url \(REDIS_URL\)/],
  ])('names the bad key and its source: %j', (env, message) => {
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(message);
  });

  it('names unknown keys from the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ compare: { maxModel: 3 } }));
    expect(() => loadConfig({ env: {}, file })).toThrow(/compare\.maxModel: unknown key \(from file/);
    writeFileSync(file, '{ nope');
    expect(() => loadConfig({ env: {}, file })).toThrow(/Cannot read config file/);
  });
});

describe('tributary CLI', () => {
  it('prints usage, and refuses a bad config with exit code 2 and the key named', async () => {
    const help = await run('node', [BIN, '--help']);
    expect(help.stdout).toMatch(/tributary serve/);
    const bad = await run('node', [BIN, 'serve', '--port', 'x'], { env: { ...process.env, TRIBUTARY_DATA_DIR: mkdtempSync(join(tmpdir(), 'cli-')) } }).catch(
      (e) => e,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/server\.port/);
  });

  it('serves on the given port and data dir, prints the URL, and stops cleanly on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const dataDir = mkdtempSync(join(tmpdir(), 'cli-'));
    const child = spawn('node', [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], { env: { ...process.env, LOG_LEVEL: 'warn' } });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const health = await (await fetch(`${url}/health`)).json();
    expect(health.status).toBe('healthy');
    const exit = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).toContain(dataDir);
  });
});
