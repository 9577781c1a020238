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
 */

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
