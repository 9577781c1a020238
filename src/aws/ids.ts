/**
 * Identifiers and secrets of roles and sessions, shaped as AWS's: role ids
 * `AROA` + 17 base32 characters, temporary access key ids `ASIA` + 16, a
 * 40-character secret access key, and an opaque session token of 64 random
 * bytes (base64). All from the CSPRNG.
 */
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(prefix: string, length: number): string {
  let s = prefix;
  for (let i = 0; i < length; i++) s += BASE32[randomInt(BASE32.length)];
  return s;
}

/** A role id, `AROA…` (21 characters). */
export function newRoleId(): string {
  return base32('AROA', 17);
}

/** A temporary access key id, `ASIA…` (20 characters). */
export function newSessionAccessKeyId(): string {
  return base32('ASIA', 16);
}

/** A session id (the sealed secret's associated data). */
export function newSessionId(): string {
  return randomUUID();
}

/** A 40-character secret access key (30 random bytes, base64). */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

/** An opaque session token (64 random bytes, base64). */
export function newSessionToken(): string {
  return randomBytes(64).toString('base64');
}

/** What the store keeps of a session token: its SHA-256, lower-case hex. */
export function sessionTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A stable user id STS tags sessions with (`uid`): `u-` and 32 lower-case hex digits (128 random bits). */
export function newUserId(): string {
  return `u-${randomBytes(16).toString('hex')}`;
}
