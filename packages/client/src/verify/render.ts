import type { Bound, CheckResult, Report, Value } from './types.js';

const MARK = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;

const bound = (b: Bound | undefined) => (b === undefined ? '' : ` (${b.max !== undefined ? `< ${b.max}` : ''}${b.min !== undefined ? `> ${b.min}` : ''})`);
const fmt = (v: Value) => (v === null ? '—' : String(v));

function figures(c: CheckResult): string {
  return Object.entries(c.measured)
    .map(([k, v]) => `${k} ${fmt(v)}${bound(c.thresholds[k])}`)
    .join(', ');
}

/** One line per check as it ends (the terminal's running report). */
export function checkLine(c: CheckResult): string {
  return `${MARK[c.status]}  ${c.id.padEnd(17)} ${c.reason}${c.required || c.status !== 'fail' ? '' : ' (not required)'}`;
}

/** The readable terminal report. */
export function renderText(r: Report): string {
  const lines = [`Tributary verify — ${r.baseUrl} — profile ${r.profile} — ${r.startedAt}`, ''];
  for (const c of r.checks) {
    lines.push(checkLine(c));
    const f = figures(c);
    if (f) lines.push(`      ${f}`);
  }
  lines.push('');
  if (r.load) {
    const l = r.load;
    lines.push(
      `Load: ${l.attempted} streams, ${l.maxInFlight} in flight at most, ${l.completed} completed (${pct(l.completionRate)}), connection success ${pct(l.connectionSuccessRate)}, error rate ${pct(l.errorRate)}, ${l.reconnects} reconnects`,
    );
    lines.push(
      `      TTFT p50/p95/p99 ${l.ttftMs.p50}/${l.ttftMs.p95}/${l.ttftMs.p99} ms; inter-token ${l.interTokenMs.p50}/${l.interTokenMs.p95}/${l.interTokenMs.p99} ms; ${l.eventsPerSecond} events/s`,
    );
    lines.push(
      `      errors by class: ${
        Object.entries(l.errorsByClass)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || 'none'
      }`,
    );
    lines.push(`      client overhead: ${l.clientCpuMs} ms CPU over ${l.wallMs} ms = ${l.clientCores} cores`);
  }
  lines.push(
    `${r.passed ? 'PASSED' : 'FAILED'}: ${r.summary.pass} passed, ${r.summary.fail} failed, ${r.summary.skip} skipped${r.summary.requiredFailed.length ? ` (required failed: ${r.summary.requiredFailed.join(', ')})` : ''} in ${(r.durationMs / 1000).toFixed(1)} s; client CPU ${r.client.cpuMs} ms (${r.client.cores} cores)`,
  );
  return lines.join('\n');
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;

/** A Markdown checklist for pull requests and release notes. */
export function renderMarkdown(r: Report): string {
  const lines = [
    `## Tributary verify: ${r.passed ? 'passed' : 'FAILED'}`,
    '',
    `\`${r.baseUrl}\`, profile \`${r.profile}\`, ${r.startedAt} — ${r.summary.pass} passed, ${r.summary.fail} failed, ${r.summary.skip} skipped.`,
    '',
  ];
  for (const c of r.checks) {
    const box = c.status === 'pass' ? '[x]' : '[ ]';
    const tag = c.status === 'skip' ? ' *(skipped)*' : c.status === 'fail' ? ' **FAILED**' : '';
    lines.push(`- ${box} **${c.title}**${tag} — ${c.reason.replace(/\n/g, ' ')}`);
  }
  if (r.load) {
    const l = r.load;
    lines.push('', '| load | value |', '|---|---|');
    lines.push(`| streams (max in flight) | ${l.attempted} (${l.maxInFlight}) |`);
    lines.push(`| completion / connection success / errors | ${pct(l.completionRate)} / ${pct(l.connectionSuccessRate)} / ${pct(l.errorRate)} |`);
    lines.push(`| TTFT p50 / p95 / p99 | ${l.ttftMs.p50} / ${l.ttftMs.p95} / ${l.ttftMs.p99} ms |`);
    lines.push(`| inter-token p50 / p95 / p99 | ${l.interTokenMs.p50} / ${l.interTokenMs.p95} / ${l.interTokenMs.p99} ms |`);
    lines.push(`| client CPU (its own overhead) | ${l.clientCores} cores at ${l.eventsPerSecond} events/s |`);
  }
  return `${lines.join('\n')}\n`;
}
