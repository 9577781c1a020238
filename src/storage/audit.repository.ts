/**
 * SQL for the audit trail: audit_events, audit_chain_head, audit_checkpoints
 * and audit_checkpoint_keys. Plain functions taking the db handle first; one
 * mapper between rows and chained events. Appends lock the chain-head row
 * (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite a write to it takes the
 * database's single write lock first, as BEGIN IMMEDIATE would), so several
 * processes can append to one chain.
 */
import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { AuditChainHeadTable, AuditEventTable, Tables } from './tables.js';
import type { DialectName } from './database.js';
import { canonicalJson } from '../crypto/canonical-json.js';

type Db = Kysely<Tables> | Transaction<Tables>;

/**
 * An event as stored and hashed (src/audit/chain.ts): the audit event's
 * fields (strings made well formed), its sequence number, and the outcome as
 * read back from the store.
 */
export interface ChainedEvent {
  seq: number;
  time: number;
  requestId: string;
  service: string;
  operation: string;
  principalArn: string | null;
  principalTags: Record<string, string>;
  accessKeyId: string | null;
  sourceIp: string;
  userAgent: string;
  keyArn: string | null;
  encryptionContext: Record<string, string> | null;
  signingAlgorithm: string | null;
  outcome: string;
  errorCode: string | null;
  /** A signing decision's decoded fields (src/audit/event.ts EthAuditFields), or null; hashed only when present. */
  eth?: Record<string, string | null> | null | undefined;
  /** An attested release's stated purpose (`export`), or null; hashed only when present. */
  releasePurpose?: string | null | undefined;
}

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

// The eth column: a JSON object of strings and nulls; anything else reads as a marker (as parseMap).
function parseEth(text: string | null): Record<string, string | null> | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => x === null || typeof x === 'string')) {
      return v as Record<string, string | null>;
    }
  } catch {
    // fall through to the marker
  }
  return { '!unreadable': text };
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
    eth: parseEth(r.eth ?? null),
    releasePurpose: r.release_purpose ?? null,
    hash: r.hash,
  };
}

function toHead(r: { seq: number; hash: string; checkpoint_seq: number; checkpoint_time: number }): ChainHead {
  return { seq: Number(r.seq), hash: r.hash, checkpointSeq: Number(r.checkpoint_seq), checkpointTime: Number(r.checkpoint_time) };
}

/**
 * Locks the chain head for the rest of the transaction and returns it. On
 * PostgreSQL with `FOR UPDATE`; on SQLite the caller's transaction must have
 * begun with BEGIN IMMEDIATE, which already holds the database's write lock.
 * @throws {Error} when the head row is missing (the migration did not run).
 */
// The head is read and written once per batch: fixed SQL, no query building.
const LOCK_HEAD_PG = CompiledQuery.raw('select seq, hash, checkpoint_seq, checkpoint_time from audit_chain_head where id = 1 for update');
const READ_HEAD = CompiledQuery.raw('select seq, hash, checkpoint_seq, checkpoint_time from audit_chain_head where id = 1');

export async function lockChainHead(trx: Db, dialect: DialectName): Promise<ChainHead> {
  const r = (await trx.executeQuery<AuditChainHeadTable>(dialect === 'postgres' ? LOCK_HEAD_PG : READ_HEAD)).rows[0];
  if (!r) throw new Error('audit_chain_head has no row; the audit migration has not run');
  return toHead(r);
}

/** Reads the chain head without locking it. */
export async function readChainHead(db: Db): Promise<ChainHead> {
  const r = await db.selectFrom('audit_chain_head').select(['seq', 'hash', 'checkpoint_seq', 'checkpoint_time']).where('id', '=', 1).executeTakeFirst();
  if (!r) throw new Error('audit_chain_head has no row; the audit migration has not run');
  return toHead(r);
}

export async function updateChainHead(trx: Db, dialect: DialectName, head: ChainHead): Promise<void> {
  const text =
    dialect === 'postgres'
      ? 'update audit_chain_head set seq = $1, hash = $2, checkpoint_seq = $3, checkpoint_time = $4 where id = 1'
      : 'update audit_chain_head set seq = ?, hash = ?, checkpoint_seq = ?, checkpoint_time = ? where id = 1';
  await trx.executeQuery(CompiledQuery.raw(text, [head.seq, head.hash, head.checkpointSeq, head.checkpointTime]));
}

const EVENT_COLUMNS = [
  'seq',
  'time',
  'request_id',
  'service',
  'operation',
  'principal_arn',
  'principal_tags',
  'access_key_id',
  'source_ip',
  'user_agent',
  'key_arn',
  'encryption_context',
  'signing_algorithm',
  'outcome',
  'error_code',
  'eth',
  'release_purpose',
  'hash',
] as const satisfies ReadonlyArray<keyof AuditEventTable>;

// 18 columns a row: 250 rows stay well inside SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_CHUNK = 250;
const insertSql = new Map<string, string>();

/** `insert into audit_events (…) values (…), …` for `rows` rows, in the dialect's placeholder style (cached). */
function insertStatement(dialect: DialectName, rows: number): string {
  const id = `${dialect}:${rows}`;
  let text = insertSql.get(id);
  if (!text) {
    const n = EVENT_COLUMNS.length;
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) {
      const marks = EVENT_COLUMNS.map((_, c) => (dialect === 'postgres' ? `$${r * n + c + 1}` : '?'));
      tuples.push(`(${marks.join(',')})`);
    }
    text = `insert into audit_events (${EVENT_COLUMNS.join(',')}) values ${tuples.join(',')}`;
    insertSql.set(id, text);
  }
  return text;
}

/**
 * Inserts events, at most 250 a statement. The SQL is written here rather than
 * through the query builder, whose per-value cost would be paid on every request.
 */
export async function insertEvents(trx: Db, dialect: DialectName, events: StoredEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += INSERT_CHUNK) {
    const chunk = events.slice(i, i + INSERT_CHUNK);
    const params: unknown[] = new Array(chunk.length * EVENT_COLUMNS.length);
    let k = 0;
    // The order of EVENT_COLUMNS, without an intermediate row object per event.
    for (const e of chunk) {
      params[k++] = e.seq;
      params[k++] = e.time;
      params[k++] = e.requestId;
      params[k++] = e.service;
      params[k++] = e.operation;
      params[k++] = e.principalArn;
      params[k++] = canonicalJson(e.principalTags);
      params[k++] = e.accessKeyId;
      params[k++] = e.sourceIp;
      params[k++] = e.userAgent;
      params[k++] = e.keyArn;
      params[k++] = e.encryptionContext === null ? null : canonicalJson(e.encryptionContext);
      params[k++] = e.signingAlgorithm;
      params[k++] = e.outcome;
      params[k++] = e.errorCode;
      params[k++] = e.eth ? canonicalJson(e.eth) : null;
      params[k++] = e.releasePurpose ?? null;
      params[k++] = e.hash;
    }
    await trx.executeQuery(CompiledQuery.raw(insertStatement(dialect, chunk.length), params));
  }
}

/** Events with `from <= seq <= to`, in sequence order, at most `limit`. */
export async function readEventRange(db: Db, from: number, to: number, limit: number): Promise<StoredEvent[]> {
  const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>=', from).where('seq', '<=', to).orderBy('seq').limit(limit).execute();
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

export async function insertCheckpoint(trx: Db, c: CheckpointRow): Promise<void> {
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
