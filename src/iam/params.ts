/**
 * Reads query-protocol parameters (form-encoded, IAM API Reference) with
 * IAM's constraints and ValidationError wording: strings with length and
 * pattern, integers, and `Name.member.N[.Field]` lists.
 */
import { iamConstraint } from './errors.js';

function wireName(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function shown(v: string): string {
  return v.length <= 64 ? v : `${v.slice(0, 64)}…`;
}

export interface StringRule {
  required?: boolean;
  min?: number;
  max?: number;
  /** The pattern as AWS writes it in its model (shown in the message). */
  pattern?: { re: RegExp; text: string };
  /** Free text (policy documents): never echoed in messages. */
  secretish?: boolean;
}

export class QueryParams {
  constructor(private readonly params: URLSearchParams) {}

  get action(): string {
    return this.params.get('Action') ?? '';
  }

  string(name: string, rule: StringRule & { required: true }): string;
  string(name: string, rule?: StringRule): string | undefined;
  string(name: string, rule: StringRule = {}): string | undefined {
    const v = this.params.get(name);
    if (v === null) {
      if (rule.required) throw iamConstraint(wireName(name), null, 'Member must not be null');
      return undefined;
    }
    const echo = rule.secretish ? null : shown(v);
    if (rule.min !== undefined && v.length < rule.min)
      throw iamConstraint(wireName(name), echo, `Member must have length greater than or equal to ${rule.min}`);
    if (rule.max !== undefined && v.length > rule.max) throw iamConstraint(wireName(name), echo, `Member must have length less than or equal to ${rule.max}`);
    if (rule.pattern && !rule.pattern.re.test(v))
      throw iamConstraint(wireName(name), echo, `Member must satisfy regular expression pattern: ${rule.pattern.text}`);
    return v;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const v = this.params.get(name);
    if (v === null) return undefined;
    const n = /^-?\d{1,10}$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) throw iamConstraint(wireName(name), shown(v), 'Member must be an integer');
    if (n < min) throw iamConstraint(wireName(name), v, `Member must have value greater than or equal to ${min}`);
    if (n > max) throw iamConstraint(wireName(name), v, `Member must have value less than or equal to ${max}`);
    return n;
  }

  /** `Name.member.1`, `Name.member.2`, … (stops at the first gap). */
  list(name: string): string[] {
    const out: string[] = [];
    for (let i = 1; ; i++) {
      const v = this.params.get(`${name}.member.${i}`);
      if (v === null) return out;
      out.push(v);
    }
  }

  /** `Name.member.N.Field` structures, for the given fields. */
  structs<F extends string>(name: string, fields: readonly F[]): Array<Record<F, string | undefined>> {
    const out: Array<Record<F, string | undefined>> = [];
    for (let i = 1; ; i++) {
      const entry = {} as Record<F, string | undefined>;
      let any = false;
      for (const f of fields) {
        const v = this.params.get(`${name}.member.${i}.${f}`);
        entry[f] = v ?? undefined;
        if (v !== null) any = true;
      }
      if (!any) return out;
      out.push(entry);
    }
  }
}

export const USER_NAME = { re: /^[\w+=,.@-]+$/, text: '[\\w+=,.@-]+' };
export const POLICY_NAME = { re: /^[\w+=,.@-]+$/, text: '[\\w+=,.@-]+' };
export const PATH = { re: /^(\/|\/[\u0021-\u007E]+\/)$/, text: '(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)' };
export const ACCESS_KEY_ID = { re: /^[\w]+$/, text: '[\\w]+' };
