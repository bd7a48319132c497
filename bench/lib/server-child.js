import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { now } from './clock.js';

const SCRIPT = fileURLToPath(new URL('../server-process.js', import.meta.url));

/** Forks bench/server-process.js and talks to it over IPC (structured clone, so typed arrays travel). */
export async function startServerChild(options, { readyTimeoutMs = 60_000 } = {}) {
  const child = fork(SCRIPT, [JSON.stringify(options)], {
    serialization: 'advanced',
    execArgv: ['--expose-gc', '--no-warnings', ...(process.env.BENCH_SERVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let nextId = 0;
  let exited = false;
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = { resolve, reject };
  });
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  child.on('message', (msg) => {
    if (msg.type === 'ready') return onReady.resolve(msg);
    const waiter = pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.ok) waiter.resolve(msg.result);
    else waiter.reject(new Error(`server process: ${msg.error}`));
  });
  child.on('error', (err) => onReady.reject(err));
  void exit.then(({ code, signal }) => {
    exited = true;
    const err = new Error(`server process exited (code ${code}, signal ${signal})`);
    onReady.reject(err);
    for (const waiter of pending.values()) waiter.reject(err);
    pending.clear();
  });

  const timer = setTimeout(() => onReady.reject(new Error('server process did not start in time')), readyTimeoutMs);
  let info;
  try {
    info = await ready;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }

  function request(cmd, args) {
    if (exited) return Promise.reject(new Error('server process is gone'));
    return new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, args });
    });
  }

  return {
    pid: child.pid,
    ...info,
    request,
    /**
     * Offset of the child's clock from ours (child − parent, ms), from the IPC round trip
     * with the smallest RTT (its error is at most half that RTT).
     */
    async clockOffset(samples = 100) {
      let best = { rttMs: Infinity, offsetMs: 0 };
      for (let i = 0; i < samples; i++) {
        const t0 = now();
        const { t } = await request('clock');
        const t2 = now();
        if (t2 - t0 < best.rttMs) best = { rttMs: t2 - t0, offsetMs: t - (t0 + t2) / 2 };
      }
      return best;
    },
    /** Graceful close, then SIGKILL if it lingers. Safe to call twice. */
    async stop(timeoutMs = 15_000) {
      if (exited) return;
      const graceful = request('close').catch(() => undefined);
      const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await graceful;
      await exit;
      clearTimeout(killer);
    },
    kill() {
      if (!exited) child.kill('SIGKILL');
    },
  };
}
