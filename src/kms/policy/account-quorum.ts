/**
 * The account-level quorum (docs/access-control.md, "The account rule"). Once
 * the account has a rule (N named approvers, threshold M >= 2), every action
 * that can widen anyone's access — IAM user and role policies, user tags,
 * new users with tags, access keys for another user, new roles, key policies
 * and grants on keys without a rule of their own, alias moves and deletions, per-key rules,
 * the account rule itself — is recorded as a pending change instead of
 * applied: an id, the exact request as JSON and its SHA-256. Approvers vote
 * on the id and the hash; the proposer's proposal counts as the proposer's
 * vote when the proposer is an approver, so M >= 2 means nobody approves
 * alone. At M approvals the change is applied in one transaction, exactly
 * once, by the applier registered for its kind, which re-validates it
 * against the current state (the user still exists, the policy it replaces
 * is unchanged, …); a change that no longer applies is SUPERSEDED with the
 * reason. Every step is an audit event.
 *
 * Callers: an action calls guard() before its write; guard() returns when
 * the account has no rule (the action applies at once, as before) and throws
 * the pending error in the caller's protocol otherwise.
 */
import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { AwsError, accessDenied, alreadyExists, invalidState, notFound, validation } from '../../aws/errors.js';
import type { Caller, RequestInfo } from '../../aws/context.js';
import type { AuditSink } from '../../audit/event.js';
import type { Store } from '../../storage/database.js';
import type { Tables } from '../../storage/tables.js';
import * as r from '../../storage/account-quorum.repository.js';
import type { AccountChange, AccountChangeStatus, AccountRule, AccountVote } from '../../storage/account-quorum.repository.js';
import { checkRule, ruleText, sha256Hex, type RuleSpec } from './rule.js';
import { proposedChangeFields } from './change-view.js';

export type { AccountChange, AccountChangeStatus, AccountRule };

/** Who asks, and when. */
export interface QuorumEnv {
  caller: Caller;
  info: RequestInfo;
}

/** The protocol of the action a change came from: how its proposer is told. */
export type Protocol = 'kms' | 'iam';

/** One proposed change: the action, its target, its exact request, and the state it replaces. */
export interface ChangeSpec {
  /** The API action the change makes: PutUserPolicy, PutKeyPolicy, … */
  kind: string;
  /** A user or role name, an alias name, a key ARN, or `account`. */
  target: string;
  /** The key the change concerns, if any (its id). */
  keyId?: string | null;
  /** The request as approvers review it (serialized as JSON, hashed). */
  payload: Record<string, unknown>;
  /** The text of the state the change replaces (the current policy, tags, …; '' when none). */
  base: string;
  protocol: Protocol;
}

/**
 * Applies one kind of approved change inside the decision's transaction.
 * `apply` re-validates against the current state and throws StaleChange (or
 * an AwsError) when the change no longer applies; `applied` runs after the
 * commit (cache invalidation).
 */
export interface ChangeApplier {
  protocol: Protocol;
  apply(trx: Transaction<Tables>, change: AccountChange, payload: Record<string, unknown>, now: number): Promise<void>;
  applied?(change: AccountChange, payload: Record<string, unknown>): Promise<void> | void;
}

/** Thrown by an applier: the change no longer applies to the current state; the message says why. */
export class StaleChange extends Error {}

const RULE_KINDS = new Set(['PutAccountQuorumRule', 'DeleteAccountQuorumRule']);

type Step =
  | 'PolicyChangeProposed'
  | 'PolicyChangeApproved'
  | 'PolicyChangeRejected'
  | 'PolicyChangeApplied'
  | 'PolicyChangeExpired'
  | 'PolicyChangeSuperseded'
  | 'AccountQuorumRuleSet';

/** The pending-change error in each protocol: KMS's KMSInvalidStateException, IAM's EntityTemporarilyUnmodifiable (409). */
export function pendingChangeError(protocol: Protocol, c: AccountChange, approvals: number): AwsError {
  const message =
    `${c.kind} change ${c.changeId} on ${c.target} pending approval (${approvals} of ${c.threshold}) under the account quorum rule; ` +
    `it is not in effect until ${c.threshold} approvers approve it (SHA-256 ${c.payloadSha256}), and expires at ${new Date(c.expiresAt).toISOString()}.`;
  return protocol === 'kms' ? invalidState(message) : new AwsError('EntityTemporarilyUnmodifiable', message, 409);
}

export class AccountQuorum {
  readonly #store: Store;
  readonly #audit: AuditSink;
  readonly #accountId: string;
  readonly #appliers = new Map<string, ChangeApplier>();

  constructor(options: { store: Store; audit: AuditSink; accountId: string }) {
    this.#store = options.store;
    this.#audit = options.audit;
    this.#accountId = options.accountId;
  }

  /** Registers how approved changes of `kind` are applied. */
  register(appliers: Record<string, ChangeApplier>): void {
    for (const [kind, a] of Object.entries(appliers)) this.#appliers.set(kind, a);
  }

  get rootArn(): string {
    return `arn:aws:iam::${this.#accountId}:root`;
  }

  rule(): Promise<AccountRule | undefined> {
    return r.getAccountRule(this.#store.db);
  }

  #step(env: QuorumEnv, step: Step, change: AccountChange | null, service: Protocol): void {
    this.#audit.record({
      time: env.info.now,
      requestId: env.info.requestId,
      service,
      operation: change ? `${step}/${change.changeId}` : step,
      principalArn: env.caller.arn,
      principalTags: { ...env.caller.tags },
      accessKeyId: env.caller.accessKeyId,
      sourceIp: env.info.sourceIp,
      userAgent: env.info.userAgent,
      keyArn: change?.target.startsWith('arn:aws:kms:') ? change.target : null,
      encryptionContext: null,
      signingAlgorithm: null,
      outcome: 'allowed',
      errorCode: null,
    });
  }

  #protocol(change: AccountChange): Protocol {
    return RULE_KINDS.has(change.kind) ? 'kms' : (this.#appliers.get(change.kind)?.protocol ?? 'kms');
  }

  async #propose(
    env: QuorumEnv,
    rule: AccountRule,
    spec: Omit<ChangeSpec, 'protocol'>,
    service: Protocol,
  ): Promise<{ change: AccountChange; approvals: number }> {
    const now = env.info.now;
    const payload = JSON.stringify({ Action: spec.kind, ...spec.payload });
    const change: AccountChange = {
      changeId: randomUUID(),
      kind: spec.kind,
      target: spec.target,
      keyId: spec.keyId ?? null,
      payload,
      payloadSha256: sha256Hex(payload),
      baseSha256: sha256Hex(spec.base),
      proposerArn: env.caller.arn,
      status: 'PENDING',
      threshold: rule.threshold,
      approvers: rule.approvers,
      createdAt: now,
      expiresAt: now + rule.ttlSeconds * 1000,
      decidedAt: null,
      outcome: null,
      redeemedAt: null,
    };
    const selfApproves = rule.approvers.includes(env.caller.arn);
    await this.#store.db.transaction().execute(async (trx) => {
      await r.insertAccountChange(trx, change);
      if (selfApproves) await r.insertAccountVote(trx, change.changeId, { approverArn: env.caller.arn, vote: 'APPROVE', votedAt: now });
    });
    this.#step(env, 'PolicyChangeProposed', change, service);
    if (selfApproves) this.#step(env, 'PolicyChangeApproved', change, service);
    return { change, approvals: selfApproves ? 1 : 0 };
  }

  /** The caller's own PENDING change with this exact text, if one is open (a retried request does not propose twice). */
  async #openProposal(env: QuorumEnv, payloadSha256: string): Promise<AccountChange | undefined> {
    for (const c of await r.findOwnChanges(this.#store.db, env.caller.arn, payloadSha256)) {
      const now = await this.#expireIfDue(env, c);
      if (now.status === 'PENDING') return now;
    }
    return undefined;
  }

  /**
   * Before an action that can widen access: returns when the account has no
   * rule (apply at once); otherwise records the change (or finds the caller's
   * identical open proposal) and throws.
   * @throws {AwsError} the pending error in `spec.protocol`'s shape.
   */
  async guard(env: QuorumEnv, spec: ChangeSpec): Promise<void> {
    const pending = await this.submit(env, spec);
    if (pending) throw pendingChangeError(spec.protocol, pending.change, pending.approvals);
  }

  /** guard() for callers that answer with the pending change instead of an error: undefined when the account has no rule. */
  async submit(env: QuorumEnv, spec: ChangeSpec): Promise<{ change: AccountChange; approvals: number } | undefined> {
    const rule = await this.rule();
    if (!rule) return undefined;
    const sha = sha256Hex(JSON.stringify({ Action: spec.kind, ...spec.payload }));
    const open = await this.#openProposal(env, sha);
    if (open) return { change: open, approvals: (await r.listAccountVotes(this.#store.db, open.changeId)).filter((v) => v.vote === 'APPROVE').length };
    return this.#propose(env, rule, spec, spec.protocol);
  }

  /**
   * For changes that hand something to the proposer when approved (a new
   * access key's secret): returns true when the caller holds an approved,
   * uncollected change with this exact request, marking it collected (once);
   * false when the account has no rule; throws the pending error otherwise.
   */
  async redeemOrGuard(env: QuorumEnv, spec: ChangeSpec): Promise<boolean> {
    const sha = sha256Hex(JSON.stringify({ Action: spec.kind, ...spec.payload }));
    for (const c of await r.findOwnChanges(this.#store.db, env.caller.arn, sha)) {
      if (c.status === 'APPLIED' && c.redeemedAt === null && (await r.redeemAccountChange(this.#store.db, c.changeId, env.info.now))) return true;
    }
    await this.guard(env, spec);
    return false;
  }

  /**
   * Sets the account rule (or, with `next` null, removes it). The first rule
   * applies at once; replacing or removing one is a change the current rule's
   * quorum must approve.
   */
  async putRule(env: QuorumEnv, next: RuleSpec | null): Promise<Record<string, unknown>> {
    const db = this.#store.db;
    if (next) await checkRule(db, this.#accountId, next);
    let current = await this.rule();
    if (!current) {
      if (next === null) throw notFound('The account has no quorum rule.');
      if (await r.insertAccountRuleIfAbsent(db, { ...next, updatedAt: env.info.now, updatedBy: env.caller.arn })) {
        this.#step(env, 'AccountQuorumRuleSet', null, 'kms');
        return { Status: 'APPLIED' };
      }
      current = await this.rule();
      if (!current) throw invalidState('The account quorum rule changed during this request; try again.');
    }
    const kind = next === null ? 'DeleteAccountQuorumRule' : 'PutAccountQuorumRule';
    const payload = next === null ? {} : { Approvers: [...next.approvers].sort(), Threshold: next.threshold, ExpirationSeconds: next.ttlSeconds };
    const sha = sha256Hex(JSON.stringify({ Action: kind, ...payload }));
    const found = await this.#openProposal(env, sha);
    const { change, approvals } = found
      ? { change: found, approvals: (await r.listAccountVotes(db, found.changeId)).filter((v) => v.vote === 'APPROVE').length }
      : await this.#propose(env, current, { kind, target: 'account', payload, base: ruleText(current) }, 'kms');
    return { Status: 'PENDING', ChangeId: change.changeId, PayloadSha256: change.payloadSha256, Approvals: approvals, Threshold: change.threshold };
  }

  async #expireIfDue(env: QuorumEnv, change: AccountChange): Promise<AccountChange> {
    if (change.status !== 'PENDING' || env.info.now < change.expiresAt) return change;
    if (await r.closeAccountChange(this.#store.db, change.changeId, 'EXPIRED', change.expiresAt))
      this.#step(env, 'PolicyChangeExpired', change, this.#protocol(change));
    return (await r.findAccountChange(this.#store.db, change.changeId)) ?? change;
  }

  /** A change by id (expired if due), or undefined. */
  async find(env: QuorumEnv, changeId: string): Promise<AccountChange | undefined> {
    const c = await r.findAccountChange(this.#store.db, changeId);
    return c ? this.#expireIfDue(env, c) : undefined;
  }

  votes(changeId: string): Promise<AccountVote[]> {
    return r.listAccountVotes(this.#store.db, changeId);
  }

  /** Approvers, the proposer and the account root see a change. */
  mayView(env: QuorumEnv, change: AccountChange): boolean {
    return change.approvers.includes(env.caller.arn) || change.proposerArn === env.caller.arn || env.caller.arn === this.rootArn;
  }

  /** Account changes the caller may see, in creation order, expiring those past due. */
  async list(
    env: QuorumEnv,
    options: {
      keyId?: string | undefined;
      status?: AccountChangeStatus | undefined;
      after?: { createdAt: number; changeId: string } | undefined;
      limit: number;
    },
  ): Promise<{ items: Record<string, unknown>[]; last: AccountChange | undefined; more: boolean }> {
    const items: Record<string, unknown>[] = [];
    let after = options.after;
    let last: AccountChange | undefined;
    for (;;) {
      const page = await r.listAccountChanges(this.#store.db, { keyId: options.keyId, after, limit: 100 });
      for (const raw of page) {
        after = { createdAt: raw.createdAt, changeId: raw.changeId };
        const change = await this.#expireIfDue(env, raw);
        if (options.status && change.status !== options.status) continue;
        if (!this.mayView(env, change)) continue;
        if (items.length === options.limit) return { items, last, more: true };
        items.push(accountChangeView(change, await this.votes(change.changeId)));
        last = change;
      }
      if (page.length < 100) return { items, last, more: false };
    }
  }

  /**
   * One approver's vote on an account change, by id and the SHA-256 of its
   * text. Reaching the threshold applies it; rejections that make the
   * threshold unreachable reject it.
   * @throws {AwsError} AccessDenied (not an approver), KMSInvalidState (not
   *   pending, or proposed under a rule no longer in force), Validation (hash
   *   mismatch), AlreadyExists (voted before).
   */
  async vote(env: QuorumEnv, change0: AccountChange, payloadSha256: string, decision: 'APPROVE' | 'REJECT'): Promise<Record<string, unknown>> {
    const db = this.#store.db;
    let change = change0;
    const service = this.#protocol(change);
    const action = decision === 'APPROVE' ? 'symbolon:ApprovePolicyChange' : 'symbolon:RejectPolicyChange';
    if (!change.approvers.includes(env.caller.arn)) {
      throw accessDenied(
        `User: ${env.caller.arn} is not authorized to perform: ${action} on resource: ${change.target} because it is not an approver of policy change ${change.changeId}`,
      );
    }
    if (change.status !== 'PENDING')
      throw invalidState(`Policy change ${change.changeId} is ${change.status}; only a PENDING change can be approved or rejected.`);
    if (payloadSha256.toLowerCase() !== change.payloadSha256) {
      throw validation(
        `PayloadSha256 does not match policy change ${change.changeId}: review its text (approvals show) and vote on the SHA-256 of what you reviewed.`,
      );
    }
    if (!RULE_KINDS.has(change.kind)) {
      // A change proposed under another account rule than the one now in force is void.
      const rule = await this.rule();
      if (!rule || ruleText({ approvers: change.approvers, threshold: change.threshold, ttlSeconds: rule.ttlSeconds }) !== ruleText(rule)) {
        if (await r.closeAccountChange(db, change.changeId, 'SUPERSEDED', env.info.now, 'the account quorum rule changed'))
          this.#step(env, 'PolicyChangeSuperseded', change, service);
        throw invalidState(`Policy change ${change.changeId} was proposed under a quorum rule that is no longer in force; it is SUPERSEDED.`);
      }
    }
    if (!(await r.insertAccountVote(db, change.changeId, { approverArn: env.caller.arn, vote: decision, votedAt: env.info.now }))) {
      throw alreadyExists(`${env.caller.arn} has already voted on policy change ${change.changeId}.`);
    }
    this.#step(env, decision === 'APPROVE' ? 'PolicyChangeApproved' : 'PolicyChangeRejected', change, service);
    const votes = await r.listAccountVotes(db, change.changeId);
    const approvals = votes.filter((v) => v.vote === 'APPROVE').length;
    const rejections = votes.filter((v) => v.vote === 'REJECT').length;
    if (approvals >= change.threshold) {
      await this.#apply(env, change, service);
    } else if (change.approvers.length - rejections < change.threshold) {
      if (await r.closeAccountChange(db, change.changeId, 'REJECTED', env.info.now)) this.#step(env, 'PolicyChangeRejected', change, service);
    }
    change = (await r.findAccountChange(db, change.changeId)) ?? change;
    return accountChangeView(change, await r.listAccountVotes(db, change.changeId));
  }

  /** Applies an approved change exactly once, if it still applies to the current state. */
  async #apply(env: QuorumEnv, change: AccountChange, service: Protocol): Promise<void> {
    const db = this.#store.db;
    const now = env.info.now;
    const payload = JSON.parse(change.payload) as Record<string, unknown>;
    const applier = RULE_KINDS.has(change.kind) ? undefined : this.#appliers.get(change.kind);
    let outcome: 'APPLIED' | 'DECIDED';
    try {
      outcome = await db.transaction().execute(async (trx) => {
        if (!(await r.closeAccountChange(trx, change.changeId, 'APPLIED', now))) return 'DECIDED';
        if (RULE_KINDS.has(change.kind)) {
          const rule = await r.getAccountRule(trx);
          if (!rule || sha256Hex(ruleText(rule)) !== change.baseSha256) throw new StaleChange('the account quorum rule changed since it was proposed');
          const next =
            change.kind === 'DeleteAccountQuorumRule'
              ? null
              : {
                  approvers: payload.Approvers as string[],
                  threshold: payload.Threshold as number,
                  ttlSeconds: payload.ExpirationSeconds as number,
                  updatedAt: now,
                  updatedBy: change.proposerArn,
                };
          if (next) await checkRule(trx, this.#accountId, next);
          if (!(await r.replaceAccountRule(trx, rule, next))) throw new StaleChange('the account quorum rule changed since it was proposed');
        } else {
          if (!applier) throw new StaleChange(`no applier for ${change.kind}`);
          await applier.apply(trx, change, payload, now);
        }
        return 'APPLIED';
      });
    } catch (e) {
      if (!(e instanceof StaleChange) && !(e instanceof AwsError)) throw e;
      const reason = e instanceof AwsError ? `${e.type}: ${e.message}` : e.message;
      if (await r.closeAccountChange(db, change.changeId, 'SUPERSEDED', now, reason.slice(0, 1000))) this.#step(env, 'PolicyChangeSuperseded', change, service);
      return;
    }
    if (outcome === 'DECIDED') return;
    if (applier?.applied) await applier.applied(change, payload);
    this.#step(env, 'PolicyChangeApplied', change, service);
  }
}

/** An account change as the approvals API returns it. */
export function accountChangeView(c: AccountChange, votes: AccountVote[], withPayload = false): Record<string, unknown> {
  const view: Record<string, unknown> = { ChangeId: c.changeId, Scope: 'Account', Kind: c.kind, Target: c.target, ...proposedChangeFields(c, votes) };
  if (c.target.startsWith('arn:aws:kms:')) view.KeyId = c.target;
  if (c.outcome !== null) view.Outcome = c.outcome;
  if (c.kind === 'CreateAccessKey' && c.status === 'APPLIED') view.Collected = c.redeemedAt !== null;
  if (withPayload) view.Payload = c.payload;
  return view;
}
