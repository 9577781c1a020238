/**
 * Why an attestation document was refused. One stable `code` per reason, so
 * the custodian can answer in AWS's shape and the tests can tell reasons
 * apart; messages name fields, sizes and reasons only, never document bytes,
 * keys or nonces.
 */

export type AttestationErrorCode =
  /** Not a COSE_Sign1 of the shape this verifier accepts (CBOR type, size, extra bytes, missing field). */
  | 'malformed'
  /** The protected header names an algorithm other than ES384 (-35). */
  | 'unsupported_algorithm'
  /** The signing certificate is not one of the trusted platform keys. */
  | 'untrusted_platform'
  /** The ES384 signature does not verify. */
  | 'bad_signature'
  /** Older than the accepted age, or dated in the future. */
  | 'stale'
  /** Presented before (same document) or reusing a nonce already seen. */
  | 'replayed'
  /** The nonce is not the one the verifier expected. */
  | 'nonce_mismatch'
  /** The document's public_key is not a usable recipient key. */
  | 'bad_public_key';

/** An attestation document was refused; `code` is stable, the message is for people. */
export class AttestationError extends Error {
  override name = 'AttestationError';
  constructor(
    readonly code: AttestationErrorCode,
    message: string,
  ) {
    super(message);
  }
}
