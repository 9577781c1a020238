/**
 * Ends the temporary credentials of one web identity (issuer, sub) before
 * they expire: a "sign out everywhere" or a compromised account. Revoked
 * sessions are refused as unknown (UnrecognizedClient / InvalidClientTokenId),
 * at once in this process and within the authenticator's cache TTL in others.
 */
import type { Store } from '../storage/database.js';
import type { Authenticator } from '../aws/authenticator.js';
import { revokeSubjectSessions } from '../storage/sts-sessions.repository.js';

/**
 * Revokes every live session issued for `subject` by `issuer`; returns how many.
 * @throws {Error} when the store fails.
 */
export async function revokeSessions(
  deps: { store: Store; authenticator: Authenticator },
  who: { issuer: string; subject: string },
  now: number,
): Promise<number> {
  const keys = await revokeSubjectSessions(deps.store.db, who.issuer, who.subject, now);
  for (const accessKeyId of keys) deps.authenticator.forget(accessKeyId);
  return keys.length;
}
