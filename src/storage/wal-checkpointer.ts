/**
 * SQLite WAL checkpoints off the event loop.
 *
 * By default SQLite checkpoints inside the commit that takes the WAL past
 * 1,000 pages (`wal_autocheckpoint`): the committing connection copies every
 * page back into the database file and fsyncs the WAL and the file, and with
 * better-sqlite3 that connection is the server's main thread. Under a steady
 * stream of audit batches that is one stall of tens of milliseconds every few
 * seconds, and every request waiting on the event loop meanwhile carries it.
 *
 * With `startWalCheckpointer` the serving connection stops checkpointing
 * (`wal_autocheckpoint = 0`) and a worker thread with its own connection to
 * the same file does it every `intervalMs`:
 *
 * - PASSIVE first: copies what it can without taking any lock that writers
 *   or readers wait for; the copying and both fsyncs happen on the worker.
 * - When the WAL holds `restartPages` or more after that, RESTART: a writer
 *   only restarts the WAL from its beginning when every frame was copied
 *   before its transaction began, which a checkpoint running beside a steady
 *   stream of commits never achieves, so without it the WAL would grow without
 *   bound. RESTART holds the write lock while it copies the few frames left
 *   since the PASSIVE and waits for readers to leave the WAL; the audit log
 *   takes the write lock without waiting and retries its batch a few
 *   milliseconds later (src/audit/audit-log.ts), other writers wait through
 *   busy_timeout as they would for another process.
 * - When nothing was written since the last round and the WAL is fully
 *   copied, TRUNCATE: the file shrinks to zero bytes while the store is idle.
 *
 * Durability is unchanged for a process crash (a commit is in the WAL, which
 * recovery replays); with `synchronous = NORMAL` the WAL is fsynced at each
 * checkpoint, so after a power loss or OS crash the commits of at most the
 * last round (about `intervalMs`) may be missing, where SQLite's own
 * page-count checkpoints bound that window by pages, not time.
 * Several processes on one file each run one; a checkpoint that finds another
 * in progress returns busy and the next round tries again. If the worker
 * fails, the serving connection goes back to `wal_autocheckpoint = 1000`.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

export interface WalCheckpointerOptions {
  /** How often the worker checkpoints (ms; default 1,000). */
  intervalMs?: number;
  /** WAL size in pages from which a round ends with RESTART (default 1,000, SQLite's auto-checkpoint threshold). */
  restartPages?: number;
  /** How long RESTART and TRUNCATE wait for writers and readers on the worker's thread (ms; default 1,000). */
  busyTimeoutMs?: number;
  /** Told (error name only) when the worker fails and checkpoints return to the serving connection. */
  onFailure?: (error: Error) => void;
}

/** What the worker has done so far (read with stats()). */
export interface WalCheckpointStats {
  /** Rounds run, and how many ended with RESTART or TRUNCATE. */
  rounds: number;
  restarts: number;
  truncates: number;
  /** Rounds where a checkpoint found the database busy (another checkpoint, or RESTART timing out). */
  busy: number;
  /** Time spent checkpointing on the worker (ms), in all and in the longest round. */
  totalMs: number;
  maxMs: number;
  /** WAL size in pages after the last round. */
  walPages: number;
}

export interface WalCheckpointer {
  stats(): WalCheckpointStats;
  /** Stops the worker and closes its connection; resolves when it has exited. */
  close(): Promise<void>;
}

/** SQLite's own auto-checkpoint threshold, restored on the serving connection if the worker fails. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

// CommonJS run by the worker (eval): better-sqlite3 is loaded from the path the parent resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.driver);
const db = new SQLite(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');
const truncate = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)');
const stats = { rounds: 0, restarts: 0, truncates: 0, busy: 0, totalMs: 0, maxMs: 0, walPages: 0 };
let lastLog = -1;
function round() {
  const t0 = performance.now();
  let r = passive.get();
  if (r.busy === 0 && r.log > 0 && r.log === r.checkpointed && r.log === lastLog) {
    // Nothing written since the last round and everything copied: idle, so the file can go.
    r = truncate.get();
    stats.truncates++;
  } else if (r.busy === 0 && r.log >= workerData.restartPages) {
    r = restart.get();
    stats.restarts++;
  }
  if (r.busy !== 0) stats.busy++;
  lastLog = r.log;
  const ms = performance.now() - t0;
  stats.rounds++;
  stats.totalMs += ms;
  if (ms > stats.maxMs) stats.maxMs = ms;
  stats.walPages = r.log;
  parentPort.postMessage(stats);
}
const timer = setInterval(round, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Turns off auto-checkpoints on `database` (the serving connection to `file`, in WAL mode) and starts
 * the worker that checkpoints instead. Call close() before closing `database`.
 */
export function startWalCheckpointer(database: SQLite.Database, file: string, options: WalCheckpointerOptions = {}): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  let latest: WalCheckpointStats = { rounds: 0, restarts: 0, truncates: 0, busy: 0, totalMs: 0, maxMs: 0, walPages: 0 };
  database.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      driver,
      file,
      intervalMs: options.intervalMs ?? 1000,
      restartPages: options.restartPages ?? 4000,
      busyTimeoutMs: options.busyTimeoutMs ?? 1000,
    },
    // The worker holds no request state; it must never keep the process alive.
    stdout: false,
    stderr: false,
  });
  let closing = false;
  worker.on('message', (s: WalCheckpointStats) => {
    latest = s;
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const fallBack = (error: Error): void => {
    if (closing) return;
    closing = true;
    try {
      if (database.open) database.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
    } finally {
      options.onFailure?.(error);
    }
  };
  worker.on('error', (e) => fallBack(e));
  worker.on('exit', (code) => {
    if (!closing) fallBack(new Error(`the WAL checkpoint worker exited (${code})`));
  });
  // After the listeners (adding a 'message' listener refs the port again).
  worker.unref();
  return {
    stats: () => ({ ...latest }),
    async close() {
      // An unref'd worker's exit would not keep the event loop alive for this await (nor would
      // a failed one's, still shutting down).
      worker.ref();
      if (!closing) {
        closing = true;
        worker.postMessage('close');
      }
      await exited;
    },
  };
}
