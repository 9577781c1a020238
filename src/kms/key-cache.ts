/**
 * A small cache of key records and their sealed material, so the Sign and
 * Decrypt hot paths do not read the database twice per request. It holds only
 * what the database holds (sealed material, never plaintext). Entries expire
 * after `ttlMs` so that, with several processes on one PostgreSQL database, a
 * DisableKey or ScheduleKeyDeletion made elsewhere takes effect within that
 * time; changes made in this process invalidate at once. The same holds for
 * a key's grants and its signing policy, cached beside its record once a
 * request needs them. A key's rolling-window usage (usage-windows.ts) is
 * held apart from the record's expiry (it is brought up to date from the
 * store under the key's lock before each decision), and dropped with it
 * when the key changes in this process.
 *
 * The cache is bounded in entries (10,000) and in bytes (16 MiB, an estimate
 * counting each string at two bytes a character): a key policy may be 32 KB,
 * and 10,000 keys with such policies would otherwise hold hundreds of MB.
 * The oldest entries go first.
 */
import type { KeyRecord } from './model.js';
import type { MaterialRow } from '../storage/keys.repository.js';
import type { Grant } from '../storage/grants.repository.js';
import type { SigningPolicy } from '../signing-policy/document.js';
import type { UsageWindows } from './usage-windows.js';

/** A key's signing policy as cached: its text and compiled form, or null for a key without one. */
export type CachedSigningPolicy = { text: string; policy: SigningPolicy } | null;

/**
 * When a signing policy was read (src/kms/signing-policy.ts): the store's
 * count of other connections' commits and this process's count of
 * signing-policy writes, both taken before the read.
 */
export interface SigningPolicyStamp {
  external: number;
  writes: number;
}

interface Entry {
  key: KeyRecord;
  material: Map<number, MaterialRow>;
  /** The key's grants once a request needed them (only requests the policies do not allow do). */
  grants?: readonly Grant[];
  /** The key's signing policy (src/kms/signing-policy.ts) once a request needed it; null: none. */
  signingPolicy?: CachedSigningPolicy;
  /** When signingPolicy was read, where the store can tell (SQLite). */
  signingPolicyStamp?: SigningPolicyStamp | undefined;
  expires: number;
  /** This entry's estimated size (entryBytes and the parts added since). */
  bytes: number;
}

/** A fixed estimate for an entry's objects (the record, its maps, the cache's slot). */
const ENTRY_OVERHEAD = 512;
const MATERIAL_OVERHEAD = 160;
const GRANT_BYTES = 512;

const textBytes = (s: string | null | undefined) => (s ? 2 * s.length : 0);

function recordBytes(key: KeyRecord): number {
  return ENTRY_OVERHEAD + textBytes(key.keyId) + textBytes(key.policy) + textBytes(key.description) + textBytes(key.accountId) + textBytes(key.region);
}

function materialBytes(m: MaterialRow): number {
  return MATERIAL_OVERHEAD + m.sealed.byteLength + (m.publicKey?.byteLength ?? 0);
}

export class KeyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #usage = new Map<string, UsageWindows>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #maxBytes: number;
  #bytes = 0;
  /** Bumped by every invalidation, so grants read before one are not cached after it. */
  #generation = 0;

  constructor(options: { ttlMs: number; maxEntries?: number; maxBytes?: number }) {
    this.#ttlMs = options.ttlMs;
    this.#max = options.maxEntries ?? 10_000;
    this.#maxBytes = options.maxBytes ?? 16 * 2 ** 20;
  }

  /** The entries' estimated size in bytes (at most maxBytes, but for one entry larger than that alone). */
  get bytes(): number {
    return this.#bytes;
  }

  /** How many keys' records are held. */
  get size(): number {
    return this.#entries.size;
  }

  #delete(keyId: string): void {
    const e = this.#entries.get(keyId);
    if (!e) return;
    this.#bytes -= e.bytes;
    this.#entries.delete(keyId);
  }

  /** Adds `n` bytes to an entry's estimate, then drops the oldest entries (never `keep`) until under the bound. */
  #grow(e: Entry, n: number, keep: string): void {
    e.bytes += n;
    this.#bytes += n;
    for (const oldest of this.#entries.keys()) {
      if (this.#bytes <= this.#maxBytes) break;
      if (oldest !== keep) this.#delete(oldest);
    }
  }

  getKey(keyId: string, now: number): KeyRecord | undefined {
    const e = this.#entries.get(keyId);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.#delete(keyId);
      return undefined;
    }
    return e.key;
  }

  getMaterial(keyId: string, version: number, now: number): MaterialRow | undefined {
    const e = this.#entries.get(keyId);
    if (!e || e.expires <= now) return undefined;
    return e.material.get(version);
  }

  putKey(key: KeyRecord, now: number): void {
    if (this.#ttlMs <= 0) return;
    const prior = this.#entries.get(key.keyId);
    if (!prior && this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#delete(oldest);
    }
    const material = prior && prior.key.revision === key.revision ? prior.material : new Map<number, MaterialRow>();
    this.#delete(key.keyId);
    const e: Entry = { key, material, expires: now + this.#ttlMs, bytes: 0 };
    this.#entries.set(key.keyId, e);
    let bytes = recordBytes(key);
    for (const m of material.values()) bytes += materialBytes(m);
    this.#grow(e, bytes, key.keyId);
  }

  /**
   * Notes on the cached record that the key made a ciphertext at `at` (src/kms/keys.ts recordProtecting),
   * when the cache holds the record of `revision`: the fact does not change the revision, and a record of
   * another revision is left for the next read to bring.
   */
  markProtected(keyId: string, revision: number, at: number): void {
    const e = this.#entries.get(keyId);
    if (e && e.key.revision === revision && e.key.firstProtectedAt === null) e.key = { ...e.key, firstProtectedAt: at };
  }

  /** The key's grants, when cached with its record. */
  getGrants(keyId: string, now: number): readonly Grant[] | undefined {
    const e = this.#entries.get(keyId);
    if (!e || e.expires <= now) return undefined;
    return e.grants;
  }

  /** The current generation; pass it to putGrants with grants read after this call. */
  generation(): number {
    return this.#generation;
  }

  /**
   * Caches a key's grants beside its record (until the record expires or the
   * key or a grant changes), unless something was invalidated since they were read.
   */
  putGrants(keyId: string, grants: readonly Grant[], readAtGeneration: number): void {
    const e = this.#entries.get(keyId);
    if (!e || readAtGeneration !== this.#generation) return;
    const before = e.grants?.length ?? 0;
    e.grants = grants;
    this.#grow(e, (grants.length - before) * GRANT_BYTES, keyId);
  }

  /**
   * The key's signing policy, when cached with its record (undefined: not cached); with `stamp`, only
   * when it was read at that stamp (nothing that could change it committed since).
   */
  getSigningPolicy(keyId: string, now: number, stamp?: SigningPolicyStamp): CachedSigningPolicy | undefined {
    const e = this.#entries.get(keyId);
    if (!e || e.expires <= now) return undefined;
    if (stamp) {
      const at = e.signingPolicyStamp;
      if (!at || at.external !== stamp.external || at.writes !== stamp.writes) return undefined;
    }
    return e.signingPolicy;
  }

  /**
   * Caches a key's signing policy beside its record, read at `stamp` (if the store can tell), unless
   * something was invalidated since it was read (as putGrants).
   */
  putSigningPolicy(keyId: string, policy: CachedSigningPolicy, readAtGeneration: number, stamp?: SigningPolicyStamp): void {
    const e = this.#entries.get(keyId);
    if (!e || readAtGeneration !== this.#generation) return;
    e.signingPolicyStamp = stamp;
    // The parsed form is shared by text (src/kms/signing-policy.ts); counted as the text again.
    const bytes = 2 * textBytes(policy?.text) - 2 * textBytes(e.signingPolicy?.text);
    e.signingPolicy = policy;
    this.#grow(e, bytes, keyId);
  }

  putMaterial(m: MaterialRow): void {
    const e = this.#entries.get(m.keyId);
    if (!e) return;
    const prior = e.material.get(m.version);
    e.material.set(m.version, m);
    this.#grow(e, materialBytes(m) - (prior ? materialBytes(prior) : 0), m.keyId);
  }

  /** The key's rolling-window usage, when held. */
  getUsageWindows(keyId: string): UsageWindows | undefined {
    return this.#usage.get(keyId);
  }

  /** Holds a key's rolling-window usage (not when caching is off; the oldest key's goes past maxEntries). */
  putUsageWindows(keyId: string, windows: UsageWindows): void {
    if (this.#ttlMs <= 0) return;
    if (!this.#usage.has(keyId) && this.#usage.size >= this.#max) {
      const oldest = this.#usage.keys().next().value;
      if (oldest !== undefined) this.#usage.delete(oldest);
    }
    this.#usage.set(keyId, windows);
  }

  /** Forgets a key's rolling-window usage (the next decision reads it from the store). */
  dropUsageWindows(keyId: string): void {
    this.#usage.delete(keyId);
  }

  invalidate(keyId: string): void {
    this.#generation++;
    this.#delete(keyId);
    this.#usage.delete(keyId);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#bytes = 0;
    this.#usage.clear();
  }
}
