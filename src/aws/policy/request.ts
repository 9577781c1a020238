/**
 * The request as the policy engine sees it: who (principal), what (action),
 * on what (resource ARN, or `*` for account-level actions), and the condition
 * keys with their values. Keys are looked up case-insensitively, as IAM does
 * ("condition key names are not case-sensitive"). Pure.
 */
import type { SessionAuth } from '../context.js';

export type PrincipalKind = 'root' | 'user' | 'assumed-role' | 'other';

export interface EvalPrincipal {
  /** The caller's ARN as authenticated (user ARN, root ARN, or assumed-role session ARN). */
  arn: string;
  accountId: string;
  kind: PrincipalKind;
  /** For an assumed-role session, the role's ARN (`arn:aws:iam::A:role/NAME`). */
  roleArn?: string | undefined;
}

/** Condition keys and their values (every key multi-valued; a single-valued key has one value). */
export class ConditionContext {
  readonly #values = new Map<string, readonly string[]>();

  constructor(entries: Iterable<readonly [string, string | readonly string[]]> = []) {
    for (const [k, v] of entries) this.set(k, v);
  }

  /** Sets a key (replacing any value). An empty list counts as absent. */
  set(key: string, value: string | readonly string[]): this {
    this.#values.set(key.toLowerCase(), typeof value === 'string' ? [value] : value);
    return this;
  }

  /** The values of a key, or undefined when the request does not carry it. */
  get(key: string): readonly string[] | undefined {
    const v = this.#values.get(key.toLowerCase());
    return v && v.length > 0 ? v : undefined;
  }
}

export interface EvalRequest {
  principal: EvalPrincipal;
  /** `service:Operation`, e.g. `kms:Sign`. */
  action: string;
  /** The resource ARN, or `*` for actions that take no resource (CreateKey, ListKeys). */
  resource: string;
  context: ConditionContext;
}

/**
 * Classifies an authenticated caller's ARN.
 * @throws {TypeError} never; unknown shapes are `other`.
 */
export function principalFromArn(arn: string, accountId: string): EvalPrincipal {
  if (arn === `arn:aws:iam::${accountId}:root`) return { arn, accountId, kind: 'root' };
  if (/^arn:aws:iam::\d{12}:user\//.test(arn)) return { arn, accountId, kind: 'user' };
  const role = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(arn);
  if (role) return { arn, accountId, kind: 'assumed-role', roleArn: `arn:aws:iam::${role[1]}:role/${role[2]}` };
  return { arn, accountId, kind: 'other' };
}

/** The global condition keys AWS sets on every request (IAM User Guide, "AWS global condition context keys"). */
export function globalConditionKeys(options: {
  principal: EvalPrincipal;
  userName: string;
  tags: Readonly<Record<string, string>>;
  sourceIp: string;
  now: number;
  /** How the user of a web-identity session logged in (src/aws/context.ts); absent for other callers. */
  auth?: SessionAuth | undefined;
}): ConditionContext {
  const { principal, tags } = options;
  const ctx = new ConditionContext();
  ctx.set('aws:PrincipalArn', principal.kind === 'assumed-role' && principal.roleArn ? principal.roleArn : principal.arn);
  ctx.set('aws:PrincipalAccount', principal.accountId);
  ctx.set(
    'aws:PrincipalType',
    principal.kind === 'root' ? 'Account' : principal.kind === 'user' ? 'User' : principal.kind === 'assumed-role' ? 'AssumedRole' : 'Other',
  );
  if (principal.kind === 'user') ctx.set('aws:username', options.userName);
  for (const [k, v] of Object.entries(tags)) ctx.set(`aws:PrincipalTag/${k}`, v);
  // Node reports IPv4 peers on a dual-stack socket as IPv4-mapped IPv6 addresses.
  ctx.set('aws:SourceIp', options.sourceIp.startsWith('::ffff:') && options.sourceIp.includes('.') ? options.sourceIp.slice(7) : options.sourceIp);
  const second = Math.floor(options.now / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastIso = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    lastEpoch = String(second);
  }
  ctx.set('aws:CurrentTime', lastIso);
  ctx.set('aws:EpochTime', lastEpoch);
  for (const [k, v] of authConditionKeys(options.auth, options.now)) ctx.set(k, v);
  return ctx;
}

/**
 * The login keys of a web-identity session (docs/access-control.md, "Step-up
 * MFA"): aws:MultiFactorAuthPresent `true` when the token's amr holds `mfa`
 * (RFC 8176), `false` otherwise; aws:MultiFactorAuthAge, whole seconds since
 * the token's auth_time, only when MFA is present and auth_time known (as AWS
 * sets it only for MFA sessions); symbolon:AuthMethods, the amr values.
 * Callers that are not web-identity sessions carry none of them (an IAM user's
 * access key says nothing about MFA), so `"Bool": {"aws:MultiFactorAuthPresent": "true"}`
 * refuses them and `BoolIfExists … false` is the AWS idiom that does not.
 */
export function authConditionKeys(auth: SessionAuth | undefined, now: number): Array<[string, string | readonly string[]]> {
  if (!auth) return [];
  const mfa = auth.methods.includes('mfa');
  const out: Array<[string, string | readonly string[]]> = [['aws:MultiFactorAuthPresent', mfa ? 'true' : 'false']];
  if (mfa && auth.authTime !== undefined) out.push(['aws:MultiFactorAuthAge', String(Math.max(0, Math.floor((now - auth.authTime) / 1000)))]);
  if (auth.methods.length > 0) out.push(['symbolon:AuthMethods', auth.methods]);
  return out;
}

// aws:CurrentTime has one-second resolution; formatting it once per second keeps it off the Sign hot path.
let lastSecond = -1;
let lastIso = '';
let lastEpoch = '';
