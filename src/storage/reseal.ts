/**
 * Re-sealing in batches (store-key rotation, docs/root-of-trust.md): walks one
 * sealed column of one table in primary-key order, a batch at a time, and
 * writes each box the caller re-seals in its own short transaction, only
 * where the column still holds the box that was read (compare and set), so a
 * row a server changed meanwhile is left to the next pass and the hot path
 * never waits behind a long transaction. Knows nothing about keys: the caller
 * opens and seals.
 */
import { type Kysely, sql } from 'kysely';
import type { Tables } from './tables.js';

/** A column holding sealed boxes: its table, the table's primary key (in order) and the column. */
export interface SealedColumn {
  /** A table of Tables, or one a migration made outside it (wallets_displaced). */
  table: string;
  key: readonly string[];
  column: string;
  /** Further columns the box's associated data names (read with each row). */
  extra?: readonly string[];
}

type Row = Record<string, unknown>;
// Table and column names come from code (SealedColumn constants), never from input.
type AnyDb = Kysely<Record<string, Row>>;

/** Where a walk stands: the primary key of the last row read, or undefined at the start. */
export type Cursor = readonly unknown[] | undefined;

/** Reads up to `limit` rows after `after`, in primary-key order; rows whose column is null are skipped. `next` is `after` itself at the end. */
export async function readSealedBatch(db: Kysely<Tables>, col: SealedColumn, after: Cursor, limit: number): Promise<{ rows: Row[]; next: Cursor }> {
  const keys = sql.join(col.key.map((k) => sql.ref(k)));
  const afterClause =
    after === undefined
      ? sql`1 = 1`
      : col.key.length === 1
        ? sql`${sql.ref(col.key[0]!)} > ${after[0]}`
        : sql`(${keys}) > (${sql.join(after.map((v) => sql`${v}`))})`;
  const cols = sql.join([...col.key, ...(col.extra ?? [])].map((k) => sql.ref(k)));
  const result =
    await sql<Row>`SELECT ${cols}, ${sql.ref(col.column)} AS box FROM ${sql.table(col.table)} WHERE ${sql.ref(col.column)} IS NOT NULL AND ${afterClause} ORDER BY ${keys} LIMIT ${limit}`.execute(
      db,
    );
  const rows = result.rows;
  const last = rows[rows.length - 1];
  return { rows, next: last ? col.key.map((k) => last[k]) : after };
}

/**
 * Writes re-sealed boxes, in one transaction: each where the row still holds
 * the box that was read.
 * @returns how many rows changed.
 */
export async function writeResealed(
  db: Kysely<Tables>,
  col: SealedColumn,
  updates: ReadonlyArray<{ row: Row; old: Uint8Array; box: Uint8Array }>,
): Promise<number> {
  if (updates.length === 0) return 0;
  return (db as unknown as AnyDb).transaction().execute(async (tx) => {
    let changed = 0;
    for (const u of updates) {
      let q = tx
        .updateTable(col.table)
        .set({ [col.column]: u.box })
        .where(col.column, '=', u.old);
      for (const k of col.key) q = q.where(k, '=', u.row[k]);
      const r = await q.executeTakeFirst();
      changed += Number(r.numUpdatedRows);
    }
    return changed;
  });
}

/**
 * Replaces a symbolon_meta value only if it still is `old` (compare and set).
 * @returns whether it was replaced.
 */
export async function replaceMetaIf(db: Kysely<Tables>, name: string, old: Uint8Array, value: Uint8Array): Promise<boolean> {
  const r = await db.updateTable('symbolon_meta').set({ value }).where('name', '=', name).where('value', '=', old).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Every byte column of every table in the store (SQLite BLOB or PostgreSQL bytea), as `table.column`, sorted. */
export async function byteColumns(db: Kysely<Tables>, dialect: 'sqlite' | 'postgres'): Promise<string[]> {
  const out: string[] = [];
  if (dialect === 'postgres') {
    const r = await sql<{ table_name: string; column_name: string }>`
      SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND data_type = 'bytea'`.execute(db);
    for (const c of r.rows) out.push(`${c.table_name}.${c.column_name}`);
  } else {
    const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`.execute(db);
    for (const t of tables.rows) {
      const cols = await sql<{ name: string; type: string }>`SELECT name, type FROM pragma_table_info(${t.name})`.execute(db);
      // CREATE TABLE … AS SELECT (wallets_displaced) declares a BLOB column with no type at all.
      for (const c of cols.rows) if (/blob/i.test(c.type) || c.type === '') out.push(`${t.name}.${c.name}`);
    }
  }
  return out.sort();
}
