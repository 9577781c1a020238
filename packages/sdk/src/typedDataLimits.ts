/**
 * The SDK's side of the typed-data bounds (issue #12, item 4): every SDK path
 * that hashes EIP-712 typed data (toKmsAccount, KmsSigner) or sends it to the
 * signer (SplitWalletClient) checks the bounds the signer and the frame check
 * (./checkTypedDataLimits.ts) first, and answers in the SDK's error shape.
 */
import { checkTypedDataLimits, TypedDataLimitError } from './checkTypedDataLimits.js';
import { UnsignableError } from './errors.js';

/**
 * @throws {UnsignableError} code TYPED_DATA_LIMIT, naming the bound crossed (never a value).
 */
export function assertTypedDataWithinLimits(typedData: unknown): void {
  try {
    checkTypedDataLimits(typedData);
  } catch (e) {
    if (e instanceof TypedDataLimitError) throw new UnsignableError('TYPED_DATA_LIMIT', e.message);
    throw e;
  }
}
