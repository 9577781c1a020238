/**
 * Share A's release to this signer, shared by a signature
 * (signWithSplitKey.ts) and a rotation (rotateSplitKey.ts): credentials for
 * the custodian on the owner's behalf; the session's attestation document
 * (reused for up to a minute, session.ts); KMS Decrypt with `Recipient`
 * under share A's context (shareContext.ts), so share A arrives as
 * CiphertextForRecipient that only this process opens. A reused document the
 * custodian no longer accepts is replaced once. An export (exportSplitKey.ts)
 * states its purpose in a fresh document of its own (src/attestation/release-purpose.ts),
 * so the custodian can tell it from a signature, audit it, and refuse it by policy.
 */
import { openForRecipientAsync, RecipientOpenError } from '../attestation/cms-enveloped-data.js';
import type { CredentialSource } from './credentials.js';
import type { DecisionAuditFields } from '../signing-policy/decisionAuditFields.js';
import { SignerError } from './errors.js';
import type { AwsCredentials, KmsRecipientClient } from './kms-client.js';
import type { AttestedSession } from './session.js';
import { encodeReleasePurpose } from '../attestation/release-purpose.js';

export const SHARE_BYTES = 32;

export function shareMismatch(): SignerError {
  return new SignerError(
    'share_mismatch',
    "Share A and share B do not rebuild the key of this address: share B was altered, is another wallet's, or is of another share generation (stale after a rotation), or the release was altered in transit.",
  );
}

type ReleaseDeps = { credentials: CredentialSource; kms: KmsRecipientClient; session: AttestedSession };

interface ReleaseRequest {
  token: string;
  tokenExp: number;
  ciphertext: Uint8Array;
  context: Record<string, string>;
  keyId: string | undefined;
  /** A signature's decision and decoded facts, for the custodian's audit event (absent for a rotation). */
  decision?: DecisionAuditFields | undefined;
  /** `export`: the attestation document states it (absent: a signature or a rotation). */
  purpose?: 'export';
}

/**
 * The custodian's Decrypt of share A with the owner's credentials and this
 * signer's attestation document; with `dryRun`, nothing is released (the
 * answer is empty). A reused document the custodian no longer accepts (its
 * session ended, or it takes each document once) is retried once with a
 * fresh one; a fresh document refused is the answer.
 */
async function decryptForThisSigner(deps: ReleaseDeps, r: ReleaseRequest, dryRun: boolean) {
  const [credentials, first] = await Promise.all([
    deps.credentials.forToken(r.token, r.tokenExp),
    r.purpose ? deps.session.statedRecipient(encodeReleasePurpose(r.purpose)) : deps.session.recipient(),
  ]);
  let recipient = first;
  const decrypt = () =>
    deps.kms.decryptForRecipient({
      credentials,
      ciphertextBlob: r.ciphertext,
      encryptionContext: r.context,
      attestationDocument: recipient.document,
      keyId: r.keyId,
      decision: r.decision,
      dryRun,
    });
  try {
    return { released: await decrypt(), recipient, credentials };
  } catch (e) {
    if (!(e instanceof SignerError && e.code === 'attestation_refused' && recipient.reused)) throw e;
    await deps.session.refused(recipient, e.reason ?? 'invalid');
    recipient = await deps.session.recipient();
    return { released: await decrypt(), recipient, credentials };
  }
}

/**
 * @returns share A (the caller wipes it) and the owner's credentials.
 * @throws {SignerError} with the custodian's refusal mapped to a stable code.
 */
export async function releaseShareA(deps: ReleaseDeps, r: ReleaseRequest): Promise<{ shareA: Uint8Array; credentials: AwsCredentials }> {
  const { released, recipient, credentials } = await decryptForThisSigner(deps, r, false);
  try {
    // The RSA-OAEP private-key operation runs on the thread pool: this thread serves other requests meanwhile.
    return { shareA: await openForRecipientAsync(released, recipient.decryptKey, SHARE_BYTES), credentials };
  } catch (e) {
    // One answer for every way the release fails to open (see cms-enveloped-data.ts).
    if (e instanceof RecipientOpenError) throw shareMismatch();
    throw e;
  }
}

/**
 * Puts a refused signature on the custodian's record: a `DryRun` Decrypt of
 * share A with the owner's credentials and this signer's attestation, carrying
 * the decision (deny or pending) and the payload's decoded facts
 * (src/kms/signer-claims.ts). Nothing is released. The custodian checks the
 * request as it would a release (the key policy, the attestation) and audits
 * it, so a split wallet's denials are in the same log as its signatures.
 * @throws {SignerError} as releaseShareA when the custodian refuses the request itself.
 */
export async function recordRefusal(
  deps: ReleaseDeps,
  r: { token: string; tokenExp: number; ciphertext: Uint8Array; context: Record<string, string>; keyId: string | undefined; decision: DecisionAuditFields },
): Promise<void> {
  await decryptForThisSigner(deps, r, true);
}
