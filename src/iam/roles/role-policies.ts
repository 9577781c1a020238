/**
 * The inline permission policies of the role behind an assumed-role session
 * (PutRolePolicy), as the policy engine's identity policies for that caller
 * (IAM User Guide, "Policy evaluation logic": a role session's identity-based
 * policies are its role's). Cached per role for `ttlMs` so the KMS hot path
 * (one Decrypt per envelope signature) reads no table; a change made in this
 * process invalidates at once, one made by another process takes effect within
 * the TTL.
 */
import type { Store } from '../../storage/database.js';
import { rolePolicies } from '../../storage/iam-roles.repository.js';
import { principalFromArn } from '../../aws/policy/request.js';
import type { Caller } from '../../aws/context.js';

interface Entry {
  docs: readonly string[];
  expires: number;
}

/** The role name in an assumed-role session ARN, or undefined for any other principal. */
export function roleNameOfSession(caller: Caller): string | undefined {
  const p = principalFromArn(caller.arn, caller.accountId);
  if (p.kind !== 'assumed-role' || !p.roleArn) return undefined;
  return p.roleArn.slice(p.roleArn.lastIndexOf('/') + 1);
}

export class RolePolicies {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, Entry>();

  constructor(options: { store: Store; ttlMs: number }) {
    this.#store = options.store;
    this.#ttlMs = options.ttlMs;
  }

  /** The role's policy documents for an assumed-role caller; none for any other principal. */
  readonly identityPolicies = async (caller: Caller, now: number): Promise<readonly string[]> => {
    const roleName = roleNameOfSession(caller);
    if (roleName === undefined) return [];
    const hit = this.#cache.get(roleName);
    if (hit && hit.expires > now) return hit.docs;
    const docs = Object.freeze((await rolePolicies(this.#store.db, roleName)).map((p) => p.document));
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(roleName, { docs, expires: now + this.#ttlMs });
    return docs;
  };

  /** Forgets what this process cached about a role (after its policies changed or it was deleted). */
  invalidate(roleName: string): void {
    this.#cache.delete(roleName);
  }
}
