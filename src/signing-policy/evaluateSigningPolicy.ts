/**
 * Evaluates a signing policy against the facts of one payload
 * (docs/signing-policy.md): a statement applies when every one of its
 * conditions holds (no conditions: always). An applying Deny wins; then an
 * applying RequireApproval makes the request pending; then an applying Allow
 * allows; a payload no statement allows is refused. The first applying
 * statement of the deciding effect, in document order, names the decision.
 * Conditions follow IAM's rules (src/aws/policy/conditions.ts): values of
 * one key are OR'd (a negated operator: matches none); an absent key makes a
 * positive operator false and a negated one true, `IfExists` true,
 * `ForAnyValue:` false and `ForAllValues:` true; numbers compare as exact
 * integers. Pure and synchronous.
 */
import type { ApprovalRule, CompiledClause, SigningPolicy } from './document.js';
import type { FactValues, PayloadFacts } from './payloadFacts.js';

/**
 * The fact a caller sets once it has added the policy's window sums (src/kms/signing-window.ts);
 * no policy can name it (parseSigningPolicy refuses the key).
 */
export const WINDOWS_READ = 'symbolon:windowsread';

export type SigningDecision =
  | { decision: 'allow'; statement: string }
  | { decision: 'deny'; statement: string | undefined }
  | { decision: 'pending'; statement: string; approval: ApprovalRule };

function compareNumber(compare: CompiledClause['compare'], a: bigint, b: bigint): boolean {
  switch (compare) {
    case 'eq':
      return a === b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
    default:
      return false;
  }
}

/** Does the i-th request value of `fact` match any of the clause's values under its positive comparison? */
function matchesAny(clause: CompiledClause, fact: FactValues, i: number): boolean {
  switch (clause.compare) {
    case 'equals':
      return clause.strings.includes(fact.text[i]!);
    case 'equalsIgnoreCase':
      return clause.strings.includes(fact.text[i]!.toLowerCase());
    case 'like': {
      const v = fact.text[i]!;
      return clause.matchers.some((m) => m.test(v));
    }
    default: {
      const a = fact.numbers[i];
      if (a === undefined) return false;
      return clause.numbers.some((b) => compareNumber(clause.compare, a, b));
    }
  }
}

/** Does one condition hold for these facts? */
export function clauseHolds(clause: CompiledClause, facts: PayloadFacts): boolean {
  const fact = facts.get(clause.key);
  if (clause.compare === 'null') {
    const absent = fact === undefined;
    return clause.nulls.some((n) => (n ? absent : !absent));
  }
  const { operator, negated } = clause;
  if (fact === undefined) {
    if (operator.ifExists) return true;
    if (operator.set === 'all') return true;
    if (operator.set === 'any') return false;
    return negated;
  }
  const n = fact.text.length;
  if (operator.set === 'all') {
    for (let i = 0; i < n; i++) if (matchesAny(clause, fact, i) === negated) return false;
    return true;
  }
  if (operator.set === 'any') {
    for (let i = 0; i < n; i++) if (matchesAny(clause, fact, i) !== negated) return true;
    return false;
  }
  // A single-valued operator on a key with several values: true when any value matches (negated: when none does).
  let some = false;
  for (let i = 0; i < n && !some; i++) some = matchesAny(clause, fact, i);
  return negated ? !some : some;
}

/** The policy's decision for a payload's facts (payloadFacts). */
export function evaluateSigningPolicy(policy: SigningPolicy, facts: PayloadFacts): SigningDecision {
  // A policy with rolling windows decides only with its window sums read from the usage store: fail closed without them.
  if (policy.windows.length > 0 && !facts.has(WINDOWS_READ)) return { decision: 'deny', statement: undefined };
  let approval: SigningDecision | undefined;
  let allow: string | undefined;
  for (const st of policy.statements) {
    if (st.effect === 'Allow' && allow !== undefined) continue;
    if (st.effect === 'RequireApproval' && approval !== undefined) continue;
    let applies = true;
    for (const c of st.conditions) {
      if (!clauseHolds(c, facts)) {
        applies = false;
        break;
      }
    }
    if (!applies) continue;
    if (st.effect === 'Deny') return { decision: 'deny', statement: st.sid };
    if (st.effect === 'RequireApproval') approval = { decision: 'pending', statement: st.sid, approval: st.approval! };
    else allow = st.sid;
  }
  if (approval) return approval;
  if (allow !== undefined) return { decision: 'allow', statement: allow };
  return { decision: 'deny', statement: undefined };
}

/** A refusal's message: names the deciding statement's Sid, never a payload value. */
export function describeDecision(d: SigningDecision): string {
  if (d.decision === 'allow') return `Allowed by signing policy statement ${d.statement}.`;
  if (d.decision === 'pending')
    return `Signing policy statement ${d.statement} requires approval (${d.approval.minApprovals} of ${d.approval.approvers.length}).`;
  return d.statement === undefined
    ? 'Refused by the signing policy: no statement allows this payload (implicit deny).'
    : `Refused by signing policy statement ${d.statement} (explicit Deny).`;
}

const OPERATOR_TEXT: Record<string, string> = { lt: '<', le: '<=', gt: '>', ge: '>=', eq: '=' };

/** A window clause as text: `eth:ValueInWindow/86400 <= 5000000000000000000` (the policy's limit, never a payload value). */
function windowClauseText(c: CompiledClause): string {
  const op = `${c.negated ? 'not ' : ''}${OPERATOR_TEXT[c.compare] ?? c.compare}`;
  return `${c.keyName} ${op} ${c.numbers.map((n) => n.toString(10)).join(' or ')}`;
}

const isWindow = (c: CompiledClause) => c.key.includes('/');

/**
 * For a refusal by a policy with rolling windows (facts: with the window sums),
 * what the windows had to do with it: the deciding Deny's window condition, or
 * the first Allow statement that only its window limit kept from applying.
 * Empty when no window decided. Names Sids and the policy's limits only.
 */
export function windowRefusal(policy: SigningPolicy, facts: PayloadFacts, d: SigningDecision): string {
  if (d.decision !== 'deny' || policy.windows.length === 0) return '';
  const note = ' (the window counts this request, so the limit is never exceeded).';
  if (d.statement !== undefined) {
    const st = policy.statements.find((s) => s.sid === d.statement);
    const w = st?.conditions.filter(isWindow) ?? [];
    return w.length > 0 ? ` Its rolling-window condition ${w.map(windowClauseText).join(', ')} holds${note}` : '';
  }
  for (const st of policy.statements) {
    if (st.effect !== 'Allow') continue;
    const failing = st.conditions.filter((c) => !clauseHolds(c, facts));
    if (failing.length > 0 && failing.every((c) => isWindow(c) && facts.has(c.key)))
      return ` Statement ${st.sid} would allow it, but its rolling-window limit ${failing.map(windowClauseText).join(', ')} would be exceeded${note}`;
  }
  return '';
}
