/**
 * Finds the recovery parity (yParity) of an ECDSA signature by a known
 * secp256k1 public key Q, with @noble/curves.
 *
 * Public-key recovery with parity p returns Q exactly when the point
 * R = u1·G + u2·Q (u1 = z/s, u2 = r/s mod n; SEC 1 §4.1.4 step 5) has
 * x = r and y of parity p. So instead of recovering twice and comparing
 * addresses, this computes R once — which also verifies the signature — and
 * reads the parity off R.y. It is the same check as "recover and compare",
 * at the cost of one verification.
 *
 * Speed: G and Q are fixed, so after a key has signed a few digests its point
 * gets a precomputed window table (noble's `precompute`), as does a private
 * copy of G (noble's shared G is left as it is). Only public values are
 * multiplied, so the variable-time `multiplyUnsafe` is right here.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';

const Point = secp256k1.Point;
type Point = InstanceType<typeof Point>;
const Fn = Point.Fn;

/** Signatures a key makes before its table is built: a one-off signer never pays for one. */
const TABLE_AFTER = 8;
/**
 * Window widths (2^(W-1) points per window, ceil(256/W)+1 windows). G's table
 * is built once per process (W=10: ~2 MB); each busy key's at W=8 (~1 MB,
 * ~70 ms to build), which measured within noise of W=10 at half the memory.
 */
const GENERATOR_WINDOW = 10;
const KEY_WINDOW = 8;

let generatorTable: Point | undefined;
function tabledGenerator(): Point {
  generatorTable ??= Point.fromAffine(Point.BASE.toAffine()).precompute(GENERATOR_WINDOW, false);
  return generatorTable;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let hex = '0x';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return BigInt(hex);
}

/** Computes yParity for signatures by one public key. */
export class RecoveryParity {
  readonly #point: Point;
  #table: Point | undefined;
  #uses = 0;

  /**
   * @param publicKey - the SEC 1 encoded point (33 or 65 bytes).
   * @throws {Error} (noble's) when the bytes are not a point on secp256k1.
   */
  constructor(publicKey: Uint8Array) {
    this.#point = Point.fromBytes(publicKey);
    this.#point.assertValidity();
  }

  /** The key as a 65-byte uncompressed SEC 1 point. */
  uncompressed(): Uint8Array {
    return this.#point.toBytes(false);
  }

  /**
   * The parity p such that recovering (r, s, p) over `digest` gives this key,
   * or undefined when no parity does (another key, another digest, or an R
   * whose x is not r itself, which Ethereum cannot express).
   * `r` and `s` must already be in [1, n-1].
   */
  parity(digest: Uint8Array, r: bigint, s: bigint): 0 | 1 | undefined {
    // bits2int: a 32-byte digest is taken whole; mod n as ECDSA does.
    const z = Fn.create(bytesToBigInt(digest));
    const sInv = Fn.inv(s);
    const u1 = Fn.mul(z, sInv);
    const u2 = Fn.mul(r, sInv);
    let R: Point;
    if (++this.#uses > TABLE_AFTER) {
      this.#table ??= Point.fromAffine(this.#point.toAffine()).precompute(KEY_WINDOW, false);
      R = tabledGenerator().multiplyUnsafe(u1).add(this.#table.multiplyUnsafe(u2));
    } else {
      R = Point.BASE.multiplyUnsafe(u1).add(this.#point.multiplyUnsafe(u2));
    }
    if (R.is0()) return undefined;
    const { x, y } = R.toAffine();
    if (x !== r) return undefined;
    return (y & 1n) === 0n ? 0 : 1;
  }
}
