/**
 * The signing-policy JSON API: operations on the custodian's endpoint under
 * `X-Amz-Target: SymbolonSigning.<Operation>`, SigV4-signed for service
 * `kms` and audited like every KMS call (docs/signing-policy.md).
 *
 * - PutSigningPolicy {KeyId, Policy} / DeleteSigningPolicy {KeyId}: need
 *   kms:PutKeyPolicy on the key (a signing policy is a permission change:
 *   whoever may rewrite the key policy may already grant raw signing), and
 *   follow the key's quorum rule, else the account rule (pending like PutKeyPolicy).
 * - GetSigningPolicy {KeyId}: needs kms:GetKeyPolicy.
 * - SignPayload {KeyId, Payload}: signs a decoded Ethereum payload
 *   (src/eth/payload.ts's JSON form) as src/kms/sign-payload.ts does, with
 *   kms:ViaService=api.symbolon; answers {KeyId, Address, Signature: {r, s, yParity}, Signed}.
 *   A RequireApproval outcome is SigningApprovalPendingException naming the request.
 * - GetSigningRequest {RequestId}: the requester fetches the signature of an
 *   approved request (approvers vote with SymbolonApprovals.ApprovePolicyChange).
 */
import { createHash } from 'node:crypto';
import { accessDenied, notFound, validation } from '../aws/errors.js';
import { InvalidPayloadError } from '../eth/errors.js';
import { readPayload } from '../eth/payload.js';
import { authorize, resolveKey } from './keys.js';
import { keyArn } from './model.js';
import { operation, type KmsOperation } from './operation.js';
import { loadChange } from './policy/quorum.js';
import { signApprovedRequest, signEthPayload } from './sign-payload.js';
import { storedSigningPolicy, writeSigningPolicy } from './signing-policy.js';

export const putSigningPolicyOperation = operation('PutSigningPolicy', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const policy = input.string('Policy', { required: true, min: 1, max: 32768 });
  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:PutKeyPolicy', key);
  return writeSigningPolicy(ctx, key, policy);
});

export const deleteSigningPolicyOperation = operation('DeleteSigningPolicy', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:PutKeyPolicy', key);
  return writeSigningPolicy(ctx, key, null);
});

export const getSigningPolicyOperation = operation('GetSigningPolicy', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:GetKeyPolicy', key);
  const row = await storedSigningPolicy(ctx, key);
  if (!row) throw notFound(`Key '${keyArn(key)}' has no signing policy.`);
  return {
    KeyId: keyArn(key),
    Policy: row.policy,
    PolicySha256: createHash('sha256').update(row.policy, 'utf8').digest('hex'),
    UpdatedBy: row.updatedBy,
    UpdateDate: row.updatedAt / 1000,
  };
});

export const signPayloadOperation = operation('SignPayload', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const raw = input.raw.Payload;
  if (raw === undefined) throw validation("1 validation error detected: Value null at 'payload' failed to satisfy constraint: Member must not be null");
  let payload: ReturnType<typeof readPayload>;
  try {
    payload = readPayload(raw);
  } catch (e) {
    if (e instanceof InvalidPayloadError) throw validation(e.shortMessage);
    throw e;
  }
  const r = await signEthPayload(ctx, { keyId, payload, via: 'api' });
  return { KeyId: r.keyArn, Address: r.address, Signature: r.signature, Signed: r.signed };
});

export const getSigningRequestOperation = operation('GetSigningRequest', async (input, ctx) => {
  const id = input.string('RequestId', { required: true, min: 1, max: 64 });
  const { change, key } = await loadChange(ctx, id);
  if (change.kind !== 'SigningRequest') throw notFound(`Signing request '${id.slice(0, 64)}' does not exist.`);
  if (change.proposerArn !== ctx.caller.arn) {
    throw accessDenied(
      `User: ${ctx.caller.arn} is not authorized to perform: symbolon:GetSigningRequest on resource: ${keyArn(key)} because it did not make signing request ${change.changeId}`,
    );
  }
  const r = await signApprovedRequest(ctx, key, change);
  return { RequestId: change.changeId, KeyId: r.keyArn, Address: r.address, Signature: r.signature, Signed: r.signed };
});

/** The `SymbolonSigning.*` operations by name. */
export const signingOperations: ReadonlyMap<string, KmsOperation> = new Map(
  [putSigningPolicyOperation, getSigningPolicyOperation, deleteSigningPolicyOperation, signPayloadOperation, getSigningRequestOperation].map((op) => [
    op.name,
    op,
  ]),
);
