/**
 * SQL for the account-level quorum: the one account rule, the changes proposed
 * under it and the votes on them, with compare-and-set writes so a change is
 * decided exactly once and a rule is replaced only if it is still the one a
 * change was proposed against.
 */
import type { Kysely, Transaction } from 'kysely';
import { afterCursor, insertChangeVote, listChangeVotes, type Vote } from './change-votes.js';
import type { AccountChangeTable, Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

const SCOPE = 'account';

export interface AccountRule {
  approvers: string[];
  threshold: number;
  ttlSeconds: number;
  updatedAt: number;
  updatedBy: string;
}

export type AccountChangeStatus = 'PENDING' | 'APPLIED' | 'REJECTED' | 'EXPIRED' | 'SUPERSEDED';

export interface AccountChange {
  changeId: string;
  kind: string;
  target: string;
  keyId: string | null;
  payload: string;
  payloadSha256: string;
  baseSha256: string;
  proposerArn: string;
  status: AccountChangeStatus;
  threshold: number;
  approvers: string[];
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
  outcome: string | null;
  redeemedAt: number | null;
}

export type AccountVote = Vote;

function toChange(r: AccountChangeTable): AccountChange {
  return {
    changeId: r.change_id,
    kind: r.kind,
    target: r.target,
    keyId: r.key_id,
    payload: r.payload,
    payloadSha256: r.payload_sha256,
    baseSha256: r.base_sha256,
    proposerArn: r.proposer_arn,
    status: r.status as AccountChangeStatus,
    threshold: r.threshold,
    approvers: JSON.parse(r.approvers) as string[],
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    decidedAt: r.decided_at === null ? null : Number(r.decided_at),
    outcome: r.outcome,
    redeemedAt: r.redeemed_at === null ? null : Number(r.redeemed_at),
  };
}

export async function getAccountRule(db: Db): Promise<AccountRule | undefined> {
  const r = await db.selectFrom('account_quorum_rule').selectAll().where('scope', '=', SCOPE).executeTakeFirst();
  return r
    ? {
        approvers: JSON.parse(r.approvers) as string[],
        threshold: r.threshold,
        ttlSeconds: r.ttl_seconds,
        updatedAt: Number(r.updated_at),
        updatedBy: r.updated_by,
      }
    : undefined;
}

/** Inserts the rule only where none exists; returns whether it was inserted. */
export async function insertAccountRuleIfAbsent(db: Db, rule: AccountRule): Promise<boolean> {
  const r = await db
    .insertInto('account_quorum_rule')
    .values({
      scope: SCOPE,
      approvers: JSON.stringify(rule.approvers),
      threshold: rule.threshold,
      ttl_seconds: rule.ttlSeconds,
      updated_at: rule.updatedAt,
      updated_by: rule.updatedBy,
    })
    .onConflict((oc) => oc.column('scope').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Replaces (or, with `next` null, removes) the rule if it is still `current`; returns whether it did. */
export async function replaceAccountRule(db: Db, current: AccountRule, next: AccountRule | null): Promise<boolean> {
  const approvers = JSON.stringify(current.approvers);
  if (next === null) {
    const r = await db
      .deleteFrom('account_quorum_rule')
      .where('scope', '=', SCOPE)
      .where('approvers', '=', approvers)
      .where('threshold', '=', current.threshold)
      .where('ttl_seconds', '=', current.ttlSeconds)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  const r = await db
    .updateTable('account_quorum_rule')
    .set({
      approvers: JSON.stringify(next.approvers),
      threshold: next.threshold,
      ttl_seconds: next.ttlSeconds,
      updated_at: next.updatedAt,
      updated_by: next.updatedBy,
    })
    .where('scope', '=', SCOPE)
    .where('approvers', '=', approvers)
    .where('threshold', '=', current.threshold)
    .where('ttl_seconds', '=', current.ttlSeconds)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function insertAccountChange(db: Db, c: AccountChange): Promise<void> {
  await db
    .insertInto('account_changes')
    .values({
      change_id: c.changeId,
      kind: c.kind,
      target: c.target,
      key_id: c.keyId,
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
      outcome: c.outcome,
      redeemed_at: c.redeemedAt,
    })
    .execute();
}

export async function findAccountChange(db: Db, changeId: string): Promise<AccountChange | undefined> {
  const r = await db.selectFrom('account_changes').selectAll().where('change_id', '=', changeId).executeTakeFirst();
  return r ? toChange(r) : undefined;
}

/** The proposer's changes with this exact text, newest first (a repeated request finds its proposal). */
export async function findOwnChanges(db: Db, proposerArn: string, payloadSha256: string): Promise<AccountChange[]> {
  const rows = await db
    .selectFrom('account_changes')
    .selectAll()
    .where('proposer_arn', '=', proposerArn)
    .where('payload_sha256', '=', payloadSha256)
    .orderBy('created_at', 'desc')
    .limit(20)
    .execute();
  return rows.map(toChange);
}

/** Changes in creation order, after the (createdAt, changeId) cursor. */
export async function listAccountChanges(
  db: Db,
  options: { keyId?: string | undefined; after?: { createdAt: number; changeId: string } | undefined; limit: number },
): Promise<AccountChange[]> {
  let q = db.selectFrom('account_changes').selectAll().orderBy('created_at').orderBy('change_id').limit(options.limit);
  if (options.keyId !== undefined) q = q.where('key_id', '=', options.keyId);
  const after = options.after;
  if (after) q = q.where(afterCursor(after));
  return (await q.execute()).map(toChange);
}

/** Moves a PENDING change to `status`; returns false when it was no longer pending. */
export async function closeAccountChange(
  db: Db,
  changeId: string,
  status: Exclude<AccountChangeStatus, 'PENDING'>,
  at: number,
  outcome: string | null = null,
): Promise<boolean> {
  const r = await db
    .updateTable('account_changes')
    .set({ status, decided_at: at, outcome })
    .where('change_id', '=', changeId)
    .where('status', '=', 'PENDING')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Marks an APPLIED change as collected by its proposer, once; returns whether this call did. */
export async function redeemAccountChange(db: Db, changeId: string, at: number): Promise<boolean> {
  const r = await db
    .updateTable('account_changes')
    .set({ redeemed_at: at })
    .where('change_id', '=', changeId)
    .where('status', '=', 'APPLIED')
    .where('redeemed_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Records a vote; returns false when this approver already voted on the change. */
export function insertAccountVote(db: Db, changeId: string, v: AccountVote): Promise<boolean> {
  return insertChangeVote(db, 'account_change_votes', changeId, v);
}

export function listAccountVotes(db: Db, changeId: string): Promise<AccountVote[]> {
  return listChangeVotes(db, 'account_change_votes', changeId);
}
