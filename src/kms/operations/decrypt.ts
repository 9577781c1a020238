/**
 * Decrypt (AWS KMS API Reference): opens a blob made by Encrypt,
 * GenerateDataKey* or ReEncrypt. KeyId is optional, as in AWS: the blob names
 * its key and material version, and decryption uses that version, so blobs
 * made before a rotation still open. A KeyId naming another key is
 * IncorrectKeyException; a wrong or missing encryption context, an altered or
 * foreign blob is InvalidCiphertextException with an empty message. The
 * plaintext is wiped once encoded into the response.
 *
 * With `Recipient` (an attestation document from an enclave, or from the
 * simulated platform that launches the signer), the document is verified
 * first, its measurements become the `kms:RecipientAttestation:ImageSha384`
 * and `kms:RecipientAttestation:PCR<n>` condition keys, and the plaintext is
 * returned only as `CiphertextForRecipient`: CMS EnvelopedData encrypted to the
 * document's public key, as AWS KMS does. `Plaintext` is then absent. The
 * split signer's signing decision may come with it (signer-claims.ts) and
 * becomes the audit event's `eth` fields.
 * The attestation document's stated release purpose (`symbolon:SplitSharePurpose`, `sign` or
 * `export`, src/attestation/release-purpose.ts) is a condition key too, and an
 * export is marked on the audit event.
 *
 * A context that names an `address` is a split wallet's share A: a retired
 * share generation is refused and an attested release of a newer one retires
 * the older (share-generation.ts).
 */
import { requireUsable } from '../keys.js';
import { wipe } from '../../crypto/bytes.js';
import { openCiphertext, resolveCiphertextKey } from '../ciphertext.js';
import { admitShareGeneration } from '../share-generation.js';
import { attestRecipient, dryRunSucceeded, readDryRun, readEncryptionAlgorithm, readRecipient, requireEncryptionAlgorithm } from '../crypto-fields.js';
import { sealForRecipient } from '../../attestation/cms-enveloped-data.js';
import { encryptionContextConditions, readEncryptionContext } from '../encryption-context.js';
import { blobOut } from '../input.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';
import { readSignerClaims } from '../signer-claims.js';

export const decrypt = operation('Decrypt', async (input, ctx) => {
  const blob = input.blob('CiphertextBlob', { required: true, min: 1, max: 6144 });
  const keyId = input.string('KeyId', { min: 1, max: 2048 });
  const context = readEncryptionContext(input);
  const algorithm = readEncryptionAlgorithm(input, 'EncryptionAlgorithm');
  const dryRun = readDryRun(input);
  const recipientField = readRecipient(input);
  if (context) ctx.audit.encryptionContext = context;
  const recipient = recipientField ? attestRecipient(ctx, recipientField) : undefined;
  const claims = readSignerClaims(input, recipient !== undefined, dryRun);
  if (claims) ctx.audit.eth = claims;
  // Audited whether allowed or denied: an export attempt is on the record as one (docs/signer.md, "Export").
  if (recipient?.purpose === 'export') ctx.audit.releasePurpose = 'export';

  const { key, version } = await resolveCiphertextKey(ctx, blob, keyId, 'kms:Decrypt', {
    'kms:EncryptionAlgorithm': algorithm,
    ...encryptionContextConditions(context),
    ...recipient?.conditions,
  });
  requireUsable(key, 'ENCRYPT_DECRYPT', 'Decrypt');
  requireEncryptionAlgorithm(key, algorithm);
  if (dryRun) dryRunSucceeded();

  const plaintext = await openCiphertext(ctx, key, version, blob, context);
  try {
    // A split wallet's retired share generation is refused; an attested release of a newer one retires the older.
    await admitShareGeneration(ctx, { key, context, blob, attested: recipient !== undefined });
    if (recipient) {
      return { KeyId: keyArn(key), CiphertextForRecipient: blobOut(sealForRecipient(plaintext, recipient)), EncryptionAlgorithm: algorithm };
    }
    return { KeyId: keyArn(key), Plaintext: blobOut(plaintext), EncryptionAlgorithm: algorithm };
  } finally {
    wipe(plaintext);
  }
});
