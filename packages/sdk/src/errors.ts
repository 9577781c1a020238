/**
 * Errors the SDK raises (viem's BaseError shape, trimmed): a stable `code`, a
 * one-line `shortMessage`, optional `details`, and the `cause`. Messages name
 * key ids and lengths, never a payload, digest or signature.
 */

/** Base class of every error @symbolon/sdk raises. */
export class SymbolonSdkError extends Error {
  override name = 'SymbolonSdkError';
  readonly code: string;
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(code: string, shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
    super(
      options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/** The KMS key is not a secp256k1 signing key, or its public key is malformed. */
export class KmsKeyError extends SymbolonSdkError {
  override name = 'KmsKeyError';
}

/** KMS returned a signature that is malformed or is not by the key's address over the digest. */
export class KmsSignatureError extends SymbolonSdkError {
  override name = 'KmsSignatureError';
}

/** A transaction, message or authorization that this signer cannot sign as given. */
export class UnsignableError extends SymbolonSdkError {
  override name = 'UnsignableError';
}
