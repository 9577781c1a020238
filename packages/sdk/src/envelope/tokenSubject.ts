/**
 * Reads `sub` (and `exp`, `iss`) from a JWT's payload on the device, WITHOUT
 * verifying it: the device only learns whose token it holds (the owner it
 * binds its envelope to); the custodian and the wallet service verify the
 * token themselves. RFC 7519 §7.2 steps 1-7 for the payload only.
 */
import { base64UrlToBytes } from './base64.js';
import { EnvelopeError } from './errors.js';

/**
 * @throws {EnvelopeError} BAD_TOKEN when the token is not a compact JWT with a string `sub`.
 */
export function tokenSubject(token: string): { sub: string; exp: number | undefined; iss: string | undefined } {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) throw new EnvelopeError('BAD_TOKEN', 'The token is not a compact JWT.');
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64UrlToBytes(parts[1]!, 'token payload')));
  } catch (cause) {
    throw new EnvelopeError('BAD_TOKEN', 'The token payload is not base64url JSON.', { cause });
  }
  const { sub, exp, iss } = (claims ?? {}) as { sub?: unknown; exp?: unknown; iss?: unknown };
  if (typeof sub !== 'string' || sub.length === 0) throw new EnvelopeError('BAD_TOKEN', 'The token has no subject.');
  return { sub, exp: typeof exp === 'number' ? exp : undefined, iss: typeof iss === 'string' && iss.length > 0 ? iss : undefined };
}
