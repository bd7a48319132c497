import type { Config } from '../config/schema.js';
import type { KyselyStore } from '../store/kysely-store.js';
import { Accounts, type AccountEvent } from './accounts.js';
import { decodeJwt } from 'jose';
import { ApiKeys, KEY_PREFIX } from './api-keys.js';
import { AUDIENCE } from './access-tokens.js';
import { AuditLog } from './audit.js';
import { Authenticator } from './authenticator.js';
import { DbLimitStore, type LimitStore } from './limit-store.js';
import { MemoryLimitStore } from './limit-store-memory.js';
import { RedisLimitStore } from './limit-store-redis.js';
import type { RedisConnection } from '../store/redis.js';
import { Privacy } from './privacy.js';
import { Quotas } from './quotas.js';
import { secretFrom } from './secret.js';
import { actorOf, type Caller } from './types.js';
import { UsageReport } from './usage.js';

export type Pricing = { inputPerMillion: number; outputPerMillion: number };

/** Identity, limits, audit and privacy, assembled from the config over the store's database. */
export interface Identity {
  accounts: Accounts;
  keys: ApiKeys;
  authenticator: Authenticator;
  quotas: Quotas;
  counters: LimitStore;
  audit: AuditLog;
  privacy: Privacy;
  usage: UsageReport;
  config: Config['identity'];
  costOf(model: string, inputTokens: number, outputTokens: number): number;
  /** A realtime connection presenting an access token or API key: its subject; undefined for other tokens. */
  connectionSubject(token: string): Promise<{ sub: string } | undefined>;
  close(): void;
}

export async function createIdentity(
  config: Config,
  store: KyselyStore,
  opts: {
    pricingOf?: (model: string) => Pricing | undefined;
    onError?: (err: unknown) => void;
    /** Told of each refusal by a limit, with the caller's class (metrics and alerts count them). */
    onLimitExceeded?: (callerClass: Caller['kind']) => void;
    /** The node's Redis connection when `redis.url` is set: limit counters live there by default. */
    redis?: RedisConnection | undefined;
  } = {},
): Promise<Identity> {
  const { db, dialect } = store;
  const ic = config.identity;
  const counters = limitStoreOf(ic.limitStore ?? (opts.redis ? 'redis' : 'database'), store, opts.redis);
  const audit = new AuditLog(store, db, dialect, ic.audit.retentionDays);
  const onEvent = (e: AccountEvent, ip: string) => {
    const userId = 'userId' in e ? e.userId : null;
    const failed = e.action === 'auth.login_failed' || e.action === 'auth.refresh_reuse';
    audit.record({
      actor: userId ? `user:${userId}` : 'anonymous',
      action: e.action,
      target: userId,
      outcome: failed ? 'denied' : 'ok',
      // IP only on security events.
      ip: e.action === 'auth.logout' ? null : ip,
      details: e.action === 'auth.login_failed' ? { reason: e.reason } : e.action === 'auth.refresh_reuse' ? { sessionId: e.sessionId } : undefined,
    });
  };
  const accounts = new Accounts(db, dialect, ic, secretFrom(ic.authSecret, config.dataDir, 'auth-secret'), counters, onEvent);
  const keys = new ApiKeys(db, dialect);
  const quotas = new Quotas(counters, ic.limits, (caller, limit) => {
    audit.record({ actor: actorOf(caller), action: 'limit.exceeded', outcome: 'denied', ip: caller.ip, details: { limit } });
    opts.onLimitExceeded?.(caller.kind);
  });
  const costOf = (model: string, input: number, output: number) => {
    const price = ic.pricing[model] ?? opts.pricingOf?.(model);
    return price ? (input * price.inputPerMillion + output * price.outputPerMillion) / 1_000_000 : 0;
  };
  if (ic.adminEmail && ic.adminPassword) await accounts.ensureAdmin(ic.adminEmail, ic.adminPassword);
  const onError = opts.onError ?? (() => undefined);
  audit.schedulePurge(ic.audit.purgeIntervalMinutes * 60_000, onError, () => quotas.purge());
  const authenticator = new Authenticator(accounts, keys, config.realtime.publishKey);
  const connectionSubject = async (token: string) => {
    if (!token.startsWith(KEY_PREFIX) && !isAccessToken(token)) return undefined;
    const caller = await authenticator.resolve({ bearer: token }, '');
    return caller.kind === 'anonymous' || caller.userId === null ? undefined : { sub: caller.userId };
  };
  return {
    accounts,
    keys,
    quotas,
    counters,
    audit,
    config: ic,
    costOf,
    authenticator,
    connectionSubject,
    privacy: new Privacy({ db, store, accounts, keys, audit, counters }),
    usage: new UsageReport(db, dialect, store, costOf),
    close: () => audit.stop(),
  };
}

/** Ours by its audience claim (realtime connection tokens have none); verified by the authenticator. */
function isAccessToken(token: string): boolean {
  try {
    return decodeJwt(token).aud === AUDIENCE;
  } catch {
    return false;
  }
}

function limitStoreOf(kind: 'database' | 'memory' | 'redis', store: KyselyStore, redis: RedisConnection | undefined): LimitStore {
  if (kind === 'memory') return new MemoryLimitStore();
  if (kind === 'database') return new DbLimitStore(store.db);
  if (!redis) throw new Error('identity.limitStore is redis but no Redis connection was given');
  return new RedisLimitStore(redis.client, redis.prefix);
}
