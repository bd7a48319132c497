import pg from 'pg';
import SqliteDatabase from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { DATABASES, dropDatabase } from './support/backends.js';
import { createKey, signUp } from './support/identity.js';
import { TEST_DATABASE_URL } from './support/postgres.js';
import { startServer, type TestServer } from './support/server.js';
import { postJson } from './support/sse-client.js';

const ADMIN = { email: 'root@example.test', password: 'root password 1' };
const IDENTITY: ConfigInput['identity'] = {
  scrypt: { cost: 1024 },
  refreshReuseGraceSeconds: 0,
  adminEmail: ADMIN.email,
  adminPassword: ADMIN.password,
  limits: { anonymous: { responsesPerDay: 50, maxModels: 3 } },
};
const PROMPT = 'PRIVATE-PROMPT-7f3a: my secret plan';

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers });
  return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
};
const del = (url: string, headers: Record<string, string> = {}) => fetch(url, { method: 'DELETE', headers });

/** Every text cell of every table, for "nothing personal is left" checks. */
async function everyCell(server: TestServer, db: { url?: string; schema?: string }): Promise<string> {
  await server.app.ctx.store.flush();
  if (db.url) {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`set search_path to "${db.schema}"`);
      const { rows: tables } = await client.query(`select table_name from information_schema.tables where table_schema = $1`, [db.schema]);
      const out: unknown[] = [];
      for (const t of tables) out.push((await client.query(`select * from "${t.table_name}"`)).rows);
      return JSON.stringify(out);
    } finally {
      await client.end();
    }
  }
  const file = new SqliteDatabase(join(server.dataDir, 'tributary.db'), { readonly: true });
  try {
    const tables = file.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[];
    return JSON.stringify(tables.map((t) => file.prepare(`select * from "${t.name}"`).all()));
  } finally {
    file.close();
  }
}

describe.each(DATABASES)('ownership, export, erasure and audit on $name', ({ database, enabled }) => {
  let server: TestServer | undefined;
  let db: { url?: string; schema?: string } = {};
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await dropDatabase(db);
  });

  it.runIf(enabled)("user B gets 404 for user A's comparison stream, snapshot, conversation and cancel; anonymous ones stay reachable", async () => {
    db = database();
    server = await startServer({ database: db, identity: IDENTITY, demo: { speed: 2 } });
    const { url } = server;
    const a = await signUp(url);
    const b = await signUp(url);
    const started = await postJson(`${url}/v1/comparisons`, { prompt: 'Hi', models: ['demo/slow'] }, a.auth);
    expect(started.status).toBe(201);
    const { id, conversationId } = started.json;
    for (const who of [b.auth, {}]) {
      expect((await get(`${url}/v1/comparisons/${id}`, who)).json.code).toBe('comparison_not_found');
      expect((await get(`${url}/v1/comparisons/${id}/stream`, who)).json.code).toBe('comparison_not_found');
      expect((await (await del(`${url}/v1/comparisons/${id}`, who)).json()).code).toBe('comparison_not_found');
      const resumed = await postJson(`${url}/compare-stream`, {}, { ...who, 'Last-Event-ID': `comparison:${id}:x:1` });
      expect(resumed.status).toBe(404);
    }
    expect((await get(`${url}/v1/comparisons/${id}`, a.auth)).status).toBe(200);
    const cancel = await del(`${url}/v1/comparisons/${id}`, a.auth);
    expect(cancel.status).toBe(202);
    await server.app.ctx.comparisons.cancelOwned(a.userId);
    for (const who of [b.auth, {}]) {
      expect((await get(`${url}/v1/conversations/${conversationId}`, who)).json.code).toBe('conversation_not_found');
      const followUp = await postJson(`${url}/v1/comparisons`, { prompt: 'more', models: ['demo/fast'], conversationId }, who);
      expect(followUp.json.code).toBe('conversation_not_found');
    }
    expect((await get(`${url}/v1/conversations/${conversationId}`, a.auth)).status).toBe(200);
    expect((await get(`${url}/v1/comparisons`, b.auth)).json.comparisons).toEqual([]);
    expect((await get(`${url}/v1/comparisons`, a.auth)).json.comparisons.map((c: { id: string }) => c.id)).toEqual([id]);

    const anon = await postJson(`${url}/v1/comparisons`, { prompt: 'Hi', models: ['demo/fast'] });
    expect((await get(`${url}/v1/comparisons/${anon.json.id}`, b.auth)).status).toBe(200);
  });

  it.runIf(enabled)('export returns everything; after erase nothing personal is left; every audited action has a row without prompt text', async () => {
    db = database();
    server = await startServer({ database: db, identity: IDENTITY });
    const { url } = server;
    const user = await signUp(url, 'erase-me@example.test');
    await postJson(`${url}/v1/auth/login`, { email: user.email, password: 'wrong password' }); // login failed
    await postJson(`${url}/v1/auth/login`, { email: user.email, password: user.password }); // login
    const refreshed = await postJson(`${url}/v1/auth/refresh`, { refreshToken: user.refreshToken });
    await postJson(`${url}/v1/auth/refresh`, { refreshToken: user.refreshToken }); // reuse: that session is revoked
    const session = await postJson(`${url}/v1/auth/login`, { email: user.email, password: user.password });
    const auth = { Authorization: `Bearer ${session.json.accessToken}` };
    expect(refreshed.status).toBe(200);
    const compared = await postJson(`${url}/compare`, { input_data: PROMPT, models: ['demo/fast', 'demo/balanced'] }, auth);
    expect(compared.status).toBe(200);
    const { id: keyId, key } = await createKey(url, { ...user, auth }, ['compare']);
    await postJson(`${url}/compare`, { input_data: PROMPT, models: ['demo/fast'] }, { Authorization: `Bearer ${key}` });
    await del(`${url}/v1/keys/${keyId}`, auth);
    // A batch job of theirs: its prompts are personal too.
    const job = await postJson(`${url}/v1/jobs`, { prompts: [PROMPT], models: ['demo/fast'], tier: 'brief' }, auth);
    expect(job.status).toBe(201);
    await expect.poll(async () => (await get(`${url}/v1/jobs/${job.json.id}`, auth)).json.status, { timeout: 10_000 }).toBe('succeeded');
    await postJson(`${url}/compare`, { input_data: PROMPT, models: ['demo/fast', 'demo/slow', 'demo/balanced', 'demo/verbose'] }); // limit violation (4 models)
    const admin = (await postJson(`${url}/v1/auth/login`, ADMIN)).json;
    const adminAuth = { Authorization: `Bearer ${admin.accessToken}` };
    await fetch(`${url}/v1/admin/users/${user.userId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...adminAuth },
      body: JSON.stringify({ role: 'user', tier: null }),
    });

    const exported = await get(`${url}/v1/me/export`, auth);
    expect(exported.status).toBe(200);
    const data = exported.json;
    expect(data.user).toMatchObject({ id: user.userId, email: 'erase-me@example.test' });
    expect(data.apiKeys).toHaveLength(1);
    expect(data.comparisons).toHaveLength(2);
    expect(data.comparisons.every((c: { prompt: string }) => c.prompt === PROMPT)).toBe(true);
    expect(data.conversations).toHaveLength(2);
    expect(data.conversations[0].messages.some((m: { content: string }) => m.content === PROMPT)).toBe(true);
    expect(data.usage).toHaveLength(2);
    expect(data.usage.map((u: { outputTokens: number }) => u.outputTokens).every((n: number) => n > 0)).toBe(true);
    expect(data.sessions.length).toBeGreaterThanOrEqual(2);
    expect(data.audit.map((r: { action: string }) => r.action)).toEqual(expect.arrayContaining(['auth.register', 'auth.login', 'key.create', 'key.revoke']));
    expect(data.jobs).toHaveLength(1);
    expect(data.jobs[0].prompts.map((p: { prompt: string }) => p.prompt)).toEqual([PROMPT]);
    expect(data.jobs[0].items).toEqual([expect.objectContaining({ model: 'demo/fast', status: 'succeeded' })]);

    const usage = await get(`${url}/v1/me/usage`, auth);
    expect(usage.json.totals.responses).toBe(3); // comparisons; job items are not charged as responses
    expect((await get(`${url}/v1/admin/usage`, adminAuth)).json.lines.some((l: { owner: string }) => l.owner === user.userId)).toBe(true);

    const before = await everyCell(server, db);
    expect(before).toContain('erase-me@example.test');
    expect(before).toContain(PROMPT);
    expect((await del(`${url}/v1/me`, auth)).status).toBe(200);
    expect((await get(`${url}/v1/me`, auth)).json.code).toBe('token_revoked');
    expect((await postJson(`${url}/compare`, { input_data: 'x', models: ['demo/fast'] }, { Authorization: `Bearer ${key}` })).json.code).toBe('invalid_key');

    const after = await everyCell(server, db);
    for (const personal of ['erase-me@example.test', PROMPT, user.userId, keyId]) {
      const at = after.indexOf(personal);
      expect(at < 0 ? '' : after.slice(Math.max(0, at - 300), at + 100)).toBe('');
    }
    // Usage stays for the operator's figures, anonymised; the seed's monitoring queries still count it.
    const figures = await server.app.ctx.store.monitoring();
    expect(figures.successful).toBe(2 + 1);
    expect(figures.mostUsedModels).toEqual(
      expect.arrayContaining([
        { modelsUsed: 'demo/balanced,demo/fast', usageCount: 1 },
        { modelsUsed: 'demo/fast', usageCount: 1 },
      ]),
    );

    const audit = await get(`${url}/v1/admin/audit?limit=500`, adminAuth);
    const actions = audit.json.rows.map((r: { action: string }) => r.action);
    for (const action of [
      'auth.register',
      'auth.login',
      'auth.login_failed',
      'auth.refresh_reuse',
      'key.create',
      'key.revoke',
      'limit.exceeded',
      'admin.user_update',
      'privacy.export',
      'privacy.erase',
    ]) {
      expect(actions).toContain(action);
    }
    expect(JSON.stringify(audit.json)).not.toContain('PRIVATE-PROMPT');
    const failed = audit.json.rows.find((r: { action: string }) => r.action === 'auth.login_failed');
    expect(failed).toMatchObject({ outcome: 'denied', details: { reason: 'wrong_password' } });
    expect((await get(`${url}/v1/admin/audit?action=admin.user_update`, adminAuth)).json.rows).toHaveLength(1);
    const page = await get(`${url}/v1/admin/audit?limit=2`, adminAuth);
    expect(page.json.rows).toHaveLength(2);
    const next = await get(`${url}/v1/admin/audit?limit=2&before=${page.json.nextBefore}`, adminAuth);
    expect(next.json.rows[0].id).toBeLessThan(page.json.rows[1].id);

    // Retention: rows older than 90 days go at the scheduled purge.
    expect(await server.app.ctx.identity.audit.purge(new Date(Date.now() + 91 * 86_400_000))).toBeGreaterThan(0);
    expect((await get(`${url}/v1/admin/audit`, adminAuth)).json.rows).toEqual([]);
  });

  it.runIf(enabled)('the scheduled purge removes audit rows past their retention', async () => {
    db = database();
    // One second of retention, a purge every 300 ms.
    server = await startServer({ database: db, identity: { ...IDENTITY, audit: { retentionDays: 1 / 86_400, purgeIntervalMinutes: 0.005 } } });
    await postJson(`${server.url}/v1/auth/login`, { email: 'nobody@example.test', password: 'nope' });
    const { audit } = server.app.ctx.identity;
    expect((await audit.list({ action: 'auth.login_failed', limit: 10 })).rows).toHaveLength(1);
    await expect.poll(async () => (await audit.list({ action: 'auth.login_failed', limit: 10 })).rows.length, { timeout: 10_000, interval: 200 }).toBe(0);
  });

  it.runIf(enabled)('audit rows queued at shutdown are all written', async () => {
    db = database();
    server = await startServer({ database: db, identity: IDENTITY, usage: { flushIntervalMs: 60_000, batchSize: 10_000 } });
    for (let i = 0; i < 5; i++) await postJson(`${server.url}/v1/auth/login`, { email: `x${i}@example.test`, password: 'nope' });
    const dataDir = server.dataDir;
    await server.app.close();
    const second = await startServer({ database: db, identity: IDENTITY }, { dataDir });
    try {
      const rows = await second.app.ctx.identity.audit.list({ action: 'auth.login_failed', limit: 100 });
      expect(rows.rows).toHaveLength(5);
    } finally {
      await second.close();
      await server.close();
    }
  });
});
