import { PerformanceObserver, constants } from 'node:perf_hooks';

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Records GC pauses of this process as { start (wall ms), durationMs, kind }. */
export function watchGc() {
  let pauses = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      pauses.push({ start: performance.timeOrigin + e.startTime, durationMs: e.duration, kind: KINDS[e.detail?.kind] ?? String(e.detail?.kind) });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    /** Pauses that started at or after `since`, once pending entries are delivered (they arrive asynchronously). */
    async since(since) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const out = pauses.filter((p) => p.start >= since);
      pauses = [];
      return out;
    },
    stop: () => observer.disconnect(),
  };
}

/** Count, total and longest pause per kind. */
export function gcSummary(pauses) {
  const byKind = {};
  let totalMs = 0;
  let maxMs = 0;
  for (const p of pauses) {
    const k = (byKind[p.kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
    k.count++;
    k.totalMs += p.durationMs;
    k.maxMs = Math.max(k.maxMs, p.durationMs);
    totalMs += p.durationMs;
    maxMs = Math.max(maxMs, p.durationMs);
  }
  return { count: pauses.length, totalMs, maxMs, byKind };
}
