/**
 * The root of trust: the one key under which every piece of key material, and
 * every stored secret, is sealed before it touches the database. Pluggable: a
 * key file or environment variable here; an HSM through PKCS#11 later.
 *
 * A sealed box is: format byte (0x01) || AES-256-GCM box (nonce || ct || tag),
 * with associated data naming what the box is for (purpose, key id, version), so
 * a box moved to another row or purpose does not open.
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
