/**
 * Loads the root key for the embedded default: from SYMBOLON_ROOT_KEY (64 hex
 * characters or base64 of 32 bytes) when set, else from DIR/root.key, which is
 * generated with mode 0600 on first start. For development and single-host use;
 * production deployments keep the root in an HSM.
 *
 * The file is written atomically (a temporary file, fsync, link into place,
 * fsync of the directory), so a crash or a full disk leaves either no key or a
 * whole one. A key is generated only for a store that holds nothing sealed yet:
 * beside a store that does, a missing or empty root.key is refused and nothing
 * is written (a new key could never open that store's data).
 */
import { randomBytes } from 'node:crypto';
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
import { join } from 'node:path';
import { wipe } from '../crypto/bytes.js';
import { KeyRootOfTrust } from './root-of-trust.js';

/** Raised when the configured root key is unusable; the message says what to fix. */
export class RootKeyError extends Error {
  override name = 'RootKeyError';
}

function decodeRootKey(text: string, where: string): Uint8Array {
  const t = text.trim();
  let bytes: Uint8Array | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) bytes = new Uint8Array(Buffer.from(t, 'hex'));
  else if (/^[A-Za-z0-9+/]{43}=?$/.test(t)) bytes = new Uint8Array(Buffer.from(t, 'base64'));
  if (!bytes || bytes.length !== 32) throw new RootKeyError(`${where} must hold a 32-byte key as 64 hex characters or base64`);
  return bytes;
}

/**
 * Writes a fresh 32-byte key to `file` (mode 0600) atomically. With `replace`
 * false the first writer wins: a file another process put there meanwhile is
 * kept (link() refuses to overwrite); with true an existing (empty) file is replaced.
 * @throws {Error} on an I/O failure (full disk); the temporary file is removed and `file` is untouched.
 */
function writeKeyFileAtomically(dir: string, file: string, replace: boolean): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fresh = randomBytes(32);
  const text = Buffer.from(fresh.toString('hex') + '\n', 'utf8');
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      for (let off = 0; off < text.length; ) off += writeSync(fd, text, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (replace) renameSync(tmp, file);
    else {
      try {
        linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    // The new directory entry survives a power loss only once the directory is synced.
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } finally {
    fresh.fill(0);
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
  root: KeyRootOfTrust;
  created: boolean;
  source: string;
} {
  if (options.envKey) {
    const key = decodeRootKey(options.envKey, 'SYMBOLON_ROOT_KEY');
    try {
      return { root: new KeyRootOfTrust(key, 'environment (SYMBOLON_ROOT_KEY)'), created: false, source: 'SYMBOLON_ROOT_KEY' };
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
    writeKeyFileAtomically(options.dataDir, file, state === 'empty');
    created = true;
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) chmodSync(file, 0o600);
  const key = decodeRootKey(readFileSync(file, 'utf8'), file);
  try {
    return { root: new KeyRootOfTrust(key, `key file ${file}`), created, source: file };
  } finally {
    wipe(key);
  }
}
