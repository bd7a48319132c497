import type { Kysely } from 'kysely';
import type { Database, Dialect } from '../store/database.js';
import { fromDbTime, toDbTime } from '../store/time.js';
import type { Store } from '../store/types.js';

export interface UsageLine {
  day: string;
  owner: string | null;
  model: string;
  responses: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Usage by day and model (and by user for admins), from usage_log rows. */
export class UsageReport {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly store: Store,
    private readonly costOf: (model: string, inputTokens: number, outputTokens: number) => number,
  ) {}

  /** `owner` undefined: everyone (admin). */
  async lines(opts: { owner?: string | undefined; days: number }): Promise<UsageLine[]> {
    await this.store.flush();
    const since = toDbTime(this.dialect, new Date(Date.now() - opts.days * 86_400_000));
    let query = this.db.selectFrom('usage_log').select(['owner', 'model_tokens', 'created_at']).where('created_at', '>', since);
    if (opts.owner !== undefined) query = query.where('owner', '=', opts.owner);
    const lines = new Map<string, UsageLine>();
    for (const row of await query.execute()) {
      const day = fromDbTime(row.created_at).toISOString().slice(0, 10);
      const tokens = JSON.parse(row.model_tokens) as Record<string, { input: number; output: number }>;
      for (const model of Object.keys(tokens)) {
        const key = `${day}|${row.owner ?? ''}|${model}`;
        const line = lines.get(key) ?? { day, owner: row.owner, model, responses: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
        line.responses += 1;
        line.inputTokens += tokens[model]!.input;
        line.outputTokens += tokens[model]!.output;
        line.costUsd += this.costOf(model, tokens[model]!.input, tokens[model]!.output);
        lines.set(key, line);
      }
    }
    return [...lines.values()].sort((a, b) => (a.day === b.day ? a.model.localeCompare(b.model) : a.day < b.day ? 1 : -1));
  }
}
