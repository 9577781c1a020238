/**
 * The root of trust and the sealer the services use.
 *
 * Two layers (docs/root-of-trust.md): a `RootKey` (a key file, a PKCS#11 token,
 * another KMS) only wraps and unwraps the store key, once at start-up; the
 * store key then seals every piece of key material and every stored secret
 * before it touches the database (`StoreKeySealer`, src/root/store-key.ts).
 * The services see only the `RootOfTrust` interface below: seal and open,
 * synchronous, in memory.
 *
 * A sealed box made by `KeyRootOfTrust` (stores from before the key hierarchy)
 * is: format byte (0x01) || AES-256-GCM box (nonce || ct || tag), with
 * associated data naming what the box is for (purpose, key id, version), so a
 * box moved to another row or purpose does not open.
 */
import { hkdfSync } from 'node:crypto';
import { aeadOpen, aeadSeal, AeadOpenError } from '../crypto/aead.js';
import { abytes, concatBytes, utf8Bytes, wipe } from '../crypto/bytes.js';

export interface RootOfTrust {
  /** A short description for logs (never key bytes). */
  readonly description: string;
  /** Seals `plaintext`, bound to `aad`. Does not wipe the input. */
  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /**
   * Opens a box made by seal with the same `aad`. The caller wipes the result.
   * @throws {SealedBoxError} when the box does not open.
   */
  open(box: Uint8Array, aad: Uint8Array): Uint8Array;
}

/** Which kind of root wraps the store key (SYMBOLON_ROOT). */
export type RootKind = 'file' | 'pkcs11' | 'kms' | 'shamir';

/** What a wrapped store key is bound to: its installation (a random id kept in the row), its version, and both as associated data. */
export interface StoreKeyBinding {
  installation: string;
  version: number;
  aad: Uint8Array;
}

/**
 * A root key: wraps and unwraps the 32-byte store key. Used once at start-up
 * (and by the operator commands), never on the hot path.
 */
export interface RootKey {
  readonly kind: RootKind;
  /** A short description for logs and errors (never key bytes). */
  readonly description: string;
  /** Wraps `storeKey` bound to `binding`. Does not wipe the input. */
  wrap(storeKey: Uint8Array, binding: StoreKeyBinding): Promise<Uint8Array>;
  /**
   * Unwraps a box made by wrap with the same `binding`; the caller wipes the result.
   * @throws {RootKeyError} when the box does not unwrap under this root (another root key), or the root is unreachable.
   */
  unwrap(wrapped: Uint8Array, binding: StoreKeyBinding): Promise<Uint8Array>;
  /**
   * The file root only: the sealer for records a store made before the key
   * hierarchy sealed directly under the root key (format 0x01).
   */
  legacySealer?(): KeyRootOfTrust;
  /** Releases the root (wipes key bytes, closes the token session). */
  close(): Promise<void>;
}

/** Raised when the configured root of trust is unusable or not this store's; the message says what to fix. */
export class RootKeyError extends Error {
  override name = 'RootKeyError';
}

/** A sealed box failed to open: wrong root key, or the box was moved or altered. */
export class SealedBoxError extends Error {
  override name = 'SealedBoxError';
}

const FORMAT_V1 = 0x01;

/**
 * Associated data for a sealed box: `purpose` and identifiers joined unambiguously
 * (each part length-prefixed).
 */
export function sealingContext(purpose: string, ...ids: Array<string | number>): Uint8Array {
  const parts = [purpose, ...ids.map(String)].map(utf8Bytes);
  const framed: Uint8Array[] = [];
  for (const p of parts) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, p.length);
    framed.push(len, p);
  }
  return concatBytes(...framed);
}

/** A root of trust held in process memory, from a 32-byte key (file or environment). */
export class KeyRootOfTrust implements RootOfTrust {
  readonly #sealingKey: Uint8Array;
  readonly description: string;

  /**
   * @param rootKey 32 bytes; copied through HKDF, so the caller may wipe it afterwards.
   */
  constructor(rootKey: Uint8Array, description: string) {
    abytes(rootKey, 32, 'rootKey');
    // HKDF (RFC 5869) separates the sealing key from the raw root key, so the
    // root key can later serve other purposes without key reuse.
    this.#sealingKey = new Uint8Array(hkdfSync('sha256', rootKey, new Uint8Array(0), 'symbolon/root/seal/v1', 32));
    this.description = description;
  }

  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const box = aeadSeal(this.#sealingKey, plaintext, aad);
    return concatBytes(Uint8Array.of(FORMAT_V1), box);
  }

  open(box: Uint8Array, aad: Uint8Array): Uint8Array {
    if (box.length < 1 || box[0] !== FORMAT_V1) throw new SealedBoxError('sealed box has an unknown format');
    try {
      return aeadOpen(this.#sealingKey, box.subarray(1), aad);
    } catch (e) {
      if (e instanceof AeadOpenError) throw new SealedBoxError('sealed box did not open (wrong root key, or the box was moved or altered)');
      throw e;
    }
  }

  /** Wipes the sealing key (on shutdown). */
  destroy(): void {
    wipe(this.#sealingKey);
  }
}
