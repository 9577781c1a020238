/**
 * The hash-chained audit trail, end to end: real requests through a real
 * server and the AWS SDK leave one event each; then the database is edited the
 * way an attacker with write access would (edit a field, delete an event,
 * insert a forged one, swap two, rewrite a run with recomputed hashes, cut the
 * end, forge a checkpoint) and `symbolon audit verify` must name the first bad
 * event each time. Also: no event holds a message, digest or plaintext that was
 * sent; two custodians append to one chain; a failed write is retried without
 * losing events. Runs on SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { sql } from 'kysely';
import { ed25519 } from '@noble/curves/ed25519.js';
import { CreateKeyCommand, DescribeKeyCommand, EncryptCommand, SignCommand } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from './helpers/server.js';
import { openStore, dropPgSchema, type Store } from '../src/storage/database.js';
import { accessDenied } from '../src/aws/errors.js';
import type { Authorizer } from '../src/kms/context.js';
import { auditCommand } from '../src/cli/audit.js';
import { canonicalJson } from '../src/crypto/canonical-json.js';
import { canonicalEvent, canonicalEventGeneric, chainHash, toChained as prepare, type ChainedEvent } from '../src/audit/chain.js';
import { spawnSync } from 'node:child_process';
import { startServeProcess } from './helpers/serve-process.js';
import { KMSClient } from '@aws-sdk/client-kms';
import { ADMIN, REGION } from './helpers/server.js';
import fc from 'fast-check';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { checkpointKeyId, checkpointMessage } from '../src/audit/checkpoint-key.js';
import { openAuditLog } from '../src/audit/audit-log.js';
import { DEFAULT_AUDIT_SETTINGS } from '../src/audit/settings.js';
import { KeyRootOfTrust } from '../src/root/root-of-trust.js';
import type { AuditEvent } from '../src/audit/event.js';
import type { AuditEventTable } from '../src/storage/tables.js';

const PG_URL = process.env.DATABASE_URL;

/** Denies Sign of RAW messages, standing in for a key policy that does. */
const denyRawSign: Authorizer = {
  async authorize({ caller, action, key, conditions }) {
    if (action === 'kms:Sign' && conditions['kms:MessageType'] === 'RAW') {
      throw accessDenied(
        `User: ${caller.arn} is not authorized to perform: kms:Sign on resource: ${key?.keyId ?? '*'} because no resource-based policy allows the kms:Sign action`,
      );
    }
  },
};

interface Place {
  dataDir: string;
  schema: string | undefined;
}

function newPlace(): Place {
  return { dataDir: mkdtempSync(join(tmpdir(), 'symbolon-audit-')), schema: PG_URL ? `t_audit_${randomBytes(5).toString('hex')}` : undefined };
}

async function dropPlace(p: Place): Promise<void> {
  if (PG_URL && p.schema) await dropPgSchema(PG_URL, p.schema);
  rmSync(p.dataDir, { recursive: true, force: true });
}

function openPlace(p: Place): Promise<Store> {
  return PG_URL ? openStore({ databaseUrl: PG_URL, pgSchema: p.schema }) : openStore({ sqliteFile: join(p.dataDir, 'symbolon.db') });
}

async function cli(
  p: Place,
  args: string[],
  follow?: { signal: AbortSignal; onOutput: (out: string) => void },
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const [sub, ...rest] = args;
  const code = await auditCommand([sub!, ...(PG_URL ? ['--schema', p.schema!] : ['--data', p.dataDir]), ...rest], {
    stdout: {
      write: (s: string) => {
        out += s;
        follow?.onOutput(out);
      },
    },
    stderr: { write: (s: string) => (err += s) },
    env: PG_URL ? { DATABASE_URL: PG_URL } : {},
    ...(follow ? { signal: follow.signal } : {}),
  });
  return { code, out, err };
}

async function row(db: Store['db'], seq: number): Promise<AuditEventTable> {
  const r = await db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
  return { ...r, seq: Number(r.seq), time: Number(r.time) };
}

function toChained(r: AuditEventTable): ChainedEvent {
  return {
    seq: r.seq,
    time: r.time,
    requestId: r.request_id,
    service: r.service,
    operation: r.operation,
    principalArn: r.principal_arn,
    principalTags: JSON.parse(r.principal_tags),
    accessKeyId: r.access_key_id,
    sourceIp: r.source_ip,
    userAgent: r.user_agent,
    keyArn: r.key_arn,
    encryptionContext: r.encryption_context === null ? null : JSON.parse(r.encryption_context),
    signingAlgorithm: r.signing_algorithm,
    outcome: r.outcome,
    errorCode: r.error_code,
  };
}

/** Adds `delta` to the sequence number of every event at or after `from` (via negatives: seq is the primary key). */
async function renumber(db: Store['db'], from: number, delta: number): Promise<void> {
  await db
    .updateTable('audit_events')
    .set({ seq: sql<number>`-(seq + ${delta})` })
    .where('seq', '>=', from)
    .execute();
  await db.updateTable('audit_events').set({ seq: sql<number>`-seq` }).where('seq', '<', 0).execute();
}

async function allRows(db: Store['db']): Promise<AuditEventTable[]> {
  const rows = await db.selectFrom('audit_events').selectAll().orderBy('seq').execute();
  return rows.map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
}

/** Writes `rows` back over the whole table and the head: undoes a tampering step. */
async function restore(db: Store['db'], rows: AuditEventTable[], head: { seq: number; hash: string }, checkpoints: unknown[], keys: unknown[]): Promise<void> {
  await db.deleteFrom('audit_events').execute();
  for (const r of rows) await db.insertInto('audit_events').values(r).execute();
  await db.updateTable('audit_chain_head').set({ seq: head.seq, hash: head.hash }).where('id', '=', 1).execute();
  await db.deleteFrom('audit_checkpoints').execute();
  for (const c of checkpoints)
    await db
      .insertInto('audit_checkpoints')
      .values(c as never)
      .execute();
  await db.deleteFrom('audit_checkpoint_keys').execute();
  for (const k of keys)
    await db
      .insertInto('audit_checkpoint_keys')
      .values(k as never)
      .execute();
}

describe('audit trail of a real server', () => {
  const place = newPlace();
  let server: TestServer;
  let store: Store;
  let publicKey: string;
  const sent: Uint8Array[] = [];
  const requestIds: string[] = [];
  let signKeyArn = '';
  let deniedRequestId = '';
  let notFoundRequestId = '';
  let encryptRequestId = '';
  let original: { rows: AuditEventTable[]; head: { seq: number; hash: string }; checkpoints: unknown[]; keys: unknown[] };

  before(async () => {
    server = await startTestServer({
      dataDir: place.dataDir,
      keepSchema: true,
      ...(place.schema ? { pgSchema: place.schema } : {}),
      authorizer: denyRawSign,
      auditSettings: { flushIntervalMs: 2, checkpointEvents: 4 },
    });
    publicKey = (server.custodian.audit as unknown as { checkpointPublicKey: string }).checkpointPublicKey;
    const kms = server.kms();
    const track = <T extends { $metadata: { requestId?: string } }>(r: T): T => {
      requestIds.push(r.$metadata.requestId!);
      return r;
    };
    const created = track(await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' })));
    signKeyArn = created.KeyMetadata!.Arn!;
    for (let i = 0; i < 5; i++) {
      const digest = createHash('sha256')
        .update(`message ${i} ${randomBytes(8).toString('hex')}`)
        .digest();
      sent.push(digest);
      track(await kms.send(new SignCommand({ KeyId: signKeyArn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })));
      await server.custodian.audit.flush();
    }
    const raw = randomBytes(48);
    sent.push(raw, createHash('sha256').update(raw).digest());
    const denied = await kms
      .send(new SignCommand({ KeyId: signKeyArn, Message: raw, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }))
      .catch((e: unknown) => e);
    assert.equal((denied as Error).name, 'AccessDeniedException');
    deniedRequestId = (denied as { $metadata: { requestId: string } }).$metadata.requestId;
    requestIds.push(deniedRequestId);
    const missing = await kms
      .send(new SignCommand({ KeyId: '11111111-2222-3333-4444-555555555555', Message: sent[0], MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))
      .catch((e: unknown) => e);
    assert.equal((missing as Error).name, 'NotFoundException');
    notFoundRequestId = (missing as { $metadata: { requestId: string } }).$metadata.requestId;
    requestIds.push(notFoundRequestId);
    const sym = track(await kms.send(new CreateKeyCommand({})));
    const plaintext = randomBytes(40);
    sent.push(plaintext);
    const enc = track(
      await kms.send(
        new EncryptCommand({ KeyId: sym.KeyMetadata!.KeyId!, Plaintext: plaintext, EncryptionContext: { tenant: 'acme', purpose: 'audit-test' } }),
      ),
    );
    encryptRequestId = enc.$metadata.requestId!;
    sent.push(enc.CiphertextBlob!);
    track(await kms.send(new DescribeKeyCommand({ KeyId: signKeyArn })));
    await server.close(); // flushes and signs a final checkpoint
    store = await openPlace(place);
    const db = store.db;
    original = {
      rows: await allRows(db),
      head: await db.selectFrom('audit_chain_head').select(['seq', 'hash']).executeTakeFirstOrThrow(),
      checkpoints: await db.selectFrom('audit_checkpoints').selectAll().execute(),
      keys: await db.selectFrom('audit_checkpoint_keys').selectAll().execute(),
    };
  });

  after(async () => {
    await store?.close();
    await dropPlace(place);
  });

  const seqOf = (requestId: string): number => original.rows.find((r) => r.request_id === requestId)!.seq;
  const undo = () => restore(store.db, original.rows, original.head, original.checkpoints, original.keys);

  test('every authenticated request (allowed, denied, failed) left exactly one event, in order', async () => {
    // Between the process's own ProcessStarted and ProcessStopped (a clean stop).
    const first = original.rows[0]!;
    const last = original.rows[original.rows.length - 1]!;
    assert.equal(first.operation, 'ProcessStarted');
    assert.equal(last.operation, 'ProcessStopped');
    assert.equal(first.request_id, last.request_id, 'one process started and stopped');
    const requests = original.rows.slice(1, -1);
    assert.equal(requests.length, requestIds.length);
    assert.deepEqual(
      requests.map((r) => r.request_id),
      requestIds,
    );
    assert.deepEqual(
      original.rows.map((r) => r.seq),
      original.rows.map((_, i) => i + 1),
    );
  });

  test('an intact log verifies, with every checkpoint, and prints the checkpoint public key', async () => {
    const { code, out } = await cli(place, ['verify']);
    assert.equal(code, 0, out);
    assert.match(out, /OK: every event hash and every checkpoint signature verifies/);
    assert.ok(out.includes(publicKey), 'the public key is published in the output');
    assert.match(out, new RegExp(`${original.rows.length} events verified`));
    const json = JSON.parse((await cli(place, ['verify', '--json'])).out);
    assert.equal(json.ok, true);
    assert.ok(json.checkpoints.total >= 3, `several checkpoints (${json.checkpoints.total})`);
    assert.equal(json.checkpoints.verified, json.checkpoints.total);
    assert.equal(json.checkpoints.last.seq, original.rows.length, 'the final checkpoint covers the last event');
    assert.equal(json.unsignedEvents, 0);
    assert.equal((await cli(place, ['verify', '--public-key', publicKey])).code, 0);
  });

  test('events record who, what, where and how it ended', async () => {
    const { code, out } = await cli(place, ['query', '--json']);
    assert.equal(code, 0);
    const events = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const denied = events.find((e) => e.requestId === deniedRequestId);
    assert.equal(denied.operation, 'Sign');
    assert.equal(denied.outcome, 'denied');
    assert.equal(denied.errorCode, 'AccessDeniedException');
    assert.equal(denied.keyArn, signKeyArn);
    assert.equal(denied.signingAlgorithm, 'ECDSA_SHA_256');
    assert.equal(denied.principalArn, `arn:aws:iam::${server.custodian.accountId}:root`);
    assert.equal(denied.sourceIp, '127.0.0.1');
    assert.match(denied.userAgent, /aws-sdk-js/);
    const failed = events.find((e) => e.requestId === notFoundRequestId);
    assert.equal(failed.outcome, 'error');
    assert.equal(failed.errorCode, 'NotFoundException');
    const enc = events.find((e) => e.requestId === encryptRequestId);
    assert.deepEqual(enc.encryptionContext, { tenant: 'acme', purpose: 'audit-test' });
    assert.equal(enc.outcome, 'allowed');
  });

  test('no event holds a message, digest, plaintext or ciphertext that was sent', async () => {
    const dump = JSON.stringify(await allRows(store.db)) + JSON.stringify(await store.db.selectFrom('audit_checkpoints').selectAll().execute());
    assert.ok(sent.length >= 9);
    for (const bytes of sent) {
      const b = Buffer.from(bytes);
      for (const form of [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url')]) {
        assert.ok(!dump.includes(form), 'a sent payload appears in the audit trail');
      }
      // Any 12-byte window, to catch a prefix or a truncation.
      assert.ok(!dump.includes(b.subarray(0, 12).toString('hex')));
    }
  });

  test('query filters by key (ARN or id), principal, operation and time; tail prints the newest', async () => {
    const keyId = signKeyArn.split('/').pop()!;
    const byArn = (await cli(place, ['query', '--key', signKeyArn, '--json'])).out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const byId = (await cli(place, ['query', '--key', keyId, '--json'])).out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(byId, byArn);
    // CreateKey, 5 Sign, the denied Sign, DescribeKey.
    assert.equal(byArn.length, 8);
    assert.ok(byArn.every((e) => e.keyArn === signKeyArn));
    const signs = (await cli(place, ['query', '--operation', 'Sign', '--principal', `arn:aws:iam::${server.custodian.accountId}:root`, '--json'])).out
      .trim()
      .split('\n');
    assert.equal(signs.length, 7);
    const future = (await cli(place, ['query', '--since', new Date(Date.now() + 3_600_000).toISOString()])).out;
    assert.equal(future, '');
    const since = new Date(original.rows[3]!.time).toISOString();
    const recent = (await cli(place, ['query', '--since', since, '--json'])).out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(recent.length >= 1 && recent.every((e) => Date.parse(e.time) >= Date.parse(since)));
    const tail = await cli(place, ['tail', '-n', '2']);
    const lines = tail.out.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, new RegExp(`^\\s*${original.rows.length - 1}\\s.*DescribeKey\\s+allowed`));
    assert.match(lines[1]!, new RegExp(`^\\s*${original.rows.length}\\s.*ProcessStopped\\s+allowed`));
    const bad = await cli(place, ['query', '--since', 'yesterday']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--since must be an ISO 8601 time/);
  });

  test('tail --follow prints events as they are appended', async () => {
    const last = original.rows.at(-1)!;
    const stop = new AbortController();
    let appended = false;
    let printedFirst: () => void;
    const first = new Promise<void>((r) => (printedFirst = r));
    const following = cli(place, ['tail', '-n', '1', '--follow', '--interval', '20'], {
      signal: stop.signal,
      onOutput: (out) => {
        printedFirst();
        if (out.includes('followed-request')) stop.abort();
      },
    });
    try {
      await first;
      await store.db
        .insertInto('audit_events')
        .values({ ...last, seq: last.seq + 1, request_id: 'followed-request' })
        .execute();
      appended = true;
      const timeout = setTimeout(() => stop.abort(), 10_000);
      const { code, out } = await following;
      clearTimeout(timeout);
      assert.equal(code, 0);
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, new RegExp(`request=${last.request_id}$`));
      assert.match(lines[1]!, /^\s*\d+\s.*request=followed-request$/);
    } finally {
      stop.abort();
      await following;
      if (appended) await undo();
    }
  });

  test('an edited field is named: the denied Sign rewritten as allowed', async () => {
    const seq = seqOf(deniedRequestId);
    await store.db.updateTable('audit_events').set({ outcome: 'allowed', error_code: null }).where('seq', '=', seq).execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, new RegExp(`TAMPERED at event ${seq} \\(edited\\): event ${seq} was edited`));
    } finally {
      await undo();
    }
    // Editing a map field (the principal's tags) is caught the same way.
    await store.db.updateTable('audit_events').set({ principal_tags: '{"Environment":"production"}' }).where('seq', '=', 2).execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, /TAMPERED at event 2 \(edited\)/);
    } finally {
      await undo();
    }
    assert.equal((await cli(place, ['verify'])).code, 0, 'restored');
  });

  test('a removed event is named, with or without the later ones renumbered', async () => {
    const seq = seqOf(notFoundRequestId);
    await store.db.deleteFrom('audit_events').where('seq', '=', seq).execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, new RegExp(`TAMPERED at event ${seq} \\(removed\\): event ${seq} was removed`));
      await renumber(store.db, seq + 1, -1);
      const again = await cli(place, ['verify']);
      assert.equal(again.code, 1);
      assert.match(again.out, new RegExp(`TAMPERED at event ${seq} \\(removed\\): event ${seq} was removed and the events after it were renumbered`));
    } finally {
      await undo();
    }
  });

  test('an inserted event is named: a forged "allowed" event with a correctly computed hash, the later events renumbered', async () => {
    const at = seqOf(deniedRequestId);
    const before = await row(store.db, at - 1);
    const forged: ChainedEvent = { ...toChained(before), seq: at, requestId: 'forged-request', operation: 'Sign', outcome: 'allowed', errorCode: null };
    const hash = chainHash(before.hash, forged);
    await renumber(store.db, at, 1);
    await store.db
      .insertInto('audit_events')
      .values({
        seq: at,
        time: forged.time,
        request_id: forged.requestId,
        service: forged.service,
        operation: forged.operation,
        principal_arn: forged.principalArn,
        principal_tags: canonicalJson(forged.principalTags),
        access_key_id: forged.accessKeyId,
        source_ip: forged.sourceIp,
        user_agent: forged.userAgent,
        key_arn: forged.keyArn,
        encryption_context: null,
        signing_algorithm: forged.signingAlgorithm,
        outcome: forged.outcome,
        error_code: null,
        hash,
      })
      .execute();
    await store.db
      .updateTable('audit_chain_head')
      .set({ seq: original.head.seq + 1 })
      .execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, new RegExp(`TAMPERED at event ${at} \\(inserted\\): event ${at} was inserted`));
    } finally {
      await undo();
    }
    // A forged event appended after the end, hash and all, without moving the head.
    const last = original.rows.at(-1)!;
    const tailForged: ChainedEvent = { ...toChained(last), seq: last.seq + 1, requestId: 'forged-tail' };
    await store.db
      .insertInto('audit_events')
      .values({ ...last, seq: last.seq + 1, request_id: 'forged-tail', hash: chainHash(last.hash, tailForged) })
      .execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, new RegExp(`TAMPERED at event ${last.seq + 1} \\(inserted\\)`));
    } finally {
      await undo();
    }
  });

  test('two swapped events are named (whole rows, and fields only)', async () => {
    const a = 3;
    const b = 6;
    await store.db.updateTable('audit_events').set({ seq: -1 }).where('seq', '=', a).execute();
    await store.db.updateTable('audit_events').set({ seq: a }).where('seq', '=', b).execute();
    await store.db.updateTable('audit_events').set({ seq: b }).where('seq', '=', -1).execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, new RegExp(`TAMPERED at event ${a} \\(reordered\\): event ${a} was reordered: events ${a} and ${b} were swapped`));
    } finally {
      await undo();
    }
    // Adjacent rows.
    await store.db.updateTable('audit_events').set({ seq: -1 }).where('seq', '=', 4).execute();
    await store.db.updateTable('audit_events').set({ seq: 4 }).where('seq', '=', 5).execute();
    await store.db.updateTable('audit_events').set({ seq: 5 }).where('seq', '=', -1).execute();
    try {
      const { out } = await cli(place, ['verify']);
      assert.match(out, /TAMPERED at event 4 \(reordered\): event 4 was reordered: events 4 and 5 were swapped/);
    } finally {
      await undo();
    }
    // The fields moved, the hashes left in place.
    const ra = await row(store.db, 2);
    const rb = await row(store.db, 7);
    const fields = ({ seq: _s, hash: _h, ...rest }: AuditEventTable) => rest;
    await store.db.updateTable('audit_events').set(fields(rb)).where('seq', '=', 2).execute();
    await store.db.updateTable('audit_events').set(fields(ra)).where('seq', '=', 7).execute();
    try {
      const { out } = await cli(place, ['verify']);
      assert.match(out, /TAMPERED at event 2 \(reordered\): event 2 was reordered: its fields are stored in event 7/);
    } finally {
      await undo();
    }
  });

  test('a run rewritten with recomputed hashes is caught by the next signed checkpoint', async () => {
    const edit = 6;
    const rows = await allRows(store.db);
    let prev = rows[edit - 2]!.hash;
    for (const r of rows.slice(edit - 1)) {
      const c = toChained(r);
      if (r.seq === edit) c.outcome = 'denied';
      const hash = chainHash(prev, c);
      await store.db.updateTable('audit_events').set({ outcome: c.outcome, hash }).where('seq', '=', r.seq).execute();
      prev = hash;
    }
    await store.db.updateTable('audit_chain_head').set({ hash: prev }).execute();
    try {
      const { code, out } = await cli(place, ['verify', '--json']);
      assert.equal(code, 1);
      const report = JSON.parse(out);
      assert.equal(report.problem.kind, 'rewritten');
      const m = /events? (\d+)(?:–(\d+))? (?:was|were) rewritten/.exec(report.problem.message);
      assert.ok(m, report.problem.message);
      const [from, to] = [Number(m[1]), Number(m[2] ?? m[1])];
      assert.ok(from <= edit && edit <= to, `the named range ${from}–${to} holds event ${edit}`);
      assert.equal(report.problem.seq, Number(m[1]));

      // The same rewrite with every checkpoint re-signed by the attacker's own key
      // passes a verify that trusts the stored key, but not one pinned to the published key.
      const attacker = ed25519.utils.randomSecretKey();
      const attackerPub = ed25519.getPublicKey(attacker);
      const keyId = checkpointKeyId(attackerPub);
      await store.db
        .insertInto('audit_checkpoint_keys')
        .values({ key_id: keyId, algorithm: 'Ed25519', public_key: Buffer.from(attackerPub).toString('hex'), created_at: Date.now() })
        .execute();
      const hashes = new Map((await allRows(store.db)).map((r) => [r.seq, r.hash]));
      for (const cp of await store.db.selectFrom('audit_checkpoints').selectAll().execute()) {
        const statement = { seq: Number(cp.seq), hash: hashes.get(Number(cp.seq))!, time: Number(cp.time), keyId };
        const signature = Buffer.from(ed25519.sign(checkpointMessage(statement), attacker)).toString('hex');
        await store.db.updateTable('audit_checkpoints').set({ hash: statement.hash, key_id: keyId, signature }).where('seq', '=', cp.seq).execute();
      }
      const pinned = await cli(place, ['verify', '--public-key', publicKey]);
      assert.equal(pinned.code, 1);
      assert.match(pinned.out, /\(unknown-checkpoint-key\): checkpoint at event \d+ is signed by key/);
    } finally {
      await undo();
    }
  });

  test('a forged or altered checkpoint is detected', async () => {
    const cps = await store.db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute();
    const cp = cps[1]!;
    const sig = Buffer.from(cp.signature, 'hex');
    sig[10]! ^= 0x01;
    await store.db
      .updateTable('audit_checkpoints')
      .set({ signature: sig.toString('hex') })
      .where('seq', '=', cp.seq)
      .execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, new RegExp(`TAMPERED at event ${cp.seq} \\(forged-checkpoint\\): checkpoint at event ${cp.seq}: its signature does not verify`));
    } finally {
      await undo();
    }
    // A checkpoint moved to another head: its signature no longer covers it.
    await store.db
      .updateTable('audit_checkpoints')
      .set({ time: Number(cp.time) + 1 })
      .where('seq', '=', cp.seq)
      .execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, /\(forged-checkpoint\)/);
    } finally {
      await undo();
    }
  });

  test('the symbolon binary runs audit verify with its exit codes', () => {
    const args = ['bin/symbolon.js', 'audit', 'verify', ...(PG_URL ? ['--schema', place.schema!] : ['--data', place.dataDir])];
    const env = { ...process.env, NODE_NO_WARNINGS: '1', ...(PG_URL ? {} : { DATABASE_URL: '' }) };
    const ok = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /OK: every event hash/);
    const missing = spawnSync(process.execPath, ['bin/symbolon.js', 'audit', 'verify', '--data', join(place.dataDir, 'nowhere')], {
      env: { ...env, DATABASE_URL: '' },
      encoding: 'utf8',
    });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no store at .*nowhere/);
  });

  test('events cut from the end are named, even when the head is moved back too', async () => {
    const n = original.rows.length;
    await store.db
      .deleteFrom('audit_events')
      .where('seq', '>', n - 2)
      .execute();
    try {
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 1);
      assert.match(out, new RegExp(`TAMPERED at event ${n - 1} \\(truncated\\): events ${n - 1}–${n} were removed from the end`));
      await store.db
        .updateTable('audit_chain_head')
        .set({ seq: n - 2, hash: original.rows[n - 3]!.hash })
        .execute();
      const again = await cli(place, ['verify']);
      assert.equal(again.code, 1);
      assert.match(again.out, new RegExp(`TAMPERED at event ${n - 1} \\(truncated\\).*a signed checkpoint covers event ${n}`));
    } finally {
      await undo();
    }
    assert.equal((await cli(place, ['verify'])).code, 0);
  });
});

describe('two custodians on one store append to one chain', () => {
  test(`concurrent Sign requests through two servers (${PG_URL ? 'two in-process custodians on one PostgreSQL schema' : 'this process and a symbolon serve process on one SQLite file'}) verify as one chain with every request once`, async () => {
    const place = newPlace();
    const settings = { flushIntervalMs: 1, batchSize: 7, checkpointEvents: 10 };
    const common = { dataDir: place.dataDir, keepSchema: true, ...(place.schema ? { pgSchema: place.schema } : {}), auditSettings: settings };
    const closers: Array<() => Promise<unknown>> = [];
    let closed = false;
    try {
      const s1 = await startTestServer(common);
      closers.push(() => s1.close());
      let k2: KMSClient;
      if (PG_URL) {
        const s2 = await startTestServer(common);
        closers.push(() => s2.close());
        k2 = s2.kms();
      } else {
        const p2 = await startServeProcess(
          { dataDir: place.dataDir, role: 'kms' },
          {
            SYMBOLON_AUDIT_FLUSH_MS: String(settings.flushIntervalMs),
            SYMBOLON_AUDIT_BATCH_SIZE: String(settings.batchSize),
            SYMBOLON_AUDIT_CHECKPOINT_EVENTS: String(settings.checkpointEvents),
          },
        );
        k2 = new KMSClient({ endpoint: p2.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
        closers.push(async () => {
          k2.destroy();
          assert.equal(await p2.stop(), 0, 'symbolon serve shuts down cleanly (flushing its log)');
        });
      }
      const k1 = s1.kms();
      const created = await k1.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
      const ids: string[] = [created.$metadata.requestId!];
      const digest = createHash('sha256').update('two writers').digest();
      const sign = (k: KMSClient) =>
        k.send(new SignCommand({ KeyId: created.KeyMetadata!.KeyId!, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
      for (let round = 0; round < 4; round++) {
        const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(i % 2 ? k1 : k2)));
        ids.push(...replies.map((r) => r.$metadata.requestId!));
      }
      await Promise.all(closers.map((c) => c()));
      closed = true;
      const { code, out } = await cli(place, ['verify', '--json']);
      const report = JSON.parse(out);
      assert.equal(code, 0, out);
      // Each process's ProcessStarted and ProcessStopped are on the chain too.
      assert.equal(report.eventsVerified, ids.length + 4);
      assert.equal(report.keys.length, 1, 'both processes sign with the one checkpoint key');
      // Every 10 events or so (a batch may carry it past 10), and a final one on shutdown.
      assert.ok(report.checkpoints.total >= 5, `checkpoints: ${report.checkpoints.total}`);
      assert.equal(report.checkpoints.verified, report.checkpoints.total);
      assert.equal(report.checkpoints.last.seq, ids.length + 4);
      assert.equal(report.processes.started, 2);
      assert.deepEqual(report.processes.withoutCleanStop, [], 'both stopped cleanly');
      const logged = (await cli(place, ['query', '--json', '--limit', '1000'])).out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.service !== 'audit')
        .map((e) => e.requestId);
      assert.deepEqual([...logged].sort(), [...ids].sort());
    } finally {
      if (!closed) await Promise.allSettled(closers.map((c) => c()));
      await dropPlace(place);
    }
  });
});

describe('audit log writes that fail', () => {
  test('are retried with the events kept; a warning names no field; a full buffer is recorded as EventsDropped', async () => {
    const place = newPlace();
    const store = await openPlace(place);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const log = await openAuditLog({
      store,
      root: new KeyRootOfTrust(new Uint8Array(randomBytes(32)), 'test root'),
      logger,
      settings: { ...DEFAULT_AUDIT_SETTINGS, flushIntervalMs: 5, retryMaxMs: 40, maxBuffered: 6 },
    });
    const secretish = `ua-${randomBytes(12).toString('hex')}`;
    const event = (i: number): AuditEvent => ({
      time: Date.now(),
      requestId: `req-${i}`,
      service: 'kms',
      operation: 'Sign',
      principalArn: 'arn:aws:iam::123456789012:user/app',
      principalTags: {},
      accessKeyId: 'AKIAEXAMPLE',
      sourceIp: '127.0.0.1',
      userAgent: secretish,
      keyArn: null,
      encryptionContext: null,
      signingAlgorithm: 'ECDSA_SHA_256',
      outcome: 'allowed',
      errorCode: null,
    });
    try {
      for (let i = 0; i < 3; i++) log.record(event(i));
      await log.flush();
      await sql`ALTER TABLE audit_events RENAME TO audit_events_away`.execute(store.db);
      for (let i = 3; i < 11; i++) log.record(event(i));
      assert.equal(log.buffered, 6, 'the buffer holds at most maxBuffered events');
      await assert.rejects(log.flush());
      assert.equal(log.buffered, 6, 'a failed write keeps its events');
      const deadline = Date.now() + 5000;
      while (!lines.some((l) => l.includes('audit log write failed')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const warning = lines.find((l) => l.includes('audit log write failed'));
      assert.ok(warning, 'a warning is logged');
      assert.equal(JSON.parse(warning).level, 40);
      assert.ok(!warning.includes(secretish) && !warning.includes('req-'), 'the warning carries no event field');
      await sql`ALTER TABLE audit_events_away RENAME TO audit_events`.execute(store.db);
      while (log.buffered > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(log.buffered, 0, 'the retry wrote them');
      await log.close();
      const rows = await allRows(store.db);
      assert.deepEqual(
        rows.map((r) => r.request_id),
        [`process-${log.instance}`, 'req-0', 'req-1', 'req-2', 'dropped-2', 'req-3', 'req-4', 'req-5', 'req-6', 'req-7', 'req-8', `process-${log.instance}`],
      );
      assert.equal(rows[4]!.operation, 'EventsDropped');
      assert.equal(rows[4]!.error_code, 'AuditBufferFull');
      assert.equal(rows[11]!.operation, 'ProcessStopped');
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 0, out);
    } finally {
      await log.close().catch(() => undefined);
      await store.close();
      await dropPlace(place);
    }
  });
});

describe('a batch of many events', () => {
  test('is written whole and in order across statements of at most 250 rows, and verifies', async () => {
    const place = newPlace();
    const store = await openPlace(place);
    const log = await openAuditLog({
      store,
      root: new KeyRootOfTrust(new Uint8Array(randomBytes(32)), 'test root'),
      logger: pino({ level: 'silent' }),
      settings: { ...DEFAULT_AUDIT_SETTINGS, flushIntervalMs: 60_000, batchSize: 500 },
    });
    // 1 ProcessStarted + 340 = 341 events in one transaction: a 250-row statement and a 91-row one.
    const n = 340;
    try {
      for (let i = 0; i < n; i++) {
        log.record({
          time: Date.now(),
          requestId: `req-${i}`,
          service: 'kms',
          operation: 'Sign',
          principalArn: 'arn:aws:iam::123456789012:user/app',
          principalTags: { team: `t${i % 3}` },
          accessKeyId: 'AKIAEXAMPLE',
          sourceIp: '127.0.0.1',
          userAgent: 'test',
          keyArn: null,
          encryptionContext: i % 2 ? { purpose: `p${i}` } : null,
          signingAlgorithm: 'ECDSA_SHA_256',
          outcome: 'allowed',
          errorCode: null,
        });
      }
      await log.flush();
      const rows = await allRows(store.db);
      assert.equal(rows.length, n + 1);
      assert.deepEqual(
        rows.map((r) => r.request_id),
        [`process-${log.instance}`, ...Array.from({ length: n }, (_, i) => `req-${i}`)],
      );
      assert.deepEqual(
        rows.map((r) => Number(r.seq)),
        Array.from({ length: n + 1 }, (_, i) => i + 1),
      );
      await log.close();
      const { code, out } = await cli(place, ['verify']);
      assert.equal(code, 0, out);
    } finally {
      await log.close().catch(() => undefined);
      await store.close();
      await dropPlace(place);
    }
  });
});

describe('another writer holding the chain lock', () => {
  test('does not block the event loop; the batch is written once the lock is released', async () => {
    const place = newPlace();
    const store = await openPlace(place);
    const lines: string[] = [];
    const log = await openAuditLog({
      store,
      root: new KeyRootOfTrust(new Uint8Array(randomBytes(32)), 'test root'),
      logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }),
      settings: { ...DEFAULT_AUDIT_SETTINGS, flushIntervalMs: 5 },
    });
    // ProcessStarted is written first, so what follows is only the five events recorded under the lock.
    await log.flush();
    assert.equal((await allRows(store.db)).length, 1);
    // Another process's write transaction on the same store, holding the chain head.
    let release: () => Promise<void>;
    if (PG_URL) {
      const other = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${place.schema}` });
      await other.connect();
      await other.query('begin');
      await other.query('select seq from audit_chain_head where id = 1 for update');
      release = async () => {
        await other.query('commit');
        await other.end();
      };
    } else {
      const other = new SQLite(join(place.dataDir, 'symbolon.db'));
      other.exec('begin immediate');
      release = async () => {
        other.exec('commit');
        other.close();
      };
    }
    try {
      for (let i = 0; i < 5; i++) {
        log.record({
          time: Date.now(),
          requestId: `held-${i}`,
          service: 'kms',
          operation: 'Sign',
          principalArn: null,
          principalTags: {},
          accessKeyId: null,
          sourceIp: '127.0.0.1',
          userAgent: 'test',
          keyArn: null,
          encryptionContext: null,
          signingAlgorithm: null,
          outcome: 'allowed',
          errorCode: null,
        });
      }
      // While the lock is held for 300 ms, 10 ms timers keep firing on time.
      let worst = 0;
      let last = performance.now();
      const ticker = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
      }, 10);
      await new Promise((r) => setTimeout(r, 300));
      clearInterval(ticker);
      assert.ok(worst < 150, `the event loop stalled for ${worst.toFixed(0)} ms`);
      assert.equal(log.buffered, 5, 'nothing written while the lock is held (the five)');
      assert.equal((await allRows(store.db)).length, 1, 'only ProcessStarted, written before the lock');
      await release();
      await log.flush();
      assert.deepEqual(
        (await allRows(store.db)).map((r) => r.request_id),
        [`process-${log.instance}`, 'held-0', 'held-1', 'held-2', 'held-3', 'held-4'],
      );
      assert.ok(!lines.some((l) => l.includes('audit log write failed')), 'waiting for a lock is not a failure');
      await log.close();
      assert.equal((await cli(place, ['verify'])).code, 0);
    } finally {
      await release!().catch(() => undefined);
      await log.close().catch(() => undefined);
      await store.close();
      await dropPlace(place);
    }
  });
});

describe('the chain format', () => {
  test('the hashed form is the canonical JSON of the fields (sorted keys), and stored strings are well-formed', () => {
    const text = fc.string({ unit: 'binary', maxLength: 20 });
    const nullable = fc.option(text, { nil: null });
    const map = fc.dictionary(text, text, { maxKeys: 4 });
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.integer({ min: 1, max: 2 ** 40 }),
          time: fc.integer({ min: 0, max: 2 ** 45 }),
          requestId: text,
          operation: text,
          principalArn: nullable,
          principalTags: map,
          ec: fc.option(map, { nil: null }),
          userAgent: text,
          errorCode: nullable,
          exported: fc.boolean(),
        }),
        (r) => {
          const e = prepare(r.seq, {
            time: r.time,
            requestId: r.requestId,
            service: 'kms',
            operation: r.operation,
            principalArn: r.principalArn,
            principalTags: r.principalTags,
            accessKeyId: null,
            sourceIp: '127.0.0.1',
            userAgent: r.userAgent,
            keyArn: null,
            encryptionContext: r.ec,
            signingAlgorithm: null,
            outcome: 'allowed',
            errorCode: r.errorCode,
            ...(r.exported ? { releasePurpose: 'export' as const } : {}),
          });
          assert.equal(canonicalEvent(e), canonicalEventGeneric(e));
          // An event without a release purpose hashes as before the field existed (no key at all).
          assert.equal(canonicalEvent(e).includes('"releasePurpose"'), r.exported);
          // What is stored reads back equal: no lone surrogates, no NUL.
          for (const v of [e.requestId, e.operation, e.userAgent, ...Object.keys(e.principalTags), ...Object.values(e.principalTags)]) {
            assert.ok(!/[\uD800-\uDFFF]/u.test(v.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '')) && !v.includes('\u0000'));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('hash(n) = SHA-256(hash(n-1) || canonical JSON), from 32 zero bytes', () => {
    const e = prepare(1, {
      time: 1700000000000,
      requestId: 'r',
      service: 'kms',
      operation: 'Sign',
      principalArn: 'arn:aws:iam::111122223333:root',
      principalTags: { b: '2', a: '1' },
      accessKeyId: 'AKIA',
      sourceIp: '127.0.0.1',
      userAgent: 'ua',
      keyArn: null,
      encryptionContext: null,
      signingAlgorithm: 'ECDSA_SHA_256',
      outcome: 'allowed',
      errorCode: null,
    });
    const json =
      '{"accessKeyId":"AKIA","encryptionContext":null,"errorCode":null,"keyArn":null,"operation":"Sign","outcome":"allowed","principalArn":"arn:aws:iam::111122223333:root","principalTags":{"a":"1","b":"2"},"requestId":"r","seq":1,"service":"kms","signingAlgorithm":"ECDSA_SHA_256","sourceIp":"127.0.0.1","time":1700000000000,"userAgent":"ua"}';
    assert.equal(canonicalEvent(e), json);
    const expected = createHash('sha256').update(Buffer.alloc(32)).update(json).digest('hex');
    assert.equal(chainHash('0'.repeat(64), e), expected);
    assert.throws(() => chainHash('00', e), RangeError);
  });
});
