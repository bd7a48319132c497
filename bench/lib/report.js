import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

const label = (s) => `${s.target} ×${s.concurrency}${s.variant === 'zero-delay' ? '' : ` ${s.variant}`}`;
const pct = (x) => (x === null || x === undefined ? 'n/a' : `${Math.round(x * 100)}%`);

const COLUMNS = [
  ['scenario', (s) => label(s)],
  ['comparisons', (s) => String(s.comparisons)],
  ['tokens', (s) => String(s.tokens)],
  ['events/s', (s) => String(s.eventsPerSec)],
  ['CPU µs/token', (s) => fmt(s.cpuUsPerToken)],
  ['ELD p50/p99 ms', (s) => `${fmt(s.eventLoopDelayMs.p50)} / ${fmt(s.eventLoopDelayMs.p99)}`],
  ['added p50/p99/max ms', (s) => `${fmt(s.addedLatencyMs.p50, 3)} / ${fmt(s.addedLatencyMs.p99, 3)} / ${fmt(s.addedLatencyMs.max, 1)}`],
  ['CPU server/client/other', (s) => `${pct(s.cpu.utilisation)} / ${pct(s.cpu.clientUtilisation)} / ${pct(s.cpu.otherLoadCores)}`],
  ['wall s', (s) => fmt(s.wallMs / 1000)],
  ['goal p99', (s) => goalText(s)],
];

function goalText(s) {
  const verdict = s.goalMet ? 'met' : 'MISSED';
  return s.target === 'tributary' ? `≤ ${s.goalP99Ms} ms: ${verdict}` : `(floor ${s.goalMet ? 'within' : 'over'} ${s.goalP99Ms} ms)`;
}

export function environment() {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    platform: `${process.platform} ${process.arch}`,
  };
}

export function textTable(scenarios) {
  const rows = [COLUMNS.map(([h]) => h), ...scenarios.map((s) => COLUMNS.map(([, f]) => f(s)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function markdownTable(scenarios) {
  const head = `| ${COLUMNS.map(([h]) => h).join(' | ')} |`;
  const sep = `|${COLUMNS.map(() => '---').join('|')}|`;
  return [head, sep, ...scenarios.map((s) => `| ${COLUMNS.map(([, f]) => f(s)).join(' | ')} |`)].join('\n');
}

/** Tributary relative to the direct floor, per concurrency. */
export function ratios(scenarios) {
  const out = [];
  for (const t of scenarios.filter((s) => s.target === 'tributary')) {
    const d = scenarios.find((s) => s.target === 'direct' && s.concurrency === t.concurrency && s.variant === t.variant);
    if (!d) continue;
    out.push({
      label: `×${t.concurrency}${t.variant === 'zero-delay' ? '' : ` ${t.variant}`}`,
      cpuPerToken: t.cpuUsPerToken / d.cpuUsPerToken,
      eventsPerSec: t.eventsPerSec / d.eventsPerSec,
      p99: t.addedLatencyMs.p99 / d.addedLatencyMs.p99,
    });
  }
  return out;
}

function problems(scenarios) {
  const out = [];
  for (const s of scenarios) {
    const bad = Object.entries(s.checks).filter(([, n]) => n > 0);
    if (bad.length) out.push(`${label(s)}: ${bad.map(([k, n]) => `${k}=${n}`).join(', ')}`);
  }
  return out;
}

function summaryLines(result) {
  const lines = [];
  for (const r of ratios(result.scenarios)) {
    lines.push(
      `${r.label}: Tributary uses ${fmt(r.cpuPerToken)}× the direct floor's CPU per token, delivers ${fmt(r.eventsPerSec)}× its events/s, p99 added latency ${fmt(r.p99)}× the floor's.`,
    );
  }
  for (const r of result.beforeAfter?.scenarios ?? []) {
    lines.push(
      `×${r.concurrency}, windows (one process per side, supplementary): today's Tributary delivers ${fmt(r.eventsPerSecRatio, 3)}× the events/s of ${result.beforeAfter.before} at ${fmt(r.cpuPerTokenRatio, 3)}× its CPU per token; median of the repetitions' ratios ${fmt(r.eventsPerSecRatioMedianOfRepetitions, 3)}× (tokens/s per repetition, before → after: ${r.tokensPerSecPerRepetition.before.map((b, i) => `${b} → ${r.tokensPerSecPerRepetition.after[i]}`).join(', ')}).`,
    );
  }
  for (const r of result.beforeAfter?.pairs ?? []) {
    lines.push(
      `×${r.concurrency}, ${r.rounds} fresh process pairs (the before/after figure): today's Tributary delivers ${fmt(r.eventsPerSecRatioMedian, 3)}× the events/s of ${result.beforeAfter.before} (median; range ${r.eventsPerSecRatioRange.map((q) => fmt(q, 3)).join('–')}) at ${fmt(r.cpuPerTokenRatioMedian, 3)}× its CPU per token.`,
    );
  }
  for (const s of result.scenarios.filter((x) => x.target === 'tributary')) {
    const o = s.overGoal;
    const what = s.variant === 'zero-delay' ? 'Goal' : 'Same threshold, supplementary paced run,';
    lines.push(
      `${what} ×${s.concurrency} (p99 ≤ ${s.goalP99Ms} ms): ${s.goalMet ? 'met' : 'MISSED'} — p99 ${fmt(s.addedLatencyMs.p99, 3)} ms${s.p99PerRepetitionMs.length > 1 ? ` (per repetition: ${s.p99PerRepetitionMs.join(', ')})` : ''}, ${o.tokens} of ${s.addedLatencyMs.count} tokens over ${s.goalP99Ms} ms.`,
    );
  }
  for (const s of result.scenarios) {
    const o = s.overGoal;
    const share = (n) => `${Math.round((100 * n) / o.tokens)}%`;
    lines.push(
      `${label(s)}: added latency in the server (yield → written) p99 ${fmt(s.serverPartMs.p99, 3)} ms (max ${fmt(s.serverPartMs.max, 1)}), after it (kernel, scheduling, client) p99 ${fmt(s.afterServerPartMs.p99, 3)} ms (max ${fmt(s.afterServerPartMs.max, 1)}); ` +
        `server backlog non-zero in ${Math.round(100 * s.serverBacklog.nonZeroShare)}% of samples (max ${Math.round(s.serverBacklog.maxBytes / 1024)} KiB); client ELD p99 ${fmt(s.clientEventLoopDelayMs.p99)} ms; ` +
        `server GC ${s.serverGc.count} pauses, ${s.serverGc.totalMs} ms, longest ${s.serverGc.maxMs} ms` +
        (o.tokens
          ? `; of ${o.tokens} tokens over ${s.goalP99Ms} ms, ${share(o.duringServerGc + o.duringBoth)} overlap a server GC pause, ${share(o.duringClientGc + o.duringBoth)} a client one, ${share(o.duringNeither)} neither.`
          : '.'),
    );
  }
  for (const target of new Set(result.scenarios.map((s) => s.target))) {
    const warnings = Object.entries(result.scenarios.filter((s) => s.target === target).at(-1).serverWarnings ?? {});
    for (const [text, count] of warnings) lines.push(`${target} server printed ${count}× ${text}`);
  }
  for (const [target, h] of Object.entries(result.heap ?? {})) {
    lines.push(
      `${target}: live heap after gc() went from ${h.fromMB} MB to ${h.toMB} MB over ${h.comparisons} comparisons (${h.kbPerComparison} KiB per comparison${h.bytesPerEvent ? `, ${h.bytesPerEvent} bytes per published event` : ''}).`,
    );
  }
  if (result.discardedWindows?.length) {
    lines.push(
      `Re-measured ${result.discardedWindows.length} window(s) disturbed by other work on the machine: ${result.discardedWindows.map((d) => `${d.scenario} (${d.otherLoadCores} cores)`).join(', ')}.`,
    );
  }
  const disturbed = result.scenarios.filter((s) => s.cpu.otherLoadCores > 0.25);
  if (disturbed.length) {
    lines.push(
      `WARNING: other work on the machine used CPU during ${disturbed.map((s) => `${label(s)} (${s.cpu.otherLoadCores} cores)`).join(', ')}; those figures are disturbed. Busy before the run: ${result.otherLoadAtStartCores} cores; load average before/after: ${result.loadAverage.before.join(' ')} / ${result.loadAverage.after.join(' ')}.`,
    );
  }
  for (const p of problems(result.scenarios)) lines.push(`Integrity problem: ${p}`);
  return lines;
}

export function writeReport(dir, name, result) {
  result.environment = environment();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const env = result.environment;
  const md = [
    `# ${name}`,
    '',
    `- date: ${env.date}`,
    `- Node ${env.node}, ${env.platform}, CPU: ${env.cpu} (${env.cores} cores)`,
    `- command: \`${result.command}\``,
    `- setup: each comparison asks ${result.setup.models} demo models. Zero-delay (the issue's scenario): first token 0 ms, 1e9 tokens/s (no artificial delay), ~${result.setup.families.bench.answerTokens} tokens each; ×1 = ${result.setup.scenarios[0].rounds} sequential comparisons, ×${result.setup.concurrent} = ${result.setup.concurrent} concurrent ones; ${result.setup.scenarios[0].repetitions} repetitions each. Paced: see Method.`,
    `- other CPU load on the machine before the run: ${result.otherLoadAtStartCores} cores; load average before/after: ${result.loadAverage.before.join(' ')} / ${result.loadAverage.after.join(' ')}`,
    '',
    markdownTable(result.scenarios),
    '',
    ...summaryLines(result).map((l) => `- ${l}`),
    '',
    'Method:',
    ...result.setup.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  writeFileSync(join(dir, `${name}.md`), md);
  console.log(`\n${name} — ${env.date}, Node ${env.node}, ${env.cpu} (${env.cores} cores)\n`);
  console.log(textTable(result.scenarios));
  console.log('');
  for (const l of summaryLines(result)) console.log(l);
  console.log(`\nwrote ${join(dir, `${name}.json`)} and ${name}.md`);
}
