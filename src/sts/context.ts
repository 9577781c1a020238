/**
 * What every STS action receives: the request and, for signed actions, the
 * caller; the store and root of trust (to seal session secrets); the token
 * verifier over the trusted issuers; the audit sink.
 */
import type { Store } from '../storage/database.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { AuditSink } from '../audit/event.js';
import type { TokenVerifier } from '../identity/token-verifier.js';
import type { QueryParams } from '../iam/params.js';

export interface StsContext {
  /** Undefined for the anonymous action (AssumeRoleWithWebIdentity). */
  caller: Caller | undefined;
  info: RequestInfo;
  store: Store;
  root: RootOfTrust;
  accountId: string;
  /** The verifier over every trusted issuer (built on first use). */
  verifier(): TokenVerifier;
  audit: AuditSink;
  /**
   * Signed actions: AccessDenied unless the caller's identity policies allow `action` on `resourceArn`
   * (absent: only the account root may call the actions that ask).
   */
  authorize?: (action: string, resourceArn: string) => Promise<void>;
  /** Invalidates a key in this process's KMS key cache (others see the change within their cache's TTL). */
  keyChanged?: (keyId: string) => void;
}

/** One STS action: returns the inner XML of `<ActionResult>`. */
export interface StsAction {
  readonly name: string;
  /** True when the action is called without SigV4 (the token is the credential). */
  readonly anonymous: boolean;
  handle(params: QueryParams, ctx: StsContext): Promise<string>;
}
