/**
 * Parses and validates a policy document (IAM JSON policy grammar, IAM User
 * Guide "Grammar of the IAM JSON policy language") into a typed form the
 * evaluator uses. Two kinds: a KMS key policy (a resource-based policy: every
 * statement names a Principal or NotPrincipal) and an IAM identity policy
 * (no principal). Refusals carry AWS's MalformedPolicyDocument wording where
 * AWS has one. Pure and synchronous.
 */
import { compileWildcard, type WildcardMatcher } from './wildcard.js';
import { parseOperator, type ConditionClause } from './conditions.js';
import type { PolicyVersion } from './version.js';

export type PolicyKind = 'key' | 'identity';

/** A policy document was refused; `message` is safe to return to the caller. */
export class PolicyDocumentError extends Error {
  override name = 'PolicyDocumentError';
}

export type { PolicyVersion } from './version.js';
export type { ConditionClause } from './conditions.js';

export interface PrincipalSet {
  /** `"*"` or `{"AWS": "*"}`: everyone. */
  any: boolean;
  /** AWS principals: 12-digit account ids or IAM/STS ARNs. */
  aws: string[];
}

export interface Statement {
  sid: string | undefined;
  effect: 'Allow' | 'Deny';
  principal: PrincipalSet | undefined;
  notPrincipal: PrincipalSet | undefined;
  notAction: boolean;
  /** Compiled action patterns (case-insensitive, as AWS matches actions). */
  actions: WildcardMatcher[];
  notResource: boolean;
  resources: string[];
  conditions: ConditionClause[];
}

export interface PolicyDocument {
  version: PolicyVersion;
  id: string | undefined;
  statements: Statement[];
}

const TOP_LEVEL = new Set(['Version', 'Id', 'Statement']);
const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);
const ACCOUNT = /^\d{12}$/;
const AWS_PRINCIPAL_ARN = /^arn:aws:(iam::\d{12}:(root|user\/[\w+=,.@\-/]+|role\/[\w+=,.@\-/]+)|sts::\d{12}:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+)$/;
const ACTION = /^([a-zA-Z0-9-]+):[a-zA-Z0-9*?]+$/;

/** IAM's messages (identity policies) and KMS's (key policies) differ for the same fault. */
function texts(kind: PolicyKind) {
  return kind === 'identity'
    ? {
        syntax: 'Syntax errors in policy.',
        principalPresent: 'Policy document should not specify a principal.',
        principalMissing: 'Policy document should not specify a principal.',
        invalidPrincipal: 'Policy document should not specify a principal.',
      }
    : {
        syntax: 'The policy document is not valid JSON or does not follow the IAM policy grammar.',
        principalPresent: 'Policy contains a statement with one or more invalid principals.',
        principalMissing: 'Policy statement must contain a Principal or NotPrincipal.',
        invalidPrincipal: 'Policy contains a statement with one or more invalid principals.',
      };
}

function stringList(value: unknown, what: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new PolicyDocumentError(`Policy statement ${what} must not be empty.`);
  for (const v of list)
    if (typeof v !== 'string' || v.length === 0) throw new PolicyDocumentError(`Policy statement ${what} must be a string or a list of strings.`);
  return list as string[];
}

function parsePrincipal(value: unknown, kind: PolicyKind): PrincipalSet {
  const t = texts(kind);
  if (value === '*') return { any: true, aws: [] };
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new PolicyDocumentError(t.invalidPrincipal);
  const set: PrincipalSet = { any: false, aws: [] };
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw new PolicyDocumentError(t.invalidPrincipal);
  for (const [type, v] of entries) {
    let list: string[];
    try {
      list = stringList(v, 'Principal');
    } catch {
      throw new PolicyDocumentError(t.invalidPrincipal);
    }
    if (type === 'AWS') {
      for (const p of list) {
        if (p === '*') set.any = true;
        else if (ACCOUNT.test(p) || AWS_PRINCIPAL_ARN.test(p)) set.aws.push(p);
        else throw new PolicyDocumentError(t.invalidPrincipal);
      }
    } else if (type === 'Service' || type === 'Federated' || type === 'CanonicalUser') {
      // Accepted as AWS accepts them; no caller of this custodian is ever such a principal.
      for (const p of list) if (p === '*') throw new PolicyDocumentError(t.invalidPrincipal);
    } else {
      throw new PolicyDocumentError(t.invalidPrincipal);
    }
  }
  return set;
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return undefined;
}

function parseConditions(value: unknown, kind: PolicyKind): ConditionClause[] {
  const t = texts(kind);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new PolicyDocumentError(t.syntax);
  const out: ConditionClause[] = [];
  for (const [opName, block] of Object.entries(value as Record<string, unknown>)) {
    const operator = parseOperator(opName);
    if (!operator) throw new PolicyDocumentError(`Invalid Condition type : ${opName.slice(0, 64)}`);
    if (!block || typeof block !== 'object' || Array.isArray(block)) throw new PolicyDocumentError(t.syntax);
    for (const [key, raw] of Object.entries(block as Record<string, unknown>)) {
      if (!/^[a-zA-Z0-9-]+:[^\s]+$/.test(key)) {
        throw new PolicyDocumentError('Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.');
      }
      const list = Array.isArray(raw) ? raw : [raw];
      if (list.length === 0) throw new PolicyDocumentError(t.syntax);
      const values: string[] = [];
      for (const v of list) {
        const s = scalarText(v);
        if (s === undefined) throw new PolicyDocumentError(t.syntax);
        values.push(s);
      }
      out.push({ operator, key, values });
    }
  }
  return out;
}

function parseStatement(raw: unknown, kind: PolicyKind, sids: Set<string>): Statement {
  const t = texts(kind);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PolicyDocumentError(t.syntax);
  const st = raw as Record<string, unknown>;
  for (const field of Object.keys(st)) if (!STATEMENT_FIELDS.has(field)) throw new PolicyDocumentError(t.syntax);

  let sid: string | undefined;
  if (st.Sid !== undefined) {
    if (typeof st.Sid !== 'string') throw new PolicyDocumentError(t.syntax);
    // IAM allows only alphanumerics in identity-policy Sids; key policies accept any text.
    if (kind === 'identity' && !/^[a-zA-Z0-9]*$/.test(st.Sid))
      throw new PolicyDocumentError('Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*');
    if (st.Sid !== '' && sids.has(st.Sid)) throw new PolicyDocumentError('Statement IDs (SID) in a single policy must be unique.');
    sids.add(st.Sid);
    sid = st.Sid;
  }

  if (st.Effect !== 'Allow' && st.Effect !== 'Deny') throw new PolicyDocumentError(t.syntax);

  const hasPrincipal = st.Principal !== undefined;
  const hasNotPrincipal = st.NotPrincipal !== undefined;
  let principal: PrincipalSet | undefined;
  let notPrincipal: PrincipalSet | undefined;
  if (kind === 'identity') {
    if (hasPrincipal || hasNotPrincipal) throw new PolicyDocumentError(t.principalPresent);
  } else {
    if (hasPrincipal === hasNotPrincipal) throw new PolicyDocumentError(hasPrincipal ? t.syntax : t.principalMissing);
    if (hasPrincipal) principal = parsePrincipal(st.Principal, kind);
    else notPrincipal = parsePrincipal(st.NotPrincipal, kind);
  }

  if (st.Action !== undefined && st.NotAction !== undefined) throw new PolicyDocumentError(t.syntax);
  if (st.Action === undefined && st.NotAction === undefined) throw new PolicyDocumentError('Policy statement must contain actions.');
  const notAction = st.NotAction !== undefined;
  const actionList = stringList(notAction ? st.NotAction : st.Action, notAction ? 'NotAction' : 'Action');
  for (const a of actionList) {
    if (a !== '*' && !ACTION.test(a)) throw new PolicyDocumentError('Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.');
  }

  if (st.Resource !== undefined && st.NotResource !== undefined) throw new PolicyDocumentError(t.syntax);
  if (st.Resource === undefined && st.NotResource === undefined) throw new PolicyDocumentError('Policy statement must contain resources.');
  const notResource = st.NotResource !== undefined;
  const resources = stringList(notResource ? st.NotResource : st.Resource, notResource ? 'NotResource' : 'Resource');
  for (const r of resources) {
    if (r !== '*' && !r.startsWith('arn:')) throw new PolicyDocumentError(`Resource ${r.slice(0, 64)} must be in ARN format or "*".`);
  }

  const conditions = st.Condition === undefined ? [] : parseConditions(st.Condition, kind);
  return {
    sid,
    effect: st.Effect,
    principal,
    notPrincipal,
    notAction,
    actions: actionList.map((a) => compileWildcard(a, true)),
    notResource,
    resources,
    conditions,
  };
}

/**
 * Parses a policy document.
 * @throws {PolicyDocumentError} with a message fit for MalformedPolicyDocument(Exception).
 */
export function parsePolicyDocument(text: string, kind: PolicyKind): PolicyDocument {
  const t = texts(kind);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new PolicyDocumentError(t.syntax);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new PolicyDocumentError(t.syntax);
  const d = doc as Record<string, unknown>;
  for (const field of Object.keys(d)) if (!TOP_LEVEL.has(field)) throw new PolicyDocumentError(t.syntax);
  let version: PolicyVersion = '2008-10-17';
  if (d.Version !== undefined) {
    if (d.Version !== '2012-10-17' && d.Version !== '2008-10-17') throw new PolicyDocumentError('The policy must contain a valid version string');
    version = d.Version;
  }
  if (d.Id !== undefined && typeof d.Id !== 'string') throw new PolicyDocumentError(t.syntax);
  if (d.Statement === undefined) throw new PolicyDocumentError(t.syntax);
  const rawStatements = Array.isArray(d.Statement) ? d.Statement : [d.Statement];
  if (rawStatements.length === 0) throw new PolicyDocumentError(t.syntax);
  const sids = new Set<string>();
  const statements = rawStatements.map((s) => parseStatement(s, kind, sids));
  return { version, id: d.Id as string | undefined, statements };
}
