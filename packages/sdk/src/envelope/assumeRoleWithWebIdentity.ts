/**
 * STS AssumeRoleWithWebIdentity from the device (STS API Reference): one
 * anonymous form-encoded POST (`Action=AssumeRoleWithWebIdentity&Version=
 * 2011-06-15`) to the custodian's endpoint — or AWS STS itself — and the
 * credentials read from the XML answer. Plain `fetch`, so the SDK needs no STS
 * client and runs in a browser.
 */
import { StsError } from './errors.js';

/** Temporary credentials of a role session. */
export interface StsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  /** `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` */
  assumedRoleArn: string;
  /** The token's `sub`, as STS read it. */
  subject: string;
}

export interface AssumeRoleWithWebIdentityOptions {
  /** The custodian's (or STS's) endpoint URL. */
  endpoint: string;
  roleArn: string;
  /** 2-64 characters of [\w+=,.@-]. */
  roleSessionName: string;
  /** The OIDC token. */
  webIdentityToken: string;
  /** 900-43,200 seconds; the session ends no later than the token in Symbolon. */
  durationSeconds?: number;
  fetch?: typeof fetch;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_m, e: string) =>
    e.startsWith('#x') ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith('#') ? String.fromCodePoint(parseInt(e.slice(1), 10)) : ENTITIES[e]!,
  );
}

/** The text of the first `<name>` element (AWS's query responses have no attributes on these). */
export function element(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? unescapeXml(m[1]!) : undefined;
}

/**
 * Exchanges a web identity token for temporary credentials.
 * @throws {StsError} with AWS's code when STS refuses, or MalformedResponse when the answer is not STS's.
 */
export async function assumeRoleWithWebIdentity(options: AssumeRoleWithWebIdentityOptions): Promise<StsCredentials> {
  const doFetch = options.fetch ?? fetch;
  const body = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: options.roleArn,
    RoleSessionName: options.roleSessionName,
    WebIdentityToken: options.webIdentityToken,
  });
  if (options.durationSeconds !== undefined) body.set('DurationSeconds', String(options.durationSeconds));
  const res = await doFetch(options.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: body.toString(),
  });
  const xml = await res.text();
  if (!res.ok) {
    throw new StsError(element(xml, 'Code') ?? 'UnknownError', element(xml, 'Message') ?? `STS answered HTTP ${res.status}.`, res.status);
  }
  const accessKeyId = element(xml, 'AccessKeyId');
  const secretAccessKey = element(xml, 'SecretAccessKey');
  const sessionToken = element(xml, 'SessionToken');
  const expiration = element(xml, 'Expiration');
  const assumedRoleArn = element(xml, 'Arn');
  const subject = element(xml, 'SubjectFromWebIdentityToken');
  const expires = expiration ? new Date(expiration) : undefined;
  if (!accessKeyId || !secretAccessKey || !sessionToken || !expires || Number.isNaN(expires.getTime()) || !assumedRoleArn || subject === undefined) {
    throw new StsError('MalformedResponse', 'The AssumeRoleWithWebIdentity answer lacks credentials.', res.status);
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiration: expires, assumedRoleArn, subject };
}
