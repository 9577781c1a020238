/**
 * Share A's release to this signer, shared by a signature
 * (signWithSplitKey.ts) and a rotation (rotateSplitKey.ts): credentials for
 * the custodian on the owner's behalf; the session's attestation document
 * (reused for up to a minute, session.ts); KMS Decrypt with `Recipient`
 * under share A's context (shareContext.ts), so share A arrives as
 * CiphertextForRecipient that only this process opens. A reused document the
 * custodian no longer accepts is replaced once.
 */
import { openForRecipientAsync, RecipientOpenError } from '../attestation/cms-enveloped-data.js';
import type { CredentialSource } from './credentials.js';
import type { DecisionAuditFields } from '../signing-policy/decisionAuditFields.js';
import { SignerError } from './errors.js';
import type { AwsCredentials, KmsRecipientClient } from './kms-client.js';
import type { AttestedSession } from './session.js';

export const SHARE_BYTES = 32;

export function shareMismatch(): SignerError {
  return new SignerError(
    'share_mismatch',
    "Share A and share B do not rebuild the key of this address: share B was altered, is another wallet's, or is of another share generation (stale after a rotation), or the release was altered in transit.",
  );
}

/**
 * @returns share A (the caller wipes it) and the owner's credentials.
 * @throws {SignerError} with the custodian's refusal mapped to a stable code.
 */
export async function releaseShareA(
  deps: { credentials: CredentialSource; kms: KmsRecipientClient; session: AttestedSession },
  r: {
    token: string;
    tokenExp: number;
    ciphertext: Uint8Array;
    context: Record<string, string>;
    keyId: string | undefined;
    /** A signature's decision and decoded facts, for the custodian's audit event (absent for a rotation). */
    decision?: DecisionAuditFields | undefined;
  },
): Promise<{ shareA: Uint8Array; credentials: AwsCredentials }> {
  const [credentials, first] = await Promise.all([deps.credentials.forToken(r.token, r.tokenExp), deps.session.recipient()]);
  let recipient = first;
  const release = () =>
    deps.kms.decryptForRecipient({
      credentials,
      ciphertextBlob: r.ciphertext,
      encryptionContext: r.context,
      attestationDocument: recipient.document,
      keyId: r.keyId,
      decision: r.decision,
    });
  let released: Uint8Array;
  try {
    released = await release();
  } catch (e) {
    // A reused document the custodian no longer accepts (its session ended, or it takes each
    // document once): once, with a fresh document. A fresh document refused is the answer.
    if (!(e instanceof SignerError && e.code === 'attestation_refused' && recipient.reused)) throw e;
    await deps.session.refused(recipient, e.reason ?? 'invalid');
    recipient = await deps.session.recipient();
    released = await release();
  }
  try {
    // The RSA-OAEP private-key operation runs on the thread pool: this thread serves other requests meanwhile.
    return { shareA: await openForRecipientAsync(released, recipient.decryptKey, SHARE_BYTES), credentials };
  } catch (e) {
    // One answer for every way the release fails to open (see cms-enveloped-data.ts).
    if (e instanceof RecipientOpenError) throw shareMismatch();
    throw e;
  }
}
