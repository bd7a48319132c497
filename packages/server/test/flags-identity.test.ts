import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, signUp, type SignedUp } from './support/identity.js';
import { startServer, TEST_IDENTITY, type TestServer } from './support/server.js';

const ADMIN = 'flags-identity-admin-0123456789';
const admin = { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' };

/** Flag rollouts bucket signed-in users by user id, keys by key id, anonymous clients by cookie or client IP. */
describe('flag bucketing by identity', () => {
  let server: TestServer;
  let users: SignedUp[];
  beforeAll(async () => {
    // Trusted proxy: the test plays the proxy, so X-Forwarded-For is the client address (as identity reads it).
    server = await startServer({
      ops: { adminToken: ADMIN },
      identity: { ...TEST_IDENTITY, trustedProxies: ['127.0.0.1/32'], login: { maxRegistrationsPerIpPerDay: 1_000 } },
    });
    users = [];
    for (let i = 0; i < 40; i++) users.push(await signUp(server.url));
  }, 120_000);
  afterAll(() => server.close());

  const setRollout = async (name: string, rollout: number) => {
    const res = await fetch(`${server.url}/v1/admin/flags/${name}`, { method: 'PUT', headers: admin, body: JSON.stringify({ enabled: true, rollout }) });
    expect(res.status).toBe(200);
  };
  const flagsOf = async (headers: Record<string, string>) =>
    ((await (await fetch(`${server.url}/v1/flags`, { headers })).json()) as { flags: Record<string, boolean> }).flags;
  const from = (ip: string, more: Record<string, string> = {}) => ({ 'X-Forwarded-For': ip, ...more });

  it('a user in at 30 % stays in at 60 %, from any session and any address', async () => {
    await setRollout('realtime_ws', 30);
    const at30 = new Map<string, boolean>();
    for (const [i, u] of users.entries()) at30.set(u.userId, (await flagsOf(from(`198.51.100.${i}`, u.auth))).realtime_ws!);
    const inn = users.filter((u) => at30.get(u.userId));
    // 40 users at 30 %: some in, some out (each user's bucket is fixed by their id).
    expect(inn.length).toBeGreaterThan(0);
    expect(inn.length).toBeLessThan(users.length);

    // The same user from another address and another session (a second sign-in): the same answer.
    for (const u of users.slice(0, 10)) {
      const login = await fetch(`${server.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: u.email, password: u.password }),
      });
      const { accessToken } = (await login.json()) as { accessToken: string };
      expect(accessToken).not.toBe(u.accessToken);
      expect((await flagsOf(from('203.0.113.77', { Authorization: `Bearer ${accessToken}` }))).realtime_ws).toBe(at30.get(u.userId));
    }

    await setRollout('realtime_ws', 60);
    const at60 = new Map<string, boolean>();
    for (const u of users) at60.set(u.userId, (await flagsOf(from('192.0.2.1', u.auth))).realtime_ws!);
    expect(inn.filter((u) => !at60.get(u.userId))).toEqual([]);
    expect([...at60.values()].filter(Boolean).length).toBeGreaterThanOrEqual(inn.length);
  });

  it("an API key is bucketed by its own id, not its user's", async () => {
    await setRollout('sse_streaming', 50);
    // Find a user and a key of theirs that land on different sides: proof the key is its own bucket.
    let found = false;
    for (const u of users.slice(0, 20)) {
      const { key } = await createKey(server.url, u);
      const asUser = (await flagsOf(u.auth)).sse_streaming;
      const asKey = (await flagsOf({ Authorization: `Bearer ${key}` })).sse_streaming;
      expect((await flagsOf(from('10.9.9.9', { Authorization: `Bearer ${key}` }))).sse_streaming).toBe(asKey);
      if (asUser !== asKey) {
        found = true;
        break;
      }
    }
    expect(found).toBe(true);
  });

  it('anonymous clients are bucketed by the client address behind a trusted proxy, and the server enforces sse_streaming by it', async () => {
    await setRollout('sse_streaming', 50);
    const verdicts = new Map<string, boolean>();
    for (let i = 1; i <= 30; i++) verdicts.set(`203.0.113.${i}`, (await flagsOf(from(`203.0.113.${i}`))).sse_streaming!);
    const out = [...verdicts].find(([, v]) => !v)![0];
    const inn = [...verdicts].find(([, v]) => v)![0];
    expect((await flagsOf(from(out))).sse_streaming).toBe(false);
    // /chat-stream follows the same evaluation: refused out of the rollout, streamed inside it.
    const chat = (ip: string) =>
      fetch(`${server.url}/chat-stream`, {
        method: 'POST',
        headers: from(ip, { 'content-type': 'application/json' }),
        body: JSON.stringify({ query: 'Hi', model: 'demo/fast' }),
      });
    const refused = await chat(out);
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([403, 'feature_flag_disabled']);
    const streamed = await chat(inn);
    expect(streamed.status).toBe(200);
    await streamed.text();
  });

  it("the realtime_ws WebSocket admits by the same identity as /v1/flags (a user's token, whatever address)", async () => {
    await setRollout('realtime_ws', 30);
    const closeCode = (u: SignedUp, ip: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/ws?access_token=${u.accessToken}`, { headers: { 'X-Forwarded-For': ip } });
        ws.on('open', () => {
          ws.close(1000);
        });
        ws.on('close', (code) => resolve(code));
        ws.on('error', reject);
      });
    for (const u of users.slice(0, 12)) {
      const expected = (await flagsOf(u.auth)).realtime_ws;
      for (const ip of ['198.51.100.200', '198.51.100.201']) {
        expect({ user: u.userId, code: await closeCode(u, ip) }).toEqual({ user: u.userId, code: expected ? 1000 : 4010 });
      }
    }
  });
});
