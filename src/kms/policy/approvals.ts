/**
 * The quorum approvals API: JSON 1.1 operations on the custodian's endpoint
 * under `X-Amz-Target: SymbolonApprovals.<Operation>`, SigV4-signed for
 * service `kms` like every KMS call, audited like every KMS call.
 *
 * - PutQuorumRule / DeleteQuorumRule / GetQuorumRule: a key's approvers and threshold.
 * - ListPolicyChanges / GetPolicyChange: pending and decided changes (Get includes the text).
 * - ApprovePolicyChange / RejectPolicyChange: vote on a change by ChangeId and PayloadSha256.
 *
 * - PutAccountQuorumRule / DeleteAccountQuorumRule / GetAccountQuorumRule: the
 *   account rule (src/kms/policy/account-quorum.ts); its changes are listed with
 *   `Account: true` and voted on with the same Approve/Reject operations.
 *
 * A key change is visible to its approvers, its proposer, and whoever may
 * kms:GetKeyPolicy on its key; an account change to its approvers, its
 * proposer and the account root. Setting a key's rule needs kms:PutKeyPolicy;
 * the account rule, symbolon:PutAccountQuorumRule by identity policy (the
 * root always may).
 */
import { AwsError, accessDenied, invalidMarker } from '../../aws/errors.js';
import type { Input } from '../input.js';
import { accountChangeView, type AccountChange } from './account-quorum.js';
import type { RuleSpec } from './rule.js';
import { UUID_RE } from '../model.js';
import { authorize, resolveKey } from '../keys.js';
import { operation, type KmsOperation } from '../operation.js';
import type { OperationContext } from '../context.js';
import type { KeyRecord } from '../model.js';
import { getQuorumRule, listVotes, type ChangeStatus, type PolicyChange } from '../../storage/iam-quorum.repository.js';
import { changeView, DEFAULT_TTL_SECONDS, listChanges, loadChange, putQuorumRule, vote } from './quorum.js';
import { keyArn } from '../model.js';

const STATUSES = ['PENDING', 'APPLIED', 'REJECTED', 'EXPIRED', 'SUPERSEDED'] as const;

async function mayView(ctx: OperationContext, key: KeyRecord, change: PolicyChange): Promise<boolean> {
  if (change.approvers.includes(ctx.caller.arn) || change.proposerArn === ctx.caller.arn) return true;
  try {
    await ctx.deps.authorizer.authorize({ caller: ctx.caller, info: ctx.info, action: 'kms:GetKeyPolicy', key, conditions: {} });
    return true;
  } catch (e) {
    if (e instanceof AwsError && e.type === 'AccessDeniedException') return false;
    throw e;
  }
}

function encodeMarker(c: { createdAt: number; changeId: string }): string {
  return Buffer.from(`${c.createdAt}:${c.changeId}`, 'utf8').toString('base64url');
}

function decodeMarker(marker: string): { createdAt: number; changeId: string } {
  const m = /^(\d{1,16}):([0-9a-f-]{36})$/.exec(Buffer.from(marker, 'base64url').toString('utf8'));
  if (!m) throw invalidMarker('Invalid marker');
  return { createdAt: Number(m[1]), changeId: m[2]! };
}

export const listPolicyChanges = operation('ListPolicyChanges', async (input, ctx) => {
  const keyIdInput = input.string('KeyId', { min: 1, max: 2048 });
  const status = input.enum('Status', STATUSES);
  const limit = input.integer('Limit', { min: 1, max: 100 }) ?? 50;
  const marker = input.string('Marker', { min: 1, max: 320 });
  const account = input.boolean('Account') ?? false;
  const key = keyIdInput === undefined ? undefined : await resolveKey(ctx, keyIdInput);
  if (key) ctx.audit.keyArn = keyArn(key);
  const after = marker === undefined ? undefined : decodeMarker(marker);
  if (account) {
    const r = await ctx.deps.quorum.list(ctx, { keyId: key?.keyId, status, after, limit });
    return { Changes: r.items, Truncated: r.more, ...(r.more && r.last ? { NextMarker: encodeMarker(r.last) } : {}) };
  }
  const { items, last, more } = await listChanges(ctx, { key, status, after, limit }, (k, c) => mayView(ctx, k, c));
  return { Changes: items, Truncated: more, ...(more && last ? { NextMarker: encodeMarker(last) } : {}) };
});

export const getPolicyChange = operation('GetPolicyChange', async (input, ctx) => {
  const changeId = input.string('ChangeId', { required: true, min: 1, max: 64 });
  const accountChange = await findAccountChange(ctx, changeId);
  if (accountChange) {
    if (!ctx.deps.quorum.mayView(ctx, accountChange)) throw notVisible(ctx, accountChange);
    return { Change: accountChangeView(accountChange, await ctx.deps.quorum.votes(accountChange.changeId), true) };
  }
  const { change, key } = await loadChange(ctx, changeId);
  if (!(await mayView(ctx, key, change))) await authorize(ctx, 'kms:GetKeyPolicy', key);
  return { Change: changeView(key, change, await listVotes(ctx.deps.store.db, change.changeId), true) };
});

const voteOperation = (name: string, decision: 'APPROVE' | 'REJECT') =>
  operation(name, async (input, ctx) => {
    const changeId = input.string('ChangeId', { required: true, min: 1, max: 64 });
    const sha = input.string('PayloadSha256', { required: true, min: 64, max: 64 });
    const accountChange = await findAccountChange(ctx, changeId);
    if (accountChange) return { Change: await ctx.deps.quorum.vote(ctx, accountChange, sha, decision) };
    return { Change: await vote(ctx, changeId, sha, decision) };
  });

export const approvePolicyChange = voteOperation('ApprovePolicyChange', 'APPROVE');
export const rejectPolicyChange = voteOperation('RejectPolicyChange', 'REJECT');

export const putQuorumRuleOperation = operation('PutQuorumRule', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const rule = readRule(input);
  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:PutKeyPolicy', key);
  return putQuorumRule(ctx, key, rule);
});

export const deleteQuorumRule = operation('DeleteQuorumRule', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:PutKeyPolicy', key);
  return putQuorumRule(ctx, key, null);
});

export const getQuorumRuleOperation = operation('GetQuorumRule', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:GetKeyPolicy', key);
  const rule = await getQuorumRule(ctx.deps.store.db, key.keyId);
  return rule
    ? {
        KeyId: keyArn(key),
        Approvers: rule.approvers,
        Threshold: rule.threshold,
        ExpirationSeconds: rule.ttlSeconds,
        UpdatedBy: rule.updatedBy,
        UpdateDate: rule.updatedAt / 1000,
      }
    : { KeyId: keyArn(key) };
});

/** An account change by id, or undefined (then it may be a key's change). */
async function findAccountChange(ctx: OperationContext, changeId: string): Promise<AccountChange | undefined> {
  if (!UUID_RE.test(changeId)) return undefined;
  const change = await ctx.deps.quorum.find(ctx, changeId);
  if (change?.target.startsWith('arn:aws:kms:')) ctx.audit.keyArn = change.target;
  return change;
}

function notVisible(ctx: OperationContext, change: AccountChange): AwsError {
  return accessDenied(
    `User: ${ctx.caller.arn} is not authorized to perform: symbolon:GetPolicyChange on resource: ${change.target} because it is neither an approver nor the proposer of policy change ${change.changeId}`,
  );
}

function readRule(input: Input): RuleSpec {
  return {
    approvers: input.stringList('Approvers', { max: 20 }) ?? [],
    threshold: input.integer('Threshold', { required: true, min: 1, max: 20 }),
    ttlSeconds: input.integer('ExpirationSeconds', { min: 1 }) ?? DEFAULT_TTL_SECONDS,
  };
}

export const putAccountQuorumRule = operation('PutAccountQuorumRule', async (input, ctx) => {
  const rule = readRule(input);
  await authorize(ctx, 'symbolon:PutAccountQuorumRule', undefined);
  return ctx.deps.quorum.putRule(ctx, rule);
});

export const deleteAccountQuorumRule = operation('DeleteAccountQuorumRule', async (_input, ctx) => {
  await authorize(ctx, 'symbolon:PutAccountQuorumRule', undefined);
  return ctx.deps.quorum.putRule(ctx, null);
});

export const getAccountQuorumRule = operation('GetAccountQuorumRule', async (_input, ctx) => {
  await authorize(ctx, 'symbolon:GetAccountQuorumRule', undefined);
  const rule = await ctx.deps.quorum.rule();
  return rule
    ? { Approvers: rule.approvers, Threshold: rule.threshold, ExpirationSeconds: rule.ttlSeconds, UpdatedBy: rule.updatedBy, UpdateDate: rule.updatedAt / 1000 }
    : {};
});

/** The `SymbolonApprovals.*` operations by name. */
export const approvalOperations: ReadonlyMap<string, KmsOperation> = new Map(
  [
    listPolicyChanges,
    getPolicyChange,
    approvePolicyChange,
    rejectPolicyChange,
    putQuorumRuleOperation,
    deleteQuorumRule,
    getQuorumRuleOperation,
    putAccountQuorumRule,
    deleteAccountQuorumRule,
    getAccountQuorumRule,
  ].map((op) => [op.name, op]),
);

export type { ChangeStatus };
