/**
 * RotateKeyOnDemand (AWS KMS API Reference): gives a symmetric encryption key
 * new material at once, whatever its automatic-rotation setting, and leaves
 * the automatic schedule as it was. Older versions are kept, so ciphertexts
 * made under them still decrypt (a ciphertext names its version). AWS allows
 * 10 on-demand rotations per key; the 11th is LimitExceededException. The
 * answer's KeyId is the key ARN, as AWS answers (API Reference example).
 */
import { resolveKeyIdOrArn } from '../aliases.js';
import { authorize, keyChanged, requireUsable } from '../keys.js';
import { requireRotatable, rotateKeyMaterial } from '../maintenance.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const rotateKeyOnDemand = operation('RotateKeyOnDemand', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:RotateKeyOnDemand', key);
  try {
    await rotateKeyMaterial(ctx.deps, key, 'ON_DEMAND', ctx.info.now, (k) => {
      requireUsable(k, k.keyUsage, 'RotateKeyOnDemand');
      requireRotatable(k);
      return true;
    });
  } finally {
    keyChanged(ctx, key.keyId);
  }
  return { KeyId: keyArn(key) };
});
