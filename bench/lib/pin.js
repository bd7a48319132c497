import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

/**
 * Puts the servers under test on the last core and the load (this process, the upstream) on the
 * others. Unpinned, where each process lands decides how much of the loopback's kernel work it
 * is charged: two identical Tributary processes read 1.11× (median of 30 turns) and 1.20× (whole
 * run) of each other in the gateway benchmark; pinned, 1.00× and 1.01×. Returns whether it
 * pinned; BENCH_NO_PIN=1 leaves placement to the kernel.
 */
export function pin(servers, load = [process.pid]) {
  const n = cpus().length;
  if (process.env.BENCH_NO_PIN || n < 2) return false;
  try {
    for (const pid of servers) execFileSync('taskset', ['-a', '-pc', String(n - 1), String(pid)], { stdio: 'ignore' });
    for (const pid of load) execFileSync('taskset', ['-a', '-pc', `0-${n - 2}`, String(pid)], { stdio: 'ignore' });
    return true;
  } catch (err) {
    console.error(`[bench] taskset failed, not pinned: ${err.message}`);
    return false;
  }
}

/** Lets `pids` (this process by default) run on every core again: children forked later inherit it. */
export function unpin(pids = [process.pid]) {
  const n = cpus().length;
  try {
    for (const pid of pids) execFileSync('taskset', ['-a', '-pc', `0-${n - 1}`, String(pid)], { stdio: 'ignore' });
  } catch (err) {
    console.error(`[bench] taskset failed, not unpinned: ${err.message}`);
  }
}
