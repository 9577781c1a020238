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
 * - Passkeys (WebAuthn, src/identity/issuer/passkeys.ts) log a user in alone
 *   (a discoverable credential names its `sub`) and serve as a step-up second
 *   factor; adding one needs a fresh login. Challenges are single-use and
 *   expire; a counter that does not rise is refused.
 * - Tokens say how the user logged in (`amr`, `acr`, `auth_time`;
 *   src/identity/issuer/auth-methods.ts); a refresh keeps the login's values.
 *
 * Nothing trusts this issuer specially: verifiers find its keys through its
 * discovery document and JWKS like any other issuer's.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SignJWT, importJWK, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
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
import { acrFor, combineAmr, EMAIL_OTP_AMR, passkeyAmr } from './auth-methods.js';
import {
  authenticationOptions,
  CHALLENGE_TTL_MS,
  registrationOptions,
  relyingParty,
  responseCredentialId,
  verifyAssertion,
  verifyRegistration,
} from './passkeys.js';
import {
  consumeChallenge,
  deletePasskey,
  findPasskey,
  insertChallenge,
  insertPasskey,
  listPasskeys,
  recordPasskeyUse,
  type ChallengePurpose,
} from '../../storage/passkeys.repository.js';
import { recordRequestEvent, AUDIT_NOT_DURABLE, type AuditSink } from '../../audit/event.js';
import { CeremonyLimiter } from './ceremony-limiter.js';
import { passkeyEvent, type CeremonyCaller, type PasskeyOperation } from './passkey-audit.js';

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
  /** Passkey ceremony requests (starts and finishes) per client address per passkey window (default 60). */
  passkeysPerIp: number;
  /** Passkey ceremony requests per user per passkey window (default 20). */
  passkeysPerUser: number;
  /** The passkey rate-limit window (default 5 minutes). */
  passkeyWindowMs: number;
  /** Addresses and users the passkey limiter remembers at most (default 10 000 each). */
  passkeyLimiterKeys: number;
}

export const DEFAULT_LIMITS: Readonly<IssuerLimits> = Object.freeze({
  codesPerEmail: 5,
  codesPerIp: 20,
  windowMs: 15 * 60_000,
  maxAttempts: 5,
  codeTtlMs: 10 * 60_000,
  accessTokenTtlSec: 900,
  refreshTokenTtlMs: 30 * 24 * 3600_000,
  passkeysPerIp: 60,
  passkeysPerUser: 20,
  passkeyWindowMs: 5 * 60_000,
  passkeyLimiterKeys: 10_000,
});

export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  id_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/** How the user logged in, carried from the login to every token of its refresh family. */
export interface LoginFacts {
  amr: readonly string[];
  /** Milliseconds; null for a refresh family from before passkeys (no `auth_time` claim then). */
  authTime: number | null;
}

/** A passkey as its owner sees it (GET /oidc/passkeys): public facts only. */
export interface PasskeyInfo {
  credential_id: string;
  created_at: number;
  last_used_at: number | null;
  counter: number;
  backup_eligible: boolean;
  backed_up: boolean;
  transports: string[];
}

/** A WebAuthn ceremony's first half: the id to send back, and the options for navigator.credentials. */
export interface CeremonyStart {
  challenge_id: string;
  options: Record<string, unknown>;
}

/** Adding a passkey needs a login at most this old (a stolen access token alone cannot add one later). */
export const FRESH_LOGIN_MS = 10 * 60_000;

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
  /**
   * The DApp origins the wallet frame may be embedded in (SYMBOLON_FRAME_ALLOWED_ORIGINS): a step-up made
   * in the embedded frame names one as its top origin (docs/frame.md "Step-up"). Read per ceremony.
   */
  embeddingOrigins?: (() => readonly string[]) | undefined;
  /** Where passkey events go (src/identity/issuer/passkey-audit.ts); none when absent. */
  audit?: AuditSink | undefined;
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
  readonly #ceremonies: CeremonyLimiter;
  #lastPurge = 0;

  private constructor(o: BuiltinIssuerOptions, key: IssuerSigningKey, hash: IssuerHasher, limits: IssuerLimits) {
    this.#o = o;
    this.#key = key;
    this.#hash = hash;
    this.limits = Object.freeze(limits);
    this.#ceremonies = new CeremonyLimiter({
      perIp: limits.passkeysPerIp,
      perUser: limits.passkeysPerUser,
      windowMs: limits.passkeyWindowMs,
      maxKeys: limits.passkeyLimiterKeys,
    });
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
    for (const k of [
      'codesPerEmail',
      'codesPerIp',
      'windowMs',
      'maxAttempts',
      'codeTtlMs',
      'refreshTokenTtlMs',
      'passkeysPerIp',
      'passkeysPerUser',
      'passkeyWindowMs',
      'passkeyLimiterKeys',
    ] as const) {
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
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'email', 'email_verified', 'token_use', 'amr', 'acr', 'auth_time'],
      acr_values_supported: ['phr', 'urn:symbolon:acr:email-otp'],
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
    return this.#issue(sub, email, randomUUID(), now, { amr: EMAIL_OTP_AMR, authTime: now });
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
    // A refresh is not a new login: the family's amr and auth_time carry over.
    return this.#issue(row.sub, email, row.familyId, now, { amr: row.amr ?? EMAIL_OTP_AMR, authTime: row.authTime });
  }

  // ---- passkeys ----

  /**
   * Checks a Bearer access token of this issuer and returns its claims.
   * @throws {IssuerError} login_required (401) when it is missing, invalid, expired, or not an access token.
   */
  async #bearer(authorization: string | undefined): Promise<JWTPayload & { sub: string }> {
    const m = /^Bearer ([A-Za-z0-9_.-]{16,4096})$/.exec(authorization ?? '');
    const refused = () => new IssuerError('login_required', 'Log in first: send this issuer\'s access token as "Authorization: Bearer …".', 401);
    if (!m) throw refused();
    try {
      const key = await importJWK(this.#key.publicJwk, this.#key.alg);
      const { payload } = await jwtVerify(m[1]!, key, {
        issuer: this.issuer,
        audience: this.#o.audience,
        algorithms: [this.#key.alg],
        currentDate: new Date(this.#o.clock()),
      });
      if (payload.token_use !== 'access' || typeof payload.sub !== 'string') throw refused();
      return payload as JWTPayload & { sub: string };
    } catch {
      throw refused();
    }
  }

  async #challenge(purpose: ChallengePurpose, sub: string | null, priorAmr: readonly string[] | null, now: number) {
    const challengeId = randomUUID();
    const challenge = randomBytes(32).toString('base64url');
    await insertChallenge(this.#o.store.db, {
      challengeId,
      challenge,
      purpose,
      sub,
      priorAmr: priorAmr ? [...priorAmr] : null,
      createdAt: now,
      expiresAt: now + CHALLENGE_TTL_MS,
    });
    return { challengeId, challenge };
  }

  async #consume(challengeId: string, purpose: ChallengePurpose, now: number) {
    const row = await consumeChallenge(this.#o.store.db, challengeId, purpose, now);
    if (!row) throw new IssuerError('invalid_challenge', 'The challenge is unknown, already used or expired; start again.');
    return row;
  }

  /** Counts a ceremony request from this address. @throws {IssuerError} rate_limited (429). */
  #limitIp(caller: CeremonyCaller, now: number): void {
    this.#ceremonies.checkIp(caller.ip, now);
  }

  /**
   * Runs a passkey operation and audits its outcome (passkey-audit.ts): allowed, or denied with
   * the refusal's stable code; a rate-limited request is not recorded (the limiter bounds the log).
   * A registration or removal is acknowledged only once its record is durable.
   */
  async #audited<T>(
    operation: PasskeyOperation,
    caller: CeremonyCaller,
    run: (facts: { sub?: string; credentialId?: string; backedUp?: boolean }) => Promise<T>,
  ): Promise<T> {
    const { audit, clock, logger } = this.#o;
    const facts: { sub?: string; credentialId?: string; backedUp?: boolean } = {};
    const event = (errorCode: string | null) =>
      passkeyEvent({ operation, caller, time: clock(), sub: facts.sub, credentialId: facts.credentialId, backedUp: facts.backedUp, errorCode });
    let result: T;
    try {
      result = await run(facts);
    } catch (e) {
      if (e instanceof IssuerError && e.code !== 'rate_limited') {
        if (e.code === 'counter_not_increased')
          logger.warn({ operation, sub: facts.sub, credentialId: facts.credentialId }, 'passkey counter did not increase: possibly cloned');
        audit?.record(event(e.code));
      }
      throw e;
    }
    const durable = operation === 'PasskeyRegister' || operation === 'PasskeyRemove';
    if (audit && !(await recordRequestEvent(audit, event(null), durable))) throw new IssuerError('internal_error', AUDIT_NOT_DURABLE, 500);
    return result;
  }

  /**
   * Starts adding a passkey for the user of a fresh login.
   * @throws {IssuerError} login_required (401), fresh_login_required (403), rate_limited (429), passkeys_unavailable.
   */
  async startPasskeyRegistration(input: { authorization: string | undefined; caller: CeremonyCaller }): Promise<CeremonyStart> {
    const { store, clock } = this.#o;
    const rp = relyingParty(this.issuer);
    const now = clock();
    this.#limitIp(input.caller, now);
    const claims = await this.#bearer(input.authorization);
    this.#ceremonies.checkUser(claims.sub, now);
    await this.#purge(now);
    if (typeof claims.auth_time !== 'number' || now - claims.auth_time * 1000 > FRESH_LOGIN_MS) {
      throw new IssuerError('fresh_login_required', 'Adding a passkey needs a login from the last 10 minutes; log in again.', 403);
    }
    const email = await findSubjectEmail(store.db, claims.sub);
    if (email === undefined) throw new IssuerError('login_required', 'This login no longer exists; log in again.', 401);
    const { challengeId, challenge } = await this.#challenge('register', claims.sub, null, now);
    const options = await registrationOptions({ rp, challenge, sub: claims.sub, email, existing: await listPasskeys(store.db, claims.sub) });
    return { challenge_id: challengeId, options: options as unknown as Record<string, unknown> };
  }

  /**
   * Verifies the authenticator's answer and stores the passkey for the same user.
   * @throws {IssuerError} login_required (401), invalid_challenge, credential_exists, rate_limited (429), and the verification codes of passkeys.ts.
   */
  async finishPasskeyRegistration(input: {
    authorization: string | undefined;
    challengeId: string;
    response: unknown;
    caller: CeremonyCaller;
  }): Promise<PasskeyInfo> {
    const { store, clock } = this.#o;
    const rp = relyingParty(this.issuer);
    const now = clock();
    this.#limitIp(input.caller, now);
    const claims = await this.#bearer(input.authorization);
    this.#ceremonies.checkUser(claims.sub, now);
    return this.#audited('PasskeyRegister', input.caller, async (facts) => {
      facts.sub = claims.sub;
      const row = await this.#consume(input.challengeId, 'register', now);
      if (row.sub !== claims.sub) throw new IssuerError('invalid_challenge', 'The challenge is unknown, already used or expired; start again.');
      const p = await verifyRegistration({ rp, challenge: row.challenge, response: input.response });
      facts.credentialId = p.credentialId;
      facts.backedUp = p.backedUp;
      const stored = { ...p, sub: claims.sub, createdAt: now, lastUsedAt: null };
      if (!(await insertPasskey(store.db, stored))) throw new IssuerError('credential_exists', 'This passkey is already registered.', 409);
      return passkeyInfo(stored);
    });
  }

  /** Starts a passkey login: any discoverable credential of this relying party. @throws {IssuerError} rate_limited (429), passkeys_unavailable. */
  async startPasskeyLogin(input: { caller: CeremonyCaller }): Promise<CeremonyStart> {
    const rp = relyingParty(this.issuer);
    const now = this.#o.clock();
    this.#limitIp(input.caller, now);
    await this.#purge(now);
    const { challengeId, challenge } = await this.#challenge('login', null, null, now);
    return { challenge_id: challengeId, options: (await authenticationOptions({ rp, challenge })) as unknown as Record<string, unknown> };
  }

  /**
   * Logs in with a passkey alone: tokens for the passkey's user (the same `sub` as their email login).
   * @throws {IssuerError} invalid_challenge, unknown_credential, rate_limited (429), and the verification codes of passkeys.ts.
   */
  async finishPasskeyLogin(input: { challengeId: string; response: unknown; caller: CeremonyCaller }): Promise<TokenResponse> {
    const now = this.#o.clock();
    this.#limitIp(input.caller, now);
    return this.#audited('PasskeyLogin', input.caller, async (facts) => {
      const row = await this.#consume(input.challengeId, 'login', now);
      const { passkey, backupEligible } = await this.#assert(row.challenge, input.response, undefined, now, facts);
      const email = await findSubjectEmail(this.#o.store.db, passkey.sub);
      if (email === undefined) throw new IssuerError('unknown_credential', 'This passkey is not registered here.');
      return this.#issue(passkey.sub, email, randomUUID(), now, { amr: passkeyAmr(backupEligible), authTime: now });
    });
  }

  /**
   * Starts a step-up for the user of an access token: one of their passkeys.
   * @throws {IssuerError} login_required (401), no_passkey (the user has none), rate_limited (429), passkeys_unavailable.
   */
  async startStepUp(input: { authorization: string | undefined; caller: CeremonyCaller }): Promise<CeremonyStart> {
    const rp = relyingParty(this.issuer);
    const now = this.#o.clock();
    this.#limitIp(input.caller, now);
    const claims = await this.#bearer(input.authorization);
    this.#ceremonies.checkUser(claims.sub, now);
    await this.#purge(now);
    const passkeys = await listPasskeys(this.#o.store.db, claims.sub);
    if (passkeys.length === 0) throw new IssuerError('no_passkey', 'Add a passkey first; a step-up asks for one.');
    const prior = Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : [...EMAIL_OTP_AMR];
    const { challengeId, challenge } = await this.#challenge('step_up', claims.sub, prior, now);
    return { challenge_id: challengeId, options: (await authenticationOptions({ rp, challenge, allow: passkeys })) as unknown as Record<string, unknown> };
  }

  /**
   * Finishes a step-up: new tokens (a new refresh family) whose amr adds the passkey's and `mfa`,
   * with auth_time now.
   * @throws {IssuerError} login_required (401), invalid_challenge, unknown_credential, rate_limited (429), and the codes of passkeys.ts.
   */
  async finishStepUp(input: { authorization: string | undefined; challengeId: string; response: unknown; caller: CeremonyCaller }): Promise<TokenResponse> {
    const now = this.#o.clock();
    this.#limitIp(input.caller, now);
    const claims = await this.#bearer(input.authorization);
    this.#ceremonies.checkUser(claims.sub, now);
    return this.#audited('PasskeyStepUp', input.caller, async (facts) => {
      facts.sub = claims.sub;
      const row = await this.#consume(input.challengeId, 'step_up', now);
      if (row.sub !== claims.sub) throw new IssuerError('invalid_challenge', 'The challenge is unknown, already used or expired; start again.');
      const { passkey, backupEligible } = await this.#assert(row.challenge, input.response, claims.sub, now, facts, this.#o.embeddingOrigins?.() ?? []);
      const email = await findSubjectEmail(this.#o.store.db, passkey.sub);
      if (email === undefined) throw new IssuerError('login_required', 'This login no longer exists; log in again.', 401);
      const amr = combineAmr(row.priorAmr ?? EMAIL_OTP_AMR, passkeyAmr(backupEligible));
      return this.#issue(passkey.sub, email, randomUUID(), now, { amr, authTime: now });
    });
  }

  /** The passkeys of the access token's user. @throws {IssuerError} login_required (401). */
  async listPasskeys(input: { authorization: string | undefined }): Promise<PasskeyInfo[]> {
    const claims = await this.#bearer(input.authorization);
    return (await listPasskeys(this.#o.store.db, claims.sub)).map(passkeyInfo);
  }

  /**
   * Removes one of the user's passkeys. Needs an authentication at most 10 minutes old
   * (a fresh login or a step-up: a stolen access token alone cannot remove one), and is
   * refused when that passkey is the user's last way to log in (`last_login_method`).
   * Tokens already issued from it stay valid until they expire (15 minutes at most).
   * @throws {IssuerError} login_required (401), fresh_login_required (403), unknown_credential (404),
   *   last_login_method (409), rate_limited (429).
   */
  async removePasskey(input: { authorization: string | undefined; credentialId: string; caller: CeremonyCaller }): Promise<void> {
    const { store, clock } = this.#o;
    const now = clock();
    this.#limitIp(input.caller, now);
    const claims = await this.#bearer(input.authorization);
    this.#ceremonies.checkUser(claims.sub, now);
    await this.#audited('PasskeyRemove', input.caller, async (facts) => {
      facts.sub = claims.sub;
      facts.credentialId = input.credentialId;
      if (typeof claims.auth_time !== 'number' || now - claims.auth_time * 1000 > FRESH_LOGIN_MS) {
        throw new IssuerError('fresh_login_required', 'Removing a passkey needs a login or a passkey confirmation from the last 10 minutes.', 403);
      }
      const passkeys = await listPasskeys(store.db, claims.sub);
      if (!passkeys.some((p) => p.credentialId === input.credentialId)) throw new IssuerError('unknown_credential', 'You have no such passkey.', 404);
      const email = await findSubjectEmail(store.db, claims.sub);
      const left = loginMethodsAfterRemoval({ email, passkeys: passkeys.length });
      if (left === 0) {
        throw new IssuerError('last_login_method', 'This passkey is your only way to log in; add another login method before removing it.', 409);
      }
      if (!(await deletePasskey(store.db, claims.sub, input.credentialId))) throw new IssuerError('unknown_credential', 'You have no such passkey.', 404);
    });
  }

  async #assert(
    challenge: string,
    response: unknown,
    sub: string | undefined,
    now: number,
    facts: { sub?: string; credentialId?: string; backedUp?: boolean },
    topOrigins: readonly string[] = [],
  ) {
    const { store } = this.#o;
    const rp = relyingParty(this.issuer);
    const id = responseCredentialId(response);
    const passkey = id === undefined ? undefined : await findPasskey(store.db, id);
    if (!passkey || (sub !== undefined && passkey.sub !== sub)) throw new IssuerError('unknown_credential', 'This passkey is not registered here.');
    facts.sub = passkey.sub;
    facts.credentialId = passkey.credentialId;
    // The login's user is known from here: their own limit applies too.
    if (sub === undefined) this.#ceremonies.checkUser(passkey.sub, now);
    const { counter, backedUp } = await verifyAssertion({ rp, challenge, response, passkey, topOrigins });
    facts.backedUp = backedUp;
    // Of two racing uses of one counter value only one counts (the other is a replay or a clone).
    if (!(await recordPasskeyUse(store.db, { credentialId: passkey.credentialId, previousCounter: passkey.counter, counter, backedUp, at: now }))) {
      throw new IssuerError('counter_not_increased', 'The passkey signature counter did not increase: the passkey may be cloned.');
    }
    return { passkey, backupEligible: passkey.backupEligible };
  }

  async #issue(sub: string, email: string, familyId: string, now: number, login: LoginFacts): Promise<TokenResponse> {
    const { store, audience } = this.#o;
    const iss = this.issuer;
    const iat = Math.floor(now / 1000);
    const ttl = this.limits.accessTokenTtlSec;
    const facts: Record<string, unknown> = { amr: [...login.amr], acr: acrFor(login.amr) };
    if (login.authTime !== null) facts.auth_time = Math.floor(login.authTime / 1000);
    const sign = (tokenUse: 'access' | 'id') =>
      new SignJWT({ email, email_verified: true, token_use: tokenUse, ...facts })
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
      amr: [...login.amr],
      authTime: login.authTime,
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

/**
 * How many ways to log in a user keeps after removing one passkey: the email
 * code (every user of this issuer has an email today; linked logins may add
 * users without one) and their other passkeys. Pure.
 */
export function loginMethodsAfterRemoval(o: { email: string | undefined; passkeys: number }): number {
  return (o.email !== undefined ? 1 : 0) + Math.max(0, o.passkeys - 1);
}

function passkeyInfo(p: {
  credentialId: string;
  createdAt: number;
  lastUsedAt: number | null;
  counter: number;
  backupEligible: boolean;
  backedUp: boolean;
  transports: string[];
}): PasskeyInfo {
  return {
    credential_id: p.credentialId,
    created_at: p.createdAt,
    last_used_at: p.lastUsedAt,
    counter: p.counter,
    backup_eligible: p.backupEligible,
    backed_up: p.backedUp,
    transports: p.transports,
  };
}
