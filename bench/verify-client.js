/**
 * `tributary verify --profile load`'s client must not be the bottleneck: it must drive ≥ 2,000
 * SSE events/s with ≤ 0.5 core. The server runs in its own process (bench/server-process.js,
 * the real app with demo models), the load profile in this one, so process.cpuUsage() here is
 * the client's own CPU. Writes bench/results/verify-client.{json,md}.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify } from '../packages/client/dist/verify/index.js';
import { environment } from './lib/report.js';
import { startServerChild } from './lib/server-child.js';
import { loadAverage, machineBusyMs } from './lib/system-load.js';

export const name = 'verify-client';

const CONCURRENCY = Number(process.env.BENCH_VERIFY_CONCURRENCY) || 100;
const DURATION_S = Number(process.env.BENCH_VERIFY_SECONDS) || 10;
const GOAL = { eventsPerSecond: 2_000, clientCores: 0.5 };
// 100 streams × 60 tokens/s ≈ 6,000 events/s offered; each stream ~3.5 s.
const MODELS = { 'demo/verify-bench': { name: 'Verify bench', firstTokenMs: 100, tokensPerSecond: 60, answerTokens: 200, flaky: false } };

export async function run({ cleanup, resultsDir }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-verify-'));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await startServerChild({ target: 'tributary', dataDir, models: MODELS });
  cleanup.add(() => server.stop());
  const baseUrl = `http://127.0.0.1:${server.port}`;
  const loadBefore = loadAverage();
  const busy0 = machineBusyMs();
  const report = await verify({ baseUrl, profile: 'load', concurrency: CONCURRENCY, durationS: DURATION_S, models: Object.keys(MODELS) });
  const busyMs = machineBusyMs() - busy0;
  const load = report.load;
  if (!load) throw new Error(`the load check did not run: ${JSON.stringify(report.checks.map((c) => [c.id, c.status, c.reason]))}`);
  // CPU per event is what the client controls; the rate it reached also depends on the server
  // and on whatever else the machine runs, so the goal is judged on the cost of 2,000 events/s.
  const usPerEvent = (load.clientCpuMs * 1_000) / load.events;
  const coresAtGoalRate = (usPerEvent * GOAL.eventsPerSecond) / 1e6;
  const met = coresAtGoalRate <= GOAL.clientCores;
  const reachedRate = load.eventsPerSecond >= GOAL.eventsPerSecond;
  const result = {
    command: 'npm run bench verify-client',
    goal: GOAL,
    met,
    clientUsPerEvent: Number(usPerEvent.toFixed(2)),
    clientCoresAt2000EventsPerSecond: Number(coresAtGoalRate.toFixed(3)),
    eventsPerSecondPerHalfCore: Math.round(0.5e6 / usPerEvent),
    reachedRate,
    machineBusyCores: Number((busyMs / load.wallMs).toFixed(2)),
    loadAverage: { before: loadBefore, after: loadAverage() },
    load,
    check: report.checks.find((c) => c.id === 'load'),
    environment: environment(),
  };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    `# ${name}`,
    '',
    `- date: ${result.environment.date}; Node ${result.environment.node}, ${result.environment.cpu} (${result.environment.cores} cores)`,
    `- command: \`${result.command}\` (the server in its own process: bench/server-process.js, demo model ${Object.keys(MODELS)[0]}: ${MODELS['demo/verify-bench'].tokensPerSecond} tokens/s, ${MODELS['demo/verify-bench'].answerTokens} tokens)`,
    `- load profile: ${load.concurrency} streams in flight, ${load.durationS} s of arrivals every ${load.intervalMs} ms (open loop)`,
    `- load average before/after: ${result.loadAverage.before.join(' ')} / ${result.loadAverage.after.join(' ')}; whole machine busy ${result.machineBusyCores} cores during the run`,
    '',
    '| streams | completed | events | events/s | client CPU | client cores | µs CPU / event | cores at 2,000 events/s | events/s per 0.5 core | TTFT p50/p95/p99 ms | inter-token p50/p95/p99 ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    `| ${load.attempted} (max ${load.maxInFlight} in flight) | ${load.completed} | ${load.events} | ${load.eventsPerSecond} | ${load.clientCpuMs} ms | ${load.clientCores} | ${result.clientUsPerEvent} | ${result.clientCoresAt2000EventsPerSecond} | ${result.eventsPerSecondPerHalfCore} | ${load.ttftMs.p50} / ${load.ttftMs.p95} / ${load.ttftMs.p99} | ${load.interTokenMs.p50} / ${load.interTokenMs.p95} / ${load.interTokenMs.p99} |`,
    '',
    `Goal (≥ ${GOAL.eventsPerSecond} events/s with ≤ ${GOAL.clientCores} core): ${met ? 'met' : 'MISSED'} on CPU per event (${result.clientCoresAt2000EventsPerSecond} cores at ${GOAL.eventsPerSecond} events/s). Rate reached in this run: ${load.eventsPerSecond} events/s${reachedRate ? '' : ' — below 2,000 because the server (same machine) did not produce more; the client used ' + load.clientCores + ' cores'}.`,
    '',
    `Events are the seed stream's data frames (chunks, starts, dones) the client parsed; the client's CPU is this process's process.cpuUsage() over the load window, the same figure the report prints next to its results ("client CPU … cores").`,
    '',
  ].join('\n');
  writeFileSync(join(resultsDir, `${name}.md`), md);
  console.log(md);
  if (!met) throw new Error(`goal missed: ${result.clientCoresAt2000EventsPerSecond} cores at ${GOAL.eventsPerSecond} events/s`);
}
