/**
 * "This key has made a ciphertext" as a durable fact (docs/kms.md, "Keys that
 * protect data"; docs/sts.md, "Linking a login that was used before"):
 * kms_keys.first_protected_at, written before the custodian answers a key's
 * first Encrypt / GenerateDataKey* / ReEncrypt, read by STS LinkWebIdentity.
 * Against a real listening server with the AWS SDK's KMS client:
 *
 * - a key whose GenerateDataKey left no audit record (the rows deleted, as a
 *   kill -9 within the flush window or pruning would) still blocks linking
 *   its login (LoginInUse); a never-used key lets it link, and is retired;
 * - the fact is written once: a second Encrypt writes nothing;
 * - a first use on a key another process scheduled for deletion (this
 *   process's cached record still says Enabled) is refused and sets nothing;
 *   one on a key another process already marked succeeds and keeps its time;
 * - the migration back-fills the fact from the audit trail.
 *
 * Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { CreateKeyCommand, EncryptCommand, GenerateDataKeyCommand, ScheduleKeyDeletionCommand, type KMSClient } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from './helpers/server.js';
import { staticIssuer, type StaticIssuer } from './helpers/static-issuer.js';
import { webIdentityKms } from './helpers/web-identity-kms.js';
import { protectingWrites } from '../src/kms/keys.js';
import { dropPgSchema, openStore } from '../src/storage/database.js';
import { migrations } from '../src/storage/migrations/index.js';
import { WALLET_SERVICE_USER } from '../src/wallet/wallet-principal.js';
import { linkWebIdentity, listWebIdentityLinks, masterKeyPolicy } from '../packages/sdk/src/index.js';

const AUDIENCE = 'symbolon-protected-fact-test';
const url = process.env.DATABASE_URL;

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.code ?? e.name, code, `expected ${code}, got ${e.code ?? e.name}: ${e.message}`);
    return true;
  });
}

describe('a key that made a ciphertext, as a durable fact', () => {
  let server: TestServer;
  let idp: StaticIssuer;
  let accountId: string;
  const clients: KMSClient[] = [];
  const sub = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;
  const db = () => server.custodian.deps.store.db;

  const uidOf = async (s: string) => (await listWebIdentityLinks({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: s }) })).userId;

  async function kmsOf(s: string): Promise<KMSClient> {
    const kms = await webIdentityKms(server, await idp.mint({ sub: s }));
    clients.push(kms);
    return kms;
  }

  async function masterKeyOf(uid: string, s: string): Promise<string> {
    const policy = masterKeyPolicy({ accountId, uid, sub: s, walletServicePrincipalArn: `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}` });
    const out = await server.kms().send(new CreateKeyCommand({ Policy: policy, BypassPolicyLockoutSafetyCheck: true }));
    return out.KeyMetadata!.KeyId!;
  }

  const row = async (keyId: string) =>
    db().selectFrom('kms_keys').select(['key_state', 'first_protected_at', 'revision']).where('key_id', '=', keyId).executeTakeFirstOrThrow();
  const keyArnOf = (keyId: string) => `arn:aws:kms:${server.config.region}:${accountId}:key/${keyId}`;

  before(async () => {
    idp = await staticIssuer(AUDIENCE);
    server = await startTestServer({ env: { SYMBOLON_OIDC_ISSUERS: JSON.stringify([idp.config]) } });
    accountId = server.custodian.accountId;
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await server?.close();
  });

  test('a key whose use left no audit record still blocks linking its login; a never-used key lets it link', async () => {
    const owner = sub('olivia');
    const used = sub('olivia-used');
    await uidOf(owner);
    const uidUsed = await uidOf(used);
    const keyId = await masterKeyOf(uidUsed, used);
    assert.equal((await row(keyId)).first_protected_at, null, 'a new key has made nothing');
    await (await kmsOf(used)).send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { uid: uidUsed } }));
    const marked = await row(keyId);
    assert.ok(marked.first_protected_at !== null && Number(marked.first_protected_at) > 0, 'written before the answer');
    // The audit record is gone, as a kill -9 within the flush window, or pruning, would leave it.
    await server.custodian.audit.flush();
    const removed = await db().deleteFrom('audit_events').where('key_arn', '=', keyArnOf(keyId)).executeTakeFirst();
    assert.ok(Number(removed.numDeletedRows) >= 1, 'the GenerateDataKey was audited, then removed');
    await rejectsCode(
      linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: owner }), linkedWebIdentityToken: await idp.mint({ sub: used }) }),
      'LoginInUse',
    );
    assert.equal(await uidOf(used), uidUsed, 'the login stays with its user');
    assert.equal((await row(keyId)).key_state, 'Enabled', 'its key is put back');

    // A login whose key never made a ciphertext links; its key is retired.
    const fresh = sub('olivia-fresh');
    const uidFresh = await uidOf(fresh);
    const unused = await masterKeyOf(uidFresh, fresh);
    const linked = await linkWebIdentity({
      endpoint: server.endpoint,
      webIdentityToken: await idp.mint({ sub: owner }),
      linkedWebIdentityToken: await idp.mint({ sub: fresh }),
    });
    assert.equal(linked.userId, await uidOf(owner));
    const retired = await row(unused);
    assert.equal(retired.key_state, 'PendingDeletion');
    assert.equal(retired.first_protected_at, null);
  });

  test('a signing key bound to the login refuses linking it, though it made no ciphertext; the key stays Enabled', async () => {
    const owner = sub('sasha');
    const signer = sub('sasha-signer');
    await uidOf(owner);
    const uidSigner = await uidOf(signer);
    // A KMS wallet's key whose policy names the login (as a master key's does): it holds an address, not ciphertexts.
    const policy = masterKeyPolicy({
      accountId,
      uid: uidSigner,
      sub: signer,
      walletServicePrincipalArn: `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}`,
    });
    const out = await server
      .kms()
      .send(new CreateKeyCommand({ Policy: policy, KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', BypassPolicyLockoutSafetyCheck: true }));
    const keyId = out.KeyMetadata!.KeyId!;
    await rejectsCode(
      linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: owner }), linkedWebIdentityToken: await idp.mint({ sub: signer }) }),
      'LoginInUse',
    );
    assert.equal(await uidOf(signer), uidSigner, 'the login stays with its user');
    assert.equal((await row(keyId)).key_state, 'Enabled', 'the signing key is not retired');
  });

  test('the fact is written once: a second Encrypt writes nothing', async () => {
    const s = sub('paul');
    const uid = await uidOf(s);
    const keyId = await masterKeyOf(uid, s);
    const kms = await kmsOf(s);
    const before = protectingWrites.count;
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('one'), EncryptionContext: { uid } }));
    assert.equal(protectingWrites.count - before, 1, 'the first Encrypt writes the fact');
    const first = await row(keyId);
    assert.notEqual(first.first_protected_at, null);
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('two'), EncryptionContext: { uid } }));
    await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { uid } }));
    assert.equal(protectingWrites.count - before, 1, 'later uses only check the cached record');
    assert.deepEqual(await row(keyId), first, 'the row is unchanged, its revision too');
    // DryRun makes no ciphertext: it marks nothing.
    const other = await masterKeyOf(uid, s);
    await rejectsCode(
      kms.send(new EncryptCommand({ KeyId: other, Plaintext: Buffer.from('x'), EncryptionContext: { uid }, DryRun: true })),
      'DryRunOperationException',
    );
    assert.equal((await row(other)).first_protected_at, null);
  });

  test("another process's changes: a first use on a key scheduled for deletion elsewhere is refused; one marked elsewhere keeps its time", async () => {
    const s = sub('quinn');
    const uid = await uidOf(s);
    const kms = await kmsOf(s);
    const dryRun = (keyId: string) =>
      rejectsCode(
        kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { uid }, DryRun: true })),
        'DryRunOperationException',
      );

    // This process caches the key as Enabled; another process (a direct write here) schedules its deletion.
    const doomed = await masterKeyOf(uid, s);
    await dryRun(doomed);
    await db()
      .updateTable('kms_keys')
      .set((eb) => ({ key_state: 'PendingDeletion', deletion_at: Date.now() + 86_400_000, pending_window_days: 7, revision: eb('revision', '+', 1) }))
      .where('key_id', '=', doomed)
      .execute();
    await rejectsCode(kms.send(new EncryptCommand({ KeyId: doomed, Plaintext: Buffer.from('x'), EncryptionContext: { uid } })), 'KMSInvalidStateException');
    assert.equal((await row(doomed)).first_protected_at, null, 'no ciphertext, no fact');

    // Another process marked the key first: this one's stale record tries once, reads the fact, and goes on.
    const shared = await masterKeyOf(uid, s);
    await dryRun(shared);
    await db().updateTable('kms_keys').set({ first_protected_at: 1_000 }).where('key_id', '=', shared).execute();
    const before = protectingWrites.count;
    await kms.send(new EncryptCommand({ KeyId: shared, Plaintext: Buffer.from('x'), EncryptionContext: { uid } }));
    await kms.send(new EncryptCommand({ KeyId: shared, Plaintext: Buffer.from('y'), EncryptionContext: { uid } }));
    assert.equal(protectingWrites.count - before, 1, 'one attempt, then the cached record knows');
    assert.equal(Number((await row(shared)).first_protected_at), 1_000, 'the first time stays');
  });
});

test('the migration back-fills the fact from the audit trail', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-protected-migration-'));
  const schema = url ? `t_${randomBytes(6).toString('hex')}` : undefined;
  const open = () => openStore({ databaseUrl: url, sqliteFile: join(dir, 'symbolon.db'), pgSchema: schema });
  const NAME = '2026-12-07T1400-kms-keys-first-protected';
  try {
    let s = await open();
    const names = Object.keys(migrations);
    const rolledBack = names.slice(names.indexOf(NAME)).reverse();
    assert.equal(rolledBack.at(-1), NAME);
    for (const name of rolledBack) await migrations[name]!.down!(s.db as Kysely<any>);
    await s.db
      .deleteFrom('kysely_migration' as any)
      .where('name', 'in', rolledBack)
      .execute();
    const raw = s.db as Kysely<any>;
    const ids = { encrypted: 'a', decrypted: 'b', denied: 'c', signed: 'd', silent: 'e' };
    const id = (k: string) => `00000000-0000-4000-8000-00000000000${k}`;
    for (const k of Object.values(ids)) {
      await raw
        .insertInto('kms_keys')
        .values({
          key_id: id(k),
          account_id: '111122223333',
          region: 'us-east-1',
          key_spec: 'SYMMETRIC_DEFAULT',
          key_usage: 'ENCRYPT_DECRYPT',
          key_state: 'Enabled',
          origin: 'AWS_KMS',
          description: '',
          policy: '{}',
          created_at: 1,
          current_version: 1,
          revision: 0,
        })
        .execute();
    }
    let seq = 0;
    const event = (k: string, operation: string, outcome: string, time: number) => ({
      seq: ++seq,
      time,
      request_id: `r${seq}`,
      service: 'kms',
      operation,
      principal_tags: '{}',
      source_ip: '127.0.0.1',
      user_agent: 't',
      key_arn: `arn:aws:kms:us-east-1:111122223333:key/${id(k)}`,
      outcome,
      hash: '0'.repeat(64),
    });
    await raw
      .insertInto('audit_events')
      .values([
        event(ids.encrypted, 'DescribeKey', 'allowed', 100),
        event(ids.encrypted, 'GenerateDataKey', 'allowed', 300),
        event(ids.encrypted, 'Encrypt', 'allowed', 200),
        event(ids.decrypted, 'Decrypt', 'allowed', 400),
        event(ids.denied, 'Encrypt', 'denied', 500),
        event(ids.signed, 'DescribeKey', 'allowed', 600),
      ])
      .execute();
    await s.close();

    s = await open();
    try {
      const rows = await s.db.selectFrom('kms_keys').select(['key_id', 'first_protected_at']).orderBy('key_id').execute();
      assert.deepEqual(
        rows.map((r) => [r.key_id, r.first_protected_at === null ? null : Number(r.first_protected_at)]),
        [
          [id(ids.encrypted), 200],
          [id(ids.decrypted), 400],
          [id(ids.denied), null],
          [id(ids.signed), null],
          [id(ids.silent), null],
        ],
      );
    } finally {
      await s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (url && schema) await dropPgSchema(url, schema);
  }
});

describe('two custodian processes over one store agree on the fact', () => {
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    const pgSchema = url ? `t_${randomBytes(6).toString('hex')}` : undefined;
    a = await startTestServer({ ...(pgSchema ? { pgSchema } : {}) });
    b = await startTestServer({ dataDir: a.dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) });
  });

  after(async () => {
    await b?.close();
    await a?.close();
  });

  const firstProtectedAt = async (keyId: string) =>
    (await a.custodian.deps.store.db.selectFrom('kms_keys').select('first_protected_at').where('key_id', '=', keyId).executeTakeFirstOrThrow())
      .first_protected_at;

  test("a first use in one process after the other scheduled the key's deletion is refused; a key marked by one stays as marked in the other", async () => {
    const kmsA = a.kms();
    const kmsB = b.kms();
    const encrypt = (kms: KMSClient, keyId: string, dryRun = false) =>
      kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), ...(dryRun ? { DryRun: true } : {}) }));

    const doomed = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await rejectsCode(encrypt(kmsB, doomed, true), 'DryRunOperationException'); // b caches it Enabled
    await kmsA.send(new ScheduleKeyDeletionCommand({ KeyId: doomed, PendingWindowInDays: 7 }));
    await rejectsCode(encrypt(kmsB, doomed), 'KMSInvalidStateException');
    assert.equal(await firstProtectedAt(doomed), null);

    const shared = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await rejectsCode(encrypt(kmsB, shared, true), 'DryRunOperationException'); // b caches it unmarked
    await encrypt(kmsA, shared);
    const at = await firstProtectedAt(shared);
    assert.notEqual(at, null);
    await encrypt(kmsB, shared);
    await encrypt(kmsB, shared);
    assert.equal(await firstProtectedAt(shared), at, 'written once, by the first process');
  });
});
