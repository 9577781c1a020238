/**
 * The `v` an Ethereum signature carries, by payload:
 *  - legacy transaction with a chain id (EIP-155): chainId * 2 + 35 + yParity;
 *  - legacy transaction without one (pre-EIP-155, Homestead): 27 + yParity;
 *  - typed transactions (EIP-2718: 2930, 1559, 4844, 7702) and EIP-7702
 *    authorizations: no `v`; the signature carries `yParity` (0 or 1) itself;
 *  - messages (EIP-191) and typed data (EIP-712): 27 + yParity. EIP-155 never
 *    applies to them: the chain id of typed data lives in its domain.
 */

export type SignedPayloadKind = 'legacy-transaction' | 'typed-transaction' | 'authorization' | 'message' | 'typed-data';

/**
 * @throws {RangeError} on a yParity other than 0 or 1, or a chain id that is not a positive safe integer.
 */
export function signatureV({ kind, yParity, chainId }: { kind: SignedPayloadKind; yParity: number; chainId?: number | undefined }): bigint {
  if (yParity !== 0 && yParity !== 1) throw new RangeError('yParity must be 0 or 1');
  switch (kind) {
    case 'legacy-transaction':
      if (chainId === undefined) return 27n + BigInt(yParity);
      if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new RangeError('chainId must be a positive integer');
      return BigInt(chainId) * 2n + 35n + BigInt(yParity);
    case 'typed-transaction':
    case 'authorization':
      return BigInt(yParity);
    case 'message':
    case 'typed-data':
      return 27n + BigInt(yParity);
  }
}
