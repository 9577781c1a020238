/**
 * GenerateDataKeyPairWithoutPlaintext (AWS KMS API Reference): as
 * GenerateDataKeyPair (ECC_SECG_P256K1 or ECC_NIST_P256), but only the public
 * key (DER SPKI) and the private key encrypted under a symmetric key leave
 * the custodian; the plaintext PKCS #8 is wiped here. AWS's model has no
 * `Recipient` for this operation (a member outside the model is ignored, as
 * for every operation).
 */
import { wipe } from '../../crypto/bytes.js';
import { generateDataKeyPair as generate } from '../keystore.js';
import { prepareDataKeyPair } from '../data-key.js';
import { blobOut } from '../input.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const generateDataKeyPairWithoutPlaintext = operation('GenerateDataKeyPairWithoutPlaintext', async (input, ctx) => {
  const { key, material, spec, context } = await prepareDataKeyPair(input, ctx, 'GenerateDataKeyPairWithoutPlaintext', false);
  const { privateKey, publicKey, ciphertext } = generate(ctx.deps.root, key.keyId, material.version, material.sealed, spec, context);
  wipe(privateKey);
  return { PrivateKeyCiphertextBlob: blobOut(ciphertext), PublicKey: blobOut(publicKey), KeyId: keyArn(key), KeyPairSpec: spec };
});
