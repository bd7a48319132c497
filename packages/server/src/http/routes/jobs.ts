import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TributaryError } from '../../errors.js';
import { promptFileKind, readPromptFile } from '../../jobs/prompt-file.js';
import { jobTopic, type CreateJob, type JobPrompt } from '../../jobs/types.js';
import type { ItemWithPrompt } from '../../jobs/job-store.js';
import type { AppContext } from '../context.js';
import { ownerOf } from '../../identity/types.js';
import { admitModels } from '../identity.js';
import { requesterOf } from '../job-owner.js';
import { streamJob } from '../job-stream.js';
import { createJobBody, itemsQuery, jobIdParams, jobStreamQuery, listJobsQuery, resultsQuery, retryQuery, uploadFields } from '../job-schemas.js';
import { lastEventIdOf } from '../last-event-id.js';
import { parseInput } from '../validate.js';
import { ADMISSION_ERRORS, api } from '../openapi.js';

/** Batch jobs under /v1/jobs: thin over JobService. */
export async function jobRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const { jobs } = ctx;
  const limit = ctx.config.jobs.uploadLimitBytes;
  await app.register(multipart, { limits: { fileSize: limit, files: 1, fields: 20, fieldSize: 100_000, parts: 30 } });

  app.post(
    '/v1/jobs',
    api({
      summary: 'Create a batch job (JSON, or a .jsonl/.csv upload)',
      tags: ['jobs'],
      body: createJobBody,
      upload: uploadFields,
      status: 201,
      errors: [...ADMISSION_ERRORS, 'too_many_items', 'missing_file', 'empty_upload', 'upload_too_large', 'invalid_upload', 'unsupported_upload_type'],
    }),
    async (request, reply) => {
      const input = request.isMultipart() ? await fromUpload(request, ctx) : fromJson(request);
      // Every item is a model response: the whole job is charged before anything runs (given back if refused).
      const created = await admitModels(
        request,
        reply,
        ctx,
        {
          scope: 'compare',
          models: input.models,
          responses: input.prompts.length * new Set(input.models).size,
          tier: input.tier,
        },
        (caller) => jobs.create({ ...input, owner: ownerOf(caller) ?? undefined }),
      );
      return reply.code(201).header('Location', `/v1/jobs/${created.id}`).send(created);
    },
  );

  app.get('/v1/jobs', api({ summary: 'List jobs', tags: ['jobs'], query: listJobsQuery, errors: ['invalid_cursor'] }), async (request) => {
    const q = parseInput(listJobsQuery, request.query, 'query');
    return jobs.list(await requesterOf(request, ctx), q);
  });

  app.get('/v1/jobs/:id', api({ summary: 'A job and its progress', tags: ['jobs'], params: jobIdParams, errors: ['job_not_found'] }), async (request) => {
    const { id } = parseInput(jobIdParams, request.params, 'path');
    return jobs.view(id, await requesterOf(request, ctx));
  });

  app.get(
    '/v1/jobs/:id/items',
    api({ summary: "A job's items, a page at a time", tags: ['jobs'], params: jobIdParams, query: itemsQuery, errors: ['job_not_found', 'invalid_cursor'] }),
    async (request) => {
      const { id } = parseInput(jobIdParams, request.params, 'path');
      const q = parseInput(itemsQuery, request.query, 'query');
      return jobs.items(id, await requesterOf(request, ctx), q);
    },
  );

  app.get(
    '/v1/jobs/:id/results',
    api({
      summary: 'Download the results (JSON Lines or CSV)',
      tags: ['jobs'],
      params: jobIdParams,
      query: resultsQuery,
      produces: 'any',
      errors: ['job_not_found'],
    }),
    async (request, reply) => {
      const { id } = parseInput(jobIdParams, request.params, 'path');
      const { format } = parseInput(resultsQuery, request.query, 'query');
      await jobs.require(id, await requesterOf(request, ctx));
      const rows = jobs.allItems(id);
      const body = format === 'csv' ? csvLines(rows) : jsonLines(rows);
      reply.header('Content-Type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
      reply.header('Content-Disposition', `attachment; filename="${id}.${format}"`);
      return reply.send(Readable.from(body));
    },
  );

  app.get(
    '/v1/jobs/:id/stream',
    api({
      summary: 'Live progress (SSE, resumable with Last-Event-ID)',
      tags: ['jobs'],
      params: jobIdParams,
      query: jobStreamQuery,
      produces: 'text/event-stream',
      errors: ['job_not_found', 'invalid_last_event_id'],
    }),
    async (request, reply) => {
      const { id } = parseInput(jobIdParams, request.params, 'path');
      parseInput(jobStreamQuery, request.query, 'query');
      const last = lastEventIdOf(request);
      if (last && last.key !== jobTopic(id)) throw new TributaryError('invalid_last_event_id', 'Last-Event-ID belongs to another stream.');
      return streamJob(ctx.jobStream, reply, id, await requesterOf(request, ctx), last?.position);
    },
  );

  const cancel = async (request: FastifyRequest) => {
    const { id } = parseInput(jobIdParams, request.params, 'path');
    return jobs.cancel(id, await requesterOf(request, ctx));
  };
  app.post('/v1/jobs/:id/cancel', api({ summary: 'Cancel a job', tags: ['jobs'], params: jobIdParams, errors: ['job_not_found'] }), cancel);
  app.delete('/v1/jobs/:id', api({ summary: 'Cancel a job (same as POST …/cancel)', tags: ['jobs'], params: jobIdParams, errors: ['job_not_found'] }), cancel);

  app.post(
    '/v1/jobs/:id/retry',
    api({
      summary: 'Retry the failed (and optionally cancelled) items',
      tags: ['jobs'],
      params: jobIdParams,
      query: retryQuery,
      status: 202,
      errors: ['job_not_found', 'job_running', 'nothing_to_retry'],
    }),
    async (request, reply) => {
      const { id } = parseInput(jobIdParams, request.params, 'path');
      const { include } = parseInput(retryQuery, request.query, 'query');
      return reply.code(202).send(await jobs.retry(id, await requesterOf(request, ctx), { includeCancelled: include === 'cancelled' }));
    },
  );
}

function fromJson(request: FastifyRequest): Omit<CreateJob, 'owner'> {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new TributaryError('unsupported_media_type', 'Send the job as application/json, or a file as multipart/form-data.');
  }
  return parseInput(createJobBody, request.body);
}

const MULTIPART_LIMITS: Record<string, string> = {
  FST_FILES_LIMIT: 'Upload one file per job.',
  FST_PARTS_LIMIT: 'Too many form parts.',
  FST_FIELDS_LIMIT: 'Too many form fields.',
};

/** A multipart upload: the `file` part streamed to disk while parsed, beside the job's form fields. */
async function fromUpload(request: FastifyRequest, ctx: AppContext): Promise<Omit<CreateJob, 'owner'>> {
  const dir = join(ctx.config.dataDir, 'uploads');
  await mkdir(dir, { recursive: true });
  const fields: Record<string, string | string[]> = {};
  let prompts: JobPrompt[] | undefined;
  const files: string[] = [];
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        const value = String(part.value);
        const had = fields[part.fieldname];
        fields[part.fieldname] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
        continue;
      }
      if (part.fieldname !== 'file') {
        part.file.resume();
        throw new TributaryError('unknown_field', `Unknown file field ${part.fieldname}: send the prompts as "file".`, { fields: [part.fieldname] });
      }
      const kind = promptFileKind(part.filename, part.mimetype);
      if (!kind) {
        part.file.resume();
        throw new TributaryError('unsupported_upload_type', `${part.filename || 'The file'} (${part.mimetype}) is neither JSON Lines (.jsonl) nor CSV (.csv).`);
      }
      const file = join(dir, `upload-${randomBytes(8).toString('hex')}.${kind}`);
      files.push(file);
      prompts = await readPromptFile(part.file, kind, file, ctx.config.jobs.uploadLimitBytes);
    }
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'FST_REQ_FILE_TOO_LARGE')
      throw new TributaryError('upload_too_large', `The file is larger than ${ctx.config.jobs.uploadLimitBytes} bytes.`, {
        limitBytes: ctx.config.jobs.uploadLimitBytes,
      });
    if (MULTIPART_LIMITS[code]) throw new TributaryError('invalid_field', MULTIPART_LIMITS[code], { field: 'file' });
    if (err instanceof TributaryError) throw err;
    throw new TributaryError('invalid_upload', `The multipart body is malformed: ${(err as Error).message}`);
  } finally {
    // The prompts are in memory (and soon in the database); the spooled copy is not kept.
    await Promise.all(files.map((f) => rm(f, { force: true })));
  }
  if (!prompts) throw new TributaryError('missing_file', 'Send the prompts as a "file" part (JSON Lines or CSV).');
  const f = parseInput(uploadFields, fields);
  return { name: f.name, prompts, models: f.models, tier: f.tier, concurrency: f.concurrency, params: f.params };
}

const EXPORT_COLUMNS = [
  'prompt_index',
  'prompt_id',
  'prompt',
  'model',
  'status',
  'attempts',
  'text',
  'error_code',
  'error_message',
  'suggested_action',
  'finish_reason',
  'input_tokens',
  'output_tokens',
  'ttft_ms',
  'duration_ms',
  'tokens_per_second',
  'started_at',
  'finished_at',
] as const;

function exportRow(item: ItemWithPrompt): Record<(typeof EXPORT_COLUMNS)[number], string | number | null> {
  return {
    prompt_index: item.promptIndex,
    prompt_id: item.promptId,
    prompt: item.prompt,
    model: item.model,
    status: item.status,
    attempts: item.attempts,
    text: item.text,
    error_code: item.error?.code ?? null,
    error_message: item.error?.message ?? null,
    suggested_action: item.error?.suggestedAction ?? null,
    finish_reason: item.finishReason,
    input_tokens: item.inputTokens,
    output_tokens: item.outputTokens,
    ttft_ms: item.ttftMs,
    duration_ms: item.durationMs,
    tokens_per_second: item.tokensPerSecond,
    started_at: item.startedAt,
    finished_at: item.finishedAt,
  };
}

async function* jsonLines(rows: AsyncIterable<ItemWithPrompt>): AsyncGenerator<string> {
  for await (const item of rows) yield `${JSON.stringify(exportRow(item))}\n`;
}

/** RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled. */
const csvField = (v: string | number | null) => {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

async function* csvLines(rows: AsyncIterable<ItemWithPrompt>): AsyncGenerator<string> {
  yield `${EXPORT_COLUMNS.join(',')}\r\n`;
  for await (const item of rows) {
    const row = exportRow(item);
    yield `${EXPORT_COLUMNS.map((c) => csvField(row[c])).join(',')}\r\n`;
  }
}
