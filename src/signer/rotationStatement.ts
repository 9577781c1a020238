/**
 * The statement a rotation's new shares are signed under (docs/signer.md,
 * "Share rotation"): an EIP-191 personal message, made by the signer with the
 * wallet's key while it holds it, naming the address, the new generation and
 * the SHA-256 of the new share A ciphertext and of the new share B. The
 * wallet store checks that it recovers to the wallet's address before it
 * commits the shares, so a device cannot commit shares the signer did not
 * make together (a damaged or altered share B would lock the owner out).
 * The hashes reveal nothing of a share: each is 32 uniformly random bytes.
 */
import { createHash } from 'node:crypto';

export function rotationStatement(r: { address: string; generation: number; shareACiphertext: Uint8Array; shareB: Uint8Array }): string {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  return [
    'Symbolon share rotation v1',
    `address: ${r.address}`,
    `generation: ${r.generation}`,
    `shareACiphertext sha256: ${sha(r.shareACiphertext)}`,
    `shareB sha256: ${sha(r.shareB)}`,
  ].join('\n');
}
