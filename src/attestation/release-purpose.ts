/**
 * The purpose of a split-share release, stated by the signer in the
 * `user_data` of the attestation document it presents as KMS `Recipient`
 * (docs/signer.md, "Export"). The platform signs `user_data` with the rest of
 * the document, and only the measured signer image asks for documents, so a
 * custodian that trusts the image trusts what it says the release is for.
 *
 * The custodian turns it into the condition key `symbolon:SplitSharePurpose`
 * (`sign` when the document states no purpose: signatures and share
 * rotations; `export` for an owner's key export), which key policies can
 * test — e.g. a Deny on `kms:Decrypt` with `StringEquals` `export` forbids
 * exports of that owner's wallet — and records it in the Decrypt's audit event.
 */

/** The condition key a key policy tests. */
export const RELEASE_PURPOSE_KEY = 'symbolon:SplitSharePurpose';

export type ReleasePurpose = 'sign' | 'export';

const PREFIX = 'symbolon:split-share-purpose=';
const STATED: ReadonlySet<string> = new Set(['export']);

/** The `user_data` bytes that state `purpose` (only `export` is stated; `sign` is the absence of a statement). */
export function encodeReleasePurpose(purpose: 'export'): Uint8Array {
  return new TextEncoder().encode(`${PREFIX}${purpose}`);
}

/**
 * The purpose a document's `user_data` states; `sign` when it has none.
 * @throws {RangeError} when `user_data` is present but is not a purpose this custodian knows
 *   (a release whose purpose cannot be told is refused, never taken for a signature).
 */
export function decodeReleasePurpose(userData: Uint8Array | undefined): ReleasePurpose {
  if (userData === undefined || userData.length === 0) return 'sign';
  const text = new TextDecoder('utf-8', { fatal: false }).decode(userData);
  const purpose = text.startsWith(PREFIX) ? text.slice(PREFIX.length) : '';
  if (!STATED.has(purpose)) throw new RangeError('the attestation user_data does not state a known release purpose');
  return purpose as ReleasePurpose;
}
