import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App, type AppOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { dropPrefix } from './redis.js';

export interface TestServer {
  url: string;
  app: App;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * Existing suites make many requests: limits off and cheap password hashing unless a test
 * passes its own `identity` (identity tests do, and test the real defaults explicitly).
 */
const UNLIMITED = { requestsPerMinute: null, responsesPerDay: null, maxModels: null, extendedPerDay: null, tokensPerDay: null };
export const TEST_IDENTITY = { scrypt: { cost: 1024 }, limits: { anonymous: UNLIMITED, user: UNLIMITED } };

/** A real server on port 0 with its own data dir; demo models sped up unless told otherwise. */
export async function startServer(
  overrides: ConfigInput = {},
  opts: AppOptions & { env?: NodeJS.ProcessEnv; dataDir?: string; keepRedisKeys?: boolean } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'tributary-test-'));
  const config = loadConfig({
    env: opts.env ?? {},
    overrides: {
      ...overrides,
      server: { host: '127.0.0.1', port: 0, ...overrides.server },
      dataDir,
      log: { level: 'silent', ...overrides.log },
      demo: { speed: 10, ...overrides.demo },
      identity: overrides.identity ?? TEST_IDENTITY,
    },
  });
  const app = await buildApp(config, opts);
  const url = await app.listen();
  let closed = false;
  return {
    url,
    app,
    dataDir,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      // A test's own Redis prefix goes with its server (a shared prefix is the test's to drop).
      if (overrides.redis?.url && overrides.redis.keyPrefix?.startsWith('test:') && !opts.keepRedisKeys)
        await dropPrefix(overrides.redis.keyPrefix, overrides.redis.url);
    },
  };
}
