/**
 * Node-only yParity finder over libsecp256k1 (the `secp256k1` package's
 * native addon, `secp256k1/bindings`): recovers the public key with recovery
 * id 0 (SEC 1 §4.1.6) — or first with the hinted id, when given — and compares
 * it with the key's own point; if it differs, recovers with the other id and
 * compares again; if neither is the key, the signature is refused. About an order of magnitude less CPU than noble's verification.
 *
 * Not part of the browser-safe entry: exported as `@symbolon/sdk/node`. It
 * never falls back to JavaScript: when the addon cannot be loaded it throws,
 * so a deployment that expects native speed learns it does not have it.
 */
import { createRequire } from 'node:module';
import type { ParityFunction } from '../canonicalSignature.js';

interface NativeSecp256k1 {
  /** Throws when the signature does not parse or no point recovers with this id. */
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: false, output: Uint8Array): Uint8Array;
}

let addon: NativeSecp256k1 | undefined;

function loadAddon(): NativeSecp256k1 {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  try {
    // 'secp256k1/bindings' is the native addon only; plain 'secp256k1' would fall back to elliptic (JavaScript).
    addon = require('secp256k1/bindings') as NativeSecp256k1;
  } catch (cause) {
    throw new Error('nativeParity needs the native libsecp256k1 addon of the "secp256k1" package (npm install secp256k1), which could not be loaded.', {
      cause,
    });
  }
  return addon;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Makes a {@link ParityFunction} backed by libsecp256k1; loads the addon now.
 * @throws {Error} when the native addon cannot be loaded (no silent fallback to JavaScript).
 */
export function createNativeParity(): ParityFunction {
  const native = loadAddon();
  const recovered = new Uint8Array(65);
  return (compactSig, digest, uncompressedPublicKey, hint) => {
    if (compactSig.length !== 64 || digest.length !== 32 || uncompressedPublicKey.length !== 65)
      throw new RangeError('nativeParity: expected a 64-byte signature, a 32-byte digest and a 65-byte public key');
    // The hinted parity first (verified like the other): one recovery instead of two when the hint is right.
    for (const recid of hint === 1 ? ([1, 0] as const) : ([0, 1] as const)) {
      let ok: boolean;
      try {
        native.ecdsaRecover(compactSig, recid, digest, false, recovered);
        ok = true;
      } catch {
        ok = false; // no point with this recovery id (or r, s out of range): not this parity
      }
      if (ok && equal(recovered, uncompressedPublicKey)) return recid;
    }
    return undefined;
  };
}

/**
 * yParity by libsecp256k1; the addon is loaded on first use.
 * @throws {Error} when the native addon cannot be loaded.
 */
export const nativeParity: ParityFunction = (compactSig, digest, uncompressedPublicKey, hint) =>
  (cached ??= createNativeParity())(compactSig, digest, uncompressedPublicKey, hint);
let cached: ParityFunction | undefined;
