/**
 * Sign: an ECDSA signature (DER) over a message or a digest with an asymmetric
 * key. RAW messages (at most 4096 bytes) are hashed with SHA-256 here; DIGEST
 * messages must be exactly 32 bytes for ECDSA_SHA_256. The message never
 * appears in an error, a log line or the audit trail. On a key with a signing
 * policy, Sign is refused unless the key policy allows symbolon:SignRawDigest
 * (src/kms/signing-policy.ts): the policy cannot see what a digest is.
 */
import { createHash } from 'node:crypto';
import { signDigest } from '../keystore.js';
import { authorize, loadMaterial, requireUsable, resolveKey } from '../keys.js';
import { invalidKeyUsage, validation } from '../../aws/errors.js';
import { AWS_SIGNING_ALGORITHMS, keyArn, MESSAGE_TYPES } from '../model.js';
import { blobOut } from '../input.js';
import { operation } from '../operation.js';
import { dryRunSucceeded, readDryRun } from '../crypto-fields.js';
import { requireRawSigningAllowed } from '../signing-policy.js';

/** Response header of Sign with a secp256k1 key: the signature's recovery id (0 or 1), see docs/eth.md. */
export const RECOVERY_ID_HEADER = 'x-symbolon-recovery-id';

export const sign = operation('Sign', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const message = input.blob('Message', { required: true, min: 1, max: 4096 });
  const messageType = input.enum('MessageType', MESSAGE_TYPES) ?? 'RAW';
  const algorithm = input.enum('SigningAlgorithm', AWS_SIGNING_ALGORITHMS, { required: true });
  const dryRun = readDryRun(input);
  ctx.audit.signingAlgorithm = algorithm;
  ctx.audit.messageType = messageType;

  const key = await resolveKey(ctx, keyId, { signingPolicy: true });
  const conditions = { 'kms:SigningAlgorithm': algorithm, 'kms:MessageType': messageType };
  await authorize(ctx, 'kms:Sign', key, conditions);
  // A key with a signing policy signs decoded payloads only, unless its key policy names raw signing (docs/signing-policy.md).
  await requireRawSigningAllowed(ctx, key, conditions);
  requireUsable(key, 'SIGN_VERIFY', 'Sign');
  if (algorithm !== 'ECDSA_SHA_256') {
    throw invalidKeyUsage(`Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`);
  }
  let digest: Uint8Array;
  if (messageType === 'DIGEST') {
    if (message.length !== 32) throw validation(`Digest is invalid length for algorithm ${algorithm}.`);
    digest = message;
  } else {
    digest = new Uint8Array(createHash('sha256').update(message).digest());
  }
  if (dryRun) dryRunSucceeded();
  const material = await loadMaterial(ctx, key);
  const { der, recoveryId } = signDigest(ctx.deps.root, key.keySpec, key.keyId, material.version, material.sealed, digest);
  // Not part of AWS's API (clients ignore unknown headers): the recovery id saves an Ethereum client one of its
  // two trial recoveries when it derives yParity. It is a hint — @symbolon/sdk still verifies by recovery.
  if (recoveryId !== undefined) ctx.responseHeaders = { [RECOVERY_ID_HEADER]: String(recoveryId) };
  return { KeyId: keyArn(key), Signature: blobOut(der), SigningAlgorithm: algorithm };
});
