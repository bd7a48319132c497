import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import type { StreamHub } from '../streams/hub.js';
import type { JobRunner } from './job-runner.js';
import { progressOf, publishDone } from './job-runner.js';
import type { ItemWithPrompt, JobStore } from './job-store.js';
import { isTerminal, type CreateJob, type ItemStatus, type JobRecord, type JobStatus, type JobView, type ModelSummary, type StateCounts } from './types.js';

const newJobId = () => `job_${randomBytes(16).toString('base64url')}`;

/** Who asks: the owner a request's identity gives, or undefined for an anonymous caller. */
export type Requester = string | undefined;

export interface JobPage {
  jobs: (JobRecord & { counts: StateCounts; progress: ReturnType<typeof progressOf> })[];
  nextCursor: string | null;
}

/** Jobs: create, read, cancel, retry, export. Knows nothing of HTTP; the runner does the work. */
export class JobService {
  constructor(
    private readonly deps: {
      store: JobStore;
      runner: JobRunner;
      hub: StreamHub;
      catalogue: ModelCatalogue;
      config: Config['jobs'];
      compare: Config['compare'];
    },
  ) {}

  async create(input: CreateJob): Promise<{ id: string; status: JobStatus; total: number; streamUrl: string }> {
    const { config, compare, catalogue } = this.deps;
    const models = [...new Set(input.models)];
    if (models.length > compare.maxModels) {
      throw new TributaryError('too_many_models', `At most ${compare.maxModels} models per job; got ${models.length}.`, { max: compare.maxModels });
    }
    const unknown = models.filter((m) => !catalogue.resolve(m));
    if (unknown.length > 0)
      throw new TributaryError('invalid_model', `Unknown model${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}.`, { models: unknown });
    if (input.prompts.length === 0) throw new TributaryError('empty_prompt', 'The job has no prompts.');
    const total = input.prompts.length * models.length;
    if (total > config.maxItems) {
      throw new TributaryError('too_many_items', `A job may have ${config.maxItems} items (prompts × models); this one has ${total}.`, {
        max: config.maxItems,
        total,
      });
    }
    const tier = compare.tiers[input.tier];
    input.prompts.forEach((p, index) => {
      if (p.prompt.trim() === '') throw new TributaryError('empty_prompt', `Prompt ${index + 1} is empty.`, { index });
      const length = p.prompt.length + (p.system?.length ?? 0);
      if (length > tier.maxInputChars) {
        throw new TributaryError('input_too_long', `Prompt ${index + 1} has ${length} characters; the ${input.tier} tier accepts ${tier.maxInputChars}.`, {
          index,
          maxInputChars: tier.maxInputChars,
        });
      }
    });
    const concurrency = Math.min(input.concurrency ?? config.perJobConcurrency, config.maxPerJobConcurrency);
    const createdAt = new Date();
    const record: JobRecord = {
      id: newJobId(),
      owner: input.owner ?? null,
      name: input.name?.trim() || `Job ${createdAt.toISOString().slice(0, 16).replace('T', ' ')}`,
      status: 'queued',
      tier: input.tier,
      models,
      params: input.params ?? null,
      concurrency,
      total,
      createdAt: createdAt.toISOString(),
      startedAt: null,
      finishedAt: null,
    };
    await this.deps.store.insert(record, input.prompts);
    this.deps.runner.wake();
    return { id: record.id, status: record.status, total, streamUrl: streamUrlOf(record.id) };
  }

  /**
   * The job if `requester` may see it, else job_not_found (another owner's job is not
   * revealed). The one owner check: identity plugs in here.
   */
  async require(id: string, requester: Requester): Promise<JobRecord> {
    const job = await this.deps.store.get(id);
    if (!job || !visibleTo(job, requester)) throw new TributaryError('job_not_found', `No job ${id}.`);
    return job;
  }

  /** Whether `requester` may read the job (the realtime channel `job:<id>`): the same check as `require`. */
  async mayRead(id: string, requester: Requester): Promise<boolean> {
    const job = await this.deps.store.get(id);
    return job !== undefined && visibleTo(job, requester);
  }

  async list(requester: Requester, opts: { limit: number; status?: JobStatus | undefined; cursor?: string | undefined }): Promise<JobPage> {
    const before = opts.cursor === undefined ? undefined : decodeListCursor(opts.cursor);
    const jobs = await this.deps.store.list({ limit: opts.limit + 1, status: opts.status, owner: requester ?? null, before });
    const page = jobs.slice(0, opts.limit);
    const counts = await this.deps.store.countsOf(page.map((j) => j.id));
    const last = page.at(-1);
    return {
      jobs: page.map((j) => ({ ...j, counts: counts.get(j.id)!, progress: progressOf(counts.get(j.id)!, j.total) })),
      nextCursor: jobs.length > opts.limit && last ? encodeCursor(`${Date.parse(last.createdAt)}:${last.id}`) : null,
    };
  }

  async view(id: string, requester: Requester): Promise<JobView> {
    const job = await this.require(id, requester);
    const counts = (await this.deps.store.countsOf([id])).get(id)!;
    const live = this.deps.runner.liveProgress(id);
    const progress = { ...progressOf(counts, job.total), etaMs: isTerminal(job.status) ? 0 : (live?.etaMs ?? null) };
    return { ...job, counts, progress, summary: await this.summary(job), streamUrl: streamUrlOf(id) };
  }

  async items(
    id: string,
    requester: Requester,
    q: { limit: number; cursor?: string | undefined; status?: ItemStatus | undefined; model?: string | undefined },
  ): Promise<{ items: ItemWithPrompt[]; nextCursor: string | null }> {
    await this.require(id, requester);
    const after = q.cursor === undefined ? undefined : decodeItemCursor(q.cursor);
    const rows = await this.deps.store.items(id, { limit: q.limit + 1, after, status: q.status, model: q.model });
    const items = rows.slice(0, q.limit);
    return { items, nextCursor: rows.length > q.limit ? encodeCursor(items.at(-1)!.id) : null };
  }

  /** Every item in order, a page at a time (the export streams it). */
  async *allItems(id: string): AsyncGenerator<ItemWithPrompt> {
    let after: string | undefined;
    for (;;) {
      const rows = await this.deps.store.items(id, { limit: 500, after });
      yield* rows;
      if (rows.length < 500) return;
      after = rows.at(-1)!.id;
    }
  }

  /** Stops queued items and aborts in-flight provider calls; a finished job stays as it is. */
  async cancel(id: string, requester: Requester): Promise<{ id: string; status: JobStatus }> {
    const job = await this.require(id, requester);
    if (!(await this.deps.store.cancel(id))) return { id, status: job.status };
    this.deps.runner.abortJob(id);
    const counts = (await this.deps.store.countsOf([id])).get(id)!;
    await publishDone(this.deps.hub, id, 'cancelled', counts, job.total);
    return { id, status: 'cancelled' };
  }

  /** Everything held of one owner's jobs (privacy export). */
  exportOwned(owner: string) {
    return this.deps.store.ownedBy(owner);
  }

  /** Stops and deletes every job of one owner (privacy erasure). */
  async eraseOwned(owner: string): Promise<void> {
    for (const id of await this.deps.store.deleteOwnedBy(owner)) this.deps.runner.abortJob(id);
  }

  /** Re-runs failed items (and cancelled ones when asked); succeeded results are not touched. */
  async retry(id: string, requester: Requester, opts: { includeCancelled: boolean }): Promise<{ id: string; status: JobStatus; retried: number }> {
    const job = await this.require(id, requester);
    if (!isTerminal(job.status))
      throw new TributaryError('job_running', `Job ${id} is still ${job.status}; retry it once it has ended.`, { status: job.status });
    const statuses: ItemStatus[] = opts.includeCancelled ? ['failed', 'cancelled'] : ['failed'];
    const retried = await this.deps.store.retry(id, statuses);
    if (retried === 0) throw new TributaryError('nothing_to_retry', `Job ${id} has no ${statuses.join(' or ')} items.`);
    this.deps.runner.wake();
    return { id, status: 'queued', retried };
  }

  private async summary(job: JobRecord): Promise<ModelSummary[]> {
    const rows = new Map((await this.deps.store.modelFigures(job.id)).map((r) => [r.model, r]));
    return Promise.all(
      job.models.map(async (model): Promise<ModelSummary> => {
        const r = rows.get(model);
        const finished = Number(r?.finished ?? 0);
        const succeeded = Number(r?.succeeded ?? 0);
        const inputTokens = Number(r?.input_tokens ?? 0);
        const outputTokens = Number(r?.output_tokens ?? 0);
        const num = (v: number | string | null | undefined) => (v === null || v === undefined ? null : Number(v));
        const meanTtft = num(r?.mean_ttft);
        const rate = num(r?.tokens_per_second);
        const pricing = this.deps.catalogue.resolve(model)?.info.pricing;
        return {
          model,
          finished,
          succeeded,
          failed: finished - succeeded,
          successRate: finished ? round(succeeded / finished, 4) : null,
          meanTtftMs: meanTtft === null ? null : Math.round(meanTtft),
          p95TtftMs: await this.deps.store.p95Ttft(job.id, model, succeeded),
          tokensPerSecond: rate === null ? null : round(rate, 1),
          inputTokens,
          outputTokens,
          costUsd: pricing ? round((inputTokens * pricing.inputPerMillion + outputTokens * pricing.outputPerMillion) / 1e6, 6) : null,
        };
      }),
    );
  }
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

export function streamUrlOf(id: string): string {
  return `/v1/jobs/${id}/stream`;
}

const encodeCursor = (s: string) => Buffer.from(s).toString('base64url');

function decodeListCursor(cursor: string): { createdAt: number; id: string } {
  const m = /^(\d{1,15}):(job_[A-Za-z0-9_-]{1,64})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new TributaryError('invalid_cursor', 'The cursor is not one this server issued.');
  return { createdAt: Number(m[1]), id: m[2]! };
}

function decodeItemCursor(cursor: string): string {
  const s = Buffer.from(cursor, 'base64url').toString();
  if (!/^\d{1,18}$/.test(s)) throw new TributaryError('invalid_cursor', 'The cursor is not one this server issued.');
  return s;
}

/** A user's job is its owner's alone; an anonymous one is reached by its unguessable id. */
const visibleTo = (job: JobRecord, requester: Requester) => job.owner === null || job.owner === requester;
