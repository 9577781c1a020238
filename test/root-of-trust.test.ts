/**
 * The key hierarchy (docs/root-of-trust.md), on the store this run uses:
 *  - a fresh store gets one store key, wrapped by the root and kept in the
 *    store; every record is sealed under it (format 0x02), not under the root;
 *  - a store made before the key hierarchy (test/fixtures/store-v1, made by the
 *    code of that time; and, on either dialect, a store sealed directly under
 *    the root as that code did) keeps opening unchanged: its keys sign to the
 *    same signatures, its ciphertexts decrypt, its admin credential works, and
 *    new records go under a store key;
 *  - a wrong root writes nothing to such a store; a damaged or foreign
 *    store-key row stops start-up with a clear RootKeyError;
 *  - StoreKeySealer opens what it sealed, refuses moved, altered and
 *    foreign-version boxes, and opens 0x01 boxes only with the legacy sealer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, DecryptCommand, GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { configFromEnv } from '../src/config.js';
import { FileRootKey } from '../src/root/file-root.js';
import { KeyRootOfTrust, RootKeyError, SealedBoxError, sealingContext } from '../src/root/root-of-trust.js';
import { createStoreKeyRecord, decodeStoreKeyRecord, openStoreKeys, STORE_KEY_META } from '../src/root/store-key.js';
import { dropPgSchema, openStore } from '../src/storage/database.js';
import { getMeta } from '../src/storage/meta.repository.js';
import { startTestServer, STORE, type TestServer, type TestServerOptions } from './helpers/server.js';

const DATABASE_URL = process.env.DATABASE_URL;
const FIXTURE = join(import.meta.dirname, 'fixtures', 'store-v1');

function persistent(dataDir = mkdtempSync(join(tmpdir(), 'symbolon-root-'))) {
  const pgSchema = DATABASE_URL ? `t_root_${randomBytes(5).toString('hex')}` : undefined;
  return {
    dataDir,
    /** Sets the store-key row directly in the store (no server). */
    async setStoreKeyRow(value: Uint8Array): Promise<void> {
      const s = await openStore({ databaseUrl: DATABASE_URL, sqliteFile: join(dataDir, 'symbolon.db'), pgSchema, migrate: false });
      try {
        await s.db
          .updateTable('symbolon_meta')
          .set({ value: Buffer.from(value) })
          .where('name', '=', STORE_KEY_META)
          .execute();
      } finally {
        await s.close();
      }
    },
    start: (extra: Omit<TestServerOptions, 'dataDir' | 'pgSchema' | 'keepSchema'> = {}) =>
      startTestServer({ ...extra, dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) }),
    async cleanup() {
      if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function sealedMaterial(server: TestServer, keyId: string): Promise<Uint8Array> {
  const row = await server.custodian.deps.store.db
    .selectFrom('kms_key_material')
    .select(['sealed'])
    .where('key_id', '=', keyId)
    .where('version', '=', 1)
    .executeTakeFirstOrThrow();
  return new Uint8Array(row.sealed);
}

async function storeKeyRow(server: TestServer): Promise<Uint8Array | undefined> {
  return getMeta(server.custodian.deps.store.db, STORE_KEY_META);
}

const DIGEST = new Uint8Array(32).fill(9);

async function sign(server: TestServer, keyId: string, digest = DIGEST): Promise<Uint8Array> {
  return (await server.kms().send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!;
}

test('a fresh store: one store key wrapped by the root in the store, every record sealed under it, the same on restart', async () => {
  const store = persistent();
  try {
    const first = await store.start();
    let keyId: string;
    let signature: Uint8Array;
    let row: Uint8Array;
    try {
      keyId = (await first.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
      signature = await sign(first, keyId);
      row = (await storeKeyRow(first))!;
      const record = decodeStoreKeyRecord(row);
      assert.deepEqual(
        { root: record.root, legacy: record.legacy, current: record.current, versions: record.keys.map((k) => k.version) },
        {
          root: 'file',
          legacy: false,
          current: 1,
          versions: [1],
        },
      );
      const sealed = await sealedMaterial(first, keyId);
      assert.equal(sealed[0], 0x02, 'key material is sealed under the store key');
      assert.equal(new DataView(sealed.buffer, sealed.byteOffset).getUint32(1), 1, 'store key version 1');
      // The root alone does not open records any more: only through the store key it unwraps.
      const rootKey = new Uint8Array(Buffer.from(readFileSync(join(store.dataDir, 'root.key'), 'utf8').trim(), 'hex'));
      const direct = new KeyRootOfTrust(rootKey, 'direct');
      assert.throws(() => direct.open(sealed, sealingContext('kms/key-material/v1', keyId, 1)), SealedBoxError);
      const fileRoot = new FileRootKey(rootKey, 'test');
      const sealer = await openStoreKeys(fileRoot, row);
      await fileRoot.close();
      const material = sealer.open(sealed, sealingContext('kms/key-material/v1', keyId, 1));
      assert.equal(material.length, 32);
      material.fill(0);
      sealer.destroy();
      direct.destroy();
      rootKey.fill(0);
    } finally {
      await first.close();
    }
    const again = await store.start();
    try {
      assert.deepEqual(await storeKeyRow(again), row, 'the store key row is unchanged by a restart');
      assert.deepEqual(await sign(again, keyId), signature, 'the same key signs the same digest to the same signature');
    } finally {
      await again.close();
    }
  } finally {
    await store.cleanup();
  }
});

test('a store made before the key hierarchy (test/fixtures/store-v1) opens unchanged, and new records go under a store key', {
  skip: STORE !== 'sqlite' && 'the fixture is a SQLite store',
}, async () => {
  const fixture = JSON.parse(readFileSync(join(FIXTURE, 'fixture.json'), 'utf8')) as {
    signKeyId: string;
    alias: string;
    publicKey: string;
    digest: string;
    signature: string;
    encryptKeyId: string;
    ciphertext: string;
    plaintext: string;
    encryptionContext: Record<string, string>;
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-root-v1-'));
  cpSync(FIXTURE, dataDir, { recursive: true });
  chmodSync(join(dataDir, 'root.key'), 0o600);
  const store = persistent(dataDir);
  try {
    // Another root key first: refused, and nothing is written (no store key wrapped under the wrong root).
    await assert.rejects(store.start({ env: { SYMBOLON_ROOT_KEY: randomBytes(32).toString('hex') } }), (e: unknown) => {
      assert.ok(e instanceof RootKeyError, String(e));
      assert.match(e.message, /does not match this store/);
      return true;
    });
    const server = await store.start();
    let newKey: string;
    try {
      const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
      const pub = (await server.kms().send(new GetPublicKeyCommand({ KeyId: fixture.alias }))).PublicKey!;
      assert.deepEqual(new Uint8Array(pub), b64(fixture.publicKey));
      assert.deepEqual(await sign(server, fixture.alias, b64(fixture.digest)), b64(fixture.signature), 'RFC 6979: the same signature as before');
      const plain = await server
        .kms()
        .send(new DecryptCommand({ KeyId: fixture.encryptKeyId, CiphertextBlob: b64(fixture.ciphertext), EncryptionContext: fixture.encryptionContext }));
      assert.equal(Buffer.from(plain.Plaintext!).toString('utf8'), fixture.plaintext);
      assert.equal((await sealedMaterial(server, fixture.signKeyId))[0], 0x01, 'old records stay as they were');
      const record = decodeStoreKeyRecord((await storeKeyRow(server))!);
      assert.equal(record.legacy, true);
      newKey = (await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
      assert.equal((await sealedMaterial(server, newKey))[0], 0x02, 'new records are sealed under the store key');
    } finally {
      await server.close();
    }
    const again = await store.start();
    try {
      assert.equal((await sign(again, fixture.signKeyId)).length > 0, true);
      assert.equal((await sign(again, newKey)).length > 0, true);
    } finally {
      await again.close();
    }
  } finally {
    await store.cleanup();
  }
});

test('a store sealed directly under the root, as before the key hierarchy, opens on this dialect; another root writes nothing', async () => {
  const store = persistent();
  const rootKeyHex = randomBytes(32).toString('hex');
  const rootKey = new Uint8Array(Buffer.from(rootKeyHex, 'hex'));
  try {
    // The sealer of that time (unchanged): records and the root check go directly under the root.
    const old = await store.start({ root: new KeyRootOfTrust(rootKey, 'pre-hierarchy root') });
    let keyId: string;
    let signature: Uint8Array;
    try {
      keyId = (await old.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
      signature = await sign(old, keyId);
      assert.equal(await storeKeyRow(old), undefined);
    } finally {
      await old.close();
    }
    await assert.rejects(store.start({ env: { SYMBOLON_ROOT_KEY: randomBytes(32).toString('hex') } }), /does not match this store/);
    const now = await store.start({ env: { SYMBOLON_ROOT_KEY: rootKeyHex } });
    try {
      assert.deepEqual(await sign(now, keyId), signature);
      assert.equal(decodeStoreKeyRecord((await storeKeyRow(now))!).legacy, true, 'the wrong root before wrote no store key; this one did');
    } finally {
      await now.close();
    }
  } finally {
    rootKey.fill(0);
    await store.cleanup();
  }
});

test('a damaged store-key row, or one wrapped by another kind of root, stops start-up with a clear RootKeyError', async () => {
  const store = persistent();
  try {
    const first = await store.start();
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(Buffer.from((await storeKeyRow(first))!).toString('utf8'));
    } finally {
      await first.close();
    }
    await store.setStoreKeyRow(Buffer.from(JSON.stringify({ ...record, root: 'pkcs11' })));
    await assert.rejects(store.start(), (e: unknown) => {
      assert.ok(e instanceof RootKeyError, String(e));
      assert.match(e.message, /wrapped by the pkcs11 root, but SYMBOLON_ROOT is file/);
      return true;
    });
    // Truncated JSON, or a key that is not there: "damaged", never a parser's stack trace.
    await store.setStoreKeyRow(Buffer.from(JSON.stringify(record).slice(0, 30)));
    await assert.rejects(store.start(), /store key row in symbolon_meta is not valid JSON: the store is damaged/);
    await store.setStoreKeyRow(Buffer.from(JSON.stringify({ ...record, current: 2 })));
    await assert.rejects(store.start(), /store key row in symbolon_meta is malformed/);
    // Put back as it was, the store opens again: the refused starts changed nothing.
    await store.setStoreKeyRow(Buffer.from(JSON.stringify(record)));
    await (await store.start()).close();
  } finally {
    await store.cleanup();
  }
});

test('StoreKeySealer: opens what it sealed; a moved, altered or unknown-version box does not open; 0x01 only with the legacy sealer', async () => {
  const rootKey = new Uint8Array(randomBytes(32));
  const fileRoot = new FileRootKey(rootKey, 'unit');
  const legacyRoot = new KeyRootOfTrust(rootKey, 'legacy');
  const record = await createStoreKeyRecord(fileRoot, false);
  const sealer = await openStoreKeys(fileRoot, record);
  const aad = sealingContext('unit/v1', 'a');
  const box = sealer.seal(new Uint8Array([1, 2, 3]), aad);
  assert.deepEqual(sealer.open(box, aad), new Uint8Array([1, 2, 3]));
  assert.throws(() => sealer.open(box, sealingContext('unit/v1', 'b')), SealedBoxError);
  const altered = box.slice();
  altered[altered.length - 1]! ^= 1;
  assert.throws(() => sealer.open(altered, aad), SealedBoxError);
  const otherVersion = box.slice();
  otherVersion[4] = 7;
  assert.throws(() => sealer.open(otherVersion, aad), /store key version 7/);
  const legacyBox = legacyRoot.seal(new Uint8Array([4]), aad);
  assert.throws(() => sealer.open(legacyBox, aad), /sealed directly under a root key file/);
  // A legacy store's sealer opens both.
  const legacyRecord = await createStoreKeyRecord(fileRoot, true);
  const both = await openStoreKeys(fileRoot, legacyRecord, fileRoot.legacySealer());
  assert.deepEqual(both.open(legacyBox, aad), new Uint8Array([4]));
  assert.deepEqual(both.open(both.seal(new Uint8Array([5]), aad), aad), new Uint8Array([5]));
  // Another root key does not unwrap the store key.
  const otherRoot = new FileRootKey(new Uint8Array(randomBytes(32)), 'other');
  await assert.rejects(openStoreKeys(otherRoot, record), /does not match this store/);
  await assert.rejects(openStoreKeys(fileRoot, new Uint8Array(Buffer.from('{"format":1'))), /not valid JSON: the store is damaged/);
  for (const s of [sealer, both]) s.destroy();
  legacyRoot.destroy();
  await fileRoot.close();
  await otherRoot.close();
});

test('SYMBOLON_ROOT: file by default, pkcs11 and kms need their settings, anything else is refused', () => {
  assert.equal(configFromEnv({}, { port: '0' }).root.kind, 'file');
  assert.throws(() => configFromEnv({ SYMBOLON_ROOT: 'tpm' }, { port: '0' }), /SYMBOLON_ROOT must be file, pkcs11, kms or shamir/);
  assert.throws(() => configFromEnv({ SYMBOLON_ROOT: 'kms' }, { port: '0' }), /SYMBOLON_ROOT=kms needs SYMBOLON_ROOT_KMS_KEY_ID/);
  assert.throws(
    () => configFromEnv({ SYMBOLON_ROOT: 'pkcs11' }, { port: '0' }),
    /needs SYMBOLON_PKCS11_MODULE, SYMBOLON_PKCS11_TOKEN_LABEL, SYMBOLON_PKCS11_PIN/,
  );
  const c = configFromEnv(
    { SYMBOLON_ROOT: 'pkcs11', SYMBOLON_PKCS11_MODULE: '/lib/x.so', SYMBOLON_PKCS11_TOKEN_LABEL: 't', SYMBOLON_PKCS11_PIN: '1234' },
    { port: '0' },
  );
  assert.deepEqual(c.root.pkcs11, { module: '/lib/x.so', tokenLabel: 't', pin: '1234', keyLabel: 'symbolon-root' });
});
