import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { startServer, type TestServer } from './support/server.js';
import { allItems, FAST_JOBS, json, waitForJob } from './support/jobs.js';

const hasPostgres = await postgresAvailable();
const LIMIT = 4_096;

function form(file: { name: string; type: string; body: string } | undefined, fields: Record<string, string> = { models: 'demo/fast' }): FormData {
  const data = new FormData();
  for (const [k, v] of Object.entries(fields)) data.append(k, v);
  if (file) data.append('file', new Blob([file.body], { type: file.type }), file.name);
  return data;
}

describe.each([{ db: 'sqlite' as const }, { db: 'postgres' as const }])('job uploads on $db', ({ db }) => {
  let server: TestServer;
  const schema = randomSchema();
  const skip = () => db === 'postgres' && !hasPostgres;
  beforeAll(async () => {
    if (skip()) return;
    server = await startServer({
      jobs: { ...FAST_JOBS, uploadLimitBytes: LIMIT },
      demo: { speed: 400 },
      ...(db === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {}),
    });
  });
  afterAll(async () => {
    await server?.close();
    if (!skip() && db === 'postgres') await dropSchema(schema);
  });

  const upload = async (data: FormData) => {
    const res = await fetch(`${server.url}/v1/jobs`, { method: 'POST', body: data });
    return { status: res.status, json: await json(res) };
  };
  const jobCount = async () => (await json(await fetch(`${server.url}/v1/jobs?limit=200`))).jobs.length;

  it('creates a job from a JSONL file and from a CSV file (quoted fields, id and system columns)', async () => {
    if (skip()) return;
    const jsonl = await upload(
      form(
        {
          name: 'prompts.jsonl',
          type: 'application/octet-stream',
          body: '{"prompt":"first"}\r\n\n{"id":7,"prompt":"second","system":"be brief"}\n{"prompt":"third"}',
        },
        { models: 'demo/fast,demo/balanced', name: 'from jsonl', tier: 'brief' },
      ),
    );
    expect(jsonl.status).toBe(201);
    expect(jsonl.json).toMatchObject({ status: 'queued', total: 6 });
    const csv = await upload(
      form({
        name: 'prompts.csv',
        type: 'text/csv',
        body: 'id,prompt,system\r\na,"Hello, ""world""\nsecond line",\r\nb,plain,be terse\r\n',
      }),
    );
    expect(csv.status).toBe(201);
    expect(csv.json.total).toBe(2);
    const job = await waitForJob(server.url, csv.json.id);
    expect(job.status).toBe('succeeded');
    const items = await allItems(server.url, csv.json.id);
    expect(items.map((i) => [i.promptId, i.prompt, i.system])).toEqual([
      ['a', 'Hello, "world"\nsecond line', null],
      ['b', 'plain', 'be terse'],
    ]);
    const first = await allItems(server.url, jsonl.json.id, '&model=demo/balanced');
    expect(first.map((i) => [i.promptIndex, i.promptId, i.prompt])).toEqual([
      [0, null, 'first'],
      [1, '7', 'second'],
      [2, null, 'third'],
    ]);
    expect((await waitForJob(server.url, jsonl.json.id)).name).toBe('from jsonl');
  });

  it('rejects bad uploads with precise 4xx codes (line numbers for malformed lines) and creates nothing', async () => {
    if (skip()) return;
    const before = await jobCount();
    const cases: [FormData, number, string, number?][] = [
      [form({ name: 'p.jsonl', type: 'application/jsonl', body: '{"prompt":"ok"}\n\n{"prompt": nope}\n' }), 400, 'invalid_upload', 3],
      [form({ name: 'p.jsonl', type: 'application/jsonl', body: '{"prompt":"ok"}\n{"text":"no prompt"}\n' }), 400, 'invalid_upload', 2],
      [form({ name: 'p.jsonl', type: 'application/jsonl', body: '{"prompt":"ok"}\n["array"]\n' }), 400, 'invalid_upload', 2],
      [form({ name: 'p.csv', type: 'text/csv', body: 'prompt,id\nfine,1\n"unterminated,2\n' }), 400, 'invalid_upload', 3],
      [form({ name: 'p.csv', type: 'text/csv', body: 'prompt,id\nfine,1\ntoo,many,cells\n' }), 400, 'invalid_upload', 3],
      [form({ name: 'p.csv', type: 'text/csv', body: 'question\nwhat?\n' }), 400, 'invalid_upload', 1],
      [form({ name: 'p.csv', type: 'text/csv', body: 'prompt\nfine\n""\n' }), 400, 'invalid_upload', 3],
      [form({ name: 'p.jsonl', type: 'application/jsonl', body: '' }), 400, 'empty_upload'],
      [form({ name: 'p.jsonl', type: 'application/jsonl', body: '\n\n' }), 400, 'empty_upload'],
      [form({ name: 'p.csv', type: 'text/csv', body: 'prompt\n' }), 400, 'empty_upload'],
      [form({ name: 'p.jsonl', type: 'application/jsonl', body: `${'{"prompt":"x"}\n'.repeat(Math.ceil(LIMIT / 15) + 10)}` }), 413, 'upload_too_large'],
      [form({ name: 'notes.txt', type: 'text/plain', body: 'prompt\nhello\n' }), 415, 'unsupported_upload_type'],
      [form({ name: 'p.pdf', type: 'application/pdf', body: '%PDF-1.4' }), 415, 'unsupported_upload_type'],
      [form(undefined), 400, 'missing_file'],
      [form({ name: 'p.csv', type: 'text/csv', body: 'prompt\nhello\n' }, {}), 400, 'invalid_field'],
      [form({ name: 'p.csv', type: 'text/csv', body: 'prompt\nhello\n' }, { models: 'demo/nope' }), 400, 'invalid_model'],
      [form({ name: 'p.csv', type: 'text/csv', body: 'prompt\nhello\n' }, { models: 'demo/fast', colour: 'red' }), 400, 'unknown_field'],
    ];
    for (const [data, status, code, line] of cases) {
      const res = await upload(data);
      expect({ status: res.status, code: res.json.code }, JSON.stringify(res.json)).toEqual({ status, code });
      if (line !== undefined) {
        expect(res.json.line).toBe(line);
        expect(res.json.message).toContain(`Line ${line}`);
      }
    }
    expect(await jobCount()).toBe(before);
    // Spooled uploads are removed, whatever happened.
    expect(readdirSync(join(server.dataDir, 'uploads'))).toEqual([]);
  });
});
