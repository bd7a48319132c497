/**
 * A share of the fan-out bench's subscribers in a process of its own, so that receiving does
 * not compete with the bench's bookkeeping in one event loop. Over IPC: `connect {target,
 * transport, port, count}`, `begin {first}` (a rate step starts: latencies of payloads
 * numbered ≥ first are recorded), `finish {count, deadline, graceEnd}` (waits until each
 * subscriber has `count` more messages or the wall clock passes `deadline`, then answers missing,
 * late and disconnected subscribers and the step's latency histogram), `waitReceived {total}`,
 * `cpu`, `close`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from './clock.js';
import { serveRequests } from './ipc-requests.js';
import { LatencyHistogram } from './latency-histogram.js';
import { connectAll } from './rt-subscribers.js';

process.on('disconnect', () => process.exit(0));

const window = { active: false, first: 0, histogram: new LatencyHistogram() };
let subs = [];
let closeAll = () => {};
let before = [];

serveRequests({
  async connect({ target, transport, port, count }) {
    const c = await connectAll(target, transport, port, count, window);
    subs = subs.concat(c.subs);
    const previous = closeAll;
    closeAll = () => {
      previous();
      c.close();
    };
    return { connected: subs.length };
  },
  begin({ first }) {
    before = subs.map((s) => s.received);
    window.histogram = new LatencyHistogram();
    window.first = first;
    window.active = true;
    return {};
  },
  async finish({ count, deadline, graceEnd }) {
    const complete = () => subs.every((s, i) => s.received - before[i] >= count);
    while (!complete() && now() < deadline) await sleep(20);
    window.active = false;
    return {
      missing: subs.reduce((acc, s, i) => acc + Math.max(0, count - (s.received - before[i])), 0),
      // Arrived after the 1-s grace: late, however this loop's timer was delayed.
      late: subs.filter((s) => s.lastAt > graceEnd).length,
      disconnected: subs.filter((s) => s.disconnected).length,
      histogram: window.histogram.toJSON(),
    };
  },
  async waitReceived({ total }) {
    while (!subs.every((s) => s.received >= total)) await sleep(5);
    return {};
  },
  cpu() {
    const { user, system } = process.cpuUsage();
    return { micros: user + system };
  },
  close() {
    closeAll();
    setTimeout(() => process.exit(0), 50);
    return {};
  },
});
process.send({ type: 'ready' });
