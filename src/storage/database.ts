/**
 * Opens the store: embedded SQLite (better-sqlite3, WAL) by default, PostgreSQL
 * (pg) when a postgres:// URL is given, both behind one Kysely instance and one
 * set of migrations.
 *
 * Faults: pending migrations apply in one transaction on both dialects (a
 * failed first start leaves nothing half-made); the SQLite files are mode
 * 0600; PostgreSQL connections that fail are logged (code only) and replaced,
 * never fatal, and every connect, pool wait and statement is bounded by
 * `timeoutMs`, so an unreachable database fails requests fast with an error
 * isStoreUnavailable() recognises (the services answer it as retryable).
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { startWalCheckpointer, type WalCheckpointer, type WalCheckpointStats } from './wal-checkpointer.js';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  sql,
  type Driver,
  type MigrationProvider,
  type PostgresPool,
  type PostgresPoolClient,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';
import type { Tables } from './tables.js';
import { migrations } from './migrations/index.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Tables>;
  dialect: DialectName;
  /**
   * Applies pending migrations, all in one transaction (done by openStore unless `migrate: false`).
   * @throws {Error} when a migration fails; nothing of the failed run remains.
   */
  migrate(): Promise<void>;
  /** Closes every connection. */
  close(): Promise<void>;
  /**
   * SQLite only (undefined on PostgreSQL): a number that changes whenever
   * another connection — another process, or another store on the same file —
   * has committed since the last call (`PRAGMA data_version`, a synchronous
   * read of a counter in this connection's shared memory, no statement
   * through Kysely). Commits made through this store's own connection do not
   * change it; callers that cache around it track those themselves.
   * Undefined when it cannot be read now (the caller reads the store).
   */
  externalCommits?: (() => number | undefined) | undefined;
  /** SQLite with `sqliteCheckpoints: 'background'` only: what the checkpoint worker has done (wal-checkpointer.ts). */
  walCheckpoints?: (() => WalCheckpointStats) | undefined;
}

/** Where the store reports connections it lost (code and name only; never a message that could carry a value). */
export interface StoreLogger {
  warn(fields: object, message: string): void;
}

/** How long a PostgreSQL connect, pool wait or statement may take by default (SYMBOLON_DB_TIMEOUT_MS). */
export const DEFAULT_DB_TIMEOUT_MS = 5_000;

export interface OpenStoreOptions {
  /** `postgres://…` for PostgreSQL; otherwise ignored. */
  databaseUrl?: string | undefined;
  /** SQLite file path (ignored for PostgreSQL); `:memory:` for a throwaway store. */
  sqliteFile?: string | undefined;
  /** PostgreSQL schema to use (created if missing); lets tests and tenants share a database. */
  pgSchema?: string | undefined;
  /** Maximum pooled PostgreSQL connections. */
  pgPoolSize?: number | undefined;
  /** PostgreSQL: bound on connecting, waiting for a pooled connection, and each statement (default DEFAULT_DB_TIMEOUT_MS). */
  timeoutMs?: number | undefined;
  /** Where lost PostgreSQL connections are reported (default: nowhere; they are replaced either way). */
  logger?: StoreLogger | undefined;
  /** Apply pending migrations now (default true); false lets the caller look at the store first and call migrate(). */
  migrate?: boolean | undefined;
  /**
   * SQLite file: who checkpoints the WAL. `inline` (default): SQLite, inside the commit that takes
   * the WAL past 1,000 pages, on the caller's thread. `background`: a worker thread with its own
   * connection, so a server's event loop never waits on a checkpoint's copying and fsyncs
   * (src/storage/wal-checkpointer.ts).
   */
  sqliteCheckpoints?: 'inline' | 'background' | undefined;
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

/** `PRAGMA data_version` of one connection, prepared once; undefined while the connection cannot run it (closed, or busy with an iterator). */
function dataVersionReader(database: SQLite.Database): () => number | undefined {
  const statement = database.prepare('PRAGMA data_version').pluck();
  return () => {
    try {
      return statement.get() as number;
    } catch {
      return undefined;
    }
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
  const timeoutMs = options.timeoutMs ?? DEFAULT_DB_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) throw new RangeError('timeoutMs must be an integer from 100 to 600000');
  let migrationDb: (() => Kysely<Tables>) | undefined;
  let sqliteDatabase: SQLite.Database | undefined;
  let checkpointer: WalCheckpointer | undefined;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    dialect = 'postgres';
    const schema = options.pgSchema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new RangeError('pgSchema must be a lower-case SQL identifier');
    if (schema) {
      migrationTableSchema = schema;
      const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
      admin.on('error', () => undefined); // a failure surfaces through connect() or query()
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
      // Connecting, and waiting for a free pooled connection, each give up after timeoutMs.
      connectionTimeoutMillis: timeoutMs,
      // The server cancels a statement after timeoutMs (the connection stays usable); the
      // client gives up a little later, for a server that does not answer at all.
      statement_timeout: timeoutMs,
      query_timeout: timeoutMs + QUERY_TIMEOUT_GRACE_MS,
      keepAlive: true,
      // BIGINT columns hold epoch milliseconds, well inside Number's exact range.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: resilientPool(pool, options.logger) }) });
  } else {
    dialect = 'sqlite';
    const file = options.sqliteFile ?? ':memory:';
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true });
      ownerOnly(file, true);
    }
    const database = new SQLite(file);
    sqliteDatabase = database;
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    // 8 MiB of page cache (SQLite's default is 2 MiB): a key-cache miss on a store of 1,000,000 keys
    // walks four B-trees (key, material and their primary-key indexes), whose interior pages alone
    // take 2.7 MB; in 2 MiB, every read loaded them again with the leaves (8 page loads, 4 with this).
    // It fills only as pages are read: a small store's process does not grow by it.
    database.pragma('cache_size = -8192');
    // SQLite gives -wal and -shm the database file's mode; files left by an older version are tightened here.
    if (file !== ':memory:') for (const suffix of ['-wal', '-shm', '-journal']) ownerOnly(file + suffix, false);
    if (file !== ':memory:' && options.sqliteCheckpoints === 'background')
      checkpointer = startWalCheckpointer(database, file, {
        onFailure: (e) => options.logger?.warn({ error: e.name }, 'the WAL checkpoint worker stopped; SQLite checkpoints inside commits again'),
      });
    db = new Kysely<Tables>({ dialect: new ImmediateSqliteDialect({ database: cachingSqliteDatabase(database) }) });
    migrationDb = () =>
      new Kysely<Tables>({
        dialect: new TransactionalDdlSqliteDialect({ database: { prepare: (t) => database.prepare(t) as unknown as SqliteStatement, close: () => undefined } }),
      });
  }
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrate = async (): Promise<void> => {
    // SQLite's DDL is transactional, but Kysely does not assume so: migrations run on
    // a second Kysely over the same connection whose dialect says it is (BEGIN IMMEDIATE).
    const target = migrationDb?.() ?? db;
    try {
      // Kysely looks for its own tables across every schema unless told which one is ours.
      const migrator = new Migrator({ db: target, provider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
      let { error, results } = await migrator.migrateToLatest();
      // Kysely's PostgreSQL introspection lists tables of every schema; a schema
      // dropped at that moment by another process (3F000, 42P01) fails the listing,
      // not our migration. Such races (isCatalogRace) are retried a few times.
      for (let attempt = 1; error && dialect === 'postgres' && isCatalogRace(error) && attempt <= 5; attempt++) {
        await new Promise((r) => setTimeout(r, 50 * attempt));
        ({ error, results } = await migrator.migrateToLatest());
      }
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
        // The SQLSTATE (never a value) says which race or fault it was.
        const code = (error as { code?: unknown })?.code;
        throw new Error(`database migration ${failed} failed${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}; nothing of it was applied`, {
          cause: error,
        });
      }
    } finally {
      if (target !== db) await target.destroy();
    }
  };
  // The checkpoint worker stops first: the serving connection, closed last, then checkpoints what is left.
  const close = async (): Promise<void> => {
    await checkpointer?.close();
    await db.destroy();
  };
  const store: Store = {
    db,
    dialect,
    migrate,
    close,
    externalCommits: sqliteDatabase && dataVersionReader(sqliteDatabase),
    walCheckpoints: checkpointer && (() => checkpointer.stats()),
  };
  if (options.migrate !== false) {
    try {
      await migrate();
    } catch (e) {
      await close();
      throw e;
    }
  }
  return store;
}

/** The client side of a PostgreSQL statement timeout waits this much longer than the server's. */
const QUERY_TIMEOUT_GRACE_MS = 500;

/**
 * Creates `file` with mode 0600 when `create` and it is missing; tightens an
 * existing file that others can read (files written by an older version).
 */
function ownerOnly(file: string, create: boolean): void {
  if (!existsSync(file)) {
    if (create) closeSync(openSync(file, 'a', 0o600));
    return;
  }
  if (statSync(file).mode & 0o077) {
    try {
      chmodSync(file, 0o600);
    } catch {
      // Owned by another user: not ours to change; the server still runs as before.
    }
  }
}

/**
 * SQLite whose transactions begin IMMEDIATE: a transaction takes the write lock
 * before it reads, so two processes over one file queue for it (busy_timeout)
 * instead of the second failing with SQLITE_BUSY_SNAPSHOT when it upgrades a
 * read to a write after the other has committed (WAL mode cannot wait there).
 * Every transaction Symbolon opens writes, so nothing is serialized needlessly.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

/** SQLite for migrations: transactional DDL (which SQLite has), begun IMMEDIATE so two first starts queue rather than fail. */
class TransactionalDdlSqliteDialect extends ImmediateSqliteDialect {
  override createAdapter(): SqliteAdapter {
    return new (class extends SqliteAdapter {
      override get supportsTransactionalDdl(): boolean {
        return true;
      }
    })();
  }
}

const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// pg's own connection failures carry no code, only these messages.
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
];

/** The connection itself failed (as opposed to the statement): the client must not be reused. */
function isConnectionFault(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const code = typeof err?.code === 'string' ? err.code : '';
  if (CONNECTION_ERROR_CODES.has(code)) return true;
  // SQLSTATE 08 connection exception; 57P01-57P03 administrator shutdown, crash shutdown, cannot connect now; 53300 too many connections.
  if (/^08[0-9A-Z]{3}$/.test(code) || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  const message = typeof err?.message === 'string' ? err.message : '';
  return PG_CONNECTION_MESSAGES.some((m) => message.startsWith(m));
}

/**
 * Whether `e` (or its cause) says the database is unreachable or too slow for now:
 * a lost or refused connection, a connect, pool-wait or statement timeout
 * (SQLSTATE 57014), or a SQLite write lock held past busy_timeout. The services
 * answer these as retryable 5xx errors in their own shape.
 */
export function isStoreUnavailable(e: unknown): boolean {
  for (let err = e, depth = 0; err && depth < 4; err = (err as { cause?: unknown }).cause, depth++) {
    if (isConnectionFault(err)) return true;
    const code = (err as { code?: unknown }).code;
    // SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, _RECOVERY, _TIMEOUT): another process holds the database.
    if (code === '57014' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY'))) return true;
  }
  return false;
}

/**
 * The pool as Kysely sees it, made to survive a database that goes away: an
 * error on an idle or checked-out connection is logged (code and name) instead
 * of crashing the process (pg emits it as an `error` event), and a connection
 * whose query failed at the connection level goes back to the pool marked
 * broken, so the pool closes it and connects afresh next time.
 */
function resilientPool(pool: pg.Pool, logger: StoreLogger | undefined): PostgresPool {
  const report = (err: unknown): void => {
    const e = err as { code?: unknown; name?: unknown } | undefined;
    logger?.warn(
      { code: typeof e?.code === 'string' ? e.code : undefined, error: typeof e?.name === 'string' ? e.name : 'Error' },
      'PostgreSQL connection lost; it will be replaced',
    );
  };
  // Every client reports its own errors, idle or checked out; the pool re-emits an idle
  // client's, which would crash the process unheard.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', report));
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let broken: Error | undefined;
      return {
        query: ((...args: unknown[]) => {
          // A transaction's ROLLBACK after a lost connection fails at once rather than waiting out another timeout.
          if (broken && typeof args[0] === 'string') return Promise.reject(broken);
          const result = (client.query as (...a: unknown[]) => unknown)(...args);
          if (result instanceof Promise) {
            result.catch((e: unknown) => {
              if (isConnectionFault(e)) broken = e as Error;
            });
          }
          return result;
        }) as PostgresPoolClient['query'],
        release: () => client.release(broken),
      };
    },
    end: () => pool.end(),
  };
}

/**
 * Errors of concurrent catalog activity by other processes (tests create and drop schemas
 * while Kysely lists every schema's tables, and two processes may create the same
 * migration tables at once): invalid schema, undefined table or object, cache lookup
 * failed, deadlock, serialization failure, duplicate catalog row / table / schema.
 * Pending migrations run in one transaction, so a failed attempt leaves nothing behind.
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
