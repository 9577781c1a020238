/**
 * The SHA-256 of a signing policy's text (UTF-8, exactly as stored; lowercase
 * hex): what a split wallet's share A encryption context carries
 * (src/signer/shareContext.ts) and what the wallet store shows beside the
 * text. The text itself is hashed, not a canonical form: the bytes the owner
 * sealed are the bytes that open.
 */
import { createHash } from 'node:crypto';

export function signingPolicySha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
