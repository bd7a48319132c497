import { Redis, type RedisOptions } from 'ioredis';
import { TributaryError } from '../errors.js';
import type { ClaimedComparison, ComparisonCoordination, CoordinationHandlers } from './coordination.js';

// Leases are scored by Redis's clock (TIME), never a node's: nodes' clocks may disagree.
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
/** KEYS: leases, record. ARGV: id, leaseMs, record JSON, recordTtlMs. */
const CLAIM = `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1`;
/** KEYS: leases. ARGV: leaseMs, ids… Returns the ids whose lease is gone (another node took it). */
const RENEW = `${NOW}
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
  else table.insert(lost, ARGV[i]) end
end
return lost`;
/** KEYS: leases. ARGV: record key prefix, max. Claims (removes) expired leases: each goes to one node only. */
const SWEEP = `${NOW}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  table.insert(out, id)
  table.insert(out, redis.call('GET', ARGV[1] .. id) or '')
end
return out`;
/** KEYS: leases. Ids whose lease has not expired. */
const LIVE = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')`;

type Commands = Redis & {
  tribClaim(leases: string, record: string, id: string, leaseMs: number, json: string, ttlMs: number): Promise<number>;
  tribRenew(leases: string, leaseMs: number, ...ids: string[]): Promise<string[]>;
  tribSweep(leases: string, recordPrefix: string, max: number): Promise<string[]>;
  tribLive(leases: string): Promise<string[]>;
};

/**
 * Comparison leases, records and cancels in Redis: a sorted set of leases scored by expiry,
 * renewed by their owner every third of `leaseMs`; a record per running comparison (what any
 * node needs to serve it); one pub/sub channel carrying cancel requests to the owner.
 */
export class RedisCoordination implements ComparisonCoordination {
  readonly shared = true;
  private readonly cmd: Commands;
  private readonly sub: Redis;
  private readonly held = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private handlers: CoordinationHandlers | undefined;
  private readonly leases: string;
  private readonly records: string;
  private readonly cancels: string;

  constructor(private readonly opts: { url: string; keyPrefix: string; leaseMs: number; onError?: (err: Error) => void }) {
    const common: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 5_000,
      retryStrategy: (n) => Math.min(n * 100, 1_000),
      lazyConnect: true,
    };
    this.cmd = new Redis(opts.url, { ...common, connectionName: 'tributary-compare' }) as Commands;
    this.cmd.defineCommand('tribClaim', { numberOfKeys: 2, lua: CLAIM });
    this.cmd.defineCommand('tribRenew', { numberOfKeys: 1, lua: RENEW });
    this.cmd.defineCommand('tribSweep', { numberOfKeys: 1, lua: SWEEP });
    this.cmd.defineCommand('tribLive', { numberOfKeys: 1, lua: LIVE });
    this.sub = new Redis(opts.url, { ...common, connectionName: 'tributary-compare-sub', autoResubscribe: true });
    this.leases = `${opts.keyPrefix}cmp:leases`;
    this.records = `${opts.keyPrefix}cmp:rec:`;
    this.cancels = `${opts.keyPrefix}cmp:cancel`;
    for (const c of [this.cmd, this.sub]) c.on('error', (err: Error) => opts.onError?.(err));
    this.sub.on('message', (_channel: string, id: string) => {
      if (this.held.has(id)) this.handlers?.cancel(id);
    });
  }

  private unavailable(err: unknown): TributaryError {
    return new TributaryError('dependency_unavailable', `Redis is unavailable: ${(err as Error).message}`, { dependency: 'redis', retryAfterSeconds: 1 });
  }

  async start(handlers: CoordinationHandlers): Promise<void> {
    this.handlers = handlers;
    await Promise.all([this.cmd.connect(), this.sub.connect()]).catch(() => undefined); // they keep retrying
    await this.sub.subscribe(this.cancels).catch(() => undefined); // autoResubscribe only repeats a subscription that succeeded
    this.sub.on('ready', () => void this.sub.subscribe(this.cancels).catch(() => undefined));
    const { leaseMs } = this.opts;
    this.timers.push(setInterval(() => void this.renew(), Math.max(50, leaseMs / 3)));
    this.timers.push(setInterval(() => void this.sweep(), Math.max(50, leaseMs / 2)));
    for (const t of this.timers) t.unref();
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    try {
      const lost = await this.cmd.tribRenew(this.leases, this.opts.leaseMs, ...this.held);
      for (const id of lost) {
        this.held.delete(id);
        this.handlers?.lost(id);
      }
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  private async sweep(): Promise<void> {
    let claimed: string[];
    try {
      claimed = await this.cmd.tribSweep(this.leases, this.records, 20);
    } catch {
      return; // Redis away: nothing can be swept, and the owners cannot renew either
    }
    for (let i = 0; i < claimed.length; i += 2) {
      const id = claimed[i]!;
      const json = claimed[i + 1]!;
      if (this.held.delete(id)) {
        this.handlers?.lost(id); // our own lease lapsed (a stall longer than the lease)
        continue;
      }
      if (!json) continue;
      try {
        await this.handlers?.expired(JSON.parse(json) as ClaimedComparison);
        await this.cmd.del(this.records + id);
      } catch (err) {
        this.opts.onError?.(err as Error);
      }
    }
  }

  async claim(comparison: ClaimedComparison): Promise<void> {
    try {
      // The record outlives the lease so a survivor can end it; a day bounds what a lost sweep leaves.
      await this.cmd.tribClaim(this.leases, this.records + comparison.id, comparison.id, this.opts.leaseMs, JSON.stringify(comparison), 86_400_000);
    } catch (err) {
      throw this.unavailable(err);
    }
    this.held.add(comparison.id);
  }

  async release(id: string): Promise<void> {
    this.held.delete(id);
    try {
      await this.cmd
        .multi()
        .zrem(this.leases, id)
        .del(this.records + id)
        .exec();
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  async find(id: string): Promise<ClaimedComparison | undefined> {
    let json: string | null;
    try {
      json = await this.cmd.get(this.records + id);
    } catch (err) {
      throw this.unavailable(err);
    }
    return json ? (JSON.parse(json) as ClaimedComparison) : undefined;
  }

  async requestCancel(id: string): Promise<boolean> {
    try {
      const [[, exists], [, receivers]] = (await this.cmd
        .multi()
        .exists(this.records + id)
        .publish(this.cancels, id)
        .exec())! as [[null, number], [null, number]];
      return exists === 1 && receivers > 0;
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  async liveIds(): Promise<string[]> {
    try {
      return await this.cmd.tribLive(this.leases);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.sub.disconnect();
    await this.cmd.quit().catch(() => this.cmd.disconnect());
  }
}
