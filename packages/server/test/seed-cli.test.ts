import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawWs } from './support/realtime.js';

const BIN = fileURLToPath(new URL('../bin/tributary.js', import.meta.url));
const run = promisify(execFile);
// Only what a shell on a fresh machine has: no secrets from this process's environment.
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), LOG_LEVEL: 'warn', TRIBUTARY_DEMO_SPEED: '20' };

/** A pino record's message (the start line is one); a plain line as it is. */
function messageOf(line: string): string {
  try {
    const record = JSON.parse(line) as { msg?: string; level?: number };
    return record.level === 30 && typeof record.msg === 'string' ? record.msg : line;
  } catch {
    return line;
  }
}

/** `tributary serve` as a process; resolves with its URL and the banner lines it printed. */
async function serve(dataDir: string): Promise<{ url: string; banner: string[]; raw: string[]; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const raw: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line; stderr: ${stderr}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    let buffer = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const line of parts) {
        raw.push(line);
        lines.push(messageOf(line));
        const m = /^Tributary listening on (\S+)/.exec(messageOf(line));
        if (m) {
          clearTimeout(timer);
          // The publish-key line (when there is one) is printed right after the start line.
          setTimeout(() => resolve(m[1]!), 200);
        }
      }
    });
  });
  return {
    url,
    banner: lines,
    raw,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const cli = async (...args: string[]) => (await run(process.execPath, [BIN, ...args], { env: ENV })).stdout.trim();

describe('seed 003 on a fresh install: tributary token, generated secrets, tributary key show', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tributary-cli-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('a token from `tributary token` opens the seed WebSocket; the key from `tributary key show` publishes', async () => {
    const server = await serve(dataDir);
    try {
      const start = server.banner.find((l) => l.startsWith('Tributary listening on'))!;
      // The start line is a pino record with its facts as fields (never the key itself).
      const record = JSON.parse(server.raw.find((l) => l.includes('Tributary listening on'))!) as Record<string, unknown>;
      expect(record).toMatchObject({ level: 30, url: server.url, generatedSecrets: ['tokenSecret', 'publishKey'] });
      expect(JSON.stringify(record)).not.toContain(await cli('key', 'show', '--data-dir', dataDir));
      expect(start).toMatch(/generated a connection-token secret and a publish key into .*realtime-secrets\.json/);
      const keyLine = server.banner.find((l) => l.startsWith('Publish key'));
      const file = join(dataDir, 'realtime-secrets.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);

      const key = await cli('key', 'show', '--data-dir', dataDir);
      expect(keyLine).toBe(`Publish key (shown once; \`tributary key show\` prints it again): ${key}`);
      const token = await cli('token', '--sub', 'alice', '--org', 'acme', '--ttl', '10m', '--data-dir', dataDir);
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

      // wscat -c ".../v2/realtime/stream?access_token=$TOKEN", then the seed handshake.
      const ws = await RawWs.open(`${server.url.replace(/^http/, 'ws')}/v2/realtime/stream?access_token=${token}`);
      ws.send({ services: ['finance'], version: 1 });
      const ack = await ws.next((m) => m.type === 'ack' || m.type === 'error');
      expect(ack).toMatchObject({ type: 'ack', channels: { finance: 'org:acme:finance' } });

      const unauthorised = await fetch(`${server.url}/v1/publish`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"channel":"org:acme:finance","data":1}',
      });
      expect(unauthorised.status).toBe(401);
      const published = await fetch(`${server.url}/v1/publish`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
        body: JSON.stringify({ channel: 'org:acme:finance', type: 'revenue.created', data: { amount: 1 } }),
      });
      expect(published.status).toBe(200);
      expect(await ws.next((m) => m.type === 'event')).toMatchObject({
        service: 'finance',
        seq: 1,
        events: [{ type: 'revenue.created', data: { amount: 1 } }],
      });
      ws.close();

      // Nothing became public: an anonymous connection still gets the public namespace only.
      const anonymous = await RawWs.open(`${server.url.replace(/^http/, 'ws')}/v2/realtime/stream`);
      anonymous.send({ services: ['finance'], version: 1 });
      expect(await anonymous.next((m) => m.type === 'ack')).toMatchObject({ channels: { finance: 'public:finance' } });
      anonymous.close();
    } finally {
      await server.stop();
    }

    // The next start reads the same secrets and does not show the key again.
    const again = await serve(dataDir);
    try {
      expect(again.banner.some((l) => l.startsWith('Publish key'))).toBe(false);
      expect(again.banner.find((l) => l.startsWith('Tributary listening on'))).not.toMatch(/generated/);
      const token = await cli('token', '--sub', 'bob', '--channels', 'user:bob:*', '--data-dir', dataDir);
      const ws = await RawWs.open(`${again.url.replace(/^http/, 'ws')}/v2/realtime/stream?access_token=${token}`);
      // The token's channels claim is what it may read: its own namespace, not the public one.
      ws.send({ services: ['finance'], version: 1 });
      expect(await ws.next((m) => m.type === 'ack' || m.type === 'error')).toMatchObject({ type: 'error', code: 'channel_forbidden' });
      ws.close();
    } finally {
      await again.stop();
    }
  });

  it('refuses bad arguments with exit code 2 and a message', async () => {
    const fail = async (...args: string[]) => {
      const err = await run(process.execPath, [BIN, ...args], { env: ENV }).then(
        () => undefined,
        (e) => e,
      );
      return { code: err?.code, stderr: String(err?.stderr ?? '') };
    };
    expect(await fail('token', '--data-dir', dataDir)).toMatchObject({ code: 2, stderr: expect.stringMatching(/--sub SUBJECT is required/) });
    expect(await fail('token', '--sub', 'x', '--ttl', 'soon', '--data-dir', dataDir)).toMatchObject({ code: 2, stderr: expect.stringMatching(/--ttl/) });
    const empty = mkdtempSync(join(tmpdir(), 'tributary-cli-'));
    try {
      expect(await fail('key', 'show', '--data-dir', empty)).toMatchObject({ code: 2, stderr: expect.stringMatching(/No publish key yet/) });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('where the realtime secrets come from', () => {
  it('config and env win over the data directory; generation can be turned off', async () => {
    const { ensureSecrets } = await import('../src/config/secrets.js');
    const { loadConfig } = await import('../src/config/load.js');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-secrets-'));
    try {
      const off = ensureSecrets(loadConfig({ env: { TRIBUTARY_DATA_DIR: dir, TRIBUTARY_GENERATE_SECRETS: 'false' } }));
      expect(off.source).toEqual({ tokenSecret: 'none', publishKey: 'none' });
      expect(off.config.realtime.publishKey).toBeUndefined();
      const first = ensureSecrets(loadConfig({ env: { TRIBUTARY_DATA_DIR: dir, TRIBUTARY_TOKEN_SECRET: 'from-env-0123456789abcdef' } }));
      expect(first.source).toEqual({ tokenSecret: 'config', publishKey: 'generated' });
      expect(first.config.realtime.tokenSecret).toBe('from-env-0123456789abcdef');
      const again = ensureSecrets(loadConfig({ env: { TRIBUTARY_DATA_DIR: dir } }));
      expect(again.source).toEqual({ tokenSecret: 'generated', publishKey: 'file' });
      expect(again.config.realtime.publishKey).toBe(first.config.realtime.publishKey);
      expect(ensureSecrets(loadConfig({ env: { TRIBUTARY_DATA_DIR: dir } })).source).toEqual({ tokenSecret: 'file', publishKey: 'file' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
