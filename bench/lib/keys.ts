/**
 * Fills a store with secp256k1 signing keys as CreateKey would store them
 * (fresh material sealed by the store's sealer, one kms_keys row and one
 * material row each), without a request per key: bench:startup and
 * bench:rotate measure stores of 100,000 keys one insert at a time
 * (insertBenchKey); bench:scale fills 1,000,000 with multi-row inserts
 * (insertBenchKeys).
 */
import { randomUUID } from 'node:crypto';
import { insertKey, toKeyRow } from '../../src/kms/key-records.js';
import { createMaterial } from '../../src/kms/keystore.js';
import type { KeyRecord } from '../../src/kms/model.js';
import type { RootOfTrust } from '../../src/root/root-of-trust.js';

type Db = Parameters<typeof insertKey>[0];

/** The record of a new enabled ECC_SECG_P256K1 SIGN_VERIFY key, as CreateKey writes it. */
function benchKeyRecord(keyId: string, now: number, key: { accountId: string; region: string; policy: string }): KeyRecord {
  return {
    keyId,
    accountId: key.accountId,
    region: key.region,
    keySpec: 'ECC_SECG_P256K1',
    keyUsage: 'SIGN_VERIFY',
    keyState: 'Enabled',
    origin: 'AWS_KMS',
    description: '',
    policy: key.policy,
    createdAt: now,
    deletionAt: null,
    pendingWindowDays: null,
    rotationEnabled: false,
    rotationPeriodDays: null,
    nextRotationAt: null,
    currentVersion: 1,
    revision: 0,
    firstProtectedAt: null,
  };
}

/** Inserts one enabled ECC_SECG_P256K1 SIGN_VERIFY key; returns its id and sealed material. */
export async function insertBenchKey(
  db: Db,
  root: RootOfTrust,
  key: { accountId: string; region: string; policy: string },
): Promise<{ keyId: string; sealed: Uint8Array }> {
  const keyId = randomUUID();
  const now = Date.now();
  const m = createMaterial(root, 'ECC_SECG_P256K1', keyId, 1);
  await insertKey(db, benchKeyRecord(keyId, now, key), { keyId, version: 1, sealed: m.sealed, publicKey: m.publicKey, createdAt: now, rotationType: null }, []);
  return { keyId, sealed: m.sealed };
}

/**
 * Inserts `count` keys as insertBenchKey does, 1,000 to a statement (17 and 6
 * parameters a row: under SQLite's and PostgreSQL's parameter limits), and
 * calls `onKey` with each new key id (a caller samples the ids it will use).
 */
export async function insertBenchKeys(
  db: Db,
  root: RootOfTrust,
  key: { accountId: string; region: string; policy: string },
  count: number,
  onKey: (keyId: string) => void = () => {},
): Promise<void> {
  const CHUNK = 1000;
  for (let done = 0; done < count; ) {
    const n = Math.min(CHUNK, count - done);
    const now = Date.now();
    const keys = [];
    const material = [];
    for (let i = 0; i < n; i++) {
      const keyId = randomUUID();
      const m = createMaterial(root, 'ECC_SECG_P256K1', keyId, 1);
      keys.push(toKeyRow(benchKeyRecord(keyId, now, key)));
      material.push({ key_id: keyId, version: 1, sealed: m.sealed, public_key: m.publicKey, created_at: now, rotation_type: null });
      onKey(keyId);
    }
    await db.insertInto('kms_keys').values(keys).execute();
    await db.insertInto('kms_key_material').values(material).execute();
    done += n;
  }
}
