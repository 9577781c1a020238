/**
 * The custodian's checkpoint signing key (Ed25519, RFC 8032): generated on
 * first start, sealed under the root of trust with
 * `sealingContext('audit/checkpoint-key/v1')` and kept in symbolon_meta, its
 * public key recorded in audit_checkpoint_keys. Every process on the store
 * uses the same key (first writer wins). The seed is opened only for the
 * moment of a signature and wiped in `finally`.
 *
 * A checkpoint signs the canonical JSON
 *   {"hash":…,"keyId":…,"seq":…,"time":…,"type":"symbolon.audit.checkpoint.v1"}
 * so `audit verify` needs only the public key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import type { Store } from '../storage/database.js';
import { getMeta, putMetaIfAbsent } from '../storage/meta.repository.js';
import { putCheckpointKey } from '../storage/audit.repository.js';
import { sealingContext, type RootOfTrust } from '../root/root-of-trust.js';
import { wipe } from '../crypto/bytes.js';
import { canonicalJson } from '../crypto/canonical-json.js';

export const CHECKPOINT_KEY_META = 'audit_checkpoint_key';
export const CHECKPOINT_ALGORITHM = 'Ed25519';
const CHECKPOINT_TYPE = 'symbolon.audit.checkpoint.v1';

/** What a checkpoint commits to. */
export interface CheckpointStatement {
  seq: number;
  hash: string;
  time: number;
  keyId: string;
}

/** The bytes a checkpoint signature covers. */
export function checkpointMessage(c: CheckpointStatement): Uint8Array {
  return new TextEncoder().encode(canonicalJson({ type: CHECKPOINT_TYPE, seq: c.seq, hash: c.hash, time: c.time, keyId: c.keyId }));
}

/** A key id for a public key: the first 16 bytes of its SHA-256, hex. */
export function checkpointKeyId(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 32);
}

/**
 * Checks a checkpoint signature; false for any malformed input (never throws on bad data).
 */
export function verifyCheckpoint(c: CheckpointStatement, signatureHex: string, publicKeyHex: string): boolean {
  if (!/^[0-9a-f]{128}$/.test(signatureHex) || !/^[0-9a-f]{64}$/.test(publicKeyHex)) return false;
  try {
    return ed25519.verify(Buffer.from(signatureHex, 'hex'), checkpointMessage(c), Buffer.from(publicKeyHex, 'hex'), { zip215: false });
  } catch {
    return false;
  }
}

export interface CheckpointSigner {
  readonly keyId: string;
  /** Lower-case hex of the 32-byte public key. */
  readonly publicKey: string;
  /** Signs the statement; returns the signature as hex. */
  sign(c: Omit<CheckpointStatement, 'keyId'>): string;
}

/**
 * Loads the store's checkpoint key, creating it on first start.
 * @throws {SealedBoxError} when the stored key does not open under this root.
 */
export async function loadCheckpointSigner(store: Store, root: RootOfTrust, now: number): Promise<CheckpointSigner> {
  const aad = sealingContext('audit/checkpoint-key/v1');
  let sealed = await getMeta(store.db, CHECKPOINT_KEY_META);
  if (!sealed) {
    const seed = new Uint8Array(randomBytes(32));
    try {
      sealed = await putMetaIfAbsent(store.db, CHECKPOINT_KEY_META, root.seal(seed, aad));
    } finally {
      wipe(seed);
    }
  }
  const box = sealed;
  const seed = root.open(box, aad);
  let publicKey: Uint8Array;
  try {
    publicKey = ed25519.getPublicKey(seed);
  } finally {
    wipe(seed);
  }
  const keyId = checkpointKeyId(publicKey);
  const publicHex = Buffer.from(publicKey).toString('hex');
  await putCheckpointKey(store.db, { keyId, algorithm: CHECKPOINT_ALGORITHM, publicKey: publicHex, createdAt: now });
  return {
    keyId,
    publicKey: publicHex,
    sign(c) {
      const s = root.open(box, aad);
      try {
        return Buffer.from(ed25519.sign(checkpointMessage({ ...c, keyId }), s)).toString('hex');
      } finally {
        wipe(s);
      }
    },
  };
}
