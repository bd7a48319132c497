import { afterEach } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './postgres.js';
import { randomPrefix, redisAvailable, TEST_REDIS_URL } from './redis.js';
import { startServer, type TestServer } from './server.js';

const pgUp = await postgresAvailable();
const redisUp = await redisAvailable();

/** The stream log in memory and (when it answers) in Redis under a fresh key prefix, for describe.each. */
export const STREAM_BACKENDS = [
  { name: 'memory', enabled: true, redis: (): { url?: string; keyPrefix?: string } => ({}) },
  { name: 'redis', enabled: redisUp, redis: (): { url?: string; keyPrefix?: string } => ({ url: TEST_REDIS_URL, keyPrefix: randomPrefix() }) },
];

/** SQLite on disk and (when it answers) PostgreSQL in a fresh schema, for describe.each. */
export const DATABASES = [
  { name: 'SQLite', enabled: true, database: (): { url?: string; schema?: string } => ({}) },
  { name: 'PostgreSQL', enabled: pgUp, database: (): { url?: string; schema?: string } => ({ url: TEST_DATABASE_URL, schema: randomSchema() }) },
];

export async function dropDatabase(db: { schema?: string }): Promise<void> {
  if (db.schema) await dropSchema(db.schema);
}

/**
 * For a describe block over one of DATABASES: each call starts a server on a fresh database
 * (a new PostgreSQL schema); after each test every one is closed and its schema dropped.
 */
export function serversOn(database: () => { url?: string; schema?: string }): (overrides?: ConfigInput) => Promise<TestServer> {
  const started: { db: { schema?: string }; server?: TestServer }[] = [];
  afterEach(async () => {
    for (const entry of started.splice(0)) {
      await entry.server?.close();
      await dropDatabase(entry.db);
    }
  });
  return async (overrides = {}) => {
    const entry: (typeof started)[number] = { db: database() };
    started.push(entry); // dropped even if the start fails
    entry.server = await startServer({ ...overrides, database: entry.db });
    return entry.server;
  };
}

/**
 * For a contract suite run against several implementations: `start()` opens one, and it is
 * closed after each test.
 */
export function opensEach<O extends { close(): Promise<void> }, T>(open: () => Promise<O>, pick: (opened: O) => T): () => Promise<T> {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  return async () => {
    const opened = await open();
    close = () => opened.close();
    return pick(opened);
  };
}
