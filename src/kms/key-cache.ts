/**
 * A small cache of key records and their sealed material, so the Sign and
 * Decrypt hot paths do not read the database twice per request. It holds only
 * what the database holds (sealed material, never plaintext). Entries expire
 * after `ttlMs` so that, with several processes on one PostgreSQL database, a
 * DisableKey or ScheduleKeyDeletion made elsewhere takes effect within that
 * time; changes made in this process invalidate at once.
 */
import type { KeyRecord } from './model.js';
import type { MaterialRow } from '../storage/keys.repository.js';

interface Entry {
  key: KeyRecord;
  material: Map<number, MaterialRow>;
  expires: number;
}

export class KeyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(options: { ttlMs: number; maxEntries?: number }) {
    this.#ttlMs = options.ttlMs;
    this.#max = options.maxEntries ?? 10_000;
  }

  getKey(keyId: string, now: number): KeyRecord | undefined {
    const e = this.#entries.get(keyId);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.#entries.delete(keyId);
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
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key.keyId, {
      key,
      material: prior && prior.key.revision === key.revision ? prior.material : new Map(),
      expires: now + this.#ttlMs,
    });
  }

  putMaterial(m: MaterialRow): void {
    this.#entries.get(m.keyId)?.material.set(m.version, m);
  }

  invalidate(keyId: string): void {
    this.#entries.delete(keyId);
  }

  clear(): void {
    this.#entries.clear();
  }
}
