/**
 * Quorum for permission changes (Symbolon's own; AWS KMS has none — modelled
 * on Turnkey's root quorum and Fireblocks' admin quorum, see
 * docs/access-control.md). A key may carry a rule: N named approvers (principal
 * ARNs) and a threshold M >= 2. On such a key, PutKeyPolicy, CreateGrant (a
 * grant is a second way to give permissions) and any change to the rule
 * itself do not take effect: it becomes a pending change with an
 * id and the SHA-256 of its exact text. Approvers approve or reject that id and
 * hash; the proposer's own proposal counts as its approval when the proposer
 * is an approver, so M >= 2 means nobody can approve alone. At M approvals the
 * change is applied atomically, and only if what it replaces is unchanged;
 * otherwise it is superseded. Unapproved changes expire (24 h by default).
 * Every step is an audit event.
 */
import { randomUUID } from 'node:crypto';
import { checkRule, ruleText, sha256Hex, type RuleSpec } from './rule.js';
import * as q from '../../storage/iam-quorum.repository.js';
import type { ChangeKind, ChangeStatus, PolicyChange, QuorumRule } from '../../storage/iam-quorum.repository.js';
import { findKey } from '../key-records.js';
import { insertGrant, type Grant } from '../../storage/grants.repository.js';
import { accessDenied, alreadyExists, invalidState, notFound, validation } from '../../aws/errors.js';
import { keyArn, UUID_RE, type KeyRecord } from '../model.js';
import { keyChanged } from '../keys.js';
import type { OperationContext } from '../context.js';
import { validateKeyPolicy } from './key-policy.js';
import { grantParamsSha256 } from '../grants.js';
import { deleteSigningPolicy, findSigningPolicy, putSigningPolicy } from '../../storage/signing-policies.repository.js';
import { parseSigningPolicy } from '../../signing-policy/document.js';
import { proposedChangeFields } from './change-view.js';

export { DEFAULT_TTL_SECONDS, MAX_APPROVERS, MAX_TTL_SECONDS, MIN_TTL_SECONDS, ruleText, sha256Hex, type RuleSpec } from './rule.js';

type Step =
  | 'PolicyChangeProposed'
  | 'PolicyChangeApproved'
  | 'PolicyChangeRejected'
  | 'PolicyChangeApplied'
  | 'PolicyChangeExpired'
  | 'PolicyChangeSuperseded'
  | 'QuorumRuleSet';

/**
 * Appends one audit event for a quorum step; the operation names the step and
 * the change id. A signing request's steps are named `SigningRequest…`
 * (`SigningRequestProposed/<id>`, `…Approved`, `…Rejected`, `…Applied`,
 * `…Expired`, `…Superseded`) so that the log and the monitor (src/audit/monitor.ts:
 * approval webhooks and metrics of kind `signing`) tell them from permission changes.
 */
function recordStep(ctx: OperationContext, step: Step, key: KeyRecord, change: Pick<PolicyChange, 'changeId' | 'kind'> | null): void {
  const name = change?.kind === 'SigningRequest' ? `SigningRequest${step.slice('PolicyChange'.length)}` : step;
  ctx.deps.audit.record({
    time: ctx.info.now,
    requestId: ctx.info.requestId,
    service: 'kms',
    operation: change ? `${name}/${change.changeId}` : name,
    principalArn: ctx.caller.arn,
    principalTags: { ...ctx.caller.tags },
    accessKeyId: ctx.caller.accessKeyId,
    sourceIp: ctx.info.sourceIp,
    userAgent: ctx.info.userAgent,
    keyArn: keyArn(key),
    encryptionContext: null,
    signingAlgorithm: null,
    outcome: 'allowed',
    errorCode: null,
  });
}

/**
 * Checks a rule: 2..20 distinct approvers, each this account's root or an
 * existing IAM user; 2 <= threshold <= approvers; expiry within bounds.
 * @throws {AwsError} ValidationException naming the fault.
 */
export async function validateRule(ctx: OperationContext, rule: RuleSpec): Promise<void> {
  await checkRule(ctx.deps.store.db, ctx.deps.config.accountId, rule);
}

function sameRule(a: RuleSpec, b: RuleSpec): boolean {
  return ruleText(a) === ruleText(b);
}

/** A change as the approvals API returns it. */
export function changeView(key: KeyRecord, c: PolicyChange, votes: q.Vote[], withPayload = false): Record<string, unknown> {
  const view: Record<string, unknown> = { ChangeId: c.changeId, KeyId: keyArn(key), Kind: c.kind, ...proposedChangeFields(c, votes) };
  if (withPayload) view.Payload = c.payload;
  return view;
}

function pendingError(c: PolicyChange, approvals: number): Error {
  const what =
    c.kind === 'KeyPolicy'
      ? 'Key policy change'
      : c.kind === 'Grant'
        ? 'Grant change'
        : c.kind === 'SigningPolicy'
          ? 'Signing policy change'
          : 'Quorum rule change';
  return invalidState(
    `${what} ${c.changeId} pending approval (${approvals} of ${c.threshold}); it is not in effect until ${c.threshold} approvers approve it (SHA-256 ${c.payloadSha256}), and expires at ${new Date(c.expiresAt).toISOString()}.`,
  );
}

async function propose(
  ctx: OperationContext,
  key: KeyRecord,
  rule: QuorumRule,
  kind: ChangeKind,
  payload: string,
  baseSha256: string,
): Promise<{ change: PolicyChange; approvals: number }> {
  const now = ctx.info.now;
  const change: PolicyChange = {
    changeId: randomUUID(),
    keyId: key.keyId,
    kind,
    payload,
    payloadSha256: sha256Hex(payload),
    baseSha256,
    proposerArn: ctx.caller.arn,
    status: 'PENDING',
    threshold: rule.threshold,
    approvers: rule.approvers,
    createdAt: now,
    expiresAt: now + rule.ttlSeconds * 1000,
    decidedAt: null,
  };
  const db = ctx.deps.store.db;
  const selfApproves = rule.approvers.includes(ctx.caller.arn);
  await db.transaction().execute(async (trx) => {
    await q.insertChange(trx, change);
    if (selfApproves) await q.insertVote(trx, change.changeId, { approverArn: ctx.caller.arn, vote: 'APPROVE', votedAt: now });
  });
  recordStep(ctx, 'PolicyChangeProposed', key, change);
  if (selfApproves) recordStep(ctx, 'PolicyChangeApproved', key, change);
  return { change, approvals: selfApproves ? 1 : 0 };
}

/**
 * Proposes a signing-policy change on a key with a quorum rule
 * (src/kms/signing-policy.ts): `policy` is the new text, '' to delete;
 * `base` the text it replaces ('' when none).
 * @throws {AwsError} KMSInvalidStateException "Signing policy change … pending approval (k of M) …" when there is a rule.
 * @returns when the key has no rule of its own (the caller writes at once, under the account rule).
 */
export async function proposeSigningPolicyChange(ctx: OperationContext, key: KeyRecord, policy: string, base: string): Promise<void> {
  const rule = await q.getQuorumRule(ctx.deps.store.db, key.keyId);
  if (!rule) return;
  const { change, approvals } = await propose(ctx, key, rule, 'SigningPolicy', policy, sha256Hex(base));
  throw pendingError(change, approvals);
}

/**
 * Records a signing request a RequireApproval statement holds
 * (src/kms/sign-payload.ts): `payload` the request's JSON text, `base` the
 * signing policy's text it was decided under. The approvers and M come from
 * the statement, not from a quorum rule; the requester's own vote never
 * counts (vote refuses it), so nobody approves their own request.
 * @returns the pending request (a change of kind SigningRequest).
 */
export async function proposeSigningRequest(
  ctx: OperationContext,
  key: KeyRecord,
  payload: string,
  base: string,
  rule: { approvers: string[]; threshold: number; ttlSeconds: number },
): Promise<PolicyChange> {
  const now = ctx.info.now;
  const change: PolicyChange = {
    changeId: randomUUID(),
    keyId: key.keyId,
    kind: 'SigningRequest',
    payload,
    payloadSha256: sha256Hex(payload),
    baseSha256: sha256Hex(base),
    proposerArn: ctx.caller.arn,
    status: 'PENDING',
    threshold: rule.threshold,
    approvers: rule.approvers,
    createdAt: now,
    expiresAt: now + rule.ttlSeconds * 1000,
    decidedAt: null,
  };
  await q.insertChange(ctx.deps.store.db, change);
  recordStep(ctx, 'PolicyChangeProposed', key, change);
  return change;
}

/**
 * PutKeyPolicy's write: applies the policy at once on a key without a quorum
 * rule; on a guarded key records a pending change and refuses.
 * @throws {AwsError} KMSInvalidStateException "... pending approval (k of M) ..." on a guarded key.
 */
export async function putKeyPolicyGuarded(ctx: OperationContext, key: KeyRecord, policy: string): Promise<void> {
  const db = ctx.deps.store.db;
  const rule = await q.getQuorumRule(db, key.keyId);
  if (!rule) {
    // A key without a rule of its own is under the account rule, if there is one.
    const stored = (await findKey(db, key.keyId)) ?? key;
    await ctx.deps.quorum.guard(ctx, {
      kind: 'PutKeyPolicy',
      target: keyArn(key),
      keyId: key.keyId,
      payload: { KeyId: keyArn(key), PolicyName: 'default', Policy: policy },
      base: stored.policy,
      protocol: 'kms',
    });
    await q.setKeyPolicy(db, key.keyId, policy);
    keyChanged(ctx, key.keyId);
    return;
  }
  // The base is what is stored now, not a cached copy.
  const stored = (await findKey(db, key.keyId)) ?? key;
  const { change, approvals } = await propose(ctx, key, rule, 'KeyPolicy', policy, sha256Hex(stored.policy));
  throw pendingError(change, approvals);
}

/** The text a grant change carries (what approvers review and hash): the grant to create. */
export function grantPayload(g: Grant): string {
  return JSON.stringify({
    GrantId: g.grantId,
    Name: g.name,
    GranteePrincipal: g.granteePrincipal,
    RetiringPrincipal: g.retiringPrincipal,
    Operations: g.operations,
    Constraints: g.constraints,
  });
}

/** The grant a Grant change's text describes, on `keyId`. */
export function grantFromPayload(keyId: string, payload: string, issuingAccount: string, paramsSha256: (g: Grant) => string, now: number): Grant {
  const p = JSON.parse(payload) as {
    GrantId: string;
    Name: string | null;
    GranteePrincipal: string;
    RetiringPrincipal: string | null;
    Operations: string[];
    Constraints: Grant['constraints'];
  };
  const grant: Grant = {
    grantId: p.GrantId,
    keyId,
    name: p.Name,
    granteePrincipal: p.GranteePrincipal,
    retiringPrincipal: p.RetiringPrincipal,
    issuingAccount,
    operations: p.Operations,
    constraints: p.Constraints,
    paramsSha256: '',
    createdAt: now,
  };
  grant.paramsSha256 = paramsSha256(grant);
  return grant;
}

/**
 * CreateGrant's write: creates the grant at once on a key without a quorum
 * rule (or returns the grant of the same name and parameters); on a guarded
 * key records a pending change and refuses. `paramsSha256` is the grant's
 * idempotency hash (src/kms/grants.ts), applied again when the change is.
 * @throws {AwsError} KMSInvalidStateException "Grant change … pending approval (k of M) …" on a guarded key.
 */
export async function createGrantGuarded(ctx: OperationContext, key: KeyRecord, grant: Grant): Promise<Grant> {
  const db = ctx.deps.store.db;
  const rule = await q.getQuorumRule(db, key.keyId);
  if (!rule) {
    await ctx.deps.quorum.guard(ctx, {
      kind: 'CreateGrant',
      target: keyArn(key),
      keyId: key.keyId,
      payload: { KeyId: keyArn(key), Grant: JSON.parse(grantPayload(grant)) as Record<string, unknown> },
      base: '',
      protocol: 'kms',
    });
    const stored = await insertGrant(db, grant);
    keyChanged(ctx, key.keyId);
    return stored;
  }
  // A grant replaces nothing: its base is the empty text.
  const { change, approvals } = await propose(ctx, key, rule, 'Grant', grantPayload(grant), sha256Hex(''));
  throw pendingError(change, approvals);
}

/**
 * Sets a key's quorum rule (or, with `next` null, removes it). A key without
 * a rule gets one at once; changing or removing a rule is itself a change the
 * current quorum must approve.
 * @returns APPLIED, or the pending change.
 */
export async function putQuorumRule(ctx: OperationContext, key: KeyRecord, next: RuleSpec | null): Promise<Record<string, unknown>> {
  const db = ctx.deps.store.db;
  if (next) await validateRule(ctx, next);
  const now = ctx.info.now;
  let current = await q.getQuorumRule(db, key.keyId);
  if (!current) {
    if (next === null) throw notFound(`Key '${keyArn(key)}' has no quorum rule.`);
    // Under an account rule, giving a key a rule of its own is a change that rule's quorum approves.
    const { approvers, threshold, ttlSeconds } = next;
    const payload = { KeyId: keyArn(key), Approvers: [...approvers].sort(), Threshold: threshold, ExpirationSeconds: ttlSeconds };
    const pending = await ctx.deps.quorum.submit(ctx, { kind: 'PutQuorumRule', target: keyArn(key), keyId: key.keyId, payload, base: '', protocol: 'kms' });
    if (pending) {
      const { change, approvals } = pending;
      return {
        KeyId: keyArn(key),
        Status: 'PENDING',
        Scope: 'Account',
        ChangeId: change.changeId,
        PayloadSha256: change.payloadSha256,
        Approvals: approvals,
        Threshold: change.threshold,
      };
    }
    const inserted = await q.insertQuorumRuleIfAbsent(db, { keyId: key.keyId, ...next, updatedAt: now, updatedBy: ctx.caller.arn });
    if (inserted) {
      recordStep(ctx, 'QuorumRuleSet', key, null);
      return { KeyId: keyArn(key), Status: 'APPLIED' };
    }
    current = await q.getQuorumRule(db, key.keyId);
    if (!current) throw invalidState(`The quorum rule of key '${keyArn(key)}' changed during this request; try again.`);
  }
  const { change, approvals } = await propose(ctx, key, current, 'QuorumRule', ruleText(next), sha256Hex(ruleText(current)));
  return {
    KeyId: keyArn(key),
    Status: 'PENDING',
    ChangeId: change.changeId,
    PayloadSha256: change.payloadSha256,
    Approvals: approvals,
    Threshold: change.threshold,
  };
}

class Superseded extends Error {}

/** Applies an approved change exactly once, if what it replaces is unchanged. */
async function apply(ctx: OperationContext, key: KeyRecord, change: PolicyChange): Promise<ChangeStatus> {
  const db = ctx.deps.store.db;
  const now = ctx.info.now;
  let outcome: 'APPLIED' | 'DECIDED';
  try {
    outcome = await db.transaction().execute(async (trx) => {
      if (change.kind === 'Grant') {
        if (!(await findKey(trx, change.keyId))) throw new Superseded();
        if (!(await q.closeChange(trx, change.changeId, 'APPLIED', now))) return 'DECIDED';
        await insertGrant(trx, grantFromPayload(change.keyId, change.payload, ctx.deps.config.accountId, grantParamsSha256, now));
      } else if (change.kind === 'SigningRequest') {
        // Approval of a signature: valid only under the signing policy it was decided by.
        const stored = await findSigningPolicy(trx, change.keyId);
        if (!(await findKey(trx, change.keyId)) || sha256Hex(stored?.policy ?? '') !== change.baseSha256) throw new Superseded();
        if (!(await q.closeChange(trx, change.changeId, 'APPLIED', now))) return 'DECIDED';
      } else if (change.kind === 'SigningPolicy') {
        const stored = await findSigningPolicy(trx, change.keyId);
        if (!(await findKey(trx, change.keyId)) || sha256Hex(stored?.policy ?? '') !== change.baseSha256) throw new Superseded();
        if (change.payload !== '') parseSigningPolicy(change.payload);
        if (!(await q.closeChange(trx, change.changeId, 'APPLIED', now))) return 'DECIDED';
        const written =
          change.payload === ''
            ? stored !== undefined && (await deleteSigningPolicy(trx, change.keyId, stored.policy))
            : await putSigningPolicy(trx, { keyId: change.keyId, policy: change.payload, updatedAt: now, updatedBy: change.proposerArn }, stored?.policy);
        if (!written) throw new Superseded();
      } else if (change.kind === 'KeyPolicy') {
        const stored = await findKey(trx, change.keyId);
        if (!stored || sha256Hex(stored.policy) !== change.baseSha256) throw new Superseded();
        validateKeyPolicy(change.payload);
        if (!(await q.closeChange(trx, change.changeId, 'APPLIED', now))) return 'DECIDED';
        if (!(await q.setKeyPolicy(trx, change.keyId, change.payload, stored.policy))) throw new Superseded();
      } else {
        const rule = await q.getQuorumRule(trx, change.keyId);
        if (!rule || sha256Hex(ruleText(rule)) !== change.baseSha256) throw new Superseded();
        if (!(await q.closeChange(trx, change.changeId, 'APPLIED', now))) return 'DECIDED';
        const spec = JSON.parse(change.payload) as RuleSpec | null;
        const next = spec === null ? null : { keyId: change.keyId, ...spec, updatedAt: now, updatedBy: change.proposerArn };
        if (!(await q.replaceQuorumRule(trx, rule, next))) throw new Superseded();
      }
      return 'APPLIED';
    });
  } catch (e) {
    if (!(e instanceof Superseded)) throw e;
    if (await q.closeChange(db, change.changeId, 'SUPERSEDED', now)) recordStep(ctx, 'PolicyChangeSuperseded', key, change);
    return (await q.findChange(db, change.changeId))?.status ?? 'SUPERSEDED';
  }
  if (outcome === 'DECIDED') return (await q.findChange(db, change.changeId))?.status ?? 'APPLIED';
  keyChanged(ctx, change.keyId);
  recordStep(ctx, 'PolicyChangeApplied', key, change);
  return 'APPLIED';
}

/** Marks a pending change past its expiry as EXPIRED; returns the change as it now stands. */
async function expireIfDue(ctx: OperationContext, key: KeyRecord, change: PolicyChange): Promise<PolicyChange> {
  if (change.status !== 'PENDING' || ctx.info.now < change.expiresAt) return change;
  if (await q.closeChange(ctx.deps.store.db, change.changeId, 'EXPIRED', change.expiresAt)) recordStep(ctx, 'PolicyChangeExpired', key, change);
  return (await q.findChange(ctx.deps.store.db, change.changeId)) ?? change;
}

/**
 * Loads a change and its key.
 * @throws {AwsError} NotFoundException.
 */
export async function loadChange(ctx: OperationContext, changeId: string): Promise<{ change: PolicyChange; key: KeyRecord }> {
  const db = ctx.deps.store.db;
  const change = UUID_RE.test(changeId) ? await q.findChange(db, changeId) : undefined;
  const key = change ? await findKey(db, change.keyId) : undefined;
  if (!change || !key) throw notFound(`Policy change '${changeId.slice(0, 64)}' does not exist.`);
  ctx.audit.keyArn = keyArn(key);
  return { change: await expireIfDue(ctx, key, change), key };
}

/**
 * One approver's vote on a change, by id and the SHA-256 of its text.
 * Reaching the threshold applies the change; rejections that make the
 * threshold unreachable reject it.
 * @throws {AwsError} NotFound, AccessDenied (not an approver), KMSInvalidState
 *   (not pending), Validation (hash mismatch), AlreadyExists (voted before).
 */
export async function vote(ctx: OperationContext, changeId: string, payloadSha256: string, decision: 'APPROVE' | 'REJECT'): Promise<Record<string, unknown>> {
  const db = ctx.deps.store.db;
  const loaded = await loadChange(ctx, changeId);
  let change = loaded.change;
  const key = loaded.key;
  const action = decision === 'APPROVE' ? 'symbolon:ApprovePolicyChange' : 'symbolon:RejectPolicyChange';
  if (!change.approvers.includes(ctx.caller.arn)) {
    throw accessDenied(
      `User: ${ctx.caller.arn} is not authorized to perform: ${action} on resource: ${keyArn(key)} because it is not an approver of policy change ${change.changeId}`,
    );
  }
  if (change.kind === 'SigningRequest' && change.proposerArn === ctx.caller.arn) {
    throw accessDenied(
      `User: ${ctx.caller.arn} is not authorized to perform: ${action} on resource: ${keyArn(key)} because it requested signing request ${change.changeId}`,
    );
  }
  if (change.status !== 'PENDING')
    throw invalidState(`Policy change ${change.changeId} is ${change.status}; only a PENDING change can be approved or rejected.`);
  if (payloadSha256.toLowerCase() !== change.payloadSha256) {
    throw validation(
      `PayloadSha256 does not match policy change ${change.changeId}: review its text (approvals show) and vote on the SHA-256 of what you reviewed.`,
    );
  }
  if (change.kind !== 'QuorumRule' && change.kind !== 'SigningRequest') {
    // A change proposed under another rule than the one now in force is void.
    const rule = await q.getQuorumRule(db, change.keyId);
    if (!rule || !sameRule(rule, { approvers: change.approvers, threshold: change.threshold, ttlSeconds: rule.ttlSeconds })) {
      if (await q.closeChange(db, change.changeId, 'SUPERSEDED', ctx.info.now)) recordStep(ctx, 'PolicyChangeSuperseded', key, change);
      throw invalidState(`Policy change ${change.changeId} was proposed under a quorum rule that is no longer in force; it is SUPERSEDED.`);
    }
  }
  if (!(await q.insertVote(db, change.changeId, { approverArn: ctx.caller.arn, vote: decision, votedAt: ctx.info.now }))) {
    throw alreadyExists(`${ctx.caller.arn} has already voted on policy change ${change.changeId}.`);
  }
  recordStep(ctx, decision === 'APPROVE' ? 'PolicyChangeApproved' : 'PolicyChangeRejected', key, change);
  let votes = await q.listVotes(db, change.changeId);
  const approvals = votes.filter((v) => v.vote === 'APPROVE').length;
  const rejections = votes.filter((v) => v.vote === 'REJECT').length;
  if (approvals >= change.threshold) {
    await apply(ctx, key, change);
  } else if (change.approvers.length - rejections < change.threshold) {
    if (await q.closeChange(db, change.changeId, 'REJECTED', ctx.info.now)) recordStep(ctx, 'PolicyChangeRejected', key, change);
  }
  change = (await q.findChange(db, change.changeId)) ?? change;
  votes = await q.listVotes(db, change.changeId);
  return changeView(key, change, votes);
}

/** Pending or decided changes the caller may see, expiring those past due. */
export async function listChanges(
  ctx: OperationContext,
  options: { key?: KeyRecord | undefined; status?: ChangeStatus | undefined; after?: { createdAt: number; changeId: string } | undefined; limit: number },
  visible: (key: KeyRecord, change: PolicyChange) => Promise<boolean>,
): Promise<{ items: Record<string, unknown>[]; last: PolicyChange | undefined; more: boolean }> {
  const db = ctx.deps.store.db;
  const items: Record<string, unknown>[] = [];
  let after = options.after;
  let last: PolicyChange | undefined;
  // Scan in pages until `limit` visible changes are found (changes on other keys may be hidden).
  for (;;) {
    const page = await q.listChanges(db, { keyId: options.key?.keyId, after, limit: 100 });
    for (const raw of page) {
      after = { createdAt: raw.createdAt, changeId: raw.changeId };
      const key = options.key ?? (await findKey(db, raw.keyId));
      if (!key) continue;
      const change = await expireIfDue(ctx, key, raw);
      if (options.status && change.status !== options.status) continue;
      if (!(await visible(key, change))) continue;
      if (items.length === options.limit) return { items, last, more: true };
      items.push(changeView(key, change, await q.listVotes(db, change.changeId)));
      last = change;
    }
    if (page.length < 100) return { items, last, more: false };
  }
}
