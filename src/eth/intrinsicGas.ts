/**
 * Intrinsic gas of a transaction: the least gas limit a node accepts, before
 * any execution.
 *  - 21,000 base; +32,000 for contract creation (EIP-2, Homestead);
 *  - calldata 4 per zero byte, 16 per non-zero byte (EIP-2028, Istanbul);
 *  - init code 2 per 32-byte word on creation (EIP-3860, Shanghai);
 *  - access list 2,400 per address, 1,900 per storage key (EIP-2930);
 *  - 25,000 per EIP-7702 authorization (PER_EMPTY_ACCOUNT_COST, Prague);
 *  - from Prague, the limit must also cover the calldata floor
 *    21,000 + 10 * tokens, tokens = zero bytes + 4 * non-zero bytes (EIP-7623).
 */

export type Fork = 'london' | 'shanghai' | 'cancun' | 'prague';

const FORK_ORDER: Record<Fork, number> = { london: 0, shanghai: 1, cancun: 2, prague: 3 };

/** True when `fork` includes the rules of `since`. */
export function forkAtLeast(fork: Fork, since: Fork): boolean {
  return FORK_ORDER[fork] >= FORK_ORDER[since];
}

export interface IntrinsicGasInput {
  data: Uint8Array;
  isCreate: boolean;
  accessListAddresses?: number;
  accessListStorageKeys?: number;
  authorizations?: number;
  fork: Fork;
}

/**
 * The gas limit a transaction needs at least: max(intrinsic gas, the EIP-7623 floor from Prague).
 * @throws {TypeError} when `data` is not a Uint8Array.
 */
export function intrinsicGas({ data, isCreate, accessListAddresses = 0, accessListStorageKeys = 0, authorizations = 0, fork }: IntrinsicGasInput): bigint {
  if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
  let zeros = 0;
  for (const b of data) if (b === 0) zeros++;
  const nonZeros = data.length - zeros;
  let gas = 21_000n + BigInt(zeros) * 4n + BigInt(nonZeros) * 16n;
  if (isCreate) {
    gas += 32_000n;
    if (forkAtLeast(fork, 'shanghai')) gas += 2n * BigInt(Math.ceil(data.length / 32));
  }
  gas += BigInt(accessListAddresses) * 2_400n + BigInt(accessListStorageKeys) * 1_900n;
  gas += BigInt(authorizations) * 25_000n;
  if (forkAtLeast(fork, 'prague')) {
    const floor = 21_000n + 10n * (BigInt(zeros) + 4n * BigInt(nonZeros));
    if (floor > gas) gas = floor;
  }
  return gas;
}
