/**
 * Parses and validates a signing policy document (docs/signing-policy.md)
 * into the compiled form evaluateSigningPolicy runs. The grammar is the IAM
 * JSON policy grammar's — `Version`, `Statement` with `Sid`, `Effect` and
 * `Condition`, the operators of src/aws/policy/conditions.ts with `IfExists`
 * and `ForAnyValue:`/`ForAllValues:` — narrowed to what a key's signing policy
 * needs: no Principal, Action or Resource (the policy belongs to one key and
 * governs every signature by it), `Effect` one of Allow, Deny and
 * RequireApproval, condition keys from src/signing-policy/keys.ts only, and
 * Numeric operators compared as exact integers (wei does not fit a JS number).
 * Everything is checked here, once: a policy that parses cannot fail to
 * evaluate. Pure and synchronous.
 */
import { parseOperator, type ParsedOperator } from '../aws/policy/conditions.js';
import { compileWildcard, type WildcardMatcher } from '../aws/policy/wildcard.js';
import { CONDITION_KEYS, MAX_WINDOW_SECONDS, parseWindowKey, type KeyType, type WindowKind } from './keys.js';

/** The one version string a signing policy may name. */
export const SIGNING_POLICY_VERSION = '2026-12-01';
/** Bounds: a document's size in UTF-16 units, its statements, the values one key lists, approvers. */
export const SIGNING_POLICY_LIMITS = { documentLength: 32 * 1024, statements: 100, values: 100, approvers: 20 } as const;
const MAX_APPROVAL_SECONDS = 7 * 24 * 3600;
const DEFAULT_APPROVAL_SECONDS = 24 * 3600;

/** A signing policy was refused; `message` names the statement and field, never a value beyond 64 characters. */
export class SigningPolicyError extends Error {
  override name = 'SigningPolicyError';
}

export type SigningEffect = 'Allow' | 'Deny' | 'RequireApproval';

/** Who approves a RequireApproval statement's requests: M of the named IAM principals, within the expiry. */
export interface ApprovalRule {
  approvers: string[];
  minApprovals: number;
  expiresInSeconds: number;
}

/** One condition, compiled: `key` lowercase; values in the form the key's type compares. */
export interface CompiledClause {
  operator: ParsedOperator;
  key: string;
  keyName: string;
  /** The positive comparison (a negated operator's positive form) and whether to negate it. */
  compare: 'equals' | 'equalsIgnoreCase' | 'like' | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'null';
  negated: boolean;
  strings: string[];
  matchers: WildcardMatcher[];
  numbers: bigint[];
  /** Null: true tests absence, false presence. */
  nulls: boolean[];
}

export interface SigningStatement {
  sid: string;
  effect: SigningEffect;
  conditions: CompiledClause[];
  approval: ApprovalRule | undefined;
}

/** A rolling window a policy names (eth:ValueInWindow/86400 …): its fact key (lowercase), kind and length. */
export interface PolicyWindow {
  key: string;
  kind: WindowKind;
  seconds: number;
}

export interface SigningPolicy {
  version: typeof SIGNING_POLICY_VERSION;
  statements: SigningStatement[];
  /** The distinct window keys its conditions name (empty: the policy is stateless). */
  windows: PolicyWindow[];
}

const TOP_LEVEL = new Set(['Version', 'Statement']);
const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Condition', 'Approval']);
const APPROVAL_FIELDS = new Set(['Approvers', 'MinApprovals', 'ExpiresInSeconds']);
const SID = /^[A-Za-z0-9]{1,128}$/;
const APPROVER = /^arn:aws:(iam::\d{12}:(root|user\/[\w+=,.@\-/]+|role\/[\w+=,.@\-/]+)|sts::\d{12}:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+)$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const MAX_UINT256 = (1n << 256n) - 1n;

/** Which comparison each operator base makes, and whether it negates it; operators a signing policy refuses are absent. */
const OPERATORS: ReadonlyMap<string, { compare: CompiledClause['compare']; negated: boolean; kind: 'string' | 'number' | 'null' | 'bool' }> = new Map([
  ['StringEquals', { compare: 'equals', negated: false, kind: 'string' }],
  ['StringNotEquals', { compare: 'equals', negated: true, kind: 'string' }],
  ['StringEqualsIgnoreCase', { compare: 'equalsIgnoreCase', negated: false, kind: 'string' }],
  ['StringNotEqualsIgnoreCase', { compare: 'equalsIgnoreCase', negated: true, kind: 'string' }],
  ['StringLike', { compare: 'like', negated: false, kind: 'string' }],
  ['StringNotLike', { compare: 'like', negated: true, kind: 'string' }],
  ['NumericEquals', { compare: 'eq', negated: false, kind: 'number' }],
  ['NumericNotEquals', { compare: 'eq', negated: true, kind: 'number' }],
  ['NumericLessThan', { compare: 'lt', negated: false, kind: 'number' }],
  ['NumericLessThanEquals', { compare: 'le', negated: false, kind: 'number' }],
  ['NumericGreaterThan', { compare: 'gt', negated: false, kind: 'number' }],
  ['NumericGreaterThanEquals', { compare: 'ge', negated: false, kind: 'number' }],
  ['Null', { compare: 'null', negated: false, kind: 'null' }],
  ['Bool', { compare: 'equals', negated: false, kind: 'bool' }],
]);

function fail(message: string): never {
  throw new SigningPolicyError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const short = (s: string) => (s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** An exact non-negative integer: a decimal or 0x-hex string, or a JSON number that is a safe integer. */
function integer(v: unknown, where: string): bigint {
  let n: bigint | undefined;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0)
      fail(`${where}: ${v} is not a non-negative safe integer; write large amounts as decimal strings (wei does not fit a JSON number).`);
    n = BigInt(v);
  } else if (typeof v === 'string' && /^(0|[1-9]\d{0,77})$/.test(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,64}$/.test(v)) n = BigInt(v);
  else fail(`${where}: a Numeric operator needs a non-negative integer (decimal or 0x-hex string), not ${JSON.stringify(short(String(v)))}.`);
  if (n > MAX_UINT256) fail(`${where}: the value does not fit in 256 bits.`);
  return n;
}

function compileClause(opName: string, keyText: string, raw: unknown, where: string): CompiledClause {
  const operator = parseOperator(opName);
  const op = operator && OPERATORS.get(operator.base);
  if (!operator || !op) fail(`${where}: unknown or unsupported condition operator ${JSON.stringify(short(opName))}.`);
  const window = parseWindowKey(keyText);
  if (window && window.seconds > MAX_WINDOW_SECONDS) fail(`${where}: ${window.name}: a rolling window is 1 to ${MAX_WINDOW_SECONDS} seconds (31 days).`);
  const key = window ? { name: window.name, type: 'number' as const } : CONDITION_KEYS.get(keyText.toLowerCase());
  if (!key) fail(`${where}: unknown condition key ${JSON.stringify(short(keyText))} (docs/signing-policy.md lists the eth: keys).`);
  const at = `${where}, ${opName} ${key.name}`;
  const type: KeyType = key.type;
  if (op.kind === 'number' && type !== 'number') fail(`${at}: a Numeric operator needs a numeric key.`);
  if (op.kind === 'string' && type === 'number') fail(`${at}: a String operator cannot test a numeric key; use a Numeric operator.`);
  if ((op.kind === 'bool') !== (type === 'bool') && op.kind !== 'null') fail(`${at}: a Bool operator tests a boolean key, and a boolean key takes Bool.`);
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) fail(`${at}: the value list is empty.`);
  if (list.length > SIGNING_POLICY_LIMITS.values) fail(`${at}: more than ${SIGNING_POLICY_LIMITS.values} values.`);
  const clause: CompiledClause = {
    operator,
    key: window ? window.key : keyText.toLowerCase(),
    keyName: key.name,
    compare: op.compare,
    negated: op.negated,
    strings: [],
    matchers: [],
    numbers: [],
    nulls: [],
  };
  for (const v of list) {
    if (op.kind === 'number') {
      clause.numbers.push(integer(v, at));
      continue;
    }
    if (op.kind === 'bool') {
      if (v !== true && v !== false && v !== 'true' && v !== 'false') fail(`${at}: Bool takes true or false.`);
      clause.strings.push(String(v));
      continue;
    }
    if (op.kind === 'null') {
      if (v !== true && v !== false && v !== 'true' && v !== 'false') fail(`${at}: Null takes true or false.`);
      clause.nulls.push(v === true || v === 'true');
      continue;
    }
    if (typeof v !== 'string' || v.length === 0 || v.length > 1024) fail(`${at}: each value must be a non-empty string of at most 1024 characters.`);
    // Addresses compare lowercase under every operator: a checksummed address in the policy still matches.
    if (type === 'address') {
      if (op.compare !== 'like' && !ADDRESS.test(v)) fail(`${at}: ${JSON.stringify(short(v))} is not a 20-byte 0x address.`);
      const lower = v.toLowerCase();
      clause.strings.push(lower);
      if (op.compare === 'like') clause.matchers.push(compileWildcard(lower, false));
      continue;
    }
    if (op.compare === 'equalsIgnoreCase') clause.strings.push(v.toLowerCase());
    else clause.strings.push(v);
    if (op.compare === 'like') clause.matchers.push(compileWildcard(v, false));
  }
  return clause;
}

function parseApproval(raw: unknown, where: string): ApprovalRule {
  if (!isObject(raw)) fail(`${where}: Approval must be an object { Approvers, MinApprovals, ExpiresInSeconds? }.`);
  for (const k of Object.keys(raw)) if (!APPROVAL_FIELDS.has(k)) fail(`${where}: Approval has an unknown field ${JSON.stringify(short(k))}.`);
  const approvers = raw.Approvers;
  if (!Array.isArray(approvers) || approvers.length === 0 || approvers.length > SIGNING_POLICY_LIMITS.approvers)
    fail(`${where}: Approval.Approvers must list 1 to ${SIGNING_POLICY_LIMITS.approvers} IAM principal ARNs.`);
  for (const a of approvers)
    if (typeof a !== 'string' || !APPROVER.test(a))
      fail(`${where}: Approval.Approvers: ${JSON.stringify(short(String(a)))} is not an IAM user, role or root ARN.`);
  if (new Set(approvers).size !== approvers.length) fail(`${where}: Approval.Approvers names a principal twice.`);
  const m = raw.MinApprovals;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > approvers.length)
    fail(`${where}: Approval.MinApprovals must be an integer from 1 to the number of approvers (${approvers.length}).`);
  const e = raw.ExpiresInSeconds ?? DEFAULT_APPROVAL_SECONDS;
  if (typeof e !== 'number' || !Number.isInteger(e) || e < 60 || e > MAX_APPROVAL_SECONDS)
    fail(`${where}: Approval.ExpiresInSeconds must be an integer from 60 to ${MAX_APPROVAL_SECONDS}.`);
  return { approvers: approvers as string[], minApprovals: m, expiresInSeconds: e };
}

function parseStatement(raw: unknown, index: number, sids: Set<string>): SigningStatement {
  const where0 = `Statement ${index + 1}`;
  if (!isObject(raw)) fail(`${where0} must be an object.`);
  for (const k of Object.keys(raw))
    if (!STATEMENT_FIELDS.has(k))
      fail(`${where0} has an unknown field ${JSON.stringify(short(k))} (a signing policy has Sid, Effect, Condition and Approval).`);
  const sid = raw.Sid;
  // Every refusal names the statement that decided it, so every statement has a name.
  if (typeof sid !== 'string' || !SID.test(sid)) fail(`${where0}: Sid is required: 1 to 128 letters and digits.`);
  if (sids.has(sid)) fail(`${where0}: Sid ${sid} is used twice; Sids must be unique.`);
  sids.add(sid);
  const where = `Statement ${sid}`;
  const effect = raw.Effect;
  if (effect !== 'Allow' && effect !== 'Deny' && effect !== 'RequireApproval') fail(`${where}: Effect must be Allow, Deny or RequireApproval.`);
  const conditions: CompiledClause[] = [];
  if (raw.Condition !== undefined) {
    if (!isObject(raw.Condition)) fail(`${where}: Condition must be an object of operators.`);
    for (const [opName, block] of Object.entries(raw.Condition)) {
      if (!isObject(block) || Object.keys(block).length === 0) fail(`${where}: ${short(opName)} must map condition keys to values.`);
      for (const [keyText, values] of Object.entries(block)) conditions.push(compileClause(opName, keyText, values, where));
    }
  }
  let approval: ApprovalRule | undefined;
  if (effect === 'RequireApproval') {
    if (raw.Approval === undefined) fail(`${where}: a RequireApproval statement names its approvers in Approval.`);
    approval = parseApproval(raw.Approval, where);
  } else if (raw.Approval !== undefined) fail(`${where}: only a RequireApproval statement has Approval.`);
  return { sid, effect, conditions, approval };
}

/**
 * Parses a signing policy from its JSON text.
 * @throws {SigningPolicyError} naming the statement, operator and key at fault.
 */
export function parseSigningPolicy(text: string): SigningPolicy {
  if (typeof text !== 'string') throw new TypeError('a signing policy is JSON text');
  if (text.length > SIGNING_POLICY_LIMITS.documentLength) fail(`The policy is longer than ${SIGNING_POLICY_LIMITS.documentLength} characters.`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    fail('The policy is not valid JSON.');
  }
  if (!isObject(doc)) fail('The policy must be a JSON object { Version, Statement }.');
  for (const k of Object.keys(doc)) if (!TOP_LEVEL.has(k)) fail(`The policy has an unknown field ${JSON.stringify(short(k))} (it has Version and Statement).`);
  if (doc.Version !== SIGNING_POLICY_VERSION) fail(`Version must be "${SIGNING_POLICY_VERSION}".`);
  const raw = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement === undefined ? [] : [doc.Statement];
  if (raw.length === 0) fail('Statement must hold at least one statement.');
  if (raw.length > SIGNING_POLICY_LIMITS.statements) fail(`Statement holds more than ${SIGNING_POLICY_LIMITS.statements} statements.`);
  const sids = new Set<string>();
  const statements = raw.map((s, i) => parseStatement(s, i, sids));
  const windows = new Map<string, PolicyWindow>();
  for (const st of statements)
    for (const c of st.conditions) {
      const w = parseWindowKey(c.keyName);
      if (w && !windows.has(w.key)) windows.set(w.key, { key: w.key, kind: w.kind, seconds: w.seconds });
    }
  return { version: SIGNING_POLICY_VERSION, statements, windows: [...windows.values()] };
}
