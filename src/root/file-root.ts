/**
 * Loads the root key for the embedded default: from SYMBOLON_ROOT_KEY (64 hex
 * characters or base64 of 32 bytes) when set, else from DIR/root.key, which is
 * generated with mode 0600 on first start. For development and single-host use;
 * production deployments keep the root in an HSM (src/root/pkcs11-root.ts).
 *
 * The root key wraps the store key (src/root/store-key.ts) under a key derived
 * from it by HKDF; in a store made before the key hierarchy it also opens the
 * records sealed directly under it (`legacySealer`).
 *
 * The file is written atomically (a temporary file, fsync, link into place,
 * fsync of the directory), so a crash or a full disk leaves either no key or a
 * whole one. A key is generated only for a store that holds nothing sealed yet:
 * beside a store that does, a missing or empty root.key is refused and nothing
 * is written (a new key could never open that store's data).
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { wipe } from '../crypto/bytes.js';
import { KeyRootOfTrust, RootKeyError, type RootKey, type StoreKeyBinding } from './root-of-trust.js';
import { aeadOpen, aeadSeal, AeadOpenError } from '../crypto/aead.js';
import { concatBytes } from '../crypto/bytes.js';

export { RootKeyError };

function decodeRootKey(text: string, where: string): Uint8Array {
  const t = text.trim();
  let bytes: Uint8Array | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) bytes = new Uint8Array(Buffer.from(t, 'hex'));
  else if (/^[A-Za-z0-9+/]{43}=?$/.test(t)) bytes = new Uint8Array(Buffer.from(t, 'base64'));
  if (!bytes || bytes.length !== 32) throw new RootKeyError(`${where} must hold a 32-byte key as 64 hex characters or base64`);
  return bytes;
}

/**
 * Writes a 32-byte key to `file` as hex (mode 0600) atomically: a temporary
 * file, fsync, then into place, then the directory synced. When `file`
 * exists by then, `onExisting` decides: `replace` it (an empty file left by a
 * start cut short), `keep` it (another process won the race to create it: its
 * key is the one), or `refuse` (throw: a key file is never overwritten).
 * Used by the file root's first start and by `operator escrow combine`.
 * @throws {Error} on an I/O failure (full disk), or EEXIST with `refuse`; the
 *   temporary file is removed and `file` is untouched. Does not wipe `key`.
 */
export function writeKeyFileAtomically(file: string, key: Uint8Array, onExisting: 'replace' | 'keep' | 'refuse'): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const text = Buffer.from(Buffer.from(key).toString('hex') + '\n', 'utf8');
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      for (let off = 0; off < text.length; ) off += writeSync(fd, text, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (onExisting === 'replace') renameSync(tmp, file);
    else {
      try {
        linkSync(tmp, file); // refuses to overwrite
      } catch (e) {
        if (onExisting === 'refuse' || (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    // The new directory entry survives a power loss only once the directory is synced.
    const dirFd = openSync(dirname(file), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } finally {
    text.fill(0);
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed into place, or never created
    }
  }
}

/** Removes temporary key files of processes that no longer run (a start cut short before its rename). */
function removeStaleTemporaryKeys(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = /^root\.key\.tmp-(\d+)-[0-9a-f]{8}$/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // its writer still runs
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    try {
      unlinkSync(join(dir, name));
    } catch {
      // removed meanwhile
    }
  }
}

const WRAP_FORMAT = 0x01;

/** The file (or environment) root: a 32-byte key held in memory from start-up until `close`. */
export class FileRootKey implements RootKey {
  readonly kind = 'file' as const;
  readonly description: string;
  readonly #wrapKey: Uint8Array;
  #legacy: KeyRootOfTrust | undefined;

  /** @param rootKey 32 bytes; derived from, so the caller may wipe it afterwards. */
  constructor(rootKey: Uint8Array, description: string) {
    this.description = description;
    // HKDF separates the wrapping key from the legacy sealing key (info .../seal/v1).
    this.#wrapKey = new Uint8Array(hkdfSync('sha256', rootKey, new Uint8Array(0), 'symbolon/root/wrap/v1', 32));
    this.#legacy = new KeyRootOfTrust(rootKey, description);
  }

  async wrap(storeKey: Uint8Array, binding: StoreKeyBinding): Promise<Uint8Array> {
    return concatBytes(Uint8Array.of(WRAP_FORMAT), aeadSeal(this.#wrapKey, storeKey, binding.aad));
  }

  async unwrap(wrapped: Uint8Array, binding: StoreKeyBinding): Promise<Uint8Array> {
    if (wrapped.length < 1 || wrapped[0] !== WRAP_FORMAT) throw new RootKeyError('the stored store key has an unknown wrapping format');
    try {
      return aeadOpen(this.#wrapKey, wrapped.subarray(1), binding.aad);
    } catch (e) {
      if (e instanceof AeadOpenError)
        throw new RootKeyError(
          `The root key from ${this.description} does not match this store: its store key was wrapped under a different root key. Refusing to start; restore the original root key.`,
        );
      throw e;
    }
  }

  /** Hands over the sealer for format-0x01 records; the caller owns (and destroys) it from then on. */
  legacySealer(): KeyRootOfTrust {
    if (!this.#legacy) throw new RootKeyError('the file root was closed');
    const legacy = this.#legacy;
    this.#legacy = undefined;
    return legacy;
  }

  async close(): Promise<void> {
    wipe(this.#wrapKey);
    this.#legacy?.destroy();
    this.#legacy = undefined;
  }
}

/** DIR/root.key as found: absent, empty (0 bytes or blanks: a write an older version never finished), or holding text. */
export function rootKeyFileState(dataDir: string): 'missing' | 'empty' | 'present' {
  const file = join(dataDir, 'root.key');
  if (!existsSync(file)) return 'missing';
  return readFileSync(file, 'utf8').trim() === '' ? 'empty' : 'present';
}

/**
 * Returns the root of trust and whether the key file was created now.
 * `storeSealed`: the store already holds data sealed under some root key; then
 * a missing or empty root.key is refused instead of generated.
 * @throws {RootKeyError} when the environment variable or file holds no valid key, or the file is missing beside a sealed store.
 */
export function loadFileRoot(options: { dataDir: string; envKey?: string | undefined; storeSealed?: boolean }): {
  root: FileRootKey;
  created: boolean;
  source: string;
} {
  if (options.envKey) {
    const key = decodeRootKey(options.envKey, 'SYMBOLON_ROOT_KEY');
    try {
      return { root: new FileRootKey(key, 'environment (SYMBOLON_ROOT_KEY)'), created: false, source: 'SYMBOLON_ROOT_KEY' };
    } finally {
      wipe(key);
    }
  }
  const file = join(options.dataDir, 'root.key');
  let created = false;
  const state = rootKeyFileState(options.dataDir);
  if (state !== 'present') {
    if (options.storeSealed) {
      throw new RootKeyError(
        `Root key missing: ${file} ${state === 'missing' ? 'does not exist' : 'is empty'}, but this store holds data sealed under a root key. Refusing to start; nothing was written. Restore the original root.key (or set SYMBOLON_ROOT_KEY).`,
      );
    }
    removeStaleTemporaryKeys(options.dataDir);
    const fresh = new Uint8Array(randomBytes(32));
    try {
      writeKeyFileAtomically(file, fresh, state === 'empty' ? 'replace' : 'keep');
    } finally {
      fresh.fill(0);
    }
    created = true;
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) chmodSync(file, 0o600);
  const key = decodeRootKey(readFileSync(file, 'utf8'), file);
  try {
    return { root: new FileRootKey(key, `key file ${file}`), created, source: file };
  } finally {
    wipe(key);
  }
}
