/**
 * Opens the store: embedded SQLite (better-sqlite3, WAL) by default, PostgreSQL
 * (pg) when a postgres:// URL is given, both behind one Kysely instance and one
 * set of migrations.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type MigrationProvider, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { Tables } from './tables.js';
import { migrations } from './migrations/index.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Tables>;
  dialect: DialectName;
  /** Closes every connection. */
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** `postgres://…` for PostgreSQL; otherwise ignored. */
  databaseUrl?: string | undefined;
  /** SQLite file path (ignored for PostgreSQL); `:memory:` for a throwaway store. */
  sqliteFile?: string | undefined;
  /** PostgreSQL schema to use (created if missing); lets tests and tenants share a database. */
  pgSchema?: string | undefined;
  /** Maximum pooled PostgreSQL connections. */
  pgPoolSize?: number | undefined;
}

const INT8_OID = 20;

/** How many prepared SQLite statements are kept (distinct SQL texts: a few dozen, plus one audit insert per batch size up to 250). */
export const SQLITE_STATEMENT_CACHE_SIZE = 512;

/**
 * better-sqlite3 as Kysely's SqliteDialect sees it, with each statement
 * prepared once per SQL text and kept (at most `max`, the least recently
 * used dropped first). Kysely's SQLite driver prepares every query anew, and on the hot
 * paths preparing cost more than running (an audit insert 13 µs prepared
 * each time, 4 µs reused, on this project's 2-core machine). Safe because
 * Kysely runs one query at a time on its one SQLite connection (its
 * connection mutex; a streamed query holds the connection until its iterator
 * ends), statements hold SQL and placeholders only, never values, and SQLite
 * re-prepares a kept statement itself when the schema changes.
 */
export function cachingSqliteDatabase(database: SQLite.Database, max = SQLITE_STATEMENT_CACHE_SIZE): SqliteDatabase & { readonly cachedStatements: number } {
  const statements = new Map<string, SqliteStatement>();
  return {
    get cachedStatements() {
      return statements.size;
    },
    prepare(text: string): SqliteStatement {
      let statement = statements.get(text);
      if (statement === undefined) {
        statement = database.prepare(text) as unknown as SqliteStatement;
        if (statements.size >= max) statements.delete(statements.keys().next().value as string);
      } else {
        statements.delete(text); // moved to the most recently used end
      }
      statements.set(text, statement);
      return statement;
    },
    close(): void {
      statements.clear();
      database.close();
    },
  };
}

/**
 * Opens the store and applies pending migrations.
 * @throws {Error} when the database cannot be reached or a migration fails.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const url = options.databaseUrl;
  let db: Kysely<Tables>;
  let dialect: DialectName;
  let migrationTableSchema: string | undefined;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    dialect = 'postgres';
    const schema = options.pgSchema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new RangeError('pgSchema must be a lower-case SQL identifier');
    if (schema) {
      migrationTableSchema = schema;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      } finally {
        await admin.end();
      }
    }
    const pool = new pg.Pool({
      connectionString: url,
      max: options.pgPoolSize ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
      // BIGINT columns hold epoch milliseconds, well inside Number's exact range.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  } else {
    dialect = 'sqlite';
    const file = options.sqliteFile ?? ':memory:';
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const database = new SQLite(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: cachingSqliteDatabase(database) }) });
  }
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  // Kysely looks for its own tables across every schema unless told which one is ours.
  const migrator = new Migrator({ db, provider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  let { error, results } = await migrator.migrateToLatest();
  // Kysely's PostgreSQL introspection lists tables of every schema; a schema
  // dropped at that moment by another process (3F000, 42P01) fails the listing,
  // not our migration. Such races (isCatalogRace) are retried a few times.
  for (let attempt = 1; error && dialect === 'postgres' && isCatalogRace(error) && attempt <= 5; attempt++) {
    await new Promise((r) => setTimeout(r, 50 * attempt));
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    // The SQLSTATE (never a value) says which race or fault it was.
    const code = (error as { code?: unknown })?.code;
    throw new Error(`database migration ${failed} failed${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}`, { cause: error });
  }
  return { db, dialect, close: () => db.destroy() };
}

/**
 * Errors of concurrent catalog activity by other processes (tests create and drop schemas
 * while Kysely lists every schema's tables, and two processes may create the same
 * migration tables at once): invalid schema, undefined table or object, cache lookup
 * failed, deadlock, serialization failure, duplicate catalog row / table / schema.
 * Each migration runs in its own transaction, so a failed attempt leaves nothing behind.
 */
const CATALOG_RACE_CODES = new Set(['3F000', '42P01', '42704', 'XX000', '40P01', '40001', '23505', '42P07', '42P06']);
function isCatalogRace(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && CATALOG_RACE_CODES.has(code);
}

/** Drops a PostgreSQL schema made for a test run. */
export async function dropPgSchema(databaseUrl: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new RangeError('schema must be a lower-case SQL identifier');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

export { sql };
