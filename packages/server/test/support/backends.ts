import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './postgres.js';

const pgUp = await postgresAvailable();

/** SQLite on disk and (when it answers) PostgreSQL in a fresh schema, for describe.each. */
export const DATABASES = [
  { name: 'SQLite', enabled: true, database: (): { url?: string; schema?: string } => ({}) },
  { name: 'PostgreSQL', enabled: pgUp, database: (): { url?: string; schema?: string } => ({ url: TEST_DATABASE_URL, schema: randomSchema() }) },
];

export async function dropDatabase(db: { schema?: string }): Promise<void> {
  if (db.schema) await dropSchema(db.schema);
}
