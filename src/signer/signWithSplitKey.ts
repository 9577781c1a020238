/**
 * One split-key signature (docs/architecture.md, custody mode "split"): verify the
 * owner's token; obtain credentials for the custodian on the owner's behalf;
 * take the session's attestation document for this signer's session key
 * (reused for up to a minute, session.ts); have the
 * custodian Decrypt share A with `Recipient`, so it arrives as
 * CiphertextForRecipient that only this process can open; rebuild the key as
 * share A XOR share B; check that it derives the wallet's address; sign with
 * src/eth on libsecp256k1; wipe share A, share B and the key in `finally`.
 *
 * Share A's ciphertext is bound by the custodian to the encryption context
 * `{ sub, address }` (and `generation` after a rotation, shareContext.ts),
 * with `sub` taken from the verified token and `address` in its EIP-55
 * checksummed form: another owner's token, another address or another share
 * generation does not open it. With the owner's signing policy (its text
 * beside share B, splitSigningPolicy.ts) the payload is evaluated first and
 * a refusal ends the request before any release; the policy's SHA-256 is in
 * share A's context, so only the text share A was sealed with opens it.
 */
import { serializeSignature, type Address, type Hex, type SignedAuthorization } from 'viem';
import type { Logger } from 'pino';
import { wipe } from '../crypto/bytes.js';
import { getPublicKey, isValidPrivateKey, signDigest } from '../crypto/secp256k1.js';
import { EthError } from '../eth/errors.js';
import { publicKeyToAddress } from '../eth/publicKeyToAddress.js';
import { signAuthorization } from '../eth/signAuthorization.js';
import { signMessage } from '../eth/signMessage.js';
import { prepareTransaction } from '../eth/hashTransaction.js';
import { keccakHex } from '../eth/keccak.js';
import { signHash } from '../eth/signHash.js';
import { signPreparedTransaction } from '../eth/signTransaction.js';
import { signTypedData } from '../eth/signTypedData.js';
import type { DigestSigner } from '../eth/types.js';
import type { TokenVerifier } from '../identity/token-verifier.js';
import { recordRefusal, SHARE_BYTES, shareMismatch } from './releaseShareA.js';
import { checkShareC, combineShares, DEVICE_FACTOR, deviceShareMismatch, releaseShareAFor, withFactor } from './deviceShare.js';
import { contextSubOf, shareAContext } from './shareContext.js';
import { decideSplitFacts, enforceSplitDecision, readSplitSigningPolicy } from './splitSigningPolicy.js';
import { ownerAuth } from './ownerAuth.js';
import { payloadFacts } from '../signing-policy/payloadFacts.js';
import { decisionAuditFields } from '../signing-policy/decisionAuditFields.js';
import type { CredentialSource } from './credentials.js';
import { asSignerPayload, SignerError } from './errors.js';
import { verifyOwnerRequest } from './verifyOwnerRequest.js';
import type { KmsRecipientClient } from './kms-client.js';
import { encodePayload, type SignPayload } from '../eth/payload.js';
import type { AttestedSession } from './session.js';

export { SHARE_BYTES };

export interface SignerDeps {
  verifier: TokenVerifier;
  credentials: CredentialSource;
  kms: KmsRecipientClient;
  session: AttestedSession;
  logger: Logger;
}

export interface SplitSignRequest {
  payload: SignPayload;
  address: string;
  /** Share B as the device got it; wiped by this function. */
  shareB: Uint8Array;
  /** Share C, the owner's device share, for a wallet with the device factor (deviceShare.ts); wiped by this function. */
  shareC?: Uint8Array | undefined;
  /** Share A's KMS ciphertext blob. */
  shareACiphertext: Uint8Array;
  token: string;
  /** Optional KeyId (the owner's master key) to pin the Decrypt to. */
  keyId?: string | undefined;
  /** The share generation of share A's ciphertext and share B (default 0: the shares made at wallet creation). */
  generation?: number | undefined;
  /** The owner's signing policy text share A was sealed with (absent: the wallet has none). */
  signingPolicy?: string | undefined;
  /** The `sub` of share A's context as the wallet was made (absent: the token's; shareContext.ts). */
  contextSub?: string | undefined;
}

export type SplitSignResult =
  | { type: 'transaction'; signedTransaction: Hex; hash: Hex }
  | { type: 'message'; signature: Hex }
  | { type: 'typedData'; signature: Hex }
  | { type: 'authorization'; authorization: { address: Address; chainId: number; nonce: number; r: Hex; s: Hex; yParity: number } };

async function signPayload(payload: SignPayload, signer: DigestSigner, address: Address): Promise<SplitSignResult> {
  switch (payload.type) {
    case 'transaction': {
      // encodePayload serialized and hashed it already: not again.
      const prepared = payload.prepared ?? prepareTransaction(payload.transaction);
      const signedTransaction = await signPreparedTransaction({ prepared, signer, address });
      return { type: 'transaction', signedTransaction, hash: keccakHex(signedTransaction) };
    }
    case 'message':
      return { type: 'message', signature: await signMessage({ message: payload.message, signer, address }) };
    case 'typedData':
      if (payload.digest) return { type: 'typedData', signature: serializeSignature(await signHash({ digest: payload.digest, signer, address })) };
      return { type: 'typedData', signature: await signTypedData({ typedData: payload.typedData, signer, address }) };
    case 'authorization': {
      const a: SignedAuthorization = await signAuthorization({ authorization: payload.authorization, signer, address });
      return { type: 'authorization', authorization: { address: a.address, chainId: a.chainId, nonce: a.nonce, r: a.r, s: a.s, yParity: a.yParity ?? 0 } };
    }
  }
}

/**
 * @throws {SignerError} with a stable code; never with a share, key or token in its message.
 */
export async function signWithSplitKey(deps: SignerDeps, request: SplitSignRequest): Promise<SplitSignResult> {
  let shareA: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  const shareB = request.shareB;
  const shareC = request.shareC;
  try {
    checkShareC(shareC);
    const { address, verified } = await verifyOwnerRequest(deps.verifier, { shareB, address: request.address, token: request.token });
    // Only now the costly part (hashing typed data, serializing a transaction), and still before any release.
    const payload = asSignerPayload(() => encodePayload(request.payload));
    // The owner's policy decides before share A is asked for: a refused payload is never released (only recorded).
    const policy = request.signingPolicy === undefined ? undefined : readSplitSigningPolicy(request.signingPolicy);
    const facts = payloadFacts(request.payload);
    let context: Record<string, string>;
    try {
      context = shareAContext(contextSubOf(request.contextSub, verified), address, request.generation ?? 0, policy?.sha256);
    } catch {
      throw new SignerError('bad_request', 'generation must be a non-negative integer.');
    }
    let statement: string | undefined;
    if (policy) {
      const now = Date.now();
      const decided = decideSplitFacts(policy.policy, facts, ownerAuth(verified, now), now);
      if (decided.decision !== 'allow') {
        // The refusal goes on the custodian's record (a DryRun: nothing released), then to the caller.
        const refused = decisionAuditFields(request.payload, facts, decided.decision, decided.statement);
        await recordRefusal(deps, {
          token: request.token,
          tokenExp: verified.exp,
          ciphertext: request.shareACiphertext,
          context: withFactor(context, shareC ? DEVICE_FACTOR : undefined),
          keyId: request.keyId,
          decision: refused,
        }).catch((e: unknown) => deps.logger.warn({ code: (e as SignerError)?.code }, 'a refused signature could not be recorded by the custodian'));
      }
      statement = enforceSplitDecision(decided);
    }
    // Claims for the custodian's audit event of the release (src/kms/signer-claims.ts): what is signed, and why.
    const decision = decisionAuditFields(request.payload, facts, 'allow', statement);

    shareA = (
      await releaseShareAFor(
        deps,
        { token: request.token, tokenExp: verified.exp, ciphertext: request.shareACiphertext, context, keyId: request.keyId, decision },
        shareC !== undefined,
      )
    ).shareA;

    key = combineShares(shareA, shareB, shareC);
    if (!isValidPrivateKey(key) || publicKeyToAddress(getPublicKey(key)) !== address) throw shareC ? deviceShareMismatch() : shareMismatch();

    const k = key;
    // libsecp256k1's recovery id goes along as a hint: one recovery checks it (toRecoverableSignature).
    const signer: DigestSigner = async (digest) => signDigest(digest, k);
    try {
      return await signPayload(payload, signer, address);
    } catch (e) {
      if (e instanceof SignerError) throw e;
      if (e instanceof EthError) throw new SignerError('invalid_payload', e.shortMessage);
      // viem's encoding errors (invalid chain id, fee cap, typed data that does not match its types)
      // are BaseErrors with a shortMessage; their text can quote payload values, so only the name is kept.
      if (e instanceof Error && typeof (e as { shortMessage?: unknown }).shortMessage === 'string') {
        throw new SignerError('invalid_payload', `The payload cannot be signed (${e.name.slice(0, 64)}).`);
      }
      throw e;
    }
  } finally {
    wipe(shareA, key, shareB, shareC);
  }
}
