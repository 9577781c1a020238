/**
 * Role trust policies (IAM User Guide, "Role trust policies", "Creating a
 * role for web identity or OpenID Connect federation", and "Available keys
 * for AWS web identity federation"): who may assume a role. A trust policy is
 * a resource-based policy whose statements name a Principal (`Federated`
 * issuers here), an `sts:*` Action and Conditions, and never a Resource.
 *
 * For AssumeRoleWithWebIdentity the caller is the token's issuer, named in
 * `Principal.Federated` by its URL, by its provider name (the URL without
 * `https://`), or by an IAM OIDC-provider ARN
 * (`arn:aws:iam::ACCOUNT:oidc-provider/<provider>`). The token's claims are
 * the condition keys `<provider>:sub`, `<provider>:aud` and
 * `<provider>:email`, as AWS names them.
 *
 * Parsing and evaluation of conditions reuse the policy engine's operators
 * (src/aws/policy/conditions.ts); the grammar differs from a key policy's
 * (Federated principals, provider-named condition keys, no Resource), so the
 * statements are read here. Pure and synchronous.
 */
import { evaluateClause, parseOperator } from '../../aws/policy/conditions.js';
import { compileWildcard, type WildcardMatcher } from '../../aws/policy/wildcard.js';
import { ConditionContext } from '../../aws/policy/request.js';
import type { ConditionClause, PolicyVersion } from '../../aws/policy/document.js';

/** The document was refused; `message` is IAM's MalformedPolicyDocument text where IAM has one. */
export class TrustPolicyError extends Error {
  override name = 'TrustPolicyError';
}

export interface TrustStatement {
  effect: 'Allow' | 'Deny';
  /** `"Principal": "*"` or `{"AWS": "*"}`: anyone. */
  anyone: boolean;
  /** Federated principals as written (issuer URLs, provider names, provider ARNs). */
  federated: string[];
  notAction: boolean;
  actions: WildcardMatcher[];
  conditions: ConditionClause[];
}

export interface TrustPolicy {
  version: PolicyVersion;
  statements: TrustStatement[];
}

const TOP_LEVEL = new Set(['Version', 'Id', 'Statement']);
const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);
const ACTION = /^([a-zA-Z0-9-]+):[a-zA-Z0-9*?]+$/;
const AWS_PRINCIPAL = /^(\d{12}|arn:aws:(iam::\d{12}:(root|user\/[\w+=,.@\-/]+|role\/[\w+=,.@\-/]+)|sts::\d{12}:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+))$/;
/** A condition key: a vendor or provider name, a colon, a name (`token.example.com/oidc:sub`). */
const CONDITION_KEY = /^[^\s:]+:\S+$/;

function stringList(value: unknown, what: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new TrustPolicyError(`Syntax errors in policy: ${what} must not be empty.`);
  for (const v of list)
    if (typeof v !== 'string' || v.length === 0) throw new TrustPolicyError(`Syntax errors in policy: ${what} must be a string or a list of strings.`);
  return list as string[];
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return undefined;
}

function invalidPrincipal(type: string, value: string): TrustPolicyError {
  return new TrustPolicyError(`Invalid principal in policy: "${type}":"${value.slice(0, 128)}"`);
}

function parsePrincipal(value: unknown): Pick<TrustStatement, 'anyone' | 'federated'> {
  if (value === '*') return { anyone: true, federated: [] };
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new TrustPolicyError('Syntax errors in policy.');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw new TrustPolicyError('Syntax errors in policy.');
  const out = { anyone: false, federated: [] as string[] };
  for (const [type, v] of entries) {
    const list = stringList(v, 'Principal');
    if (type === 'AWS') {
      for (const p of list) {
        if (p === '*') out.anyone = true;
        else if (!AWS_PRINCIPAL.test(p)) throw invalidPrincipal(type, p);
      }
    } else if (type === 'Federated') {
      for (const p of list) {
        if (p === '*' || p.length > 2048) throw invalidPrincipal(type, p);
        out.federated.push(p);
      }
    } else if (type === 'Service' || type === 'CanonicalUser') {
      // Accepted as IAM accepts them; no caller of this custodian is ever such a principal.
      for (const p of list) if (p === '*') throw invalidPrincipal(type, p);
    } else {
      throw new TrustPolicyError(`Invalid principal in policy: "${type.slice(0, 32)}"`);
    }
  }
  return out;
}

function parseConditions(value: unknown): ConditionClause[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new TrustPolicyError('Syntax errors in policy.');
  const out: ConditionClause[] = [];
  for (const [opName, block] of Object.entries(value as Record<string, unknown>)) {
    const operator = parseOperator(opName);
    if (!operator) throw new TrustPolicyError(`Invalid Condition type : ${opName.slice(0, 64)}`);
    if (!block || typeof block !== 'object' || Array.isArray(block)) throw new TrustPolicyError('Syntax errors in policy.');
    for (const [key, raw] of Object.entries(block as Record<string, unknown>)) {
      if (!CONDITION_KEY.test(key) || key.length > 1024)
        throw new TrustPolicyError('Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.');
      const list = Array.isArray(raw) ? raw : [raw];
      if (list.length === 0) throw new TrustPolicyError('Syntax errors in policy.');
      const values: string[] = [];
      for (const v of list) {
        const s = scalarText(v);
        if (s === undefined) throw new TrustPolicyError('Syntax errors in policy.');
        values.push(s);
      }
      out.push({ operator, key, values });
    }
  }
  return out;
}

function parseStatement(raw: unknown, sids: Set<string>): TrustStatement {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new TrustPolicyError('Syntax errors in policy.');
  const st = raw as Record<string, unknown>;
  for (const field of Object.keys(st))
    if (!STATEMENT_FIELDS.has(field)) throw new TrustPolicyError(`Syntax errors in policy: unknown field ${field.slice(0, 32)}.`);
  if (st.Sid !== undefined) {
    if (typeof st.Sid !== 'string') throw new TrustPolicyError('Syntax errors in policy.');
    if (st.Sid !== '' && sids.has(st.Sid)) throw new TrustPolicyError('Statement IDs (SID) in a single policy must be unique.');
    sids.add(st.Sid);
  }
  if (st.Effect !== 'Allow' && st.Effect !== 'Deny') throw new TrustPolicyError('Syntax errors in policy.');
  if (st.Resource !== undefined) throw new TrustPolicyError('Has prohibited field Resource');
  if (st.NotResource !== undefined) throw new TrustPolicyError('Has prohibited field NotResource');
  if (st.NotPrincipal !== undefined) throw new TrustPolicyError('Has prohibited field NotPrincipal');
  if (st.Principal === undefined) throw new TrustPolicyError('Missing required field Principal');
  const principal = parsePrincipal(st.Principal);

  if (st.Action !== undefined && st.NotAction !== undefined) throw new TrustPolicyError('Syntax errors in policy.');
  if (st.Action === undefined && st.NotAction === undefined) throw new TrustPolicyError('Missing required field Action');
  const notAction = st.NotAction !== undefined;
  const actions = stringList(notAction ? st.NotAction : st.Action, notAction ? 'NotAction' : 'Action');
  for (const a of actions) {
    if (a !== '*' && !ACTION.test(a)) throw new TrustPolicyError('Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.');
  }
  return {
    effect: st.Effect,
    ...principal,
    notAction,
    actions: actions.map((a) => compileWildcard(a, true)),
    conditions: st.Condition === undefined ? [] : parseConditions(st.Condition),
  };
}

/**
 * Parses a trust policy (CreateRole's AssumeRolePolicyDocument).
 * @throws {TrustPolicyError} with a message fit for MalformedPolicyDocument.
 */
export function parseTrustPolicy(text: string): TrustPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new TrustPolicyError('This policy contains invalid Json');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new TrustPolicyError('Syntax errors in policy.');
  const d = doc as Record<string, unknown>;
  for (const field of Object.keys(d)) if (!TOP_LEVEL.has(field)) throw new TrustPolicyError(`Syntax errors in policy: unknown field ${field.slice(0, 32)}.`);
  let version: PolicyVersion = '2008-10-17';
  if (d.Version !== undefined) {
    if (d.Version !== '2012-10-17' && d.Version !== '2008-10-17') throw new TrustPolicyError('The policy must contain a valid version string');
    version = d.Version;
  }
  if (d.Id !== undefined && typeof d.Id !== 'string') throw new TrustPolicyError('Syntax errors in policy.');
  if (d.Statement === undefined) throw new TrustPolicyError('Missing required field Statement');
  const raw = Array.isArray(d.Statement) ? d.Statement : [d.Statement];
  if (raw.length === 0) throw new TrustPolicyError('Syntax errors in policy.');
  const sids = new Set<string>();
  return { version, statements: raw.map((s) => parseStatement(s, sids)) };
}

/** AWS's provider name of an OIDC issuer: its URL without the scheme or a trailing "/". */
export function providerName(issuer: string): string {
  return issuer.replace(/^https?:\/\//i, '').replace(/\/+$/, '');
}

/** The web identity a role is asked to trust: a verified token's issuer and claims. */
export interface WebIdentityRequest {
  accountId: string;
  issuer: string;
  sub: string;
  aud: string;
  email: string | undefined;
  /** Session tags the session would carry (aws:RequestTag/<key>). */
  tags: Readonly<Record<string, string>>;
  sourceIp: string;
  now: number;
}

function federatedMatches(entry: string, r: WebIdentityRequest, provider: string): boolean {
  if (entry === r.issuer || entry === provider) return true;
  if (entry.replace(/\/+$/, '') === r.issuer.replace(/\/+$/, '')) return true;
  return entry === `arn:aws:iam::${r.accountId}:oidc-provider/${provider}`;
}

/** The condition keys of a web-identity assume-role request. */
export function webIdentityContext(r: WebIdentityRequest): ConditionContext {
  const provider = providerName(r.issuer);
  const ctx = new ConditionContext();
  ctx.set(`${provider}:sub`, r.sub);
  ctx.set(`${provider}:aud`, r.aud);
  if (r.email !== undefined) ctx.set(`${provider}:email`, r.email);
  ctx.set('aws:FederatedProvider', `arn:aws:iam::${r.accountId}:oidc-provider/${provider}`);
  for (const [k, v] of Object.entries(r.tags)) ctx.set(`aws:RequestTag/${k}`, v);
  ctx.set('aws:TagKeys', Object.keys(r.tags));
  ctx.set('aws:SourceIp', r.sourceIp.startsWith('::ffff:') && r.sourceIp.includes('.') ? r.sourceIp.slice(7) : r.sourceIp);
  ctx.set('aws:CurrentTime', new Date(r.now).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  ctx.set('aws:EpochTime', String(Math.floor(r.now / 1000)));
  return ctx;
}

/**
 * Does the trust policy let this web identity call `sts:AssumeRoleWithWebIdentity`?
 * An applicable Deny wins; otherwise an applicable Allow is needed.
 */
export function trustAllowsWebIdentity(policy: TrustPolicy, r: WebIdentityRequest): boolean {
  const provider = providerName(r.issuer);
  const ctx = webIdentityContext(r);
  const action = 'sts:AssumeRoleWithWebIdentity';
  let allow = false;
  for (const st of policy.statements) {
    if (!st.anyone && !st.federated.some((f) => federatedMatches(f, r, provider))) continue;
    const hit = st.actions.some((re) => re.test(action));
    if (st.notAction ? hit : !hit) continue;
    if (!st.conditions.every((c) => evaluateClause(c, ctx, policy.version))) continue;
    if (st.effect === 'Deny') return false;
    allow = true;
  }
  return allow;
}
