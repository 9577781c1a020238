/**
 * A small cache of tokens already verified, keyed by the whole token string and
 * kept only until the token's `exp`. A hit skips the signature check, so it
 * must never outlive what the check proved: the entry dies at `exp` (not
 * `exp + tolerance`), the key is the exact bytes that were verified, and the
 * cache is bounded (oldest entries go first).
 *
 * Caveat, documented in docs/identity.md: a key the issuer withdraws from its
 * JWKS keeps its already-verified tokens valid here until they expire.
 */
import type { VerifiedToken } from './verified-token.js';

export class VerifiedTokenCache {
  readonly #entries = new Map<string, VerifiedToken>();
  readonly #maxEntries: number;

  /** @throws {RangeError} when maxEntries is not a positive integer. */
  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.#maxEntries = maxEntries;
  }

  /** The cached result, if present and unexpired at `nowMs`. */
  get(token: string, nowMs: number): VerifiedToken | undefined {
    const hit = this.#entries.get(token);
    if (!hit) return undefined;
    if (hit.exp * 1000 <= nowMs) {
      this.#entries.delete(token);
      return undefined;
    }
    return hit;
  }

  set(token: string, result: VerifiedToken): void {
    if (this.#entries.size >= this.#maxEntries) {
      // Map iterates in insertion order: the first key is the oldest entry.
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, result);
  }

  get size(): number {
    return this.#entries.size;
  }
}
