/**
 * SQLite WAL checkpoints on a worker thread (src/storage/wal-checkpointer.ts,
 * openStore's `sqliteCheckpoints: 'background'`): the serving connection no
 * longer checkpoints, yet under a steady stream of commits the WAL stays
 * bounded (RESTART), shrinks to nothing once writes stop (TRUNCATE), every
 * commit is seen by another connection to the file, and a worker that fails
 * hands checkpoints back to the serving connection. SQLite only; on
 * PostgreSQL the store opens as before and has no checkpoint worker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { openStore } from '../src/storage/database.js';
import { startWalCheckpointer } from '../src/storage/wal-checkpointer.js';

const PG_URL = process.env.DATABASE_URL;
const walBytes = (file: string): number => {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Why these tests skip on the PostgreSQL pass. */
const SQLITE_ONLY = 'SQLite only: the checkpointer copies a SQLite WAL into its database file; they run in the SQLite pass';

test('under steady commits the WAL stays bounded, empties when idle, and another connection sees every commit', {
  skip: PG_URL !== undefined && SQLITE_ONLY,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-wal-'));
  const file = join(dir, 's.db');
  const database = new SQLite(file);
  try {
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.exec('create table t (id integer primary key, body blob not null)');
    const pageSize = Number(database.pragma('page_size', { simple: true }));
    const restartPages = 64;
    const checkpointer = startWalCheckpointer(database, file, { intervalMs: 20, restartPages });
    t.after(() => checkpointer.close());
    assert.equal(database.pragma('wal_autocheckpoint', { simple: true }), 0, 'the serving connection no longer checkpoints');
    const insert = database.prepare('insert into t (body) values (?)');
    const batch = database.transaction(() => {
      for (let i = 0; i < 20; i++) insert.run(Buffer.alloc(2000, i));
    });
    // Commits every few ms for a while, as audit batches do: with no checkpoint at all the WAL would hold every page written.
    let maxWal = 0;
    let rows = 0;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      try {
        batch();
        rows += 20;
      } catch (e) {
        if (!(e as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw e; // RESTART holds the write lock a moment
      }
      maxWal = Math.max(maxWal, walBytes(file));
      await sleep(2);
    }
    const written = rows * 2000;
    const stats = checkpointer.stats();
    assert.ok(stats.restarts > 0, `RESTART ran (${JSON.stringify(stats)})`);
    // Without RESTART the WAL would hold every page written (more than `written`); with it, a few rounds' worth.
    assert.ok(written > 8 * restartPages * pageSize, `enough written to tell (${written} bytes)`);
    assert.ok(maxWal < written / 2, `the WAL stayed bounded: at most ${maxWal} bytes for ${written} bytes written`);
    // Another connection (as another process would) reads every committed row.
    const reader = new SQLite(file, { readonly: true });
    try {
      assert.deepEqual(reader.prepare('select count(*) as n from t').get(), { n: rows });
    } finally {
      reader.close();
    }
    // Idle: the next rounds copy the rest and truncate the WAL to nothing.
    await (async () => {
      const deadline = Date.now() + 10_000;
      // The worker's stats arrive by message after its round: wait for both.
      while (walBytes(file) > 0 || checkpointer.stats().truncates === 0) {
        if (Date.now() > deadline) throw new Error(`the WAL was not truncated (${walBytes(file)} bytes; ${JSON.stringify(checkpointer.stats())})`);
        await sleep(20);
      }
    })();
    assert.ok(checkpointer.stats().truncates > 0);
    await checkpointer.close();
  } finally {
    database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint worker that fails hands checkpoints back to the serving connection', { skip: PG_URL !== undefined && SQLITE_ONLY }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-wal-'));
  const file = join(dir, 's.db');
  const database = new SQLite(file);
  try {
    database.pragma('journal_mode = WAL');
    const failures: Error[] = [];
    // The worker opens the file it is given with fileMustExist: a missing one makes it fail at once.
    const checkpointer = startWalCheckpointer(database, join(dir, 'missing.db'), { onFailure: (e) => failures.push(e) });
    await until('the failure', () => failures.length > 0);
    assert.equal(database.pragma('wal_autocheckpoint', { simple: true }), 1000, 'SQLite checkpoints inside commits again');
    await checkpointer.close();
  } finally {
    database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("openStore's background checkpoints: the store works, its WAL is checkpointed by the worker, and close() stops it", async () => {
  if (PG_URL) {
    // PostgreSQL has no WAL of ours to checkpoint: the option changes nothing.
    const schema = `wal_checkpointer_${randomBytes(4).toString('hex')}`;
    const store = await openStore({ databaseUrl: PG_URL, pgSchema: schema, sqliteCheckpoints: 'background' });
    try {
      assert.equal(store.walCheckpoints, undefined);
      assert.equal(store.dialect, 'postgres');
    } finally {
      await sql.raw(`drop schema ${schema} cascade`).execute(store.db);
      await store.close();
    }
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-wal-'));
  const file = join(dir, 'symbolon.db');
  try {
    const store = await openStore({ sqliteFile: file, sqliteCheckpoints: 'background' });
    try {
      await until('a checkpoint round', () => (store.walCheckpoints?.().rounds ?? 0) > 0);
      // The migrations' pages were copied into the database file by the worker: the WAL empties with no commit on this connection.
      await until('an empty WAL', () => walBytes(file) === 0 && (store.walCheckpoints?.().truncates ?? 0) > 0);
      const row = await sql<{ n: number }>`select count(*) as n from kysely_migration`.execute(store.db);
      assert.ok(Number(row.rows[0]?.n) > 0);
    } finally {
      await store.close();
    }
    // Inline (the default) keeps SQLite's own checkpoints and has no worker.
    const inline = await openStore({ sqliteFile: file });
    try {
      assert.equal(inline.walCheckpoints, undefined);
    } finally {
      await inline.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
