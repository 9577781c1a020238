/**
 * STS temporary credentials as a CredentialSource for the SigV4
 * authenticator: a request signed with an `ASIA…` access key and carrying
 * `X-Amz-Security-Token` is matched to its session by access key id, the token
 * is checked against the stored SHA-256 in constant time, and the secret is
 * opened from its sealed box (bound to the session id) only to build the
 * verifier. The caller is the role session: `arn:aws:sts::A:assumed-role/
 * ROLE/SESSION`, with the session's tags as principal tags.
 *
 * Refusals follow AWS: an expired session is ExpiredTokenException ("The
 * security token included in the request is expired"); an unknown, revoked or
 * mismatched one is not found (the authenticator answers UnrecognizedClient /
 * InvalidClientTokenId).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Store } from '../storage/database.js';
import { findSessionByAccessKey } from '../storage/sts-sessions.repository.js';
import { sealingContext, type RootOfTrust } from '../root/root-of-trust.js';
import { expiredToken } from '../aws/errors.js';
import { wipe } from '../crypto/bytes.js';
import type { CredentialSource, ResolvedCredential } from '../aws/authenticator.js';

export const SESSION_SECRET_PURPOSE = 'sts/session-secret/v1';

/** Associated data binding a sealed session secret to its session. */
export function sessionSecretAad(sessionId: string): Uint8Array {
  return sealingContext(SESSION_SECRET_PURPOSE, sessionId);
}

export const EXPIRED_MESSAGE = 'The security token included in the request is expired';

export class SessionCredentialSource implements CredentialSource {
  constructor(
    private readonly store: Store,
    private readonly root: RootOfTrust,
    private readonly accountId: string,
  ) {}

  /**
   * @throws {AwsError} ExpiredTokenException when the session has expired.
   */
  async lookup(accessKeyId: string, sessionToken: string | undefined, now: number): Promise<ResolvedCredential | undefined> {
    if (sessionToken === undefined || !accessKeyId.startsWith('ASIA')) return undefined;
    const row = await findSessionByAccessKey(this.store.db, accessKeyId);
    if (!row) return undefined;
    const claimed = createHash('sha256').update(sessionToken, 'utf8').digest();
    const stored = Buffer.from(row.tokenSha256, 'hex');
    if (stored.length !== claimed.length || !timingSafeEqual(stored, claimed)) return undefined;
    if (row.revokedAt !== undefined) return undefined;
    if (row.expiresAt <= now) throw expiredToken(EXPIRED_MESSAGE);
    const secretBytes = this.root.open(row.sealedSecret, sessionSecretAad(row.sessionId));
    let secretAccessKey: string;
    try {
      secretAccessKey = Buffer.from(secretBytes).toString('utf8');
    } finally {
      wipe(secretBytes);
    }
    return {
      secretAccessKey,
      sessionToken,
      expiresAt: row.expiresAt,
      caller: {
        accountId: this.accountId,
        arn: row.principalArn,
        // aws:userid of a role session; the colon keeps it from ever naming an IAM user.
        userName: `${row.roleId}:${row.sessionName}`,
        accessKeyId,
        tags: Object.freeze({ ...row.tags }),
        // Only a session whose token said how the user logged in carries it.
        ...(row.authMethods !== undefined ? { auth: Object.freeze({ methods: Object.freeze([...row.authMethods]), authTime: row.authTime }) } : {}),
      },
    };
  }
}
