/**
 * Store-key rotation (docs/root-of-trust.md "Rotating the store key"), on the
 * store this run uses (SQLite, or PostgreSQL with DATABASE_URL: schemas
 * rotate15_…), with `symbolon operator rotate-store-key` as a child process:
 *  - every byte column of the schema is either re-sealed (SEALED_COLUMNS) or
 *    named as not sealed, and every sealed-looking meta row is known;
 *  - a rotation re-seals every box of every table and meta row (found by a
 *    scan of the schema, not of the registry) and retires the old version;
 *    keys sign the same (RFC 6979: byte-identical signatures);
 *  - kill -9 at every step boundary: the store opens with its one root, every
 *    box names a version the row holds and opens, and running the command
 *    again completes the rotation;
 *  - a server running through a rotation keeps signing and creating keys,
 *    adopts the new version from the row, and what it wrote is re-sealed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { sql } from 'kysely';
import { rotateStoreKey, SEALED_COLUMNS, SEALED_META, UNSEALED_BYTE_COLUMNS } from '../src/cli/store-key-ops.js';
import { sealedBoxVersion } from '../src/root/store-key.js';
import { byteColumns } from '../src/storage/reseal.js';
import { sessionSecretAad } from '../src/sts/session-credential-source.js';
import { shareBContext } from '../src/wallet/wallets.js';
import { webhookSecretAad } from '../src/audit/webhooks.js';
import { checkStore, DATABASE_URL, everySealedBox, rotateStore, type RotateStore, sign, storeKeyInfo } from './helpers/rotate-store.js';
import type { TestServer } from './helpers/server.js';

const FILE_ROOT: Record<string, string> = {};
const CRASH_ENV = { NODE_ENV: 'test' };
const QUIET = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };

/** Keys, wallets with share B (one of generation 1), a displaced wallet, a webhook, an STS session: at least one box in every sealed table. */
async function populate(server: TestServer, keys: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < keys; i++)
    ids.push((await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!);
  await server.kms().send(new CreateKeyCommand({}));
  const { db } = server.custodian.deps.store;
  const root = server.custodian.deps.root;
  const now = Date.now();
  for (const table of ['wallets', 'wallets_displaced'] as const) {
    const userId = randomUUID();
    const address = `0x${randomBytes(20).toString('hex')}`;
    await sql`INSERT INTO wallet_users (id, issuer, sub, created_at) VALUES (${userId}, ${'https://issuer.test'}, ${userId}, ${now})`.execute(db);
    await sql`INSERT INTO ${sql.table(table)} (id, user_id, address, custody_mode, share_b_sealed, created_at) VALUES (${randomUUID()}, ${userId}, ${address}, ${'split'}, ${root.seal(new Uint8Array(32).fill(9), shareBContext(userId, address))}, ${now})`.execute(
      db,
    );
  }
  // A split wallet after one share rotation: its share B is bound to generation 1.
  {
    const userId = randomUUID();
    const address = `0x${randomBytes(20).toString('hex')}`;
    await sql`INSERT INTO wallet_users (id, issuer, sub, created_at) VALUES (${userId}, ${'https://issuer.test'}, ${userId}, ${now})`.execute(db);
    await sql`INSERT INTO wallets (id, user_id, address, custody_mode, share_b_sealed, share_generation, created_at) VALUES (${randomUUID()}, ${userId}, ${address}, ${'split'}, ${root.seal(new Uint8Array(32).fill(8), shareBContext(userId, address, 1))}, ${1}, ${now})`.execute(
      db,
    );
  }
  // A monitoring webhook's HMAC secret.
  const webhookId = randomUUID();
  await sql`INSERT INTO monitor_webhooks (webhook_id, url, events, sealed_secret, created_by, created_at) VALUES (${webhookId}, ${'https://hooks.test/'}, ${'["deny.burst"]'}, ${root.seal(new Uint8Array(32).fill(7), webhookSecretAad(webhookId))}, ${'test'}, ${now})`.execute(
    db,
  );
  const role = await db.selectFrom('iam_roles').select(['role_name', 'role_id', 'arn']).executeTakeFirstOrThrow();
  const sessionId = randomUUID();
  await db
    .insertInto('sts_sessions')
    .values({
      session_id: sessionId,
      access_key_id: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      token_sha256: randomBytes(32).toString('hex'),
      sealed_secret: root.seal(new Uint8Array(30).fill(4), sessionSecretAad(sessionId)),
      role_name: role.role_name,
      role_id: role.role_id,
      session_name: 's',
      principal_arn: `${role.arn}/s`,
      tags: '{}',
      issuer: 'https://issuer.test',
      subject: 'sub',
      audience: 'aud',
      created_at: now,
      expires_at: now + 3_600_000,
    } as never)
    .execute();
  return ids;
}

async function signatures(server: TestServer, ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) out.push(await sign(server, id));
  return out;
}

async function populated(label: string, keys: number): Promise<{ s: RotateStore; ids: string[]; sigs: string[] }> {
  const s = rotateStore(label);
  const server = await s.start();
  try {
    const ids = await populate(server, keys);
    return { s, ids, sigs: await signatures(server, ids) };
  } finally {
    await server.close();
  }
}

test('every byte column is re-sealed by rotation or named as holding no sealed box; every sealed meta row is known', async () => {
  const { s } = await populated('cols', 1);
  const store = await s.open();
  try {
    const columns = await byteColumns(store.db, store.dialect === 'postgres' ? 'postgres' : 'sqlite');
    const known = [...SEALED_COLUMNS.map((c) => `${c.table}.${c.column}`), ...Object.keys(UNSEALED_BYTE_COLUMNS)].sort();
    assert.deepEqual(columns, known, 'a byte column that is neither in SEALED_COLUMNS nor in UNSEALED_BYTE_COLUMNS (src/cli/store-key-ops.ts)');
    for (const b of await everySealedBox(store)) {
      if (!b.where.startsWith('symbolon_meta.')) continue;
      assert.ok(b.where.slice('symbolon_meta.'.length) in SEALED_META, `${b.where} holds a sealed box SEALED_META does not name`);
    }
    const tables = new Set((await everySealedBox(store)).map((b) => b.where));
    for (const c of SEALED_COLUMNS) assert.ok(tables.has(`${c.table}.${c.column}`), `the populated store has a box in ${c.table}.${c.column}`);
  } finally {
    await store.close();
    await s.cleanup();
  }
});

test('rotate-store-key re-seals every box under v2 and retires v1; keys sign the same; a second rotation makes v3', async () => {
  const { s, ids, sigs } = await populated('rot', 5);
  try {
    const before = await checkStore(s, FILE_ROOT, true);
    assert.equal(before.current, 1);
    const r = await s.cli(['operator', 'rotate-store-key', '--grace-seconds', '0', '--batch-size', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Store key v2 is current; every sealed record is under it; retired v1\./);
    const after = await checkStore(s, FILE_ROOT, true);
    assert.equal(after.current, 2);
    assert.equal(after.installation, before.installation);
    const r2 = await s.cli(['operator', 'rotate-store-key', '--grace-seconds', '0']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal((await checkStore(s, FILE_ROOT, true)).current, 3);
    const server = await s.start();
    try {
      assert.deepEqual(await signatures(server, ids), sigs);
    } finally {
      await server.close();
    }
  } finally {
    await s.cleanup();
  }
});

test('kill -9 at every step of a rotation: the store opens, every box opens, and running it again completes', async () => {
  const { s, ids, sigs } = await populated('kill', 4);
  try {
    let crashes = 0;
    for (let at = 1; ; at++) {
      const r = await s.cli(['operator', 'rotate-store-key', '--grace-seconds', '0', '--batch-size', '3'], {
        ...CRASH_ENV,
        SYMBOLON_TEST_CRASH_AT: String(at),
      });
      if (r.signal === null) {
        assert.equal(r.code, 0, r.stderr);
        break;
      }
      assert.equal(r.signal, 'SIGKILL');
      crashes++;
      const mid = await checkStore(s, FILE_ROOT, false);
      // Run again (in this process, to keep the loop short; the last round runs the CLI to the end).
      await rotateStoreKey({ dataDir: s.dataDir, databaseUrl: DATABASE_URL, pgSchema: s.pgSchema }, { batchSize: 3, graceMs: 0 }, QUIET);
      const done = await checkStore(s, FILE_ROOT, true);
      assert.ok(done.current >= mid.current);
    }
    assert.ok(crashes >= 8, `killed at ${crashes} points`);
    const server = await s.start();
    try {
      assert.deepEqual(await signatures(server, ids), sigs);
    } finally {
      await server.close();
    }
  } finally {
    await s.cleanup();
  }
});

test('a server running through a rotation keeps signing and creating keys; it adopts the new version and what it wrote is re-sealed', async () => {
  const { s, ids, sigs } = await populated('live', 6);
  const server = await s.start({ storeKeyRefreshMs: 100 });
  try {
    const rotation = s.cli(['operator', 'rotate-store-key', '--grace-seconds', '1', '--batch-size', '2']);
    let finished = false;
    void rotation.then(() => (finished = true));
    const made: string[] = [];
    while (!finished) {
      made.push((await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!);
      assert.deepEqual(await signatures(server, ids), sigs);
    }
    const r = await rotation;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(made.length >= 2, `keys made during the rotation: ${made.length}`);
    const info = await checkStore(s, FILE_ROOT, true);
    assert.equal(info.current, 2);
    await server.custodian.deps.store.db.selectFrom('kms_key_material').select('sealed').execute();
    // The running server seals new material under v2 now.
    const fresh = (await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const row = await server.custodian.deps.store.db.selectFrom('kms_key_material').select('sealed').where('key_id', '=', fresh).executeTakeFirstOrThrow();
    assert.equal(sealedBoxVersion(new Uint8Array(row.sealed)), 2);
    const madeSigs = await signatures(server, made);
    await server.close();
    const again = await s.start();
    try {
      assert.deepEqual(await signatures(again, ids), sigs);
      assert.deepEqual(await signatures(again, made), madeSigs);
      await sign(again, fresh);
    } finally {
      await again.close();
    }
  } finally {
    await server.close().catch(() => undefined);
    await s.cleanup();
  }
});

test('a backup made in the middle of a rotation holds both versions; restored, every box opens and the rotation completes there', async () => {
  const { s, ids, sigs } = await populated('bak', 4);
  const t = rotateStore('bakto');
  try {
    const killed = await s.cli(['operator', 'rotate-store-key', '--grace-seconds', '0', '--batch-size', '2'], { ...CRASH_ENV, SYMBOLON_TEST_CRASH_AT: '6' });
    assert.equal(killed.signal, 'SIGKILL');
    const mid = await checkStore(s, FILE_ROOT, false);
    assert.deepEqual(mid.versions, [1, 2]);
    const file = join(s.dataDir, 'mid-rotation.backup');
    const created = await s.cli(['backup', 'create', '--out', file]);
    assert.equal(created.code, 0, created.stderr);
    const key = { SYMBOLON_ROOT_KEY: readFileSync(join(s.dataDir, 'root.key'), 'utf8').trim() };
    const restored = await t.cli(['backup', 'restore', file], key);
    assert.equal(restored.code, 0, restored.stderr);
    const there = await checkStore(t, key, false);
    assert.deepEqual(there.versions, [1, 2]);
    const boxes = await t.open();
    try {
      const versions = new Set((await everySealedBox(boxes)).map((b) => sealedBoxVersion(b.box)));
      assert.deepEqual([...versions].sort(), [1, 2], 'the backup holds boxes under both versions');
    } finally {
      await boxes.close();
    }
    await rotateStoreKey({ dataDir: t.dataDir, databaseUrl: DATABASE_URL, pgSchema: t.pgSchema }, { batchSize: 100, graceMs: 0 }, { ...QUIET, env: key });
    assert.equal((await checkStore(t, key, true)).current, 2);
    const server = await t.start({ env: key });
    try {
      assert.deepEqual(await signatures(server, ids), sigs);
    } finally {
      await server.close();
    }
  } finally {
    await t.cleanup();
    await s.cleanup();
  }
});

test('a store made before the key hierarchy: rotation re-seals its 0x01 records, clears legacy, and then it may leave the file root', {
  skip: DATABASE_URL !== undefined && 'the fixture is a SQLite store',
}, async () => {
  const fixtureDir = join(import.meta.dirname, 'fixtures', 'store-v1');
  const fixture = JSON.parse(readFileSync(join(fixtureDir, 'fixture.json'), 'utf8')) as { signKeyId: string; digest: string; signature: string };
  const s = rotateStore('legacy');
  cpSync(fixtureDir, s.dataDir, { recursive: true });
  chmodSync(join(s.dataDir, 'root.key'), 0o600);
  try {
    await (await s.start()).close(); // the first start adds a store key marked legacy
    assert.equal((await storeKeyInfo(s)).legacy, true);
    const toKms = { SYMBOLON_TARGET_ROOT_KMS_ENDPOINT: 'http://127.0.0.1:9', SYMBOLON_TARGET_ROOT_KMS_KEY_ID: 'alias/none' };
    const early = await s.cli(['operator', 'migrate-root', '--to', 'kms'], toKms);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /refused: this store still holds records sealed directly under its root key file .* rotate-store-key first/);
    const r = await s.cli(['operator', 'rotate-store-key', '--grace-seconds', '0']);
    assert.equal(r.code, 0, r.stderr);
    const info = await checkStore(s, FILE_ROOT, true);
    assert.equal(info.legacy, false);
    const server = await s.start();
    try {
      const sig = await server.kms().send(
        new SignCommand({
          KeyId: fixture.signKeyId,
          Message: Buffer.from(fixture.digest, 'base64'),
          MessageType: 'DIGEST',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      );
      assert.equal(Buffer.from(sig.Signature!).toString('base64'), fixture.signature, 'RFC 6979: the same signature as the fixture');
    } finally {
      await server.close();
    }
  } finally {
    await s.cleanup();
  }
});

test('rotate-store-key: bad usage and a store without a store key are refused, nothing written', async () => {
  const s = rotateStore('usage');
  try {
    const bad = await s.cli(['operator', 'rotate-store-key', '--batch-size', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--batch-size must be an integer/);
    const none = await s.cli(['operator', 'rotate-store-key']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, DATABASE_URL ? /refused: this store has no store key yet/ : /refused: no store at .*symbolon\.db/);
    assert.ok(DATABASE_URL || !existsSync(join(s.dataDir, 'symbolon.db')), 'no database file was created');
    assert.doesNotMatch(none.stderr, /\n\s+at /, 'no stack trace');
    assert.ok((await storeKeyInfo(s).catch(() => undefined)) === undefined);
  } finally {
    await s.cleanup();
  }
});
