import OpenAI, { AuthenticationError, RateLimitError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { DATABASES, serversOn } from './support/backends.js';
import { createKey, signUp } from './support/identity.js';
import { dropPrefix, randomPrefix, redisAvailable, TEST_REDIS_URL } from './support/redis.js';
import { startServer } from './support/server.js';
import { postJson } from './support/sse-client.js';

/** The shipped limits (no overrides), with cheap password hashing. */
const DEFAULTS: ConfigInput['identity'] = { scrypt: { cost: 1024 } };

/** Per-minute counters reset on the minute: start a minute-sensitive test well inside one. */
async function awayFromMinuteEdge(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 45_000) await new Promise((r) => setTimeout(r, 60_000 - into + 50));
}

const nextUtcMidnight = (now = Date.now()) => Math.floor(now / 86_400_000) * 86_400_000 + 86_400_000;

const redisUp = await redisAvailable();
/** The same suite with the counters in the database, and in Redis (what a cluster uses). */
const STORES = [
  ...DATABASES.map((d) => ({ ...d, redis: false })),
  { ...DATABASES[1]!, name: 'PostgreSQL with the counters in Redis', enabled: DATABASES[1]!.enabled && redisUp, redis: true },
];

describe.each(STORES)('limits over HTTP on $name', ({ database, enabled, redis }) => {
  const serve = serversOn(database);
  const prefixes: string[] = [];
  afterEach(async () => {
    for (const prefix of prefixes.splice(0)) await dropPrefix(prefix);
  });
  const redisConfig = (): ConfigInput => {
    if (!redis) return {};
    prefixes.push(randomPrefix());
    return { redis: { url: TEST_REDIS_URL, keyPrefix: prefixes.at(-1)! } };
  };
  const start = (identity: ConfigInput['identity'], extra: ConfigInput = {}) => serve({ ...extra, ...redisConfig(), identity });

  it.runIf(enabled)('the 11th anonymous model response of the day is refused with 429, an exact Retry-After and RateLimit headers', async () => {
    const { url } = await start(DEFAULTS);
    const ok1 = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/balanced', 'demo/slow'] });
    expect(ok1.status).toBe(200);
    expect(ok1.headers.get('ratelimit-limit')).toBe('10');
    expect(ok1.headers.get('ratelimit-remaining')).toBe('7');
    for (const models of [['demo/fast', 'demo/balanced', 'demo/slow'], ['demo/fast', 'demo/balanced', 'demo/slow'], ['demo/fast']]) {
      expect((await postJson(`${url}/compare`, { input_data: 'Hi', models })).status).toBe(200);
    }
    const status = await (await fetch(`${url}/rate-limit-status`)).json();
    expect(status).toMatchObject({ ip_address: '127.0.0.1', ip_usage_count: 10, max_daily_limit: 10, remaining: 0, is_limited: true });

    const refused = await postJson(`${url}/compare-stream`, { input_data: 'Hi', models: ['demo/fast'] });
    const reset = nextUtcMidnight();
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    const expected = Math.ceil((reset - Date.now()) / 1000);
    expect(retryAfter).toBeGreaterThanOrEqual(expected);
    expect(retryAfter).toBeLessThanOrEqual(expected + 2);
    expect(refused.headers.get('ratelimit-limit')).toBe('10');
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(refused.headers.get('ratelimit-reset'))).toBe(retryAfter);
    expect(refused.json).toMatchObject({ code: 'rate_limited', limit: 'responses_per_day', resetAt: new Date(reset).toISOString(), max: 10, used: 10 });
    expect(refused.json.detail).toMatch(/Daily limit of 10 model responses/); // the seed route's FastAPI-style text
    // The native route says the same, without `detail`.
    const native = await postJson(`${url}/v1/comparisons`, { prompt: 'Hi', models: ['demo/fast'] });
    expect(native.status).toBe(429);
    expect(native.json.detail).toBeUndefined();
    // Each refusal is counted for /metrics and the rate-limit alert, by caller class.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^tributary_rate_limit_rejections_total\{class="anonymous"\} 2$/m);
  });

  it.runIf(enabled)('a batch job is charged one model response per item before anything runs', async () => {
    const { url } = await start(DEFAULTS);
    const job = (prompts: string[], models: string[]) => postJson(`${url}/v1/jobs`, { prompts, models, tier: 'brief' });
    const over = await job(['a', 'b', 'c', 'd'], ['demo/fast', 'demo/balanced', 'demo/slow']); // 12 items > 10
    expect(over.status).toBe(429);
    expect(over.json).toMatchObject({ code: 'rate_limited', limit: 'responses_per_day', requested: 12, max: 10 });
    expect((await (await fetch(`${url}/v1/jobs`)).json()).jobs).toEqual([]);
    expect((await job(['a'], ['demo/fast', 'demo/balanced', 'demo/slow', 'demo/verbose'])).json).toMatchObject({
      code: 'too_many_models',
      max: 3,
      requested: 4,
    });
    const ok = await job(['a', 'b', 'c'], ['demo/fast', 'demo/balanced']);
    expect(ok.status).toBe(201);
    expect((await (await fetch(`${url}/rate-limit-status`)).json()).ip_usage_count).toBe(6);
  });

  it.runIf(enabled)('4 models in one anonymous request get a precise 400 and spend nothing', async () => {
    const { url } = await start(DEFAULTS);
    const r = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/balanced', 'demo/slow', 'demo/verbose'] });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'too_many_models', max: 3, requested: 4, class: 'anonymous' });
    expect((await (await fetch(`${url}/rate-limit-status`)).json()).ip_usage_count).toBe(0);
    // A request the service refuses after admission (empty prompt) gives its charge back.
    expect((await postJson(`${url}/compare`, { input_data: '   ', models: ['demo/fast'] })).status).toBe(400);
    expect((await (await fetch(`${url}/rate-limit-status`)).json()).ip_usage_count).toBe(0);
    // The extended tier is for users by default (anonymous extendedPerDay 0).
    const extended = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'], tier: 'extended' });
    expect(extended.json).toMatchObject({ code: 'rate_limited', limit: 'extended_per_day', max: 0 });
    expect(extended.json.message).toMatch(/sign in/);
  });

  it.runIf(enabled)('20 parallel requests cannot overshoot a quota', async () => {
    const { url } = await start({ ...DEFAULTS, limits: { anonymous: { responsesPerDay: 5, requestsPerMinute: null } } });
    const answers = await Promise.all(Array.from({ length: 20 }, () => postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(15);
    expect((await (await fetch(`${url}/rate-limit-status`)).json()).ip_usage_count).toBe(5);
  });

  it.runIf(enabled)('the browser fingerprint is one more bucket: it never lets a caller escape the IP bucket', async () => {
    const { url } = await start({ ...DEFAULTS, limits: { anonymous: { responsesPerDay: 3 } } });
    expect((await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/slow'], browser_fingerprint: 'fp-a' })).status).toBe(200);
    const status = await (await fetch(`${url}/api/rate-limit-status?fingerprint=fp-a`)).json();
    expect(status).toMatchObject({ ip_usage_count: 2, fingerprint_usage_count: 2, max_daily_limit: 3, remaining: 1 });
    // A fresh fingerprint from the same IP still spends the IP's bucket.
    const r = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/slow'], browser_fingerprint: 'fp-b' });
    expect(r.status).toBe(429);
  });

  it.runIf(enabled)('behind a trusted proxy two clients have separate buckets; from an untrusted peer X-Forwarded-For changes nothing', async () => {
    const limits = { anonymous: { responsesPerDay: 2 } };
    const trusted = await start({ ...DEFAULTS, limits, trustedProxies: ['127.0.0.1/32'] });
    const as = (ip: string) => ({ 'X-Forwarded-For': ip });
    expect((await postJson(`${trusted.url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/slow'] }, as('203.0.113.1'))).status).toBe(200);
    expect((await postJson(`${trusted.url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, as('203.0.113.1'))).status).toBe(429);
    expect((await postJson(`${trusted.url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/slow'] }, as('203.0.113.2'))).status).toBe(200);
    expect((await (await fetch(`${trusted.url}/rate-limit-status`, { headers: as('203.0.113.2') })).json()).ip_address).toBe('203.0.113.2');

    const untrusted = await start({ ...DEFAULTS, limits });
    expect((await postJson(`${untrusted.url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/slow'] }, as('203.0.113.1'))).status).toBe(200);
    const other = await postJson(`${untrusted.url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, as('203.0.113.2'));
    expect(other.status).toBe(429);
    expect((await (await fetch(`${untrusted.url}/rate-limit-status`, { headers: as('203.0.113.9') })).json()).ip_address).toBe('127.0.0.1');
  });

  it.runIf(enabled)("a signed-in user gets the user limits, an admin-set tier changes them, keys spend their user's", async () => {
    const { url } = await start({
      ...DEFAULTS,
      adminEmail: 'admin@example.test',
      adminPassword: 'admin password 1',
      limits: { anonymous: { responsesPerDay: 1 }, user: { responsesPerDay: 4, maxModels: 4 }, tiers: { pro: { responsesPerDay: 6 } } },
    });
    const user = await signUp(url);
    const four = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/balanced', 'demo/slow', 'demo/verbose'] }, user.auth);
    expect(four.status).toBe(200);
    expect((await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, user.auth)).status).toBe(429);
    const limits = await (await fetch(`${url}/v1/me/limits`, { headers: user.auth })).json();
    expect(limits).toMatchObject({ kind: 'user', class: 'user', maxModels: 4, limits: { responses_per_day: { limit: 4, used: 4, remaining: 0 } } });
    // The anonymous bucket of the same IP was never touched.
    expect((await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] })).status).toBe(200);

    const admin = await (await postJson(`${url}/v1/auth/login`, { email: 'admin@example.test', password: 'admin password 1' })).json;
    const patched = await fetch(`${url}/v1/admin/users/${user.userId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', Authorization: `Bearer ${admin.accessToken}` },
      body: JSON.stringify({ tier: 'pro' }),
    });
    expect(patched.status).toBe(200);
    const { key } = await createKey(url, user, ['compare']);
    const viaKey = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/slow'] }, { Authorization: `Bearer ${key}` });
    expect(viaKey.status).toBe(200);
    expect(viaKey.headers.get('ratelimit-remaining')).toBe('0');
    expect((await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, user.auth)).json).toMatchObject({ code: 'rate_limited', max: 6 });
  });

  it.runIf(enabled)("an API key can carry limits of its own, on top of its user's", async () => {
    const { url } = await start({ ...DEFAULTS, limits: { user: { responsesPerDay: 5 } } });
    const user = await signUp(url);
    const res = await postJson(`${url}/v1/keys`, { name: 'ci', scopes: ['compare'], limits: { responsesPerDay: 2, maxModels: 1 } }, user.auth);
    expect(res.status).toBe(201);
    expect(res.json.limits).toEqual({ responsesPerDay: 2, maxModels: 1 });
    const key = { Authorization: `Bearer ${res.json.key}` };
    expect((await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/slow'] }, key)).json).toMatchObject({
      code: 'too_many_models',
      max: 1,
    });
    const first = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, key);
    expect(first.headers.get('ratelimit-remaining')).toBe('1'); // the key's 2, tighter than the user's 5
    expect((await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, key)).status).toBe(200);
    expect((await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, key)).json).toMatchObject({ code: 'rate_limited', max: 2 });
    expect((await (await fetch(`${url}/v1/me/limits`, { headers: key })).json()).limits.responses_per_day).toMatchObject({ limit: 2, remaining: 0 });
    // The user's own budget was spent by the key too: 2 of 5 used.
    expect((await (await fetch(`${url}/v1/me/limits`, { headers: user.auth })).json()).limits.responses_per_day).toMatchObject({ limit: 5, used: 2 });
    expect((await postJson(`${url}/v1/keys`, { name: 'x', scopes: ['compare'], limits: { responsesPerDay: -1 } }, user.auth)).json).toMatchObject({
      code: 'invalid_field',
    });
  });

  it.runIf(enabled)('the OpenAI SDK can call as an anonymous visitor only by saying so: apiKey "anonymous"; any other unknown key is refused', async () => {
    const { url } = await start({ ...DEFAULTS, limits: { anonymous: { responsesPerDay: 1 } } });
    const anonymous = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'anonymous', maxRetries: 0 });
    expect((await anonymous.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }] })).choices).toHaveLength(1);
    expect(
      await anonymous.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e),
    ).toBeInstanceOf(RateLimitError);
    const placeholder = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const refused = await placeholder.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AuthenticationError);
    expect((refused as AuthenticationError).code).toBe('unauthorized');
  });

  it.runIf(enabled)('gateway completions count their tokens against the daily token limit', async () => {
    const { url } = await start({ ...DEFAULTS, limits: { user: { tokensPerDay: 50 } } });
    const { key } = await createKey(url, await signUp(url), ['chat']);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
    const first = await client.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }] });
    expect(first.usage!.total_tokens).toBeGreaterThan(50);
    await expect
      .poll(
        async () =>
          (await client.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e)) instanceof
          RateLimitError,
      )
      .toBe(true);
    const refused = await client.chat.completions
      .create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }], stream: true })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitError);
    expect((refused as RateLimitError).error).toMatchObject({ code: 'rate_limited' });
  });

  it.runIf(enabled)('extended-tier runs and tokens per day are limits of their own', async () => {
    const { url } = await start({ ...DEFAULTS, limits: { user: { extendedPerDay: 1, tokensPerDay: 100 } } });
    const user = await signUp(url);
    const extended = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'], tier: 'extended' }, user.auth);
    expect(extended.status).toBe(200);
    // The first request was admitted with tokens left; its answer spent more than the 100 a day.
    const next = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'], tier: 'extended' }, user.auth);
    // Counters are checked in bucket order, extended before tokens.
    expect(next.json).toMatchObject({ code: 'rate_limited', limit: 'extended_per_day', max: 1 });
    await expect.poll(async () => (await (await fetch(`${url}/v1/me/limits`, { headers: user.auth })).json()).limits.tokens_per_day.used).toBeGreaterThan(100);
    const standard = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, user.auth);
    expect(standard.json).toMatchObject({ code: 'rate_limited', limit: 'tokens_per_day', max: 100 });
    const limits = await (await fetch(`${url}/v1/me/limits`, { headers: user.auth })).json();
    expect(limits.limits.extended_per_day).toMatchObject({ limit: 1, used: 1, remaining: 0 });
  });

  it.runIf(enabled)('the gateway and realtime publish are limited the same way; TRIBUTARY_ANONYMOUS=off needs a user or key', async () => {
    const { url } = await start(
      { ...DEFAULTS, anonymous: false, limits: { user: { responsesPerDay: 2, requestsPerMinute: 3 } } },
      {
        realtime: { publishKey: 'operator-publish-key-0123456789' },
      },
    );
    const anonymous = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] });
    expect(anonymous).toMatchObject({ status: 401, json: { code: 'authentication_required' } });
    const user = await signUp(url);
    const { key } = await createKey(url, user, ['chat', 'publish']);
    await awayFromMinuteEdge();
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
    for (let i = 0; i < 2; i++)
      expect(
        (await client.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }] })).choices[0]!.message.content,
      ).toBeTruthy();
    const third = await client.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(third).toBeInstanceOf(RateLimitError);
    expect((third as RateLimitError).code).toBe('rate_limited');
    expect(Number((third as RateLimitError).headers?.get('retry-after'))).toBeGreaterThan(0);

    // Three requests a minute: two completions (the refused one charged nothing), one publish, then no more.
    expect((await postJson(`${url}/v1/publish`, { channel: 'public:x', data: 1 }, { Authorization: `Bearer ${key}` })).status).toBe(200);
    const publish = await postJson(`${url}/v1/publish`, { channel: 'public:x', data: 1 }, { Authorization: `Bearer ${key}` });
    expect(publish).toMatchObject({ status: 429, json: { code: 'rate_limited', limit: 'requests_per_minute' } });
    // The operator's publish key is exempt.
    expect((await postJson(`${url}/v1/publish`, { channel: 'public:x', data: 1 }, { Authorization: 'Bearer operator-publish-key-0123456789' })).status).toBe(
      200,
    );
  });
});

describe('limits with the memory LimitStore (identity.limitStore: "memory")', () => {
  it('the same admission over HTTP: parallel requests cannot overshoot, the refusal carries its headers', async () => {
    const server = await startServer({ identity: { ...DEFAULTS, limitStore: 'memory', limits: { anonymous: { responsesPerDay: 5 } } } });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => postJson(`${server.url}/compare`, { input_data: 'Hi', models: ['demo/fast'] })));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
      const refused = answers.find((a) => a.status === 429)!;
      expect(refused.json).toMatchObject({ code: 'rate_limited', limit: 'responses_per_day', max: 5 });
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      expect((await (await fetch(`${server.url}/rate-limit-status`)).json()).ip_usage_count).toBe(5);
    } finally {
      await server.close();
    }
  });
});
