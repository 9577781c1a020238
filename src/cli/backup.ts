/**
 * `symbolon backup create|verify|restore` (docs/backup.md): the store copied
 * in one consistent snapshot while servers run, its manifest signed with the
 * audit checkpoint key; verified without the root key; restored into an
 * empty store of either dialect under the same root of trust.
 *
 * Exit codes: 0 ok; 1 the backup was refused (damaged, cut, another root, a
 * store that is not empty…), nothing written; 2 bad usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { wipe } from '../crypto/bytes.js';
import { RootKeyError } from '../root/file-root.js';
import { rootSettingsFromEnv } from '../root/settings.js';
import { decodeStoreKeyRecord, openStoreKeys, STORE_KEY_META } from '../root/store-key.js';
import { getMeta } from '../storage/meta.repository.js';
import { sealingContext, SealedBoxError, type RootOfTrust } from '../root/root-of-trust.js';
import { openStore } from '../storage/database.js';
import { migrations as knownMigrations } from '../storage/migrations/index.js';
import {
  BackupError,
  createBackup,
  manifestMessage,
  parseBackup,
  restoreRows,
  seededRows,
  storeIsEmpty,
  type BackupManifest,
  type ParsedBackup,
  type StoreLocation,
} from '../storage/backup.js';
import { CHECKPOINT_KEY_META, checkpointKeyId } from '../audit/checkpoint-key.js';
import { loadConfiguredRoot, ROOT_CHECK, ROOT_CHECK_PURPOSE } from '../server/custodian.js';

const STORE_HELP = `Store (as symbolon serve reads it):
  --data DIR       The embedded SQLite store DIR/symbolon.db and the root key file
                   DIR/root.key (default ./data, or SYMBOLON_DATA_DIR).
  --schema NAME    With DATABASE_URL: a non-default PostgreSQL schema.

Environment:
  DATABASE_URL       postgres://… uses the PostgreSQL store instead of DIR/symbolon.db.
  SYMBOLON_ROOT_KEY  The root key (else DIR/root.key); create and restore need it.
  SYMBOLON_DATA_DIR  Default for --data.
`;

export const BACKUP_USAGE = `Usage: symbolon backup <create|verify|restore> [options]

  create --out FILE
        Copy the store, online and consistent (one snapshot), to FILE (mode 0600):
        every table's rows as stored (secrets only sealed), a manifest with row
        counts, schema version and audit chain head, signed with the audit
        checkpoint key (opened with the root key).
  verify FILE [--public-key HEX]
        Check FILE's structure, every section's SHA-256 and row count, and the
        manifest signature; with --public-key, that it was signed by that
        checkpoint key (the one \`symbolon audit verify\` prints). No store or root key needed.
  restore FILE [--public-key HEX]
        Verify FILE, check that this root key opens its sealed records, then
        write it into an EMPTY store in one transaction (SQLite or PostgreSQL,
        either way). Refused, with nothing written, otherwise.

  -h, --help       This text.

${STORE_HELP}`;

class UsageError extends Error {}

export interface BackupIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
}

const STORE_OPTIONS = { data: { type: 'string' }, schema: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

/** Runs `symbolon backup …` and returns the exit code. */
export async function backupCommand(argv: string[], io: BackupIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'create':
        return await createCommand(rest, io);
      case 'verify':
        return await verifyCommand(rest, io);
      case 'restore':
        return await restoreCommand(rest, io);
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        io.stdout.write(BACKUP_USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown backup command '${sub.slice(0, 40)}'`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`symbolon backup: ${(e as Error).message}\n${BACKUP_USAGE}`);
      return 2;
    }
    if (e instanceof BackupError || e instanceof RootKeyError) {
      io.stderr.write(`symbolon backup ${sub}: refused: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function dataDir(values: { data?: string | undefined }, env: BackupIo['env']): string {
  return resolve(values.data ?? env.SYMBOLON_DATA_DIR ?? './data');
}

function location(values: { data?: string | undefined; schema?: string | undefined }, env: BackupIo['env']): StoreLocation {
  const url = env.DATABASE_URL || undefined;
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError('DATABASE_URL must be a postgres:// URL');
    if (values.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(values.schema)) throw new UsageError('--schema must be a lower-case SQL identifier');
    return { databaseUrl: url, pgSchema: values.schema };
  }
  if (values.schema !== undefined) throw new UsageError('--schema needs DATABASE_URL');
  return { sqliteFile: join(dataDir(values, env), 'symbolon.db') };
}

function describe(where: StoreLocation): string {
  if ('sqliteFile' in where) return where.sqliteFile;
  const u = new URL(where.databaseUrl);
  u.password = '';
  return `${u.host}${u.pathname}${where.pgSchema ? ` (schema ${where.pgSchema})` : ''}`;
}

/**
 * The sealer the store's records open with, as serve gets it: the configured
 * root (SYMBOLON_ROOT; never generated — a backup needs the store's existing
 * root) unwraps the store key held in `storeKeyRecord`; a store made before
 * the key hierarchy (no such record) opens directly under its root key file.
 * The root is closed before this returns. The caller destroys the sealer.
 * @throws {BackupError} "sealed under another root" when the root does not unwrap the store key.
 */
async function openSealer(
  values: { data?: string | undefined },
  env: BackupIo['env'],
  storeKeyRecord: Uint8Array | undefined,
): Promise<RootOfTrust & { destroy(): void }> {
  const { root } = await loadConfiguredRoot(
    { root: rootSettingsFromEnv(env), dataDir: dataDir(values, env), rootKey: env.SYMBOLON_ROOT_KEY || undefined },
    true,
  );
  let legacy = root.legacySealer?.();
  try {
    if (!storeKeyRecord) {
      if (!legacy) throw new BackupError(`sealed under another root: this store was sealed directly under a root key file, but SYMBOLON_ROOT is ${root.kind}`);
      const sealer = legacy;
      legacy = undefined;
      return sealer;
    }
    try {
      const sealer = await openStoreKeys(root, storeKeyRecord, legacy);
      if (decodeStoreKeyRecord(storeKeyRecord).legacy) legacy = undefined; // the sealer owns it now
      return sealer;
    } catch (e) {
      if (e instanceof RootKeyError) throw new BackupError(`sealed under another root: ${e.message}`);
      throw e;
    }
  } finally {
    legacy?.destroy();
    await root.close();
  }
}

/** The store-key record of a live store (read before the snapshot: it changes only when the root is migrated). */
async function liveStoreKeyRecord(from: StoreLocation): Promise<Uint8Array | undefined> {
  const store = await openStore({
    ...('sqliteFile' in from ? { sqliteFile: from.sqliteFile } : { databaseUrl: from.databaseUrl, pgSchema: from.pgSchema }),
    migrate: false,
  });
  try {
    return await getMeta(store.db, STORE_KEY_META);
  } finally {
    await store.close();
  }
}

const CHECKPOINT_AAD = (): Uint8Array => sealingContext('audit/checkpoint-key/v1');

/**
 * Opens the checkpoint key sealed in `meta` and runs `fn` with its seed (wiped after).
 * @throws {BackupError} when the key is absent or does not open under `root`.
 */
function withCheckpointSeed<T>(root: RootOfTrust, meta: ReadonlyMap<string, Uint8Array>, fn: (seed: Uint8Array) => T): T {
  const box = meta.get(CHECKPOINT_KEY_META);
  if (!box) throw new BackupError('the store has no audit checkpoint key (start symbolon serve on it once first)');
  let seed: Uint8Array;
  try {
    seed = root.open(box, CHECKPOINT_AAD());
  } catch (e) {
    if (e instanceof SealedBoxError) throw new BackupError('sealed under another root: the root key does not open the store’s checkpoint key');
    throw e;
  }
  try {
    return fn(seed);
  } finally {
    wipe(seed);
  }
}

function signingKeyOf(seed: Uint8Array): BackupManifest['signingKey'] {
  const publicKey = ed25519.getPublicKey(seed);
  return { algorithm: 'Ed25519', keyId: checkpointKeyId(publicKey), publicKey: Buffer.from(publicKey).toString('hex') };
}

async function createCommand(args: string[], io: BackupIo): Promise<number> {
  const { values } = parseArgs({ args, options: { ...STORE_OPTIONS, out: { type: 'string' } }, strict: true });
  if (values.help) return usage(io);
  if (!values.out) throw new UsageError('create needs --out FILE');
  const out = resolve(values.out);
  if (existsSync(out)) throw new UsageError(`${out} exists; choose a new file`);
  const from = location(values, io.env);
  if ('sqliteFile' in from && !existsSync(from.sqliteFile)) throw new UsageError(`no store at ${from.sqliteFile} (use --data DIR, or set DATABASE_URL)`);
  const root = await openSealer(values, io.env, await liveStoreKeyRecord(from));
  const manifest = await createBackup({
    from,
    out,
    now: Date.now(),
    sign: (meta, message) =>
      withCheckpointSeed(root, meta, (seed) => {
        const signingKey = signingKeyOf(seed);
        const signature = Buffer.from(ed25519.sign(message(signingKey), seed)).toString('hex');
        return { signingKey, signature };
      }),
  });
  const rows = manifest.tables.reduce((n, t) => n + t.rows, 0);
  io.stdout.write(
    `Backup of ${describe(from)} written to ${out}: ${manifest.tables.length} tables, ${rows} rows; audit chain head at event ${manifest.auditHead.seq}.\n` +
      `Signed by the audit checkpoint key ${manifest.signingKey.keyId} (Ed25519 public key ${manifest.signingKey.publicKey}).\n`,
  );
  return 0;
}

/**
 * Reads and checks a backup: structure, hashes, counts, signature (and the pinned key).
 * @throws {BackupError} naming the first problem.
 */
function readBackup(file: string, pinned: string | undefined): ParsedBackup {
  if (pinned !== undefined && !/^[0-9a-fA-F]{64}$/.test(pinned)) throw new UsageError('--public-key must be 64 hex characters (an Ed25519 public key)');
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new BackupError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const parsed = parseBackup(buf);
  const { manifest, signature } = parsed;
  let ok = false;
  try {
    ok =
      /^[0-9a-f]{128}$/.test(signature.value) &&
      ed25519.verify(Buffer.from(signature.value, 'hex'), manifestMessage(manifest), Buffer.from(manifest.signingKey.publicKey, 'hex'), { zip215: false });
  } catch {
    ok = false;
  }
  if (!ok) throw new BackupError('the manifest signature does not verify (the manifest was altered)');
  if (checkpointKeyId(Buffer.from(manifest.signingKey.publicKey, 'hex')) !== manifest.signingKey.keyId)
    throw new BackupError('the signing key id does not match its public key');
  if (pinned !== undefined && pinned.toLowerCase() !== manifest.signingKey.publicKey) {
    throw new BackupError(`signed by checkpoint key ${manifest.signingKey.publicKey}, not the expected public key ${pinned.toLowerCase()}`);
  }
  const keys = parsed.tables.find((t) => t.name === 'audit_checkpoint_keys');
  if (keys && !keys.rows.some((r) => r[keys.columns.indexOf('public_key')] === manifest.signingKey.publicKey)) {
    throw new BackupError('the signing key is not among the checkpoint keys the backup records');
  }
  return parsed;
}

function positional(args: string[]) {
  const { values, positionals } = parseArgs({ args, options: { ...STORE_OPTIONS, 'public-key': { type: 'string' } }, strict: true, allowPositionals: true });
  if (values.help) return { values, file: undefined };
  if (positionals.length !== 1) throw new UsageError('give exactly one backup FILE');
  return { values, file: resolve(positionals[0]!) };
}

async function verifyCommand(args: string[], io: BackupIo): Promise<number> {
  const { values, file } = positional(args);
  if (!file) return usage(io);
  const parsed = readBackup(file, values['public-key']);
  const m = parsed.manifest;
  const lines = [
    `Backup ${file}: format ${m.format} v${m.version}, created ${new Date(m.createdAt).toISOString()} from ${m.sourceDialect}.`,
    `Schema: ${m.migrations.length} migrations, the last ${m.migrations[m.migrations.length - 1]}.`,
    `Audit chain head: event ${m.auditHead.seq}, hash ${m.auditHead.hash}.`,
    ...m.tables.filter((t) => t.rows > 0).map((t) => `  ${t.name}: ${t.rows} rows`),
    `Signed by checkpoint key ${m.signingKey.keyId} (Ed25519 public key ${m.signingKey.publicKey}).`,
    values['public-key'] !== undefined
      ? 'OK: every section hash, every count and the signature verify, by the expected key.'
      : 'OK: every section hash, every count and the signature verify. Compare the public key with the one you published (symbolon audit verify prints it), or pass --public-key.',
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function restoreCommand(args: string[], io: BackupIo): Promise<number> {
  const { values, file } = positional(args);
  if (!file) return usage(io);
  const parsed = readBackup(file, values['public-key']);
  const to = location(values, io.env);
  const expected = Object.keys(knownMigrations);
  if (JSON.stringify(parsed.manifest.migrations) !== JSON.stringify(expected)) {
    throw new BackupError(
      `the backup's schema (${parsed.manifest.migrations.length} migrations, the last ${parsed.manifest.migrations.at(-1)}) is not this Symbolon's (${expected.length}, the last ${expected.at(-1)}); restore with the version that made it`,
    );
  }
  // The root must open what the backup holds sealed, before anything is written.
  const root = await openSealer(values, io.env, parsed.meta.get(STORE_KEY_META));
  const check = parsed.meta.get(ROOT_CHECK);
  if (!check) throw new BackupError('the backup holds no root-key check record');
  try {
    wipe(root.open(check, sealingContext(ROOT_CHECK_PURPOSE)));
  } catch (e) {
    if (e instanceof SealedBoxError)
      throw new BackupError(
        'sealed under another root: the configured root key does not open the backup’s records; configure the root key of the store it came from',
      );
    throw e;
  }
  const signer = withCheckpointSeed(root, parsed.meta, signingKeyOf);
  if (signer.publicKey !== parsed.manifest.signingKey.publicKey) {
    throw new BackupError('the manifest was not signed by the checkpoint key the backup holds sealed under this root');
  }
  const seeded = await seededRows(async (sqliteFile) => (await openStore({ sqliteFile })).close());
  if (!('sqliteFile' in to) || existsSync(to.sqliteFile)) {
    const state = await storeIsEmpty(to, seeded);
    if (!state.empty)
      throw new BackupError(`the target store is not empty (${state.nonEmpty.slice(0, 3).join(', ')} have rows); restore only into an empty store`);
  }
  const store = await openStore({
    ...('sqliteFile' in to ? { sqliteFile: to.sqliteFile } : { databaseUrl: to.databaseUrl, pgSchema: to.pgSchema }),
    timeoutMs: 60_000,
  });
  await store.close();
  await restoreRows(to, parsed, seeded);
  const rows = parsed.tables.reduce((n, t) => n + t.rows.length, 0);
  io.stdout.write(
    `Restored ${file} into ${describe(to)}: ${parsed.tables.length} tables, ${rows} rows; audit chain head at event ${parsed.manifest.auditHead.seq}.\n`,
  );
  return 0;
}

function usage(io: BackupIo): number {
  io.stdout.write(BACKUP_USAGE);
  return 0;
}
