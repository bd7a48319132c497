import type { Config } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import { openStore } from '../store/open-store.js';
import { createIdentity, type Identity } from './identity.js';

async function withIdentity<T>(config: Config, run: (identity: Identity) => Promise<T>): Promise<T> {
  const store = await openStore({
    dataDir: config.dataDir,
    databaseUrl: config.database.url,
    schema: config.database.schema,
    flushIntervalMs: 50,
    batchSize: 200,
  });
  const identity = await createIdentity(config, store);
  try {
    return await run(identity);
  } finally {
    identity.close();
    await store.close();
  }
}

/** `tributary admin create`: a new admin, or an existing account promoted (audited). */
export async function adminCreate(config: Config, email: string, password: string): Promise<string> {
  if (password.length < config.identity.minPasswordLength)
    throw new TributaryError('weak_password', `The password needs at least ${config.identity.minPasswordLength} characters.`);
  return withIdentity(config, async ({ accounts, audit }) => {
    const user = await accounts.ensureAdmin(email, password);
    audit.record({ actor: 'system:cli', action: 'admin.create', target: user.id, outcome: 'ok' });
    return `Admin ${user.email} (${user.id})`;
  });
}

/** `tributary usage`: usage by day, user and model, as a table or JSON. */
export async function usageReport(config: Config, days: number, json: boolean): Promise<string> {
  return withIdentity(config, async ({ usage }) => {
    const lines = await usage.lines({ days });
    if (json) return JSON.stringify(lines, null, 2);
    const rows = [
      ['day', 'user', 'model', 'responses', 'input', 'output', 'cost USD'],
      ...lines.map((l) => [l.day, l.owner ?? '(anonymous)', l.model, String(l.responses), String(l.inputTokens), String(l.outputTokens), l.costUsd.toFixed(4)]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    return rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n');
  });
}
