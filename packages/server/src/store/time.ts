import type { DbTime, Dialect } from './database.js';

/**
 * The one place times cross into the database. SQLite gets UTC text in exactly the form
 * `datetime('now')` produces, so `created_at > datetime('now','-24 hours')` compares as
 * strings; PostgreSQL gets the Date for its timestamptz columns.
 */
export function toDbTime(dialect: Dialect, date: Date): DbTime {
  if (dialect === 'postgres') return date;
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

export function fromDbTime(value: DbTime): Date {
  if (value instanceof Date) return value;
  return new Date(`${value.replace(' ', 'T')}Z`);
}
