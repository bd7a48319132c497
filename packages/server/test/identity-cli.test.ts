import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { postJson } from './support/sse-client.js';

const BIN = new URL('../bin/tributary.js', import.meta.url).pathname;
const run = promisify(execFile);

/** Runs the CLI with a password on stdin. */
function withStdin(args: string[], input: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('node', [BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function serve(env: NodeJS.ProcessEnv) {
  const child = spawn('node', [BIN, 'serve', '--port', '0', '--host', '127.0.0.1'], { env: { ...process.env, ...env } });
  let out = '';
  child.stderr.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  return {
    url,
    output: () => out,
    async stop() {
      const exit = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      return exit;
    },
  };
}

describe('tributary admin create, tributary usage, and logs without prompt text', () => {
  it('creates an admin from stdin, serves with it, reports usage; no log line at trace level holds a prompt or an answer', async () => {
    const env = { TRIBUTARY_DATA_DIR: mkdtempSync(join(tmpdir(), 'cli-id-')), TRIBUTARY_DEMO_SPEED: '20', LOG_LEVEL: 'trace' };
    const weak = await withStdin(['admin', 'create', '--email', 'ops@example.test'], 'short\n', env);
    expect(weak.code).toBe(2);
    expect(weak.stderr).toMatch(/at least 8/);
    const created = await withStdin(['admin', 'create', '--email', 'ops@example.test'], 'a long admin password\n', env);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/Admin ops@example\.test \(usr_/);

    const server = await serve(env);
    const prompt = 'SECRET-PROMPT-e41c about my medical history';
    let answer = '';
    try {
      const login = await postJson(`${server.url}/v1/auth/login`, { email: 'ops@example.test', password: 'a long admin password' });
      expect(login.status).toBe(200);
      const auth = { Authorization: `Bearer ${login.json.accessToken}` };
      expect((await (await fetch(`${server.url}/v1/admin/audit?action=admin.create`, { headers: auth })).json()).rows).toHaveLength(1);
      const compared = await postJson(`${server.url}/compare`, { input_data: prompt, models: ['demo/fast', 'demo/flaky'] }, auth);
      expect(compared.status).toBe(200);
      answer = compared.json.results['demo/fast'];
      expect(answer.length).toBeGreaterThan(40);
      await postJson(`${server.url}/v1/chat/completions`, { model: 'demo/nope', messages: [{ role: 'user', content: prompt }] }, auth);
      await postJson(`${server.url}/v1/auth/login`, { email: 'ops@example.test', password: 'wrong' });
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const logs = server.output();
    expect(logs.length).toBeGreaterThan(0); // trace level: request lines were written
    expect(logs).not.toContain('SECRET-PROMPT');
    expect(logs).not.toContain(answer.slice(0, 40));
    expect(logs).not.toContain('a long admin password');

    const usage = await run('node', [BIN, 'usage', '--days', '1'], { env: { ...process.env, ...env } });
    expect(usage.stdout).toMatch(/^day\s+user\s+model\s+responses/);
    expect(usage.stdout).toMatch(/demo\/fast\s+1\s/);
    const json = JSON.parse((await run('node', [BIN, 'usage', '--json'], { env: { ...process.env, ...env } })).stdout);
    expect(json.map((l: { model: string }) => l.model).sort()).toEqual(['demo/fast', 'demo/flaky']);
  });
});
