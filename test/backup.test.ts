/**
 * `symbolon backup create|verify|restore` (docs/backup.md) on the store of a
 * real `symbolon serve` process (SQLite, or PostgreSQL with DATABASE_URL):
 *
 *  - a backup taken while the server takes writes is one snapshot: the audit
 *    events it holds end exactly at the chain head its manifest signs, and
 *    every key row has its material;
 *  - verify checks hashes, counts and the signature, by the key `audit
 *    verify` prints (--public-key), and refuses another key;
 *  - refused with a clear error and nothing written: a flipped bit anywhere
 *    (header, rows, manifest, signature), a cut file, an unknown format
 *    version, a backup sealed under another root, a store that is not empty;
 *  - the store holds no column named for an unsealed secret, and a store
 *    that had one would not be backed up;
 *  - a restore is the same rows, in an empty store of the same dialect, and
 *    one that fails part-way (a duplicate row in the last table) leaves none.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { ADMIN, REGION } from './helpers/server.js';
import { createPgDatabase, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { backupCommand } from '../src/cli/backup.js';
import { auditCommand } from '../src/cli/audit.js';
import { assertNoPlaintextSecretColumns, BackupError, createBackup, parseBackup, restoreRows, seededRows, type StoreLocation } from '../src/storage/backup.js';
import { openStore } from '../src/storage/database.js';

const PG_URL = process.env.DATABASE_URL;
const ROOT = randomBytes(32).toString('hex');
const OTHER_ROOT = randomBytes(32).toString('hex');

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  let out = '';
  let err = '';
  const code = await backupCommand(args, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
  });
  return { code, out, err };
}

/** A fresh empty target: a data directory (SQLite) or a database of its own (PostgreSQL). */
async function emptyTarget(
  dirs: string[],
  drops: Array<() => Promise<void>>,
): Promise<{ args: string[]; env: Record<string, string | undefined>; where: StoreLocation }> {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-restore-'));
  dirs.push(dir);
  if (PG_URL) {
    const db = await createPgDatabase(PG_URL);
    drops.push(db.drop);
    return { args: ['--data', dir], env: { SYMBOLON_ROOT_KEY: ROOT, DATABASE_URL: db.url }, where: { databaseUrl: db.url } };
  }
  return { args: ['--data', dir], env: { SYMBOLON_ROOT_KEY: ROOT }, where: { sqliteFile: join(dir, 'symbolon.db') } };
}

/** Row counts of every table in the store at `where` (none when it does not exist). */
async function counts(where: StoreLocation): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if ('sqliteFile' in where) {
    if (!existsSync(where.sqliteFile)) return out;
    const db = new SQLite(where.sqliteFile, { readonly: true });
    try {
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>) {
        out[name] = (db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n;
      }
    } finally {
      db.close();
    }
    return out;
  }
  const client = new pg.Client({ connectionString: where.databaseUrl });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    for (const { table_name } of tables.rows) out[table_name] = Number((await client.query(`SELECT count(*) AS n FROM "${table_name}"`)).rows[0].n);
  } finally {
    await client.end();
  }
  return out;
}

describe(`symbolon backup (${PG_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  const dirs: string[] = [];
  const drops: Array<() => Promise<void>> = [];
  let server: ServeProcess;
  let kms: KMSClient;
  let source: { args: string[]; env: Record<string, string | undefined>; where: StoreLocation };
  let file: string;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symbolon-backup-'));
    dirs.push(dir);
    let databaseUrl: string | undefined;
    if (PG_URL) {
      const db = await createPgDatabase(PG_URL);
      drops.push(db.drop);
      databaseUrl = db.url;
    }
    server = await startServeProcess({ dataDir: dir, databaseUrl }, { SYMBOLON_ROOT_KEY: ROOT, SYMBOLON_AUDIT_CHECKPOINT_EVENTS: '20' });
    source = {
      args: ['--data', dir],
      env: { SYMBOLON_ROOT_KEY: ROOT, DATABASE_URL: databaseUrl },
      where: databaseUrl ? { databaseUrl } : { sqliteFile: join(dir, 'symbolon.db') },
    };
    kms = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    for (let i = 0; i < 5; i++) await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: `k${i}` }));
    file = join(dir, 'backup.jsonl');
  });

  after(async () => {
    kms?.destroy();
    await server?.stop();
    for (const d of drops) await d();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('a backup taken while the server writes is one snapshot, signed by the audit checkpoint key', async () => {
    // Writes keep landing while the backup reads.
    let writing = true;
    let created = 0;
    const writer = (async () => {
      while (writing) {
        await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: `during-${created}` }));
        created++;
      }
    })();
    while (created < 3) await new Promise((res) => setTimeout(res, 10));
    let r: Run;
    try {
      r = await cli(['create', '--out', file, ...source.args], source.env);
    } finally {
      writing = false;
    }
    await writer;
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Signed by the audit checkpoint key [0-9a-f]{32}/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const parsed = parseBackup(readFileSync(file));
    const table = (name: string) => parsed.tables.find((t) => t.name === name)!;
    // The snapshot's audit events end exactly at the head the manifest signs, with no gap.
    const events = table('audit_events');
    const seqs = events.rows.map((row) => row[events.columns.indexOf('seq')] as number).sort((a, b) => a - b);
    assert.equal(seqs.length, parsed.manifest.auditHead.seq);
    assert.equal(seqs.at(-1), parsed.manifest.auditHead.seq);
    // Every key row has its key material.
    const keys = table('kms_keys');
    const material = table('kms_key_material');
    assert.equal(material.rows.length, keys.rows.length);
    const creates = events.rows.filter(
      (row) => row[events.columns.indexOf('operation')] === 'CreateKey' && row[events.columns.indexOf('outcome')] === 'allowed',
    ).length;
    // A key and its material are one transaction; its durable audit event commits just after it, so a snapshot
    // taken between the two holds the key and not yet the event, never the event without the key.
    assert.ok(creates <= keys.rows.length && creates >= keys.rows.length - 1, `${creates} CreateKey events, ${keys.rows.length} keys`);
    assert.ok(keys.rows.length >= 8);
    // Writes went on meanwhile: the store holds keys the snapshot does not.
    assert.ok((await counts(source.where)).kms_keys! >= keys.rows.length);
    // Only sealed secrets: no column is named for a plaintext secret, and no table was left out.
    assert.deepEqual(
      parsed.manifest.tables
        .map((t) => t.name)
        .filter((n) => ['kms_key_material', 'iam_access_keys', 'wallets', 'symbolon_meta', 'audit_checkpoints'].includes(n))
        .sort(),
      ['audit_checkpoints', 'iam_access_keys', 'kms_key_material', 'symbolon_meta', 'wallets'],
    );
    assert.equal(parsed.manifest.migrations.length > 0, true);
  });

  test('verify checks hashes, counts and the signature, pinned to the key `audit verify` prints', async () => {
    const ok = await cli(['verify', file], {});
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /OK: every section hash, every count and the signature verify/);
    let auditOut = '';
    await auditCommand(['verify', '--json', ...(PG_URL ? [] : source.args)], {
      stdout: { write: (s: string) => (auditOut += s) },
      stderr: { write: () => true },
      env: { DATABASE_URL: source.env.DATABASE_URL },
    });
    const publicKey = (JSON.parse(auditOut) as { keys: Array<{ publicKey: string }> }).keys[0]!.publicKey;
    const pinned = await cli(['verify', file, '--public-key', publicKey], {});
    assert.equal(pinned.code, 0, pinned.err);
    const wrong = await cli(['verify', file, '--public-key', 'ab'.repeat(32)], {});
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /not the expected public key/);
  });

  test('a flipped bit anywhere, a cut file or an unknown version is refused, and restore writes nothing', async () => {
    const good = readFileSync(file);
    const text = good.toString('utf8');
    const lastLine = text.lastIndexOf('\n', text.length - 2) + 1;
    const positions = {
      header: 5,
      'first table header': text.indexOf('\n') + 5,
      'a row in the middle': Math.floor(good.length / 2),
      'the manifest': lastLine + 40,
      'the signature': text.lastIndexOf('"value":"') + 12,
      'the last byte': good.length - 1,
    };
    const target = await emptyTarget(dirs, drops);
    for (const [where, at] of Object.entries(positions)) {
      for (const bit of [0, 3, 6]) {
        const bad = Buffer.from(good);
        bad[at] = bad[at]! ^ (1 << bit);
        const f = join(dirs[0]!, `flipped-${at}-${bit}.jsonl`);
        writeFileSync(f, bad);
        const v = await cli(['verify', f], {});
        assert.equal(v.code, 1, `${where} bit ${bit}: ${v.out}`);
        assert.match(v.err, /refused: /);
        const r = await cli(['restore', f, ...target.args], target.env);
        assert.equal(r.code, 1, `${where} bit ${bit}`);
      }
    }
    for (const cut of [1, 100, Math.floor(good.length / 3), good.length - 1, good.length - 2, lastLine]) {
      const f = join(dirs[0]!, `cut-${cut}.jsonl`);
      writeFileSync(f, good.subarray(0, cut));
      const v = await cli(['verify', f], {});
      assert.equal(v.code, 1, `cut at ${cut}`);
      const r = await cli(['restore', f, ...target.args], target.env);
      assert.equal(r.code, 1);
    }
    const cutManifest = join(dirs[0]!, 'no-manifest.jsonl');
    writeFileSync(cutManifest, good.subarray(0, lastLine));
    assert.match((await cli(['verify', cutManifest], {})).err, /truncated \(its signed manifest, the last line, is missing\)/);
    const v2 = join(dirs[0]!, 'v2.jsonl');
    writeFileSync(v2, text.replace('"version":1}', '"version":2}'));
    const unknown = await cli(['restore', v2, ...target.args], target.env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /unsupported backup format version 2; this Symbolon reads version 1/);
    // Nothing was written anywhere: the target is still empty (no SQLite file, or no tables).
    assert.deepEqual(await counts(target.where), {});
  });

  test('a backup sealed under another root is refused before anything is written', async () => {
    const target = await emptyTarget(dirs, drops);
    const r = await cli(['restore', file, ...target.args], { ...target.env, SYMBOLON_ROOT_KEY: OTHER_ROOT });
    assert.equal(r.code, 1);
    assert.match(r.err, /refused: sealed under another root/);
    assert.deepEqual(await counts(target.where), {});
    // No root key at all (no SYMBOLON_ROOT_KEY, no DIR/root.key): refused, and no key file is generated.
    const none = await cli(['restore', file, ...target.args], { ...target.env, SYMBOLON_ROOT_KEY: undefined });
    assert.equal(none.code, 1);
    assert.match(none.err, /Root key missing/);
    assert.equal(existsSync(join(target.args[1]!, 'root.key')), false);
    assert.deepEqual(await counts(target.where), {});
  });

  test('a store that is not empty is refused and left as it was', async () => {
    const before = await counts(source.where);
    const r = await cli(['restore', file, ...source.args], source.env);
    assert.equal(r.code, 1);
    assert.match(r.err, /the target store is not empty/);
    const afterCounts = await counts(source.where);
    // The running server may have appended its own events meanwhile; the keys did not change.
    assert.equal(afterCounts.kms_keys, before.kms_keys);
  });

  test('restore into an empty store gives back every row; a second restore over it is refused', async () => {
    const target = await emptyTarget(dirs, drops);
    const r = await cli(['restore', file, ...target.args], target.env);
    assert.equal(r.code, 0, r.err);
    const parsed = parseBackup(readFileSync(file));
    const restored = await counts(target.where);
    for (const t of parsed.manifest.tables) assert.equal(restored[t.name], t.rows, t.name);
    const again = await cli(['restore', file, ...target.args], target.env);
    assert.equal(again.code, 1);
    assert.match(again.err, /not empty/);
    const second = await counts(target.where);
    assert.deepEqual(second, restored);
  });

  test('a restore that fails part-way leaves nothing: one transaction', async () => {
    const target = await emptyTarget(dirs, drops);
    const parsed = parseBackup(readFileSync(file));
    // The last table with rows gets a duplicate row: its primary key fails after every other table went in.
    const last = [...parsed.tables].reverse().find((t) => t.rows.length > 0)!;
    last.rows.push(last.rows[0]!);
    const seeded = await seededRows(async (sqliteFile) => (await openStore({ sqliteFile })).close());
    const store = await openStore('sqliteFile' in target.where ? { sqliteFile: target.where.sqliteFile } : { databaseUrl: target.where.databaseUrl });
    await store.close();
    await assert.rejects(restoreRows(target.where, parsed, seeded));
    const after = await counts(target.where);
    for (const [table, n] of Object.entries(after)) {
      if (table.startsWith('kysely_')) continue;
      assert.equal(n, table === 'audit_chain_head' ? 1 : 0, `${table} after a failed restore`);
    }
    // And the store still counts as empty: a good restore into it is accepted.
    const r = await cli(['restore', file, ...target.args], target.env);
    assert.equal(r.code, 0, r.err);
  });

  test('no column holds an unsealed secret; a store with one is not backed up', async () => {
    assert.throws(() => assertNoPlaintextSecretColumns([{ name: 'wallets', columns: ['id', 'private_key'] }]), BackupError);
    assert.throws(() => assertNoPlaintextSecretColumns([{ name: 'x', columns: ['share_b'] }]), /x\.share_b is named for a secret/);
    assert.doesNotThrow(() =>
      assertNoPlaintextSecretColumns([
        { name: 'x', columns: ['sealed_secret', 'encrypted_private_key', 'share_b_sealed', 'token_sha256', 'code_hash', 'sealed'] },
      ]),
    );
    if (PG_URL) return;
    // A copy of the store with a plaintext column added is refused, and no file is left.
    const dir = mkdtempSync(join(tmpdir(), 'symbolon-plain-'));
    dirs.push(dir);
    const copy = join(dir, 'symbolon.db');
    const src = new SQLite((source.where as { sqliteFile: string }).sqliteFile, { readonly: true });
    await src.backup(copy);
    src.close();
    const db = new SQLite(copy);
    db.exec('ALTER TABLE wallets ADD COLUMN private_key BLOB');
    db.close();
    const out = join(dir, 'plain.jsonl');
    await assert.rejects(
      createBackup({ from: { sqliteFile: copy }, out, now: Date.now(), sign: () => assert.fail('must not sign') }),
      /wallets\.private_key is named for a secret/,
    );
    assert.equal(existsSync(out), false);
  });
});
