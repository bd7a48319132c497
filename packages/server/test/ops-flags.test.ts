import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient, type WebSocketConstructor } from '../../client/src/index.js';
import { loadConfig } from '../src/config/load.js';
import { bucketOf, Flags, InProcessFlagBus } from '../src/ops/flags.js';
import { identityKeyOf, signAnonymousId } from '../src/ops/identity-key.js';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { Scrape } from './support/prometheus.js';
import { publishN, RawWs, startRealtimeServer } from './support/realtime.js';
import { startServer, type TestServer } from './support/server.js';

const ADMIN = 'admin-token-0123456789abcdef';
const admin = { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' };
const WS = WebSocket as unknown as WebSocketConstructor;

describe('rollout', () => {
  const ids = Array.from({ length: 1_000 }, (_, i) => `user:synthetic-${i}`);
  const flags = (rollout: number, extra: { allow?: string[]; deny?: string[]; enabled?: boolean } = {}) =>
    new Flags({ sse_streaming: true, websocket: true, realtime_ws: { enabled: true, rollout, allow: [], deny: [], ...extra } });

  it('puts 25–35 % of 1,000 identities in at 30 %, and every one of them is still in at 60 %', () => {
    const at30 = ids.filter((id) => flags(30).evaluate('realtime_ws', id));
    const at60 = new Set(ids.filter((id) => flags(60).evaluate('realtime_ws', id)));
    expect(at30.length).toBeGreaterThanOrEqual(250);
    expect(at30.length).toBeLessThanOrEqual(350);
    expect(at60.size).toBeGreaterThan(at30.length);
    expect(at30.filter((id) => !at60.has(id))).toEqual([]);
    expect(ids.filter((id) => flags(0).evaluate('realtime_ws', id))).toEqual([]);
    expect(ids.every((id) => flags(100).evaluate('realtime_ws', id))).toBe(true);
    // Buckets differ per flag: being in one flag's 30 % says nothing of another's.
    const other = ids.filter((id) => bucketOf('sse_streaming', id) < 30);
    expect(other).not.toEqual(at30);
  });

  it('applies deny before allow before the bucket, and off before all', () => {
    const out = ids.find((id) => !flags(30).evaluate('realtime_ws', id))!;
    const inn = ids.find((id) => flags(30).evaluate('realtime_ws', id))!;
    expect(flags(30, { allow: [out] }).evaluate('realtime_ws', out)).toBe(true);
    expect(flags(30, { deny: [inn] }).evaluate('realtime_ws', inn)).toBe(false);
    expect(flags(30, { allow: [inn], deny: [inn] }).evaluate('realtime_ws', inn)).toBe(false);
    expect(flags(100, { enabled: false, allow: [inn] }).evaluate('realtime_ws', inn)).toBe(false);
  });

  it("maps the seeds' variables at start", () => {
    const c = loadConfig({ env: { ENABLE_SSE_STREAMING: 'false', REALTIME_STREAMING_V2: 'true', REALTIME_ROLLOUT_PERCENT: '30' } });
    expect(c.flags.sse_streaming).toBe(false);
    expect(c.flags.realtime_ws).toEqual({ enabled: true, rollout: 30, allow: [], deny: [] });
    expect(() => loadConfig({ env: { REALTIME_ROLLOUT_PERCENT: '130' } })).toThrow(/flags\.realtime_ws/);
  });

  it('buckets by a signed anonymous cookie when valid, else by client IP', () => {
    const secret = 'cookie-secret-0123456789';
    const req = (cookie?: string) => ({ headers: cookie ? { cookie } : {}, ip: '10.0.0.7' });
    const anonymous = { kind: 'anonymous' } as const;
    expect(identityKeyOf(anonymous, req(`tributary_anon=${signAnonymousId('abc', secret)}`), secret)).toBe('anon:abc');
    expect(identityKeyOf(anonymous, req('tributary_anon=abc.forged'), secret)).toBe('ip:10.0.0.7');
    expect(identityKeyOf(anonymous, req(), secret)).toBe('ip:10.0.0.7');
    // A signed-in user or a key is itself, whatever cookie or address it comes with.
    expect(identityKeyOf({ kind: 'user', userId: 'u1' }, req(`tributary_anon=${signAnonymousId('abc', secret)}`), secret)).toBe('user:u1');
    expect(identityKeyOf({ kind: 'key', keyId: 'k1' }, req(), secret)).toBe('key:k1');
  });
});

describe('flags at runtime', () => {
  let server: TestServer | undefined;
  let client: RealtimeClient | undefined;
  afterEach(async () => {
    client?.close();
    await server?.close();
    server = undefined;
  });

  const put = (url: string, name: string, body: unknown, headers: Record<string, string> = admin) =>
    fetch(`${url}/v1/admin/flags/${name}`, { method: 'PUT', headers, body: JSON.stringify(body) });
  const evaluated = async (url: string) => ((await (await fetch(`${url}/v1/flags`)).json()) as { flags: Record<string, boolean> }).flags;

  it("an admin flip changes /v1/flags and the server's behaviour without restart; persisted and audited", async () => {
    server = await startRealtimeServer({ ops: { adminToken: ADMIN } });
    const { url } = server;
    expect(await evaluated(url)).toEqual({ sse_streaming: true, websocket: true, realtime_ws: true });
    (await RawWs.native(url)).close();

    // Guarded and validated.
    expect((await put(url, 'realtime_ws', { enabled: true, rollout: 0 }, { 'Content-Type': 'application/json' })).status).toBe(401);
    const bad = await put(url, 'realtime_ws', { enabled: true, rollout: 101 });
    expect([bad.status, (await bad.json()).code]).toEqual([400, 'invalid_field']);
    const extra = await put(url, 'realtime_ws', { enabled: true, rollout: 5, colour: 'red' });
    expect([extra.status, (await extra.json()).code]).toEqual([400, 'unknown_field']);
    const missing = await put(url, 'no_such_flag', { enabled: true, rollout: 5 });
    expect([missing.status, (await missing.json()).code]).toEqual([404, 'flag_not_found']);

    // realtime_ws to 0 %: this client is out; its WebSocket is closed with 4010 after the handshake.
    const res = await put(url, 'realtime_ws', { enabled: true, rollout: 0 });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: 'realtime_ws', enabled: true, rollout: 0, allow: [], deny: [] });
    expect((await evaluated(url)).realtime_ws).toBe(false);
    const refused = await RawWs.open(`${url.replace(/^http/, 'ws')}/v1/ws`);
    expect(await refused.closed).toEqual({ code: 4010, reason: 'realtime_ws: not in rollout; use SSE or long-poll' });
    const seed = await RawWs.open(`${url.replace(/^http/, 'ws')}/v2/realtime/stream`);
    expect((await seed.closed).code).toBe(4010);

    // The allow list lets this client back in (identity: its IP).
    await put(url, 'realtime_ws', { enabled: true, rollout: 0, allow: ['ip:127.0.0.1'] });
    expect((await evaluated(url)).realtime_ws).toBe(true);
    (await RawWs.native(url)).close();
    // Clients a flag turned away are not failed connections (the connection-success alert).
    const scrape = await Scrape.of(url);
    expect(scrape.value('tributary_connection_attempts_total', { transport: 'websocket' })).toBe(2);
    expect(scrape.value('tributary_connection_attempts_total', { transport: 'seed' })).toBe(0);
    expect(scrape.value('tributary_connection_successes_total', { transport: 'websocket' })).toBe(2);

    // sse_streaming off: the seed's streaming route refuses and client-config tells the web app to use /compare.
    await put(url, 'sse_streaming', { enabled: false, rollout: 100 });
    const stream = await fetch(`${url}/chat-stream`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: 'hi' }),
    });
    expect([stream.status, (await stream.json()).code]).toEqual([403, 'feature_flag_disabled']);
    expect((await (await fetch(`${url}/v1/client-config`)).json()).flags).toEqual({ sse_streaming: false });

    const audit = await (await fetch(`${url}/v1/admin/audit?limit=10`, { headers: admin })).json();
    expect(audit.rows.map((e: any) => [e.action, e.target, e.actor])).toEqual([
      ['flag.update', 'sse_streaming', 'admin-token'],
      ['flag.update', 'realtime_ws', 'admin-token'],
      ['flag.update', 'realtime_ws', 'admin-token'],
    ]);
    expect(audit.rows[1].details).toEqual({
      before: { enabled: true, rollout: 0, allow: [], deny: [] },
      after: { enabled: true, rollout: 0, allow: ['ip:127.0.0.1'], deny: [] },
    });

    // Persisted: a restart on the same data keeps the admin's state over the config's.
    const dataDir = server.dataDir;
    await server.app.close();
    server = await startServer({ ops: { adminToken: ADMIN } }, { dataDir });
    expect(await evaluated(server.url)).toEqual({ sse_streaming: false, websocket: true, realtime_ws: true });
    expect((await (await fetch(`${server.url}/v1/admin/flags`, { headers: admin })).json()).flags).toContainEqual({
      name: 'realtime_ws',
      enabled: true,
      rollout: 0,
      allow: ['ip:127.0.0.1'],
      deny: [],
    });
  });

  it('a change reaches every node sharing the change bus (in-process here; over Redis in cluster-shared-state.test.ts)', async () => {
    const bus = new InProcessFlagBus();
    server = await startServer({ ops: { adminToken: ADMIN } }, { flagBus: bus });
    const other = await startServer({}, { flagBus: bus });
    try {
      expect((await evaluated(other.url)).realtime_ws).toBe(true);
      expect((await put(server.url, 'realtime_ws', { enabled: false, rollout: 100 })).status).toBe(200);
      expect((await evaluated(other.url)).realtime_ws).toBe(false);
      const refused = await RawWs.open(`${other.url.replace(/^http/, 'ws')}/v1/ws`);
      expect((await refused.closed).code).toBe(4010);
    } finally {
      await other.close();
    }
  });

  it('admin routes take an admin user when no admin token is configured, and refuse everyone else', async () => {
    server = await startServer({ identity: { adminEmail: 'ops@example.test', adminPassword: 'ops admin password' } });
    const body = JSON.stringify({ enabled: false, rollout: 0 });
    const anonymous = await fetch(`${server.url}/v1/admin/flags/realtime_ws`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body });
    expect([anonymous.status, (await anonymous.json()).code]).toEqual([401, 'authentication_required']);
    const login = await (
      await fetch(`${server.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: 'ops@example.test', password: 'ops admin password' }),
      })
    ).json();
    const res = await fetch(`${server.url}/v1/admin/flags/realtime_ws`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${login.accessToken}`, 'Content-Type': 'application/json' },
      body,
    });
    expect(res.status).toBe(200);
    expect(await (await fetch(`${server.url}/v1/flags`)).json()).toMatchObject({ flags: { realtime_ws: false } });
    const audit = await (await fetch(`${server.url}/v1/admin/audit?action=flag.update`, { headers: { Authorization: `Bearer ${login.accessToken}` } })).json();
    expect(audit.rows).toEqual([expect.objectContaining({ action: 'flag.update', target: 'realtime_ws' })]);
  });

  it('the SDK outside realtime_ws falls back to SSE at once and stays there', async () => {
    server = await startRealtimeServer({ flags: { realtime_ws: { rollout: 0 } } });
    client = new RealtimeClient({ url: server.url, WebSocket: WS });
    const events: number[] = [];
    client.subscribe<{ i: number }>('public:rollout', { onEvent: (e) => events.push(e.data.i) });
    await expect.poll(() => client!.transportName).toBe('sse');
    await publishN(server.url, 'public:rollout', 2);
    await expect.poll(() => events).toEqual([1, 2]);
  });

  it('persists flags in PostgreSQL too', async () => {
    if (!(await postgresAvailable())) return;
    const schema = randomSchema();
    try {
      server = await startServer({ ops: { adminToken: ADMIN }, database: { url: TEST_DATABASE_URL, schema } });
      expect((await put(server.url, 'realtime_ws', { enabled: true, rollout: 42.5, deny: ['ip:10.1.1.1'] })).status).toBe(200);
      await server.close();
      server = await startServer({ ops: { adminToken: ADMIN }, database: { url: TEST_DATABASE_URL, schema } });
      const list = (await (await fetch(`${server.url}/v1/admin/flags`, { headers: admin })).json()).flags;
      expect(list).toContainEqual({ name: 'realtime_ws', enabled: true, rollout: 42.5, allow: [], deny: ['ip:10.1.1.1'] });
    } finally {
      await server?.close();
      server = undefined;
      await dropSchema(schema);
    }
  });
});
