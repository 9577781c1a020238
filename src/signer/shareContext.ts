/**
 * The encryption context share A's ciphertext is bound to (docs/signer.md,
 * "Share rotation"): `{ sub, address }` for the shares the device made at
 * wallet creation (generation 0), and `{ sub, address, generation }` for the
 * shares of each later generation, which only the signer makes
 * (rotateSplitKey.ts). The custodian opens a ciphertext only under the
 * context it was made with, so a request that names another generation than
 * its share A's is refused before any key exists.
 *
 * A wallet whose owner attached a signing policy (docs/signing-policy.md,
 * "Split and envelope wallets") has one more key, `signing-policy-sha256`:
 * the SHA-256 of the policy text share A was sealed with
 * (splitSigningPolicy.ts). A policy-less wallet keeps the contexts above.
 *
 * The `sub` is the one the wallet was made with (the wallet service serves it
 * as the wallet's `encryptionContext.sub`): a login linked to the owner later
 * has another sub, so the device sends the wallet's (`contextSub`), and the
 * ciphertexts stay as they are. The signer does not trust that value for
 * who may open share A: the custodian decides, from the owner's master key
 * policy (template 3: only sessions STS tagged with the owner's `uid`, and
 * only under the creating login's `sub`; docs/signer.md, "Linked logins").
 * A wrong `contextSub` only makes the ciphertext fail to open.
 */
import type { VerifiedToken } from '../identity/token-verifier.js';
import { SignerError } from './errors.js';

/** The context key that names a share generation (decimal). */
export const GENERATION_CONTEXT_KEY = 'generation';

/** The context key that carries the owner's signing policy's SHA-256 (lowercase hex). */
export const SIGNING_POLICY_CONTEXT_KEY = 'signing-policy-sha256';

/** Largest generation: a rotation a second for 68 years. */
export const MAX_GENERATION = 2 ** 31 - 1;

/**
 * @param address EIP-55 checksummed, as the device encrypted with.
 * @param signingPolicySha256 the owner's signing policy's SHA-256 (hex), when the wallet has one.
 * @throws {RangeError} when `generation` is not an integer 0..MAX_GENERATION.
 */
export function shareAContext(sub: string, address: string, generation: number, signingPolicySha256?: string): Record<string, string> {
  if (!Number.isSafeInteger(generation) || generation < 0 || generation > MAX_GENERATION)
    throw new RangeError(`generation must be an integer 0..${MAX_GENERATION}`);
  const context: Record<string, string> = generation === 0 ? { sub, address } : { sub, address, [GENERATION_CONTEXT_KEY]: String(generation) };
  if (signingPolicySha256 !== undefined) context[SIGNING_POLICY_CONTEXT_KEY] = signingPolicySha256;
  return context;
}

/** OIDC Core §2: a sub is at most 255 ASCII characters. */
const MAX_SUB_LENGTH = 255;

/**
 * The `sub` of share A's context: the wallet's (`requested`, from the record the device read), else the token's.
 * @throws {SignerError} bad_request when `requested` is empty or longer than a sub can be.
 */
export function contextSubOf(requested: string | undefined, verified: Pick<VerifiedToken, 'sub'>): string {
  if (requested === undefined) return verified.sub;
  if (requested.length === 0 || requested.length > MAX_SUB_LENGTH) throw new SignerError('bad_request', `contextSub must be 1-${MAX_SUB_LENGTH} characters.`);
  return requested;
}
