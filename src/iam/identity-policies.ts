/**
 * A caller's IAM identity policies, as the policy engine needs them: an IAM
 * user's own (PutUserPolicy), or, for an assumed-role session, its role's
 * (PutRolePolicy). Both come from caches bounded by SYMBOLON_KEY_CACHE_TTL_MS.
 */
import type { Caller } from '../aws/context.js';
import type { IdentityPolicySource } from '../aws/policy/authorizer.js';
import type { Principals } from './principals.js';
import { roleNameOfSession, type RolePolicies } from './roles/role-policies.js';

export class IdentityPolicies implements IdentityPolicySource {
  readonly #principals: Principals;
  readonly #rolePolicies: RolePolicies;

  constructor(options: { principals: Principals; rolePolicies: RolePolicies }) {
    this.#principals = options.principals;
    this.#rolePolicies = options.rolePolicies;
  }

  /** @throws {Error} when the store cannot be read. */
  forCaller(caller: Caller, now: number): Promise<readonly string[]> {
    return roleNameOfSession(caller) !== undefined ? this.#rolePolicies.identityPolicies(caller, now) : this.#principals.identityPolicies(caller, now);
  }
}
