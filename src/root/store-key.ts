/**
 * The store key: a random 32-byte key, kept in the store wrapped by the root
 * (one row, `store_key` in symbolon_meta), unwrapped once at start-up. Every
 * record is sealed under it, so the hot path is the same whatever the root
 * (a file, a PKCS#11 token): one AES-256-GCM operation in memory.
 *
 * The row (JSON): { format: 1, root: kind, installation, legacy, current, keys: [{ version, wrapped }] };
 * `installation` is a random id naming this store to a KMS root (its encryption context).
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
  keys: Array<{ version: number; wrapped: string }>;
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
    r.keys.every((k) => Number.isInteger(k?.version) && k.version > 0 && typeof k.wrapped === 'string') &&
    r.keys.some((k) => k.version === r.current);
  if (!ok) throw new RootKeyError('the store key row in symbolon_meta is malformed: the store is damaged');
  return r;
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
  return new StoreKeySealer(keys, record.current, record.legacy ? legacySealer : undefined, `${root.description} → store key v${record.current}`);
}

/** Seals under the current store key; opens boxes of every store-key version it holds (and format 0x01 with the legacy sealer). */
export class StoreKeySealer implements RootOfTrust {
  readonly description: string;
  readonly #keys: Map<number, Uint8Array>;
  readonly #current: number;
  readonly #legacy: KeyRootOfTrust | undefined;

  constructor(keys: Map<number, Uint8Array>, current: number, legacy: KeyRootOfTrust | undefined, description: string) {
    if (!keys.has(current)) throw new RangeError('the current store key is missing');
    this.#keys = keys;
    this.#current = current;
    this.#legacy = legacy;
    this.description = description;
  }

  /** The store-key version new boxes are sealed under. */
  get currentVersion(): number {
    return this.#current;
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
