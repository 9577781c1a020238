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

/** Where and how the request arrived. */
export interface RequestInfo {
  requestId: string;
  sourceIp: string;
  userAgent: string;
  /** Milliseconds since the epoch, read once per request. */
  now: number;
}
