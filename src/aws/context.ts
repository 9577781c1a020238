/**
 * Who is calling and how the request arrived: what SigV4 authentication
 * yields, shared by every AWS-compatible service on the endpoint (KMS, IAM,
 * STS) and by the policy engine's request context.
 */

/** An authenticated caller. */
export interface Caller {
  accountId: string;
  /** arn:aws:iam::ACCOUNT:user/NAME, arn:aws:iam::ACCOUNT:root, or an assumed-role session ARN. */
  arn: string;
  userName: string;
  accessKeyId: string;
  /** Principal tags (IAM user tags, or session tags), visible to policies as aws:PrincipalTag/<key>. */
  tags: Readonly<Record<string, string>>;
  /** For an STS web-identity session: how the user logged in (the token's `amr` and `auth_time`). */
  auth?: SessionAuth | undefined;
}

/**
 * How the user behind a web-identity session logged in, from the OIDC token
 * STS took: policies see it as aws:MultiFactorAuthPresent,
 * aws:MultiFactorAuthAge and symbolon:AuthMethods (docs/access-control.md).
 */
export interface SessionAuth {
  /** The token's `amr` values (RFC 8176); empty when it had none. */
  readonly methods: readonly string[];
  /** The token's `auth_time`, milliseconds since the epoch, when it had one. */
  readonly authTime?: number | undefined;
}

/**
 * What a passkey step-up now would make of a login (docs/identity.md
 * "Step-up"): the built-in issuer adds the passkey's method (`hwk`, or `swk`
 * for a synced one), `user` and `mfa`, with auth_time now. Both variants,
 * since which one the user's passkey gives is not known before it is used.
 */
export function steppedUpLogins(auth: SessionAuth, now: number): SessionAuth[] {
  return ['hwk', 'swk'].map((method) => ({ methods: [...new Set([...auth.methods, method, 'user', 'mfa'])], authTime: now }));
}

/** Where and how the request arrived. */
export interface RequestInfo {
  requestId: string;
  sourceIp: string;
  userAgent: string;
  /** Milliseconds since the epoch, read once per request. */
  now: number;
}
