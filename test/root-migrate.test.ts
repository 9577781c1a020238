/**
 * `symbolon operator migrate-root` (docs/root-of-trust.md "Moving between
 * roots"), the CLI as a child process, on the store this run uses (SQLite, or
 * PostgreSQL with DATABASE_URL: schemas rotate15_…):
 *  - file → kms (a second real Symbolon as the KMS) → file, and file →
 *    PKCS#11 (SoftHSM2) → file: only the store_key row changes; after each
 *    move the server starts with the new root, signs the same, and refuses
 *    the old root with a clear error;
 *  - file → file with a new key: the old key file "does not match this store";
 *  - kill -9 before and after the commit: exactly one root opens the store,
 *    every box opens, and running the command again completes;
 *  - bad usage, missing target settings, an unreachable target: refused,
 *    nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { RootKeyError } from '../src/root/root-of-trust.js';
import { STORE_KEY_META } from '../src/root/store-key.js';
import { getMeta } from '../src/storage/meta.repository.js';
import { checkStore, rotateStore, type RotateStore, sign, storeKeyInfo } from './helpers/rotate-store.js';
import { ADMIN, startTestServer } from './helpers/server.js';
import { SKIP_WITHOUT_HSM, softHsm } from './helpers/softhsm.js';

function kmsEnv(prefix: 'SYMBOLON_' | 'SYMBOLON_TARGET_', endpoint: string, keyId: string): Record<string, string> {
  return {
    [`${prefix}ROOT`]: 'kms',
    [`${prefix}ROOT_KMS_ENDPOINT`]: endpoint,
    [`${prefix}ROOT_KMS_KEY_ID`]: keyId,
    [`${prefix}ROOT_KMS_REGION`]: 'us-east-1',
    [`${prefix}ROOT_KMS_ACCESS_KEY_ID`]: ADMIN.accessKeyId,
    [`${prefix}ROOT_KMS_SECRET_ACCESS_KEY`]: ADMIN.secretAccessKey,
  };
}

async function withKey(s: RotateStore, env: Record<string, string> = {}): Promise<{ keyId: string; sig: string }> {
  const server = await s.start({ env });
  try {
    const keyId = (await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    return { keyId, sig: await sign(server, keyId) };
  } finally {
    await server.close();
  }
}

async function signsWith(s: RotateStore, env: Record<string, string>, keyId: string): Promise<string> {
  const server = await s.start({ env });
  try {
    return await sign(server, keyId);
  } finally {
    await server.close();
  }
}

async function refused(s: RotateStore, env: Record<string, string>, pattern: RegExp): Promise<void> {
  await assert.rejects(s.start({ env }), (e: unknown) => {
    assert.ok(e instanceof RootKeyError, `threw ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

async function rowBytes(s: RotateStore): Promise<string> {
  const store = await s.open();
  try {
    return Buffer.from((await getMeta(store.db, STORE_KEY_META))!).toString('hex');
  } finally {
    await store.close();
  }
}

/** Every table but the store-key row, as text, to show a migration changes nothing else. */
async function everythingButTheRow(s: RotateStore): Promise<string> {
  const store = await s.open();
  try {
    const parts: string[] = [];
    for (const t of ['kms_key_material', 'iam_access_keys', 'kms_keys'] as const) {
      const rows = await store.db.selectFrom(t).selectAll().execute();
      parts.push(
        JSON.stringify(
          rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : String(v)]))),
        ),
      );
    }
    const meta = await store.db.selectFrom('symbolon_meta').selectAll().where('name', '!=', STORE_KEY_META).orderBy('name').execute();
    parts.push(JSON.stringify(meta.map((m) => [m.name, Buffer.from(m.value).toString('hex')])));
    return parts.join('\n');
  } finally {
    await store.close();
  }
}

test('file → kms → file: only the store-key row changes; the new root serves, the old one is refused', async () => {
  const upstream = await startTestServer();
  const s = rotateStore('mkms');
  try {
    const rootKeyId = (await upstream.kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const { keyId, sig } = await withKey(s);
    const rest = await everythingButTheRow(s);
    const toKms = await s.cli(['operator', 'migrate-root', '--to', 'kms'], kmsEnv('SYMBOLON_TARGET_', upstream.endpoint, rootKeyId));
    assert.equal(toKms.code, 0, toKms.stderr);
    assert.match(toKms.stdout, /moved from key file .*root\.key to KMS key/);
    assert.equal(await everythingButTheRow(s), rest, 'nothing but the store-key row changed');
    const kms = kmsEnv('SYMBOLON_', upstream.endpoint, rootKeyId);
    assert.equal((await checkStore(s, kms, true)).root, 'kms');
    assert.equal(await signsWith(s, kms, keyId), sig);
    await refused(s, {}, /store key is wrapped by the kms root, but SYMBOLON_ROOT is file/);
    // Again: already done, nothing written.
    const row = await rowBytes(s);
    const again = await s.cli(['operator', 'migrate-root', '--to', 'kms'], kmsEnv('SYMBOLON_TARGET_', upstream.endpoint, rootKeyId));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already wrapped by KMS key .*nothing to do/);
    assert.equal(await rowBytes(s), row);
    // Back to the key file beside the store.
    const back = await s.cli(['operator', 'migrate-root', '--to', 'file'], kms);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((await checkStore(s, {}, true)).root, 'file');
    assert.equal(await signsWith(s, {}, keyId), sig);
    await refused(s, kms, /store key is wrapped by the file root, but SYMBOLON_ROOT is kms/);
    assert.equal(await everythingButTheRow(s), rest);
  } finally {
    await s.cleanup();
    await upstream.close();
  }
});

test('file → PKCS#11 (SoftHSM2) → file, the target given by --to-env FILE', { skip: SKIP_WITHOUT_HSM }, async () => {
  const hsm = softHsm();
  const label = `rot${randomBytes(3).toString('hex')}`;
  hsm.initToken(label);
  const s = rotateStore('mhsm');
  try {
    const { keyId, sig } = await withKey(s);
    const p11 = hsm.env(label, { keyLabel: 'symbolon-rotate15' });
    const toEnv = join(s.dataDir, 'target.env');
    writeFileSync(
      toEnv,
      `# the target root\n${Object.entries(p11)
        .filter(([k]) => /^SYMBOLON_PKCS11_/.test(k))
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
    );
    const to = await s.cli(['operator', 'migrate-root', '--to', 'pkcs11', '--to-env', toEnv]);
    assert.equal(to.code, 0, to.stderr);
    assert.match(to.stdout, /to PKCS#11 key "symbolon-rotate15"/);
    assert.equal((await checkStore(s, p11, true)).root, 'pkcs11');
    assert.equal(await signsWith(s, p11, keyId), sig);
    await refused(s, {}, /wrapped by the pkcs11 root, but SYMBOLON_ROOT is file/);
    const back = await s.cli(['operator', 'migrate-root', '--to', 'file'], p11);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(await signsWith(s, {}, keyId), sig);
    await refused(s, p11, /wrapped by the file root, but SYMBOLON_ROOT is pkcs11/);
  } finally {
    await s.cleanup();
    hsm.cleanup();
  }
});

test('file → file with a new key; kill -9 before and after the commit leaves exactly one root that opens the store', async () => {
  const s = rotateStore('mfile');
  try {
    const { keyId, sig } = await withKey(s);
    const newKey = randomBytes(32).toString('hex');
    const oldRoot = {};
    const newRoot = { SYMBOLON_ROOT_KEY: newKey };
    const target = { SYMBOLON_TARGET_ROOT_KEY: newKey, NODE_ENV: 'test' };
    // Killed before its commit: the old root still opens everything, the new one nothing.
    const before = await s.cli(['operator', 'migrate-root', '--to', 'file'], { ...target, SYMBOLON_TEST_CRASH_AT: '1' });
    assert.equal(before.signal, 'SIGKILL');
    await checkStore(s, oldRoot, true);
    await assert.rejects(checkStore(s, newRoot, true), /does not match this store/);
    // Killed right after it: the new root opens everything, the old one nothing.
    const after = await s.cli(['operator', 'migrate-root', '--to', 'file'], { ...target, SYMBOLON_TEST_CRASH_AT: '2' });
    assert.equal(after.signal, 'SIGKILL');
    await checkStore(s, newRoot, true);
    await assert.rejects(checkStore(s, oldRoot, true), /does not match this store/);
    // Run again: completes (nothing left to do).
    const again = await s.cli(['operator', 'migrate-root', '--to', 'file'], { SYMBOLON_TARGET_ROOT_KEY: newKey });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to do/);
    assert.equal(await signsWith(s, newRoot, keyId), sig);
    await refused(s, oldRoot, /does not match this store/);
  } finally {
    await s.cleanup();
  }
});

test('migrate-root: bad usage, missing target settings and an unreachable target are refused; nothing is written', async () => {
  const s = rotateStore('mbad');
  try {
    await withKey(s);
    const row = await rowBytes(s);
    const bad = await s.cli(['operator', 'migrate-root', '--to', 'shamir']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--to must be file, pkcs11 or kms/);
    const missing = await s.cli(['operator', 'migrate-root', '--to', 'kms']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /refused: target root: SYMBOLON_ROOT=kms needs SYMBOLON_ROOT_KMS_KEY_ID/);
    const down = await s.cli(['operator', 'migrate-root', '--to', 'kms'], kmsEnv('SYMBOLON_TARGET_', 'http://127.0.0.1:9', 'alias/none'));
    assert.equal(down.code, 1, down.stderr);
    assert.match(down.stderr, /refused: the root KMS key alias\/none at http:\/\/127\.0\.0\.1:9 is unreachable/);
    assert.ok(!down.stderr.includes(ADMIN.secretAccessKey));
    for (const r of [bad, missing, down]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await rowBytes(s), row, 'the store-key row is unchanged');
    assert.equal((await storeKeyInfo(s)).root, 'file');
  } finally {
    await s.cleanup();
  }
});
