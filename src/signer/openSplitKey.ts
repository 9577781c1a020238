/**
 * The first half of every share operation that needs the whole key but signs
 * no payload (a rotation, rotateSplitKey.ts; an activation,
 * activateShares.ts): verify the owner's request (verifyOwnerRequest.ts);
 * have share A of the given generation released to this signer under its
 * context (releaseShareA.ts, shareContext.ts); rebuild the key as share A XOR
 * share B (XOR share C, the owner's device share, for a wallet with the device
 * factor: deviceShare.ts) and check that it derives the wallet's address.
 * Share A, share B and share C are wiped here; the key goes to the caller,
 * who wipes it in `finally`.
 */
import type { Address } from 'viem';
import { wipe } from '../crypto/bytes.js';
import { getPublicKey, isValidPrivateKey } from '../crypto/secp256k1.js';
import { publicKeyToAddress } from '../eth/publicKeyToAddress.js';
import type { VerifiedToken } from '../identity/token-verifier.js';
import { SignerError } from './errors.js';
import type { AwsCredentials } from './kms-client.js';
import { shareMismatch } from './releaseShareA.js';
import { checkShareC, combineShares, deviceShareMismatch, releaseShareAFor } from './deviceShare.js';
import { contextSubOf, MAX_GENERATION, shareAContext } from './shareContext.js';
import { readSplitSigningPolicy, type SplitSigningPolicy } from './splitSigningPolicy.js';
import type { SignerDeps } from './signWithSplitKey.js';
import { verifyOwnerRequest } from './verifyOwnerRequest.js';

/** A split wallet's shares of one generation, as the wallet service serves them. */
export interface SharesRequest {
  address: string;
  /** Share B of `generation`; wiped by openSplitKey. */
  shareB: Uint8Array;
  /** Share C of `generation`, for a wallet with the device factor (absent: two shares); wiped by openSplitKey. */
  shareC?: Uint8Array | undefined;
  /** Share A's KMS ciphertext of `generation`. */
  shareACiphertext: Uint8Array;
  /** The generation of the shares given (0: the shares made at wallet creation). */
  generation: number;
  /** The owner's master key (absent: the one the ciphertext names). */
  keyId: string | undefined;
  token: string;
  /** The signing policy text share A of `generation` was sealed with (absent: none; splitSigningPolicy.ts). */
  signingPolicy?: string | undefined;
  /** The `sub` of share A's context as the wallet was made (a linked login's is another; absent: the token's; shareContext.ts). */
  contextSub?: string | undefined;
}

/**
 * @returns the key (the caller wipes it), the checksummed address, the verified token and the owner's credentials.
 * @throws {SignerError} with a stable code; never with a share, key or token in its message.
 */
export async function openSplitKey(
  deps: SignerDeps,
  request: SharesRequest,
  options: {
    /** `export`: the attestation document states it, and the custodian audits the release as one. */
    purpose?: 'export';
    /** A further check of the verified request before anything is released (throws to refuse). */
    beforeRelease?: (verified: VerifiedToken) => void;
  } = {},
): Promise<{
  key: Uint8Array;
  address: Address;
  verified: VerifiedToken;
  credentials: AwsCredentials;
  policy: SplitSigningPolicy | undefined;
  /** The request's generation has the device share (share C was given and rebuilt the key). */
  hadShareC: boolean;
}> {
  let shareA: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  const shareB = request.shareB;
  const shareC = request.shareC;
  try {
    checkShareC(shareC);
    if (!Number.isSafeInteger(request.generation) || request.generation < 0 || request.generation > MAX_GENERATION)
      throw new SignerError('bad_request', `generation must be an integer 0..${MAX_GENERATION}.`);
    const { address, verified } = await verifyOwnerRequest(deps.verifier, { shareB, address: request.address, token: request.token });
    // Share A of a generation sealed with a policy opens only under that policy's hash.
    options.beforeRelease?.(verified);
    const policy = request.signingPolicy === undefined ? undefined : readSplitSigningPolicy(request.signingPolicy);
    const released = await releaseShareAFor(
      deps,
      {
        token: request.token,
        tokenExp: verified.exp,
        ciphertext: request.shareACiphertext,
        context: shareAContext(contextSubOf(request.contextSub, verified), address, request.generation, policy?.sha256),
        keyId: request.keyId,
        ...(options.purpose ? { purpose: options.purpose } : {}),
      },
      shareC !== undefined,
    );
    shareA = released.shareA;
    key = combineShares(shareA, shareB, shareC);
    if (!isValidPrivateKey(key) || publicKeyToAddress(getPublicKey(key)) !== address) throw shareC ? deviceShareMismatch() : shareMismatch();
    const out = { key, address, verified, credentials: released.credentials, policy, hadShareC: shareC !== undefined };
    key = undefined;
    return out;
  } finally {
    wipe(shareA, key, shareB, shareC);
  }
}
