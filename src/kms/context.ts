/**
 * What every KMS operation receives: the custodian's dependencies, who is
 * calling, and the audit fields the handler fills in as it learns them.
 */
import type { Store } from '../storage/database.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import type { KeyRecord } from './model.js';
import type { KeyCache, SigningPolicyStamp } from './key-cache.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { AuditSink, EthAuditFields } from '../audit/event.js';
import type { RecipientAttestation } from '../attestation/recipient-attestation.js';
import type { AccountQuorum } from './policy/account-quorum.js';

/** Fields an operation records for the audit trail; never payloads. */
export interface AuditFields {
  keyArn?: string;
  encryptionContext?: Record<string, string>;
  signingAlgorithm?: string;
  messageType?: string;
  /** A signing decision on a decoded Ethereum payload (src/kms/sign-payload.ts). */
  eth?: EthAuditFields;
  /** A Decrypt to an attested recipient that stated its purpose (`export`). */
  releasePurpose?: 'export';
}

/**
 * Decides whether `caller` may perform `action` on `key` (undefined for
 * account-level actions such as CreateKey and ListKeys). `grant`, when given,
 * is asked only when no policy allows the request and none denies it
 * explicitly: true allows it (a KMS grant is an additional allow).
 * @throws {AwsError} AccessDeniedException when not allowed.
 */
export interface Authorizer {
  authorize(request: {
    caller: Caller;
    info: RequestInfo;
    action: string;
    key: KeyRecord | undefined;
    conditions: Record<string, string | string[]>;
    grant?: () => Promise<boolean>;
  }): Promise<void>;
}

export interface KmsConfig {
  accountId: string;
  region: string;
}

/** The custodian's dependencies. */
export interface KmsDeps {
  store: Store;
  root: RootOfTrust;
  config: KmsConfig;
  authorizer: Authorizer;
  keyCache: KeyCache;
  /** Clock, injectable for deletion-window and rotation tests. */
  clock: () => number;
  /** Where operations record events of their own beside the endpoint's one per request (quorum steps). */
  audit: AuditSink;
  /** The account-level quorum (src/kms/policy/account-quorum.ts): guards permission changes on keys without a rule of their own. */
  quorum: AccountQuorum;
  /**
   * Verifies the attestation documents of Decrypt's `Recipient` (src/attestation/);
   * undefined: `Recipient` is refused.
   */
  recipientAttestation: RecipientAttestation | undefined;
}

export interface OperationContext {
  deps: KmsDeps;
  caller: Caller;
  info: RequestInfo;
  audit: AuditFields;
  /**
   * The grants the request's `GrantTokens` name (src/kms/grants.ts): a grant
   * named here but missing from a cached list of the key's grants is looked up
   * in the store, so a grant made by another process is usable at once with its token.
   */
  grantTokenIds?: ReadonlySet<string>;
  /** Extra response headers an operation adds to a successful answer (e.g. Sign's recovery-id hint). */
  responseHeaders?: Record<string, string>;
  /**
   * A key's signing policy text (undefined: none) read with its record by this
   * request (src/kms/keys.ts resolveKey, signingPolicy option), taken once by
   * src/kms/signing-policy.ts loadSigningPolicy instead of a second read.
   */
  signingPolicyRead?: { keyId: string; text: string | undefined; stamp: SigningPolicyStamp | undefined };
}
