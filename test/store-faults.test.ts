/**
 * Start-up faults of the store and the root key (issue 12, items 8, 9 and 12,
 * and "symbolon.db mode 0600"), on the store this run uses (SQLite, or
 * PostgreSQL with DATABASE_URL):
 *  - a first start whose migrations fail half-way leaves nothing half-made: the
 *    retry after the cause is gone starts (on SQLite the migrations used to run
 *    statement by statement, leaving a table no retry could create again);
 *  - a 0-byte root.key (an older version's interrupted write) beside a store
 *    with nothing sealed is replaced by a whole key and the server starts;
 *    beside a store with sealed data it is refused as missing;
 *  - a missing root.key beside an existing store is refused with "Root key
 *    missing" naming the path, and nothing is written;
 *  - the SQLite files (symbolon.db, -wal, -shm) are mode 0600;
 *  - master keys a crash left unrecorded are, on the next start, adopted by
 *    their user (no master key yet) or scheduled for deletion (the user has
 *    another, or does not exist), each with an audit event.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import SQLite from 'better-sqlite3';
import { CreateKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { RootKeyError } from '../src/root/file-root.js';
import { dropPgSchema } from '../src/storage/database.js';
import { findWalletUserById, insertWalletUserIfAbsent, setWalletUserMasterKeyIfUnset } from '../src/storage/wallet-users.repository.js';
import { USER_TAG } from '../src/wallet/master-keys.js';
import { ORPHAN_GRACE_MS } from '../src/wallet/orphaned-master-keys.js';
import { startTestServer, STORE, type TestServer, type TestServerOptions } from './helpers/server.js';

const DATABASE_URL = process.env.DATABASE_URL;

interface PersistentStore {
  dataDir: string;
  pgSchema: string | undefined;
  start(extra?: Omit<TestServerOptions, 'dataDir' | 'pgSchema' | 'keepSchema'>): Promise<TestServer>;
  /** Runs SQL on the store directly (the test's hand in the database, as a crash or an operator would leave it). */
  exec(statement: string): Promise<void>;
  cleanup(): Promise<void>;
}

function persistentStore(): PersistentStore {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-faults-'));
  const pgSchema = DATABASE_URL ? `t_faults_${randomBytes(5).toString('hex')}` : undefined;
  return {
    dataDir,
    pgSchema,
    start: (extra = {}) => startTestServer({ ...extra, dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) }),
    async exec(statement) {
      if (DATABASE_URL && pgSchema) {
        const client = new pg.Client({ connectionString: DATABASE_URL });
        await client.connect();
        try {
          await client.query(`CREATE SCHEMA IF NOT EXISTS ${pgSchema}`);
          await client.query(`SET search_path = ${pgSchema}`);
          await client.query(statement);
        } finally {
          await client.end();
        }
      } else {
        const db = new SQLite(join(dataDir, 'symbolon.db'));
        try {
          db.exec(statement);
        } finally {
          db.close();
        }
      }
    },
    async cleanup() {
      if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const mode = (path: string): number => statSync(path).mode & 0o777;

test('a first start whose migrations fail half-way leaves nothing half-made, and the retry after the cause is gone starts', async () => {
  const store = persistentStore();
  try {
    // A table squatting on the name of the second table the wallet migration creates:
    // every earlier migration, and that migration's first table, succeed before it fails.
    await store.exec('CREATE TABLE wallets (squatter INTEGER)');
    await assert.rejects(store.start(), (e: unknown) => {
      assert.match((e as Error).message, /^database migration 2026-11-22T0400-wallet failed/);
      return true;
    });
    await store.exec('DROP TABLE wallets');
    const server = await store.start();
    try {
      const key = await server.kms().send(new CreateKeyCommand({}));
      assert.equal(key.KeyMetadata?.KeyState, 'Enabled');
      // The wallet migration's first table exists once, made by the retry.
      assert.equal(await findWalletUserById(server.custodian.deps.store.db, randomUUID()), undefined);
    } finally {
      await server.close();
    }
  } finally {
    await store.cleanup();
  }
});

test('a 0-byte root.key beside a store with nothing sealed is replaced by a whole key (mode 0600) and the server starts', async () => {
  const store = persistentStore();
  try {
    writeFileSync(join(store.dataDir, 'root.key'), '', { mode: 0o600 });
    const server = await store.start();
    try {
      const text = readFileSync(join(store.dataDir, 'root.key'), 'utf8');
      assert.match(text, /^[0-9a-f]{64}\n$/);
      assert.equal(mode(join(store.dataDir, 'root.key')), 0o600);
      assert.deepEqual(
        readdirSync(store.dataDir).filter((f) => f.includes('.tmp-')),
        [],
        'no temporary key file left behind',
      );
      await server.kms().send(new CreateKeyCommand({}));
    } finally {
      await server.close();
    }
    // The key written is the store's: a restart opens it.
    const again = await store.start();
    await again.close();
  } finally {
    await store.cleanup();
  }
});

for (const fault of ['missing', 'empty'] as const) {
  test(`${fault === 'missing' ? 'a missing' : 'an empty'} root.key beside an existing store is refused as "Root key missing" naming the path, and nothing is written`, async () => {
    const store = persistentStore();
    try {
      const first = await store.start();
      await first.kms().send(new CreateKeyCommand({}));
      await first.close();
      const keyFile = join(store.dataDir, 'root.key');
      if (fault === 'missing') rmSync(keyFile);
      else writeFileSync(keyFile, '');
      const before = readdirSync(store.dataDir).sort();
      const dbBytes = STORE === 'sqlite' ? readFileSync(join(store.dataDir, 'symbolon.db')) : undefined;
      await assert.rejects(store.start(), (e: unknown) => {
        assert.ok(e instanceof RootKeyError, `threw ${String(e)}`);
        assert.match(e.message, /^Root key missing: /);
        assert.ok(e.message.includes(keyFile), 'the message names the path');
        assert.doesNotMatch(e.message, /does not match/);
        return true;
      });
      assert.deepEqual(readdirSync(store.dataDir).sort(), before, 'no file created');
      if (fault === 'missing') assert.equal(existsSync(keyFile), false, 'no new root.key');
      else assert.equal(readFileSync(keyFile, 'utf8'), '', 'the empty root.key is left as it was');
      if (dbBytes) assert.ok(readFileSync(join(store.dataDir, 'symbolon.db')).equals(dbBytes), 'symbolon.db unchanged');
    } finally {
      await store.cleanup();
    }
  });
}

test('the SQLite store files (symbolon.db, -wal, -shm) are mode 0600, and looser files from an older version are tightened', {
  skip: STORE !== 'sqlite' && 'SQLite only: PostgreSQL keeps no store files in the data directory',
}, async () => {
  const store = persistentStore();
  try {
    const server = await store.start();
    try {
      await server.kms().send(new CreateKeyCommand({}));
      for (const f of ['symbolon.db', 'symbolon.db-wal', 'symbolon.db-shm']) {
        const p = join(store.dataDir, f);
        assert.ok(existsSync(p), `${f} exists while running`);
        assert.equal(mode(p).toString(8), '600', f);
      }
    } finally {
      await server.close();
    }
    const { chmodSync } = await import('node:fs');
    chmodSync(join(store.dataDir, 'symbolon.db'), 0o644);
    const again = await store.start();
    try {
      assert.equal(mode(join(store.dataDir, 'symbolon.db')).toString(8), '600');
    } finally {
      await again.close();
    }
  } finally {
    await store.cleanup();
  }
});

test('master keys a crash left unrecorded are adopted or scheduled for deletion on the next start, each audited', async () => {
  const store = persistentStore();
  try {
    const first = await store.start();
    const db = first.custodian.deps.store.db;
    const kms = first.kms();
    // Back-dates keys past the cleanup's grace period (between starts: run against the store's files or schema).
    const ageKeys = (...keyIds: string[]): Promise<void> =>
      store.exec(`UPDATE kms_keys SET created_at = created_at - ${ORPHAN_GRACE_MS + 60_000} WHERE key_id IN (${keyIds.map((k) => `'${k}'`).join(', ')})`);
    const tagged = async (userId: string): Promise<string> =>
      (await kms.send(new CreateKeyCommand({ Description: 'wallet master key', Tags: [{ TagKey: USER_TAG, TagValue: userId }] }))).KeyMetadata!.KeyId!;
    const newUser = async (sub: string) =>
      (
        await insertWalletUserIfAbsent(db, {
          id: randomUUID(),
          issuer: 'https://issuer.example',
          sub,
          email: null,
          createdAt: Date.now(),
          masterKeyId: null,
          uid: null,
        })
      ).user;
    // A: the process stopped after CreateKey, before recording the key on A's row.
    const alice = await newUser('alice');
    const aliceKey = await tagged(alice.id);
    // B: B records one key; a second (a lost race whose discard never ran) is left over.
    const bob = await newUser('bob');
    const bobKey = await tagged(bob.id);
    assert.equal(await setWalletUserMasterKeyIfUnset(db, bob.id, bobKey), true);
    const bobSpare = await tagged(bob.id);
    // C: a key tagged for a user who does not exist.
    const ghostKey = await tagged(randomUUID());
    // An untagged key is none of the cleanup's business.
    const plainKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    // D: a key made a moment ago for a user who records another: a merged-away row being taken over by a
    // process that has not recorded its new key yet (src/wallet/users.ts adoptMergedAway). Left alone.
    const carol = await newUser('carol');
    const carolOld = await tagged(carol.id);
    assert.equal(await setWalletUserMasterKeyIfUnset(db, carol.id, carolOld), true);
    const carolNew = await tagged(carol.id);
    await first.close();
    // A to C were left by a crash an hour and more ago.
    await ageKeys(aliceKey, bobKey, bobSpare, ghostKey, plainKey);

    const second = await store.start();
    try {
      const db2 = second.custodian.deps.store.db;
      assert.equal((await findWalletUserById(db2, alice.id))?.masterKeyId, aliceKey, 'A adopts the key made for A');
      assert.equal((await findWalletUserById(db2, bob.id))?.masterKeyId, bobKey, 'B keeps its key');
      const state = async (keyId: string) => (await second.kms().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      assert.equal((await state(aliceKey)).KeyState, 'Enabled');
      assert.equal((await state(bobKey)).KeyState, 'Enabled');
      assert.equal((await state(plainKey)).KeyState, 'Enabled');
      assert.equal((await state(carolNew)).KeyState, 'Enabled', 'a key younger than the grace period may be in flight');
      assert.equal((await state(carolOld)).KeyState, 'Enabled');
      for (const keyId of [bobSpare, ghostKey]) {
        const meta = await state(keyId);
        assert.equal(meta.KeyState, 'PendingDeletion', keyId);
        assert.equal(meta.PendingDeletionWindowInDays, 7);
      }
      await second.custodian.audit.flush();
      const events = await db2
        .selectFrom('audit_events')
        .select(['operation', 'key_arn', 'user_agent', 'outcome'])
        .where('user_agent', '=', 'symbolon start-up: orphaned master keys')
        .orderBy('seq')
        .execute();
      const arn = (keyId: string) => `arn:aws:kms:${second.config.region}:${second.custodian.accountId}:key/${keyId}`;
      assert.deepEqual(
        events.map((e) => [e.operation, e.key_arn, e.outcome]).sort(),
        [
          ['AdoptOrphanedMasterKey', arn(aliceKey), 'allowed'],
          ['ScheduleKeyDeletion', arn(bobSpare), 'allowed'],
          ['ScheduleKeyDeletion', arn(ghostKey), 'allowed'],
        ].sort(),
      );
    } finally {
      await second.close();
    }
    await ageKeys(carolNew);
    // Done once: a third start cleans up only the key that has meanwhile grown old enough (D, never recorded).
    const third = await store.start();
    try {
      await third.custodian.audit.flush();
      const count = await third.custodian.deps.store.db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_agent', '=', 'symbolon start-up: orphaned master keys')
        .executeTakeFirstOrThrow();
      assert.equal(Number(count.n), 4);
      assert.equal((await third.kms().send(new DescribeKeyCommand({ KeyId: carolNew }))).KeyMetadata!.KeyState, 'PendingDeletion');
      assert.equal((await third.kms().send(new DescribeKeyCommand({ KeyId: carolOld }))).KeyMetadata!.KeyState, 'Enabled');
    } finally {
      await third.close();
    }
  } finally {
    await store.cleanup();
  }
});

test('a first start killed by a full file-size limit (a full disk) leaves a directory the next start starts from', {
  skip: process.platform === 'win32' && 'needs ulimit',
}, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-fullfs-'));
  const repo = join(import.meta.dirname, '..');
  // The CLI has no schema flag: on PostgreSQL a database of its own (a schema named only through
  // search_path would let Kysely's migrator see other runs' migration tables in other schemas).
  const database = DATABASE_URL ? `t_fullfs_${randomBytes(6).toString('hex')}` : undefined;
  const admin = DATABASE_URL ? new pg.Client({ connectionString: DATABASE_URL }) : undefined;
  if (admin && database) {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    SYMBOLON_LOG_LEVEL: 'info',
    // tsx's compile cache is written in place: a write cut short by the limit would break the retry, not the server.
    TSX_DISABLE_CACHE: '1',
    ...(DATABASE_URL && database ? { DATABASE_URL: databaseUrlFor(DATABASE_URL, database) } : {}),
  };
  try {
    // RLIMIT_FSIZE 0: the first write to any file kills the process (SIGXFSZ), as a full disk would stop it.
    const cli = `exec "${process.execPath}" bin/symbolon.js serve --port 0 --data "${dataDir}"`;
    const failed = await run(['-c', `ulimit -f 0; ${cli}`], repo, env, undefined);
    assert.ok(failed.code !== 0, `the limited start failed (exit ${failed.code}, signal ${failed.signal}):\n${failed.output.slice(-2000)}`);
    // Space is back: the next start starts.
    const retry = await run(['-c', cli], repo, env, /Symbolon listening on/);
    assert.equal(retry.code, 0, `exit ${retry.code}, signal ${retry.signal}; first run:\n${failed.output.slice(-1500)}\nretry:\n${retry.output.slice(-2500)}`);
    assert.match(readFileSync(join(dataDir, 'root.key'), 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.deepEqual(
      readdirSync(dataDir).filter((f) => f.includes('.tmp-')),
      [],
      'the cut-short temporary key file is gone',
    );
  } finally {
    if (admin && database) {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});

function databaseUrlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs bash with `args`; when `ready` shows in the output, sends SIGTERM. */
async function run(
  args: string[],
  cwd: string,
  env: Record<string, string>,
  ready: RegExp | undefined,
): Promise<{ code: number | null; signal: string | null; output: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn('bash', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (ready && ready.test(output)) {
      ready = undefined;
      child.kill('SIGTERM');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { code, signal, output };
}
