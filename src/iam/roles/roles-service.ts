/**
 * IAM roles on the custodian's endpoint, as a second query-protocol service
 * for SigV4 service `iam` beside the users service (src/iam/service.ts):
 * CreateRole, GetRole, ListRoles, DeleteRole and the role's inline policies,
 * form-encoded `Action=…&Version=2010-05-08`, XML responses and IAM's error
 * XML, so @aws-sdk/client-iam works unchanged. Every action is authorized by
 * the caller's identity policies (`iam:<Action>` on the role's ARN); the
 * account root is always allowed. Dispatch goes through a Map only.
 */
import type { Authenticator } from '../../aws/authenticator.js';
import type { Caller, RequestInfo } from '../../aws/context.js';
import type { Store } from '../../storage/database.js';
import type { PolicyAuthorizer } from '../../aws/policy/authorizer.js';
import type { AuditSink } from '../../audit/event.js';
import { IamQueryService, identityPolicyCheck } from '../service.js';
import type { RolePolicies } from './role-policies.js';
import type { AccountQuorum } from '../../kms/policy/account-quorum.js';
import type { RoleAction, RoleContext } from './context.js';
import { createRole, deleteRole, getRole, listRoles } from './roles.js';
import { deleteRolePolicy, getRolePolicy, listRolePolicies, putRolePolicy } from './role-policy-actions.js';

const ACTIONS: ReadonlyMap<string, RoleAction> = new Map(
  [createRole, getRole, listRoles, deleteRole, putRolePolicy, getRolePolicy, deleteRolePolicy, listRolePolicies].map((a) => [a.name, a]),
);

export interface RolesServiceDeps {
  store: Store;
  accountId: string;
  authenticator: Authenticator;
  authorizer: PolicyAuthorizer;
  rolePolicies: RolePolicies;
  /** Where each authenticated request is recorded: role and role-policy changes are permission changes. */
  audit?: AuditSink | undefined;
  quorum: AccountQuorum;
}

export class RolesService extends IamQueryService<RoleContext> {
  readonly #deps: RolesServiceDeps;

  constructor(deps: RolesServiceDeps) {
    super(ACTIONS, deps.audit);
    this.#deps = deps;
  }

  protected context(caller: Caller, info: RequestInfo): RoleContext {
    const { store, accountId, authenticator, authorizer, rolePolicies, quorum } = this.#deps;
    return { caller, info, store, accountId, authenticator, rolePolicies, quorum, authorize: identityPolicyCheck(authorizer, caller, info) };
  }
}
