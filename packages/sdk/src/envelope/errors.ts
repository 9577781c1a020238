/**
 * Errors of the envelope custody mode on the device: the wallet API's coded
 * errors, STS's, and the envelope's own (a ciphertext that does not open, a
 * key that does not derive the wallet's address). Messages carry codes,
 * addresses and lengths, never a token, key, ciphertext or plaintext.
 */
import { SymbolonSdkError } from '../errors.js';

/** The envelope could not be made or opened as asked (code: WALLET_EXISTS, NO_WALLET, DECRYPT_FAILED, ADDRESS_MISMATCH, OWNER_MISMATCH, …). */
export class EnvelopeError extends SymbolonSdkError {
  override name = 'EnvelopeError';
}

/** The wallet API refused a request; `code` is its stable JSON error code (wallet_exists, not_found, token_expired, …). */
export class WalletApiError extends SymbolonSdkError {
  override name = 'WalletApiError';
  constructor(
    code: string,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

/** STS refused AssumeRoleWithWebIdentity; `code` is AWS's (InvalidIdentityToken, ExpiredTokenException, AccessDenied, …). */
export class StsError extends SymbolonSdkError {
  override name = 'StsError';
  constructor(
    code: string,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}
