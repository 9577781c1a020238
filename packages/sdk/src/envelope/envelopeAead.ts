/**
 * The device-side envelope of a wallet key (docs/architecture.md, "envelope" custody
 * mode): the 32-byte secp256k1 private key sealed with AES-256-GCM (NIST SP
 * 800-38D) under a fresh 256-bit data key, through WebCrypto
 * (`crypto.subtle`), so it runs in browsers and Node alike.
 *
 * Box: version 0x01 || 96-bit random IV || ciphertext (32) || tag (16) = 61 bytes.
 * Associated data binds the box to its wallet and its owner, each part
 * length-prefixed (4-byte big-endian) so no two (address, owner) pairs frame
 * alike: "symbolon/envelope/v1" || EIP-55 address || owner (the token's `sub`,
 * the same value the custodian's encryption context names). A box moved to
 * another wallet record or another user fails to open.
 *
 * WebCrypto copies the data key into a non-extractable CryptoKey that cannot
 * be wiped, only dropped; the caller wipes its own copies in `finally`.
 */
import { EnvelopeError } from './errors.js';

const VERSION = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Length of a sealed private key. */
export const SEALED_PRIVATE_KEY_BYTES = 1 + IV_BYTES + KEY_BYTES + TAG_BYTES;

function frame(...parts: string[]): Uint8Array {
  const enc = new TextEncoder();
  const encoded = parts.map((p) => enc.encode(p));
  const out = new Uint8Array(encoded.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of encoded) {
    view.setUint32(at, p.length);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** The associated data of a wallet's envelope. */
export function envelopeAad(address: string, owner: string): Uint8Array {
  return frame('symbolon/envelope/v1', address, owner);
}

function checkKey(key: Uint8Array, field: string): void {
  if (!(key instanceof Uint8Array)) throw new TypeError(`${field} must be a Uint8Array`);
  if (key.length !== KEY_BYTES) throw new RangeError(`${field} must be ${KEY_BYTES} bytes (got ${key.length})`);
}

async function aesKey(dataKey: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', dataKey as Uint8Array<ArrayBuffer>, { name: 'AES-GCM' }, false, [usage]);
}

/**
 * Seals a private key under a data key, bound to (address, owner).
 * @throws {TypeError|RangeError} when a key is not 32 bytes or a string is empty.
 */
export async function sealPrivateKey(input: { dataKey: Uint8Array; privateKey: Uint8Array; address: string; owner: string }): Promise<Uint8Array> {
  checkKey(input.dataKey, 'dataKey');
  checkKey(input.privateKey, 'privateKey');
  if (!input.address || !input.owner) throw new TypeError('address and owner must be non-empty strings');
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await aesKey(input.dataKey, 'encrypt');
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: envelopeAad(input.address, input.owner) as Uint8Array<ArrayBuffer>, tagLength: 128 },
      key,
      input.privateKey as Uint8Array<ArrayBuffer>,
    ),
  );
  const out = new Uint8Array(SEALED_PRIVATE_KEY_BYTES);
  out[0] = VERSION;
  out.set(iv, 1);
  out.set(ct, 1 + IV_BYTES);
  return out;
}

/**
 * Opens a sealed private key; the caller wipes the result.
 * @throws {EnvelopeError} DECRYPT_FAILED when the box is malformed, altered, or bound to another wallet or owner.
 * @throws {TypeError|RangeError} when the data key is not 32 bytes.
 */
export async function openPrivateKey(input: { dataKey: Uint8Array; sealed: Uint8Array; address: string; owner: string }): Promise<Uint8Array> {
  checkKey(input.dataKey, 'dataKey');
  const { sealed } = input;
  if (!(sealed instanceof Uint8Array) || sealed.length !== SEALED_PRIVATE_KEY_BYTES || sealed[0] !== VERSION) {
    throw new EnvelopeError(
      'DECRYPT_FAILED',
      `The sealed private key is not a version-1 envelope of ${SEALED_PRIVATE_KEY_BYTES} bytes (got ${sealed?.length ?? 0}).`,
    );
  }
  const key = await aesKey(input.dataKey, 'decrypt');
  try {
    const plain = await crypto.subtle.decrypt(
      {
        name: 'AES-GCM',
        iv: sealed.slice(1, 1 + IV_BYTES),
        additionalData: envelopeAad(input.address, input.owner) as Uint8Array<ArrayBuffer>,
        tagLength: 128,
      },
      key,
      sealed.slice(1 + IV_BYTES),
    );
    return new Uint8Array(plain);
  } catch (cause) {
    throw new EnvelopeError('DECRYPT_FAILED', 'The sealed private key does not open for this wallet and owner.', { cause });
  }
}
