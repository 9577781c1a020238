/**
 * The custodian's user id of a login (docs/sts.md, "Linked logins"): STS
 * `GetWebIdentityUser` (Issuer, Subject), signed with SigV4 by a principal
 * the custodian lets read it — the account root, or one whose identity policy
 * allows `sts:GetWebIdentityUser` (the wallet service's own IAM user,
 * src/wallet/wallet-principal.ts). Reading the mapping gives no access:
 * only STS tags sessions with a `uid`, from a verified token, and nothing
 * here can link or unlink a login.
 */
import { type SigningCredentials, signedPostHeaders } from '../aws/sign-post.js';

export interface SignedCaller {
  endpoint: string;
  region: string;
  credentials: SigningCredentials;
  /** Per-request timeout (default 5 s). */
  timeoutMs?: number;
}

/** A refusal or malformed answer from the custodian's STS, with STS's error code. */
export class CustodianUserIdError extends Error {
  override readonly name = 'CustodianUserIdError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const UID = /^u-[0-9a-f]{32}$/;

function element(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

/** What the custodian tells of a login's user. */
export interface CustodianUser {
  uid: string;
  /**
   * The subject STS tags every session of the user with as `osub` (docs/sts.md, "Linked logins");
   * undefined from a custodian that does not say (before it answered OriginSubject).
   */
  originSubject: string | undefined;
}

function unescapeXml(v: string): string {
  return v.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
}

/** Signs and sends one GetWebIdentityUser; its answer's XML. */
async function ask(caller: SignedCaller, params: Record<string, string>): Promise<string> {
  const body = new URLSearchParams({ Action: 'GetWebIdentityUser', Version: '2011-06-15', ...params }).toString();
  const headers = await signedPostHeaders({
    endpoint: caller.endpoint,
    service: 'sts',
    region: caller.region,
    credentials: caller.credentials,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
  const res = await fetch(caller.endpoint, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(caller.timeoutMs ?? 5_000),
  });
  const xml = await res.text();
  if (!res.ok) throw new CustodianUserIdError(element(xml, 'Code') ?? `HTTP${res.status}`, `STS refused GetWebIdentityUser (HTTP ${res.status}).`, res.status);
  const uid = element(xml, 'UserId');
  if (uid === undefined || !UID.test(uid)) throw new CustodianUserIdError('MalformedResponse', 'GetWebIdentityUser answered no user id.', res.status);
  return xml;
}

/**
 * The user the custodian links the login (issuer, subject) to; a login it never saw gets one, as its first session would.
 * @throws {CustodianUserIdError} when STS refuses (its code: AccessDenied, InvalidAction at a custodian without linked logins, …)
 *   or answers something else than a user id.
 * @throws {Error} when the custodian cannot be reached.
 */
export async function getWebIdentityUserOf(caller: SignedCaller, login: { issuer: string; subject: string }): Promise<CustodianUser> {
  const xml = await ask(caller, { Issuer: login.issuer, Subject: login.subject });
  const origin = element(xml, 'OriginSubject');
  return { uid: element(xml, 'UserId')!, originSubject: origin === undefined || origin === '' ? undefined : unescapeXml(origin) };
}

/**
 * The user id the custodian links the login (issuer, subject) to; a login it never saw gets one, as its first session would.
 * @throws {CustodianUserIdError} as getWebIdentityUserOf.
 * @throws {Error} when the custodian cannot be reached.
 */
export async function getWebIdentityUser(caller: SignedCaller, login: { issuer: string; subject: string }): Promise<string> {
  return (await getWebIdentityUserOf(caller, login)).uid;
}

/**
 * How many logins the custodian links to the user `uid` (GetWebIdentityUser UserId): 0 once its last
 * login was linked into another user (a merge), since a user's last login is never unlinked.
 * @throws {CustodianUserIdError} when STS refuses (ValidationError at a custodian that does not take UserId).
 * @throws {Error} when the custodian cannot be reached.
 */
export async function countWebIdentityUserLogins(caller: SignedCaller, uid: string): Promise<number> {
  const xml = await ask(caller, { UserId: uid });
  if (element(xml, 'UserId') !== uid) throw new CustodianUserIdError('MalformedResponse', 'GetWebIdentityUser answered another user id.', 200);
  return (xml.match(/<member>/g) ?? []).length;
}
