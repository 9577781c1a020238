/**
 * The owner's device share on the device (docs/signer.md, "A third share on
 * the user's device"): a wallet with the device factor is split 3-of-3, key =
 * A ⊕ B ⊕ C, and share C lives only wrapped, twice, in the wallet store:
 *
 * - under the **device key**, an AES-256-GCM WebCrypto key generated with
 *   `extractable: false` on this device (the wallet frame keeps it as a
 *   `CryptoKey` in IndexedDB: its bytes cannot be read by script, but any
 *   script running in its origin can use it);
 * - under the **recovery key**, HKDF-SHA-256 (RFC 5869) of a one-time
 *   recovery code of 128 random bits shown to the owner once (base32,
 *   RFC 4648 §6), with a random 16-byte salt. The code is high-entropy, so no
 *   password stretching is needed: an offline guess is 2^128 work.
 *
 * Both wraps bind the wallet's address and which wrap it is in the AES-GCM
 * additional data, so a blob of another wallet or the other kind does not
 * open. Layouts: device `1 ‖ key id (8) ‖ iv (12) ‖ ciphertext+tag (48)`;
 * recovery `2 ‖ salt (16) ‖ iv (12) ‖ ciphertext+tag (48)`. The device
 * wrap names its device key by a random id, so a device can hold the key of
 * a new generation beside the old one until the new one is committed (a
 * rotation that fails to commit must not lose the key that still opens the
 * stored share). Share C is a `Uint8Array` the caller wipes.
 *
 * Browser-safe: WebCrypto only.
 */

/** One share: 32 bytes. */
export const SHARE_C_BYTES = 32;

const DEVICE_WRAP = 1;
const RECOVERY_WRAP = 2;
const IV_BYTES = 12;
const SALT_BYTES = 16;
const KEY_ID_BYTES = 8;
const CODE_BYTES = 16;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** WebCrypto's types want an ArrayBuffer-backed view; nothing here is ever backed by a SharedArrayBuffer. */
const buf = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

/** Where a device keeps its device keys, by id (the frame: IndexedDB; tests and programs: memory). */
export interface DeviceKeyStore {
  get(id: string): Promise<CryptoKey | undefined>;
  put(id: string, key: CryptoKey): Promise<void>;
  delete(id: string): Promise<void>;
}

/** A device key store in this process's memory: gone with it (a program or a test; the frame uses IndexedDB). */
export function memoryDeviceKeyStore(): DeviceKeyStore {
  const keys = new Map<string, CryptoKey>();
  return {
    get: async (id) => keys.get(id),
    put: async (id, key) => void keys.set(id, key),
    delete: async (id) => void keys.delete(id),
  };
}

/** A fresh device key and its id: AES-256-GCM, not extractable (its bytes never reach script). */
export async function createDeviceKey(): Promise<{ id: string; key: CryptoKey }> {
  const key = (await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])) as CryptoKey;
  const id = Array.from(crypto.getRandomValues(new Uint8Array(KEY_ID_BYTES)), (b) => b.toString(16).padStart(2, '0')).join('');
  return { id, key };
}

/** The id of the device key a device wrap names (undefined: not a device wrap). */
export function deviceKeyIdOf(wrapped: Uint8Array): string | undefined {
  if (wrapped[0] !== DEVICE_WRAP || wrapped.length < 1 + KEY_ID_BYTES + IV_BYTES) return undefined;
  return Array.from(wrapped.subarray(1, 1 + KEY_ID_BYTES), (b) => b.toString(16).padStart(2, '0')).join('');
}

function additionalData(address: string, kind: 'device' | 'recovery' | 'passkey', header: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(`symbolon/share-c/v1\n${address.toLowerCase()}\n${kind}\n`);
  const out = new Uint8Array(text.length + header.length);
  out.set(text, 0);
  out.set(header, text.length);
  return out;
}

async function seal(key: CryptoKey, shareC: Uint8Array, aad: Uint8Array, header: Uint8Array): Promise<Uint8Array> {
  if (!(shareC instanceof Uint8Array) || shareC.length !== SHARE_C_BYTES) throw new RangeError(`shareC must be ${SHARE_C_BYTES} bytes`);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: buf(aad) }, key, buf(shareC)));
  const out = new Uint8Array(header.length + IV_BYTES + ct.length);
  out.set(header, 0);
  out.set(iv, header.length);
  out.set(ct, header.length + IV_BYTES);
  return out;
}

/**
 * @returns share C (the caller wipes it), or undefined when the blob does not open under this key (another device's, altered, another wallet's).
 */
async function open(key: CryptoKey, blob: Uint8Array, headerLength: number, aad: Uint8Array): Promise<Uint8Array | undefined> {
  const iv = blob.subarray(headerLength, headerLength + IV_BYTES);
  try {
    const c = new Uint8Array(
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv: buf(iv), additionalData: buf(aad) }, key, buf(blob.subarray(headerLength + IV_BYTES))),
    );
    if (c.length === SHARE_C_BYTES) return c;
    c.fill(0);
  } catch {
    // AES-GCM's tag did not verify: not this key's blob.
  }
  return undefined;
}

/** Share C wrapped by the device key `id`, for the wallet store. */
export async function wrapForDevice(r: { deviceKey: { id: string; key: CryptoKey }; shareC: Uint8Array; address: string }): Promise<Uint8Array> {
  if (!/^[0-9a-f]{16}$/.test(r.deviceKey.id)) throw new TypeError('deviceKey.id must be 16 hex digits');
  const header = new Uint8Array(1 + KEY_ID_BYTES);
  header[0] = DEVICE_WRAP;
  for (let i = 0; i < KEY_ID_BYTES; i++) header[1 + i] = Number.parseInt(r.deviceKey.id.slice(2 * i, 2 * i + 2), 16);
  return seal(r.deviceKey.key, r.shareC, additionalData(r.address, 'device', header), header);
}

/** @returns share C (the caller wipes it), or undefined when this device key does not open the blob. */
export async function unwrapOnDevice(r: { deviceKey: CryptoKey; wrapped: Uint8Array; address: string }): Promise<Uint8Array | undefined> {
  if (deviceKeyIdOf(r.wrapped) === undefined) return undefined;
  const headerLength = 1 + KEY_ID_BYTES;
  return open(r.deviceKey, r.wrapped, headerLength, additionalData(r.address, 'device', r.wrapped.subarray(0, headerLength)));
}

/** A fresh recovery code: 128 random bits, base32 in groups of four (`ABCD-EFGH-…`, 26 characters). */
export function newRecoveryCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(CODE_BYTES));
  try {
    let bits = 0;
    let value = 0;
    let out = '';
    for (const b of bytes) {
      value = (value << 8) | b;
      bits += 8;
      while (bits >= 5) {
        out += BASE32[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
    }
    if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
    return out.match(/.{1,4}/g)!.join('-');
  } finally {
    bytes.fill(0);
  }
}

/**
 * The code's 16 bytes; spaces, dashes and case are ignored.
 * @throws {TypeError} when it is not 26 base32 characters encoding 128 bits.
 */
export function readRecoveryCode(code: string): Uint8Array {
  const text = typeof code === 'string' ? code.toUpperCase().replace(/[\s-]/g, '') : '';
  if (!/^[A-Z2-7]{26}$/.test(text)) throw new TypeError('The recovery code must be 26 letters and digits 2-7 (dashes and spaces are ignored).');
  const out = new Uint8Array(CODE_BYTES);
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const ch of text) {
    value = ((value << 5) | BASE32.indexOf(ch)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      if (n < CODE_BYTES) out[n++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // 26 characters carry 130 bits: the last two must be zero (canonical form).
  if ((value & ((1 << bits) - 1)) !== 0) throw new TypeError('The recovery code is not one this wallet made (its last character is off).');
  return out;
}

async function recoveryKey(code: string, salt: Uint8Array, address: string): Promise<CryptoKey> {
  const secret = readRecoveryCode(code);
  try {
    const ikm = await crypto.subtle.importKey('raw', buf(secret), 'HKDF', false, ['deriveKey']);
    const info = new TextEncoder().encode(`symbolon/share-c/recovery/v1\n${address.toLowerCase()}`);
    return (await crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: buf(salt), info }, ikm, { name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ])) as CryptoKey;
  } finally {
    secret.fill(0);
  }
}

/** Share C wrapped under the recovery code's key (fresh salt), for the wallet store. */
export async function wrapForRecovery(r: { recoveryCode: string; shareC: Uint8Array; address: string }): Promise<Uint8Array> {
  const header = new Uint8Array(1 + SALT_BYTES);
  header[0] = RECOVERY_WRAP;
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  header.set(salt, 1);
  return seal(await recoveryKey(r.recoveryCode, salt, r.address), r.shareC, additionalData(r.address, 'recovery', header), header);
}

/**
 * @returns share C (the caller wipes it), or undefined when the code does not open the blob.
 * @throws {TypeError} when the code is not a well-formed recovery code.
 */
export async function unwrapWithRecoveryCode(r: { recoveryCode: string; wrapped: Uint8Array; address: string }): Promise<Uint8Array | undefined> {
  if (r.wrapped[0] !== RECOVERY_WRAP || r.wrapped.length < 1 + SALT_BYTES + IV_BYTES) return undefined;
  const key = await recoveryKey(r.recoveryCode, r.wrapped.subarray(1, 1 + SALT_BYTES), r.address);
  return open(key, r.wrapped, 1 + SALT_BYTES, additionalData(r.address, 'recovery', r.wrapped.subarray(0, 1 + SALT_BYTES)));
}

/**
 * The passkey wrap (docs/signer.md, "The passkey wrap"): share C under a key
 * derived from a passkey's PRF output (WebAuthn `prf` extension, CTAP2
 * `hmac-secret`) for the fixed input PASSKEY_PRF_INPUT. The key is
 * HKDF-SHA-256(PRF output, salt `symbolon/share-c/passkey/v1`, info that
 * label, a newline and the wallet's address) to AES-256-GCM, not
 * extractable. The authenticator computes the PRF output only after user
 * verification, for this credential and this relying party (the wallet's
 * host name), so the blob is useless without the passkey; it needs no
 * storage of the device's own and works in any site that lets the frame
 * run a passkey ceremony (the SDK's iframe allows `publickey-credentials-get`).
 * Layout: `3 ‖ credential id length (2, big-endian) ‖ credential id ‖ iv (12) ‖ ciphertext+tag (48)`.
 */
const PASSKEY_WRAP = 3;
const PASSKEY_LABEL = 'symbolon/share-c/passkey/v1';
/** WebAuthn credential ids are at most 1023 bytes (WebAuthn Level 3, §5.8.3). */
export const MAX_CREDENTIAL_ID_BYTES = 1023;

/** What the device asks the passkey's PRF to evaluate (the same for every wallet: the address is bound by the HKDF info). */
export const PASSKEY_PRF_INPUT: Uint8Array = new TextEncoder().encode(`${PASSKEY_LABEL}/prf-input`);

/** A passkey's PRF output, for the credential that made it (the caller wipes `output`). */
export interface PasskeyPrfResult {
  credentialId: Uint8Array;
  /** The PRF output for PASSKEY_PRF_INPUT (32 bytes). */
  output: Uint8Array;
}

/**
 * Evaluates the PRF of one of `allow` (credential ids) for PASSKEY_PRF_INPUT: the wallet frame runs
 * navigator.credentials.get with the `prf` extension (web/frame/passkey-prf.ts).
 * @throws {Error} with code DEVICE_PRF_UNSUPPORTED when the authenticator answers without a PRF output.
 */
export type PasskeyPrf = (request: { allow: Uint8Array[]; input: Uint8Array }) => Promise<PasskeyPrfResult>;

async function passkeyKey(output: Uint8Array, address: string): Promise<CryptoKey> {
  if (!(output instanceof Uint8Array) || output.length < 32) throw new RangeError('a PRF output must be at least 32 bytes');
  const ikm = await crypto.subtle.importKey('raw', buf(output), 'HKDF', false, ['deriveKey']);
  const enc = new TextEncoder();
  return (await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: enc.encode(PASSKEY_LABEL), info: enc.encode(`${PASSKEY_LABEL}\n${address.toLowerCase()}`) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )) as CryptoKey;
}

/** The credential id a passkey wrap names (undefined: not a passkey wrap). */
export function passkeyCredentialIdOf(wrapped: Uint8Array): Uint8Array | undefined {
  if (wrapped[0] !== PASSKEY_WRAP || wrapped.length < 3) return undefined;
  const n = (wrapped[1]! << 8) | wrapped[2]!;
  if (n === 0 || n > MAX_CREDENTIAL_ID_BYTES || wrapped.length < 3 + n + IV_BYTES) return undefined;
  return wrapped.slice(3, 3 + n);
}

/** Share C wrapped under the key derived from a passkey's PRF output, for the wallet store. */
export async function wrapForPasskey(r: { prf: PasskeyPrfResult; shareC: Uint8Array; address: string }): Promise<Uint8Array> {
  const id = r.prf.credentialId;
  if (!(id instanceof Uint8Array) || id.length === 0 || id.length > MAX_CREDENTIAL_ID_BYTES) throw new RangeError('a credential id must be 1 to 1023 bytes');
  const header = new Uint8Array(3 + id.length);
  header[0] = PASSKEY_WRAP;
  header[1] = id.length >>> 8;
  header[2] = id.length & 0xff;
  header.set(id, 3);
  return seal(await passkeyKey(r.prf.output, r.address), r.shareC, additionalData(r.address, 'passkey', header), header);
}

/** @returns share C (the caller wipes it), or undefined when this PRF output does not open the blob. */
export async function unwrapWithPasskey(r: { prfOutput: Uint8Array; wrapped: Uint8Array; address: string }): Promise<Uint8Array | undefined> {
  const id = passkeyCredentialIdOf(r.wrapped);
  if (!id) return undefined;
  const headerLength = 3 + id.length;
  return open(await passkeyKey(r.prfOutput, r.address), r.wrapped, headerLength, additionalData(r.address, 'passkey', r.wrapped.subarray(0, headerLength)));
}
