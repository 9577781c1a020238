/**
 * What every IAM action receives: the caller, the request, the store and
 * root of trust (to seal new secrets), the caches to invalidate, and an
 * authorize() that decides `iam:*` actions by identity policies (the account
 * root is always allowed).
 */
import type { Store } from '../storage/database.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import type { Authenticator } from '../aws/authenticator.js';
import type { AccountQuorum } from '../kms/policy/account-quorum.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { QueryParams } from './params.js';
import type { Principals } from './principals.js';

export interface IamContext {
  caller: Caller;
  info: RequestInfo;
  store: Store;
  root: RootOfTrust;
  accountId: string;
  authenticator: Authenticator;
  principals: Principals;
  /** The account-level quorum: actions that can widen access call its guard() before they write. */
  quorum: AccountQuorum;
  /**
   * @throws {AwsError} AccessDenied with AWS's message.
   */
  authorize(action: string, resourceArn: string): Promise<void>;
}

/** One IAM action: returns the inner XML of `<ActionResult>`, or undefined when the action has none. */
export interface IamAction {
  readonly name: string;
  handle(params: QueryParams, ctx: IamContext): Promise<string | undefined>;
}

export function iamAction(name: string, handle: IamAction['handle']): IamAction {
  return { name, handle };
}
