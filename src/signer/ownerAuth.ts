/**
 * How the owner behind a split wallet's request logged in, from their
 * verified token (`amr`, RFC 8176; `auth_time`, OIDC Core §2): what a split
 * wallet's signing policy tests as aws:MultiFactorAuthPresent,
 * aws:MultiFactorAuthAge and symbolon:AuthMethods, the same keys the
 * custodian's policies see through STS (src/sts/assume-role-with-web-identity.ts
 * keeps them alike, and refuses the same malformed `amr`). Pure.
 */
import type { SessionAuth } from '../aws/context.js';
import type { VerifiedToken } from '../identity/verified-token.js';
import { SignerError } from './errors.js';

const MAX_AMR_VALUES = 16;
const AMR_VALUE = /^[\x21-\x7e]{1,64}$/;

/**
 * @throws {SignerError} invalid_token when `amr` is not a short list of short strings
 *   (a policy testing it must never see a partial list).
 */
export function ownerAuth(verified: VerifiedToken, now: number): SessionAuth {
  const { amr, auth_time: authTime } = verified.claims as { amr?: unknown; auth_time?: unknown };
  let methods: string[] = [];
  if (amr !== undefined) {
    if (!Array.isArray(amr) || amr.length > MAX_AMR_VALUES || !amr.every((v) => typeof v === 'string' && AMR_VALUE.test(v))) {
      throw new SignerError('invalid_token', `The token's amr claim must be a list of at most ${MAX_AMR_VALUES} short strings.`);
    }
    methods = [...new Set(amr as string[])];
  }
  // An auth_time in the future (beyond 60 s of skew) or not a number is ignored, as STS ignores it.
  const at = typeof authTime === 'number' && Number.isSafeInteger(authTime) && authTime > 0 && authTime * 1000 <= now + 60_000 ? authTime * 1000 : undefined;
  return { methods, authTime: at };
}
