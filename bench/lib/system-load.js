import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Busy CPU time of the whole machine so far (ms), from /proc/stat; null where unavailable. */
export function machineBusyMs() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    return ((user + nice + system + irq + softirq + steal) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

export const loadAverage = () => loadavg().map((x) => Number(x.toFixed(2)));
