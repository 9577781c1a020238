/**
 * A split wallet's share rotation (docs/signer.md, "Share rotation"): the key
 * is re-split inside the signer, so the address does not change and no other
 * party ever holds the key. Verify the owner's token; have share A of
 * generation g released to this signer and rebuild the key, checked against
 * the wallet's address (openSplitKey.ts); draw a fresh
 * share A' (32 bytes, the platform CSPRNG) and compute share B' = key XOR A';
 * have the custodian Encrypt A' under the owner's master key — the same key
 * that opened share A — with the owner's own credentials and the context
 * `{ sub, address, generation: g + 1 }`, exactly as the device encrypts share
 * A at wallet creation but with the generation bound in; return B' and A''s
 * ciphertext, with the key's signature over both (rotationStatement.ts). Share A, share B, the key, A' and B' are wiped in `finally`.
 *
 * Nothing is committed here: the new generation becomes the wallet's only
 * when the wallet store swaps share A's ciphertext and share B in one
 * compare-and-set on the generation (docs/wallet-api.md). Until then the new
 * shares open nothing the store serves, and B' exists only in this answer.
 *
 * The owner's signing policy (splitSigningPolicy.ts) rides on rotations:
 * share A of `generation` opens under the policy it was sealed with
 * (`signingPolicy`), and A' is sealed under `newSigningPolicy` — the same
 * one when it is absent, none when it is null. Setting, changing or removing
 * a policy is therefore a re-seal with the owner's token, which neither the
 * wallet service nor a DApp holds.
 */
import { randomFillSync } from 'node:crypto';
import type { Address, Hex } from 'viem';
import { wipe } from '../crypto/bytes.js';
import { signDigest } from '../crypto/secp256k1.js';
import { signMessage } from '../eth/signMessage.js';
import { rotationStatement } from './rotationStatement.js';
import { openSplitKey, type SharesRequest } from './openSplitKey.js';
import { SHARE_BYTES } from './releaseShareA.js';
import { MAX_GENERATION, shareAContext } from './shareContext.js';
import { readSplitSigningPolicy } from './splitSigningPolicy.js';
import { SignerError } from './errors.js';
import type { SignerDeps } from './signWithSplitKey.js';

/** The shares of generation g (share B is wiped by this function); `keyId`: share A is opened under it and A' encrypted under it. */
export interface RotateRequest extends SharesRequest {
  /** The policy to seal A' with: absent keeps `signingPolicy`, null removes it. */
  newSigningPolicy?: string | null | undefined;
}

export interface RotateResult {
  address: Address;
  /** The new generation: the request's plus one. */
  generation: number;
  /** A''s CiphertextBlob under the owner's master key, context `{ sub, address, generation }` (base64). */
  shareACiphertext: string;
  /** B' = key XOR A' (base64; a string, which JavaScript cannot wipe — see docs/signer.md). */
  shareB: string;
  /** EIP-191 signature by the wallet's key over rotationStatement(): what the wallet store checks before it commits. */
  proof: Hex;
  /** The SHA-256 of the policy A' is sealed with (absent: none); the statement names it too. */
  signingPolicySha256?: string;
}

/**
 * @throws {SignerError} with a stable code; never with a share, key or token in its message.
 */
export async function rotateSplitKey(deps: SignerDeps, request: RotateRequest): Promise<RotateResult> {
  let key: Uint8Array | undefined;
  let newShareA: Uint8Array | undefined;
  let newShareB: Uint8Array | undefined;
  try {
    if (!Number.isSafeInteger(request.generation) || request.generation < 0 || request.generation >= MAX_GENERATION) {
      wipe(request.shareB);
      throw new SignerError('bad_request', `generation must be an integer 0..${MAX_GENERATION - 1}.`);
    }
    const opened = await openSplitKey(deps, request);
    key = opened.key;
    const { address, verified } = opened;
    const next =
      request.newSigningPolicy === undefined ? opened.policy : request.newSigningPolicy === null ? undefined : readSplitSigningPolicy(request.newSigningPolicy);

    newShareA = randomFillSync(new Uint8Array(SHARE_BYTES));
    newShareB = new Uint8Array(SHARE_BYTES);
    for (let i = 0; i < SHARE_BYTES; i++) newShareB[i] = key[i]! ^ newShareA[i]!;
    const generation = request.generation + 1;
    const ciphertext = await deps.kms.encrypt({
      credentials: opened.credentials,
      keyId: request.keyId,
      plaintext: newShareA,
      encryptionContext: shareAContext(verified.sub, address, generation, next?.sha256),
    });
    const k = key;
    const proof = await signMessage({
      message: rotationStatement({ address, generation, shareACiphertext: ciphertext, shareB: newShareB, signingPolicySha256: next?.sha256 }),
      signer: async (digest) => signDigest(digest, k),
      address,
    });
    deps.logger.info({ generation }, 'split key re-split');
    return {
      address,
      generation,
      shareACiphertext: Buffer.from(ciphertext).toString('base64'),
      shareB: Buffer.from(newShareB.buffer, newShareB.byteOffset, newShareB.byteLength).toString('base64'),
      proof,
      ...(next ? { signingPolicySha256: next.sha256 } : {}),
    };
  } finally {
    wipe(key, newShareA, newShareB);
  }
}
