/**
 * What every IAM role action receives: the caller, the request, the store,
 * the role-policy cache to invalidate, and an authorize() that decides
 * `iam:<Action>` on the role's ARN by the caller's identity policies (the
 * account root is always allowed).
 */
import type { Store } from '../../storage/database.js';
import type { AccountQuorum } from '../../kms/policy/account-quorum.js';
import type { Caller, RequestInfo } from '../../aws/context.js';
import type { Authenticator } from '../../aws/authenticator.js';
import type { QueryParams } from '../params.js';
import type { RolePolicies } from './role-policies.js';

export interface RoleContext {
  caller: Caller;
  info: RequestInfo;
  store: Store;
  accountId: string;
  authenticator: Authenticator;
  rolePolicies: RolePolicies;
  /** The account-level quorum: actions that can widen access call its guard() before they write. */
  quorum: AccountQuorum;
  /**
   * @throws {AwsError} AccessDenied with AWS's message.
   */
  authorize(action: string, resourceArn: string): Promise<void>;
}

/** One role action: returns the inner XML of `<ActionResult>`, or undefined when the action has none. */
export interface RoleAction {
  readonly name: string;
  handle(params: QueryParams, ctx: RoleContext): Promise<string | undefined>;
}

export function roleAction(name: string, handle: RoleAction['handle']): RoleAction {
  return { name, handle };
}
