/**
 * `symbolon operator migrate-root` and `symbolon operator rotate-store-key`
 * (docs/root-of-trust.md "Moving between roots" and "Rotating the store key").
 *
 * migrate-root unwraps every store-key version with the current root and
 * wraps it with the target: one compare-and-set update of the store_key row,
 * nothing else. rotate-store-key adds store key n+1 (running servers adopt
 * it from the row, src/server/store-key-refresh.ts; it becomes current once
 * they all can open it), re-seals every sealed record in batches, each its own short transaction,
 * and retires the older versions only once no record uses them. Every step is
 * one transaction, so a kill -9 at any moment leaves a store that opens, and
 * running the command again completes it.
 *
 * SEALED_COLUMNS and SEALED_META list everything the store key seals;
 * test/root-rotation.test.ts fails when a byte column or a sealed meta row is
 * missing from them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sealingContext, RootKeyError, SealedBoxError, type RootKey, type KeyRootOfTrust } from '../root/root-of-trust.js';
import { rootSettingsFromEnv } from '../root/settings.js';
import {
  addStoreKeyVersion,
  promoteStoreKeyVersion,
  openStoreKeys,
  retireStoreKeyVersions,
  rewrapStoreKeyRecord,
  sealedBoxVersion,
  STORE_KEY_META,
  storeKeyAad,
  storeKeyRecordInfo,
  type StoreKeySealer,
} from '../root/store-key.js';
import { openStore, type Store } from '../storage/database.js';
import { getMeta } from '../storage/meta.repository.js';
import { byteColumns, type Cursor, readSealedBatch, replaceMetaIf, type SealedColumn, writeResealed } from '../storage/reseal.js';
import { wipe } from '../crypto/bytes.js';
import { materialAad } from '../kms/keystore.js';
import { accessKeySecretAad } from '../aws/access-key-source.js';
import { sessionSecretAad } from '../sts/session-credential-source.js';
import { shareBContext } from '../wallet/wallets.js';
import { webhookSecretAad } from '../audit/webhooks.js';
import { CHECKPOINT_KEY_META } from '../audit/checkpoint-key.js';
import { PLATFORM_KEY_META, platformKeySealingContext } from '../attestation/platform-key.js';
import { PEPPER_CONTEXT, PEPPER_META } from '../identity/issuer/secrets.js';
import { ISSUER_KEY_CONTEXT, ISSUER_KEY_META } from '../identity/issuer/signing-key.js';
import { loadConfiguredRoot, ROOT_CHECK, ROOT_CHECK_PURPOSE } from '../server/custodian.js';

type Row = Record<string, unknown>;

/** A sealed column and the associated data its boxes are bound to. */
export interface SealedColumnSpec extends SealedColumn {
  aad(row: Row): Uint8Array;
}

/** Every table column the store key seals (symbolon_meta rows are in SEALED_META). */
export const SEALED_COLUMNS: readonly SealedColumnSpec[] = [
  { table: 'kms_key_material', key: ['key_id', 'version'], column: 'sealed', aad: (r) => materialAad(String(r.key_id), Number(r.version)) },
  { table: 'iam_access_keys', key: ['access_key_id'], column: 'sealed_secret', aad: (r) => accessKeySecretAad(String(r.access_key_id)) },
  { table: 'sts_sessions', key: ['session_id'], column: 'sealed_secret', aad: (r) => sessionSecretAad(String(r.session_id)) },
  // Share B is bound to its share generation from the first rotation on (docs/signer.md, "Share rotation").
  {
    table: 'wallets',
    key: ['id'],
    extra: ['user_id', 'address', 'share_generation'],
    column: 'share_b_sealed',
    aad: (r) => shareBContext(String(r.user_id), String(r.address), Number(r.share_generation ?? 0)),
  },
  // Wallets a migration moved aside, unchanged (src/storage/migrations/2026-12-07T0100-wallet-address-unique.ts).
  {
    table: 'wallets_displaced',
    key: ['id'],
    extra: ['user_id', 'address'],
    column: 'share_b_sealed',
    aad: (r) => shareBContext(String(r.user_id), String(r.address)),
  },
  // Monitoring webhooks' HMAC secrets (src/audit/webhooks.ts).
  { table: 'monitor_webhooks', key: ['webhook_id'], column: 'sealed_secret', aad: (r) => webhookSecretAad(String(r.webhook_id)) },
];

/** Byte columns that hold no box sealed by the store key, and why. */
export const UNSEALED_BYTE_COLUMNS: Readonly<Record<string, string>> = {
  'kms_key_material.public_key': 'a public key',
  'identity_login_codes.code_hash': 'an HMAC of a login code',
  'identity_passkeys.public_key': "a passkey's public key (COSE_Key); the private key never leaves the authenticator",
  'wallets.encrypted_private_key': "an envelope wallet's key, encrypted on the device under a data key the custodian never stores in the clear",
  'wallets.encrypted_data_key': "a KMS ciphertext under the user's master key (itself sealed in kms_key_material)",
  'wallets.wrapped_share_c_device': "a split wallet's device share, AES-GCM under the owner's non-extractable device key, opened only on that device",
  'wallets.wrapped_share_c_recovery': "the device share, AES-GCM under a key derived from the owner's recovery code (never stored)",
  'wallets.wrapped_share_c_passkey': "the device share, AES-GCM under a key derived from a passkey's PRF output (computed only by the owner's authenticator)",
  'wallets_displaced.encrypted_private_key': 'as wallets.encrypted_private_key',
  'wallets_displaced.encrypted_data_key': 'as wallets.encrypted_data_key',
  'symbolon_meta.value': 'named values; the sealed ones are in SEALED_META',
};

/** The symbolon_meta rows sealed by the store key, and their associated data. */
export const SEALED_META: Readonly<Record<string, () => Uint8Array>> = {
  [ROOT_CHECK]: () => sealingContext(ROOT_CHECK_PURPOSE),
  [CHECKPOINT_KEY_META]: () => sealingContext('audit/checkpoint-key/v1'),
  [PLATFORM_KEY_META]: platformKeySealingContext,
  [PEPPER_META]: () => sealingContext(PEPPER_CONTEXT),
  [ISSUER_KEY_META]: () => sealingContext(ISSUER_KEY_CONTEXT),
};

const META_COLUMN: SealedColumnSpec = {
  table: 'symbolon_meta',
  key: ['name'],
  column: 'value',
  aad: (r) => {
    const aad = SEALED_META[String(r.name)];
    if (!aad)
      throw new StoreKeyOpError(`symbolon_meta row "${String(r.name).slice(0, 60)}" holds a sealed box this command does not know; nothing was retired`);
    return aad();
  },
};

/** Whether a symbolon_meta value is a sealed box (the store-key row and plain values are not). */
function metaIsSealed(name: string, value: Uint8Array): boolean {
  if (name === STORE_KEY_META) return false;
  return name in SEALED_META || (sealedBoxVersion(value) !== undefined && value.length >= 5 + 12 + 16);
}

/** Refused: nothing (more) was written; the message says why. */
export class StoreKeyOpError extends Error {
  override name = 'StoreKeyOpError';
}

export interface StoreLocation {
  dataDir: string;
  databaseUrl: string | undefined;
  pgSchema: string | undefined;
}

export interface OpsIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
}

/** Tests only (NODE_ENV=test): SYMBOLON_TEST_CRASH_AT=N kills this process with SIGKILL at its Nth step boundary. */
function crashPoints(env: OpsIo['env']): () => void {
  const at = env.NODE_ENV === 'test' && env.SYMBOLON_TEST_CRASH_AT ? Number(env.SYMBOLON_TEST_CRASH_AT) : 0;
  let n = 0;
  return () => {
    n++;
    if (at > 0 && n === at) process.kill(process.pid, 'SIGKILL');
  };
}

async function openExistingStore(where: StoreLocation): Promise<Store> {
  const file = join(where.dataDir, 'symbolon.db');
  if (!where.databaseUrl && !existsSync(file)) throw new StoreKeyOpError(`no store at ${file} (use --data DIR, or set DATABASE_URL)`);
  const store = await openStore({
    databaseUrl: where.databaseUrl,
    sqliteFile: join(where.dataDir, 'symbolon.db'),
    pgSchema: where.pgSchema,
    migrate: false,
  });
  return store;
}

async function storeKeyRow(store: Store): Promise<Uint8Array> {
  let row: Uint8Array | undefined;
  try {
    row = await getMeta(store.db, STORE_KEY_META);
  } catch {
    row = undefined;
  }
  if (!row) throw new StoreKeyOpError('this store has no store key yet (start symbolon serve on it once first)');
  return row;
}

function currentRoot(where: StoreLocation, env: OpsIo['env']): Promise<{ root: RootKey }> {
  let settings: ReturnType<typeof rootSettingsFromEnv>;
  try {
    settings = rootSettingsFromEnv(env);
  } catch (e) {
    throw new StoreKeyOpError((e as Error).message);
  }
  return loadConfiguredRoot({ root: settings, dataDir: where.dataDir, rootKey: env.SYMBOLON_ROOT_KEY || undefined }, true);
}

const TARGET_NAMES = /^SYMBOLON_(ROOT|ROOT_KEY|ROOT_KMS_[A-Z_]+|PKCS11_[A-Z_]+)$/;

/**
 * The target root's settings, as SYMBOLON_ROOT… names: from `--to-env FILE`
 * (KEY=VALUE lines with the ordinary names), else from SYMBOLON_TARGET_…
 * variables (SYMBOLON_TARGET_ROOT_KMS_KEY_ID is the target's
 * SYMBOLON_ROOT_KMS_KEY_ID); `--to` names the kind.
 */
export function targetEnv(to: string | undefined, toEnvFile: string | undefined, env: OpsIo['env']): Record<string, string> {
  const out: Record<string, string> = {};
  if (toEnvFile) {
    for (const [i, raw] of readFileSync(toEnvFile, 'utf8').split('\n').entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line);
      if (!m) throw new StoreKeyOpError(`${toEnvFile} line ${i + 1} is not NAME=VALUE`);
      if (!TARGET_NAMES.test(m[1]!)) throw new StoreKeyOpError(`${toEnvFile} line ${i + 1}: ${m[1]!.slice(0, 60)} is not a root setting`);
      out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    }
  } else {
    for (const [name, value] of Object.entries(env)) {
      if (!name.startsWith('SYMBOLON_TARGET_') || value === undefined) continue;
      const plain = `SYMBOLON_${name.slice('SYMBOLON_TARGET_'.length)}`;
      if (TARGET_NAMES.test(plain)) out[plain] = value;
    }
  }
  if (to) out.SYMBOLON_ROOT = to;
  if (!out.SYMBOLON_ROOT) throw new StoreKeyOpError('no target root: give --to file|pkcs11|kms');
  return out;
}

/**
 * Moves the store key from the current root to the target: one update of the
 * store_key row, compared and set. Servers already running keep serving;
 * every later start needs the target root.
 */
export async function migrateRoot(where: StoreLocation, target: Record<string, string>, io: OpsIo): Promise<void> {
  const crash = crashPoints(io.env);
  let toSettings: ReturnType<typeof rootSettingsFromEnv>;
  try {
    toSettings = rootSettingsFromEnv(target);
  } catch (e) {
    throw new StoreKeyOpError(`target root: ${(e as Error).message}`);
  }
  const store = await openExistingStore(where);
  let from: RootKey | undefined;
  let to: RootKey | undefined;
  try {
    const row = await storeKeyRow(store);
    const info = storeKeyRecordInfo(row);
    // The target may be created (a key file, a key inside the token): the store's key is not under it yet.
    to = (await loadConfiguredRoot({ root: toSettings, dataDir: where.dataDir, rootKey: target.SYMBOLON_ROOT_KEY || undefined }, false)).root;
    if (info.root === to.kind && (await unwrapsRow(to, row))) {
      // Already done (a run killed after its commit, run again): nothing to write.
      io.stdout.write(`The store key is already wrapped by ${to.description}; nothing to do.\n`);
      return;
    }
    from = (await currentRoot(where, io.env)).root;
    if (info.root !== from.kind) throw new StoreKeyOpError(`this store's store key is wrapped by the ${info.root} root, but SYMBOLON_ROOT is ${from.kind}`);
    const next = await rewrapStoreKeyRecord(from, to, row);
    crash();
    if (!(await replaceMetaIf(store.db, STORE_KEY_META, row, next)))
      throw new StoreKeyOpError('the store key row changed while migrating (another migration or rotation); run the command again');
    crash();
    io.stdout.write(
      `Store key (versions ${info.versions.join(', ')}) moved from ${from.description} to ${to.description}. Start servers with the target root's settings; the old root no longer opens this store.\n`,
    );
  } finally {
    await from?.close();
    await to?.close();
    await store.close();
  }
}

/** Whether `root` unwraps the row's current store key. */
async function unwrapsRow(root: RootKey, row: Uint8Array): Promise<boolean> {
  const r = JSON.parse(Buffer.from(row).toString('utf8')) as { installation: string; current: number; keys: Array<{ version: number; wrapped: string }> };
  const k = r.keys.find((x) => x.version === r.current)!;
  try {
    wipe(
      await root.unwrap(new Uint8Array(Buffer.from(k.wrapped, 'base64')), { installation: r.installation, version: k.version, aad: storeKeyAad(k.version) }),
    );
    return true;
  } catch (e) {
    if (e instanceof RootKeyError) return false;
    throw e;
  }
}

export interface RotateOptions {
  batchSize: number;
  /** How long after the switch to wait before the last pass, so running servers have adopted the new version (milliseconds). */
  graceMs: number;
}

/** How many boxes of each column are sealed under each version (0: directly under the file root); rows and meta included. */
export async function sealedVersionCounts(store: Store, batchSize = 1000): Promise<Map<string, Map<number, number>>> {
  const out = new Map<string, Map<number, number>>();
  for (const col of [...SEALED_COLUMNS, META_COLUMN]) {
    const counts = new Map<number, number>();
    let cursor: Cursor;
    for (;;) {
      const { rows, next } = await readSealedBatch(store.db, col, cursor, batchSize);
      if (next === cursor || (rows.length === 0 && next === undefined)) break;
      for (const r of rows) {
        const box = new Uint8Array(r.box as Uint8Array);
        if (col === META_COLUMN && !metaIsSealed(String(r.name), box)) continue;
        const v = sealedBoxVersion(box) ?? -1;
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      cursor = next;
    }
    out.set(`${col.table}.${col.column}`, counts);
  }
  return out;
}

/** Waits until `graceMs` after `since`, so every running server has re-read the row (src/server/store-key-refresh.ts). */
async function graceWait(since: number | undefined, graceMs: number, what: string, io: OpsIo): Promise<void> {
  const wait = (since ?? 0) + graceMs - Date.now();
  if (wait <= 0) return;
  io.stderr.write(`Waiting ${Math.ceil(wait / 1000)} s for running servers ${what}…\n`);
  await new Promise((r) => setTimeout(r, wait));
}

/**
 * Before anything is retired: a byte column this command does not know (a
 * migration added it, SEALED_COLUMNS was not told) that holds a value might
 * hold boxes under a version about to be retired.
 * @throws {StoreKeyOpError} naming the column; nothing is retired.
 */
async function refuseUnknownColumns(store: Store): Promise<void> {
  const known = new Set([...SEALED_COLUMNS.map((c) => `${c.table}.${c.column}`), ...Object.keys(UNSEALED_BYTE_COLUMNS)]);
  for (const tc of await byteColumns(store.db, store.dialect === 'postgres' ? 'postgres' : 'sqlite')) {
    if (known.has(tc)) continue;
    const [table, column] = tc.split('.') as [string, string];
    const { rows } = await readSealedBatch(store.db, { table, key: [column], column }, undefined, 1);
    if (rows.length > 0) throw new StoreKeyOpError(`column ${tc} holds values this command does not know how to re-seal; nothing was retired`);
  }
}

/** One pass over every sealed column: re-seals each box not under the current version. @returns how many were re-sealed. */
async function resealPass(store: Store, sealer: StoreKeySealer, options: RotateOptions, crash: () => void, io: OpsIo): Promise<number> {
  let total = 0;
  for (const col of [...SEALED_COLUMNS, META_COLUMN]) {
    let cursor: Cursor;
    let done = 0;
    for (;;) {
      const { rows, next } = await readSealedBatch(store.db, col, cursor, options.batchSize);
      if (next === cursor) break;
      const updates: Array<{ row: Row; old: Uint8Array; box: Uint8Array }> = [];
      for (const r of rows) {
        const old = new Uint8Array(r.box as Uint8Array);
        if (col === META_COLUMN && !metaIsSealed(String(r.name), old)) continue;
        if (sealedBoxVersion(old) === sealer.currentVersion) continue;
        const aad = col.aad(r);
        let plain: Uint8Array;
        try {
          plain = sealer.open(old, aad);
        } catch (e) {
          if (!(e instanceof SealedBoxError)) throw e;
          const id = col.key.map((k) => String(r[k]).slice(0, 80)).join('/');
          throw new StoreKeyOpError(`${col.table}.${col.column} of ${id}: ${e.message}; nothing was retired (restore that row, then run the command again)`);
        }
        try {
          updates.push({ row: r, old, box: sealer.seal(plain, aad) });
        } finally {
          wipe(plain);
        }
      }
      if (updates.length > 0) {
        done += await writeResealed(store.db, col, updates);
        crash();
      }
      cursor = next;
      if (rows.length === 0 && next === undefined) break;
    }
    if (done > 0) io.stderr.write(`  ${col.table}.${col.column}: ${done} re-sealed\n`);
    total += done;
  }
  return total;
}

/**
 * Rotates the store key, or completes a rotation a killed run left: adds
 * version n+1 (unless a rotation is in progress), waits out the grace period
 * so every running server can open it, makes it current, re-seals every
 * record in batches, waits out the grace period again, re-seals what servers
 * wrote under the old version meanwhile, and retires every version no record
 * uses.
 * @returns the new current version.
 */
export async function rotateStoreKey(where: StoreLocation, options: RotateOptions, io: OpsIo): Promise<number> {
  const crash = crashPoints(io.env);
  const store = await openExistingStore(where);
  let sealer: StoreKeySealer | undefined;
  try {
    let row = await storeKeyRow(store);
    const { root } = await currentRoot(where, io.env);
    let legacy: KeyRootOfTrust | undefined = root.legacySealer?.();
    try {
      const info = storeKeyRecordInfo(row);
      if (info.root !== root.kind) throw new StoreKeyOpError(`this store's store key is wrapped by the ${info.root} root, but SYMBOLON_ROOT is ${root.kind}`);
      if (info.versions.length === 1) {
        // Step 1: v(n+1) joins the row, not yet current.
        const next = await addStoreKeyVersion(root, row, Date.now());
        crash();
        if (!(await replaceMetaIf(store.db, STORE_KEY_META, row, next)))
          throw new StoreKeyOpError('the store key row changed meanwhile (another rotation or migration); run the command again');
        row = next;
        crash();
      } else {
        io.stderr.write(`A rotation is in progress (versions ${info.versions.join(', ')}); completing it…\n`);
      }
      const staged = storeKeyRecordInfo(row);
      const newest = Math.max(...staged.versions);
      if (staged.current !== newest) {
        // Step 2, once every running server can open v(n+1): it becomes current.
        await graceWait(staged.rotatedAt, options.graceMs, `to learn store key v${newest}`, io);
        const next = promoteStoreKeyVersion(row, Date.now());
        crash();
        if (!(await replaceMetaIf(store.db, STORE_KEY_META, row, next)))
          throw new StoreKeyOpError('the store key row changed meanwhile (another rotation or migration); run the command again');
        row = next;
        crash();
        io.stderr.write(`Store key v${newest} is current; re-sealing records under older versions…\n`);
      }
      sealer = await openStoreKeys(root, row, legacy);
      if (storeKeyRecordInfo(row).legacy) legacy = undefined; // the sealer owns it now
    } finally {
      legacy?.destroy();
      await root.close();
    }
    const started = performance.now();
    let resealed = await resealPass(store, sealer, options, crash, io);
    const resealSeconds = (performance.now() - started) / 1000;
    // Step 3: whatever a server sealed under an older version before it adopted the new one.
    await graceWait(storeKeyRecordInfo(row).rotatedAt, options.graceMs, `to seal under v${sealer.currentVersion}`, io);
    // Whatever a server sealed under the old version before it adopted the new one.
    for (let n = await resealPass(store, sealer, options, crash, io); n > 0; n = await resealPass(store, sealer, options, crash, io)) resealed += n;
    await refuseUnknownColumns(store);
    const counts = await sealedVersionCounts(store);
    const used = new Set<number>();
    for (const c of counts.values()) for (const v of c.keys()) used.add(v);
    if (used.has(-1)) throw new StoreKeyOpError('a sealed column holds a value that is not a sealed box; nothing was retired');
    const info = storeKeyRecordInfo(row);
    const retire = info.versions.filter((v) => v !== info.current && !used.has(v));
    const legacyDone = !used.has(0);
    if (retire.length > 0 || (info.legacy && legacyDone)) {
      const next = retireStoreKeyVersions(row, retire, legacyDone);
      crash();
      if (!(await replaceMetaIf(store.db, STORE_KEY_META, row, next)))
        throw new StoreKeyOpError('the store key row changed meanwhile (another rotation or migration); run the command again');
      crash();
    }
    const left = info.versions.filter((v) => !retire.includes(v));
    io.stdout.write(
      `Store key v${info.current} is current; every sealed record is under it${retire.length ? `; retired v${retire.join(', v')}` : ''}${left.length > 1 ? `; still in use: v${left.join(', v')}` : ''}.\n` +
        `Re-sealed ${resealed} records (first pass ${resealSeconds.toFixed(2)} s).\n`,
    );
    return info.current;
  } catch (e) {
    if (e instanceof RootKeyError) throw new StoreKeyOpError(e.message);
    throw e;
  } finally {
    sealer?.destroy();
    await store.close();
  }
}

/** The store location as `serve` chooses it: DATABASE_URL, else DIR/symbolon.db. */
export function storeLocation(values: { data?: string | undefined; schema?: string | undefined }, env: OpsIo['env']): StoreLocation {
  const dataDir = resolve(values.data ?? env.SYMBOLON_DATA_DIR ?? './data');
  const url = env.DATABASE_URL || undefined;
  if (url && !/^postgres(ql)?:\/\//.test(url)) throw new StoreKeyOpError('DATABASE_URL must be a postgres:// URL');
  if (values.schema !== undefined && (!url || !/^[a-z_][a-z0-9_]{0,62}$/.test(values.schema)))
    throw new StoreKeyOpError('--schema needs DATABASE_URL and a lower-case SQL identifier');
  return { dataDir, databaseUrl: url, pgSchema: values.schema };
}

export const STORE_KEY_USAGE = `Usage: symbolon operator migrate-root --to file|pkcs11|kms [--to-env FILE] [options]
       symbolon operator rotate-store-key [--batch-size N] [--grace-seconds S] [options]

  migrate-root
        Unwrap the store key with the current root (SYMBOLON_ROOT and its
        settings, as serve reads them) and wrap it with the target root; only
        the store_key row changes, in one transaction. The target's settings
        are the ordinary names (SYMBOLON_ROOT_KEY, SYMBOLON_PKCS11_*,
        SYMBOLON_ROOT_KMS_*) in --to-env FILE (NAME=VALUE lines), else the
        same names with SYMBOLON_TARGET_ in place of SYMBOLON_ in the
        environment (e.g. SYMBOLON_TARGET_ROOT_KMS_KEY_ID). A file target
        without SYMBOLON_ROOT_KEY uses DIR/root.key (generated when absent).
  rotate-store-key
        Make a new store-key version current, re-seal every sealed record
        under it in batches (each its own short transaction) while servers
        run, and retire older versions once no record uses them. Run it again
        after an interruption: it completes the rotation in progress.
        --batch-size N      records per transaction (default 500)
        --grace-seconds S   wait this long after the switch before the last
                            pass, so running servers have adopted the new
                            version (default 15: three of their 5 s refreshes)

Options:
  --data DIR     The data directory (default ./data, or SYMBOLON_DATA_DIR).
  --schema NAME  PostgreSQL schema (with DATABASE_URL).
  -h, --help     This text.

Environment: DATABASE_URL (PostgreSQL; else DIR/symbolon.db), SYMBOLON_ROOT…
(the current root). Exit codes: 0 done; 1 refused (the message says why); 2 bad usage.
`;

/** Runs `symbolon operator migrate-root|rotate-store-key …` and returns the exit code. */
export async function storeKeyOperatorCommand(command: 'migrate-root' | 'rotate-store-key', args: string[], io: OpsIo): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      options: {
        data: { type: 'string' },
        schema: { type: 'string' },
        to: { type: 'string' },
        'to-env': { type: 'string' },
        'batch-size': { type: 'string' },
        'grace-seconds': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    io.stderr.write(`symbolon operator: ${(e as Error).message}\n${STORE_KEY_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(STORE_KEY_USAGE);
    return 0;
  }
  const usage = (msg: string): number => {
    io.stderr.write(`symbolon operator ${command}: ${msg}\n${STORE_KEY_USAGE}`);
    return 2;
  };
  try {
    const where = storeLocation({ data: values.data as string | undefined, schema: values.schema as string | undefined }, io.env);
    if (command === 'migrate-root') {
      const to = values.to as string | undefined;
      if (to !== undefined && !['file', 'pkcs11', 'kms'].includes(to)) return usage('--to must be file, pkcs11 or kms');
      if (values['batch-size'] !== undefined || values['grace-seconds'] !== undefined)
        return usage('--batch-size and --grace-seconds belong to rotate-store-key');
      await migrateRoot(where, targetEnv(to, values['to-env'] as string | undefined, io.env), io);
      return 0;
    }
    if (values.to !== undefined || values['to-env'] !== undefined) return usage('--to and --to-env belong to migrate-root');
    const batchSize = Number(values['batch-size'] ?? 500);
    const grace = Number(values['grace-seconds'] ?? 15);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) return usage('--batch-size must be an integer from 1 to 10000');
    if (!Number.isFinite(grace) || grace < 0 || grace > 3600) return usage('--grace-seconds must be from 0 to 3600');
    await rotateStoreKey(where, { batchSize, graceMs: Math.round(grace * 1000) }, io);
    return 0;
  } catch (e) {
    if (e instanceof StoreKeyOpError || e instanceof RootKeyError) {
      io.stderr.write(`symbolon operator ${command}: refused: ${e.message}\n`);
      return 1;
    }
    if ((e as { code?: string }).code === 'ENOENT') {
      io.stderr.write(`symbolon operator ${command}: refused: ${(e as Error).message.slice(0, 200)}\n`);
      return 1;
    }
    throw e;
  }
}
