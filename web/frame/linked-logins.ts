/**
 * Linked logins on the wallet page (docs/frame.md, "Linked logins"): the
 * logins the custodian counts as this user (STS ListWebIdentityLinks), Link
 * another login, Unlink (docs/sts.md, "Linked logins"). The custodian's STS
 * decides; the frame calls it with the user's ID tokens, as it does for
 * AssumeRoleWithWebIdentity, and the wallet service takes no part.
 *
 * Linking wants fresh logins of both methods (at most 300 seconds old): the
 * second login is made here, in a Session kept in memory only (the tab's
 * session stays the first login's), and the first is confirmed again
 * (`confirmOwner`: a passkey step-up or the login screen) when it is older
 * than LINK_FRESH_SECONDS. The second login's tokens are dropped once the
 * link is made. No token is shown.
 */
import { linkWebIdentity, listWebIdentityLinks, unlinkWebIdentity, type WebIdentity } from '../../packages/sdk/src/envelope/webIdentityLinks.js';
import type { FrameConfig } from './config.js';
import { Session } from './session.js';

/** Confirm the current login again when older than this (STS refuses after 300 s; a margin for the clicks). */
export const LINK_FRESH_SECONDS = 240;

/** One login of the user as the page lists it. */
export interface LinkedLogin extends WebIdentity {
  /** Readable: the method (email code or passkey here, or the provider's name) and the subject; the email for the current login. */
  label: string;
  /** The login this page is using now. */
  current: boolean;
}

/** What the page asks of the user during a link or unlink; each resolves false when the user cancelled. */
export interface LinkPrompts {
  /** Logs `second` in with another method (the login screen). */
  secondLogin(second: Session): Promise<boolean>;
  /** Makes the tab's current login fresh again (a passkey step-up, or the login screen). */
  confirmOwner(): Promise<boolean>;
}

function label(config: FrameConfig, session: Session, login: WebIdentity, current: boolean): string {
  const builtin = login.issuer === config.issuer;
  const provider = config.loginProviders.find((p) => p.issuer.replace(/\/+$/, '') === login.issuer.replace(/\/+$/, ''));
  const method = builtin ? 'Email code or passkey' : (provider?.name ?? new URL(login.issuer).host);
  if (current) return `${method}: ${session.email ?? login.subject}`;
  // The built-in issuer's subjects are random ids: the first characters tell two apart.
  return `${method}: ${builtin && login.subject.length > 12 ? `${login.subject.slice(0, 8)}…` : login.subject}`;
}

/** @throws {StsError} when STS refuses (InvalidAction at a custodian without linked logins, …). */
export async function linkedLogins(config: FrameConfig, session: Session): Promise<LinkedLogin[]> {
  const me = session.identity;
  const user = await listWebIdentityLinks({ endpoint: config.kmsEndpoint, webIdentityToken: await session.idToken() });
  return user.identities.map((i) => {
    const current = me !== undefined && me.issuer === i.issuer && me.subject === i.subject;
    return { ...i, current, label: label(config, session, i, current) };
  });
}

/** The current login is fresh enough for STS, after confirming it again if needed. @returns false when the user cancelled. */
async function freshOwner(session: Session, prompts: LinkPrompts): Promise<boolean> {
  return session.loginAgeSeconds > LINK_FRESH_SECONDS ? prompts.confirmOwner() : true;
}

/**
 * Logs in with a second method and links it to the current user.
 * @returns false when the user cancelled either login.
 * @throws {StsError} EntityAlreadyExists (that login is another user's), ValidationError (the same login), InvalidIdentityToken, …
 */
export async function linkLogin(config: FrameConfig, session: Session, prompts: LinkPrompts): Promise<boolean> {
  const second = new Session(config.issuer, { persist: false });
  try {
    if (!(await prompts.secondLogin(second))) return false;
    if (!(await freshOwner(session, prompts))) return false;
    await linkWebIdentity({ endpoint: config.kmsEndpoint, webIdentityToken: await session.idToken(), linkedWebIdentityToken: await second.idToken() });
    return true;
  } finally {
    second.logout();
  }
}

/**
 * Unlinks one of the user's logins with the current one (confirmed again when older than LINK_FRESH_SECONDS).
 * @returns false when the user cancelled the confirmation.
 * @throws {StsError} DeleteConflict (the user's last login), NoSuchEntity, InvalidIdentityToken, …
 */
export async function unlinkLogin(config: FrameConfig, session: Session, login: WebIdentity, prompts: Pick<LinkPrompts, 'confirmOwner'>): Promise<boolean> {
  if (!(await freshOwner(session, { secondLogin: async () => false, ...prompts }))) return false;
  await unlinkWebIdentity({
    endpoint: config.kmsEndpoint,
    webIdentityToken: await session.idToken(),
    identity: { issuer: login.issuer, subject: login.subject },
  });
  return true;
}

const MESSAGES: Record<string, string> = {
  DeleteConflict: 'This is your only login: link another one before you unlink it.',
  EntityAlreadyExists: 'That login is already another user of this wallet service (it was used on its own before), so it cannot be linked.',
  ValidationError: 'That is the login you are using now: link a different one.',
  NoSuchEntity: 'That login is not linked to you (any more).',
  InvalidIdentityToken: 'A login was refused or is too old: log in again and retry.',
};

/** What the page says when STS refused, ending with the stable code. */
export function linkErrorMessage(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const text = typeof code === 'string' ? (MESSAGES[code] ?? (e as Error).message) : e instanceof Error ? e.message : 'The logins could not be changed.';
  return typeof code === 'string' ? `${text} (${code})` : text;
}
