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
}

/** Where and how the request arrived. */
export interface RequestInfo {
  requestId: string;
  sourceIp: string;
  userAgent: string;
  /** Milliseconds since the epoch, read once per request. */
  now: number;
}
