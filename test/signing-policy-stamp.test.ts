/**
 * When a Sign may skip reading its key's signing policy
 * (src/kms/signing-policy-stamp.ts): on SQLite, only while no other
 * connection committed (PRAGMA data_version) and this process wrote no
 * signing policy; on PostgreSQL never. Real stores: two connections on one
 * SQLite file stand for two processes (test/signing-policy-processes.test.ts
 * runs the real thing); with DATABASE_URL, a PostgreSQL schema of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { openStore } from '../src/storage/database.js';
import { findSigningPolicyText, putSigningPolicy } from '../src/storage/signing-policies.repository.js';
import { signingPolicyStamp } from '../src/kms/signing-policy-stamp.js';
import { KeyCache } from '../src/kms/key-cache.js';

const PG_URL = process.env.DATABASE_URL;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

test('SQLite: the stamp moves on another connection’s commit and on this process’s policy writes, not on its other writes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-stamp-'));
  const file = join(dir, 'symbolon.db');
  const here = await openStore({ sqliteFile: file });
  const there = await openStore({ sqliteFile: file });
  try {
    const keyId = randomUUID();
    const s0 = signingPolicyStamp(here);
    assert.ok(s0, 'SQLite can tell');
    assert.ok(same(signingPolicyStamp(here), s0), 'nothing happened: the same stamp');

    // A commit of this connection that is not a signing-policy write (an audit batch, say) leaves it.
    await here.db.insertInto('kms_signing_policies').values({ key_id: 'unrelated', policy: 'x', updated_at: 1, updated_by: 'test' }).execute();
    assert.ok(same(signingPolicyStamp(here), s0));

    // Another connection (another process) writes a policy: the stamp moves, the read sees it.
    assert.equal(await putSigningPolicy(there.db, { keyId, policy: 'p1', updatedAt: 1, updatedBy: 'test' }, undefined), true);
    const s1 = signingPolicyStamp(here);
    assert.ok(s1 && s1.external !== s0.external, 'another connection committed');
    assert.equal(await findSigningPolicyText(here.db, keyId), 'p1');

    // Another connection commits anything at all: moves too (the stamp cannot tell which table changed).
    await there.db.deleteFrom('kms_signing_policies').where('key_id', '=', 'unrelated').execute();
    const s2 = signingPolicyStamp(here);
    assert.ok(s2 && s2.external !== s1.external);

    // This process writes a policy through its own connection: data_version stays, the write count moves.
    assert.equal(await putSigningPolicy(here.db, { keyId, policy: 'p2', updatedAt: 2, updatedBy: 'test' }, 'p1'), true);
    const s3 = signingPolicyStamp(here);
    assert.ok(s3 && s3.external === s2.external && s3.writes !== s2.writes);
    // A refused compare-and-set counts too (it cannot hurt to read again).
    assert.equal(await putSigningPolicy(here.db, { keyId, policy: 'p3', updatedAt: 3, updatedBy: 'test' }, 'stale'), false);
    assert.ok(!same(signingPolicyStamp(here), s3));
  } finally {
    await here.close();
    await there.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the key cache returns a signing policy for a stamp only when it was read at that stamp', () => {
  const cache = new KeyCache({ ttlMs: 60_000 });
  const keyId = randomUUID();
  const now = Date.now();
  cache.putKey(
    {
      keyId,
      accountId: '111122223333',
      region: 'us-east-1',
      keySpec: 'ECC_SECG_P256K1',
      keyUsage: 'SIGN_VERIFY',
      keyState: 'Enabled',
      policy: '{}',
      description: '',
      currentVersion: 1,
      revision: 1,
    } as unknown as Parameters<KeyCache['putKey']>[0],
    now,
  );
  const at = { external: 7, writes: 3 };
  cache.putSigningPolicy(keyId, null, cache.generation(), at);
  assert.equal(cache.getSigningPolicy(keyId, now, { external: 7, writes: 3 }), null, 'read at this stamp: current');
  assert.equal(cache.getSigningPolicy(keyId, now, { external: 8, writes: 3 }), undefined, 'another connection committed since');
  assert.equal(cache.getSigningPolicy(keyId, now, { external: 7, writes: 4 }), undefined, 'this process wrote a policy since');
  // Read where the store cannot tell (PostgreSQL): never current by stamp.
  cache.putSigningPolicy(keyId, null, cache.generation(), undefined);
  assert.equal(cache.getSigningPolicy(keyId, now, at), undefined);
  assert.equal(cache.getSigningPolicy(keyId, now), null, 'still cached for comparing texts');
});

test('PostgreSQL: no change counter, every signing request reads the policy', { skip: PG_URL ? false : 'DATABASE_URL not set' }, async () => {
  const schema = `stamp_${randomBytes(6).toString('hex')}`;
  const store = await openStore({ databaseUrl: PG_URL, pgSchema: schema });
  try {
    assert.equal(store.externalCommits, undefined);
    assert.equal(signingPolicyStamp(store), undefined);
  } finally {
    await store.db.schema.dropSchema(schema).ifExists().cascade().execute();
    await store.close();
  }
});
