import type { ModelRun, RunStatus } from './state/turn';

export const seconds = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);
export const rate = (tps: number | undefined) => (tps === undefined ? '–' : tps.toFixed(1));
export const count = (n: number) => n.toLocaleString('en-US');

export const STATUS_LABEL: Record<RunStatus, string> = {
  waiting: 'Waiting',
  streaming: 'Streaming',
  ok: 'Done',
  truncated: 'Truncated',
  failed: 'Error',
  cancelled: 'Cancelled',
};

/** One line saying how a run ended, for cards and exports. */
export function outcome(run: ModelRun): string | undefined {
  if (run.status === 'failed') {
    const retry = run.error?.retryAfterMs !== undefined ? ` (retry after ${seconds(run.error.retryAfterMs)})` : '';
    return `${run.error?.code ?? 'error'}: ${run.error?.message ?? 'The model failed.'}${retry}`;
  }
  if (run.status === 'cancelled') return 'Cancelled before the answer was complete.';
  if (run.status === 'truncated') return "Truncated: the answer reached the tier's output limit.";
  return undefined;
}
