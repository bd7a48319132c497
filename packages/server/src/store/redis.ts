import { Redis, type RedisOptions } from 'ioredis';
import { RedisUnreachableError } from './redis-errors.js';

/**
 * The one Redis connection of a node, shared by every piece of cluster state (limit counters,
 * flag changes, idempotency keys), plus what BullMQ and subscribers need to open their own.
 */
export interface RedisConnection {
  /** For commands. Fails fast while Redis is down (no offline queue): callers answer 503, never hang. */
  client: Redis;
  /** Prepended to every key and channel. */
  prefix: string;
  /** Options of a new connection to the same server (subscribers and BullMQ's blocking ones). */
  options: RedisOptions;
  /** A connection of its own (a subscriber cannot send other commands); the caller closes it. */
  connect(): Redis;
  /** True while the command connection is up. */
  readonly ready: boolean;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** How long a command may wait for its answer before it counts as an outage. */
const COMMAND_TIMEOUT_MS = 2_000;

/**
 * Connects to `url` and waits until it answers (up to `startupTimeoutMs`, then throws: a node
 * configured for a cluster must not start on its own). Afterwards it reconnects forever.
 */
export async function connectRedis(url: string, prefix: string, startupTimeoutMs: number): Promise<RedisConnection> {
  const options: RedisOptions = {
    // Reconnect forever, at most a second apart, so service resumes on its own.
    retryStrategy: (times) => Math.min(times * 100, 1_000),
    connectTimeout: 2_000,
    lazyConnect: true,
  };
  const client = new Redis(url, { ...options, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: COMMAND_TIMEOUT_MS });
  // Errors surface on the commands that meet them; the event would otherwise crash the process.
  // The last one says why a start failed (`connect()` itself only says the connection closed).
  let lastError: unknown;
  client.on('error', (err) => {
    lastError = err;
  });
  const deadline = Date.now() + startupTimeoutMs;
  for (;;) {
    try {
      await client.connect();
      break;
    } catch (err) {
      if (Date.now() >= deadline) {
        client.disconnect();
        throw new RedisUnreachableError(redactUrl(url), lastError ?? err);
      }
      client.disconnect();
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // `new Redis(url, options)` for duplicates: the url carries host, port, password and db.
  const connOptions = { ...options, ...parseUrlOptions(url), lazyConnect: false };
  return {
    client,
    prefix,
    options: connOptions,
    connect: () => new Redis(connOptions),
    get ready() {
      return client.status === 'ready';
    },
    async ping() {
      await client.ping();
    },
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** host, port, username, password, db and TLS of a redis:// or rediss:// URL, as ioredis options. */
function parseUrlOptions(url: string): RedisOptions {
  const u = new URL(url);
  const db = Number(u.pathname.slice(1) || 0);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
