import { gcSummary } from './gc-watch.js';
import { median, round, summarize } from './stats.js';

const WORST_KEPT = 8;

/** Accumulates the measurement windows of one scenario (target × concurrency) over repetitions. */
export class ScenarioAccumulator {
  constructor({ target, variant, family, concurrency, goalMs }) {
    Object.assign(this, { target, variant, family, concurrency, goalMs });
    this.latencies = [];
    this.serverMs = [];
    this.afterServerMs = [];
    this.firstTokenLatencies = [];
    this.worst = [];
    this.windows = [];
    this.checks = { badStatus: 0, notComparisonFirst: 0, notCompleteLast: 0, framesWithoutId: 0, modelErrors: 0, tokenCountMismatch: 0, unmatchedTokens: 0 };
    this.overGoal = { tokens: 0, duringServerGc: 0, duringClientGc: 0, duringBoth: 0, duringNeither: 0 };
    this.serverGc = [];
    this.clientGc = [];
  }

  /**
   * One window: the comparisons' results, the server's yield stamps and window stats, the
   * client's CPU and GC pauses, and the clock offset (server − client, ms).
   */
  addWindow({ results, stamps, server, before, clientCpu, machineBusyMs, clientEld, clientGc, clock, t0, wallMs }) {
    const serverGc = server.gcPauses.map((p) => ({ ...p, start: p.start - clock.offsetMs })).sort((a, b) => a.start - b.start);
    clientGc.sort((a, b) => a.start - b.start);
    for (const p of serverGc) this.serverGc.push(p);
    for (const p of clientGc) this.clientGc.push(p);
    const windowLatencies = [];
    let tokens = 0;
    let events = 0;
    const { checks } = this;
    for (const res of results) {
      events += res.events;
      if (res.status !== 200) checks.badStatus++;
      if (res.firstType !== 'comparison') checks.notComparisonFirst++;
      if (res.lastType !== 'complete') checks.notCompleteLast++;
      checks.framesWithoutId += res.missingIds;
      checks.modelErrors += res.modelErrors;
      for (const [model, received] of Object.entries(res.received)) {
        tokens += received.length;
        const stamp = stamps[res.prompt]?.[model];
        if (!stamp) {
          checks.unmatchedTokens += received.length;
          continue;
        }
        const { yielded, pulled } = stamp;
        if (yielded.length !== received.length) checks.tokenCountMismatch++;
        const n = Math.min(yielded.length, received.length);
        checks.unmatchedTokens += received.length - n;
        for (let i = 0; i < n; i++) {
          const yieldedAt = yielded[i] - clock.offsetMs; // server clock -> client clock
          const latency = received[i] - yieldedAt;
          windowLatencies.push(latency);
          if (i < pulled.length) {
            // Server part: until the token was written and the next one asked for (capped at receipt).
            const pulledAt = pulled[i] - clock.offsetMs;
            this.serverMs.push(Math.min(pulledAt, received[i]) - yieldedAt);
            this.afterServerMs.push(Math.max(0, received[i] - pulledAt));
          }
          if (i === 0) this.firstTokenLatencies.push(latency);
          if (latency > this.goalMs) this.attribute(yieldedAt, received[i], serverGc, clientGc);
          this.keepWorst({ latencyMs: latency, model, tokenIndex: i, window: this.windows.length, atMs: yieldedAt - t0 });
        }
      }
    }
    for (const l of windowLatencies) this.latencies.push(l);
    const lat = summarize(windowLatencies);
    this.windows.push({
      comparisons: results.length,
      tokens,
      events,
      wallMs,
      cpuUs: server.cpu.userUs + server.cpu.systemUs,
      serverWallMs: server.wallMs,
      clientCpuUs: clientCpu.user + clientCpu.system,
      // Everything else the machine did meanwhile (other processes, unattributed kernel work).
      otherCpuMs:
        machineBusyMs === null ? null : Math.max(0, machineBusyMs - (server.cpu.userUs + server.cpu.systemUs + clientCpu.user + clientCpu.system) / 1000),
      p50: lat.p50,
      p99: lat.p99,
      max: lat.max,
      eld: server.eventLoopDelayMs,
      clientEld,
      backlog: server.backlog,
      clock,
      rssMB: { before: before.rssBytes / 2 ** 20, after: server.rssBytes / 2 ** 20 },
      heapUsedMB: { before: before.heapUsedBytes / 2 ** 20, after: server.heapUsedBytes / 2 ** 20 },
      hub: server.hub,
    });
    this.lastServer = server;
  }

  attribute(from, to, serverGc, clientGc) {
    const s = overlaps(serverGc, from, to);
    const c = overlaps(clientGc, from, to);
    this.overGoal.tokens++;
    if (s && c) this.overGoal.duringBoth++;
    else if (s) this.overGoal.duringServerGc++;
    else if (c) this.overGoal.duringClientGc++;
    else this.overGoal.duringNeither++;
  }

  keepWorst(sample) {
    const w = this.worst;
    if (w.length >= WORST_KEPT && sample.latencyMs <= w[w.length - 1].latencyMs) return;
    w.push(sample);
    w.sort((a, b) => b.latencyMs - a.latencyMs);
    if (w.length > WORST_KEPT) w.pop();
  }

  /** The pooled figures over every window. */
  result() {
    const sum = (k) => this.windows.reduce((n, w) => n + w[k], 0);
    const tokens = sum('tokens');
    const events = sum('events');
    const wallMs = sum('wallMs');
    const cpuUs = sum('cpuUs');
    const lat = summarize(this.latencies);
    const r3 = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]));
    const gc = (pauses) => {
      const s = gcSummary(pauses);
      return {
        count: s.count,
        totalMs: round(s.totalMs, 1),
        maxMs: round(s.maxMs, 2),
        byKind: Object.fromEntries(Object.entries(s.byKind).map(([k, v]) => [k, r3(v)])),
      };
    };
    const last = this.lastServer;
    return {
      target: this.target,
      variant: this.variant,
      models: `demo/${this.family}-1..12`,
      concurrency: this.concurrency,
      repetitions: this.windows.length,
      comparisons: sum('comparisons'),
      tokens,
      events,
      wallMs: round(wallMs, 1),
      eventsPerSec: Math.round(events / (wallMs / 1000)),
      tokensPerSec: Math.round(tokens / (wallMs / 1000)),
      cpuUsPerToken: round(cpuUs / tokens, 2),
      cpu: {
        utilisation: round(cpuUs / 1000 / sum('serverWallMs'), 3),
        clientUtilisation: round(sum('clientCpuUs') / 1000 / wallMs, 3),
        otherLoadCores: this.windows.some((w) => w.otherCpuMs === null) ? null : round(sum('otherCpuMs') / wallMs, 2),
      },
      eventLoopDelayMs: r3(medianEld(this.windows.map((w) => w.eld))),
      clientEventLoopDelayMs: r3(medianEld(this.windows.map((w) => w.clientEld))),
      serverBacklog: {
        nonZeroShare: round(median(this.windows.map((w) => w.backlog.nonZeroShare))),
        maxBytes: Math.max(...this.windows.map((w) => w.backlog.maxBytes)),
      },
      addedLatencyMs: r3(lat),
      // Split of the added latency: in the server (yield → next pull) and after it (→ client).
      serverPartMs: r3(summarize(this.serverMs)),
      afterServerPartMs: r3(summarize(this.afterServerMs)),
      p99PerRepetitionMs: this.windows.map((w) => round(w.p99)),
      firstTokenLatencyMs: r3(summarize(this.firstTokenLatencies)),
      goalP99Ms: this.goalMs,
      goalMet: lat.p99 <= this.goalMs,
      overGoal: this.overGoal,
      serverGc: gc(this.serverGc),
      clientGc: gc(this.clientGc),
      worst: this.worst.map(r3),
      checks: this.checks,
      windows: this.windows.map((w) => ({
        comparisons: w.comparisons,
        tokens: w.tokens,
        wallMs: round(w.wallMs, 1),
        cpuUsPerToken: round(w.cpuUs / w.tokens, 2),
        p50: round(w.p50),
        p99: round(w.p99),
        max: round(w.max),
        clock: r3(w.clock),
        otherLoadCores: w.otherCpuMs === null ? null : round(w.otherCpuMs / w.wallMs, 2),
        eventLoopDelayMs: r3(w.eld),
        clientEventLoopDelayMs: r3(w.clientEld),
        serverBacklog: r3(w.backlog),
        rssMB: r3(w.rssMB),
        heapUsedMB: r3(w.heapUsedMB),
        ...(w.hub ? { hub: w.hub } : {}),
      })),
      serverWarnings: last.warnings,
    };
  }
}

/** Median over windows of p50 and p99; max of max. */
function medianEld(list) {
  return { p50: median(list.map((e) => e.p50)), p99: median(list.map((e) => e.p99)), max: Math.max(...list.map((e) => e.max)) };
}

/** Whether any pause (sorted by start) overlaps [from, to]. */
function overlaps(pauses, from, to) {
  let lo = 0;
  let hi = pauses.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pauses[mid].start < to) lo = mid + 1;
    else hi = mid;
  }
  // pauses[0..lo) start before `to`; a process's pauses do not overlap, so only the last can end after `from`.
  return lo > 0 && pauses[lo - 1].start + pauses[lo - 1].durationMs > from;
}
