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
 *
 * The owner's device share (deviceShare.ts) rides the same way: a request
 * with share C opens a three-share generation. Absent `newFactor`, the
 * factor and share C itself are kept — A' is fresh, B' = key ⊕ A' ⊕ C — so
 * an operator's or a policy's rotation does not touch what the owner's device
 * and recovery code wrap. `newFactor: "device"` draws a fresh C' as well
 * (key = A' ⊕ B' ⊕ C', A' sealed with `factor: "device"` in its context) and
 * answers it for the device to wrap: adding the factor, or replacing the
 * device share after a recovery, which retires the old one once the new
 * generation is activated. `newFactor: null` splits the key back into two
 * shares. The proof's statement names the factor, so the wallet store cannot
 * be made to record a three-share generation as a two-share one.
 */
import { randomFillSync } from 'node:crypto';
import type { Address, Hex } from 'viem';
import { wipe } from '../crypto/bytes.js';
import { signDigest } from '../crypto/secp256k1.js';
import { signMessage } from '../eth/signMessage.js';
import { rotationStatement } from './rotationStatement.js';
import { openSplitKey, type SharesRequest } from './openSplitKey.js';
import { SHARE_BYTES } from './releaseShareA.js';
import { contextSubOf, MAX_GENERATION, shareAContext } from './shareContext.js';
import { readSplitSigningPolicy } from './splitSigningPolicy.js';
import { SignerError } from './errors.js';
import { DEVICE_FACTOR, type ShareFactor, withFactor } from './deviceShare.js';
import type { SignerDeps } from './signWithSplitKey.js';

/** The shares of generation g (share B is wiped by this function); `keyId`: share A is opened under it and A' encrypted under it. */
export interface RotateRequest extends SharesRequest {
  /** The owner's master key: share A is opened under it and A' encrypted under it. */
  keyId: string;
  /** The policy to seal A' with: absent keeps `signingPolicy`, null removes it. */
  newSigningPolicy?: string | null | undefined;
  /** The factor of the new generation: `device` (three shares), null (two), absent: as the request's (share C given or not). */
  newFactor?: ShareFactor | null | undefined;
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
  /** `device`: the new generation has three shares. */
  factor?: ShareFactor;
  /** A fresh share C' (base64, for the device to wrap); absent when share C was kept or there is none. */
  shareC?: string;
}

/**
 * @throws {SignerError} with a stable code; never with a share, key or token in its message.
 */
export async function rotateSplitKey(deps: SignerDeps, request: RotateRequest): Promise<RotateResult> {
  let key: Uint8Array | undefined;
  let newShareA: Uint8Array | undefined;
  let newShareB: Uint8Array | undefined;
  let newShareC: Uint8Array | undefined;
  // openSplitKey wipes the request's share C; a rotation that keeps it needs its own copy.
  const keptShareC = request.shareC && request.newFactor === undefined ? Uint8Array.from(request.shareC) : undefined;
  try {
    if (!Number.isSafeInteger(request.generation) || request.generation < 0 || request.generation >= MAX_GENERATION) {
      wipe(request.shareB, request.shareC);
      throw new SignerError('bad_request', `generation must be an integer 0..${MAX_GENERATION - 1}.`);
    }
    const opened = await openSplitKey(deps, request);
    key = opened.key;
    const { address, verified } = opened;
    const next =
      request.newSigningPolicy === undefined ? opened.policy : request.newSigningPolicy === null ? undefined : readSplitSigningPolicy(request.newSigningPolicy);

    const factor: ShareFactor | undefined = request.newFactor === undefined ? (opened.hadShareC ? DEVICE_FACTOR : undefined) : (request.newFactor ?? undefined);

    newShareA = randomFillSync(new Uint8Array(SHARE_BYTES));
    const freshShareC = factor !== undefined && keptShareC === undefined;
    if (factor) newShareC = keptShareC ? Uint8Array.from(keptShareC) : randomFillSync(new Uint8Array(SHARE_BYTES));
    newShareB = new Uint8Array(SHARE_BYTES);
    for (let i = 0; i < SHARE_BYTES; i++) newShareB[i] = key[i]! ^ newShareA[i]! ^ (newShareC ? newShareC[i]! : 0);
    const generation = request.generation + 1;
    const ciphertext = await deps.kms.encrypt({
      credentials: opened.credentials,
      keyId: request.keyId,
      plaintext: newShareA,
      encryptionContext: withFactor(shareAContext(contextSubOf(request.contextSub, verified), address, generation, next?.sha256), factor),
    });
    const k = key;
    const proof = await signMessage({
      message: rotationStatement({ address, generation, shareACiphertext: ciphertext, shareB: newShareB, signingPolicySha256: next?.sha256, factor }),
      signer: async (digest) => signDigest(digest, k),
      address,
    });
    deps.logger.info({ generation, factor: factor ?? 'none' }, 'split key re-split');
    return {
      address,
      generation,
      shareACiphertext: Buffer.from(ciphertext).toString('base64'),
      shareB: Buffer.from(newShareB.buffer, newShareB.byteOffset, newShareB.byteLength).toString('base64'),
      proof,
      ...(next ? { signingPolicySha256: next.sha256 } : {}),
      ...(factor ? { factor } : {}),
      // Only a fresh share C goes back: a kept one is already on the owner's device.
      ...(freshShareC && newShareC ? { shareC: Buffer.from(newShareC.buffer, newShareC.byteOffset, newShareC.byteLength).toString('base64') } : {}),
    };
  } finally {
    wipe(key, newShareA, newShareB, newShareC, keptShareC);
  }
}
