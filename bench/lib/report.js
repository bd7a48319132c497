import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

const COLUMNS = [
  ['scenario', (s) => `${s.target} ×${s.concurrency}`],
  ['comparisons', (s) => String(s.comparisons)],
  ['tokens', (s) => String(s.tokens)],
  ['events/s', (s) => String(s.eventsPerSec)],
  ['CPU µs/token', (s) => fmt(s.cpuUsPerToken)],
  ['ELD p50/p99 ms', (s) => `${fmt(s.eventLoopDelayMs.p50)} / ${fmt(s.eventLoopDelayMs.p99)}`],
  ['added p50/p99/max ms', (s) => `${fmt(s.addedLatencyMs.p50, 3)} / ${fmt(s.addedLatencyMs.p99, 3)} / ${fmt(s.addedLatencyMs.max, 1)}`],
  ['CPU server/client', (s) => `${Math.round(s.cpu.utilisation * 100)}% / ${Math.round(s.cpu.clientUtilisation * 100)}%`],
  ['wall s', (s) => fmt(s.wallMs / 1000)],
  ['goal p99', (s) => goalText(s)],
];

function goalText(s) {
  const verdict = s.goalMet ? 'met' : 'MISSED';
  return s.target === 'tributary' ? `≤ ${s.goalP99Ms} ms: ${verdict}` : `(floor ${s.goalMet ? 'within' : 'over'} ${s.goalP99Ms} ms)`;
}

export function environment() {
  return { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, platform: `${process.platform} ${process.arch}` };
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
    const d = scenarios.find((s) => s.target === 'direct' && s.concurrency === t.concurrency);
    if (!d) continue;
    out.push({
      concurrency: t.concurrency,
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
    if (bad.length) out.push(`${s.target} ×${s.concurrency}: ${bad.map(([k, n]) => `${k}=${n}`).join(', ')}`);
  }
  return out;
}

function summaryLines(result) {
  const lines = [];
  for (const r of ratios(result.scenarios)) {
    lines.push(`×${r.concurrency}: Tributary uses ${fmt(r.cpuPerToken)}× the direct floor's CPU per token, delivers ${fmt(r.eventsPerSec)}× its events/s, p99 added latency ${fmt(r.p99)}× the floor's.`);
  }
  for (const s of result.scenarios.filter((x) => x.target === 'tributary')) {
    lines.push(`Goal ×${s.concurrency} (p99 ≤ ${s.goalP99Ms} ms): ${s.goalMet ? 'met' : 'MISSED'} — p99 ${fmt(s.addedLatencyMs.p99, 3)} ms, ${s.overGoal} of ${s.addedLatencyMs.count} tokens over ${s.goalP99Ms} ms.`);
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
    `- setup: ${result.setup.models} demo models, first token 0 ms, ${result.setup.tokensPerSecond} tokens/s (no artificial delay), ~${result.setup.answerTokens} tokens each; ×1 = ${result.setup.sequentialRuns} sequential comparisons, ×${result.setup.concurrent} = ${result.setup.concurrent} concurrent comparisons`,
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
