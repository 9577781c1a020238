/**
 * The store key: a random 32-byte key, kept in the store wrapped by the root
 * (one row, `store_key` in symbolon_meta), unwrapped once at start-up. Every
 * record is sealed under it, so the hot path is the same whatever the root
 * (a file, a PKCS#11 token): one AES-256-GCM operation in memory.
 *
 * The row (JSON): { format: 1, root: kind, installation, legacy, current, keys: [{ version, wrapped, chained? }], rotatedAt? };
 * `installation` is a random id naming this store to a KMS root (its encryption context).
 * `chained` (base64, while a rotation is in progress) is the new store key
 * sealed under the previous current version's sealing key, so that running
 * servers, which hold that version but no longer the root, can adopt the new
 * one from the row (`StoreKeySealer.adopt`); it is dropped when the previous
 * version is retired. `rotatedAt` (epoch ms) is when a version last joined
 * the row or became current: what running servers must have re-read before
 * the next step of a rotation.
 * `legacy` is true for a store made before the key hierarchy: its older
 * records are sealed directly under the file root (format 0x01) and stay
 * readable through the file root's legacy sealer.
 *
 * A box sealed under the store key is: 0x02 || store-key version (u32 BE) ||
 * AES-256-GCM box (nonce || ct || tag) under HKDF(store key, "symbolon/store/seal/v2"),
 * with the caller's associated data.
 */
import { hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { aeadOpen, aeadSeal, AeadOpenError } from '../crypto/aead.js';
import { concatBytes, utf8Bytes, wipe } from '../crypto/bytes.js';
import {
  type KeyRootOfTrust,
  type RootKey,
  type RootKind,
  type RootOfTrust,
  RootKeyError,
  SealedBoxError,
  sealingContext,
  type StoreKeyBinding,
} from './root-of-trust.js';

/** The symbolon_meta name of the store-key row. */
export const STORE_KEY_META = 'store_key';

const FORMAT_LEGACY = 0x01;
const FORMAT_STORE_KEY = 0x02;
const HEADER = 5;

interface StoreKeyRecord {
  format: 1;
  root: RootKind;
  installation: string;
  legacy: boolean;
  current: number;
  keys: Array<{ version: number; wrapped: string; chained?: { by: number; box: string } }>;
  rotatedAt?: number;
}

/** What the row says, for operators and tests (no key bytes). */
export interface StoreKeyRecordInfo {
  root: RootKind;
  installation: string;
  legacy: boolean;
  current: number;
  versions: number[];
  rotatedAt: number | undefined;
}

/** Associated data binding a wrapped store key to its version. */
export function storeKeyAad(version: number): Uint8Array {
  return sealingContext('store-key/v1', version);
}

function bindingOf(installation: string, version: number): StoreKeyBinding {
  return { installation, version, aad: storeKeyAad(version) };
}

function sealingKeyOf(storeKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', storeKey, new Uint8Array(0), 'symbolon/store/seal/v2', 32));
}

/** Parses the row; a malformed one is a clear RootKeyError (never a crash with bytes in it). */
export function decodeStoreKeyRecord(bytes: Uint8Array): StoreKeyRecord {
  let r: StoreKeyRecord;
  try {
    r = JSON.parse(Buffer.from(bytes).toString('utf8')) as StoreKeyRecord;
  } catch {
    throw new RootKeyError('the store key row in symbolon_meta is not valid JSON: the store is damaged');
  }
  const ok =
    r !== null &&
    typeof r === 'object' &&
    r.format === 1 &&
    (r.root === 'file' || r.root === 'pkcs11' || r.root === 'kms' || r.root === 'shamir') &&
    typeof r.installation === 'string' &&
    /^[0-9a-f-]{36}$/.test(r.installation) &&
    typeof r.legacy === 'boolean' &&
    Number.isInteger(r.current) &&
    Array.isArray(r.keys) &&
    r.keys.length > 0 &&
    r.keys.every(
      (k) =>
        Number.isInteger(k?.version) &&
        k.version > 0 &&
        typeof k.wrapped === 'string' &&
        (k.chained === undefined || (Number.isInteger(k.chained?.by) && typeof k.chained.box === 'string')),
    ) &&
    new Set(r.keys.map((k) => k.version)).size === r.keys.length &&
    (r.rotatedAt === undefined || Number.isInteger(r.rotatedAt)) &&
    r.keys.some((k) => k.version === r.current);
  if (!ok) throw new RootKeyError('the store key row in symbolon_meta is malformed: the store is damaged');
  return r;
}

/** The row's versions and root, without key bytes. */
export function storeKeyRecordInfo(bytes: Uint8Array): StoreKeyRecordInfo {
  const r = decodeStoreKeyRecord(bytes);
  return {
    root: r.root,
    installation: r.installation,
    legacy: r.legacy,
    current: r.current,
    versions: r.keys.map((k) => k.version).sort((a, b) => a - b),
    rotatedAt: r.rotatedAt,
  };
}

function encodeStoreKeyRecord(r: StoreKeyRecord): Uint8Array {
  return utf8Bytes(JSON.stringify(r));
}

/**
 * A new store-key row: a fresh random store key (version 1) wrapped by `root`.
 * @param legacy the store already holds records sealed directly under the file root.
 */
export async function createStoreKeyRecord(root: RootKey, legacy: boolean): Promise<Uint8Array> {
  if (legacy && root.kind !== 'file')
    throw new RootKeyError(`this store was sealed directly under a root key file (before the key hierarchy); start it with SYMBOLON_ROOT=file first`);
  const storeKey = new Uint8Array(randomBytes(32));
  try {
    const installation = randomUUID();
    const wrapped = await root.wrap(storeKey, bindingOf(installation, 1));
    return encodeStoreKeyRecord({
      format: 1,
      root: root.kind,
      installation,
      legacy,
      current: 1,
      keys: [{ version: 1, wrapped: Buffer.from(wrapped).toString('base64') }],
    });
  } finally {
    wipe(storeKey);
  }
}

/**
 * Unwraps every store key of the row with `root` and returns the sealer the
 * services use. The root is not kept: the caller closes it.
 * @throws {RootKeyError} when the row names another kind of root, or a key does not unwrap (another root key).
 */
export async function openStoreKeys(root: RootKey, recordBytes: Uint8Array, legacySealer?: KeyRootOfTrust): Promise<StoreKeySealer> {
  const record = decodeStoreKeyRecord(recordBytes);
  if (record.root !== root.kind)
    throw new RootKeyError(
      `this store's store key is wrapped by the ${record.root} root, but SYMBOLON_ROOT is ${root.kind}. Refusing to start; configure the ${record.root} root.`,
    );
  if (record.legacy && !legacySealer) throw new RootKeyError('this store holds records sealed directly under its root key file; the file root must open it');
  const keys = new Map<number, Uint8Array>();
  try {
    for (const k of record.keys) {
      const storeKey = await root.unwrap(new Uint8Array(Buffer.from(k.wrapped, 'base64')), bindingOf(record.installation, k.version));
      try {
        if (storeKey.length !== 32) throw new RootKeyError('an unwrapped store key is not 32 bytes: the store is damaged');
        keys.set(k.version, sealingKeyOf(storeKey));
      } finally {
        wipe(storeKey);
      }
    }
  } catch (e) {
    for (const k of keys.values()) wipe(k);
    throw e;
  }
  return new StoreKeySealer(keys, record.current, record.legacy ? legacySealer : undefined, `${root.description} → store key`, record.installation);
}

/** Associated data binding a chained store key to its installation, its version and the version it is sealed under. */
function chainAad(installation: string, version: number, by: number): Uint8Array {
  return sealingContext('store-key-chain/v1', installation, version, by);
}

/**
 * `symbolon operator migrate-root`: the same row with every store-key version
 * unwrapped by `from` and wrapped by `to` (installation, versions, current
 * and chains unchanged: chains are sealed under store keys, not the root).
 * Records are untouched.
 * @throws {RootKeyError} when `from` does not unwrap the row, or a legacy store (records sealed directly under a key file) would leave the file root.
 */
export async function rewrapStoreKeyRecord(from: RootKey, to: RootKey, recordBytes: Uint8Array): Promise<Uint8Array> {
  const r = decodeStoreKeyRecord(recordBytes);
  if (r.root !== from.kind)
    throw new RootKeyError(`this store's store key is wrapped by the ${r.root} root, but the current root given (SYMBOLON_ROOT) is ${from.kind}`);
  if (r.legacy && to.kind !== 'file')
    throw new RootKeyError(
      'this store still holds records sealed directly under its root key file (before the key hierarchy); run symbolon operator rotate-store-key first, which re-seals them under the store key',
    );
  const keys: StoreKeyRecord['keys'] = [];
  for (const k of r.keys) {
    const binding = bindingOf(r.installation, k.version);
    const storeKey = await from.unwrap(new Uint8Array(Buffer.from(k.wrapped, 'base64')), binding);
    try {
      if (storeKey.length !== 32) throw new RootKeyError('an unwrapped store key is not 32 bytes: the store is damaged');
      const wrapped = await to.wrap(storeKey, binding);
      // Proves the target unwraps what it wrapped before anything is written.
      const back = await to.unwrap(wrapped, binding);
      const same = back.length === 32 && Buffer.from(back).equals(Buffer.from(storeKey));
      wipe(back);
      if (!same) throw new RootKeyError(`the target root ${to.description} did not unwrap the store key it wrapped`);
      keys.push({ ...k, wrapped: Buffer.from(wrapped).toString('base64') });
    } finally {
      wipe(storeKey);
    }
  }
  const next: StoreKeyRecord = { ...r, root: to.kind, keys };
  return encodeStoreKeyRecord(next);
}

/**
 * Store-key rotation, step 1: a fresh store key, version (highest + 1),
 * wrapped by `root` and chained under the current version, joins the row —
 * not yet current, so that every running server can open boxes under it
 * before any is made (`promoteStoreKeyVersion` is step 2). The older versions
 * stay until no record uses them (`retireStoreKeyVersions`).
 * @throws {RootKeyError} when `root` does not unwrap the current version.
 */
export async function addStoreKeyVersion(root: RootKey, recordBytes: Uint8Array, now: number): Promise<Uint8Array> {
  const r = decodeStoreKeyRecord(recordBytes);
  if (r.root !== root.kind) throw new RootKeyError(`this store's store key is wrapped by the ${r.root} root, but SYMBOLON_ROOT is ${root.kind}`);
  const cur = r.keys.find((k) => k.version === r.current)!;
  const version = Math.max(...r.keys.map((k) => k.version)) + 1;
  const curKey = await root.unwrap(new Uint8Array(Buffer.from(cur.wrapped, 'base64')), bindingOf(r.installation, cur.version));
  const fresh = new Uint8Array(randomBytes(32));
  let curSealing: Uint8Array | undefined;
  try {
    if (curKey.length !== 32) throw new RootKeyError('an unwrapped store key is not 32 bytes: the store is damaged');
    curSealing = sealingKeyOf(curKey);
    const wrapped = await root.wrap(fresh, bindingOf(r.installation, version));
    const chained = aeadSeal(curSealing, fresh, chainAad(r.installation, version, cur.version));
    return encodeStoreKeyRecord({
      ...r,
      rotatedAt: now,
      keys: [
        ...r.keys,
        { version, wrapped: Buffer.from(wrapped).toString('base64'), chained: { by: cur.version, box: Buffer.from(chained).toString('base64') } },
      ],
    });
  } finally {
    wipe(curKey);
    wipe(fresh);
    if (curSealing) wipe(curSealing);
  }
}

/** Store-key rotation, step 2: the highest version becomes current (new records are sealed under it). */
export function promoteStoreKeyVersion(recordBytes: Uint8Array, now: number): Uint8Array {
  const r = decodeStoreKeyRecord(recordBytes);
  return encodeStoreKeyRecord({ ...r, current: Math.max(...r.keys.map((k) => k.version)), rotatedAt: now });
}

/**
 * Store-key rotation, last step: the row without the `retire`d versions (never
 * the current one) and without chains sealed under them; `legacyDone` clears
 * `legacy` once no record is sealed directly under the file root any more.
 */
export function retireStoreKeyVersions(recordBytes: Uint8Array, retire: readonly number[], legacyDone: boolean): Uint8Array {
  const r = decodeStoreKeyRecord(recordBytes);
  if (retire.includes(r.current)) throw new RangeError('the current store key cannot be retired');
  const keys = r.keys
    .filter((k) => !retire.includes(k.version))
    .map((k) => (k.chained && retire.includes(k.chained.by) ? { version: k.version, wrapped: k.wrapped } : k));
  return encodeStoreKeyRecord({ ...r, keys, legacy: r.legacy && !legacyDone });
}

/** The store-key version a box is sealed under; 0 for a box sealed directly under a root key file (0x01); undefined for anything else. */
export function sealedBoxVersion(box: Uint8Array): number | undefined {
  if (box.length >= 1 && box[0] === FORMAT_LEGACY) return 0;
  if (box.length < HEADER || box[0] !== FORMAT_STORE_KEY) return undefined;
  return new DataView(box.buffer, box.byteOffset, box.byteLength).getUint32(1);
}

/**
 * Seals under the current store key; opens boxes of every store-key version it
 * holds (and format 0x01 with the legacy sealer). `adopt` follows a rotation
 * made by another process without the root.
 */
export class StoreKeySealer implements RootOfTrust {
  readonly #keys: Map<number, Uint8Array>;
  #current: number;
  readonly #legacy: KeyRootOfTrust | undefined;
  readonly #base: string;
  readonly #installation: string;

  constructor(keys: Map<number, Uint8Array>, current: number, legacy: KeyRootOfTrust | undefined, description: string, installation = '') {
    if (!keys.has(current)) throw new RangeError('the current store key is missing');
    this.#keys = keys;
    this.#current = current;
    this.#legacy = legacy;
    this.#base = description;
    this.#installation = installation;
  }

  get description(): string {
    return `${this.#base} v${this.#current}`;
  }

  /** The store-key version new boxes are sealed under. */
  get currentVersion(): number {
    return this.#current;
  }

  /** The store-key versions this sealer opens. */
  get versions(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  /** Whether boxes sealed directly under the file root (0x01) open here. */
  get opensLegacy(): boolean {
    return this.#legacy !== undefined;
  }

  /**
   * Follows the store-key row as another process left it: adopts each new
   * version chained under one this sealer holds, then the row's current
   * version. Keys it holds are kept (boxes it read earlier may still name them).
   * @returns whether anything changed.
   * @throws {RootKeyError} when the row's current version cannot be had from this sealer (restart the server with its root).
   */
  adopt(recordBytes: Uint8Array): boolean {
    const r = decodeStoreKeyRecord(recordBytes);
    if (r.installation !== this.#installation) throw new RootKeyError('the store key row belongs to another installation');
    let changed = false;
    for (let progress = true; progress; ) {
      progress = false;
      for (const k of r.keys) {
        if (this.#keys.has(k.version) || !k.chained) continue;
        const by = this.#keys.get(k.chained.by);
        if (!by) continue;
        let raw: Uint8Array;
        try {
          raw = aeadOpen(by, new Uint8Array(Buffer.from(k.chained.box, 'base64')), chainAad(this.#installation, k.version, k.chained.by));
        } catch (e) {
          if (e instanceof AeadOpenError)
            throw new RootKeyError(`store key v${k.version} in the row does not open under v${k.chained.by}: the row was altered`);
          throw e;
        }
        try {
          if (raw.length !== 32) throw new RootKeyError('a chained store key is not 32 bytes: the store is damaged');
          this.#keys.set(k.version, sealingKeyOf(raw));
        } finally {
          wipe(raw);
        }
        changed = progress = true;
      }
    }
    if (r.current !== this.#current) {
      if (!this.#keys.has(r.current))
        throw new RootKeyError(`the store's current store key v${r.current} cannot be had from the versions this server holds; restart it with its root`);
      this.#current = r.current;
      changed = true;
    }
    return changed;
  }

  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const header = new Uint8Array(HEADER);
    header[0] = FORMAT_STORE_KEY;
    new DataView(header.buffer).setUint32(1, this.#current);
    return concatBytes(header, aeadSeal(this.#keys.get(this.#current)!, plaintext, aad));
  }

  open(box: Uint8Array, aad: Uint8Array): Uint8Array {
    if (box.length >= 1 && box[0] === FORMAT_LEGACY) {
      if (!this.#legacy) throw new SealedBoxError('sealed box is sealed directly under a root key file, which this store does not use');
      return this.#legacy.open(box, aad);
    }
    if (box.length < HEADER || box[0] !== FORMAT_STORE_KEY) throw new SealedBoxError('sealed box has an unknown format');
    const version = new DataView(box.buffer, box.byteOffset, box.byteLength).getUint32(1);
    const key = this.#keys.get(version);
    if (!key) throw new SealedBoxError(`sealed box names store key version ${version}, which this store does not hold`);
    try {
      return aeadOpen(key, box.subarray(HEADER), aad);
    } catch (e) {
      if (e instanceof AeadOpenError) throw new SealedBoxError('sealed box did not open (wrong store key, or the box was moved or altered)');
      throw e;
    }
  }

  /** Wipes every key (on shutdown). */
  destroy(): void {
    for (const k of this.#keys.values()) wipe(k);
    this.#legacy?.destroy();
  }
}
