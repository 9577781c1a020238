/**
 * What the authenticator and the authorizer need to know about IAM users:
 * their tags (principal tags, aws:PrincipalTag/<key>) and their inline
 * identity policies. Policies are cached per user for `ttlMs`, so a change
 * made by another process takes effect within that time; changes made in this
 * process invalidate at once.
 */
import type { Store } from '../storage/database.js';
import { userPolicyDocuments, userTags } from '../storage/iam.repository.js';
import { principalFromArn } from '../aws/policy/request.js';
import type { Caller } from '../aws/context.js';

interface Entry {
  docs: readonly string[];
  expires: number;
}

export class Principals {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #policies = new Map<string, Entry>();

  constructor(options: { store: Store; ttlMs: number }) {
    this.#store = options.store;
    this.#ttlMs = options.ttlMs;
  }

  /** The inline policies of the caller's IAM user; none for the root and for sessions. */
  readonly identityPolicies = async (caller: Caller, now: number): Promise<readonly string[]> => {
    if (principalFromArn(caller.arn, caller.accountId).kind !== 'user') return [];
    const hit = this.#policies.get(caller.userName);
    if (hit && hit.expires > now) return hit.docs;
    const docs = await userPolicyDocuments(this.#store.db, caller.userName);
    if (this.#policies.size > 10_000) this.#policies.clear();
    this.#policies.set(caller.userName, { docs, expires: now + this.#ttlMs });
    return docs;
  };

  /** Principal tags of an IAM user (the root has none). */
  readonly tagsFor = async (userName: string): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const [k, v] of await userTags(this.#store.db, userName)) out[k] = v;
    return out;
  };

  /** Forgets what this process cached about a user (after a change to its policies). */
  invalidate(userName: string): void {
    this.#policies.delete(userName);
  }
}
