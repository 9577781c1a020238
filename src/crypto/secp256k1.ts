/**
 * secp256k1 (SEC 2) through libsecp256k1, the constant-time C library Bitcoin
 * Core maintains, via the `secp256k1` package's native binding. The binding is
 * loaded directly (`secp256k1/bindings`), never through the package's entry
 * point, which silently falls back to a pure-JS implementation when the addon
 * does not load: here a missing addon is an error at start-up.
 *
 * Signing is RFC 6979 deterministic and always produces low-s (EIP-2) signatures.
 * Private keys are taken and returned as Uint8Arrays the caller wipes.
 */
import { createRequire } from 'node:module';
import { randomFillSync } from 'node:crypto';
import { abytes, wipe } from './bytes.js';

interface NativeSecp256k1 {
  privateKeyVerify(sk: Uint8Array): boolean;
  publicKeyCreate(sk: Uint8Array, compressed?: boolean, out?: Uint8Array): Uint8Array;
  publicKeyVerify(pk: Uint8Array): boolean;
  publicKeyConvert(pk: Uint8Array, compressed?: boolean, out?: Uint8Array): Uint8Array;
  ecdsaSign(msg32: Uint8Array, sk: Uint8Array, options?: object, out?: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pk: Uint8Array): boolean;
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean, out?: Uint8Array): Uint8Array;
  signatureNormalize(sig: Uint8Array): Uint8Array;
}

/** Raised when libsecp256k1's native addon cannot be loaded. */
export class NativeSecp256k1Unavailable extends Error {
  override name = 'NativeSecp256k1Unavailable';
}

function loadNative(): NativeSecp256k1 {
  const require = createRequire(import.meta.url);
  try {
    // `bindings` requires node-gyp-build's native addon and throws if it is missing.
    return require('secp256k1/bindings') as NativeSecp256k1;
  } catch (cause) {
    throw new NativeSecp256k1Unavailable(
      'libsecp256k1 native binding (secp256k1/bindings) failed to load; refusing to fall back to a non-constant-time implementation. Reinstall with `npm rebuild secp256k1`.',
      { cause },
    );
  }
}

const native: NativeSecp256k1 = loadNative();

/** Name of the implementation in use, for start-up logs and benchmarks. */
export const SECP256K1_IMPLEMENTATION = 'libsecp256k1 (native, secp256k1@5 bindings)';

/** The group order n (SEC 2, secp256k1). */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** n / 2: EIP-2 requires s <= n/2. */
export const SECP256K1_HALF_N = SECP256K1_N >> 1n;

/** Generates a private key from the platform CSPRNG (rejection-sampled into [1, n-1]). The caller wipes it. */
export function generatePrivateKey(): Uint8Array {
  for (;;) {
    const sk = randomFillSync(new Uint8Array(32));
    if (native.privateKeyVerify(sk)) return sk;
    wipe(sk);
  }
}

/** True when `sk` is a valid private key (32 bytes, 1 <= sk < n). */
export function isValidPrivateKey(sk: Uint8Array): boolean {
  return sk instanceof Uint8Array && sk.length === 32 && native.privateKeyVerify(sk);
}

/**
 * Derives the public key: 65 bytes uncompressed (0x04 || x || y) by default.
 * @throws {RangeError} on an invalid private key.
 */
export function getPublicKey(sk: Uint8Array, compressed = false): Uint8Array {
  abytes(sk, 32, 'privateKey');
  if (!native.privateKeyVerify(sk)) throw new RangeError('privateKey is not a valid secp256k1 scalar');
  return native.publicKeyCreate(sk, compressed);
}

/** A compact signature: r || s (64 bytes), s low, and the recovery id (0 or 1 for real-world keys). */
export interface RecoverableSignature {
  signature: Uint8Array;
  recovery: number;
}

/**
 * Signs a 32-byte digest (RFC 6979, low-s).
 * @throws {RangeError} on a wrong-size digest or an invalid private key.
 */
export function signDigest(digest: Uint8Array, sk: Uint8Array): RecoverableSignature {
  abytes(digest, 32, 'digest');
  abytes(sk, 32, 'privateKey');
  const { signature, recid } = native.ecdsaSign(digest, sk);
  return { signature, recovery: recid };
}

/**
 * Verifies a compact signature over a 32-byte digest. High-s signatures are
 * accepted unless `lowS` is set (ECDSA itself accepts both; Ethereum does not).
 * Returns false, never throws, on malformed cryptographic data.
 */
export function verifyDigest(signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array, options: { lowS?: boolean } = {}): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  if (!(digest instanceof Uint8Array) || digest.length !== 32) return false;
  if (!(publicKey instanceof Uint8Array) || (publicKey.length !== 33 && publicKey.length !== 65)) return false;
  try {
    if (!native.publicKeyVerify(publicKey)) return false;
    const sig = options.lowS ? signature : native.signatureNormalize(new Uint8Array(signature));
    return native.ecdsaVerify(sig, digest, publicKey);
  } catch {
    // r or s out of range, zero, or otherwise unparsable.
    return false;
  }
}

/**
 * Recovers the uncompressed public key from a compact signature, or null.
 */
export function recoverPublicKey(signature: Uint8Array, recovery: number, digest: Uint8Array): Uint8Array | null {
  if (signature.length !== 64 || digest.length !== 32 || (recovery !== 0 && recovery !== 1 && recovery !== 2 && recovery !== 3)) return null;
  try {
    return native.ecdsaRecover(signature, recovery, digest, false);
  } catch {
    return null;
  }
}

/** True when `pk` is a valid encoded point (33 or 65 bytes). */
export function isValidPublicKey(pk: Uint8Array): boolean {
  return pk instanceof Uint8Array && (pk.length === 33 || pk.length === 65) && native.publicKeyVerify(pk);
}

/** Returns the 65-byte uncompressed form of a valid public key. */
export function uncompressPublicKey(pk: Uint8Array): Uint8Array {
  return native.publicKeyConvert(pk, false);
}
