/**
 * AssumeRoleWithWebIdentity (STS API Reference; IAM User Guide, "Requesting
 * temporary security credentials" and "Passing session tags in
 * AssumeRoleWithWebIdentity"): turns an OIDC token from a trusted issuer into
 * temporary credentials for a role whose trust policy accepts that token.
 *
 * Steps: read the parameters (ValidationError); verify the token with the
 * identity module's verifier over the operator's trusted issuers
 * (InvalidIdentityToken, ExpiredTokenException, IDPCommunicationError); find
 * the role and evaluate its trust policy for `sts:AssumeRoleWithWebIdentity`
 * with the token's claims as `<provider>:sub|aud|email` (AccessDenied, the
 * same answer for a role that does not exist); tag the session with the
 * token's `sub`, `iss`, the login's stable user id `uid` and its origin
 * subject `osub` (src/sts/identity-links.ts) and, when present, `email`
 * (IDPRejectedClaim when a claim cannot be a tag); keep the token's `amr`
 * and `auth_time` with the session (policies test them as
 * aws:MultiFactorAuthPresent, aws:MultiFactorAuthAge and
 * symbolon:AuthMethods); issue `ASIA…` credentials expiring at
 * min(now + DurationSeconds, the token's exp).
 *
 * Only the SHA-256 of the session token and the sealed secret are stored; the
 * response is the only place the secret and the token ever appear.
 */
import { decodeJwt } from 'jose';
import { utf8Bytes, wipe } from '../crypto/bytes.js';
import { TokenError } from '../identity/errors.js';
import type { VerifiedToken } from '../identity/token-verifier.js';
import { el, wrap } from '../iam/xml.js';
import { findRole } from '../storage/iam-roles.repository.js';
import { insertSession, purgeExpiredSessions } from '../storage/sts-sessions.repository.js';
import type { AwsError } from '../aws/errors.js';
import {
  accessDenied,
  expiredTokenException,
  idpCommunicationError,
  idpRejectedClaim,
  invalidIdentityToken,
  malformedPolicyDocument,
  NOT_AUTHORIZED_MESSAGE,
  validationError,
} from './errors.js';
import { parseTrustPolicy, trustAllowsWebIdentity, TrustPolicyError } from '../iam/roles/trust-policy.js';
import { newSecretAccessKey, newSessionAccessKeyId, newSessionId, newSessionToken, sessionTokenHash } from '../aws/ids.js';
import { sessionSecretAad } from './session-credential-source.js';
import { linkOf } from './identity-links.js';
import { stsTime } from './xml.js';
import { parsePolicyDocument, PolicyDocumentError } from '../aws/policy/document.js';
import type { StsAction, StsContext } from './context.js';
import type { QueryParams } from '../iam/params.js';
import type { AuditEvent } from '../audit/event.js';

/** STS's bounds on DurationSeconds (15 minutes to 12 hours); the role's MaxSessionDuration caps it further. */
export const MIN_DURATION_SECONDS = 900;
export const MAX_DURATION_SECONDS = 43200;
export const DEFAULT_DURATION_SECONDS = 3600;
/** AWS's limit on a session tag value. */
const MAX_TAG_VALUE = 256;
/** Expired sessions are kept this long (so their use is still answered "expired"), then purged. */
const EXPIRED_RETENTION_MS = 24 * 3600 * 1000;
const PURGE_EVERY_MS = 10 * 60 * 1000;
let lastPurge = 0;

const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:[\u0021-\u007E]*\/)?([\w+=,.@-]{1,64})$/;
const SESSION_NAME = { re: /^[\w+=,.@-]*$/, text: '[\\w+=,.@-]*' };
const ARN_TEXT = {
  re: /^[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD]+$/u,
  text: '[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+',
};

/** Maps the verifier's refusal to STS's error, in AWS's wording where AWS has one. */
function tokenRefusal(e: TokenError, token: string, now: number): AwsError {
  switch (e.code) {
    case 'token_expired': {
      let exp: unknown;
      try {
        exp = decodeJwt(token).exp;
      } catch {
        exp = undefined;
      }
      const expText = typeof exp === 'number' ? String(exp) : 'unknown';
      return expiredTokenException(`Token expired: current date/time ${Math.floor(now / 1000)} must be before the expiration date/time ${expText}`);
    }
    case 'untrusted_issuer': {
      let iss: unknown;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        iss = undefined;
      }
      return invalidIdentityToken(`No OpenIDConnect provider found in your account for ${typeof iss === 'string' ? iss.slice(0, 200) : 'this issuer'}`);
    }
    case 'wrong_audience':
      return invalidIdentityToken('Incorrect token audience');
    case 'wrong_token_use':
      return invalidIdentityToken('Incorrect token use: STS takes the ID token, not an access token');
    case 'issuer_unavailable':
      return idpCommunicationError(
        "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements",
      );
    default:
      // bad_signature, alg_not_allowed, malformed_token, unknown_key, token_not_yet_valid: the verifier's text names no secret.
      return invalidIdentityToken(e.message);
  }
}

/** A claim as a session tag value: AWS allows at most 256 characters; control characters never. */
function tagValue(name: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (value.length === 0 || value.length > MAX_TAG_VALUE || /[\u0000-\u001f\u007f]/.test(value)) {
    throw idpRejectedClaim(`The ${name} claim of the web identity token cannot be used as a session tag (at most ${MAX_TAG_VALUE} printable characters).`);
  }
  return value;
}

/** AMR values kept: at most this many, each a short printable token (RFC 8176 values are 3–5 letters). */
const MAX_AMR_VALUES = 16;
const AMR_VALUE = /^[\x21-\x7e]{1,64}$/;

/**
 * The token's `amr` and `auth_time` as the session keeps them. An `amr` that
 * is not a short list of short strings is refused (IDPRejectedClaim) rather
 * than dropped: a policy testing it must never see a partial list. An
 * `auth_time` in the future (beyond 60 s of skew) or not a number is ignored.
 */
function loginFacts(claims: Readonly<Record<string, unknown>>, now: number): { authMethods?: string[]; authTime?: number } {
  const out: { authMethods?: string[]; authTime?: number } = {};
  const amr = claims.amr;
  if (amr !== undefined) {
    if (!Array.isArray(amr) || amr.length > MAX_AMR_VALUES || !amr.every((v) => typeof v === 'string' && AMR_VALUE.test(v))) {
      throw idpRejectedClaim(`The amr claim of the web identity token must be a list of at most ${MAX_AMR_VALUES} short strings.`);
    }
    out.authMethods = [...new Set(amr as string[])];
  }
  const authTime = claims.auth_time;
  if (typeof authTime === 'number' && Number.isSafeInteger(authTime) && authTime > 0 && authTime * 1000 <= now + 60_000) out.authTime = authTime * 1000;
  return out;
}

function readParams(p: QueryParams) {
  const roleArn = p.string('RoleArn', { required: true, min: 20, max: 2048, pattern: ARN_TEXT });
  const sessionName = p.string('RoleSessionName', { required: true, min: 2, max: 64, pattern: SESSION_NAME });
  const token = p.string('WebIdentityToken', { required: true, min: 4, max: 20000, secretish: true });
  const duration = p.integer('DurationSeconds', MIN_DURATION_SECONDS, MAX_DURATION_SECONDS);
  const providerId = p.string('ProviderId', { min: 4, max: 2048 });
  const policy = p.string('Policy', { min: 1, max: 2048, secretish: true });
  if (providerId !== undefined) {
    throw validationError('ProviderId is only for OAuth 2.0 access tokens; this custodian accepts OpenID Connect ID tokens, so leave it out.');
  }
  if (policy !== undefined) {
    try {
      parsePolicyDocument(policy, 'identity');
    } catch (e) {
      if (e instanceof PolicyDocumentError) throw malformedPolicyDocument(e.message);
      throw e;
    }
    throw validationError('Session policies (Policy) are not supported by this custodian; put the permissions in the role policy.');
  }
  if (p.structs('PolicyArns', ['arn'] as const).length > 0) {
    throw validationError('Managed session policies (PolicyArns) are not supported by this custodian; put the permissions in the role policy.');
  }
  return { roleArn, sessionName, token, duration };
}

/** Verifies a web identity token, mapping refusals to STS errors. */
export async function verify(ctx: StsContext, token: string): Promise<VerifiedToken> {
  try {
    return await ctx.verifier().verify(token);
  } catch (e) {
    if (e instanceof TokenError) throw tokenRefusal(e, token, ctx.info.now);
    throw e;
  }
}

export const assumeRoleWithWebIdentity: StsAction = {
  name: 'AssumeRoleWithWebIdentity',
  anonymous: true,
  async handle(p, ctx) {
    const { now } = ctx.info;
    const params = readParams(p);
    const verified = await verify(ctx, params.token);
    // `iss` too: a `sub` is unique only within its issuer, so a policy trusting several issuers can tell users apart.
    const tags: Record<string, string> = { sub: tagValue('sub', verified.sub), iss: tagValue('iss', verified.issuer) };
    // The stable user this login belongs to, and the sub its pre-linking ciphertexts name (src/sts/identity-links.ts).
    const link = await linkOf(ctx.store, { issuer: verified.issuer, subject: verified.sub }, now);
    tags.uid = link.uid;
    tags.osub = tagValue('sub', link.originSubject);
    if (verified.email !== undefined) tags.email = tagValue('email', verified.email);
    const login = loginFacts(verified.claims, now);
    const event = (outcome: 'allowed' | 'denied', errorCode: string | null, principalArn: string | null, accessKeyId: string | null): AuditEvent => ({
      time: now,
      requestId: ctx.info.requestId,
      service: 'sts',
      operation: 'AssumeRoleWithWebIdentity',
      principalArn,
      principalTags: { ...tags },
      accessKeyId,
      sourceIp: ctx.info.sourceIp,
      userAgent: ctx.info.userAgent,
      keyArn: null,
      encryptionContext: null,
      signingAlgorithm: null,
      outcome,
      errorCode,
    });

    const m = ROLE_ARN.exec(params.roleArn);
    const role = m && m[1] === ctx.accountId ? await findRole(ctx.store.db, m[2]!) : undefined;
    let trusted = false;
    if (role && role.arn === params.roleArn) {
      try {
        trusted = trustAllowsWebIdentity(parseTrustPolicy(role.trustPolicy), {
          accountId: ctx.accountId,
          issuer: verified.issuer,
          sub: verified.sub,
          aud: verified.aud,
          email: verified.email,
          tags,
          sourceIp: ctx.info.sourceIp,
          now,
        });
      } catch (e) {
        // Stored trust policies were checked at CreateRole; one that no longer parses trusts nobody.
        if (!(e instanceof TrustPolicyError)) throw e;
      }
    }
    if (!role || !trusted) {
      ctx.audit.record(event('denied', 'AccessDenied', null, null));
      throw accessDenied(NOT_AUTHORIZED_MESSAGE);
    }

    const duration = params.duration ?? DEFAULT_DURATION_SECONDS;
    if (duration > role.maxSessionDuration) throw validationError('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    // The session ends no later than the token that vouched for it.
    const expiresAt = Math.min(now + duration * 1000, verified.exp * 1000);
    if (expiresAt <= now) {
      throw expiredTokenException(`Token expired: current date/time ${Math.floor(now / 1000)} must be before the expiration date/time ${verified.exp}`);
    }

    const sessionId = newSessionId();
    const accessKeyId = newSessionAccessKeyId();
    const secretAccessKey = newSecretAccessKey();
    const sessionToken = newSessionToken();
    const principalArn = `arn:aws:sts::${ctx.accountId}:assumed-role/${role.roleName}/${params.sessionName}`;
    const secretBytes = utf8Bytes(secretAccessKey);
    let sealedSecret: Uint8Array;
    try {
      sealedSecret = ctx.root.seal(secretBytes, sessionSecretAad(sessionId));
    } finally {
      wipe(secretBytes);
    }
    await insertSession(ctx.store.db, {
      sessionId,
      accessKeyId,
      tokenSha256: sessionTokenHash(sessionToken),
      sealedSecret,
      roleName: role.roleName,
      roleId: role.roleId,
      sessionName: params.sessionName,
      principalArn,
      tags,
      issuer: verified.issuer,
      subject: verified.sub,
      audience: verified.aud,
      createdAt: now,
      expiresAt,
      revokedAt: undefined,
      ...login,
    });
    // Issuing credentials is a state change: its record is durable before the credentials leave.
    await ctx.audit.recordDurable(event('allowed', null, principalArn, accessKeyId));
    if (now - lastPurge > PURGE_EVERY_MS) {
      lastPurge = now;
      await purgeExpiredSessions(ctx.store.db, now - EXPIRED_RETENTION_MS);
    }

    return (
      wrap(
        'Credentials',
        el('AccessKeyId', accessKeyId) + el('SecretAccessKey', secretAccessKey) + el('SessionToken', sessionToken) + el('Expiration', stsTime(expiresAt)),
      ) +
      el('SubjectFromWebIdentityToken', verified.sub) +
      wrap('AssumedRoleUser', el('AssumedRoleId', `${role.roleId}:${params.sessionName}`) + el('Arn', principalArn)) +
      el('Provider', verified.issuer) +
      el('Audience', verified.aud)
    );
  },
};
