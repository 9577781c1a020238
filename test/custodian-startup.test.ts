/**
 * The custodian's start-up contract (issue 2, "Foundation" and "Key material at
 * rest"), on the store this run uses (SQLite, or PostgreSQL with DATABASE_URL):
 *  - a first start creates DIR/root.key and, with no SYMBOLON_ADMIN_* set,
 *    DIR/admin-credentials.json, both mode 0600, and that credential works with
 *    the AWS SDK;
 *  - a restart on the same store keeps keys (the same key signs the same digest
 *    to the same RFC 6979 signature);
 *  - a different root key fails start-up with RootKeyError ("does not match"),
 *    the CLI exits non-zero and never listens, and the store is left usable;
 *  - a malformed SYMBOLON_ROOT_KEY fails with a clear RootKeyError that does not
 *    echo the value;
 *  - key material is sealed at rest: the private key of a key made by CreateKey
 *    (keystore.createMaterial under the store key, wrapped by a root key the
 *    test knows), recovered by opening its sealed row, appears nowhere in the
 *    database's bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CreateKeyCommand, DescribeKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { RootKeyError } from '../src/root/file-root.js';
import { sealingContext } from '../src/root/root-of-trust.js';
import { FileRootKey } from '../src/root/file-root.js';
import { openStoreKeys, STORE_KEY_META } from '../src/root/store-key.js';
import { getMeta } from '../src/storage/meta.repository.js';
import { decodeEcdsaSignatureDer, decodeEcSpki } from '../src/crypto/der.js';
import { getPublicKey, verifyDigest } from '../src/crypto/secp256k1.js';
import { dropPgSchema } from '../src/storage/database.js';
import { ADMIN, startTestServer, type TestServer, type TestServerOptions } from './helpers/server.js';

const DATABASE_URL = process.env.DATABASE_URL;
const REPO = join(import.meta.dirname, '..');
const NO_ADMIN_ENV = { SYMBOLON_ADMIN_ACCESS_KEY_ID: '', SYMBOLON_ADMIN_SECRET_ACCESS_KEY: '' };

/** One persistent store (data directory, and a PostgreSQL schema when DATABASE_URL is set) that outlives server restarts. */
interface PersistentStore {
  dataDir: string;
  pgSchema: string | undefined;
  start(extra?: Omit<TestServerOptions, 'dataDir' | 'pgSchema' | 'keepSchema'>): Promise<TestServer>;
  cleanup(): Promise<void>;
}

function persistentStore(): PersistentStore {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-startup-'));
  const pgSchema = DATABASE_URL ? `t_startup_${randomBytes(5).toString('hex')}` : undefined;
  return {
    dataDir,
    pgSchema,
    start: (extra = {}) => startTestServer({ ...extra, dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) }),
    async cleanup() {
      if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

const DIGEST = new Uint8Array(createHash('sha256').update('symbolon start-up test').digest());

async function signDigest(server: TestServer, keyId: string, credentials = ADMIN): Promise<Uint8Array> {
  const out = await server.kms(credentials).send(new SignCommand({ KeyId: keyId, Message: DIGEST, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
  return out.Signature!;
}

async function publicKeyPoint(server: TestServer, keyId: string): Promise<Uint8Array> {
  const row = await server.custodian.deps.store.db
    .selectFrom('kms_key_material')
    .select(['public_key'])
    .where('key_id', '=', keyId)
    .where('version', '=', 1)
    .executeTakeFirstOrThrow();
  return decodeEcSpki(new Uint8Array(row.public_key!)).point;
}

test('first start without SYMBOLON_ADMIN_*: root.key and admin-credentials.json are created mode 0600 and the credential works with the AWS SDK', async () => {
  const store = persistentStore();
  try {
    const first = await store.start({ env: NO_ADMIN_ENV });
    let credentials: { accessKeyId: string; secretAccessKey: string; region: string; accountId: string };
    let keyId: string;
    try {
      const rootFile = join(store.dataDir, 'root.key');
      const credsFile = join(store.dataDir, 'admin-credentials.json');
      assert.equal(mode(rootFile), 0o600);
      assert.match(readFileSync(rootFile, 'utf8').trim(), /^[0-9a-f]{64}$/);
      assert.equal(first.custodian.adminCredentialsFile, credsFile);
      assert.equal(mode(credsFile), 0o600);
      credentials = JSON.parse(readFileSync(credsFile, 'utf8'));
      assert.match(credentials.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
      assert.ok(credentials.secretAccessKey.length >= 16);
      assert.equal(credentials.region, first.config.region);
      assert.equal(credentials.accountId, first.custodian.accountId);

      const created = await first.kms(credentials).send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
      keyId = created.KeyMetadata!.KeyId!;
      assert.equal(created.KeyMetadata!.Arn, `arn:aws:kms:${credentials.region}:${credentials.accountId}:key/${keyId}`);
      // The generated credential is the only administrator: the test suite's usual one was never created.
      await assert.rejects(first.kms(ADMIN).send(new DescribeKeyCommand({ KeyId: keyId })), { name: 'UnrecognizedClientException' });
    } finally {
      await first.close();
    }

    // A restart neither rewrites the files nor makes another credential; the generated one still works.
    const rootBefore = readFileSync(join(store.dataDir, 'root.key'), 'utf8');
    const again = await store.start({ env: NO_ADMIN_ENV });
    try {
      assert.equal(again.custodian.adminCredentialsFile, undefined);
      assert.equal(readFileSync(join(store.dataDir, 'root.key'), 'utf8'), rootBefore);
      assert.equal(again.custodian.accountId, credentials.accountId);
      const described = await again.kms(credentials).send(new DescribeKeyCommand({ KeyId: keyId }));
      assert.equal(described.KeyMetadata!.KeyId, keyId);
    } finally {
      await again.close();
    }
  } finally {
    await store.cleanup();
  }
});

test('a restart on the same store keeps keys: the key made before signs the same digest to the same signature after', async () => {
  const store = persistentStore();
  try {
    const first = await store.start();
    let keyId: string;
    let before: Uint8Array;
    try {
      const created = await first.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: 'survives restarts' }));
      keyId = created.KeyMetadata!.KeyId!;
      before = await signDigest(first, keyId);
    } finally {
      await first.close();
    }

    const second = await store.start();
    try {
      const described = await second.kms().send(new DescribeKeyCommand({ KeyId: keyId }));
      assert.equal(described.KeyMetadata!.Description, 'survives restarts');
      assert.equal(described.KeyMetadata!.KeyState, 'Enabled');
      const after = await signDigest(second, keyId);
      // RFC 6979: same key, same digest, same signature: the material survived unchanged.
      assert.deepEqual(after, before);
      assert.equal(verifyDigest(decodeEcdsaSignatureDer(after), DIGEST, await publicKeyPoint(second, keyId), { lowS: true }), true);
    } finally {
      await second.close();
    }
  } finally {
    await store.cleanup();
  }
});

/** Runs `symbolon serve` to completion (it must fail); returns its exit code and output. */
function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin', 'symbolon.js'), ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`symbolon ${args.join(' ')} did not exit within 30 s (it is serving)`));
    }, 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** DATABASE_URL pointing at one schema, for a process that takes no schema option. */
function urlForSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

test('a different root key fails start-up with RootKeyError ("does not match"), never serves, and leaves the store usable', async () => {
  const store = persistentStore();
  try {
    const first = await store.start();
    let keyId: string;
    try {
      keyId = (await first.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    } finally {
      await first.close();
    }
    const original = readFileSync(join(store.dataDir, 'root.key'), 'utf8').trim();
    const other = randomBytes(32).toString('hex');

    await assert.rejects(store.start({ env: { SYMBOLON_ROOT_KEY: other } }), (e: unknown) => {
      assert.ok(e instanceof RootKeyError, `threw ${String(e)}`);
      assert.match(e.message, /root key .*does not match/i);
      assert.ok(!e.message.includes(other) && !e.message.includes(original), 'the message names no key');
      return true;
    });

    // The CLI, as an operator runs it: a non-zero exit with the reason, and no "listening" line.
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      SYMBOLON_ROOT_KEY: other,
      SYMBOLON_LOG_LEVEL: 'info',
      ...(DATABASE_URL && store.pgSchema ? { DATABASE_URL: urlForSchema(DATABASE_URL, store.pgSchema) } : {}),
    };
    const cli = await runCli(['serve', '--data', store.dataDir, '--host', '127.0.0.1', '--port', '0'], env);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /does not match this store/);
    assert.doesNotMatch(cli.stdout + cli.stderr, /listening/i);
    assert.ok(!(cli.stdout + cli.stderr).includes(other), 'the output names no key');

    // The refused starts changed nothing: the original root key still opens the store and its keys.
    const again = await store.start();
    try {
      const described = await again.kms().send(new DescribeKeyCommand({ KeyId: keyId }));
      assert.equal(described.KeyMetadata!.KeyId, keyId);
      assert.equal((await signDigest(again, keyId)).length > 0, true);
    } finally {
      await again.close();
    }
  } finally {
    await store.cleanup();
  }
});

test('a malformed SYMBOLON_ROOT_KEY fails with a clear RootKeyError that does not echo the value, before the store is touched', async () => {
  const malformed = ['abc', 'z'.repeat(64), 'ab'.repeat(31), 'ab'.repeat(33), Buffer.alloc(16, 7).toString('base64'), `${'0'.repeat(63)}g`];
  for (const value of malformed) {
    const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-badroot-'));
    try {
      await assert.rejects(startTestServer({ dataDir, env: { SYMBOLON_ROOT_KEY: value } }), (e: unknown) => {
        assert.ok(e instanceof RootKeyError, `threw ${String(e)}`);
        assert.equal(e.message, 'SYMBOLON_ROOT_KEY must hold a 32-byte key as 64 hex characters or base64');
        return true;
      });
      assert.deepEqual(readdirSync(dataDir), [], 'no root.key, no database');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  // The base64 form the message offers is accepted.
  const store = persistentStore();
  try {
    const server = await store.start({ env: { SYMBOLON_ROOT_KEY: randomBytes(32).toString('base64') } });
    await server.close();
  } finally {
    await store.cleanup();
  }
});

/** Every byte the store holds: the SQLite files, or each row of each table in the PostgreSQL schema as text. */
async function storeBytes(dataDir: string, pgSchema: string | undefined): Promise<Buffer[]> {
  if (!DATABASE_URL) {
    const files = readdirSync(dataDir).filter((f) => f.startsWith('symbolon.db'));
    assert.ok(files.includes('symbolon.db'));
    return files.map((f) => readFileSync(join(dataDir, f)));
  }
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [pgSchema]);
    assert.ok(tables.rows.length > 0);
    const out: Buffer[] = [];
    for (const { table_name } of tables.rows) {
      // bytea renders as \x<hex> inside a row's text form.
      const rows = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${pgSchema}"."${table_name}" t`);
      for (const r of rows.rows) out.push(Buffer.from(r.row, 'utf8'));
    }
    return out;
  } finally {
    await client.end();
  }
}

function foundIn(haystacks: Buffer[], needle: Uint8Array | string): boolean {
  return haystacks.some((h) => h.includes(typeof needle === 'string' ? Buffer.from(needle, 'utf8') : Buffer.from(needle)));
}

test('key material is sealed at rest: the private key of a key made and used through the API is nowhere in the database', async () => {
  const store = persistentStore();
  const rootKeyHex = randomBytes(32).toString('hex');
  const server = await store.start({ env: { SYMBOLON_ROOT_KEY: rootKeyHex } });
  let keyId: string;
  let sealed: Uint8Array;
  let point: Uint8Array;
  let storeKeyRow: Uint8Array;
  try {
    keyId = (await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    // Use it, so the material has been opened inside the server at least once.
    const signature = await signDigest(server, keyId);
    const row = await server.custodian.deps.store.db
      .selectFrom('kms_key_material')
      .select(['sealed', 'public_key'])
      .where('key_id', '=', keyId)
      .where('version', '=', 1)
      .executeTakeFirstOrThrow();
    sealed = new Uint8Array(row.sealed);
    storeKeyRow = (await getMeta(server.custodian.deps.store.db, STORE_KEY_META))!;
    point = decodeEcSpki(new Uint8Array(row.public_key!)).point;
    assert.equal(verifyDigest(decodeEcdsaSignatureDer(signature), DIGEST, point), true);
  } finally {
    // Closing checkpoints SQLite's write-ahead log into the database file.
    await server.close();
  }

  const rootKey = new Uint8Array(Buffer.from(rootKeyHex, 'hex'));
  const fileRoot = new FileRootKey(rootKey, 'test');
  // The root key unwraps the store key (kept in the store, wrapped), which opens the row.
  const root = await openStoreKeys(fileRoot, storeKeyRow);
  await fileRoot.close();
  let secret: Uint8Array | undefined;
  try {
    const bytes = await storeBytes(store.dataDir, store.pgSchema);
    // The search can succeed: the sealed box itself is stored (as bytes, or as hex in PostgreSQL's text form).
    assert.ok(DATABASE_URL ? foundIn(bytes, Buffer.from(sealed).toString('hex')) : foundIn(bytes, sealed), 'the sealed box is in the store');

    // Only with the root key does the row open, and what it holds is this key's private key.
    secret = root.open(sealed, sealingContext('kms/key-material/v1', keyId, 1));
    assert.equal(secret.length, 32);
    assert.deepEqual(getPublicKey(secret, false), point);

    const secretHex = Buffer.from(secret).toString('hex');
    assert.equal(foundIn(bytes, secret), false, 'raw private key bytes in the store');
    assert.equal(foundIn(bytes, secretHex), false, 'hex private key in the store');
    assert.equal(foundIn(bytes, secretHex.toUpperCase()), false, 'hex private key in the store');
    assert.equal(foundIn(bytes, Buffer.from(secret).toString('base64')), false, 'base64 private key in the store');
    // Nor the root key, nor the administrator's secret.
    assert.equal(foundIn(bytes, rootKey), false, 'root key bytes in the store');
    assert.equal(foundIn(bytes, rootKeyHex), false, 'hex root key in the store');
    assert.equal(foundIn(bytes, ADMIN.secretAccessKey), false, 'admin secret in the store');
    assert.equal(existsSync(join(store.dataDir, 'root.key')), false, 'SYMBOLON_ROOT_KEY set: no key file written');
  } finally {
    secret?.fill(0);
    rootKey.fill(0);
    root.destroy();
    await store.cleanup();
  }
});
