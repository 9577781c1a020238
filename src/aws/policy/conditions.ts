/**
 * Condition operators (IAM User Guide, "IAM JSON policy elements: Condition
 * operators" and "Multivalued context keys"): String*, Numeric*, Date*, Bool,
 * IpAddress/NotIpAddress, Arn*, Null, with the `...IfExists` suffix and the
 * `ForAnyValue:` / `ForAllValues:` set prefixes. Rules implemented:
 * - several values for one key are OR'd (for a negated operator: matches none);
 * - a key absent from the request makes a positive operator false and a
 *   negated one true; `IfExists` makes it true; `Null` tests presence;
 * - `ForAnyValue:` is false on an absent key, `ForAllValues:` is true on one.
 * Pure.
 */
import { isIP } from 'node:net';
import { compileWildcard } from './wildcard.js';
import { substitute, substituteText } from './variables.js';
import type { ConditionContext } from './request.js';
import type { PolicyVersion } from './version.js';

/** One condition of a statement: an operator, a key and its values. */
export interface ConditionClause {
  operator: ParsedOperator;
  /** The condition key as written (for messages); lookups are case-insensitive. */
  key: string;
  /** Policy values, OR'd. Numbers and booleans are kept in their JSON text form. */
  values: string[];
}

type Base =
  | 'StringEquals'
  | 'StringNotEquals'
  | 'StringEqualsIgnoreCase'
  | 'StringNotEqualsIgnoreCase'
  | 'StringLike'
  | 'StringNotLike'
  | 'NumericEquals'
  | 'NumericNotEquals'
  | 'NumericLessThan'
  | 'NumericLessThanEquals'
  | 'NumericGreaterThan'
  | 'NumericGreaterThanEquals'
  | 'DateEquals'
  | 'DateNotEquals'
  | 'DateLessThan'
  | 'DateLessThanEquals'
  | 'DateGreaterThan'
  | 'DateGreaterThanEquals'
  | 'Bool'
  | 'BinaryEquals'
  | 'IpAddress'
  | 'NotIpAddress'
  | 'ArnEquals'
  | 'ArnNotEquals'
  | 'ArnLike'
  | 'ArnNotLike'
  | 'Null';

/** Each negated operator and the positive operator it negates. */
const NEGATION: ReadonlyMap<Base, Base> = new Map<Base, Base>([
  ['StringNotEquals', 'StringEquals'],
  ['StringNotEqualsIgnoreCase', 'StringEqualsIgnoreCase'],
  ['StringNotLike', 'StringLike'],
  ['NumericNotEquals', 'NumericEquals'],
  ['DateNotEquals', 'DateEquals'],
  ['NotIpAddress', 'IpAddress'],
  ['ArnNotEquals', 'ArnEquals'],
  ['ArnNotLike', 'ArnLike'],
]);

const BASES: readonly Base[] = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'BinaryEquals',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnNotEquals',
  'ArnLike',
  'ArnNotLike',
  'Null',
];

export interface ParsedOperator {
  name: string;
  base: Base;
  set: 'single' | 'any' | 'all';
  ifExists: boolean;
}

/** Parses an operator name such as `ForAnyValue:StringLikeIfExists`; undefined when unknown. */
export function parseOperator(name: string): ParsedOperator | undefined {
  let rest = name;
  let set: ParsedOperator['set'] = 'single';
  if (rest.startsWith('ForAnyValue:')) {
    set = 'any';
    rest = rest.slice('ForAnyValue:'.length);
  } else if (rest.startsWith('ForAllValues:')) {
    set = 'all';
    rest = rest.slice('ForAllValues:'.length);
  }
  let ifExists = false;
  if (rest.endsWith('IfExists')) {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  const base = BASES.find((b) => b === rest);
  if (!base) return undefined;
  // Null has neither an IfExists form nor a set form.
  if (base === 'Null' && (ifExists || set !== 'single')) return undefined;
  return { name, base, set, ifExists };
}

function parseNumber(s: string): number | undefined {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s.trim())) return undefined;
  return Number(s);
}

/** ISO 8601 dates/times, or epoch seconds (both forms AWS accepts). */
function parseDate(s: string): number | undefined {
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

function ipToBigInt(ip: string): { v: bigint; bits: 32 | 128 } | undefined {
  const kind = isIP(ip);
  if (kind === 4) {
    return { v: ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n), bits: 32 };
  }
  if (kind === 6) {
    let text = ip;
    // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4) {
      const n = ipToBigInt(v4[1]!)!.v;
      text = text.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
    const h = head ? head.split(':') : [];
    const t = tail === undefined ? [] : tail ? tail.split(':') : [];
    const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
    const groups = [...h, ...fill, ...t];
    if (groups.length !== 8) return undefined;
    return { v: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n), bits: 128 };
  }
  return undefined;
}

function ipInCidr(ip: string, cidr: string): boolean {
  const slash = cidr.indexOf('/');
  const net = ipToBigInt(slash < 0 ? cidr : cidr.slice(0, slash));
  const addr = ipToBigInt(ip);
  if (!net || !addr || net.bits !== addr.bits) return false;
  const prefix = slash < 0 ? net.bits : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > net.bits) return false;
  const shift = BigInt(net.bits - prefix);
  return addr.v >> shift === net.v >> shift;
}

/** Does one request value match one policy value under a positive (non-negated) operator? */
function positiveMatch(base: Base, requestValue: string, policyValue: string, version: PolicyVersion, context: ConditionContext): boolean {
  switch (base) {
    case 'StringEquals':
    case 'ArnEquals': {
      const v = substituteText(policyValue, version, context);
      return v !== undefined && v === requestValue;
    }
    case 'StringEqualsIgnoreCase': {
      const v = substituteText(policyValue, version, context);
      return v !== undefined && v.toLowerCase() === requestValue.toLowerCase();
    }
    case 'StringLike':
    case 'ArnLike': {
      const parts = substitute(policyValue, version, context);
      return parts !== undefined && compileWildcard(parts, false).test(requestValue);
    }
    case 'NumericEquals':
    case 'NumericLessThan':
    case 'NumericLessThanEquals':
    case 'NumericGreaterThan':
    case 'NumericGreaterThanEquals': {
      const a = parseNumber(requestValue);
      const b = parseNumber(policyValue);
      if (a === undefined || b === undefined) return false;
      return compare(base.slice('Numeric'.length), a, b);
    }
    case 'DateEquals':
    case 'DateLessThan':
    case 'DateLessThanEquals':
    case 'DateGreaterThan':
    case 'DateGreaterThanEquals': {
      const a = parseDate(requestValue);
      const b = parseDate(policyValue);
      if (a === undefined || b === undefined) return false;
      return compare(base.slice('Date'.length), a, b);
    }
    case 'Bool':
      return requestValue.toLowerCase() === policyValue.toLowerCase() && (policyValue.toLowerCase() === 'true' || policyValue.toLowerCase() === 'false');
    case 'BinaryEquals':
      return requestValue === policyValue;
    case 'IpAddress':
      return ipInCidr(requestValue, policyValue);
    default:
      return false;
  }
}

function compare(relation: string, a: number, b: number): boolean {
  switch (relation) {
    case 'Equals':
      return a === b;
    case 'LessThan':
      return a < b;
    case 'LessThanEquals':
      return a <= b;
    case 'GreaterThan':
      return a > b;
    case 'GreaterThanEquals':
      return a >= b;
    default:
      return false;
  }
}

/** Evaluates one condition clause (one operator, one key, its values) against the request. */
export function evaluateClause(clause: ConditionClause, context: ConditionContext, version: PolicyVersion): boolean {
  const { operator } = clause;
  const requestValues = context.get(clause.key);
  if (operator.base === 'Null') {
    const absent = requestValues === undefined;
    return clause.values.some((v) => (v.toLowerCase() === 'true' ? absent : v.toLowerCase() === 'false' ? !absent : false));
  }
  const positive = NEGATION.get(operator.base);
  const negated = positive !== undefined;
  const base = positive ?? operator.base;
  if (requestValues === undefined) {
    if (operator.ifExists) return true;
    if (operator.set === 'all') return true;
    if (operator.set === 'any') return false;
    return negated;
  }
  const matchesAny = (rv: string) => clause.values.some((pv) => positiveMatch(base, rv, pv, version, context));
  const holds = (rv: string) => (negated ? !matchesAny(rv) : matchesAny(rv));
  if (operator.set === 'all') return requestValues.every(holds);
  if (operator.set === 'any') return requestValues.some(holds);
  // A single-valued operator on a key with several values: true when any value
  // matches (a negated operator: when none does).
  return negated ? !requestValues.some(matchesAny) : requestValues.some(matchesAny);
}
