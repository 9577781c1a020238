/**
 * Linked logins from the device (docs/identity.md, "Linked logins"; docs/sts.md):
 * the custodian's STS actions LinkWebIdentity, UnlinkWebIdentity and
 * ListWebIdentityLinks, each one anonymous form-encoded POST with ID tokens as
 * the credentials, answered in STS's XML. Plain `fetch`, browser-safe.
 *
 * Linking and unlinking need fresh logins (at most 300 seconds old): log in
 * with both methods just before calling.
 */
import { StsError } from './errors.js';
import { element } from './assumeRoleWithWebIdentity.js';

/** One login method: a token issuer and the subject it names. */
export interface WebIdentity {
  issuer: string;
  subject: string;
}

/** A Symbolon user at the custodian: the stable id its sessions are tagged with (`uid`), and its login methods. */
export interface WebIdentityUser {
  userId: string;
  identities: WebIdentity[];
}

export interface WebIdentityLinkOptions {
  /** The custodian's endpoint URL. */
  endpoint: string;
  /** An ID token of one of the user's login methods. */
  webIdentityToken: string;
  fetch?: typeof fetch;
}

async function call(options: WebIdentityLinkOptions, action: string, extra: Record<string, string>): Promise<WebIdentityUser> {
  const doFetch = options.fetch ?? fetch;
  const body = new URLSearchParams({ Action: action, Version: '2011-06-15', WebIdentityToken: options.webIdentityToken, ...extra });
  const res = await doFetch(options.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: body.toString(),
  });
  const xml = await res.text();
  if (!res.ok) throw new StsError(element(xml, 'Code') ?? 'UnknownError', element(xml, 'Message') ?? `STS answered HTTP ${res.status}.`, res.status);
  const userId = element(xml, 'UserId');
  if (userId === undefined) throw new StsError('MalformedResponse', `The ${action} answer names no user.`, res.status);
  const identities: WebIdentity[] = [];
  for (const m of xml.matchAll(/<member>(.*?)<\/member>/gs)) {
    const issuer = element(m[1]!, 'Issuer');
    const subject = element(m[1]!, 'Subject');
    if (issuer === undefined || subject === undefined) throw new StsError('MalformedResponse', `The ${action} answer has a malformed login.`, res.status);
    identities.push({ issuer, subject });
  }
  return { userId, identities };
}

/**
 * Adds the login of `linkedWebIdentityToken` to the user of `webIdentityToken`; both logins at most 300 seconds old.
 * @throws {StsError} InvalidIdentityToken (a token refused, or a login too old), EntityAlreadyExists (the second
 *   login belongs to another user), or another STS code.
 */
export function linkWebIdentity(options: WebIdentityLinkOptions & { linkedWebIdentityToken: string }): Promise<WebIdentityUser> {
  return call(options, 'LinkWebIdentity', { LinkedWebIdentityToken: options.linkedWebIdentityToken });
}

/**
 * Removes one login method of the token's user (with a login at most 300 seconds old).
 * @throws {StsError} DeleteConflict (the user's last login), NoSuchEntity (not this user's), InvalidIdentityToken, …
 */
export function unlinkWebIdentity(options: WebIdentityLinkOptions & { identity: WebIdentity }): Promise<WebIdentityUser> {
  return call(options, 'UnlinkWebIdentity', { Issuer: options.identity.issuer, Subject: options.identity.subject });
}

/**
 * The token's user: its stable id and login methods.
 * @throws {StsError} when STS refuses the token.
 */
export function listWebIdentityLinks(options: WebIdentityLinkOptions): Promise<WebIdentityUser> {
  return call(options, 'ListWebIdentityLinks', {});
}
