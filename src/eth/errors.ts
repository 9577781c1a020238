/**
 * Errors raised by the Ethereum encodings (viem's BaseError shape, trimmed):
 * a stable `code`, a one-line `shortMessage`, optional `details`, and the
 * `cause`. Messages carry field names, lengths and ids only — never a payload,
 * a digest, a signature or a key.
 */

export interface EthErrorOptions {
  details?: string;
  cause?: unknown;
}

/** Base class of every error src/eth raises. */
export class EthError extends Error {
  override name = 'EthError';
  readonly code: string;
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(code: string, shortMessage: string, options: EthErrorOptions = {}) {
    super(
      options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/** The digest signer returned something that is not a usable secp256k1 signature. */
export class InvalidSignatureError extends EthError {
  override name = 'InvalidSignatureError';
}

/**
 * The signature does not recover to the expected address with either parity:
 * the signer used another key, or signed another digest.
 */
export class SignerMismatchError extends EthError {
  override name = 'SignerMismatchError';
  constructor(options: EthErrorOptions = {}) {
    super('SIGNER_MISMATCH', 'Signature does not recover to the expected address.', options);
  }
}

/** A public key that is not a valid secp256k1 point in an accepted encoding. */
export class InvalidPublicKeyError extends EthError {
  override name = 'InvalidPublicKeyError';
}

/**
 * A serialized transaction that a node would refuse. `code` follows the
 * ethereum/tests TransactionException names where one fits (e.g.
 * `RLP_LEADING_ZEROS`, `INVALID_CHAINID`, `INTRINSIC_GAS_TOO_LOW`).
 */
export class InvalidTransactionError extends EthError {
  override name = 'InvalidTransactionError';
}

/** A transaction, message or authorization that cannot be signed as given. */
export class UnsignablePayloadError extends EthError {
  override name = 'UnsignablePayloadError';
}

/**
 * A sign request's payload that is not a signable Ethereum payload as given
 * (src/eth/payload.ts); the message names the field or the bound, never a value.
 */
export class InvalidPayloadError extends EthError {
  override name = 'InvalidPayloadError';
  constructor(shortMessage: string) {
    super('invalid_payload', shortMessage);
  }
}
