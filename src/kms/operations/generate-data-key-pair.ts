/**
 * GenerateDataKeyPair (AWS KMS API Reference): a fresh EC key pair
 * (KeyPairSpec ECC_SECG_P256K1 or ECC_NIST_P256) generated in the custodian,
 * returned as PrivateKeyPlaintext (DER PKCS #8), PublicKey (DER SPKI) and
 * PrivateKeyCiphertextBlob: the PKCS #8 encrypted under a symmetric key exactly
 * as GenerateDataKey's ciphertext, with the encryption context bound, so
 * Decrypt opens it. A server-side path to an envelope wallet: the wallet's
 * secp256k1 key, born here, kept only encrypted.
 *
 * With `Recipient` (an attestation document, as Decrypt takes it), the private
 * key is returned only as CiphertextForRecipient (CMS EnvelopedData to the
 * attested key) and PrivateKeyPlaintext is absent, as AWS answers. The
 * plaintext private key is wiped once encoded into the response.
 */
import { wipe } from '../../crypto/bytes.js';
import { generateDataKeyPair as generate } from '../keystore.js';
import { prepareDataKeyPair } from '../data-key.js';
import { sealForRecipient } from '../../attestation/cms-enveloped-data.js';
import { blobOut } from '../input.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const generateDataKeyPair = operation('GenerateDataKeyPair', async (input, ctx) => {
  const { key, material, spec, context, recipient } = await prepareDataKeyPair(input, ctx, 'GenerateDataKeyPair', true);
  const { privateKey, publicKey, ciphertext } = generate(ctx.deps.root, key.keyId, material.version, material.sealed, spec, context);
  try {
    const common = { PrivateKeyCiphertextBlob: blobOut(ciphertext), PublicKey: blobOut(publicKey), KeyId: keyArn(key), KeyPairSpec: spec };
    if (recipient) return { ...common, CiphertextForRecipient: blobOut(sealForRecipient(privateKey, recipient)) };
    return { ...common, PrivateKeyPlaintext: blobOut(privateKey) };
  } finally {
    wipe(privateKey);
  }
});
