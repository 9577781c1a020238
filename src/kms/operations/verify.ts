/**
 * Verify (AWS KMS API Reference): checks a DER ECDSA signature (RFC 3279
 * §2.2.3) over a message or a digest with an asymmetric key's public key.
 * RAW messages (at most 4096 bytes) are hashed with SHA-256 here; DIGEST
 * messages must be exactly 32 bytes for ECDSA_SHA_256. A wrong or malformed
 * signature is KMSInvalidSignatureException with an empty message, as AWS
 * answers. High-s signatures verify, as in AWS and OpenSSL (ECDSA accepts both
 * s and n - s; only Ethereum insists on low-s). The message never appears in
 * an error, a log line or the audit trail.
 */
import { createHash } from 'node:crypto';
import { verifyDigest } from '../keystore.js';
import { internal, invalidKeyUsage, invalidSignatureKms, validation } from '../../aws/errors.js';
import { authorize, loadMaterial, requireUsable, resolveKey } from '../keys.js';
import { decodeEcSpki, DerError } from '../../crypto/der.js';
import { dryRunSucceeded, readDryRun, sensitiveBlob } from '../crypto-fields.js';
import { AWS_SIGNING_ALGORITHMS, keyArn, MESSAGE_TYPES } from '../model.js';
import { operation } from '../operation.js';

export const verify = operation('Verify', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const message = sensitiveBlob(input, 'Message', { min: 1, max: 4096 });
  const messageType = input.enum('MessageType', MESSAGE_TYPES) ?? 'RAW';
  const signature = input.blob('Signature', { required: true, min: 1, max: 6144 });
  const algorithm = input.enum('SigningAlgorithm', AWS_SIGNING_ALGORITHMS, { required: true });
  const dryRun = readDryRun(input);
  ctx.audit.signingAlgorithm = algorithm;
  ctx.audit.messageType = messageType;

  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:Verify', key, { 'kms:SigningAlgorithm': algorithm, 'kms:MessageType': messageType });
  requireUsable(key, 'SIGN_VERIFY', 'Verify');
  if (algorithm !== 'ECDSA_SHA_256') {
    throw invalidKeyUsage(`Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`);
  }
  if (messageType === 'DIGEST' && message.length !== 32) {
    throw validation(`Digest is invalid length for algorithm ${algorithm}.`);
  }
  if (dryRun) dryRunSucceeded();
  const digest = messageType === 'DIGEST' ? message : new Uint8Array(createHash('sha256').update(message).digest());

  const material = await loadMaterial(ctx, key);
  let point: Uint8Array;
  try {
    if (!material.publicKey) throw new DerError('no public key stored');
    point = decodeEcSpki(material.publicKey).point;
  } catch (e) {
    if (e instanceof DerError) throw internal('The key material for this request is unavailable.');
    throw e;
  }
  if (!verifyDigest(key.keySpec, point, digest, signature)) throw invalidSignatureKms();
  return { KeyId: keyArn(key), SignatureValid: true, SigningAlgorithm: algorithm };
});
