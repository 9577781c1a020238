/**
 * The checks every owner request to the signer starts with, in the order that
 * costs least before a token is trusted: share B's length, the wallet's
 * address, then the owner's token — all before any share is released. Shared
 * by a signature (signWithSplitKey.ts) and a rotation (rotateSplitKey.ts).
 */
import { getAddress, type Address } from 'viem';
import { TokenError } from '../identity/errors.js';
import type { TokenVerifier, VerifiedToken } from '../identity/token-verifier.js';
import { SignerError } from './errors.js';
import { SHARE_BYTES } from './releaseShareA.js';

/**
 * @throws {SignerError} `bad_request` for share B's length or the address; `invalid_token` when the token is refused.
 */
export async function verifyOwnerRequest(
  verifier: TokenVerifier,
  request: { shareB: Uint8Array; address: string; token: string },
): Promise<{ address: Address; verified: VerifiedToken }> {
  if (request.shareB.length !== SHARE_BYTES) throw new SignerError('bad_request', `shareB must be ${SHARE_BYTES} bytes, got ${request.shareB.length}.`);
  let address: Address;
  try {
    address = getAddress(request.address);
  } catch {
    throw new SignerError('bad_request', 'address must be a 20-byte 0x address.');
  }
  try {
    return { address, verified: await verifier.verify(request.token) };
  } catch (e) {
    if (e instanceof TokenError) throw new SignerError('invalid_token', `The token was refused (${e.code}).`);
    throw e;
  }
}
