/**
 * VerifyMac (AWS KMS API Reference): recomputes the HMAC under an HMAC key
 * (the algorithm of its spec, as GenerateMac) and compares it with the given MAC in constant time
 * (keystore.verifyMac). A mismatch is KMSInvalidMacException with an empty
 * message, as AWS answers.
 */
import { verifyMac as verify } from '../keystore.js';
import { invalidMac } from '../../aws/errors.js';
import { authorize, loadMaterial, requireUsable, resolveKey } from '../keys.js';
import { dryRunSucceeded, readDryRun, requireMacAlgorithm, sensitiveBlob } from '../crypto-fields.js';
import { AWS_MAC_ALGORITHMS, keyArn } from '../model.js';
import { operation } from '../operation.js';

export const verifyMac = operation('VerifyMac', async (input, ctx) => {
  const message = sensitiveBlob(input, 'Message', { min: 1, max: 4096 });
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const algorithm = input.enum('MacAlgorithm', AWS_MAC_ALGORITHMS, { required: true });
  const mac = input.blob('Mac', { required: true, min: 1, max: 6144 });
  const dryRun = readDryRun(input);

  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:VerifyMac', key, { 'kms:MacAlgorithm': algorithm });
  requireUsable(key, 'GENERATE_VERIFY_MAC', 'VerifyMac');
  requireMacAlgorithm(key, algorithm);
  if (dryRun) dryRunSucceeded();

  const material = await loadMaterial(ctx, key);
  if (!verify(ctx.deps.root, key.keySpec, key.keyId, material.version, material.sealed, message, mac)) throw invalidMac();
  return { KeyId: keyArn(key), MacValid: true, MacAlgorithm: algorithm };
});
