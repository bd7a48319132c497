import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './load.js';
import type { Config } from './schema.js';

/** The realtime secrets a fresh install generates, kept readable by the server's user only. */
export const SECRETS_FILE = 'realtime-secrets.json';

export type SecretName = 'tokenSecret' | 'publishKey';

export interface Secrets {
  /** The config with every realtime secret filled (from config/env, else the data directory). */
  config: Config;
  file: string;
  /** Where each secret came from; `generated` only on the start that created it. */
  source: Record<SecretName, 'config' | 'file' | 'generated' | 'none'>;
}

/**
 * Fills `realtime.tokenSecret` and `realtime.publishKey` that the config and env leave unset
 * from `<dataDir>/realtime-secrets.json`, generating the missing ones into it (mode 0600) when
 * `realtime.generateSecrets` is on (or those `opts.generate` names). Nothing becomes readable anonymously: a secret is only
 * shown by whoever can read the data directory.
 */
export function ensureSecrets(config: Config, opts: { generate?: SecretName[] } = {}): Secrets {
  const file = join(config.dataDir, SECRETS_FILE);
  const generate = opts.generate ?? (config.realtime.generateSecrets ? ['tokenSecret', 'publishKey'] : []);
  const stored = readSecrets(file);
  const realtime = { ...config.realtime };
  const source = {} as Secrets['source'];
  let changed = false;
  for (const name of ['tokenSecret', 'publishKey'] as const) {
    if (realtime[name] !== undefined) source[name] = 'config';
    else if (stored[name] !== undefined) {
      realtime[name] = stored[name];
      source[name] = 'file';
    } else if (generate.includes(name)) {
      realtime[name] = stored[name] = randomBytes(32).toString('base64url');
      source[name] = 'generated';
      changed = true;
    } else source[name] = 'none';
  }
  if (changed) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600); // an existing file keeps its mode through writeFileSync
  }
  return { config: { ...config, realtime }, file, source };
}

function readSecrets(file: string): Partial<Record<SecretName, string>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`Cannot read ${file}: ${(err as Error).message}`);
  }
  const out: Partial<Record<SecretName, string>> = {};
  for (const name of ['tokenSecret', 'publishKey'] as const) if (typeof parsed[name] === 'string') out[name] = parsed[name];
  return out;
}
