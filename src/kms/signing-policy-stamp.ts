/**
 * When a cached signing policy is still the stored one without reading it
 * (src/kms/signing-policy.ts). On SQLite, a key's policy text can change only
 * by a commit: through another connection (another process, or another store
 * on the same file), which changes the store's externalCommits (`PRAGMA
 * data_version`), or through this process's own connection, which goes
 * through the signing-policy repository and changes its write count. A copy
 * read after both were taken is current while neither has moved. PostgreSQL
 * offers no such counter as cheap as the primary-key read itself (a
 * LISTEN/NOTIFY arrives after the commit, so a request in between would sign
 * under the old policy): there every signing request reads the policy.
 */
import type { Store } from '../storage/database.js';
import { signingPolicyWrites } from '../storage/signing-policies.repository.js';
import type { SigningPolicyStamp } from './key-cache.js';

/** The stamp to take before reading a signing policy; undefined where the store cannot tell (PostgreSQL): read it. */
export function signingPolicyStamp(store: Pick<Store, 'externalCommits'>): SigningPolicyStamp | undefined {
  const external = store.externalCommits?.();
  return external === undefined ? undefined : { external, writes: signingPolicyWrites() };
}
