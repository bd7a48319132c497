import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SOAK = fileURLToPath(new URL('../../../bench/soak.js', import.meta.url));
const MINUTES = Number(process.env.SOAK_MINUTES ?? 3);

/**
 * The soak in the test command: a real server process (built dist: `npm test` builds first)
 * under a modest mix for 3 minutes. Fails on any lost or duplicated event, a broken stream,
 * or memory growing past its bound after warm-up.
 */
it(
  `soak: ${MINUTES} minutes of mixed load lose nothing and do not grow`,
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-soak-test-'));
    const out = join(dir, 'soak.json');
    try {
      const child = spawn(
        process.execPath,
        [
          SOAK,
          '--minutes',
          String(MINUTES),
          '--subscribers',
          '60',
          '--rate',
          '60',
          '--comparisons-per-min',
          '20',
          '--gateway-per-min',
          '20',
          '--warmup-seconds',
          '80',
          '--quiet',
          '--json',
          out,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (d) => {
        output += d;
      });
      child.stderr.on('data', (d) => {
        output += d;
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const summary = JSON.parse(readFileSync(out, 'utf8'));
      expect(summary.failures, output.slice(-4_000)).toEqual([]);
      expect(code).toBe(0);
      expect(summary.counts).toMatchObject({ lostAtEnd: 0, gaps: 0, duplicates: 0, lostOnResume: 0 });
      expect(summary.counts.resumes).toBeGreaterThan(0);
      expect(summary.counts.comparisonsCancelled).toBeGreaterThan(0);
      expect(summary.counts.gatewayStreams).toBeGreaterThan(0);
      expect(summary.samples.length).toBeGreaterThanOrEqual(MINUTES * 6 - 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  (MINUTES * 60 + 90) * 1000,
);
