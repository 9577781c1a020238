/**
 * The hash-chained audit log: an AuditSink that buffers events in memory and
 * appends them to the store in batches, so a request never waits on it.
 *
 * - record() only pushes to an array. A batch is written every
 *   `flushIntervalMs`, or at once (on the next turn of the event loop) when
 *   `batchSize` events are waiting; one batch is one transaction.
 * - recordDurable() pushes too, asks for a write on the next turn of the
 *   event loop, and resolves when the transaction holding its event commits
 *   (group commit: every event that arrived meanwhile rides the same
 *   transaction). State-changing requests await it before they answer, so a
 *   kill -9 never loses the record of an acknowledged change. It rejects after
 *   `durableTimeoutMs` (the event stays buffered and is still written later).
 * - Reads (Sign, Decrypt, Describe…) are not awaited: after an unclean stop,
 *   those of the last `flushIntervalMs` (plus one batch in flight) may be
 *   missing. Each process appends a `ProcessStarted` event when it opens the
 *   log and a `ProcessStopped` event when it closes it; `audit verify` names
 *   every process that started and never stopped (crashed, or still running).
 * - Each transaction locks the chain head, numbers and hashes its events from
 *   the head (see chain.ts), inserts them, and moves the head, so several
 *   processes on one PostgreSQL database append to one chain. On SQLite the
 *   transaction starts with BEGIN IMMEDIATE without waiting: SQLite waits for
 *   a lock by sleeping the whole thread, so when another process holds the
 *   write lock the batch is retried a few milliseconds later instead.
 * - In the same transaction, when `checkpointEvents` events or
 *   `checkpointSeconds` have passed since the last checkpoint, the new head is
 *   signed (checkpoint-key.ts) and stored as a checkpoint.
 * - A failed write puts the batch back at the front of the buffer, logs a
 *   warning (error code only, never event fields) and retries with backoff. If
 *   the buffer reaches `maxBuffered`, new events are counted and the count is
 *   appended to the chain as an `EventsDropped` event once writes succeed, so a
 *   loss is itself on the record.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { CompiledQuery, type Kysely } from 'kysely';
import type { Store } from '../storage/database.js';
import type { Tables } from '../storage/tables.js';
import { insertCheckpoint, insertEvents, lockChainHead, readChainHead, updateChainHead, type StoredEvent } from '../storage/audit.repository.js';
import type { AuditEvent, AuditSink } from './event.js';
import { chainHash, toChained } from './chain.js';
import { loadCheckpointSigner, type CheckpointSigner } from './checkpoint-key.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import { DEFAULT_AUDIT_SETTINGS, type AuditLogSettings } from './settings.js';

export interface AuditLogOptions {
  store: Store;
  signer: CheckpointSigner;
  logger: Logger;
  /** Missing settings take the defaults (settings.ts). */
  settings: Partial<AuditLogSettings>;
  /** Wall clock for checkpoints (tests). */
  clock?: () => number;
  /** This process's id in its ProcessStarted/ProcessStopped events (default: pid and a random UUID). */
  instance?: string;
}

/** An event whose caller waits until it is durable. */
interface Waiter {
  resolve(): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** Counters for /metrics. */
export interface AuditLogStats {
  written: number;
  dropped: number;
  flushFailures: number;
  checkpoints: number;
}

type Mode = 'append' | 'checkpoint-if-due' | 'checkpoint-now';

/** Another process holds SQLite's write lock; try again shortly (not a failure). */
class WriteLockBusy extends Error {
  override name = 'WriteLockBusy';
}

/** How long flush() and close() keep retrying a busy SQLite write lock. */
const BUSY_RETRY_LIMIT_MS = 30_000;
const busyDelay = (): number => 2 + Math.floor(Math.random() * 4);
/** While a durable event waits, a failed write is retried this soon at the latest (not after the full back-off). */
const EARLY_RETRY_MS = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const NO_BUSY_WAIT = CompiledQuery.raw('pragma busy_timeout = 0');
const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

export class AuditLog implements AuditSink {
  readonly #store: Store;
  readonly #signer: CheckpointSigner;
  readonly #logger: Logger;
  readonly #settings: AuditLogSettings;
  readonly #clock: () => number;
  #buffer: AuditEvent[] = [];
  /** Waiters of recordDurable, by event object (identity). */
  readonly #waiters = new Map<AuditEvent, Waiter>();
  /** Events taken from the buffer by the write in progress. */
  #inFlight = 0;
  /** Events refused while the buffer was full, not yet recorded in the chain. */
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #retry: NodeJS.Timeout | undefined;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  /** When the last write failed, and when the back-off retry is due (Date.now() ms). */
  #lastFailureAt = 0;
  #retryAt = 0;
  #lock: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #instance: string;
  /** The SQLite connection's busy_timeout, restored after BEGIN IMMEDIATE. */
  #busyTimeout: number | undefined;
  readonly stats: AuditLogStats = { written: 0, dropped: 0, flushFailures: 0, checkpoints: 0 };

  constructor(options: AuditLogOptions) {
    this.#store = options.store;
    this.#signer = options.signer;
    this.#logger = options.logger;
    // Undefined entries must not override a default (a NaN interval would spin).
    const given = Object.fromEntries(Object.entries(options.settings).filter(([, v]) => v !== undefined));
    this.#settings = { ...DEFAULT_AUDIT_SETTINGS, ...given };
    this.#clock = options.clock ?? Date.now;
    this.#checkpointTimer = setInterval(() => void this.#timedCheckpoint(), this.#settings.checkpointSeconds * 1000);
    this.#checkpointTimer.unref();
    this.#instance = options.instance ?? `${process.pid}-${randomUUID()}`;
    this.record(lifecycleEvent('ProcessStarted', this.#instance, this.#clock()));
  }

  /** This process's id in ProcessStarted/ProcessStopped events. */
  get instance(): string {
    return this.#instance;
  }

  /** Events in memory not yet written (waiting, or in the write in progress). */
  get buffered(): number {
    return this.#buffer.length + this.#inFlight;
  }

  /** The public key (hex) that verifies this log's checkpoints. */
  get checkpointPublicKey(): string {
    return this.#signer.publicKey;
  }

  recordDurable(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#closed) return reject(new Error('the audit log is closed'));
      if (this.#buffer.length + this.#inFlight >= this.#settings.maxBuffered) {
        return reject(new Error('the audit log buffer is full: the store is not accepting writes'));
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(event);
        reject(new Error(`the audit event was not durable within ${this.#settings.durableTimeoutMs} ms`));
      }, this.#settings.durableTimeoutMs);
      timer.unref();
      this.#waiters.set(event, { resolve, reject, timer });
      this.#buffer.push(event);
      this.#schedule();
    });
  }

  record(event: AuditEvent): void {
    try {
      if (this.#buffer.length + this.#inFlight >= this.#settings.maxBuffered) {
        this.#dropped++;
        this.stats.dropped++;
        return;
      }
      this.#buffer.push(event);
      this.#schedule();
    } catch {
      // record() must never throw into the request path.
    }
  }

  /**
   * Writes everything buffered.
   * @throws {Error} when the store refuses a batch; the events stay buffered.
   */
  flush(): Promise<void> {
    return this.#exclusive(async () => {
      while (this.#buffer.length > 0 || this.#dropped > 0) await this.#writeWhenFree('append');
    });
  }

  /**
   * Stops the timers, writes everything buffered and signs a final checkpoint.
   * @throws {Error} when the store refuses a batch.
   */
  async close(): Promise<void> {
    if (!this.#closed) this.#buffer.push(lifecycleEvent('ProcessStopped', this.#instance, this.#clock()));
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#retry);
    clearInterval(this.#checkpointTimer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = this.#retry = this.#checkpointTimer = this.#immediate = undefined;
    await this.#exclusive(async () => {
      while (this.#buffer.length > 0 || this.#dropped > 0) await this.#writeWhenFree('append');
      await this.#writeWhenFree('checkpoint-now');
    });
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#retry) {
      // Backing off after a failed write. A client waiting for a durable event
      // must not sit out a long back-off once the store is back: retry early,
      // at most every EARLY_RETRY_MS while someone waits.
      if (this.#waiters.size === 0) return;
      const early = this.#lastFailureAt + EARLY_RETRY_MS;
      if (early < this.#retryAt) {
        clearTimeout(this.#retry);
        this.#retryAt = early;
        this.#retry = setTimeout(() => void this.#tick(), Math.max(0, early - Date.now()));
        this.#retry.unref();
      }
      return;
    }
    if (this.#buffer.length >= this.#settings.batchSize || this.#waiters.size > 0) {
      if (!this.#immediate) this.#immediate = setImmediate(() => void this.#tick());
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.#tick(), this.#settings.flushIntervalMs);
      this.#timer.unref();
    }
  }

  async #tick(): Promise<void> {
    clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = this.#immediate = this.#retry = undefined;
    try {
      await this.#exclusive(() => this.#write('append'));
    } catch (e) {
      if (e instanceof WriteLockBusy) {
        if (!this.#closed && !this.#timer) {
          this.#timer = setTimeout(() => void this.#tick(), busyDelay());
          this.#timer.unref();
        }
        return;
      }
      this.#failed(e);
      return;
    }
    if (this.#failures > 0) {
      this.#logger.info({ attempts: this.#failures }, 'audit log writes recovered');
      this.#failures = 0;
    }
    if (this.#buffer.length > 0 || this.#dropped > 0) this.#schedule();
  }

  #failed(e: unknown): void {
    this.#failures++;
    this.stats.flushFailures++;
    const err = e as { code?: unknown; name?: unknown };
    const delay = Math.min(this.#settings.retryMaxMs, this.#settings.flushIntervalMs * 2 ** Math.min(this.#failures, 16));
    // The error's code and class only: a driver message may quote row values.
    this.#logger.warn(
      {
        code: typeof err?.code === 'string' ? err.code : undefined,
        error: typeof err?.name === 'string' ? err.name : 'Error',
        buffered: this.#buffer.length,
        retryInMs: delay,
      },
      'audit log write failed; events stay buffered and will be retried',
    );
    // Whoever waits for a durable event learns now, not after the timeout: its
    // request answers a retryable error, and the event stays buffered.
    if (this.#waiters.size > 0) {
      const failure = new Error('the audit log could not be written: the store is not accepting writes');
      for (const [event, w] of this.#waiters) {
        clearTimeout(w.timer);
        this.#waiters.delete(event);
        w.reject(failure);
      }
    }
    if (this.#closed) return;
    this.#lastFailureAt = Date.now();
    this.#retryAt = this.#lastFailureAt + delay;
    this.#retry = setTimeout(() => void this.#tick(), delay);
    this.#retry.unref();
  }

  async #timedCheckpoint(): Promise<void> {
    try {
      await this.#exclusive(() => this.#write('checkpoint-if-due'));
    } catch (e) {
      // Busy: the process holding the lock, or the next tick, will do it.
      if (!(e instanceof WriteLockBusy)) this.#failed(e);
    }
  }

  /** Runs `fn` after every write already queued, so batches never overlap. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** #write, waiting out (asynchronously) another process's SQLite write lock. */
  async #writeWhenFree(mode: Mode): Promise<void> {
    const give = Date.now() + BUSY_RETRY_LIMIT_MS;
    for (;;) {
      try {
        return await this.#write(mode);
      } catch (e) {
        if (!(e instanceof WriteLockBusy) || Date.now() > give) throw e;
        await sleep(busyDelay());
      }
    }
  }

  /**
   * Runs `fn` in a write transaction. PostgreSQL: an ordinary transaction (the
   * chain-head row lock waits without blocking the thread). SQLite: BEGIN
   * IMMEDIATE with no busy wait, so the write lock is either taken at once or
   * WriteLockBusy is thrown.
   */
  async #transaction(fn: (db: Kysely<Tables>) => Promise<void>): Promise<void> {
    const store = this.#store;
    if (store.dialect === 'postgres') return store.db.transaction().execute(fn);
    return store.db.connection().execute(async (conn) => {
      this.#busyTimeout ??= Number((await conn.executeQuery<{ timeout: number }>(CompiledQuery.raw('pragma busy_timeout'))).rows[0]?.timeout ?? 5000);
      await conn.executeQuery(NO_BUSY_WAIT);
      try {
        await conn.executeQuery(BEGIN_IMMEDIATE);
      } catch (e) {
        if ((e as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw new WriteLockBusy('the SQLite write lock is held by another process');
        throw e;
      } finally {
        await conn.executeQuery(CompiledQuery.raw(`pragma busy_timeout = ${this.#busyTimeout}`));
      }
      try {
        await fn(conn);
        await conn.executeQuery(COMMIT);
      } catch (e) {
        await conn.executeQuery(ROLLBACK).catch(() => undefined);
        throw e;
      }
    });
  }

  /** Appends one batch (and a checkpoint when due) in one transaction. */
  async #write(mode: Mode): Promise<void> {
    const { batchSize, checkpointEvents, checkpointSeconds } = this.#settings;
    const now = this.#clock();
    const isDue = (seq: number, cpSeq: number, cpTime: number): boolean =>
      seq > cpSeq && (mode === 'checkpoint-now' || seq - cpSeq >= checkpointEvents || now - cpTime >= checkpointSeconds * 1000);
    if (this.#buffer.length === 0 && this.#dropped === 0) {
      if (mode === 'append') return;
      // Idle: look before taking the lock.
      const head = await readChainHead(this.#store.db);
      if (!isDue(head.seq, head.checkpointSeq, head.checkpointTime)) return;
    }
    const batch = this.#buffer.splice(0, batchSize);
    const dropped = this.#dropped;
    const events = dropped > 0 ? [droppedEvent(dropped, now), ...batch] : batch;
    const store = this.#store;
    let checkpointed = false;
    this.#inFlight = batch.length;
    try {
      await this.#transaction(async (trx) => {
        const head = await lockChainHead(trx, store.dialect);
        let { seq, hash } = head;
        const rows: StoredEvent[] = new Array(events.length);
        for (let i = 0; i < events.length; i++) {
          const row = toChained(++seq, events[i]!) as StoredEvent;
          hash = chainHash(hash, row);
          row.hash = hash;
          rows[i] = row;
        }
        // No yielding inside the transaction: on SQLite another process waiting
        // for the write lock blocks its whole thread, so the lock is held only
        // for the work itself (about 10 µs an event; a full batch of 500 is a
        // few milliseconds of this thread's time).
        if (rows.length > 0) await insertEvents(trx, store.dialect, rows);
        const next = { seq, hash, checkpointSeq: head.checkpointSeq, checkpointTime: head.checkpointTime };
        if (isDue(seq, head.checkpointSeq, head.checkpointTime)) {
          const signature = this.#signer.sign({ seq, hash, time: now });
          await insertCheckpoint(trx, { seq, hash, time: now, keyId: this.#signer.keyId, signature });
          next.checkpointSeq = seq;
          next.checkpointTime = now;
          checkpointed = true;
        }
        if (rows.length > 0 || checkpointed) await updateChainHead(trx, store.dialect, next);
      });
    } catch (e) {
      this.#buffer = batch.concat(this.#buffer);
      throw e;
    } finally {
      this.#inFlight = 0;
    }
    this.#dropped -= dropped;
    this.stats.written += events.length;
    if (this.#waiters.size > 0) {
      for (const event of batch) {
        const w = this.#waiters.get(event);
        if (!w) continue;
        this.#waiters.delete(event);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
    if (checkpointed) this.stats.checkpoints++;
  }
}

/**
 * Opens the store's audit log: loads (or on first start creates) the checkpoint
 * key, then starts the batching sink.
 * @throws {SealedBoxError} when the checkpoint key was sealed under another root.
 */
export async function openAuditLog(options: Omit<AuditLogOptions, 'signer'> & { root: RootOfTrust }): Promise<AuditLog> {
  const { root, ...rest } = options;
  const signer = await loadCheckpointSigner(options.store, root, (options.clock ?? Date.now)());
  return new AuditLog({ ...rest, signer });
}

/** The chain's record of a process opening or closing the log (`requestId` names the process). */
function lifecycleEvent(operation: 'ProcessStarted' | 'ProcessStopped', instance: string, now: number): AuditEvent {
  return {
    time: now,
    requestId: `process-${instance}`,
    service: 'audit',
    operation,
    principalArn: null,
    principalTags: {},
    accessKeyId: null,
    sourceIp: '',
    userAgent: '',
    keyArn: null,
    encryptionContext: null,
    signingAlgorithm: null,
    outcome: 'allowed',
    errorCode: null,
  };
}

/** The chain's record of events refused while the buffer was full. */
function droppedEvent(count: number, now: number): AuditEvent {
  return {
    time: now,
    requestId: `dropped-${count}`,
    service: 'audit',
    operation: 'EventsDropped',
    principalArn: null,
    principalTags: {},
    accessKeyId: null,
    sourceIp: '',
    userAgent: '',
    keyArn: null,
    encryptionContext: null,
    signingAlgorithm: null,
    outcome: 'error',
    errorCode: 'AuditBufferFull',
  };
}
