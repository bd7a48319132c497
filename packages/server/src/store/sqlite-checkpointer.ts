import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SqliteDatabase from 'better-sqlite3';

/** How often the WAL is folded into the database file (its size stays ~ what one interval writes). */
const CHECKPOINT_EVERY_MS = 1_000;

/**
 * The worker: its own connection, a PASSIVE checkpoint (never blocks the writer) every interval.
 * Plain CommonJS evaluated in the thread, so it runs the same from src (tests), dist or the bundle.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const db = new (require(workerData.driver))(workerData.file, { timeout: 5000 });
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: err.message }); }
}, workerData.everyMs);
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

/**
 * SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages, fsync
 * included: 25–150 ms stalls of the event loop on this machine (docs/benchmarks.md). A worker
 * thread checkpoints instead; if it dies, the connection checkpoints on commit again.
 */
export function startCheckpointer(main: SqliteDatabase.Database, onError: (message: string) => void): { stop(): Promise<void> } {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { driver, file: main.name, everyMs: CHECKPOINT_EVERY_MS } });
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  main.pragma('wal_autocheckpoint = 0');
  worker.on('message', (m: { error: string }) => onError(`WAL checkpoint failed: ${m.error}`));
  worker.on('error', (err) => {
    if (main.open) main.pragma('wal_autocheckpoint = 1000');
    onError(`WAL checkpoint thread failed (${err.message}); checkpointing on commit again`);
  });
  return {
    /** Resolves once the thread closed its connection (its files are then the main connection's alone). */
    stop: () => {
      worker.ref(); // a caller awaiting `exited` must keep the process alive until it comes
      worker.postMessage('stop');
      return exited;
    },
  };
}
