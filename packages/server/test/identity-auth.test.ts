import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import OpenAI, { AuthenticationError } from 'openai';
import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { DATABASES, serversOn } from './support/backends.js';
import { createKey, signUp } from './support/identity.js';
import { RawWs, TOKEN_SECRET } from './support/realtime.js';
import { postJson } from './support/sse-client.js';

const SECRET = 'identity-test-secret-0123456789-abcdefgh';
const IDENTITY: ConfigInput['identity'] = {
  authSecret: SECRET,
  scrypt: { cost: 1024 },
  refreshReuseGraceSeconds: 0,
  login: { maxFailuresPerAccount: 3, maxFailuresPerIp: 6, windowSeconds: 900, maxRegistrationsPerIpPerDay: 3 },
};

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers });
  return { status: res.status, json: (await res.json()) as any, headers: res.headers };
};
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

function sign(claims: Record<string, unknown>, opts: { secret?: string; exp?: number | string; sub?: string } = {}) {
  return new SignJWT({ role: 'user', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(opts.sub ?? 'usr_x')
    .setIssuer('tributary')
    .setAudience('tributary-api')
    .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
    .setExpirationTime(opts.exp ?? '15m')
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

describe.each(DATABASES)('identity and credentials over HTTP on $name', ({ database, enabled }) => {
  const serve = serversOn(database);
  const start = (extra: ConfigInput = {}, identity: ConfigInput['identity'] = IDENTITY) => serve({ ...extra, identity });

  it.runIf(enabled)('register, sign in, me; duplicate email and weak password are precise 4xx', async () => {
    const { url } = await start();
    const user = await signUp(url, 'Alice@Example.test');
    expect((await get(`${url}/v1/me`, user.auth)).json).toMatchObject({ id: user.userId, email: 'alice@example.test', role: 'user', via: 'user' });
    expect((await postJson(`${url}/v1/auth/register`, { email: 'alice@example.test', password: 'another password' })).json.code).toBe('email_taken');
    expect((await postJson(`${url}/v1/auth/register`, { email: 'bob@example.test', password: 'short' })).json).toMatchObject({
      code: 'weak_password',
      minLength: 8,
    });
    expect((await postJson(`${url}/v1/auth/login`, { email: 'alice@example.test', password: 'wrong password' })).json.code).toBe('invalid_credentials');
    const login = await postJson(`${url}/v1/auth/login`, { email: 'ALICE@example.test', password: user.password });
    expect(login.status).toBe(200);
    expect(login.json.expiresIn).toBe(900);
    expect((await get(`${url}/v1/me`)).json.code).toBe('authentication_required');
    // Each account brings the user limits, so one IP creates only so many a day (3 here; the taken email counted).
    expect((await postJson(`${url}/v1/auth/register`, { email: 'carol@example.test', password: 'a good password' })).status).toBe(201);
    const fourth = await postJson(`${url}/v1/auth/register`, { email: 'dave@example.test', password: 'a good password' });
    expect(fourth).toMatchObject({ status: 429, json: { code: 'rate_limited', limit: 'registrations_per_day', max: 3 } });
  });

  it.runIf(enabled)('expired, tampered, alg:none, wrong-secret, revoked and wrong-scope credentials are refused with precise codes', async () => {
    const { url } = await start({ realtime: { publishKey: 'operator-publish-key-0123456789' } });
    const user = await signUp(url);
    const claims = { sid: 'ses_x' };
    const cases: [string, string, number, string][] = [
      ['expired', await sign(claims, { exp: Math.floor(Date.now() / 1000) - 10, sub: user.userId }), 401, 'token_expired'],
      ['wrong secret', await sign(claims, { secret: 'some-other-secret-0123456789-abcdefgh', sub: user.userId }), 401, 'invalid_token'],
      [
        'tampered',
        user.accessToken.replace(/\.([\w-]+)\./, (_, p: string) => `.${p.slice(0, -2)}${p.endsWith('A') ? 'B' : 'A'}${p.slice(-1)}.`),
        401,
        'invalid_token',
      ],
      ['alg none', `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${user.accessToken.split('.')[1]}.`, 401, 'invalid_token'],
      [
        'HS512',
        await new SignJWT({ sid: 'x', role: 'user' })
          .setProtectedHeader({ alg: 'HS512' })
          .setSubject(user.userId)
          .setIssuer('tributary')
          .setAudience('tributary-api')
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(SECRET)),
        401,
        'invalid_token',
      ],
      ['unknown key', 'trb_notakeyofthisserver0000000000000000000000', 401, 'invalid_key'],
      ['garbage', 'hello', 401, 'unauthorized'],
    ];
    for (const [name, token, status, code] of cases) {
      const r = await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, bearer(token));
      expect({ name, status: r.status, code: r.json.code }).toEqual({ name, status, code });
    }
    // A presented-but-bad cookie is refused too, never treated as anonymous.
    expect((await get(`${url}/v1/me/limits`, { cookie: 'tributary_access=garbage' })).json.code).toBe('unauthorized');

    const { id, key } = await createKey(url, user, ['publish']);
    expect((await postJson(`${url}/compare`, { input_data: 'Hi', models: ['demo/fast'] }, bearer(key))).json).toMatchObject({
      code: 'insufficient_scope',
      scope: 'compare',
    });
    expect((await postJson(`${url}/v1/publish`, { channel: 'public:x', data: 1 }, bearer(key))).status).toBe(200);
    expect((await get(`${url}/v1/admin/audit`, user.auth)).json.code).toBe('forbidden');
    expect((await get(`${url}/v1/admin/audit`)).json.code).toBe('authentication_required');
    expect((await fetch(`${url}/v1/keys/${id}`, { method: 'DELETE', headers: user.auth })).status).toBe(200);
    expect((await postJson(`${url}/v1/publish`, { channel: 'public:x', data: 1 }, bearer(key))).json.code).toBe('key_revoked');
    const listed = (await get(`${url}/v1/keys`, user.auth)).json.keys[0];
    expect(listed).toMatchObject({ id, scopes: ['publish'] });
    expect(Date.parse(listed.lastUsedAt)).toBeGreaterThan(Date.now() - 60_000); // the publish above used it
    expect(JSON.stringify((await get(`${url}/v1/keys`, user.auth)).json)).not.toContain(key);

    // Signing out revokes the session: its still-unexpired access token is refused.
    expect((await postJson(`${url}/v1/auth/logout`, {}, user.auth)).status).toBe(200);
    expect((await get(`${url}/v1/me`, user.auth)).json.code).toBe('token_revoked');
  });

  it.runIf(enabled)('refresh tokens rotate; reusing a spent one revokes the whole family', async () => {
    const { url } = await start();
    const user = await signUp(url);
    const first = await postJson(`${url}/v1/auth/refresh`, { refreshToken: user.refreshToken });
    expect(first.status).toBe(200);
    expect(first.json.refreshToken).not.toBe(user.refreshToken);
    expect((await get(`${url}/v1/me`, bearer(first.json.accessToken))).status).toBe(200);
    const second = await postJson(`${url}/v1/auth/refresh`, { refreshToken: first.json.refreshToken });
    expect(second.status).toBe(200);

    const reuse = await postJson(`${url}/v1/auth/refresh`, { refreshToken: user.refreshToken });
    expect(reuse).toMatchObject({ status: 401, json: { code: 'refresh_reused' } });
    expect((await postJson(`${url}/v1/auth/refresh`, { refreshToken: second.json.refreshToken })).json.code).toBe('token_revoked');
    expect((await get(`${url}/v1/me`, bearer(second.json.accessToken))).json.code).toBe('token_revoked');
    expect((await postJson(`${url}/v1/auth/refresh`, { refreshToken: 'rt_unknown' })).json.code).toBe('invalid_token');
  });

  it.runIf(enabled)('two tabs refreshing at once: the loser is refused but the session lives (reuse grace)', async () => {
    const { url } = await start({}, { ...IDENTITY, refreshReuseGraceSeconds: 10 });
    const user = await signUp(url);
    const both = await Promise.all([0, 1].map(() => postJson(`${url}/v1/auth/refresh`, { refreshToken: user.refreshToken })));
    expect(both.map((r) => r.status).sort()).toEqual([200, 401]);
    const winner = both.find((r) => r.status === 200)!;
    expect(both.find((r) => r.status === 401)!.json.code).toBe('invalid_token');
    expect((await get(`${url}/v1/me`, bearer(winner.json.accessToken))).status).toBe(200);
    expect((await postJson(`${url}/v1/auth/refresh`, { refreshToken: winner.json.refreshToken })).status).toBe(200);
  });

  it.runIf(enabled)('sign-in brute force is throttled per account and per IP', async () => {
    const { url } = await start();
    const user = await signUp(url);
    for (let i = 0; i < 3; i++)
      expect((await postJson(`${url}/v1/auth/login`, { email: user.email, password: `guess ${i}` })).json.code).toBe('invalid_credentials');
    const throttled = await postJson(`${url}/v1/auth/login`, { email: user.email, password: user.password });
    expect(throttled.status).toBe(429);
    expect(throttled.json).toMatchObject({ code: 'rate_limited', limit: 'login_failures', max: 3 });
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    // Per IP: other accounts from the same address, until the IP's budget (6) is spent.
    for (let i = 0; i < 3; i++) expect((await postJson(`${url}/v1/auth/login`, { email: `nobody${i}@example.test`, password: 'x' })).status).toBe(401);
    expect((await postJson(`${url}/v1/auth/login`, { email: 'someone@example.test', password: 'x' })).json.limit).toBe('login_failures');
  });

  it.runIf(enabled)('cookie sessions: HttpOnly SameSite=Lax cookies authenticate the web app and refresh from the cookie', async () => {
    const { url } = await start();
    const user = await signUp(url);
    const res = await fetch(`${url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: user.email, password: user.password, session: 'cookie' }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.accessToken).toBeUndefined();
    const cookies = res.headers.getSetCookie();
    expect(cookies.find((c) => c.startsWith('tributary_access='))).toMatch(/HttpOnly/i);
    expect(cookies.find((c) => c.startsWith('tributary_access='))).toMatch(/SameSite=Lax/i);
    expect(cookies.find((c) => c.startsWith('tributary_refresh='))).toMatch(/Path=\/v1\/auth/);
    const jar = cookies.map((c) => c.split(';')[0]).join('; ');
    expect((await get(`${url}/v1/me`, { cookie: jar })).json.email).toBe(user.email);
    const refreshed = await fetch(`${url}/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: jar }, body: '{}' });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.getSetCookie().some((c) => c.startsWith('tributary_access='))).toBe(true);
  });

  it.runIf(enabled)('an API key works with the official openai SDK and is refused once revoked', async () => {
    const { url } = await start();
    const user = await signUp(url);
    const { id, key } = await createKey(url, user, ['chat']);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hello' }] });
    expect(answer.choices[0]!.message.content!.length).toBeGreaterThan(0);
    await fetch(`${url}/v1/keys/${id}`, { method: 'DELETE', headers: user.auth });
    const refused = await client.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hello' }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AuthenticationError);
    expect((refused as AuthenticationError).code).toBe('key_revoked');
  });

  it.runIf(enabled)('realtime: SSE and long-poll accept access tokens and keys; /v1/tokens/connection mints connection tokens', async () => {
    const { url } = await start({ realtime: { tokenSecret: TOKEN_SECRET } });
    const user = await signUp(url);
    const { key } = await createKey(url, user, ['compare']);
    const channel = `user:${user.userId}`;
    const polled = await get(`${url}/v1/poll?channels=${channel}&timeoutMs=0&access_token=${user.accessToken}`);
    expect(polled.status).toBe(200);
    expect((await get(`${url}/v1/poll?channels=${channel}&timeoutMs=0`, bearer(key))).status).toBe(200);
    expect((await get(`${url}/v1/poll?channels=user:someone-else&timeoutMs=0`, bearer(key))).json.code).toBe('channel_forbidden');
    expect((await get(`${url}/v1/poll?channels=${channel}&timeoutMs=0&access_token=trb_revokedorunknown00000000000000000`)).json.code).toBe('invalid_key');
    const minted = await postJson(`${url}/v1/tokens/connection`, { ttlSeconds: 60 }, user.auth);
    expect(minted.status).toBe(200);
    const abort = new AbortController();
    const sse = await fetch(`${url}/v1/subscribe?channels=${channel}&token=${minted.json.token}`, { signal: abort.signal });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    abort.abort();
    expect((await postJson(`${url}/v1/tokens/connection`, {})).json.code).toBe('authentication_required');

    // WebSocket: the key in a header, the access token in the query, the session cookie; each reads user:<id>.
    const viaHeader = await RawWs.native(url, undefined, { headers: bearer(key) });
    const viaQuery = await RawWs.open(`${url.replace(/^http/, 'ws')}/v1/ws?access_token=${user.accessToken}`);
    viaQuery.send({ type: 'connect', version: 1 });
    expect((await viaQuery.next((m) => m.type === 'connected' || m.type === 'error')).type).toBe('connected');
    const viaCookie = await RawWs.native(url, undefined, { headers: { cookie: `tributary_access=${user.accessToken}` } });
    for (const ws of [viaHeader, viaQuery, viaCookie]) {
      ws.send({ type: 'subscribe', id: 's', channel });
      expect(await ws.next((m) => m.id === 's')).toMatchObject({ type: 'subscribed' });
      ws.close();
    }
    const revoked = await RawWs.open(`${url.replace(/^http/, 'ws')}/v1/ws`, { headers: bearer('trb_unknown000000000000000000000000000') });
    revoked.send({ type: 'connect', version: 1 });
    expect(await revoked.next((m) => m.type === 'error')).toMatchObject({ code: 'invalid_key' });
    revoked.close();
  });

  it.runIf(enabled)('with no configured secret one is generated into the data directory (0600)', async () => {
    const { url, dataDir } = await start({}, { scrypt: { cost: 1024 } });
    const user = await signUp(url);
    const file = join(dataDir, 'auth-secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim().length).toBeGreaterThanOrEqual(32);
    expect((await get(`${url}/v1/me`, user.auth)).status).toBe(200);
  });
});
