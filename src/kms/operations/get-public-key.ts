/**
 * GetPublicKey (AWS KMS API Reference): the public key of an asymmetric key
 * as DER SubjectPublicKeyInfo (RFC 5480), with its spec, usage and signing
 * algorithms. Only public material is stored for it (kms_key_material.public_key),
 * so nothing private is opened here. Symmetric and HMAC keys have no public
 * key: UnsupportedOperationException. A disabled key still answers, as AWS's
 * does; a key pending deletion does not.
 */
import { authorize, loadMaterial, requireNotPendingDeletion, resolveKey } from '../keys.js';
import { internal, unsupportedOperation } from '../../aws/errors.js';
import { blobOut } from '../input.js';
import { keyArn, SIGNING_ALGORITHMS } from '../model.js';
import { operation } from '../operation.js';
import { readGrantTokens } from '../grants.js';

export const getPublicKey = operation('GetPublicKey', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  readGrantTokens(input);

  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:GetPublicKey', key);
  requireNotPendingDeletion(key);
  const arn = keyArn(key);
  if (key.keyUsage !== 'SIGN_VERIFY') {
    throw unsupportedOperation(`${arn} key usage is ${key.keyUsage} which is not valid for GetPublicKey.`);
  }
  const material = await loadMaterial(ctx, key);
  if (!material.publicKey) throw internal('The key material for this request is unavailable.');
  return {
    KeyId: arn,
    PublicKey: blobOut(material.publicKey),
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    KeyUsage: key.keyUsage,
    SigningAlgorithms: [...SIGNING_ALGORITHMS],
  };
});
