import type { Dialect } from '../store/database.js';
import type { TierName } from '../config/schema.js';
import { emptyCounts } from './job-queue.js';
import type { JobItemsTable, JobsDb, JobsTable } from './tables.js';
import type { ItemStatus, JobItem, JobParams, JobPrompt, JobQueueStats, JobRecord, JobStatus, StateCounts } from './types.js';
import { CompiledQuery, sql, type Selectable } from 'kysely';

const INSERT_CHUNK = 500;
const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

export interface ItemQuery {
  limit: number;
  /** The last item id of the previous page. */
  after?: string | undefined;
  status?: ItemStatus | undefined;
  model?: string | undefined;
}

export type ItemWithPrompt = JobItem & { prompt: string; system: string | null };

/** Job rows: the SQL behind JobService and the runner (the queue's leases live in DbJobQueue). */
export class JobStore {
  private fullChunkSql: string | undefined;

  constructor(
    readonly db: JobsDb,
    readonly dialect: Dialect,
  ) {}

  /** The job, its prompts and one queued item per (prompt, model), in one transaction. */
  async insert(job: JobRecord, prompts: JobPrompt[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('jobs')
        .values({
          id: job.id,
          owner: job.owner,
          name: job.name,
          status: job.status,
          tier: job.tier,
          models: JSON.stringify(job.models),
          params: job.params ? JSON.stringify(job.params) : null,
          concurrency: job.concurrency,
          total: job.total,
          created_at: Date.parse(job.createdAt),
          started_at: null,
          finished_at: null,
        })
        .execute();
      for (let i = 0; i < prompts.length; i += INSERT_CHUNK) {
        const chunk = prompts.slice(i, i + INSERT_CHUNK);
        const parameters: unknown[] = [];
        chunk.forEach((p, k) => parameters.push(job.id, i + k, p.id ?? null, p.prompt, p.system ?? null));
        await trx.executeQuery(CompiledQuery.raw(this.insertPromptsSql(chunk.length), parameters));
      }
      // One queued item per (prompt, model), made from the stored prompts by one statement
      // (building and binding a multi-row insert cost more than the rows): ids go prompt by
      // prompt, models in the job's order.
      const models = sql.join(job.models.map((model, k) => sql`(${model}, ${sql.lit(k)})`));
      await sql`insert into job_items (job_id, prompt_index, model, status)
        select p.job_id, p.prompt_index, m.column1, 'queued' from job_prompts p cross join (values ${models}) as m
        where p.job_id = ${job.id} order by p.prompt_index, m.column2`.execute(trx);
    });
  }

  /** The insert of n prompts as SQL text (a full chunk's is kept): Kysely's compile of a 500-row insert cost more than running it. */
  private insertPromptsSql(n: number): string {
    if (n === INSERT_CHUNK && this.fullChunkSql) return this.fullChunkSql;
    let p = 0;
    const param = () => (this.dialect === 'postgres' ? `$${++p}` : '?');
    const rows = Array.from({ length: n }, () => `(${param()}, ${param()}, ${param()}, ${param()}, ${param()})`).join(', ');
    const text = `insert into job_prompts (job_id, prompt_index, prompt_id, prompt, system) values ${rows}`;
    if (n === INSERT_CHUNK) this.fullChunkSql = text;
    return text;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toJob(row) : undefined;
  }

  /** Newest first, of one owner (null: the anonymous jobs); `before` is the previous page's last job. */
  async list(opts: {
    limit: number;
    status?: JobStatus | undefined;
    owner: string | null;
    before?: { createdAt: number; id: string } | undefined;
  }): Promise<JobRecord[]> {
    let q = this.db.selectFrom('jobs').selectAll();
    if (opts.status) q = q.where('status', '=', opts.status);
    q = opts.owner === null ? q.where('owner', 'is', null) : q.where('owner', '=', opts.owner);
    const before = opts.before;
    if (before) q = q.where((w) => w.or([w('created_at', '<', before.createdAt), w.and([w('created_at', '=', before.createdAt), w('id', '<', before.id)])]));
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
    return rows.map(toJob);
  }

  /** Every job of one owner with its prompts and items (privacy export). */
  async ownedBy(owner: string): Promise<{ job: JobRecord; prompts: (JobPrompt & { index: number })[]; items: JobItem[] }[]> {
    const jobs = await this.db.selectFrom('jobs').selectAll().where('owner', '=', owner).orderBy('created_at').execute();
    const out = [];
    for (const row of jobs) {
      const prompts = await this.db.selectFrom('job_prompts').selectAll().where('job_id', '=', row.id).orderBy('prompt_index').execute();
      const items = await this.db.selectFrom('job_items').selectAll().where('job_id', '=', row.id).orderBy('id').execute();
      out.push({
        job: toJob(row),
        prompts: prompts.map((p) => ({ index: p.prompt_index, id: p.prompt_id ?? undefined, prompt: p.prompt, system: p.system ?? undefined })),
        items: items.map((i) => toItem(i, null)),
      });
    }
    return out;
  }

  /** Deletes every job of one owner, prompts and items included (privacy erasure); their ids. */
  async deleteOwnedBy(owner: string): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const ids = (await trx.selectFrom('jobs').select('id').where('owner', '=', owner).execute()).map((r) => r.id);
      if (ids.length === 0) return ids;
      await trx.deleteFrom('job_items').where('job_id', 'in', ids).execute();
      await trx.deleteFrom('job_prompts').where('job_id', 'in', ids).execute();
      await trx.deleteFrom('jobs').where('id', 'in', ids).execute();
      return ids;
    });
  }

  async countsOf(ids: string[]): Promise<Map<string, StateCounts>> {
    const out = new Map(ids.map((id) => [id, emptyCounts()]));
    if (ids.length === 0) return out;
    const rows = await this.db
      .selectFrom('job_items')
      .select(['job_id', 'status', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('job_id', 'in', ids)
      .groupBy(['job_id', 'status'])
      .execute();
    for (const r of rows) out.get(r.job_id)![r.status as ItemStatus] = Number(r.n);
    return out;
  }

  /**
   * Jobs by state and the items queued and running, in one statement so that the figures agree
   * (an item claimed between two reads counted twice); the items' counts use the partial indexes.
   */
  async queueStats(): Promise<JobQueueStats> {
    const { rows } = await sql<{ k: string; n: number | string }>`
      select status as k, count(*) as n from jobs group by status
      union all select '.queued', count(*) from job_items where status = 'queued'
      union all select '.running', count(*) from job_items where status = 'running'`.execute(this.db);
    const stats: JobQueueStats = { jobs: emptyCounts(), queuedItems: 0, runningItems: 0 };
    for (const { k, n } of rows) {
      if (k === '.queued') stats.queuedItems = Number(n);
      else if (k === '.running') stats.runningItems = Number(n);
      else stats.jobs[k as JobStatus] = Number(n);
    }
    return stats;
  }

  /** Jobs a runner should work on. */
  async active(): Promise<JobRecord[]> {
    const rows = await this.db.selectFrom('jobs').selectAll().where('status', 'in', ['queued', 'running']).orderBy('created_at').execute();
    return rows.map(toJob);
  }

  async prompts(jobId: string, indexes: number[]): Promise<Map<number, { prompt: string; system: string | null }>> {
    const rows = await this.db
      .selectFrom('job_prompts')
      .select(['prompt_index', 'prompt', 'system'])
      .where('job_id', '=', jobId)
      .where('prompt_index', 'in', [...new Set(indexes)])
      .execute();
    return new Map(rows.map((r) => [r.prompt_index, { prompt: r.prompt, system: r.system }]));
  }

  async items(jobId: string, q: ItemQuery): Promise<ItemWithPrompt[]> {
    let sel = this.db
      .selectFrom('job_items as i')
      .innerJoin('job_prompts as p', (j) => j.onRef('p.job_id', '=', 'i.job_id').onRef('p.prompt_index', '=', 'i.prompt_index'))
      .selectAll('i')
      .select(['p.prompt', 'p.system', 'p.prompt_id'])
      .where('i.job_id', '=', jobId);
    if (q.status) sel = sel.where('i.status', '=', q.status);
    if (q.model) sel = sel.where('i.model', '=', q.model);
    if (q.after !== undefined) sel = sel.where('i.id', '>', this.dialect === 'postgres' ? q.after : Number(q.after));
    const rows = await sel.orderBy('i.id').limit(q.limit).execute();
    return rows.map((r) => ({ ...toItem(r, r.prompt_id), prompt: r.prompt, system: r.system }));
  }

  /** Per-model aggregates of finished items, computed in the database (a job may have 100,000 items). */
  async modelFigures(jobId: string) {
    return this.db
      .selectFrom('job_items')
      .select((eb) => [
        'model',
        eb.fn.countAll<number | string>().as('finished'),
        eb.fn.sum<number | string>(eb.case().when('status', '=', 'succeeded').then(1).else(0).end()).as('succeeded'),
        eb.fn.avg<number | string | null>(eb.case().when('status', '=', 'succeeded').then(eb.ref('ttft_ms')).end()).as('mean_ttft'),
        eb.fn.avg<number | string | null>(eb.case().when('status', '=', 'succeeded').then(eb.ref('tokens_per_second')).end()).as('tokens_per_second'),
        eb.fn.sum<number | string | null>('input_tokens').as('input_tokens'),
        eb.fn.sum<number | string | null>('output_tokens').as('output_tokens'),
      ])
      .where('job_id', '=', jobId)
      .where('status', 'in', ['succeeded', 'failed'])
      .groupBy('model')
      .execute();
  }

  /** The 95th percentile of a model's time to first token (nearest rank), or null without successes. */
  async p95Ttft(jobId: string, model: string, succeeded: number): Promise<number | null> {
    if (succeeded === 0) return null;
    const row = await this.db
      .selectFrom('job_items')
      .select('ttft_ms')
      .where('job_id', '=', jobId)
      .where('model', '=', model)
      .where('status', '=', 'succeeded')
      .where('ttft_ms', 'is not', null)
      .orderBy('ttft_ms')
      .limit(1)
      .offset(Math.max(0, Math.ceil(succeeded * 0.95) - 1))
      .executeTakeFirst();
    return row?.ttft_ms ?? null;
  }

  async markRunning(jobId: string): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ status: 'running', started_at: Date.now(), finished_at: null })
      .where('id', '=', jobId)
      .where('status', '=', 'queued')
      .execute();
  }

  /** Ends a job that is still queued or running; false when something else ended it first. */
  async finish(jobId: string, status: JobStatus): Promise<boolean> {
    const r = await this.db
      .updateTable('jobs')
      .set({ status, finished_at: Date.now() })
      .where('id', '=', jobId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** The job and every item not yet finished become `cancelled`, together. False if it had already ended. */
  async cancel(jobId: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const now = Date.now();
      const r = await trx
        .updateTable('jobs')
        .set({ status: 'cancelled', finished_at: now })
        .where('id', '=', jobId)
        .where('status', 'in', ['queued', 'running'])
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      await trx
        .updateTable('job_items')
        .set({ status: 'cancelled', worker: null, lease_until: null, finished_at: now, error_code: 'cancelled', error_message: 'The job was cancelled.' })
        .where('job_id', '=', jobId)
        .where('status', 'in', ['queued', 'running'])
        .execute();
      return true;
    });
  }

  /** Puts failed (and, asked, cancelled) items back in the queue; succeeded ones are not touched. Returns how many. */
  async retry(jobId: string, statuses: ItemStatus[]): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('job_items')
        .set({
          status: 'queued',
          attempts: 0,
          not_before: 0,
          worker: null,
          lease_until: null,
          text: null,
          error_code: null,
          error_message: null,
          retryable: null,
          suggested_action: null,
          finish_reason: null,
          ttft_ms: null,
          duration_ms: null,
          tokens_per_second: null,
          input_tokens: null,
          output_tokens: null,
          started_at: null,
          finished_at: null,
        })
        .where('job_id', '=', jobId)
        .where('status', 'in', statuses)
        .executeTakeFirst();
      const n = Number(r.numUpdatedRows);
      if (n > 0) await trx.updateTable('jobs').set({ status: 'queued', finished_at: null }).where('id', '=', jobId).execute();
      return n;
    });
  }
}

function toJob(row: Selectable<JobsTable>): JobRecord {
  return {
    id: row.id,
    owner: row.owner,
    name: row.name,
    status: row.status as JobStatus,
    tier: row.tier as TierName,
    models: JSON.parse(row.models) as string[],
    params: row.params ? (JSON.parse(row.params) as JobParams) : null,
    concurrency: row.concurrency,
    total: row.total,
    createdAt: iso(row.created_at)!,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}

export function toItem(r: Selectable<JobItemsTable>, promptId: string | null): JobItem {
  return {
    id: String(r.id),
    promptIndex: r.prompt_index,
    promptId,
    model: r.model,
    status: r.status as ItemStatus,
    attempts: r.attempts,
    text: r.text,
    error: r.error_code ? { code: r.error_code, message: r.error_message ?? '', retryable: r.retryable === 1, suggestedAction: r.suggested_action } : null,
    finishReason: r.finish_reason,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    ttftMs: r.ttft_ms,
    durationMs: r.duration_ms,
    tokensPerSecond: r.tokens_per_second === null ? null : Number(r.tokens_per_second),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
  };
}
