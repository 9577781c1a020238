/**
 * The PKCS#11 root (docs/root-of-trust.md) against SoftHSM2, each test on a
 * fresh token of its own, on the store this run uses:
 *  - a fresh store's first start generates the root key inside the token
 *    (sensitive, non-extractable: the token refuses to reveal its value),
 *    writes no root.key, wraps the store key under it; keys made then sign to
 *    the same signature after a restart, and through the real CLI;
 *  - wrong PIN, missing token, missing key, another key under the same label,
 *    a missing library: a RootKeyError naming the cause, and the server never
 *    serves (the CLI exits 1 without listening);
 *  - a store wrapped by the file root, or sealed before the key hierarchy,
 *    refuses SYMBOLON_ROOT=pkcs11 with a clear message, and the reverse.
 * Skipped without SoftHSM2 unless SYMBOLON_REQUIRE_HSM=1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import pkcs11js from 'pkcs11js';
import { KeyRootOfTrust, RootKeyError } from '../src/root/root-of-trust.js';
import { decodeStoreKeyRecord, STORE_KEY_META } from '../src/root/store-key.js';
import { dropPgSchema } from '../src/storage/database.js';
import { getMeta } from '../src/storage/meta.repository.js';
import { startTestServer, type TestServer, type TestServerOptions } from './helpers/server.js';
import { createPgDatabase, startServeProcess } from './helpers/serve-process.js';
import { SKIP_WITHOUT_HSM, SOFTHSM_MODULE, softHsm, USER_PIN, type SoftHsm } from './helpers/softhsm.js';

const DATABASE_URL = process.env.DATABASE_URL;
const REPO = join(import.meta.dirname, '..');
const skip = SKIP_WITHOUT_HSM;
let hsm: SoftHsm;

before(() => {
  if (!skip) hsm = softHsm();
});
after(() => hsm?.cleanup());

function persistent() {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-p11-'));
  const pgSchema = DATABASE_URL ? `t_p11_${randomBytes(5).toString('hex')}` : undefined;
  return {
    dataDir,
    start: (extra: Omit<TestServerOptions, 'dataDir' | 'pgSchema' | 'keepSchema'> = {}) =>
      startTestServer({ ...extra, dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) }),
    async cleanup() {
      if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function freshLabel(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

const DIGEST = new Uint8Array(32).fill(5);

async function sign(server: TestServer, keyId: string): Promise<Uint8Array> {
  return (await server.kms().send(new SignCommand({ KeyId: keyId, Message: DIGEST, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!;
}

/** Runs `fn` in a logged-in session on the token labelled `label`, outside the server. */
function withToken<T>(label: string, fn: (p11: pkcs11js.PKCS11, session: Buffer) => T): T {
  const p11 = new pkcs11js.PKCS11();
  p11.load(SOFTHSM_MODULE);
  p11.C_Initialize();
  try {
    const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === label)!;
    const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p11.C_Login(session, pkcs11js.CKU_USER, USER_PIN);
    try {
      return fn(p11, session);
    } finally {
      p11.C_CloseSession(session);
    }
  } finally {
    p11.C_Finalize();
    p11.close();
  }
}

function findKeys(p11: pkcs11js.PKCS11, session: Buffer, label: string): Buffer[] {
  p11.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  try {
    return p11.C_FindObjects(session, 10);
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

function rootKeyError(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof RootKeyError, `threw ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes(USER_PIN), 'the message names no PIN');
    return true;
  };
}

/** `symbolon serve` as an operator runs it; resolves with its exit code and output when it exits (or is stopped after listening). */
function runServe(dataDir: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/symbolon.js', 'serve', '--role', 'kms', '--port', '0', '--data', dataDir], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), NODE_NO_WARNINGS: '1', SYMBOLON_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (/listening on/.test(out)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.once('exit', (code) => resolve({ code, out }));
  });
}

test('first start generates a non-extractable AES-256 root key in the token; keys sign the same after a restart and through the CLI', { skip }, async () => {
  const label = freshLabel();
  hsm.initToken(label);
  const store = persistent();
  try {
    const first = await store.start({ env: hsm.env(label) });
    let keyId: string;
    let signature: Uint8Array;
    try {
      keyId = (await first.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
      signature = await sign(first, keyId);
      const record = decodeStoreKeyRecord((await getMeta(first.custodian.deps.store.db, STORE_KEY_META))!);
      assert.equal(record.root, 'pkcs11');
      assert.equal(record.legacy, false);
      assert.match(first.custodian.deps.root.description, /PKCS#11 key "symbolon-root" on token/);
    } finally {
      await first.close();
    }
    assert.equal(existsSync(join(store.dataDir, 'root.key')), false, 'no key file is written');
    withToken(label, (p11, session) => {
      const keys = findKeys(p11, session, 'symbolon-root');
      assert.equal(keys.length, 1);
      const attrs = p11.C_GetAttributeValue(session, keys[0]!, [
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_TOKEN },
        { type: pkcs11js.CKA_VALUE_LEN },
      ]);
      assert.deepEqual(
        attrs.map((a) => a.value),
        [Buffer.from([0]), Buffer.from([1]), Buffer.from([1]), Buffer.from([32, 0, 0, 0, 0, 0, 0, 0])],
      );
      assert.throws(() => p11.C_GetAttributeValue(session, keys[0]!, [{ type: pkcs11js.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
    });
    const again = await store.start({ env: hsm.env(label) });
    try {
      assert.deepEqual(await sign(again, keyId), signature);
    } finally {
      await again.close();
    }
  } finally {
    await store.cleanup();
  }

  // The real CLI on a store of its own (a PostgreSQL database of its own on PostgreSQL).
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-p11-cli-'));
  const pgdb = DATABASE_URL ? await createPgDatabase(DATABASE_URL) : undefined;
  const cliLabel = freshLabel();
  hsm.initToken(cliLabel);
  try {
    const server = await startServeProcess({ dataDir, databaseUrl: pgdb?.url }, hsm.env(cliLabel));
    try {
      assert.match(server.output(), /"root":"PKCS#11 key \\"symbolon-root\\" on token/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    const refused = await runServe(dataDir, { ...hsm.env(cliLabel, { pin: '999999' }), DATABASE_URL: pgdb?.url ?? '' });
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /SYMBOLON_PKCS11_PIN was rejected by token/);
    assert.doesNotMatch(refused.out, /listening on/);
  } finally {
    await pgdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('wrong PIN, missing token, missing key, another key under the label, missing library: a RootKeyError naming the cause; never serves', {
  skip,
}, async () => {
  const label = freshLabel();
  hsm.initToken(label);
  const store = persistent();
  try {
    // A wrong PIN on a fresh store: refused before anything is written (no key in the token either).
    await assert.rejects(
      store.start({ env: hsm.env(label, { pin: '000000' }) }),
      rootKeyError(/SYMBOLON_PKCS11_PIN was rejected by token "t[0-9a-f]+" \(CKR_PIN_INCORRECT\)/),
    );
    assert.equal(
      withToken(label, (p11, session) => findKeys(p11, session, 'symbolon-root').length),
      0,
    );
    await (await store.start({ env: hsm.env(label) })).close();
    await assert.rejects(store.start({ env: hsm.env(label, { pin: '000000' }) }), rootKeyError(/PIN was rejected/));
    await assert.rejects(
      store.start({ env: hsm.env('no-such-token') }),
      rootKeyError(/no PKCS#11 token is labelled "no-such-token" .*tokens present: .*"t[0-9a-f]+"/),
    );
    // A sealed store never generates a key: a label the token does not hold is an error, and nothing is created.
    await assert.rejects(
      store.start({ env: hsm.env(label, { keyLabel: 'other-key' }) }),
      rootKeyError(/the root key "other-key" \(SYMBOLON_PKCS11_KEY_LABEL\) is not on token .*nothing was written/),
    );
    assert.equal(
      withToken(label, (p11, session) => findKeys(p11, session, 'other-key').length),
      0,
    );
    await assert.rejects(
      store.start({ env: { ...hsm.env(label), SYMBOLON_PKCS11_MODULE: '/nonexistent/libpkcs11.so' } }),
      rootKeyError(/SYMBOLON_PKCS11_MODULE: the PKCS#11 library \/nonexistent\/libpkcs11.so could not be loaded/),
    );
    // The token replaced by another with the same labels and a new key: it does not unwrap this store's key.
    hsm.deleteToken(label);
    hsm.initToken(label);
    await assert.rejects(store.start({ env: hsm.env(label) }), rootKeyError(/"symbolon-root" .*is not on token/));
    withToken(label, (p11, session) => {
      p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_LABEL, value: 'symbolon-root' },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
      ]);
    });
    await assert.rejects(store.start({ env: hsm.env(label) }), rootKeyError(/The root key from PKCS#11 key "symbolon-root" .*does not match this store/));
  } finally {
    await store.cleanup();
  }
});

test('a store wrapped by the file root, or sealed before the key hierarchy, refuses SYMBOLON_ROOT=pkcs11 (and the reverse), naming both', {
  skip,
}, async () => {
  const label = freshLabel();
  hsm.initToken(label);
  const fileStore = persistent();
  const pkcs11Store = persistent();
  const legacyStore = persistent();
  try {
    await (await fileStore.start()).close();
    await assert.rejects(fileStore.start({ env: hsm.env(label) }), rootKeyError(/wrapped by the file root, but SYMBOLON_ROOT is pkcs11/));
    await (await pkcs11Store.start({ env: hsm.env(label) })).close();
    await assert.rejects(pkcs11Store.start(), rootKeyError(/wrapped by the pkcs11 root, but SYMBOLON_ROOT is file/));
    const rootKey = new Uint8Array(randomBytes(32));
    await (await legacyStore.start({ root: new KeyRootOfTrust(rootKey, 'pre-hierarchy') })).close();
    await assert.rejects(legacyStore.start({ env: hsm.env(label) }), rootKeyError(/sealed directly under a root key file .*SYMBOLON_ROOT is pkcs11/));
    rootKey.fill(0);
  } finally {
    await fileStore.cleanup();
    await pkcs11Store.cleanup();
    await legacyStore.cleanup();
  }
});
