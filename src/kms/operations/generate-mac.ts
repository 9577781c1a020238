/**
 * GenerateMac (AWS KMS API Reference): HMAC (RFC 2104) of a message of
 * 1..4096 bytes under an HMAC key, with the one algorithm of the key's spec
 * (HMAC_SHA_224 for HMAC_224, … HMAC_SHA_512 for HMAC_512). Any other
 * MacAlgorithm is InvalidKeyUsageException in AWS's wording. The message never appears in an
 * error, a log line or the audit trail.
 */
import { generateMac as mac } from '../keystore.js';
import { authorize, loadMaterial, requireUsable, resolveKey } from '../keys.js';
import { dryRunSucceeded, readDryRun, requireMacAlgorithm, sensitiveBlob } from '../crypto-fields.js';
import { blobOut } from '../input.js';
import { AWS_MAC_ALGORITHMS, keyArn } from '../model.js';
import { operation } from '../operation.js';

export const generateMac = operation('GenerateMac', async (input, ctx) => {
  const message = sensitiveBlob(input, 'Message', { min: 1, max: 4096 });
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const algorithm = input.enum('MacAlgorithm', AWS_MAC_ALGORITHMS, { required: true });
  const dryRun = readDryRun(input);

  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:GenerateMac', key, { 'kms:MacAlgorithm': algorithm });
  requireUsable(key, 'GENERATE_VERIFY_MAC', 'GenerateMac');
  requireMacAlgorithm(key, algorithm);
  if (dryRun) dryRunSucceeded();

  const material = await loadMaterial(ctx, key);
  const tag = mac(ctx.deps.root, key.keySpec, key.keyId, material.version, material.sealed, message);
  return { Mac: blobOut(tag), MacAlgorithm: algorithm, KeyId: keyArn(key) };
});
