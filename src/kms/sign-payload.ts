/**
 * Signs a decoded Ethereum payload with a KMS key (docs/signing-policy.md):
 * the one path by which a key with a signing policy signs. It authorizes as
 * KMS `Sign` of that key would (identity and key policies, tags, grants),
 * with kms:SigningAlgorithm=ECDSA_SHA_256, kms:MessageType=DIGEST and
 * kms:ViaService=`${via}.symbolon`; then evaluates the key's signing policy
 * against the payload's facts (src/signing-policy/; a policy with rolling
 * windows in one store transaction that also reserves the request's usage,
 * src/kms/signing-window.ts); then hashes the payload
 * and signs the digest with the key (src/kms/keystore.ts signDigest) through
 * src/eth's canonical-signature code. Every decision — allowed, denied,
 * pending — leaves the decoded fields in ctx.audit.eth (never the payload).
 */
import { bytesToHex, hashMessage, hexToBytes, hashTypedData, serializeSignature, serializeTransaction, type Address, type Hex } from 'viem';
import { hashAuthorization } from 'viem/utils';
import { AwsError, accessDenied, invalidKeyUsage, invalidState, validation } from '../aws/errors.js';
import { EthError } from '../eth/errors.js';
import { encodePayload, parsePayload, type SignPayload } from '../eth/payload.js';
import { publicKeyToAddress } from '../eth/publicKeyToAddress.js';
import { signHash } from '../eth/signHash.js';
import { signatureV } from '../eth/signatureV.js';
import type { DigestSigner, RecoverableSignature } from '../eth/types.js';
import { payloadFacts, type PayloadFacts } from '../signing-policy/payloadFacts.js';
import { callerFacts } from '../signing-policy/callerFacts.js';
import { describeDecision, evaluateSigningPolicy, windowRefusal, type SigningDecision } from '../signing-policy/evaluateSigningPolicy.js';
import type { EthAuditFields } from '../audit/event.js';
import { decisionAuditFields } from '../signing-policy/decisionAuditFields.js';
import type { OperationContext } from './context.js';
import { authorize, loadMaterial, requireUsable, resolveKey } from './keys.js';
import { signDigestCompact } from './keystore.js';
import type { MaterialRow } from '../storage/keys.repository.js';
import { SECP256K1_HALF_N } from '../crypto/secp256k1.js';
import { keyArn, type KeyRecord } from './model.js';
import { loadSigningPolicy, storedSigningPolicy, VIA_SERVICES } from './signing-policy.js';
import { proposeSigningRequest, sha256Hex } from './policy/quorum.js';
import type { PolicyChange } from '../storage/iam-quorum.repository.js';
import { decideWithWindows, recordApprovedUsage, releaseReservation } from './signing-window.js';

/** Which front end asked: the value of the `kms:ViaService` condition key is `${via}.symbolon` (e.g. rpc.symbolon). */
export type SignVia = 'rpc' | 'api';

export interface SignPayloadRequest {
  /** Key id, ARN, alias name or alias ARN — resolved like KMS Sign's KeyId. */
  keyId: string;
  /** From src/eth/payload.ts (parsePayload or readPayload). */
  payload: SignPayload;
  via: SignVia;
}

export interface SignPayloadResult {
  keyArn: string;
  /** The key's Ethereum address. */
  address: Address;
  signature: RecoverableSignature;
  /**
   * transaction: the signed serialized transaction (eth_signTransaction's result);
   * message / typedData: the 65-byte r||s||v signature as 0x-hex (v = 27/28);
   * authorization: 0x-hex r||s||yParity (65 bytes).
   */
  signed: Hex;
}

/** The error a RequireApproval outcome throws: its message carries the pending request's id, never the payload. */
export function signingApprovalPending(message: string): AwsError {
  return new AwsError('SigningApprovalPendingException', message, 400);
}

/** The audit fields of a decision (seam B): decimal amounts, lowercase addresses (src/signing-policy/decisionAuditFields.ts). */
export const ethAuditFields: (
  payload: SignPayload,
  facts: PayloadFacts,
  decision: EthAuditFields['decision'],
  statement: string | undefined,
) => EthAuditFields = decisionAuditFields;

/** The 32-byte digest the payload's signer signs, and how to present the signature. */
function digestOf(payload: SignPayload): { digest: Uint8Array; present: (sig: RecoverableSignature) => Hex } {
  switch (payload.type) {
    case 'transaction': {
      const { unsigned, digest } = payload.prepared!;
      return {
        digest,
        present: ({ r, s, yParity }) =>
          unsigned.type === 'legacy'
            ? serializeTransaction(unsigned, { r, s, v: signatureV({ kind: 'legacy-transaction', yParity, chainId: unsigned.chainId }) })
            : serializeTransaction(unsigned, { r, s, yParity }),
      };
    }
    case 'message':
      return { digest: hashMessage(payload.message, 'bytes'), present: (sig) => serializeSignature(sig) };
    case 'typedData':
      return { digest: payload.digest ?? hexToBytes(hashTypedData(payload.typedData)), present: (sig) => serializeSignature(sig) };
    case 'authorization': {
      const a = payload.authorization;
      const address = (a.address ?? a.contractAddress) as Address;
      return {
        digest: hashAuthorization({ address, chainId: a.chainId, nonce: a.nonce, to: 'bytes' }),
        present: ({ r, s, yParity }) => `${r}${s.slice(2)}${yParity === 1 ? '01' : '00'}` as Hex,
      };
    }
  }
}

/**
 * Authorizes as KMS `Sign` of this key would for ctx's caller, with
 * kms:ViaService=`${via}.symbolon`; then evaluates the key's signing policy;
 * then signs with the key.
 * @throws {AwsError} AccessDeniedException (a signing-policy refusal names the deciding statement's Sid),
 *   NotFoundException, DisabledException, KMSInvalidStateException, InvalidKeyUsageException,
 *   ValidationException (a payload that cannot be encoded), SigningApprovalPendingException
 *   (RequireApproval: the message carries the pending request's id).
 */
export async function signEthPayload(ctx: OperationContext, request: SignPayloadRequest): Promise<SignPayloadResult> {
  const { payload, via } = request;
  ctx.audit.signingAlgorithm = 'ECDSA_SHA_256';
  ctx.audit.messageType = 'DIGEST';
  const facts = callerFacts(payloadFacts(payload), ctx.caller.auth, ctx.info.now);
  // Until a decision allows it, the request is a refusal (a failed authorization is one too).
  ctx.audit.eth = ethAuditFields(payload, facts, 'deny', undefined);
  const key = await resolveKey(ctx, request.keyId, { signingPolicy: true });
  await authorize(ctx, 'kms:Sign', key, { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'DIGEST', 'kms:ViaService': VIA_SERVICES[via] });
  requireUsable(key, 'SIGN_VERIFY', 'Sign');
  if (key.keySpec !== 'ECC_SECG_P256K1') throw invalidKeyUsage(`${keyArn(key)} is ${key.keySpec}; Ethereum payloads are signed with ECC_SECG_P256K1 keys.`);

  const policy = await loadSigningPolicy(ctx, key);
  let decision: SigningDecision | undefined;
  // A windowed policy's allowed request is reserved in the usage store; released below if it is not signed.
  let reservation: string | undefined;
  if (policy) {
    let decided = facts;
    if (policy.policy.windows.length > 0) {
      const w = await decideWithWindows(ctx, key, policy.policy, payload, facts);
      decision = w.decision;
      decided = w.facts;
      reservation = w.reservation;
    } else decision = evaluateSigningPolicy(policy.policy, facts);
    ctx.audit.eth = ethAuditFields(payload, facts, decision.decision, decision.statement);
    if (decision.decision === 'deny') {
      throw accessDenied(
        `User: ${ctx.caller.arn} is not authorized to sign this payload with ${keyArn(key)}: ${describeDecision(decision)}${windowRefusal(policy.policy, decided, decision)}`,
      );
    }
  } else {
    ctx.audit.eth = ethAuditFields(payload, facts, 'allow', undefined);
  }
  if (reservation === undefined) return signDecided(ctx, key, payload, facts, decision, policy?.text, via);
  try {
    return await signDecided(ctx, key, payload, facts, decision, policy?.text, via);
  } catch (e) {
    await releaseReservation(ctx, key.keyId, reservation);
    throw e;
  }
}

/** Encodes the payload, then signs it (allowed) or proposes a signing request (pending). */
async function signDecided(
  ctx: OperationContext,
  key: KeyRecord,
  payload: SignPayload,
  facts: PayloadFacts,
  decision: SigningDecision | undefined,
  policyText: string | undefined,
  via: SignVia,
): Promise<SignPayloadResult> {
  let encoded: SignPayload;
  try {
    encoded = encodePayload(payload);
  } catch (e) {
    ctx.audit.eth = ethAuditFields(payload, facts, 'deny', decision?.statement);
    if (e instanceof EthError) throw validation(e.shortMessage);
    throw e;
  }
  if (decision?.decision === 'pending' && policyText !== undefined) {
    // What approvers review (and hash): the deciding statement, the front end, the payload.
    const text = JSON.stringify({ Statement: decision.statement, Via: via, Payload: payloadJson(encoded) });
    const { approvers, minApprovals, expiresInSeconds } = decision.approval;
    const change = await proposeSigningRequest(ctx, key, text, policyText, { approvers, threshold: minApprovals, ttlSeconds: expiresInSeconds });
    // The decision's audit event names the request, so its approval.requested webhook does too (src/audit/monitor.ts).
    ctx.audit.eth = { ...ethAuditFields(payload, facts, 'pending', decision.statement), signingRequest: change.changeId };
    throw signingApprovalPending(
      `Signing policy statement ${decision.statement} requires approval (${minApprovals} of ${approvers.length}): signing request ${change.changeId} is pending ` +
        `(SHA-256 ${change.payloadSha256}); fetch the signature with SymbolonSigning.GetSigningRequest once it is approved.`,
    );
  }
  return signWithKey(ctx, key, encoded);
}

/** The payload as JSON src/eth/payload.ts reads back: computed fields dropped, bigints as decimal strings. */
export function payloadJson(payload: SignPayload): unknown {
  const { prepared: _p, digest: _d, ...rest } = payload as SignPayload & { prepared?: unknown; digest?: unknown };
  return JSON.parse(JSON.stringify(rest, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(10) : v)));
}

/**
 * The signature of an approved signing request, for its requester: the
 * request must be APPLIED (approved), the key's signing policy unchanged since
 * the request, and the requester still allowed kms:Sign as when it asked.
 * @throws {AwsError} SigningApprovalPendingException (still pending), KMSInvalidStateException
 *   (rejected, expired, superseded, or the signing policy changed), AccessDeniedException, …
 */
export async function signApprovedRequest(ctx: OperationContext, key: KeyRecord, change: PolicyChange): Promise<SignPayloadResult> {
  const request = JSON.parse(change.payload) as { Statement: string; Via: SignVia; Payload: unknown };
  const payload = parsePayload(request.Payload);
  const facts = payloadFacts(payload);
  const id = change.changeId;
  ctx.audit.signingAlgorithm = 'ECDSA_SHA_256';
  ctx.audit.messageType = 'DIGEST';
  ctx.audit.eth = ethAuditFields(payload, facts, change.status === 'PENDING' ? 'pending' : 'deny', request.Statement);
  if (change.status === 'PENDING')
    throw signingApprovalPending(`Signing request ${id} is pending approval (${change.threshold} of ${change.approvers.length} needed).`);
  if (change.status !== 'APPLIED') throw invalidState(`Signing request ${id} is ${change.status}; nothing is signed.`);
  await authorize(ctx, 'kms:Sign', key, { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'DIGEST', 'kms:ViaService': VIA_SERVICES[request.Via] });
  requireUsable(key, 'SIGN_VERIFY', 'Sign');
  const current = await storedSigningPolicy(ctx, key);
  if (sha256Hex(current?.policy ?? '') !== change.baseSha256)
    throw invalidState(`The signing policy of ${keyArn(key)} changed since signing request ${id}; nothing is signed.`);
  ctx.audit.eth = ethAuditFields(payload, facts, 'allow', request.Statement);
  // An approved request counts in the key's rolling windows once, however often its signature is fetched.
  const policy = await loadSigningPolicy(ctx, key);
  if (policy && policy.policy.windows.length > 0) await recordApprovedUsage(ctx, key, payload, facts, id);
  return signWithKey(ctx, key, payload);
}

/**
 * Key material (the row the key cache holds) whose secret has been seen to
 * sign as its stored public key — a signature of it recovered to the key's
 * address — and that address. Keyed by the row object: a row read again
 * from the store (cache expiry, another version) is proven again.
 */
const provenAddress = new WeakMap<MaterialRow, Address>();

/**
 * The canonical signature of `digest` from libsecp256k1's compact signature
 * and recovery id, without a recovery: RFC 6979, low-s (checked here) and the
 * recovery id libsecp256k1 computed with the nonce point are the same r, s
 * and yParity that recovery finds (test/sign-payload-compact.test.ts checks
 * them against the recovering path and viem). Undefined when a check fails.
 */
export function fromCompact(compact: Uint8Array, recoveryId: number): RecoverableSignature | undefined {
  if (compact.length !== 64 || (recoveryId !== 0 && recoveryId !== 1)) return undefined;
  const r = bytesToHex(compact.subarray(0, 32));
  const s = bytesToHex(compact.subarray(32, 64));
  const sn = BigInt(s);
  // EIP-2: s <= n/2; r and s in [1, n-1].
  if (BigInt(r) === 0n || sn === 0n || sn > SECP256K1_HALF_N) return undefined;
  return { r, s, yParity: recoveryId };
}

/**
 * Signs an encoded payload with the key (authorization and policy already decided).
 * The first signature by a material row is checked by recovery against the
 * key's address (src/eth/signHash.ts); later ones take libsecp256k1's
 * recovery id as it is (fromCompact), which saves a recovery — more CPU than
 * the signature itself — per request.
 */
export async function signWithKey(ctx: OperationContext, key: KeyRecord, encoded: SignPayload): Promise<SignPayloadResult> {
  const material = await loadMaterial(ctx, key);
  if (!material.publicKey) throw invalidKeyUsage(`${keyArn(key)} has no public key.`);
  if (key.keySpec !== 'ECC_SECG_P256K1') throw invalidKeyUsage(`${keyArn(key)} is ${key.keySpec}; Ethereum payloads are signed with ECC_SECG_P256K1 keys.`);
  const { digest, present } = digestOf(encoded);
  const { signature: compact, recoveryId } = signDigestCompact(ctx.deps.root, key.keyId, material.version, material.sealed, digest);
  const proven = provenAddress.get(material);
  const fast = proven === undefined ? undefined : fromCompact(compact, recoveryId);
  if (proven !== undefined && fast !== undefined) return { keyArn: keyArn(key), address: proven, signature: fast, signed: present(fast) };
  const address = publicKeyToAddress(material.publicKey);
  const signer: DigestSigner = async () => ({ signature: compact, recovery: recoveryId });
  const signature = await signHash({ digest, signer, address });
  provenAddress.set(material, address);
  return { keyArn: keyArn(key), address, signature, signed: present(signature) };
}
