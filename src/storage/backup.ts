/**
 * Backups of the store (docs/backup.md): a generic, dialect-neutral copy of
 * every table, read in one consistent snapshot while servers run, and restored
 * in one transaction into an empty store of either dialect.
 *
 * Generic on purpose: tables and columns come from the database's own catalog
 * (sqlite_master / information_schema), never from a list kept here, so a
 * table a later migration adds is carried without a change to this file. Rows
 * leave as the store holds them: secrets are only ever stored sealed under the
 * root of trust, and `assertNoPlaintextSecretColumns` refuses a schema with a
 * column whose name says it holds an unsealed secret.
 *
 * The file format (version 1) is JSON Lines:
 *   line 1      {"format":"symbolon-backup","version":1}
 *   per table   {"table":NAME,"columns":[…]}  then one JSON array per row
 *   last line   {"manifest":{…},"signature":{…}}
 * Byte values are written as {"b64":"…"}; every other value is a JSON string,
 * number or null. The manifest lists each table's row count and the SHA-256 of
 * its section (the header line and its row lines, bytes as written), the
 * SHA-256 of line 1, the schema version (the applied migrations), the audit
 * chain head and the creation time; the signature is Ed25519 over its
 * canonical JSON, made by the caller (the audit checkpoint key).
 *
 * Faults: a flipped bit anywhere fails a section hash, the manifest signature
 * or the parse; a cut file lacks its manifest; an unknown version is refused
 * before anything else is read. Restore checks every table empty inside its
 * write transaction, and writes nothing unless every row goes in.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { canonicalJson, type CanonicalValue } from '../crypto/canonical-json.js';

export const BACKUP_FORMAT = 'symbolon-backup';
export const BACKUP_VERSION = 1;
export const MANIFEST_TYPE = 'symbolon.backup.manifest.v1';

/** A backup was refused: corrupt, cut, of an unknown version, or not for this store. The message says which. */
export class BackupError extends Error {
  override name = 'BackupError';
}

/** Where the store is: the SQLite file, or PostgreSQL (with an optional schema). */
export type StoreLocation = { sqliteFile: string } | { databaseUrl: string; pgSchema?: string | undefined };

export type Value = string | number | null | Uint8Array;

export interface TableManifest {
  name: string;
  columns: string[];
  rows: number;
  /** SHA-256 (hex) of the section's bytes: its header line and row lines, each with its newline. */
  sha256: string;
}

export interface BackupManifest {
  type: typeof MANIFEST_TYPE;
  format: typeof BACKUP_FORMAT;
  version: number;
  /** Epoch milliseconds. */
  createdAt: number;
  sourceDialect: 'sqlite' | 'postgres';
  /** The schema version: names of the applied migrations, in order. */
  migrations: string[];
  /** SHA-256 (hex) of line 1. */
  headerSha256: string;
  tables: TableManifest[];
  /** The audit chain head in the snapshot (seq 0 and 64 zeros for an empty chain). */
  auditHead: { seq: number; hash: string };
  /** Which key signs the manifest: the store's audit checkpoint key. */
  signingKey: { algorithm: 'Ed25519'; keyId: string; publicKey: string };
}

export interface BackupSignature {
  algorithm: 'Ed25519';
  keyId: string;
  /** Lower-case hex. */
  value: string;
}

/** The bytes the manifest signature covers. */
export function manifestMessage(manifest: BackupManifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson(manifest as unknown as CanonicalValue));
}

const MIGRATION_TABLES = new Set(['kysely_migration', 'kysely_migration_lock']);

/**
 * Column names that would hold a secret in the clear. A column that holds a
 * secret must say it is sealed or encrypted (`sealed`, `sealed_…`,
 * `encrypted_…`) or hashed (`…_hash`, `…_sha256`).
 */
const SECRET_WORDS = /(^|_)(private_key|secret|seed|plaintext|password|passphrase|mnemonic|root_key|data_key|share_a|share_b|share_c)(_|$)/;
const PROTECTED_FORM = /^(sealed|sealed_.*|.*_sealed|encrypted_.*|wrapped_.*|.*_ciphertext|.*_hash|.*_sha256|.*_hmac)$/;

/**
 * Refuses a schema with a column named for an unsealed secret.
 * @throws {BackupError} naming the table and column.
 */
export function assertNoPlaintextSecretColumns(tables: ReadonlyArray<{ name: string; columns: readonly string[] }>): void {
  for (const t of tables) {
    for (const c of t.columns) {
      if (SECRET_WORDS.test(c) && !PROTECTED_FORM.test(c)) {
        throw new BackupError(
          `column ${t.name}.${c} is named for a secret but not as sealed, encrypted or hashed; only sealed records may leave the store, so no backup was written`,
        );
      }
    }
  }
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new BackupError(`unexpected identifier ${JSON.stringify(name.slice(0, 70))}`);
  return `"${name}"`;
}

/** One open connection in a snapshot (read) or a write transaction. */
interface Session {
  dialect: 'sqlite' | 'postgres';
  /** Tables (not the migrator's), parents before children. */
  tables(): Promise<Array<{ name: string; columns: string[] }>>;
  migrations(): Promise<string[]>;
  /** Streams rows as arrays in `columns` order, `batch` rows at a time. */
  rows(table: string, columns: string[]): AsyncIterable<Value[][]>;
  count(table: string): Promise<number>;
  insert(table: string, columns: string[], rows: Value[][]): Promise<void>;
  clear(table: string): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

const INT8_OID = 20;
const PG_BATCH = 5_000;

function pgClient(url: string, schema: string | undefined): pg.Client {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new RangeError('schema must be a lower-case SQL identifier');
  return new pg.Client({
    connectionString: url,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
}

/** Orders tables so that every table comes after the tables its foreign keys name (then by name). */
function parentsFirst(tables: Array<{ name: string; columns: string[] }>, parents: Map<string, Set<string>>): Array<{ name: string; columns: string[] }> {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const out: Array<{ name: string; columns: string[] }> = [];
  const done = new Set<string>();
  const visit = (name: string, path: Set<string>): void => {
    if (done.has(name) || path.has(name)) return;
    path.add(name);
    for (const p of [...(parents.get(name) ?? [])].sort()) if (p !== name && byName.has(p)) visit(p, path);
    path.delete(name);
    done.add(name);
    out.push(byName.get(name)!);
  };
  for (const t of [...tables].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) visit(t.name, new Set());
  return out;
}

function toSqliteValue(v: Value): unknown {
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
}

async function sqliteSession(file: string, mode: 'read' | 'write'): Promise<Session> {
  const db = new SQLite(file, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  db.defaultSafeIntegers(false);
  // A read transaction: its snapshot is fixed at the first read (WAL), whatever writers do meanwhile.
  db.prepare(mode === 'read' ? 'BEGIN' : 'BEGIN IMMEDIATE').run();
  if (mode === 'write') db.pragma('defer_foreign_keys = ON');
  let open = true;
  const end = (statement: string): void => {
    if (!open) return;
    open = false;
    try {
      if (db.inTransaction) db.prepare(statement).run();
    } finally {
      db.close();
    }
  };
  return {
    dialect: 'sqlite',
    async tables() {
      const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>)
        .map((r) => r.name)
        .filter((n) => !MIGRATION_TABLES.has(n));
      const parents = new Map<string, Set<string>>();
      const tables = names.map((name) => {
        const columns = (db.prepare(`PRAGMA table_info(${quoteIdent(name)})`).all() as Array<{ name: string; cid: number }>)
          .sort((a, b) => a.cid - b.cid)
          .map((c) => c.name);
        parents.set(name, new Set((db.prepare(`PRAGMA foreign_key_list(${quoteIdent(name)})`).all() as Array<{ table: string }>).map((f) => f.table)));
        return { name, columns };
      });
      return parentsFirst(tables, parents);
    },
    async migrations() {
      const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'").get();
      if (!exists) return [];
      return (db.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name);
    },
    async *rows(table, columns) {
      const statement = db.prepare(`SELECT ${columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(table)}`).raw(true);
      let batch: Value[][] = [];
      for (const row of statement.iterate() as Iterable<Value[]>) {
        batch.push(row);
        if (batch.length === PG_BATCH) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    },
    async count(table) {
      return (db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(table)}`).get() as { n: number }).n;
    },
    async insert(table, columns, rows) {
      const statement = db.prepare(`INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
      for (const row of rows) statement.run(row.map(toSqliteValue));
    },
    async clear(table) {
      db.prepare(`DELETE FROM ${quoteIdent(table)}`).run();
    },
    async commit() {
      end('COMMIT');
    },
    async rollback() {
      end('ROLLBACK');
    },
  };
}

async function pgSession(url: string, schema: string | undefined, mode: 'read' | 'write'): Promise<Session> {
  const client = pgClient(url, schema);
  client.on('error', () => undefined); // surfaces through the next query
  await client.connect();
  try {
    // One snapshot for every table: REPEATABLE READ fixes it at the first statement.
    await client.query(mode === 'read' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
  } catch (e) {
    await client.end();
    throw e;
  }
  let open = true;
  const end = async (statement: string): Promise<void> => {
    if (!open) return;
    open = false;
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  let cursor = 0;
  return {
    dialect: 'postgres',
    async tables() {
      const names = (
        await client.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
      ).rows
        .map((r) => r.table_name)
        .filter((n) => !MIGRATION_TABLES.has(n));
      const cols = await client.query<{ table_name: string; column_name: string }>(
        'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position',
      );
      const fks = await client.query<{ child: string; parent: string }>(
        `SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k
           JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE k.contype = 'f' AND n.nspname = current_schema()`,
      );
      const parents = new Map<string, Set<string>>();
      for (const f of fks.rows) {
        if (!parents.has(f.child)) parents.set(f.child, new Set());
        parents.get(f.child)!.add(f.parent);
      }
      const tables = names.map((name) => ({ name, columns: cols.rows.filter((c) => c.table_name === name).map((c) => c.column_name) }));
      return parentsFirst(tables, parents);
    },
    async migrations() {
      const exists = await client.query("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'kysely_migration'");
      if (exists.rowCount === 0) return [];
      return (await client.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name')).rows.map((r) => r.name);
    },
    async *rows(table, columns) {
      const name = `backup_cursor_${++cursor}`;
      await client.query(`DECLARE ${name} NO SCROLL CURSOR FOR SELECT ${columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(table)}`);
      try {
        for (;;) {
          const r = await client.query({ text: `FETCH ${PG_BATCH} FROM ${name}`, rowMode: 'array' });
          if (r.rows.length === 0) break;
          yield r.rows as Value[][];
        }
      } finally {
        await client.query(`CLOSE ${name}`);
      }
    },
    async count(table) {
      return Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(table)}`)).rows[0]!.n);
    },
    async insert(table, columns, rows) {
      // At most 65,535 parameters per statement.
      const per = Math.max(1, Math.floor(60_000 / columns.length));
      for (let i = 0; i < rows.length; i += per) {
        const chunk = rows.slice(i, i + per);
        const params: unknown[] = [];
        const tuples = chunk.map((row) => `(${row.map((v) => (params.push(v instanceof Uint8Array ? Buffer.from(v) : v), `$${params.length}`)).join(', ')})`);
        await client.query(`INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) VALUES ${tuples.join(', ')}`, params);
      }
    },
    async clear(table) {
      await client.query(`DELETE FROM ${quoteIdent(table)}`);
    },
    commit: () => end('COMMIT'),
    rollback: () => end('ROLLBACK'),
  };
}

function openSession(where: StoreLocation, mode: 'read' | 'write'): Promise<Session> {
  return 'sqliteFile' in where ? sqliteSession(where.sqliteFile, mode) : pgSession(where.databaseUrl, where.pgSchema, mode);
}

function encodeValue(v: unknown): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'number') return v;
  if (v instanceof Uint8Array) return { b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new BackupError(`a value of type ${typeof v} has no backup encoding`);
}

function decodeValue(v: unknown, where: string): Value {
  if (v === null || typeof v === 'string' || typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 1 && typeof (v as { b64?: unknown }).b64 === 'string') {
    const text = (v as { b64: string }).b64;
    const bytes = Buffer.from(text, 'base64');
    if (bytes.toString('base64') !== text) throw new BackupError(`${where}: malformed base64`);
    return new Uint8Array(bytes);
  }
  throw new BackupError(`${where}: a value the format does not allow`);
}

/** What a snapshot yields besides the file: the rows a signer may need (the sealed checkpoint seed). */
export interface SnapshotResult {
  manifest: BackupManifest;
}

/** Writes lines to a file in large chunks. */
class ChunkWriter {
  readonly #fd: number;
  #parts: Buffer[] = [];
  #size = 0;
  constructor(fd: number) {
    this.#fd = fd;
  }
  write(b: Buffer): void {
    this.#parts.push(b);
    this.#size += b.length;
    if (this.#size >= 1 << 20) this.flush();
  }
  flush(): void {
    if (this.#size === 0) return;
    const all = Buffer.concat(this.#parts, this.#size);
    for (let off = 0; off < all.length; ) off += writeSync(this.#fd, all, off);
    this.#parts = [];
    this.#size = 0;
  }
}

export interface CreateBackupOptions {
  from: StoreLocation;
  out: string;
  now: number;
  /**
   * Signs the manifest, given the snapshot's `symbolon_meta` rows (name → value) to find the sealed
   * signing key in; returns the signing key's identity and the signature.
   */
  sign(
    meta: ReadonlyMap<string, Uint8Array>,
    message: (signingKey: BackupManifest['signingKey']) => Uint8Array,
  ): { signingKey: BackupManifest['signingKey']; signature: string };
}

/**
 * Writes a backup of the store at `from` to `out` (mode 0600; written to a
 * temporary file beside it and renamed into place once complete and synced).
 * @throws {BackupError} when the schema holds a column named for an unsealed secret, or the snapshot lacks what the format needs.
 */
export async function createBackup(options: CreateBackupOptions): Promise<BackupManifest> {
  const session = await openSession(options.from, 'read');
  const tmp = `${options.out}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    const tables = await session.tables();
    assertNoPlaintextSecretColumns(tables);
    const migrations = await session.migrations();
    if (migrations.length === 0) throw new BackupError('the store has no schema (no migrations applied): nothing to back up');
    fd = openSync(tmp, 'wx', 0o600);
    const out = new ChunkWriter(fd);
    const header = Buffer.from(`${JSON.stringify({ format: BACKUP_FORMAT, version: BACKUP_VERSION })}\n`);
    out.write(header);
    const meta = new Map<string, Uint8Array>();
    let auditHead = { seq: 0, hash: '0'.repeat(64) };
    const manifests: TableManifest[] = [];
    for (const t of tables) {
      const hash = createHash('sha256');
      const line = Buffer.from(`${JSON.stringify({ table: t.name, columns: t.columns })}\n`);
      hash.update(line);
      out.write(line);
      let rows = 0;
      const nameAt = t.columns.indexOf('name');
      const valueAt = t.columns.indexOf('value');
      for await (const batch of session.rows(t.name, t.columns)) {
        const text: string[] = [];
        for (const row of batch) {
          if (t.name === 'symbolon_meta') meta.set(String(row[nameAt]), new Uint8Array(row[valueAt] as Uint8Array));
          if (t.name === 'audit_chain_head') {
            const r = Object.fromEntries(t.columns.map((c, i) => [c, row[i]]));
            if (r.id === 1) auditHead = { seq: Number(r.seq), hash: String(r.hash) };
          }
          text.push(JSON.stringify(row.map(encodeValue)));
        }
        rows += batch.length;
        const chunk = Buffer.from(`${text.join('\n')}\n`);
        hash.update(chunk);
        out.write(chunk);
      }
      manifests.push({ name: t.name, columns: t.columns, rows, sha256: hash.digest('hex') });
    }
    const base = {
      type: MANIFEST_TYPE,
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      createdAt: options.now,
      sourceDialect: session.dialect,
      migrations,
      headerSha256: createHash('sha256').update(header).digest('hex'),
      tables: manifests,
      auditHead,
    } as const;
    let manifest: BackupManifest | undefined;
    const { signingKey, signature } = options.sign(meta, (key) => {
      manifest = { ...base, signingKey: key };
      return manifestMessage(manifest);
    });
    if (!manifest || manifest.signingKey.keyId !== signingKey.keyId) throw new BackupError('the manifest was not signed');
    const sig: BackupSignature = { algorithm: 'Ed25519', keyId: signingKey.keyId, value: signature };
    out.write(Buffer.from(`${JSON.stringify({ manifest, signature: sig })}\n`));
    out.flush();
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, options.out);
    return manifest;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw e;
  } finally {
    await session.rollback();
  }
}

/** A parsed backup whose structure, section hashes and counts checked out (its signature is checked by the caller). */
export interface ParsedBackup {
  manifest: BackupManifest;
  signature: BackupSignature;
  /** Rows per table, decoded, in manifest order. */
  tables: Array<{ name: string; columns: string[]; rows: Value[][] }>;
  /** symbolon_meta as name → value. */
  meta: Map<string, Uint8Array>;
}

function parseLine(buf: Buffer, start: number, end: number, lineNo: number): unknown {
  try {
    return JSON.parse(buf.toString('utf8', start, end));
  } catch {
    throw new BackupError(`line ${lineNo} is not valid JSON (the file is damaged)`);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

function checkManifestShape(m: unknown): asserts m is BackupManifest {
  const x = m as Partial<BackupManifest> | undefined;
  const ok =
    typeof x === 'object' &&
    x !== null &&
    x.type === MANIFEST_TYPE &&
    x.format === BACKUP_FORMAT &&
    x.version === BACKUP_VERSION &&
    Number.isSafeInteger(x.createdAt) &&
    (x.sourceDialect === 'sqlite' || x.sourceDialect === 'postgres') &&
    Array.isArray(x.migrations) &&
    x.migrations.every((n) => typeof n === 'string') &&
    typeof x.headerSha256 === 'string' &&
    HEX64.test(x.headerSha256) &&
    Array.isArray(x.tables) &&
    x.tables.every(
      (t) =>
        typeof t?.name === 'string' &&
        Array.isArray(t.columns) &&
        t.columns.every((c) => typeof c === 'string') &&
        Number.isSafeInteger(t.rows) &&
        typeof t.sha256 === 'string' &&
        HEX64.test(t.sha256),
    ) &&
    typeof x.auditHead === 'object' &&
    Number.isSafeInteger(x.auditHead?.seq) &&
    typeof x.auditHead?.hash === 'string' &&
    x.signingKey?.algorithm === 'Ed25519' &&
    typeof x.signingKey.keyId === 'string' &&
    /^[0-9a-f]{64}$/.test(x.signingKey.publicKey);
  if (!ok) throw new BackupError('the manifest is malformed');
}

/**
 * Parses a backup and checks its structure, version, every section's hash and row count against the manifest.
 * Does not check the signature (verifyBackupSignature does).
 * @throws {BackupError} naming the first problem.
 */
export function parseBackup(buf: Buffer): ParsedBackup {
  const lineEnds: number[] = [];
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) lineEnds.push(i);
  if (lineEnds.length === 0) throw new BackupError('not a Symbolon backup (no header line)');
  const header = parseLine(buf, 0, lineEnds[0]!, 1) as { format?: unknown; version?: unknown } | null;
  if (header === null || typeof header !== 'object' || header.format !== BACKUP_FORMAT) throw new BackupError('not a Symbolon backup (unknown header)');
  if (header.version !== BACKUP_VERSION) {
    throw new BackupError(`unsupported backup format version ${JSON.stringify(header.version)}; this Symbolon reads version ${BACKUP_VERSION}`);
  }
  if (lineEnds[lineEnds.length - 1] !== buf.length - 1) throw new BackupError('the backup is truncated (it does not end with a complete line)');
  const lastStart = lineEnds.length >= 2 ? lineEnds[lineEnds.length - 2]! + 1 : 0;
  const trailer = parseLine(buf, lastStart, buf.length - 1, lineEnds.length) as { manifest?: unknown; signature?: unknown } | null;
  if (trailer === null || typeof trailer !== 'object' || !('manifest' in trailer)) {
    throw new BackupError('the backup is truncated (its signed manifest, the last line, is missing)');
  }
  checkManifestShape(trailer.manifest);
  const manifest = trailer.manifest;
  const signature = trailer.signature as BackupSignature;
  if (signature?.algorithm !== 'Ed25519' || typeof signature.value !== 'string' || signature.keyId !== manifest.signingKey.keyId) {
    throw new BackupError('the manifest signature is malformed');
  }
  if (
    createHash('sha256')
      .update(buf.subarray(0, lineEnds[0]! + 1))
      .digest('hex') !== manifest.headerSha256
  ) {
    throw new BackupError('the header line does not match the manifest (the file was altered)');
  }
  const tables: ParsedBackup['tables'] = [];
  const meta = new Map<string, Uint8Array>();
  let line = 1; // index into lineEnds of the next line to read
  for (const t of manifest.tables) {
    const sectionStart = lineEnds[line - 1]! + 1;
    const sectionEndLine = line + t.rows; // header line index + rows
    if (sectionEndLine > lineEnds.length - 2) {
      throw new BackupError(`table ${t.name}: the file has fewer lines than the manifest counts (it was cut or altered)`);
    }
    const sectionEnd = lineEnds[sectionEndLine]! + 1;
    if (createHash('sha256').update(buf.subarray(sectionStart, sectionEnd)).digest('hex') !== t.sha256) {
      throw new BackupError(`table ${t.name}: its rows do not match the SHA-256 in the manifest (the file was altered or damaged)`);
    }
    const head = parseLine(buf, sectionStart, lineEnds[line]!, line + 1) as { table?: unknown; columns?: unknown };
    if (head?.table !== t.name || JSON.stringify(head.columns) !== JSON.stringify(t.columns)) {
      throw new BackupError(`table ${t.name}: its section header does not match the manifest`);
    }
    const rows: Value[][] = [];
    for (let i = line + 1; i <= sectionEndLine; i++) {
      const raw = parseLine(buf, lineEnds[i - 1]! + 1, lineEnds[i]!, i + 1);
      if (!Array.isArray(raw) || raw.length !== t.columns.length)
        throw new BackupError(`table ${t.name}: line ${i + 1} is not a row of ${t.columns.length} values`);
      rows.push(raw.map((v) => decodeValue(v, `table ${t.name}, line ${i + 1}`)));
    }
    if (t.name === 'symbolon_meta') {
      const n = t.columns.indexOf('name');
      const v = t.columns.indexOf('value');
      for (const r of rows) if (typeof r[n] === 'string' && r[v] instanceof Uint8Array) meta.set(r[n] as string, r[v] as Uint8Array);
    }
    tables.push({ name: t.name, columns: t.columns, rows });
    line = sectionEndLine + 1;
  }
  if (line !== lineEnds.length - 1) throw new BackupError('the file has lines the manifest does not list (it was altered)');
  assertNoPlaintextSecretColumns(tables);
  const head = tables.find((t) => t.name === 'audit_chain_head');
  if (head) {
    const r = head.rows.find((row) => row[head.columns.indexOf('id')] === 1);
    const seq = r ? r[head.columns.indexOf('seq')] : 0;
    const hash = r ? r[head.columns.indexOf('hash')] : '0'.repeat(64);
    if (seq !== manifest.auditHead.seq || hash !== manifest.auditHead.hash)
      throw new BackupError('the audit chain head in the backup differs from the manifest');
  }
  return { manifest, signature, tables, meta };
}

/** A row as comparable text. */
function rowKey(row: Value[]): string {
  return JSON.stringify(row.map(encodeValue));
}

/**
 * The rows the migrations themselves put in a fresh store (such as the audit
 * chain head's single row), by table: what "empty" allows. Found by migrating
 * a throwaway SQLite store, so nothing here lists them.
 */
export async function seededRows(migrate: (sqliteFile: string) => Promise<void>): Promise<Map<string, Set<string>>> {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-seed-'));
  try {
    const file = join(dir, 'seed.db');
    await migrate(file);
    const session = await sqliteSession(file, 'read');
    try {
      const seeded = new Map<string, Set<string>>();
      for (const t of await session.tables()) {
        const keys = new Set<string>();
        for await (const batch of session.rows(t.name, t.columns)) for (const row of batch) keys.add(rowKey(row));
        if (keys.size > 0) seeded.set(t.name, keys);
      }
      return seeded;
    } finally {
      await session.rollback();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Tables of the open session holding rows other than the seeded ones. */
async function tablesWithRows(session: Session, seeded: ReadonlyMap<string, ReadonlySet<string>>): Promise<string[]> {
  const out: string[] = [];
  for (const t of await session.tables()) {
    const n = await session.count(t.name);
    if (n === 0) continue;
    const allowed = seeded.get(t.name);
    let extra = !allowed || n > allowed.size;
    if (!extra) {
      for await (const batch of session.rows(t.name, t.columns)) if (batch.some((row) => !allowed!.has(rowKey(row)))) extra = true;
    }
    if (extra) out.push(t.name);
  }
  return out;
}

/** Whether the store at `where` is empty: no table holds a row beyond those the migrations seed; a store with no tables is empty. */
export async function storeIsEmpty(where: StoreLocation, seeded: ReadonlyMap<string, ReadonlySet<string>>): Promise<{ empty: boolean; nonEmpty: string[] }> {
  const session = await openSession(where, 'read');
  try {
    const nonEmpty = await tablesWithRows(session, seeded);
    return { empty: nonEmpty.length === 0, nonEmpty };
  } finally {
    await session.rollback();
  }
}

/**
 * Inserts every row of `backup` into the (migrated, empty) store at `to`, in one transaction.
 * @throws {BackupError} when a table is not empty or the store's schema differs; nothing is written then.
 */
export async function restoreRows(to: StoreLocation, backup: ParsedBackup, seeded: ReadonlyMap<string, ReadonlySet<string>>): Promise<void> {
  const session = await openSession(to, 'write');
  try {
    const migrations = await session.migrations();
    if (JSON.stringify(migrations) !== JSON.stringify(backup.manifest.migrations)) {
      throw new BackupError('the target store has another schema version than the backup');
    }
    const present = new Map((await session.tables()).map((t) => [t.name, t.columns]));
    const nonEmpty = await tablesWithRows(session, seeded);
    if (nonEmpty.length > 0) throw new BackupError(`the target store is not empty (table ${nonEmpty[0]} has rows); restore only into an empty store`);
    for (const t of backup.tables) {
      const columns = present.get(t.name);
      if (!columns) throw new BackupError(`the target store has no table ${t.name}`);
      const missing = t.columns.filter((c) => !columns.includes(c));
      if (missing.length > 0) throw new BackupError(`the target table ${t.name} has no column ${missing[0]}`);
    }
    // The migrations' own rows give way to the backup's (children first, then parents are refilled in order).
    for (const t of [...backup.tables].reverse()) if (seeded.has(t.name)) await session.clear(t.name);
    for (const t of backup.tables) if (t.rows.length > 0) await session.insert(t.name, t.columns, t.rows);
    await session.commit();
  } finally {
    await session.rollback();
  }
}
