/**
 * Auto-unseal through another KMS (docs/root-of-trust.md): a custodian with
 * SYMBOLON_ROOT=kms whose store key is wrapped by a second, real Symbolon
 * server's Encrypt/Decrypt, on the store this run uses:
 *  - keys made on it sign the same after a restart; the row names the kms
 *    root; the wrapped key is bound to this installation's encryption context
 *    (Decrypt at the upstream with another installation's context fails);
 *  - the upstream unreachable, or a different or disabled upstream key: a
 *    RootKeyError naming the cause, and the server never serves; a fresh
 *    store's refused first start writes no store key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { kmsRootContext } from '../src/root/kms-root.js';
import { RootKeyError } from '../src/root/root-of-trust.js';
import { decodeStoreKeyRecord, STORE_KEY_META, storeKeyAad } from '../src/root/store-key.js';
import { dropPgSchema, openStore } from '../src/storage/database.js';
import { getMeta } from '../src/storage/meta.repository.js';
import { ADMIN, startTestServer, type TestServer, type TestServerOptions } from './helpers/server.js';

const DATABASE_URL = process.env.DATABASE_URL;

function persistent() {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-kmsroot-'));
  const pgSchema = DATABASE_URL ? `t_kmsroot_${randomBytes(5).toString('hex')}` : undefined;
  return {
    dataDir,
    start: (extra: Omit<TestServerOptions, 'dataDir' | 'pgSchema' | 'keepSchema'> = {}) =>
      startTestServer({ ...extra, dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) }),
    async storeKeyRow(): Promise<Uint8Array | undefined> {
      const s = await openStore({ databaseUrl: DATABASE_URL, sqliteFile: join(dataDir, 'symbolon.db'), pgSchema, migrate: false });
      try {
        return await getMeta(s.db, STORE_KEY_META).catch(() => undefined);
      } finally {
        await s.close();
      }
    },
    async cleanup() {
      if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function kmsRootEnv(endpoint: string, keyId: string): Record<string, string> {
  return {
    SYMBOLON_ROOT: 'kms',
    SYMBOLON_ROOT_KMS_ENDPOINT: endpoint,
    SYMBOLON_ROOT_KMS_KEY_ID: keyId,
    SYMBOLON_ROOT_KMS_REGION: 'us-east-1',
    SYMBOLON_ROOT_KMS_ACCESS_KEY_ID: ADMIN.accessKeyId,
    SYMBOLON_ROOT_KMS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
  };
}

const DIGEST = new Uint8Array(32).fill(3);

async function sign(server: TestServer, keyId: string): Promise<Uint8Array> {
  return (await server.kms().send(new SignCommand({ KeyId: keyId, Message: DIGEST, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!;
}

function rootKeyError(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof RootKeyError, `threw ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes(ADMIN.secretAccessKey), 'the message names no secret');
    return true;
  };
}

test('the store key wrapped by a second Symbolon: keys sign the same after a restart; the wrap is bound to this installation', async () => {
  const upstream = await startTestServer();
  const store = persistent();
  try {
    const rootKeyId = (await upstream.kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const env = kmsRootEnv(upstream.endpoint, rootKeyId);
    const first = await store.start({ env });
    let keyId: string;
    let signature: Uint8Array;
    try {
      keyId = (await first.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
      signature = await sign(first, keyId);
    } finally {
      await first.close();
    }
    const record = decodeStoreKeyRecord((await store.storeKeyRow())!);
    assert.equal(record.root, 'kms');
    const blob = new Uint8Array(Buffer.from(record.keys[0]!.wrapped, 'base64')).subarray(1);
    const binding = { installation: record.installation, version: 1, aad: storeKeyAad(1) };
    // The upstream opens it only with this installation's context.
    const opened = await upstream.kms().send(new DecryptCommand({ KeyId: rootKeyId, CiphertextBlob: blob, EncryptionContext: kmsRootContext(binding) }));
    assert.equal(opened.Plaintext!.length, 32);
    opened.Plaintext!.fill(0);
    await assert.rejects(
      upstream.kms().send(
        new DecryptCommand({
          KeyId: rootKeyId,
          CiphertextBlob: blob,
          EncryptionContext: kmsRootContext({ ...binding, installation: '00000000-0000-4000-8000-000000000000' }),
        }),
      ),
      { name: 'InvalidCiphertextException' },
    );
    const again = await store.start({ env });
    try {
      assert.deepEqual(await sign(again, keyId), signature);
    } finally {
      await again.close();
    }

    // Another key at the upstream: it does not unwrap this store's key.
    const otherKeyId = (await upstream.kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await assert.rejects(store.start({ env: kmsRootEnv(upstream.endpoint, otherKeyId) }), rootKeyError(/does not match this store/));
    // The root key disabled upstream: refused, naming the upstream's error.
    await upstream.kms().send(new DisableKeyCommand({ KeyId: rootKeyId }));
    await assert.rejects(store.start({ env }), rootKeyError(/refused Decrypt \(DisabledException\)/));
    await upstream.kms().send(new EnableKeyCommand({ KeyId: rootKeyId }));
    await (await store.start({ env })).close();
  } finally {
    await upstream.close();
    await store.cleanup();
  }
});

test('the upstream unreachable: a RootKeyError naming it, never serving; a fresh store writes no store key', async () => {
  const upstream = await startTestServer();
  const rootKeyId = (await upstream.kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const sealed = persistent();
  const fresh = persistent();
  try {
    const env = kmsRootEnv(upstream.endpoint, rootKeyId);
    await (await sealed.start({ env })).close();
    await upstream.close();
    await assert.rejects(sealed.start({ env }), rootKeyError(/the root KMS key .* is unreachable \(ECONNREFUSED\)/));
    await assert.rejects(fresh.start({ env }), rootKeyError(/unreachable \(ECONNREFUSED\)/));
    assert.equal(await fresh.storeKeyRow(), undefined, 'no store key was written');
  } finally {
    await sealed.cleanup();
    await fresh.cleanup();
  }
});
