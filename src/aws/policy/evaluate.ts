/**
 * Policy evaluation as AWS KMS does it (KMS Developer Guide, "Key policies"
 * and "Troubleshooting key access"; IAM User Guide, "Policy evaluation logic"):
 *
 * 1. An explicit Deny in the key policy or in an identity policy wins.
 * 2. The key policy is the root of authority. An Allow that names the caller
 *    (its ARN, its role, or `*`) allows.
 * 3. An Allow that names the account (`arn:aws:iam::A:root` or `A`) delegates
 *    to IAM: the account root is allowed by it directly, any other principal of
 *    the account also needs an Allow in one of its identity policies.
 * 4. A key policy without such a statement ignores identity policies.
 * 5. Actions on no key (CreateKey, ListKeys, and IAM's own actions) are
 *    decided by identity policies alone; the account root is always allowed.
 *
 * Pure and synchronous.
 */
import { evaluateClause } from './conditions.js';
import { substitute } from './variables.js';
import { compileWildcard, wildcardMatch } from './wildcard.js';
import type { EvalPrincipal, EvalRequest } from './request.js';
import type { PolicyDocument, PrincipalSet, Statement } from './document.js';

/** How a Principal entry matches the caller: by name, or as its account (delegation to IAM). */
type PrincipalMatch = 'direct' | 'account' | undefined;

function matchPrincipalEntry(entry: string, p: EvalPrincipal): PrincipalMatch {
  const account = /^\d{12}$/.test(entry) ? entry : /^arn:aws:iam::(\d{12}):root$/.exec(entry)?.[1];
  if (account !== undefined) {
    if (account !== p.accountId) return undefined;
    return p.kind === 'root' ? 'direct' : 'account';
  }
  if (entry === p.arn) return 'direct';
  if (p.kind === 'assumed-role' && p.roleArn) {
    // A role ARN (with or without a path) names every session of that role.
    const role = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(entry);
    const mine = /^arn:aws:iam::(\d{12}):role\/(.+)$/.exec(p.roleArn);
    if (role && mine && role[1] === mine[1] && role[2] === mine[2]) return 'direct';
  }
  return undefined;
}

function matchPrincipalSet(set: PrincipalSet, p: EvalPrincipal): PrincipalMatch {
  if (set.any) return 'direct';
  let best: PrincipalMatch;
  for (const entry of set.aws) {
    const m = matchPrincipalEntry(entry, p);
    if (m === 'direct') return 'direct';
    if (m === 'account') best = 'account';
  }
  return best;
}

function matchesAction(st: Statement, action: string): boolean {
  const hit = st.actions.some((re) => re.test(action));
  return st.notAction ? !hit : hit;
}

function matchesResource(st: Statement, req: EvalRequest, version: PolicyDocument['version']): boolean {
  const hit = st.resources.some((pattern) => {
    if (pattern === '*') return true;
    if (!pattern.includes('${')) return wildcardMatch(pattern, req.resource, false);
    const parts = substitute(pattern, version, req.context);
    return parts !== undefined && compileWildcard(parts, false).test(req.resource);
  });
  return st.notResource ? !hit : hit;
}

function matchesConditions(st: Statement, req: EvalRequest, version: PolicyDocument['version']): boolean {
  // Operators are AND'd, and keys within an operator are AND'd.
  return st.conditions.every((c) => evaluateClause(c, req.context, version));
}

/** What one policy says about a request. */
export interface PolicyVerdict {
  /** A Deny statement applies. */
  deny: boolean;
  /** An Allow statement applies to the caller by name (or to everyone). */
  allow: boolean;
  /** An Allow statement applies to the caller's account (delegation to identity policies). */
  allowAccount: boolean;
}

/**
 * Evaluates every statement of one policy. For an identity policy the
 * principal is implicit (the policy's owner).
 */
export function evaluatePolicy(doc: PolicyDocument, req: EvalRequest): PolicyVerdict {
  const verdict: PolicyVerdict = { deny: false, allow: false, allowAccount: false };
  for (const st of doc.statements) {
    let who: PrincipalMatch = 'direct';
    if (st.principal) who = matchPrincipalSet(st.principal, req.principal);
    else if (st.notPrincipal) who = matchPrincipalSet(st.notPrincipal, req.principal) === undefined ? 'direct' : undefined;
    if (who === undefined) continue;
    if (!matchesAction(st, req.action) || !matchesResource(st, req, doc.version) || !matchesConditions(st, req, doc.version)) continue;
    if (st.effect === 'Deny') {
      // A Deny naming the account applies to every principal in it.
      verdict.deny = true;
    } else if (who === 'direct') {
      verdict.allow = true;
    } else {
      verdict.allowAccount = true;
    }
  }
  return verdict;
}

export type DenyReason = 'explicit-deny-resource' | 'explicit-deny-identity' | 'no-allow-resource' | 'no-allow-identity';

export type Decision = { allowed: true } | { allowed: false; reason: DenyReason };

/**
 * Combines a resource (key) policy and the caller's identity policies.
 * @param resourcePolicy the key policy, or undefined for actions on no key
 *   (decided by identity policies alone).
 */
export function decide(options: { request: EvalRequest; resourcePolicy: PolicyDocument | undefined; identityPolicies: readonly PolicyDocument[] }): Decision {
  const { request } = options;
  const isRoot = request.principal.kind === 'root';
  // The account root is not subject to identity policies.
  const identity = isRoot ? [] : options.identityPolicies.map((p) => evaluatePolicy(p, request));
  const identityDeny = identity.some((v) => v.deny);
  const identityAllow = identity.some((v) => v.allow);

  if (!options.resourcePolicy) {
    if (identityDeny) return { allowed: false, reason: 'explicit-deny-identity' };
    if (isRoot || identityAllow) return { allowed: true };
    return { allowed: false, reason: 'no-allow-identity' };
  }

  const key = evaluatePolicy(options.resourcePolicy, request);
  if (key.deny) return { allowed: false, reason: 'explicit-deny-resource' };
  if (identityDeny) return { allowed: false, reason: 'explicit-deny-identity' };
  if (key.allow) return { allowed: true };
  if (key.allowAccount && identityAllow) return { allowed: true };
  return { allowed: false, reason: key.allowAccount ? 'no-allow-identity' : 'no-allow-resource' };
}

/**
 * AWS's access-denied message: "User: <arn> is not authorized to perform:
 * <action> on resource: <arn> because no identity-based policy allows the
 * <action> action", or "... with an explicit deny in a resource-based policy".
 */
export function accessDeniedMessage(request: Pick<EvalRequest, 'principal' | 'action' | 'resource'>, reason: DenyReason): string {
  const head = `User: ${request.principal.arn} is not authorized to perform: ${request.action} on resource: ${request.resource}`;
  switch (reason) {
    case 'explicit-deny-resource':
      return `${head} with an explicit deny in a resource-based policy`;
    case 'explicit-deny-identity':
      return `${head} with an explicit deny in an identity-based policy`;
    case 'no-allow-resource':
      return `${head} because no resource-based policy allows the ${request.action} action`;
    case 'no-allow-identity':
      return `${head} because no identity-based policy allows the ${request.action} action`;
  }
}
