/**
 * SQL for the audit trail: audit_events, audit_chain_head, audit_checkpoints
 * and audit_checkpoint_keys. Plain functions taking the db handle first; one
 * mapper between rows and chained events. Appends lock the chain-head row
 * (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite a write to it takes the
 * database's single write lock first, as BEGIN IMMEDIATE would), so several
 * processes can append to one chain.
 */
import type { Kysely, Transaction } from 'kysely';
import type { AuditEventTable, Tables } from './tables.js';
import type { DialectName } from './database.js';
import type { ChainedEvent } from '../audit/chain.js';
import { canonicalJson } from '../audit/canonical-json.js';

type Db = Kysely<Tables> | Transaction<Tables>;

/** A stored event and its hash. */
export interface StoredEvent extends ChainedEvent {
  hash: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
  checkpointSeq: number;
  checkpointTime: number;
}

export interface CheckpointRow {
  seq: number;
  hash: string;
  time: number;
  keyId: string;
  signature: string;
}

export interface CheckpointKeyRow {
  keyId: string;
  algorithm: string;
  publicKey: string;
  createdAt: number;
}

// A map column edited into something that is not a JSON object of strings
// reads as a marker object; it can never hash to what was written, so
// `audit verify` reports the event as edited instead of failing to read it.
function parseMap(text: string): Record<string, string> {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) {
      return v as Record<string, string>;
    }
  } catch {
    // fall through to the marker
  }
  return { '!unreadable': text };
}

function toStored(r: AuditEventTable): StoredEvent {
  return {
    seq: Number(r.seq),
    time: Number(r.time),
    requestId: r.request_id,
    service: r.service,
    operation: r.operation,
    principalArn: r.principal_arn,
    principalTags: parseMap(r.principal_tags),
    accessKeyId: r.access_key_id,
    sourceIp: r.source_ip,
    userAgent: r.user_agent,
    keyArn: r.key_arn,
    encryptionContext: r.encryption_context === null ? null : parseMap(r.encryption_context),
    signingAlgorithm: r.signing_algorithm,
    outcome: r.outcome,
    errorCode: r.error_code,
    hash: r.hash,
  };
}

function toRow(e: StoredEvent): AuditEventTable {
  return {
    seq: e.seq,
    time: e.time,
    request_id: e.requestId,
    service: e.service,
    operation: e.operation,
    principal_arn: e.principalArn,
    principal_tags: canonicalJson(e.principalTags),
    access_key_id: e.accessKeyId,
    source_ip: e.sourceIp,
    user_agent: e.userAgent,
    key_arn: e.keyArn,
    encryption_context: e.encryptionContext === null ? null : canonicalJson(e.encryptionContext),
    signing_algorithm: e.signingAlgorithm,
    outcome: e.outcome,
    error_code: e.errorCode,
    hash: e.hash,
  };
}

function toHead(r: { seq: number; hash: string; checkpoint_seq: number; checkpoint_time: number }): ChainHead {
  return { seq: Number(r.seq), hash: r.hash, checkpointSeq: Number(r.checkpoint_seq), checkpointTime: Number(r.checkpoint_time) };
}

/**
 * Locks the chain head for the rest of the transaction and returns it.
 * @throws {Error} when the head row is missing (the migration did not run).
 */
export async function lockChainHead(trx: Transaction<Tables>, dialect: DialectName): Promise<ChainHead> {
  let q = trx.selectFrom('audit_chain_head').select(['seq', 'hash', 'checkpoint_seq', 'checkpoint_time']).where('id', '=', 1);
  if (dialect === 'postgres') q = q.forUpdate();
  // SQLite: a write first, so the transaction holds the write lock before it
  // reads (a read-then-write transaction could not upgrade while another
  // process writes, and would fail instead of waiting).
  else await trx.updateTable('audit_chain_head').set({ id: 1 }).where('id', '=', 1).execute();
  const r = await q.executeTakeFirst();
  if (!r) throw new Error('audit_chain_head has no row; the audit migration has not run');
  return toHead(r);
}

/** Reads the chain head without locking it. */
export async function readChainHead(db: Db): Promise<ChainHead> {
  const r = await db.selectFrom('audit_chain_head').select(['seq', 'hash', 'checkpoint_seq', 'checkpoint_time']).where('id', '=', 1).executeTakeFirst();
  if (!r) throw new Error('audit_chain_head has no row; the audit migration has not run');
  return toHead(r);
}

export async function updateChainHead(trx: Transaction<Tables>, head: ChainHead): Promise<void> {
  await trx
    .updateTable('audit_chain_head')
    .set({ seq: head.seq, hash: head.hash, checkpoint_seq: head.checkpointSeq, checkpoint_time: head.checkpointTime })
    .where('id', '=', 1)
    .execute();
}

// 16 columns a row: 250 rows stay well inside SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_CHUNK = 250;

export async function insertEvents(trx: Transaction<Tables>, events: StoredEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += INSERT_CHUNK) {
    await trx.insertInto('audit_events').values(events.slice(i, i + INSERT_CHUNK).map(toRow)).execute();
  }
}

/** Events with `from <= seq <= to`, in sequence order, at most `limit`. */
export async function readEventRange(db: Db, from: number, to: number, limit: number): Promise<StoredEvent[]> {
  const rows = await db
    .selectFrom('audit_events')
    .selectAll()
    .where('seq', '>=', from)
    .where('seq', '<=', to)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(toStored);
}

/** Events with `seq > after`, in sequence order, at most `limit` (no upper bound). */
export async function readEventsAfter(db: Db, after: number, limit: number): Promise<StoredEvent[]> {
  const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', after).orderBy('seq').limit(limit).execute();
  return rows.map(toStored);
}

export async function findEvent(db: Db, seq: number): Promise<StoredEvent | undefined> {
  const r = await db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirst();
  return r ? toStored(r) : undefined;
}

/** The newest `n` events, oldest first. */
export async function lastEvents(db: Db, n: number): Promise<StoredEvent[]> {
  const rows = await db.selectFrom('audit_events').selectAll().orderBy('seq', 'desc').limit(n).execute();
  return rows.map(toStored).reverse();
}

export interface EventFilter {
  /** A key ARN, or a key id (matches the ARN's `key/<id>` suffix). */
  key?: string;
  principalArn?: string;
  operation?: string;
  /** Epoch milliseconds, inclusive. */
  since?: number;
  until?: number;
  limit: number;
}

/** Events matching every given filter, oldest first, at most `limit` (the newest ones). */
export async function queryEvents(db: Db, f: EventFilter): Promise<StoredEvent[]> {
  let q = db.selectFrom('audit_events').selectAll();
  if (f.key !== undefined) q = f.key.startsWith('arn:') ? q.where('key_arn', '=', f.key) : q.where('key_arn', 'like', `%:key/${f.key.replace(/[%_\\]/g, '')}`);
  if (f.principalArn !== undefined) q = q.where('principal_arn', '=', f.principalArn);
  if (f.operation !== undefined) q = q.where('operation', '=', f.operation);
  if (f.since !== undefined) q = q.where('time', '>=', f.since);
  if (f.until !== undefined) q = q.where('time', '<=', f.until);
  const rows = await q.orderBy('seq', 'desc').limit(f.limit).execute();
  return rows.map(toStored).reverse();
}

export async function insertCheckpoint(trx: Transaction<Tables>, c: CheckpointRow): Promise<void> {
  await trx.insertInto('audit_checkpoints').values({ seq: c.seq, hash: c.hash, time: c.time, key_id: c.keyId, signature: c.signature }).execute();
}

export async function listCheckpoints(db: Db): Promise<CheckpointRow[]> {
  const rows = await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute();
  return rows.map((r) => ({ seq: Number(r.seq), hash: r.hash, time: Number(r.time), keyId: r.key_id, signature: r.signature }));
}

/** Records a checkpoint public key unless it is already recorded. */
export async function putCheckpointKey(db: Db, k: CheckpointKeyRow): Promise<void> {
  await db
    .insertInto('audit_checkpoint_keys')
    .values({ key_id: k.keyId, algorithm: k.algorithm, public_key: k.publicKey, created_at: k.createdAt })
    .onConflict((oc) => oc.column('key_id').doNothing())
    .execute();
}

export async function listCheckpointKeys(db: Db): Promise<CheckpointKeyRow[]> {
  const rows = await db.selectFrom('audit_checkpoint_keys').selectAll().orderBy('created_at').execute();
  return rows.map((r) => ({ keyId: r.key_id, algorithm: r.algorithm, publicKey: r.public_key, createdAt: Number(r.created_at) }));
}
