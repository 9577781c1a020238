/**
 * The embedded SQLite store's prepared-statement cache (src/storage/database.ts,
 * cachingSqliteDatabase): each SQL text is prepared once and reused, the cache
 * is bounded, and reuse changes no answer — after a schema change, after a
 * failed statement, with a streamed query open, and on the real store behind
 * Kysely with its migrations. SQLite only (PostgreSQL prepares on the server).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type Generated } from 'kysely';
import { cachingSqliteDatabase, openStore } from '../src/storage/database.js';

/** A real in-memory database whose prepare calls are counted. */
function countingDatabase(): { database: SQLite.Database; prepared: string[] } {
  const database = new SQLite(':memory:');
  const prepared: string[] = [];
  const original = database.prepare.bind(database);
  database.prepare = ((text: string) => {
    prepared.push(text);
    return original(text);
  }) as typeof database.prepare;
  return { database, prepared };
}

test('each SQL text is prepared once and the same statement is reused', () => {
  const { database, prepared } = countingDatabase();
  const cached = cachingSqliteDatabase(database);
  const a = cached.prepare('select 1 as one');
  const b = cached.prepare('select 1 as one');
  assert.equal(a, b);
  assert.deepEqual(a.all([]), [{ one: 1 }]);
  assert.deepEqual(b.all([]), [{ one: 1 }]);
  cached.prepare('select 2 as two');
  assert.deepEqual(prepared, ['select 1 as one', 'select 2 as two']);
  assert.equal(cached.cachedStatements, 2);
  cached.close();
  assert.equal(database.open, false);
});

test('the cache is bounded: past its size the least recently used statement is dropped and prepared again when used', () => {
  const { database, prepared } = countingDatabase();
  const cached = cachingSqliteDatabase(database, 3);
  for (const n of [1, 2, 3]) cached.prepare(`select ${n} as n`);
  cached.prepare('select 1 as n'); // used again: now the most recent
  assert.equal(prepared.length, 3);
  cached.prepare('select 4 as n'); // drops 2, the least recently used
  cached.prepare('select 5 as n'); // drops 3
  assert.equal(cached.cachedStatements, 3);
  assert.equal(prepared.length, 5);
  cached.prepare('select 1 as n'); // still kept
  assert.equal(prepared.length, 5);
  assert.deepEqual(cached.prepare('select 2 as n').all([]), [{ n: 2 }]); // dropped: prepared again
  assert.equal(prepared.length, 6);
  assert.deepEqual(prepared.slice(3), ['select 4 as n', 'select 5 as n', 'select 2 as n']);
  assert.equal(cached.cachedStatements, 3);
  cached.close();
});

test('a kept statement sees schema changes made after it was prepared', () => {
  const cached = cachingSqliteDatabase(new SQLite(':memory:'));
  cached.prepare('create table t (a integer)').run([]);
  cached.prepare('insert into t (a) values (?)').run([1]);
  const select = cached.prepare('select * from t');
  assert.deepEqual(select.all([]), [{ a: 1 }]);
  cached.prepare("alter table t add column b text default 'x'").run([]);
  assert.equal(cached.prepare('select * from t'), select);
  assert.deepEqual(select.all([]), [{ a: 1, b: 'x' }]);
  cached.close();
});

test('a kept statement that failed (constraint) works again with other values', () => {
  const cached = cachingSqliteDatabase(new SQLite(':memory:'));
  cached.prepare('create table u (id integer primary key, v text not null unique)').run([]);
  const insert = cached.prepare('insert into u (v) values (?)');
  insert.run(['a']);
  assert.throws(() => insert.run(['a']), /UNIQUE constraint failed/);
  insert.run(['b']);
  assert.deepEqual(cached.prepare('select v from u order by id').all([]), [{ v: 'a' }, { v: 'b' }]);
  cached.close();
});

test('through Kysely: repeated queries, transactions, and a query run while a stream of the same query is open', async () => {
  const cached = cachingSqliteDatabase(new SQLite(':memory:'));
  const db = new Kysely<{ item: { id: Generated<number>; name: string } }>({ dialect: new SqliteDialect({ database: cached }) });
  try {
    await sql`create table item (id integer primary key, name text not null)`.execute(db);
    for (let i = 0; i < 50; i++)
      await db
        .insertInto('item')
        .values({ name: `n${i}` })
        .execute();
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('item').values({ name: 'rolled back' }).execute();
        throw new Error('abort');
      }),
      /abort/,
    );
    const query = db.selectFrom('item').select(['id', 'name']).orderBy('id');
    const streamed: string[] = [];
    // Kysely holds its one connection for the whole stream: the same query, started meanwhile, waits and then runs on the same kept statement.
    const during = (async () => {
      for await (const row of query.stream()) {
        streamed.push(row.name);
        if (streamed.length === 1) void concurrent();
      }
    })();
    let concurrentResult: Promise<{ id: number; name: string }[]> | undefined;
    function concurrent() {
      concurrentResult = query.execute();
    }
    await during;
    const rows = await concurrentResult!;
    assert.equal(streamed.length, 50);
    assert.equal(rows.length, 50);
    assert.deepEqual(
      rows.map((r) => r.name),
      streamed,
    );
    assert.ok(!streamed.includes('rolled back'));
    // Distinct texts only: 50 inserts share one statement.
    assert.ok(cached.cachedStatements < 10, `${cached.cachedStatements} statements kept`);
  } finally {
    await db.destroy();
  }
});

test('the store opened by openStore (migrations applied) answers the same with its statements kept', async () => {
  const store = await openStore({ sqliteFile: ':memory:' });
  try {
    assert.equal(store.dialect, 'sqlite');
    const count = async () => Number((await sql<{ n: number }>`select count(*) as n from sqlite_master where type = 'table'`.execute(store.db)).rows[0]!.n);
    const first = await count();
    assert.ok(first > 5, `${first} tables`);
    assert.equal(await count(), first);
    await sql`create table extra_for_test (a integer)`.execute(store.db);
    assert.equal(await count(), first + 1);
  } finally {
    await store.close();
  }
});
