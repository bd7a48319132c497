import { cpuMs, Out, VerifyContext, type Check, type Verdict } from './context.js';
import * as compare from './checks-compare.js';
import { load } from './load.js';
import * as realtime from './checks-realtime.js';
import { round } from './stats.js';
import { DEFAULT_THRESHOLDS, type CheckResult, type Report, type Thresholds, type VerifyOptions } from './types.js';

/** Every check, in the order they run (rate limiting last: it spends the quota the others need). */
export const CHECKS: Check[] = [
  compare.health,
  compare.models,
  compare.compare,
  compare.stream,
  compare.concurrency,
  compare.isolation,
  compare.resume,
  compare.cancel,
  compare.buffering,
  compare.chat,
  realtime.seedWs,
  realtime.seedReplay,
  realtime.seedPing,
  realtime.realtimeMetrics,
  realtime.nativeWs,
  realtime.longPoll,
  compare.metrics,
  compare.openapi,
  load,
  compare.rateLimit,
];

/** Checks the others need first (the catalogue picks the models). */
const PREREQUISITES = ['models'];

/** Runs the profile's checks (or `only`) against a server and reports each with its figures. */
export async function verify(options: VerifyOptions): Promise<Report> {
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const ctx = new VerifyContext(options, thresholds);
  const wanted = options.only?.length
    ? CHECKS.filter((c) => options.only!.includes(c.id) || PREREQUISITES.includes(c.id))
    : CHECKS.filter((c) => c.profiles.includes(ctx.profile));
  const unknown = (options.only ?? []).filter((id) => !CHECKS.some((c) => c.id === id));
  if (unknown.length) throw new Error(`unknown check ${unknown.join(', ')}; known: ${CHECKS.map((c) => c.id).join(', ')}`);
  const startedAt = new Date();
  const t0 = performance.now();
  const cpu0 = cpuMs().mark;
  const results: CheckResult[] = [];
  for (const check of wanted) {
    ctx.progress(`${check.id}: ${check.title}`);
    const out = new Out();
    const started = performance.now();
    let verdict: Verdict;
    const needsModels = check.id !== 'health' && check.id !== 'models' && ctx.models.length === 0;
    if (needsModels) verdict = { status: 'skip' as const, reason: 'no models to check with (the catalogue check failed)' };
    else {
      try {
        verdict = await check.run(ctx, out);
      } catch (err) {
        // A network failure or a malformed answer is the check's failure, said as such.
        verdict = { status: 'fail' as const, reason: describeError(err) };
      }
    }
    const result: CheckResult = {
      id: check.id,
      title: check.title,
      required: check.required,
      ...verdict,
      measured: out.measured,
      thresholds: out.thresholds,
      durationMs: round(performance.now() - started),
    };
    results.push(result);
    options.onCheck?.(result);
  }
  const wallMs = performance.now() - t0;
  const cpu = cpuMs(cpu0).ms;
  const requiredFailed = results.filter((r) => r.required && r.status === 'fail').map((r) => r.id);
  return {
    tool: 'tributary-verify',
    schemaVersion: 1,
    baseUrl: ctx.http.baseUrl,
    profile: ctx.profile,
    startedAt: startedAt.toISOString(),
    durationMs: round(wallMs),
    passed: requiredFailed.length === 0,
    summary: {
      pass: results.filter((r) => r.status === 'pass').length,
      fail: results.filter((r) => r.status === 'fail').length,
      skip: results.filter((r) => r.status === 'skip').length,
      requiredFailed,
    },
    thresholds,
    checks: results,
    load: ctx.loadSummary,
    client: { cpuMs: round(cpu), wallMs: round(wallMs), cores: round(cpu / wallMs, 3) },
  };
}

/** Thresholds from a file's JSON: known numeric keys only, so a typo is an error, not a silent default. */
export function parseThresholds(json: unknown): Partial<Thresholds> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('a thresholds file holds one JSON object');
  const out: Partial<Thresholds> = {};
  for (const [key, value] of Object.entries(json)) {
    if (!(key in DEFAULT_THRESHOLDS)) throw new Error(`unknown threshold ${JSON.stringify(key)}; known: ${Object.keys(DEFAULT_THRESHOLDS).join(', ')}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`threshold ${key} must be a number ≥ 0`);
    out[key as keyof Thresholds] = value;
  }
  return out;
}

/** "fetch failed" says nothing: name the cause (ECONNREFUSED, a timeout…). */
function describeError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `timed out: ${e.message}`;
  const cause = e.cause ? ` (${e.cause.code ?? e.cause.message})` : '';
  return `error: ${e.message}${cause}`;
}
