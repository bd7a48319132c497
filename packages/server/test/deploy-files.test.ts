import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The deployment files pass their own tools' checks wherever those tools exist here.
const deploy = (f: string) => fileURLToPath(new URL(`../../../deploy/${f}`, import.meta.url));
const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

const systemd = existsSync('/usr/bin/systemd-analyze');
const compose = has('docker', ['compose', 'version']);
const dockerEngine = has('docker', ['info']);
if (!systemd) console.warn('deploy: systemd-analyze is not installed; the unit is not verified');
if (!compose) console.warn('deploy: docker compose is not installed; compose.yaml is not checked');
if (!dockerEngine) console.warn('deploy: no Docker engine answers here; the image is not built');

describe('deploy/', () => {
  it.runIf(systemd)('tributary.service passes systemd-analyze verify', () => {
    const out = spawnSync('systemd-analyze', ['verify', deploy('tributary.service')], { encoding: 'utf8' });
    expect(out.stderr.trim()).toBe('');
    expect(out.status).toBe(0);
  });

  it.runIf(compose)('compose.yaml is a valid compose file', () => {
    execFileSync('docker', ['compose', '-f', deploy('compose.yaml'), 'config', '--quiet']);
  });

  it.runIf(dockerEngine)(
    'the image builds',
    () => {
      execFileSync('docker', ['build', '-f', deploy('Dockerfile'), '-t', 'tributary:test', fileURLToPath(new URL('../../../', import.meta.url))], {
        stdio: 'inherit',
        timeout: 600_000,
      });
    },
    600_000,
  );
});
