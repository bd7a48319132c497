import { createHash } from 'node:crypto';
import type { ClassLimits, IdentityConfig } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import type { Charge, LimitStore } from './limit-store.js';
import type { Caller } from './types.js';

export type LimitName = 'requests_per_minute' | 'responses_per_day' | 'extended_per_day' | 'tokens_per_day' | 'login_failures' | 'registrations_per_day';

/** What a request will spend, known before any provider call. */
export interface Spend {
  /** Model responses (one per model, or per prompt and model for a batch job). */
  responses: number;
  /** Distinct models of the request, for `maxModels` (default: `responses`). */
  models?: number | undefined;
  extended: boolean;
  /** CompareAI's browser fingerprint: an extra anonymous bucket, never instead of the IP. */
  fingerprint?: string | undefined;
}

export interface LimitState {
  limit: number;
  used: number;
  remaining: number;
  resetAt: string;
}

interface Budget {
  subject: string;
  limits: ClassLimits;
}

const NO_LIMITS: ClassLimits = { requestsPerMinute: null, responsesPerDay: null, maxModels: null, extendedPerDay: null, tokensPerDay: null };
const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const MINUTE = 60_000;
const DAY = 86_400_000;

interface Window {
  suffix: string;
  end: number;
}

/** The day's suffix, formatted once a day rather than per request. */
let today = { start: NaN, suffix: '' };

function windowOf(now: number, span: typeof MINUTE | typeof DAY): Window {
  const start = Math.floor(now / span) * span;
  if (span === DAY && today.start !== start) today = { start, suffix: `d${new Date(start).toISOString().slice(0, 10).replaceAll('-', '')}` };
  return { suffix: span === DAY ? today.suffix : `m${start / MINUTE}`, end: start + span };
}

const LIMITS: {
  name: Exclude<LimitName, 'login_failures' | 'registrations_per_day'>;
  field: keyof ClassLimits;
  span: typeof MINUTE | typeof DAY;
  counter: string;
}[] = [
  { name: 'requests_per_minute', field: 'requestsPerMinute', span: MINUTE, counter: 'requests' },
  { name: 'responses_per_day', field: 'responsesPerDay', span: DAY, counter: 'responses' },
  { name: 'extended_per_day', field: 'extendedPerDay', span: DAY, counter: 'extended' },
  { name: 'tokens_per_day', field: 'tokensPerDay', span: DAY, counter: 'tokens' },
];

/**
 * Limits per class (anonymous, user and its tier; a key spends its user's, and its own when
 * it has some): requests per
 * minute, model responses per day, models per request, extended-tier runs per day, tokens per
 * day. A request is admitted or refused as a whole before any provider call.
 */
export class Quotas {
  constructor(
    private readonly store: LimitStore,
    private readonly config: IdentityConfig['limits'],
    private readonly onViolation?: (caller: Caller, limit: LimitName | 'max_models') => void,
  ) {}

  classOf(caller: Caller): { name: string; limits: ClassLimits } {
    if (caller.kind === 'anonymous') return { name: 'anonymous', limits: this.config.anonymous };
    const tier = caller.tier ? this.config.tiers[caller.tier] : undefined;
    if (!tier) return { name: 'user', limits: this.config.user };
    const merged = { ...this.config.user };
    for (const [k, v] of Object.entries(tier)) if (v !== undefined) merged[k as keyof ClassLimits] = v;
    return { name: `tier:${caller.tier}`, limits: merged };
  }

  /**
   * The counters a caller spends, each with its limits: the user's (a key's too, plus the key's
   * own when it has limits), or the client IP plus the fingerprint when one is sent. Every one
   * must have room, so neither a fingerprint nor a key ever escapes the limits above it.
   */
  budgets(caller: Caller, fingerprint?: string): Budget[] {
    const { limits } = this.classOf(caller);
    if (caller.kind === 'anonymous') {
      const budgets = [{ subject: `ip:${caller.ip}`, limits }];
      if (fingerprint) budgets.push({ subject: `fp:${fingerprintHash(fingerprint)}`, limits });
      return budgets;
    }
    if (caller.kind === 'user') return [{ subject: `user:${caller.userId}`, limits }];
    const budgets = [{ subject: caller.userId ? `user:${caller.userId}` : `key:${caller.keyId}`, limits }];
    if (caller.userId && caller.limits) budgets.push({ subject: `key:${caller.keyId}`, limits: { ...NO_LIMITS, ...defined(caller.limits) } });
    return budgets;
  }

  /** Checks the models-per-request limit, then charges every counter at once or throws `rate_limited`. Returns headers to send. */
  async admit(caller: Caller, spend: Spend, now = Date.now()): Promise<Record<string, string>> {
    const className = this.classOf(caller).name;
    const budgets = this.budgets(caller, spend.fingerprint);
    const maxModels = Math.min(...budgets.map((b) => b.limits.maxModels ?? Infinity));
    const models = spend.models ?? spend.responses;
    if (models > maxModels) {
      this.onViolation?.(caller, 'max_models');
      throw new TributaryError(
        'too_many_models',
        `${className === 'anonymous' ? 'Anonymous requests' : 'Your requests'} may name at most ${maxModels} models; got ${models}.`,
        {
          max: maxModels,
          requested: models,
          class: className,
        },
      );
    }
    const charges: (Charge & { name: LimitName })[] = [];
    for (const { subject, limits } of budgets) {
      for (const l of LIMITS) {
        const limit = limits[l.field];
        if (limit === null) continue;
        const w = windowOf(now, l.span);
        const bucket = `${subject}:${l.counter}:${w.suffix}`;
        if (l.name === 'requests_per_minute') charges.push({ name: l.name, bucket, amount: 1, limit, windowEnd: w.end });
        else if (l.name === 'responses_per_day') charges.push({ name: l.name, bucket, amount: spend.responses, limit, windowEnd: w.end });
        else if (l.name === 'extended_per_day' && spend.extended) charges.push({ name: l.name, bucket, amount: 1, limit, windowEnd: w.end });
        // Tokens are only known afterwards: admitted while some remain, counted by addTokens.
        else if (l.name === 'tokens_per_day') charges.push({ name: l.name, bucket, amount: 0, limit: limit - 1, windowEnd: w.end });
      }
    }
    const result = await this.store.consume(charges);
    if (!result.allowed) {
      const refused = charges[result.index]!;
      const max = refused.name === 'tokens_per_day' ? refused.limit + 1 : refused.limit;
      this.onViolation?.(caller, refused.name);
      throw quotaError(refused.name, max, result.count, refused.amount, refused.windowEnd, now);
    }
    const responses = charges.findIndex((c) => c.name === 'responses_per_day');
    if (responses < 0) return {};
    // Several counters (IP and fingerprint, user and key): report the tightest.
    let tightest = responses;
    charges.forEach((c, i) => {
      if (c.name === 'responses_per_day' && c.limit - result.counts[i]! < charges[tightest]!.limit - result.counts[tightest]!) tightest = i;
    });
    const c = charges[tightest]!;
    return rateLimitHeaders(c.limit, c.limit - result.counts[tightest]!, c.windowEnd, now);
  }

  /** Gives back what admit() charged, for a request refused by validation after it. */
  async refund(caller: Caller, spend: Spend, now = Date.now()): Promise<void> {
    const charges: Charge[] = [];
    const day = windowOf(now, DAY);
    for (const { subject, limits } of this.budgets(caller, spend.fingerprint)) {
      if (limits.responsesPerDay !== null)
        charges.push({ bucket: `${subject}:responses:${day.suffix}`, amount: -spend.responses, limit: Infinity, windowEnd: day.end });
      if (limits.extendedPerDay !== null && spend.extended)
        charges.push({ bucket: `${subject}:extended:${day.suffix}`, amount: -1, limit: Infinity, windowEnd: day.end });
    }
    if (charges.length > 0) await this.store.consume(charges);
  }

  /** Charges one request against the requests-per-minute limit only (realtime publish). */
  async admitRequest(caller: Caller, now = Date.now()): Promise<void> {
    const w = windowOf(now, MINUTE);
    const charges = this.budgets(caller)
      .filter((b) => b.limits.requestsPerMinute !== null)
      .map((b) => ({ bucket: `${b.subject}:requests:${w.suffix}`, amount: 1, limit: b.limits.requestsPerMinute!, windowEnd: w.end }));
    if (charges.length === 0) return;
    const result = await this.store.consume(charges);
    if (!result.allowed) {
      this.onViolation?.(caller, 'requests_per_minute');
      throw quotaError('requests_per_minute', charges[result.index]!.limit, result.count, 1, w.end, now);
    }
  }

  /** Counts tokens a finished request used against the daily token limits. */
  async addTokens(caller: Caller, tokens: number, fingerprint?: string, now = Date.now()): Promise<void> {
    if (tokens <= 0) return;
    const limited = this.budgets(caller, fingerprint).filter((b) => b.limits.tokensPerDay !== null);
    if (limited.length === 0) return;
    const w = windowOf(now, DAY);
    await this.store.consume(limited.map((b) => ({ bucket: `${b.subject}:tokens:${w.suffix}`, amount: tokens, limit: Infinity, windowEnd: w.end })));
  }

  /** Every limit of the caller with what is used and left now (of several counters, the tightest). */
  async state(
    caller: Caller,
    fingerprint?: string,
    now = Date.now(),
  ): Promise<{ class: string; maxModels: number | null; limits: Partial<Record<LimitName, LimitState>> }> {
    const budgets = this.budgets(caller, fingerprint);
    const out: Partial<Record<LimitName, LimitState>> = {};
    for (const l of LIMITS) {
      const w = windowOf(now, l.span);
      const capped = budgets.filter((b) => b.limits[l.field] !== null);
      const used = await this.store.get(capped.map((b) => `${b.subject}:${l.counter}:${w.suffix}`));
      capped.forEach((b, i) => {
        const limit = b.limits[l.field]!;
        const remaining = Math.max(0, limit - used[i]!);
        if (!out[l.name] || remaining < out[l.name]!.remaining) out[l.name] = { limit, used: used[i]!, remaining, resetAt: new Date(w.end).toISOString() };
      });
    }
    const maxModels = Math.min(...budgets.map((b) => b.limits.maxModels ?? Infinity));
    return { class: this.classOf(caller).name, maxModels: Number.isFinite(maxModels) ? maxModels : null, limits: out };
  }

  /** Model responses counted today for one anonymous subject (the seed's status route). */
  async responsesToday(subject: string, now = Date.now()): Promise<number> {
    const [count] = await this.store.get([`${subject}:responses:${windowOf(now, DAY).suffix}`]);
    return count ?? 0;
  }

  purge(now = Date.now()): Promise<number> {
    return this.store.purge(now);
  }
}

export function fingerprintHash(fingerprint: string): string {
  return createHash('sha256').update(fingerprint).digest('hex').slice(0, 32);
}

/** IETF RateLimit header fields (draft): limit, remaining, seconds until reset. */
export function rateLimitHeaders(limit: number, remaining: number, windowEnd: number, now: number): Record<string, string> {
  return {
    'ratelimit-limit': String(limit),
    'ratelimit-remaining': String(Math.max(0, remaining)),
    'ratelimit-reset': String(Math.max(0, Math.ceil((windowEnd - now) / 1000))),
  };
}

const DESCRIPTION: Record<LimitName, string> = {
  requests_per_minute: 'requests a minute',
  responses_per_day: 'model responses a day',
  extended_per_day: 'extended-tier requests a day',
  tokens_per_day: 'tokens a day',
  login_failures: 'failed sign-ins (per account and per IP)',
  registrations_per_day: 'accounts created from one IP a day',
};

export function quotaError(name: LimitName, max: number, used: number, requested: number, windowEnd: number, now: number): TributaryError {
  const retryAfter = Math.max(1, Math.ceil((windowEnd - now) / 1000));
  const resetAt = new Date(windowEnd).toISOString();
  const left = Math.max(0, max - used);
  const message =
    max === 0
      ? `No ${DESCRIPTION[name]} are allowed for this caller (limit 0): sign in or ask for a higher tier.`
      : name === 'responses_per_day'
        ? `Daily limit of ${max} model responses reached: this request needs ${requested} and ${left} remain. The limit resets at ${resetAt}.`
        : `Limit of ${max} ${DESCRIPTION[name]} reached; it resets at ${resetAt}.`;
  return new TributaryError(
    'rate_limited',
    message,
    { limit: name, max, used, remaining: left, requested, resetAt, retryAfterSeconds: retryAfter },
    {
      'retry-after': String(retryAfter),
      ...rateLimitHeaders(max, left, windowEnd, now),
    },
  );
}
