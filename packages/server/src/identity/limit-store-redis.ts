import type { Redis } from 'ioredis';
import type { Charge, ConsumeResult, LimitStore } from './limit-store.js';

/** Counters outlive their window by this much in Redis, so a node whose clock lags never sees one vanish early. */
const EXPIRY_SLACK_MS = 60_000;

/**
 * Check every charge, then apply them all: one script, so Redis runs it with nothing in between
 * and parallel requests on any number of nodes never overshoot. A limit of -1 is no limit.
 * Each counter expires when its window ends (plus a minute of slack for clock skew between nodes).
 * Returns {1, count…} or {0, index (1-based), count}.
 */
const CONSUME = `
for i = 1, #KEYS do
  local amount = tonumber(ARGV[i * 3 - 2])
  local limit = tonumber(ARGV[i * 3 - 1])
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if limit >= 0 and count + amount > limit then return {0, i, count} end
end
local out = {1}
for i = 1, #KEYS do
  out[i + 1] = redis.call('INCRBY', KEYS[i], ARGV[i * 3 - 2])
  redis.call('PEXPIREAT', KEYS[i], ARGV[i * 3] + ${EXPIRY_SLACK_MS})
end
return out
`;

/**
 * Counters in Redis, shared by every node of a cluster (`redis.url` set). Keys are
 * `<prefix>limit:<bucket>` and expire by themselves a minute after their window. One script
 * touches several keys: a single Redis server (or a primary with replicas), not Redis Cluster.
 */
export class RedisLimitStore implements LimitStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async consume(charges: Charge[]): Promise<ConsumeResult> {
    if (charges.length === 0) return { allowed: true, counts: [] };
    const args: (string | number)[] = [];
    for (const c of charges) args.push(c.amount, Number.isFinite(c.limit) ? c.limit : -1, c.windowEnd);
    const reply = (await this.redis.eval(CONSUME, charges.length, ...charges.map((c) => this.key(c.bucket)), ...args)) as number[];
    if (reply[0] === 1) return { allowed: true, counts: reply.slice(1).map(Number) };
    return { allowed: false, index: Number(reply[1]) - 1, count: Number(reply[2]) };
  }

  async get(buckets: string[]): Promise<number[]> {
    if (buckets.length === 0) return [];
    const values = await this.redis.mget(buckets.map((b) => this.key(b)));
    return values.map((v) => Number(v ?? 0));
  }

  /** Drops counters whose window ended (Redis drops them itself a minute later): one pass over the keys. */
  async purge(now: number): Promise<number> {
    let n = 0;
    const clock = Date.now();
    await this.scan(`${globEscape(this.key(''))}*`, async (keys) => {
      const ttls = await this.redis.pipeline(keys.map((k) => ['pttl', k])).exec();
      const ended = keys.filter((_, i) => {
        const ttl = Number(ttls?.[i]?.[1] ?? -2);
        return ttl >= 0 && clock + ttl - EXPIRY_SLACK_MS < now; // its window's end
      });
      if (ended.length > 0) n += await this.redis.del(...ended);
    });
    return n;
  }

  async forget(subject: string): Promise<void> {
    await this.scan(`${globEscape(this.key(''))}*:${globEscape(subject)}:*`, async (keys) => {
      await this.redis.del(...keys);
    });
  }

  private async scan(pattern: string, each: (keys: string[]) => Promise<void>): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      if (keys.length > 0) await each(keys);
      cursor = next;
    } while (cursor !== '0');
  }

  private key(bucket: string): string {
    return `${this.prefix}limit:${bucket}`;
  }
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
