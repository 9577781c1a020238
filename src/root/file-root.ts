/**
 * Loads the root key for the embedded default: from SYMBOLON_ROOT_KEY (64 hex
 * characters or base64 of 32 bytes) when set, else from DIR/root.key, which is
 * generated with mode 0600 on first start. For development and single-host use;
 * production deployments keep the root in an HSM.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
 * Returns the root of trust and whether the key file was created now.
 * @throws {RootKeyError} when the environment variable or file holds no valid key.
 */
export function loadFileRoot(options: { dataDir: string; envKey?: string | undefined }): { root: KeyRootOfTrust; created: boolean; source: string } {
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
  if (!existsSync(file)) {
    const fresh = randomBytes(32);
    try {
      writeFileSync(file, fresh.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } finally {
      fresh.fill(0);
    }
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
