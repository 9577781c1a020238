/**
 * The Shamir root (SYMBOLON_ROOT=shamir, docs/root-of-trust.md): a random
 * 32-byte root key that no machine keeps. `symbolon operator init` makes it,
 * wraps the store key under it, splits it into N shares (any M rebuild it) with
 * `shamir-secret-sharing` (pinned in package.json) and prints them once; the
 * store keeps only the wrapped store key and this row:
 *
 *   symbolon_meta `shamir_root`: { format: 1, shares: N, threshold: M, fingerprint }
 *
 * A server with this root starts sealed; `symbolon operator unseal` delivers
 * shares one at a time (`UnsealProgress`) until M of them rebuild a root whose
 * fingerprint is the row's and that unwraps the store key — the wrapped store
 * key (AES-256-GCM) is what finally authenticates the rebuilt root.
 *
 * A share is one line: `symbolon-unseal-share-v1-<fingerprint>-<share hex>-<check>`;
 * the fingerprint (8 bytes of SHA-256 over a label and the root key) names the
 * store's root without revealing it, so a share of another store is refused
 * alone; the check (4 bytes of SHA-256 of the rest of the line) catches a
 * mistyped share.
 */
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { aeadOpen, aeadSeal, AeadOpenError } from '../crypto/aead.js';
import { concatBytes, utf8Bytes, wipe } from '../crypto/bytes.js';
import { RootKeyError, sealingContext, type RootKey, type StoreKeyBinding } from './root-of-trust.js';

/** The symbolon_meta name of the row recording the split (never a share). */
export const SHAMIR_META = 'shamir_root';

const PREFIX = 'symbolon-unseal-share-v1';
const SHARE_LINE = /^symbolon-unseal-share-v1-([0-9a-f]{16})-([0-9a-f]{66})-([0-9a-f]{8})$/;
const WRAP_FORMAT = 0x01;

/** What the store records about its Shamir root: enough to check shares, nothing that rebuilds the key. */
export interface ShamirRecord {
  format: 1;
  shares: number;
  threshold: number;
  fingerprint: string;
}

/** A share or a set of shares refused; `code` is the stable API code (docs/root-of-trust.md). */
export class UnsealError extends Error {
  override name = 'UnsealError';
  constructor(
    readonly code: 'malformed_share' | 'wrong_store' | 'duplicate_share' | 'wrong_shares',
    message: string,
  ) {
    super(message);
  }
}

/** 8 bytes of SHA-256 over a label and the key, hex: names the root without revealing it. */
export function shamirFingerprint(key: Uint8Array): string {
  return createHash('sha256').update('symbolon/unseal-root-fingerprint/v1\0').update(key).digest('hex').slice(0, 16);
}

function checkDigits(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

function shareLine(fingerprint: string, share: Uint8Array): string {
  const body = `${PREFIX}-${fingerprint}-${Buffer.from(share).toString('hex')}`;
  return `${body}-${checkDigits(body)}`;
}

/** Validates the numbers an operator gives: 2 <= threshold <= shares <= 255. */
export function checkSplit(shares: number, threshold: number): void {
  if (!Number.isInteger(shares) || !Number.isInteger(threshold) || threshold < 2 || shares < threshold || shares > 255)
    throw new RangeError('need 2 <= threshold <= shares <= 255');
}

/** Encodes the row. */
export function encodeShamirRecord(r: ShamirRecord): Uint8Array {
  return utf8Bytes(JSON.stringify(r));
}

/** Parses the row; a malformed one is a RootKeyError (the store is damaged). */
export function decodeShamirRecord(bytes: Uint8Array): ShamirRecord {
  let r: ShamirRecord;
  try {
    r = JSON.parse(Buffer.from(bytes).toString('utf8')) as ShamirRecord;
  } catch {
    throw new RootKeyError('the shamir_root row in symbolon_meta is not valid JSON: the store is damaged');
  }
  const ok =
    r !== null &&
    typeof r === 'object' &&
    r.format === 1 &&
    Number.isInteger(r.shares) &&
    Number.isInteger(r.threshold) &&
    r.threshold >= 2 &&
    r.shares >= r.threshold &&
    r.shares <= 255 &&
    typeof r.fingerprint === 'string' &&
    /^[0-9a-f]{16}$/.test(r.fingerprint);
  if (!ok) throw new RootKeyError('the shamir_root row in symbolon_meta is malformed: the store is damaged');
  return r;
}

/** The Shamir root, rebuilt in memory from M shares (or freshly made by init) until `close`. */
export class ShamirRootKey implements RootKey {
  readonly kind = 'shamir' as const;
  readonly description: string;
  readonly #wrapKey: Uint8Array;

  /** @param rootKey 32 bytes; derived from, so the caller may wipe it afterwards. */
  constructor(rootKey: Uint8Array) {
    if (rootKey.length !== 32) throw new RootKeyError('a Shamir root key is 32 bytes');
    this.description = `Shamir root ${shamirFingerprint(rootKey)}`;
    this.#wrapKey = new Uint8Array(hkdfSync('sha256', rootKey, new Uint8Array(0), 'symbolon/root/shamir-wrap/v1', 32));
  }

  #aad(binding: StoreKeyBinding): Uint8Array {
    return concatBytes(sealingContext('shamir-root/v1', binding.installation), binding.aad);
  }

  async wrap(storeKey: Uint8Array, binding: StoreKeyBinding): Promise<Uint8Array> {
    return concatBytes(Uint8Array.of(WRAP_FORMAT), aeadSeal(this.#wrapKey, storeKey, this.#aad(binding)));
  }

  async unwrap(wrapped: Uint8Array, binding: StoreKeyBinding): Promise<Uint8Array> {
    if (wrapped.length < 1 || wrapped[0] !== WRAP_FORMAT) throw new RootKeyError('the stored store key has an unknown wrapping format');
    try {
      return aeadOpen(this.#wrapKey, wrapped.subarray(1), this.#aad(binding));
    } catch (e) {
      if (e instanceof AeadOpenError) throw new RootKeyError(`the shares do not open this store: the ${this.description} does not unwrap its store key`);
      throw e;
    }
  }

  async close(): Promise<void> {
    wipe(this.#wrapKey);
  }
}

/**
 * A fresh Shamir root for `operator init`: the root (to wrap a new store key
 * with), the row to record, and the N share lines to print once. The raw key
 * is wiped before this returns.
 * @throws {RangeError} unless 2 <= threshold <= shares <= 255.
 */
export async function createShamirRoot(shares: number, threshold: number): Promise<{ root: ShamirRootKey; record: ShamirRecord; lines: string[] }> {
  checkSplit(shares, threshold);
  const key = new Uint8Array(randomBytes(32));
  let parts: Uint8Array[] = [];
  try {
    parts = await split(key, shares, threshold);
    const fingerprint = shamirFingerprint(key);
    return {
      root: new ShamirRootKey(key),
      record: { format: 1, shares, threshold, fingerprint },
      lines: parts.map((p) => shareLine(fingerprint, p)),
    };
  } finally {
    wipe(key);
    for (const p of parts) wipe(p);
  }
}

/**
 * The shares delivered so far to a sealed server (Vault's model): each is
 * checked on arrival (form, check digits, this store's fingerprint, not a
 * duplicate); the M-th rebuilds the root. Shares live only in Uint8Arrays,
 * wiped on `reset` and once combined.
 */
export class UnsealProgress {
  readonly #record: ShamirRecord;
  #shares: Uint8Array[] = [];

  constructor(record: ShamirRecord) {
    this.#record = record;
  }

  get received(): number {
    return this.#shares.length;
  }

  get threshold(): number {
    return this.#record.threshold;
  }

  /**
   * Adds one share line. Returns the rebuilt root key (the caller wipes it)
   * once `threshold` shares are in, else undefined. A refused share leaves the
   * progress as it was; shares that rebuild a key with another fingerprint
   * (a share altered with its check recomputed) reset it.
   * @throws {UnsealError} naming the cause.
   */
  async add(line: string): Promise<Uint8Array | undefined> {
    const m = SHARE_LINE.exec(line.trim());
    if (!m) throw new UnsealError('malformed_share', `that is not a Symbolon unseal share (${PREFIX}-…)`);
    const text = line.trim();
    if (checkDigits(text.slice(0, text.length - 9)) !== m[3])
      throw new UnsealError('malformed_share', 'the share is damaged or mistyped (its check digits do not match)');
    if (m[1] !== this.#record.fingerprint)
      throw new UnsealError('wrong_store', `the share belongs to another store's root (fingerprint ${m[1]}, this store's is ${this.#record.fingerprint})`);
    const share = new Uint8Array(Buffer.from(m[2]!, 'hex'));
    const x = share[share.length - 1];
    if (this.#shares.some((s) => s[s.length - 1] === x)) {
      wipe(share);
      throw new UnsealError('duplicate_share', 'that share was already given');
    }
    this.#shares.push(share);
    if (this.#shares.length < this.#record.threshold) return undefined;
    let key: Uint8Array | undefined;
    try {
      key = await combine(this.#shares);
    } catch {
      key = undefined;
    } finally {
      this.reset();
    }
    if (!key || key.length !== 32 || shamirFingerprint(key) !== this.#record.fingerprint) {
      wipe(key);
      throw new UnsealError('wrong_shares', 'the shares do not open this store (they rebuild another key: a share was altered); progress was reset');
    }
    return key;
  }

  /** Wipes and forgets every share delivered so far. */
  reset(): void {
    for (const s of this.#shares) wipe(s);
    this.#shares = [];
  }
}
