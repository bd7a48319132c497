import pg from 'pg';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Whether the test PostgreSQL answers. In CI its absence is a failure (the caller throws);
 * locally the PostgreSQL variants are skipped with a loud warning.
 */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (err) {
    if (process.env.CI) throw new Error(`PostgreSQL is required in CI at ${TEST_DATABASE_URL}: ${(err as Error).message}`);
    console.warn(`\n!!! PostgreSQL not reachable at ${TEST_DATABASE_URL}: PostgreSQL tests SKIPPED (${(err as Error).message})\n`);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function randomSchema(): string {
  return `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
