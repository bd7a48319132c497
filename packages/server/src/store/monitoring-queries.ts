import { sql, type Kysely } from 'kysely';
import type { Database, Dialect } from './database.js';
import type { MonitoringFigures } from './types.js';

export interface MonitoringQueries {
  averageProcessingTime: string;
  successRate: string;
  mostUsedModels: string;
}

/**
 * The seed checklist's three monitoring queries over the last 24 hours. The PostgreSQL texts
 * are the seed's, verbatim; the SQLite ones say the same with datetime() (created_at is UTC
 * 'YYYY-MM-DD HH:MM:SS' text there, so the comparison is a string comparison) and CAST … AS REAL.
 * With no rows they return NULL sums rather than dividing by zero, so no NULLIF is added.
 */
export const monitoringQueries: Record<Dialect, MonitoringQueries> = {
  postgres: {
    averageProcessingTime: "SELECT AVG(processing_time_ms) FROM usage_log WHERE created_at > NOW() - INTERVAL '24 hours';",
    successRate:
      'SELECT SUM(models_successful) as successful, SUM(models_failed) as failed, ' +
      '(SUM(models_successful)::float / (SUM(models_successful) + SUM(models_failed))) * 100 as success_rate ' +
      "FROM usage_log WHERE created_at > NOW() - INTERVAL '24 hours';",
    mostUsedModels:
      'SELECT models_used, COUNT(*) as usage_count ' +
      "FROM usage_log WHERE created_at > NOW() - INTERVAL '24 hours' " +
      'GROUP BY models_used ORDER BY usage_count DESC LIMIT 10;',
  },
  sqlite: {
    averageProcessingTime: "SELECT AVG(processing_time_ms) FROM usage_log WHERE created_at > datetime('now', '-24 hours');",
    successRate:
      'SELECT SUM(models_successful) as successful, SUM(models_failed) as failed, ' +
      '(CAST(SUM(models_successful) AS REAL) / (SUM(models_successful) + SUM(models_failed))) * 100 as success_rate ' +
      "FROM usage_log WHERE created_at > datetime('now', '-24 hours');",
    mostUsedModels:
      'SELECT models_used, COUNT(*) as usage_count ' +
      "FROM usage_log WHERE created_at > datetime('now', '-24 hours') " +
      'GROUP BY models_used ORDER BY usage_count DESC LIMIT 10;',
  },
};

export async function runMonitoring(db: Kysely<Database>, dialect: Dialect): Promise<MonitoringFigures> {
  const q = monitoringQueries[dialect];
  const average = await sql.raw<Record<string, unknown>>(q.averageProcessingTime).execute(db);
  const rate = await sql.raw<{ successful: unknown; failed: unknown; success_rate: unknown }>(q.successRate).execute(db);
  const used = await sql.raw<{ models_used: string; usage_count: unknown }>(q.mostUsedModels).execute(db);
  const totals = rate.rows[0];
  return {
    // The AVG column is named differently per engine ("avg" vs the expression); take the only one.
    averageProcessingTimeMs: numberOrNull(Object.values(average.rows[0] ?? {})[0]),
    successful: numberOrNull(totals?.successful) ?? 0,
    failed: numberOrNull(totals?.failed) ?? 0,
    successRate: numberOrNull(totals?.success_rate),
    mostUsedModels: used.rows.map((r) => ({ modelsUsed: r.models_used, usageCount: Number(r.usage_count) })),
  };
}

/** pg returns bigint and numeric (SUM, COUNT, AVG) as strings. */
function numberOrNull(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}
