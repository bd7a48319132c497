import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult, Report } from '../../client/src/verify/index.js';
import { runCli } from './support/child-server.js';
import { bufferingOn, nginxAvailable, startNginx } from './support/nginx.js';
import { PUBLISH_KEY, metrics as realtimeMetrics } from './support/realtime.js';
import { startServer, type TestServer } from './support/server.js';
import { sseRequest } from './support/sse-client.js';
import { dropsOnReconnect, fails5xxUnderLoad, ignoresLastSeq, sequentialModels, startBadServer } from './support/verify-servers.js';

// `tributary verify` run as users run it (the built CLI, a child process) against real servers:
// a Tributary test instance where everything passes, and purpose-built bad ones where one check fails.
const schema = JSON.parse(readFileSync(new URL('../../client/verify-report.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const validate = ajv.compile(schema);

async function verifyJson(url: string, args: string[] = [], timeoutMs = 60_000): Promise<{ code: number | null; report: Report; stderr: string }> {
  const { code, stdout, stderr } = await runCli(['verify', url, '--json', ...args], {}, timeoutMs);
  let report: Report;
  try {
    report = JSON.parse(stdout);
  } catch {
    throw new Error(`not JSON (exit ${code}): ${stdout}${stderr}`);
  }
  if (!validate(report)) throw new Error(`report does not match its schema: ${ajv.errorsText(validate.errors)}`);
  return { code, report, stderr };
}
const check = (r: Report, id: string): CheckResult => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(',')}`);
  return c;
};
const firstChunkAt = (messages: { t: number; json?: any }[], model: string) => messages.find((m) => m.json?.type === 'chunk' && m.json.model === model)!.t;
const lastChunkAt = (messages: { t: number; json?: any }[]) => messages.filter((m) => m.json?.type === 'chunk').at(-1)!.t;

describe('tributary verify', { timeout: 90_000 }, () => {
  let server: TestServer;
  let smoke: { code: number | null; report: Report };
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 4 }, realtime: { publishKey: PUBLISH_KEY, seedPingIntervalMs: 400 } });
    smoke = await verifyJson(server.url, ['--publish-key', PUBLISH_KEY]);
  }, 90_000);
  afterAll(async () => {
    await server?.close();
  });

  it('against a Tributary test instance every check passes (those needing a part it lacks or --allow-destructive skip, saying why), exit 0', () => {
    const { code, report } = smoke;
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => `${c.id}: ${c.reason}`)).toEqual([]);
    expect(code).toBe(0);
    expect(report.passed).toBe(true);
    const skipped = Object.fromEntries(report.checks.filter((c) => c.status === 'skip').map((c) => [c.id, c.reason]));
    expect(Object.keys(skipped).sort()).toEqual(expect.arrayContaining(['rate-limit']));
    expect(skipped['rate-limit']).toMatch(/--allow-destructive/);
    // /openapi.json is being added elsewhere: it passes once it exists and skips cleanly until then.
    if (skipped.openapi) expect(skipped.openapi).toMatch(/no \/openapi\.json/);
    expect(Object.keys(skipped).every((id) => id === 'rate-limit' || id === 'openapi')).toBe(true);
    expect(check(report, 'concurrency').measured.verdict).toBe('CONCURRENT');
  });

  it("the report's numbers agree with measurements taken independently here", async () => {
    const { report } = smoke;
    const models = String(check(report, 'models').measured.chosen).split(',');
    expect(models.length).toBe(3);
    // Each model alone and all together, timed by the test's own SSE client.
    const alone: number[] = [];
    for (const model of models) {
      const r = await sseRequest(`${server.url}/compare-stream`, {
        body: { input_data: 'Explain in a few sentences how rivers form deltas.', models: [model], tier: 'brief' },
      });
      alone.push(lastChunkAt(r.messages));
    }
    const together = await sseRequest(`${server.url}/compare-stream`, {
      body: { input_data: 'Explain in a few sentences how rivers form deltas.', models, tier: 'brief' },
    });
    const c = check(report, 'concurrency').measured;
    const near = (a: unknown, b: number, tolerance: number) => expect(Math.abs(Number(a) - b)).toBeLessThan(Math.max(tolerance * b, 150));
    near(c.slowestAloneMs, Math.max(...alone), 0.3);
    near(
      c.sumAloneMs,
      alone.reduce((a, b) => a + b, 0),
      0.3,
    );
    near(c.totalMs, lastChunkAt(together.messages), 0.3);
    const ttfts = models.map((m) => firstChunkAt(together.messages, m)).sort((a, b) => a - b);
    near(check(report, 'stream').measured.ttftP50Ms, ttfts[1]!, 0.5);
    // The realtime counters it read are the server's own.
    const now = await realtimeMetrics(server.url);
    expect(now.compressedMessages).toBeGreaterThanOrEqual(Number(check(report, 'realtime-metrics').measured.compressedMessagesTotal));
    expect(check(report, 'seed-ping').measured.pingIntervalMs).toBeGreaterThan(300);
    expect(check(report, 'seed-ping').measured.pingIntervalMs).toBeLessThan(900);
    expect(check(report, 'seed-replay').measured.replayed).toBe(check(report, 'seed-replay').measured.expected);
  });

  it('--markdown renders a checklist; the text report and usage errors', async () => {
    const md = await runCli(['verify', server.url, '--markdown', '--checks', 'health,openapi']);
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(/^## Tributary verify: passed/m);
    expect(md.stdout).toMatch(/^- \[x\] \*\*Health and readiness\*\* — /m);
    expect(md.stdout).toMatch(/^- \[x\] \*\*Model catalogue\*\*/m);
    expect(md.stdout).toMatch(/^- \[[ x]\] \*\*\/openapi\.json\*\*/m);
    const text = await runCli(['verify', server.url, '--checks', 'health']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^PASS {2}health {12}\/health healthy/m);
    expect(text.stdout).toMatch(/^PASSED: 2 passed, 0 failed, 0 skipped/m);
    const bad = await runCli(['verify', server.url, '--checks', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown check nope/);
  });

  it('a thresholds file overrides the defaults; a bad one is a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verify-thresholds-'));
    try {
      writeFileSync(join(dir, 'strict.json'), JSON.stringify({ cancelMs: 0.001 }));
      const { code, report } = await verifyJson(server.url, ['--checks', 'cancel', '--thresholds', join(dir, 'strict.json')]);
      expect(report.thresholds.cancelMs).toBe(0.001);
      expect(report.thresholds.ttftMs).toBe(1_000);
      const c = check(report, 'cancel');
      expect(c.status).toBe('fail');
      expect(c.reason).toMatch(/^cancel took \d+(\.\d+)? ms \(must be < 0\.001 ms\)$/);
      expect(c.thresholds.cancelMs).toEqual({ max: 0.001 });
      expect(code).toBe(1);
      writeFileSync(join(dir, 'typo.json'), JSON.stringify({ ttft: 500 }));
      const bad = await runCli(['verify', server.url, '--thresholds', join(dir, 'typo.json')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/unknown threshold "ttft"; known: ttftMs/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rate limiting: passes against a server that limits (429 + Retry-After), only with --allow-destructive', async () => {
    const limited = await startServer({
      demo: { speed: 20 },
      identity: { scrypt: { cost: 1024 }, limits: { anonymous: { responsesPerDay: 4, requestsPerMinute: null } } },
    });
    try {
      const { code, report } = await verifyJson(limited.url, ['--checks', 'rate-limit', '--allow-destructive']);
      const c = check(report, 'rate-limit');
      expect(c.status, c.reason).toBe('pass');
      expect(code).toBe(0);
      expect(c.measured.code).toBe('rate_limited');
      expect(Number(c.measured.retryAfter)).toBeGreaterThan(0);
      expect(Number(c.measured.requests)).toBeLessThanOrEqual(4 + 10);
    } finally {
      await limited.close();
    }
  });

  it('the ops dashboard runs the checks against the server itself: admin only, one run at a time', async () => {
    const ADMIN = 'verify-admin-token-0123456789';
    const own = await startServer({ demo: { speed: 4 }, ops: { adminToken: ADMIN }, realtime: { publishKey: PUBLISH_KEY, seedPingIntervalMs: 400 } });
    try {
      const post = (token?: string, body: unknown = { checks: ['health', 'seed-ping', 'seed-replay'] }) =>
        fetch(`${own.url}/v1/admin/verify`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(body),
        });
      expect((await post()).status).toBe(401);
      const unknown = await post(ADMIN, { checks: ['nope'] });
      expect(unknown.status).toBe(400);
      expect((await unknown.json()).code).toBe('invalid_field');
      const first = post(ADMIN);
      // A second run while the first is going (waiting for two pings) is refused rather than doubling the load.
      let second = await post(ADMIN);
      for (let i = 0; i < 10 && second.status === 200; i++) second = await post(ADMIN);
      expect(second.status).toBe(409);
      expect((await second.json()).code).toBe('verify_running');
      const res = await first;
      expect(res.status).toBe(200);
      const report = await res.json();
      expect(validate(report), ajv.errorsText(validate.errors)).toBe(true);
      expect(report.profile).toBe('smoke');
      expect(report.checks.map((c: CheckResult) => [c.id, c.status])).toEqual([
        ['health', 'pass'],
        ['models', 'pass'],
        ['seed-replay', 'pass'],
        ['seed-ping', 'pass'],
      ]);
    } finally {
      await own.close();
    }
  });

  describe('every check can fail: purpose-built bad servers', () => {
    const failsWith = async (url: string, id: string, args: string[] = [], timeoutMs?: number) => {
      const { code, report } = await verifyJson(url, ['--checks', id, ...args], timeoutMs);
      const c = check(report, id);
      expect(c.status, c.reason).toBe('fail');
      expect(code).toBe(1);
      expect(report.summary.requiredFailed).toContain(id);
      return c;
    };

    it('(1) streams models one after another → SEQUENTIAL', async () => {
      const bad = await startBadServer(server.url, sequentialModels);
      try {
        const c = await failsWith(bad.url, 'concurrency');
        expect(c.reason).toMatch(/^SEQUENTIAL: total \d+/);
        expect(c.measured.verdict).toBe('SEQUENTIAL');
        expect(Number(c.measured.totalMs)).toBeGreaterThan(Number(c.thresholds.totalMs!.max));
      } finally {
        await bad.close();
      }
    });

    it.runIf(nginxAvailable || process.env.CI === 'true')('(2) behind nginx with buffering on → tokens in bursts', async () => {
      // The demo model at its real pace (80 tokens/s): what users see through such a proxy.
      const paced = await startServer({ demo: { speed: 1 } });
      const nginx = await startNginx(paced.url, bufferingOn);
      try {
        const c = await failsWith(nginx.url, 'buffering', ['--models', 'demo/fast']);
        expect(c.reason).toMatch(/^tokens arrive in bursts: \d+(\.\d+)? % of a stream's chunks came in reads of 10 or more .* a proxy is buffering the stream/);
        expect(Number(c.measured.burstShare)).toBeGreaterThanOrEqual(0.5);
      } finally {
        await nginx.close();
        await paced.close();
      }
    });

    it('(3) drops events on reconnect → the gap is named', async () => {
      const bad = await startBadServer(server.url, dropsOnReconnect);
      try {
        const c = await failsWith(bad.url, 'resume');
        expect(c.reason).toMatch(/^events lost on reconnect: seq (\d+), (\d+) never arrived \(cut at \d+, resumed at \d+\)$/);
        expect(c.measured.missingEvents).toBe(2);
      } finally {
        await bad.close();
      }
    });

    it('(4) never returns 429 → the rate-limit check fails with --allow-destructive', async () => {
      const unlimited = await startServer({ demo: { speed: 20 } });
      try {
        const c = await failsWith(unlimited.url, 'rate-limit', ['--allow-destructive', '--models', 'demo/fast']);
        expect(c.reason).toMatch(/^no 429 after 60 requests .*the server does not limit/);
      } finally {
        await unlimited.close();
      }
    });

    it('(5) the seed WebSocket ignores lastSeq → nothing replayed', async () => {
      const bad = await startBadServer(server.url, ignoresLastSeq);
      try {
        const c = await failsWith(bad.url, 'seed-replay', ['--publish-key', PUBLISH_KEY]);
        expect(c.reason).toMatch(/^reconnecting with lastSeq 5 should replay seq 6, 7, 8 before the ack, got nothing/);
      } finally {
        await bad.close();
      }
    });

    it('(6) answers 5xx under load → the load fails on its error rate, 5xx counted as errors', async () => {
      const bad = await startBadServer(server.url, fails5xxUnderLoad(10));
      try {
        const c = await failsWith(bad.url, 'load', ['--concurrency', '40', '--duration', '2'], 60_000);
        expect(c.reason).toMatch(/error rate \d+(\.\d+)? % ≥ 1 % \(http_5xx \d+/);
        expect(Number(c.measured.errorRate)).toBeGreaterThan(0.1);
      } finally {
        await bad.close();
      }
    });
  });

  it('the load profile: 100 concurrent streams against demo models complete within the bound, with percentiles', async () => {
    // Its own server (a dropped stream keeps generating: no leftovers for the other tests), with a
    // short demo model at a real pace: 100 streams × 20 tokens/s.
    const short = { name: 'Demo · Short', firstTokenMs: 100, tokensPerSecond: 20, answerTokens: 20, flaky: false };
    const loaded = await startServer({ demo: { speed: 1, models: { 'demo/short': short } } });
    const started = Date.now();
    const { report } = await verifyJson(loaded.url, ['--profile', 'load', '--concurrency', '100', '--duration', '2', '--models', 'demo/short'], 60_000).finally(
      () => loaded.close(),
    );
    const load = report.load!;
    expect(load).not.toBeNull();
    expect(Date.now() - started).toBeLessThan(2_000 + 30_000);
    // Open loop paced to one stream's length over 100: the cap holds, and the level comes within
    // timer jitter of it (a stream that ends a few ms early leaves 99 in flight).
    expect(load.maxInFlight).toBeLessThanOrEqual(100);
    expect(load.maxInFlight).toBeGreaterThanOrEqual(90);
    expect(load.attempted).toBeGreaterThanOrEqual(100);
    expect(load.ttftMs.count).toBeLessThanOrEqual(load.connected);
    expect(load.ttftMs.count).toBeGreaterThanOrEqual(load.completed);
    for (const p of [load.ttftMs, load.interTokenMs]) {
      expect(p.p50).toBeGreaterThan(0);
      expect(p.p95!).toBeGreaterThanOrEqual(p.p50!);
      expect(p.p99!).toBeGreaterThanOrEqual(p.p95!);
    }
    // Pass or fail against the thresholds depends on this machine's load; every stream is accounted for.
    expect(load.completed).toBeGreaterThan(0);
    expect(load.completed + Object.values(load.errorsByClass).reduce((a, b) => a + b, 0)).toBe(load.attempted);
    expect(load.clientCores).toBeGreaterThan(0);
    expect(check(report, 'load').reason).toMatch(/client CPU/);
  });
});
