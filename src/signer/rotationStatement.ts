/**
 * The statement a rotation's new shares are signed under (docs/signer.md,
 * "Share rotation"): an EIP-191 personal message, made by the signer with the
 * wallet's key while it holds it, naming the address, the new generation and
 * the SHA-256 of the new share A ciphertext and of the new share B. The
 * wallet store checks that it recovers to the wallet's address before it
 * commits the shares, so a device cannot commit shares the signer did not
 * make together (a damaged or altered share B would lock the owner out).
 * The hashes reveal nothing of a share: each is 32 uniformly random bytes.
 * When the new share A is sealed with the owner's signing policy, a last
 * line names the policy's SHA-256, so the wallet store keeps beside the
 * shares exactly the text share A opens with (a policy-less statement is
 * unchanged). A generation with the owner's device share (deviceShare.ts)
 * adds `factor: device`, so the wallet store records the factor the shares
 * need; a two-share statement is unchanged.
 */
import { createHash } from 'node:crypto';

export function rotationStatement(r: {
  address: string;
  generation: number;
  shareACiphertext: Uint8Array;
  shareB: Uint8Array;
  /** The new share A's signing policy SHA-256 (hex), when it is sealed with one. */
  signingPolicySha256?: string | undefined;
  /** `device` when the new generation has a third share on the owner's device. */
  factor?: 'device' | undefined;
}): string {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const lines = [
    'Symbolon share rotation v1',
    `address: ${r.address}`,
    `generation: ${r.generation}`,
    `shareACiphertext sha256: ${sha(r.shareACiphertext)}`,
    `shareB sha256: ${sha(r.shareB)}`,
  ];
  if (r.signingPolicySha256 !== undefined) lines.push(`signing-policy sha256: ${r.signingPolicySha256}`);
  if (r.factor !== undefined) lines.push(`factor: ${r.factor}`);
  return lines.join('\n');
}
