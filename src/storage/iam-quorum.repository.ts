/**
 * SQL for quorum approvals: per-key quorum rules, proposed permission changes
 * and the votes on them, and the compare-and-set writes that apply a change
 * exactly once (a key's policy changes only if it is still what the change
 * was proposed against).
 */
import type { Kysely, Transaction } from 'kysely';
import { afterCursor, insertChangeVote, listChangeVotes, type Vote } from './change-votes.js';
import type { KmsPolicyChangeTable, Tables } from './tables.js';

export type { Vote } from './change-votes.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface QuorumRule {
  keyId: string;
  approvers: string[];
  threshold: number;
  ttlSeconds: number;
  updatedAt: number;
  updatedBy: string;
}

/**
 * What a change makes: a key policy, a quorum rule, a grant (CreateGrant on a guarded key), a signing policy (its text;
 * '' deletes it), or a signing request a RequireApproval statement holds (its payload; approvers from the statement).
 */
export type ChangeKind = 'KeyPolicy' | 'QuorumRule' | 'Grant' | 'SigningPolicy' | 'SigningRequest';
export type ChangeStatus = 'PENDING' | 'APPLIED' | 'REJECTED' | 'EXPIRED' | 'SUPERSEDED';

export interface PolicyChange {
  changeId: string;
  keyId: string;
  kind: ChangeKind;
  payload: string;
  payloadSha256: string;
  baseSha256: string;
  proposerArn: string;
  status: ChangeStatus;
  threshold: number;
  approvers: string[];
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
}

function toChange(r: KmsPolicyChangeTable): PolicyChange {
  return {
    changeId: r.change_id,
    keyId: r.key_id,
    kind: r.kind as ChangeKind,
    payload: r.payload,
    payloadSha256: r.payload_sha256,
    baseSha256: r.base_sha256,
    proposerArn: r.proposer_arn,
    status: r.status as ChangeStatus,
    threshold: r.threshold,
    approvers: JSON.parse(r.approvers) as string[],
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    decidedAt: r.decided_at === null ? null : Number(r.decided_at),
  };
}

export async function getQuorumRule(db: Db, keyId: string): Promise<QuorumRule | undefined> {
  const r = await db.selectFrom('kms_quorum_rules').selectAll().where('key_id', '=', keyId).executeTakeFirst();
  return r
    ? {
        keyId: r.key_id,
        approvers: JSON.parse(r.approvers) as string[],
        threshold: r.threshold,
        ttlSeconds: r.ttl_seconds,
        updatedAt: Number(r.updated_at),
        updatedBy: r.updated_by,
      }
    : undefined;
}

/** Inserts a rule only where none exists; returns whether it was inserted. */
export async function insertQuorumRuleIfAbsent(db: Db, rule: QuorumRule): Promise<boolean> {
  const r = await db
    .insertInto('kms_quorum_rules')
    .values({
      key_id: rule.keyId,
      approvers: JSON.stringify(rule.approvers),
      threshold: rule.threshold,
      ttl_seconds: rule.ttlSeconds,
      updated_at: rule.updatedAt,
      updated_by: rule.updatedBy,
    })
    .onConflict((oc) => oc.column('key_id').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Replaces (or, with `next` null, removes) a rule if it is still `current`; returns whether it did. */
export async function replaceQuorumRule(db: Db, current: QuorumRule, next: QuorumRule | null): Promise<boolean> {
  const approvers = JSON.stringify(current.approvers);
  if (next === null) {
    const r = await db
      .deleteFrom('kms_quorum_rules')
      .where('key_id', '=', current.keyId)
      .where('approvers', '=', approvers)
      .where('threshold', '=', current.threshold)
      .where('ttl_seconds', '=', current.ttlSeconds)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  const r = await db
    .updateTable('kms_quorum_rules')
    .set({
      approvers: JSON.stringify(next.approvers),
      threshold: next.threshold,
      ttl_seconds: next.ttlSeconds,
      updated_at: next.updatedAt,
      updated_by: next.updatedBy,
    })
    .where('key_id', '=', current.keyId)
    .where('approvers', '=', approvers)
    .where('threshold', '=', current.threshold)
    .where('ttl_seconds', '=', current.ttlSeconds)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function insertChange(db: Db, c: PolicyChange): Promise<void> {
  await db
    .insertInto('kms_policy_changes')
    .values({
      change_id: c.changeId,
      key_id: c.keyId,
      kind: c.kind,
      payload: c.payload,
      payload_sha256: c.payloadSha256,
      base_sha256: c.baseSha256,
      proposer_arn: c.proposerArn,
      status: c.status,
      threshold: c.threshold,
      approvers: JSON.stringify(c.approvers),
      created_at: c.createdAt,
      expires_at: c.expiresAt,
      decided_at: c.decidedAt,
    })
    .execute();
}

export async function findChange(db: Db, changeId: string): Promise<PolicyChange | undefined> {
  const r = await db.selectFrom('kms_policy_changes').selectAll().where('change_id', '=', changeId).executeTakeFirst();
  return r ? toChange(r) : undefined;
}

/** Changes in creation order, after the (createdAt, changeId) cursor. */
export async function listChanges(
  db: Db,
  options: { keyId?: string | undefined; status?: ChangeStatus | undefined; after?: { createdAt: number; changeId: string } | undefined; limit: number },
): Promise<PolicyChange[]> {
  let q = db.selectFrom('kms_policy_changes').selectAll().orderBy('created_at').orderBy('change_id').limit(options.limit);
  if (options.keyId !== undefined) q = q.where('key_id', '=', options.keyId);
  if (options.status !== undefined) q = q.where('status', '=', options.status);
  const after = options.after;
  if (after) q = q.where(afterCursor(after));
  return (await q.execute()).map(toChange);
}

/** Moves a PENDING change to `status`; returns false when it was no longer pending (another process decided it). */
export async function closeChange(db: Db, changeId: string, status: Exclude<ChangeStatus, 'PENDING'>, at: number): Promise<boolean> {
  const r = await db
    .updateTable('kms_policy_changes')
    .set({ status, decided_at: at })
    .where('change_id', '=', changeId)
    .where('status', '=', 'PENDING')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Records a vote; returns false when this approver already voted on the change. */
export function insertVote(db: Db, changeId: string, v: Vote): Promise<boolean> {
  return insertChangeVote(db, 'kms_policy_change_votes', changeId, v);
}

export function listVotes(db: Db, changeId: string): Promise<Vote[]> {
  return listChangeVotes(db, 'kms_policy_change_votes', changeId);
}

/**
 * Sets a key's policy. With `expected`, only if the stored policy is still
 * exactly that text; returns whether the row changed. Bumps the revision.
 */
export async function setKeyPolicy(db: Db, keyId: string, policy: string, expected?: string): Promise<boolean> {
  let q = db
    .updateTable('kms_keys')
    .set((eb) => ({ policy, revision: eb('revision', '+', 1) }))
    .where('key_id', '=', keyId);
  if (expected !== undefined) q = q.where('policy', '=', expected);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
