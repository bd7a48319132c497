/**
 * The fan-out bench's subscribers, spread over BENCH_RT_CLIENT_PROCS forked processes (default
 * 2), the same way for every target: the bench process only steers them and merges what they
 * measured (counts add up, latency histograms merge bucket by bucket).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ipcRequests } from './ipc-requests.js';
import { LatencyHistogram } from './latency-histogram.js';

const CHILD = fileURLToPath(new URL('./rt-client-child.js', import.meta.url));
export const CLIENT_PROCS = Math.max(1, Number(process.env.BENCH_RT_CLIENT_PROCS) || 2);

function startChild(cleanup) {
  const child = fork(CHILD, [], { execArgv: ['--no-warnings'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let ready;
  const started = new Promise((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`client process exited (${code})`)));
  });
  const request = ipcRequests(child, 'client process', (msg) => {
    if (msg.type === 'ready') ready();
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    await request('close').catch(() => undefined);
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    clearTimeout(killer);
  };
  cleanup.add(stop);
  return started.then(() => ({ request, stop }));
}

/**
 * Connects `count` subscribers of `target` over `transport`, split evenly over the client
 * processes. Returns the pool's steering calls.
 */
export async function startClients({ target, transport, port, count, cleanup, procs = CLIENT_PROCS }) {
  const n = Math.min(procs, count);
  const children = await Promise.all(Array.from({ length: n }, () => startChild(cleanup)));
  const all = (cmd, args) => Promise.all(children.map((c) => c.request(cmd, args)));
  await Promise.all(children.map((c, i) => c.request('connect', { target, transport, port, count: Math.floor(count / n) + (i < count % n ? 1 : 0) })));
  return {
    count,
    /** A rate step starts; payloads numbered ≥ first count towards its latency. */
    begin: (first) => all('begin', { first }),
    /** Waits for `count` more messages per subscriber until `deadline` (wall clock); the step's merged outcome. */
    async finish({ count: expected, deadline, graceEnd }) {
      const parts = await all('finish', { count: expected, deadline, graceEnd });
      const histogram = new LatencyHistogram();
      for (const p of parts) histogram.add(p.histogram);
      const sum = (k) => parts.reduce((acc, p) => acc + p[k], 0);
      return { missing: sum('missing'), late: sum('late'), disconnected: sum('disconnected'), latency: histogram.summary() };
    },
    /** Resolves when every subscriber has received `total` messages in all. */
    waitReceived: (total) => all('waitReceived', { total }),
    /** CPU time (µs) of all client processes so far. */
    cpuMicros: async () => (await all('cpu')).reduce((acc, c) => acc + c.micros, 0),
    close: () => Promise.all(children.map((c) => c.stop())),
  };
}
