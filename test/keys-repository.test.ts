/**
 * src/storage/keys.repository.ts findKeyRowForUse, on SQLite and (with
 * DATABASE_URL) PostgreSQL: the one read a request makes for a key not in the
 * key cache returns exactly what the two separate reads it replaces return —
 * the key row and the CURRENT version's material (after a rotation too) —
 * and its signing policy's text (null without one) — and nothing for an
 * unknown key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropPgSchema, openStore } from '../src/storage/database.js';
import { findKeyRow, findKeyRowForUse, findMaterial, insertKeyRow, insertMaterial, updateKeyRow } from '../src/storage/keys.repository.js';
import { putSigningPolicy } from '../src/storage/signing-policies.repository.js';
import type { KmsKeyTable } from '../src/storage/tables.js';

const PG_URL = process.env.DATABASE_URL;
const dialects = PG_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

function keyRow(keyId: string): KmsKeyTable {
  return {
    key_id: keyId,
    account_id: '111122223333',
    region: 'us-east-1',
    key_spec: 'ECC_SECG_P256K1',
    key_usage: 'SIGN_VERIFY',
    key_state: 'Enabled',
    origin: 'AWS_KMS',
    description: 'repository test',
    policy: '{"Version":"2012-10-17","Statement":[]}',
    created_at: 1_700_000_000_000,
    deletion_at: null,
    pending_window_days: null,
    rotation_enabled: 0,
    rotation_period_days: null,
    next_rotation_at: null,
    current_version: 1,
    revision: 0,
    first_protected_at: null,
  };
}

const material = (keyId: string, version: number) => ({
  keyId,
  version,
  sealed: new Uint8Array(randomBytes(60)),
  publicKey: new Uint8Array(randomBytes(88)),
  createdAt: 1_700_000_000_000 + version,
  rotationType: version > 1 ? 'ON_DEMAND' : null,
});

for (const dialect of dialects) {
  test(`findKeyRowForUse (${dialect}): the key row, its current material and its signing policy in one read`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symbolon-keys-repo-'));
    const pgSchema = dialect === 'postgres' ? `keys_repo_${randomBytes(5).toString('hex')}` : undefined;
    const store = await openStore(dialect === 'postgres' ? { databaseUrl: PG_URL, pgSchema } : { sqliteFile: join(dir, 'store.db') });
    try {
      const db = store.db;
      const keyId = randomUUID();
      await insertKeyRow(db, keyRow(keyId), material(keyId, 1), []);
      // The row as findKeyRow reads it, and version 1's material.
      let got = await findKeyRowForUse(db, keyId);
      assert.ok(got);
      assert.deepEqual({ ...got.key, created_at: Number(got.key.created_at) }, { ...(await findKeyRow(db, keyId))!, created_at: 1_700_000_000_000 });
      assert.deepEqual(got.material, await findMaterial(db, keyId, 1));

      // Rotated: version 2 is current, and it is version 2's material that comes back.
      await insertMaterial(db, material(keyId, 2));
      await updateKeyRow(db, { ...keyRow(keyId), current_version: 2 });
      got = await findKeyRowForUse(db, keyId);
      assert.ok(got);
      assert.equal(got.key.current_version, 2);
      assert.equal(got.material?.version, 2);
      assert.deepEqual(got.material, await findMaterial(db, keyId, 2));
      assert.notDeepEqual(got.material?.sealed, (await findMaterial(db, keyId, 1))!.sealed);

      // The key's signing policy comes with it: none, then the stored text (and no other key's).
      assert.equal(got.signingPolicy, null);
      const policy = '{"Version":"2026-11-01","Statement":[]}';
      await putSigningPolicy(db, { keyId, policy, updatedAt: 1_700_000_000_000, updatedBy: 'arn:aws:iam::111122223333:root' }, undefined);
      assert.equal((await findKeyRowForUse(db, keyId))?.signingPolicy, policy);

      // Another key's material is not this key's; an unknown key is nothing.
      const other = randomUUID();
      await insertKeyRow(db, keyRow(other), material(other, 1), []);
      assert.deepEqual((await findKeyRowForUse(db, other))?.material, await findMaterial(db, other, 1));
      assert.equal((await findKeyRowForUse(db, other))?.signingPolicy, null);
      assert.equal(await findKeyRowForUse(db, randomUUID()), undefined);
    } finally {
      await store.close();
      if (pgSchema && PG_URL) await dropPgSchema(PG_URL, pgSchema);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
