/**
 * Linked logins: the custodian, and only it, maps a verified (issuer,
 * subject) to the stable user id (`uid`) its STS sessions are tagged with
 * (docs/identity.md, "Linked logins"). A template-v3 master key binds to
 * `aws:PrincipalTag/uid` (packages/sdk/src/envelope/masterKeyPolicy.ts), so
 * this mapping decides who may use a wallet's master key; nothing outside STS
 * writes it, and a link is made only by STS's LinkWebIdentity with fresh
 * tokens of both logins (src/sts/web-identity-links.ts).
 *
 * The first time a login is seen it gets a new random uid of its own: a uid
 * is not derived from the login, so an unlinked login that comes back is a
 * new user, never silently its old one.
 */
import { newUserId } from '../aws/ids.js';
import type { Store } from '../storage/database.js';
import { findIdentityLink, insertIdentityLinkIfAbsent, type IdentityLinkRow } from '../storage/sts-identity-links.repository.js';
import type { VerifiedToken } from '../identity/token-verifier.js';

/** How recent a login must be to link or unlink another (seconds): `auth_time`, or `iat` without it. */
export const LINK_FRESHNESS_SECONDS = 300;

/** A uid: `u-` and 32 lower-case hex digits (128 random bits). */
export const UID_PATTERN = /^u-[0-9a-f]{32}$/;

/**
 * The link of a verified login (its stable user id and the uid's origin subject), created with a new
 * random uid the first time the login is seen.
 * @throws {Error} when the store fails.
 */
export async function linkOf(store: Store, who: { issuer: string; subject: string }, now: number): Promise<IdentityLinkRow> {
  const known = await findIdentityLink(store.db, who.issuer, who.subject);
  if (known) return known;
  // Concurrent first sights: the primary key keeps one, and both read it back.
  const { link } = await insertIdentityLinkIfAbsent(store.db, {
    issuer: who.issuer,
    subject: who.subject,
    uid: newUserId(),
    originSubject: who.subject,
    createdAt: now,
  });
  return link;
}

/**
 * When the token's user last authenticated (seconds since the epoch): OIDC Core §2 `auth_time` when the
 * token carries it, else `iat`; undefined when it carries neither as a number.
 */
export function authenticatedAt(token: VerifiedToken): number | undefined {
  const { auth_time: authTime, iat } = token.claims as { auth_time?: unknown; iat?: unknown };
  if (typeof authTime === 'number' && Number.isFinite(authTime)) return authTime;
  if (typeof iat === 'number' && Number.isFinite(iat)) return iat;
  return undefined;
}

/** True when the token's login is at most LINK_FRESHNESS_SECONDS old at `now` (ms). */
export function isFreshLogin(token: VerifiedToken, now: number): boolean {
  const at = authenticatedAt(token);
  return at !== undefined && Math.floor(now / 1000) - at <= LINK_FRESHNESS_SECONDS;
}
