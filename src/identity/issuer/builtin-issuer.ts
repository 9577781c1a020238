/**
 * The built-in issuer of the embedded default: email one-time-code login,
 * short-lived EdDSA access and ID tokens (RFC 7519, OIDC Core §2), and rotating
 * refresh tokens with reuse detection (OAuth 2.0 Security BCP, RFC 9700 §4.14).
 *
 * - A code is 6 random digits, valid 10 minutes, once; only the newest code of
 *   an email is live; 5 wrong tries lock it. Codes per email and per IP are
 *   rate limited over a sliding window counted from the stored rows, so the
 *   limits hold across processes sharing one database.
 * - `sub` is a random id created on first login, stable per (normalised) email.
 * - A refresh token is 256 random bits, stored as an HMAC; using it marks it
 *   used and issues the next one of the same family; presenting a used one
 *   revokes the whole family (someone holds a stolen copy).
 *
 * Nothing trusts this issuer specially: verifiers find its keys through its
 * discovery document and JWKS like any other issuer's.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SignJWT, type JSONWebKeySet } from 'jose';
import type { Store } from '../../storage/database.js';
import type { RootOfTrust } from '../../root/root-of-trust.js';
import {
  codeTimesSince,
  consumeLoginCode,
  findRefreshToken,
  findSubjectByEmail,
  findSubjectEmail,
  insertLoginCode,
  insertRefreshToken,
  latestLoginCode,
  purgeIdentityRows,
  putSubjectIfAbsent,
  refreshFamilyStartedAt,
  recordWrongAttempt,
  revokeRefreshFamily,
  setLoginCodeState,
  supersedePendingCodes,
  useRefreshToken,
} from '../../storage/identity.repository.js';
import { equalConstantTime } from '../../crypto/bytes.js';
import { IssuerError } from '../errors.js';
import { loadIssuerSigningKey, type IssuerSigningKey } from './signing-key.js';
import { IssuerHasher } from './secrets.js';
import type { CodeDelivery } from './code-delivery.js';

export interface IssuerLimits {
  /** Codes one email may be sent per window (default 5). */
  codesPerEmail: number;
  /** Codes one IP address may request per window (default 20). */
  codesPerIp: number;
  /** The rate-limit window (default 15 minutes). */
  windowMs: number;
  /** Wrong codes that lock a code (default 5). */
  maxAttempts: number;
  /** How long a code is valid (default 10 minutes). */
  codeTtlMs: number;
  /** Access and ID token lifetime in seconds (default and maximum 900). */
  accessTokenTtlSec: number;
  /** Refresh token lifetime (default 30 days). */
  refreshTokenTtlMs: number;
}

export const DEFAULT_LIMITS: Readonly<IssuerLimits> = Object.freeze({
  codesPerEmail: 5,
  codesPerIp: 20,
  windowMs: 15 * 60_000,
  maxAttempts: 5,
  codeTtlMs: 10 * 60_000,
  accessTokenTtlSec: 900,
  refreshTokenTtlMs: 30 * 24 * 3600_000,
});

export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  id_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface BuiltinIssuerOptions {
  store: Store;
  root: RootOfTrust;
  logger: Logger;
  clock: () => number;
  /** `<public base URL>/oidc`; a function because with port 0 it is known only after listen. */
  issuerUrl: () => string;
  audience: string;
  delivery: CodeDelivery;
  limits?: Partial<IssuerLimits>;
}

/** Shape accepted for an email (ASCII, no spaces or angle brackets; IDNs in punycode). */
export const EMAIL_PATTERN = "^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\\.[A-Za-z0-9-]{1,63})+$";
const EMAIL = new RegExp(EMAIL_PATTERN);
const PURGE_EVERY_MS = 10 * 60_000;

function rateLimited(what: string, times: number[], limit: number, windowMs: number, now: number): IssuerError | undefined {
  if (times.length < limit) return undefined;
  // The request becomes possible when the oldest code that still counts leaves the window.
  const freeAt = times[times.length - limit]! + windowMs;
  const retryAfterSec = Math.max(1, Math.ceil((freeAt - now) / 1000));
  return new IssuerError('rate_limited', `Too many codes requested ${what}; try again in ${retryAfterSec} seconds.`, 429, retryAfterSec);
}

export class BuiltinIssuer {
  readonly #o: BuiltinIssuerOptions;
  readonly #key: IssuerSigningKey;
  readonly #hash: IssuerHasher;
  readonly limits: Readonly<IssuerLimits>;
  #lastPurge = 0;

  private constructor(o: BuiltinIssuerOptions, key: IssuerSigningKey, hash: IssuerHasher, limits: IssuerLimits) {
    this.#o = o;
    this.#key = key;
    this.#hash = hash;
    this.limits = Object.freeze(limits);
  }

  /**
   * Loads (or on first start creates) the signing key and pepper.
   * @throws {RangeError} when a limit is out of range (access tokens live at most 15 minutes).
   * @throws {SealedBoxError} when the stored secrets do not open under this root.
   */
  static async create(o: BuiltinIssuerOptions): Promise<BuiltinIssuer> {
    const limits = { ...DEFAULT_LIMITS, ...o.limits };
    if (!Number.isInteger(limits.accessTokenTtlSec) || limits.accessTokenTtlSec < 1 || limits.accessTokenTtlSec > 900) {
      throw new RangeError('accessTokenTtlSec must be from 1 to 900 (15 minutes)');
    }
    for (const k of ['codesPerEmail', 'codesPerIp', 'windowMs', 'maxAttempts', 'codeTtlMs', 'refreshTokenTtlMs'] as const) {
      if (!Number.isInteger(limits[k]) || limits[k] < 1) throw new RangeError(`${k} must be a positive integer`);
    }
    const key = await loadIssuerSigningKey(o.store.db, o.root);
    const hash = await IssuerHasher.load(o.store.db, o.root);
    return new BuiltinIssuer(o, key, hash, limits);
  }

  get issuer(): string {
    return this.#o.issuerUrl();
  }

  get audience(): string {
    return this.#o.audience;
  }

  get deliveryMode(): CodeDelivery['mode'] {
    return this.#o.delivery.mode;
  }

  /** The public JWKS (only public members; the response schema enforces it again). */
  jwks(): JSONWebKeySet {
    return { keys: [{ ...this.#key.publicJwk }] };
  }

  /** The OpenID Provider metadata this issuer supports (OIDC Discovery §3). */
  discoveryDocument(): Record<string, unknown> {
    const iss = this.issuer;
    return {
      issuer: iss,
      jwks_uri: `${iss}/jwks.json`,
      token_endpoint: `${iss}/token`,
      email_otp_start_endpoint: `${iss}/email/start`,
      email_otp_verify_endpoint: `${iss}/email/verify`,
      grant_types_supported: ['refresh_token'],
      token_endpoint_auth_methods_supported: ['none'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [this.#key.alg],
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'jti', 'email', 'email_verified', 'token_use'],
    };
  }

  /** Normalises an email for lookup and `email` claims. @throws {IssuerError} invalid_request when malformed. */
  static normaliseEmail(email: string): string {
    const e = email.trim().toLowerCase();
    if (e.length > 254 || !EMAIL.test(e)) throw new IssuerError('invalid_request', 'email is not a valid email address.');
    return e;
  }

  /**
   * Sends a new code to `email`.
   * @throws {IssuerError} rate_limited (429) over a limit; delivery_failed (502) when SMTP fails.
   */
  async startEmailLogin(input: { email: string; ip: string }): Promise<{ expiresIn: number }> {
    const { store, clock, delivery, logger } = this.#o;
    const email = BuiltinIssuer.normaliseEmail(input.email);
    const now = clock();
    await this.#purge(now);
    const emailKey = this.#hash.email(email);
    const ipKey = this.#hash.ip(input.ip);
    const since = now - this.limits.windowMs;
    const limited =
      rateLimited('for this email', await codeTimesSince(store.db, { emailKey }, since), this.limits.codesPerEmail, this.limits.windowMs, now) ??
      rateLimited('from this address', await codeTimesSince(store.db, { ipKey }, since), this.limits.codesPerIp, this.limits.windowMs, now);
    if (limited) throw limited;

    const codeId = randomUUID();
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await supersedePendingCodes(store.db, emailKey);
    await insertLoginCode(store.db, {
      codeId,
      emailKey,
      ipKey,
      codeHash: this.#hash.code(codeId, code),
      state: 'pending',
      attempts: 0,
      createdAt: now,
      expiresAt: now + this.limits.codeTtlMs,
    });
    const expiresIn = Math.floor(this.limits.codeTtlMs / 1000);
    try {
      await delivery.deliver(email, code, expiresIn, now);
    } catch (e) {
      // The row stays (and counts for the rate limits) so a failing relay cannot be hammered.
      await setLoginCodeState(store.db, codeId, 'failed');
      logger.warn({ codeId, err: (e as Error).message }, 'login code delivery failed');
      throw new IssuerError('delivery_failed', 'The code could not be sent; try again later.', 502);
    }
    return { expiresIn };
  }

  /**
   * Exchanges a correct code for tokens.
   * @throws {IssuerError} invalid_code, no_active_code, too_many_attempts (all 400).
   */
  async verifyEmailCode(input: { email: string; code: string }): Promise<TokenResponse> {
    const { store, clock } = this.#o;
    const email = BuiltinIssuer.normaliseEmail(input.email);
    if (!/^\d{6}$/.test(input.code)) throw new IssuerError('invalid_request', 'code must be 6 digits.');
    const now = clock();
    const row = await latestLoginCode(store.db, this.#hash.email(email));
    if (row?.state === 'locked') throw new IssuerError('too_many_attempts', 'Too many wrong codes; request a new code.');
    if (!row || row.state !== 'pending' || row.expiresAt <= now) {
      throw new IssuerError('no_active_code', 'There is no unexpired code for this email; request a new one.');
    }
    if (!equalConstantTime(this.#hash.code(row.codeId, input.code), row.codeHash)) {
      const attempts = await recordWrongAttempt(store.db, row.codeId, this.limits.maxAttempts);
      if (attempts === undefined) throw new IssuerError('no_active_code', 'There is no unexpired code for this email; request a new one.');
      if (attempts >= this.limits.maxAttempts) throw new IssuerError('too_many_attempts', 'Wrong code. Too many wrong codes; request a new code.');
      throw new IssuerError('invalid_code', `Wrong code; ${this.limits.maxAttempts - attempts} attempts left.`);
    }
    if (!(await consumeLoginCode(store.db, row.codeId, now, this.limits.maxAttempts))) {
      throw new IssuerError('no_active_code', 'There is no unexpired code for this email; request a new one.');
    }
    const sub = (await findSubjectByEmail(store.db, email)) ?? (await putSubjectIfAbsent(store.db, email, randomUUID(), now));
    return this.#issue(sub, email, randomUUID(), now, now);
  }

  /**
   * Rotates a refresh token.
   * @throws {IssuerError} invalid_grant (400) when the token is unknown, expired, revoked or already used (then its family is revoked).
   */
  async refresh(input: { refreshToken: string }): Promise<TokenResponse> {
    const { store, clock, logger } = this.#o;
    const invalid = () => new IssuerError('invalid_grant', 'The refresh token is invalid, expired or revoked.');
    if (input.refreshToken.length < 16 || input.refreshToken.length > 512) throw invalid();
    const now = clock();
    const hash = this.#hash.refreshToken(input.refreshToken);
    const row = await findRefreshToken(store.db, hash);
    if (!row) throw invalid();
    if (!(await useRefreshToken(store.db, hash, now))) {
      const current = await findRefreshToken(store.db, hash);
      if (current && current.usedAt !== null) {
        // RFC 9700 §4.14.2: a rotated token came back, so two parties hold the family; end it.
        const revoked = await revokeRefreshFamily(store.db, current.familyId, now);
        logger.warn({ familyId: current.familyId, sub: current.sub, revoked }, 'refresh token reuse detected; token family revoked');
      }
      throw invalid();
    }
    const email = await findSubjectEmail(store.db, row.sub);
    if (email === undefined) throw invalid();
    // A refresh is not an authentication: auth_time stays the login's (the family's start), so a step-up check sees its age.
    const authTime = (await refreshFamilyStartedAt(store.db, row.familyId)) ?? row.createdAt;
    return this.#issue(row.sub, email, row.familyId, now, authTime);
  }

  /** `authTime`: when the user last authenticated (ms), the token's `auth_time` (OIDC Core §2). */
  async #issue(sub: string, email: string, familyId: string, now: number, authTime: number): Promise<TokenResponse> {
    const { store, audience } = this.#o;
    const iss = this.issuer;
    const iat = Math.floor(now / 1000);
    const ttl = this.limits.accessTokenTtlSec;
    const sign = (tokenUse: 'access' | 'id') =>
      new SignJWT({ email, email_verified: true, token_use: tokenUse, auth_time: Math.floor(authTime / 1000) })
        .setProtectedHeader({ alg: this.#key.alg, kid: this.#key.kid, typ: 'JWT' })
        .setIssuer(iss)
        .setSubject(sub)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttl)
        .setJti(randomUUID())
        .sign(this.#key.privateKey);
    const [accessToken, idToken] = await Promise.all([sign('access'), sign('id')]);
    const refreshToken = randomBytes(32).toString('base64url');
    await insertRefreshToken(store.db, {
      tokenHash: this.#hash.refreshToken(refreshToken),
      familyId,
      sub,
      createdAt: now,
      expiresAt: now + this.limits.refreshTokenTtlMs,
      usedAt: null,
      revokedAt: null,
    });
    return { access_token: accessToken, refresh_token: refreshToken, id_token: idToken, token_type: 'Bearer', expires_in: ttl };
  }

  async #purge(now: number): Promise<void> {
    if (now - this.#lastPurge < PURGE_EVERY_MS) return;
    this.#lastPurge = now;
    // Codes are kept a day (well past the rate-limit window); refresh tokens until they expire.
    await purgeIdentityRows(this.#o.store.db, now - 24 * 3600_000, now);
  }
}
