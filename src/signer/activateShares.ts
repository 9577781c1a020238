/**
 * Puts a split wallet's committed share generation in use at the custodian
 * (docs/signer.md, "Retiring old generations"): the device calls it right
 * after the wallet store committed a rotation. The signer has share A of that
 * generation released to it with the owner's credentials and its attestation
 * (openSplitKey.ts) — an attested release of a newer generation is what makes
 * the custodian retire the older ones — and checks that the pair rebuilds the
 * wallet's key. Nothing is signed; the key is wiped in `finally`. Any later
 * signature with the same shares has the same effect, so a device that dies
 * before this call leaves the old generation retired at the next signature.
 */
import type { Address } from 'viem';
import { wipe } from '../crypto/bytes.js';
import { openSplitKey, type SharesRequest } from './openSplitKey.js';
import type { SignerDeps } from './signWithSplitKey.js';

/**
 * @throws {SignerError} with a stable code (`share_generation_retired` when a newer generation is already in use).
 */
export async function activateShares(deps: SignerDeps, request: SharesRequest): Promise<{ address: Address; generation: number }> {
  let key: Uint8Array | undefined;
  try {
    const opened = await openSplitKey(deps, request);
    key = opened.key;
    deps.logger.info({ generation: request.generation }, 'split share generation in use');
    return { address: opened.address, generation: request.generation };
  } finally {
    wipe(key);
  }
}
