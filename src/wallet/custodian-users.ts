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

/**
 * The user id the custodian links the login (issuer, subject) to; a login it never saw gets one, as its first session would.
 * @throws {CustodianUserIdError} when STS refuses (its code: AccessDenied, InvalidAction at a custodian without linked logins, …)
 *   or answers something else than a user id.
 * @throws {Error} when the custodian cannot be reached.
 */
export async function getWebIdentityUser(caller: SignedCaller, login: { issuer: string; subject: string }): Promise<string> {
  const body = new URLSearchParams({ Action: 'GetWebIdentityUser', Version: '2011-06-15', Issuer: login.issuer, Subject: login.subject }).toString();
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
  return uid;
}
