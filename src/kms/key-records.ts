/**
 * The KMS's keys in the store: the one mapper between a kms_keys row
 * (KmsKeyTable, what src/storage/keys.repository.ts reads and writes) and the
 * KMS's KeyRecord (src/kms/model.ts), and the repository's key functions in
 * KeyRecord terms. Material, aliases and tags need no mapping and are used
 * from the repository directly.
 */
import * as repo from '../storage/keys.repository.js';
import type { MaterialRow } from '../storage/keys.repository.js';
import type { KmsKeyTable } from '../storage/tables.js';
import type { KeyRecord, KeySpec, KeyState, KeyUsage } from './model.js';

/** A row as the KMS's record; the store holds only values the KMS wrote, so the string columns are its enums. */
export function toKeyRecord(r: KmsKeyTable): KeyRecord {
  return {
    keyId: r.key_id,
    accountId: r.account_id,
    region: r.region,
    keySpec: r.key_spec as KeySpec,
    keyUsage: r.key_usage as KeyUsage,
    keyState: r.key_state as KeyState,
    origin: 'AWS_KMS',
    description: r.description,
    policy: r.policy,
    createdAt: Number(r.created_at),
    deletionAt: r.deletion_at === null ? null : Number(r.deletion_at),
    pendingWindowDays: r.pending_window_days,
    rotationEnabled: r.rotation_enabled === 1,
    rotationPeriodDays: r.rotation_period_days,
    nextRotationAt: r.next_rotation_at === null ? null : Number(r.next_rotation_at),
    currentVersion: r.current_version,
    revision: r.revision,
    firstProtectedAt: r.first_protected_at === null ? null : Number(r.first_protected_at),
  };
}

/** The record as a row. */
export function toKeyRow(k: KeyRecord): KmsKeyTable {
  return {
    key_id: k.keyId,
    account_id: k.accountId,
    region: k.region,
    key_spec: k.keySpec,
    key_usage: k.keyUsage,
    key_state: k.keyState,
    origin: k.origin,
    description: k.description,
    policy: k.policy,
    created_at: k.createdAt,
    deletion_at: k.deletionAt,
    pending_window_days: k.pendingWindowDays,
    rotation_enabled: k.rotationEnabled ? 1 : 0,
    rotation_period_days: k.rotationPeriodDays,
    next_rotation_at: k.nextRotationAt,
    current_version: k.currentVersion,
    revision: k.revision,
    first_protected_at: k.firstProtectedAt,
  };
}

type Db = Parameters<typeof repo.findKeyRow>[0];

/** Inserts a new key with its first material and its tags. */
export async function insertKey(db: Db, key: KeyRecord, material: MaterialRow, tags: Array<[string, string]>): Promise<void> {
  await repo.insertKeyRow(db, toKeyRow(key), material, tags);
}

/** The key with its current material and its signing policy's text, in one read (src/storage/keys.repository.ts findKeyRowForUse). */
export async function findKeyForUse(
  db: Db,
  keyId: string,
): Promise<{ key: KeyRecord; material: MaterialRow | undefined; signingPolicy: string | null } | undefined> {
  const r = await repo.findKeyRowForUse(db, keyId);
  return r ? { key: toKeyRecord(r.key), material: r.material, signingPolicy: r.signingPolicy } : undefined;
}

export async function findKey(db: Db, keyId: string): Promise<KeyRecord | undefined> {
  const row = await repo.findKeyRow(db, keyId);
  return row ? toKeyRecord(row) : undefined;
}

/** Writes every mutable field of `key` and bumps its revision. */
export async function updateKey(db: Db, key: KeyRecord): Promise<KeyRecord> {
  return toKeyRecord(await repo.updateKeyRow(db, toKeyRow(key)));
}

/**
 * Writes `change(current)` over the key only if nobody changed it since it was
 * read (compare-and-set on `revision`, src/storage/keys.repository.ts
 * updateKeyRowAtomically), retrying on the freshest record. `change` may throw
 * to refuse, or return null to leave the key as it is.
 * Returns the record as stored, or undefined when the key does not exist.
 * @throws {Error} after repeated conflicting writes (a pathological hot key).
 */
export async function updateKeyAtomically(db: Db, keyId: string, change: (current: KeyRecord) => KeyRecord | null): Promise<KeyRecord | undefined> {
  const row = await repo.updateKeyRowAtomically(db, keyId, (current) => {
    const wanted = change(toKeyRecord(current));
    return wanted === null ? null : toKeyRow(wanted);
  });
  return row ? toKeyRecord(row) : undefined;
}

/** Keys in creation order, starting after the (createdAt, keyId) cursor. */
export async function listKeys(db: Db, after: { createdAt: number; keyId: string } | undefined, limit: number): Promise<KeyRecord[]> {
  return (await repo.listKeyRows(db, after, limit)).map(toKeyRecord);
}
