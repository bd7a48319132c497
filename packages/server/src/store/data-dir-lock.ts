import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Why the data directory cannot be used; the message is one line for the operator. */
export class DataDirError extends Error {
  override name = 'DataDirError';
}

/** Lock files this process holds (a PID match alone could be a previous life, e.g. PID 1 in a container). */
const held = new Set<string>();

/**
 * Makes `dir` (creating it) and takes `<dir>/tributary.lock`, which holds our PID, so a second
 * server cannot share the SQLite file. A lock left by a dead process is taken over.
 */
export function lockDataDir(dir: string): { release(): void } {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new DataDirError(`Cannot use data directory ${dir}: ${describe(err)}`);
  }
  const path = resolve(join(dir, 'tributary.lock'));
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      held.add(path);
      return { release: () => release(path) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new DataDirError(`Cannot use data directory ${dir}: ${describe(err)}`);
    }
    const owner = ownerOf(path);
    if (owner !== undefined && (held.has(path) || (owner !== process.pid && isAlive(owner)))) {
      throw new DataDirError(`Data directory ${dir} is in use by another Tributary server (PID ${owner}, lock ${path}).`);
    }
    try {
      unlinkSync(path); // stale: its process is gone
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DataDirError(`Cannot take over stale lock ${path}: ${describe(err)}`);
    }
  }
  throw new DataDirError(`Data directory ${dir}: could not take the lock ${path}.`);
}

function release(path: string): void {
  if (!held.delete(path)) return;
  try {
    if (ownerOf(path) === process.pid) unlinkSync(path);
  } catch {
    // Already gone: nothing to release.
  }
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}${e.path ? ` (${e.path})` : ''}` : String(e.message ?? err);
}
