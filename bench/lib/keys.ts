/**
 * Fills a store with secp256k1 signing keys as CreateKey would store them
 * (fresh material sealed by the store's sealer, one kms_keys row and one
 * material row each), without a request per key: bench:startup and
 * bench:rotate measure stores of 100,000 keys.
 */
import { randomUUID } from 'node:crypto';
import { insertKey } from '../../src/kms/key-records.js';
import { createMaterial } from '../../src/kms/keystore.js';
import type { RootOfTrust } from '../../src/root/root-of-trust.js';

/** Inserts one enabled ECC_SECG_P256K1 SIGN_VERIFY key; returns its id and sealed material. */
export async function insertBenchKey(
  db: Parameters<typeof insertKey>[0],
  root: RootOfTrust,
  key: { accountId: string; region: string; policy: string },
): Promise<{ keyId: string; sealed: Uint8Array }> {
  const keyId = randomUUID();
  const now = Date.now();
  const m = createMaterial(root, 'ECC_SECG_P256K1', keyId, 1);
  await insertKey(
    db,
    {
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
    },
    { keyId, version: 1, sealed: m.sealed, publicKey: m.publicKey, createdAt: now, rotationType: null },
    [],
  );
  return { keyId, sealed: m.sealed };
}
