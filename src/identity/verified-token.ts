/**
 * What a verified token tells: who (issuer and subject), for which audience,
 * until when, and every claim. Produced by src/identity/token-verifier.ts.
 */
import type { JWTPayload } from 'jose';

export interface VerifiedToken {
  readonly issuer: string;
  readonly sub: string;
  /** The configured audience the token was accepted for. */
  readonly aud: string;
  /** The `email` claim, when present and not marked unverified (`email_verified: false`). */
  readonly email?: string;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
  /** Every claim of the token (frozen). */
  readonly claims: Readonly<JWTPayload>;
}
