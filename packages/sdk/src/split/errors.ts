/**
 * Errors of the split custody mode on the device (issue 6): the client's own
 * (a wallet that exists already, a record of another mode) and the signer's
 * coded refusals (`{ "error": { "code", "message" } }` of POST /v1/sign:
 * invalid_token, share_mismatch, invalid_payload, …). Messages carry codes
 * and addresses, never a share, key, token or ciphertext.
 */
import { SymbolonSdkError } from '../errors.js';

/** A split wallet could not be created or used as asked (code: WALLET_EXISTS, NO_WALLET, NOT_SPLIT, OWNER_MISMATCH, or the signer's code). */
export class SplitError extends SymbolonSdkError {
  override name = 'SplitError';
  /** HTTP status of the signer's answer, when the signer refused. */
  readonly status: number | undefined;
  constructor(code: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(code, message, options.cause !== undefined ? { cause: options.cause } : {});
    this.status = options.status;
  }
}
