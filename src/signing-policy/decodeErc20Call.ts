/**
 * Decodes the ERC-20 call a transaction's `data` makes (EIP-20: transfer,
 * transferFrom, approve), with viem's decodeFunctionData and its erc20Abi, so
 * that a signing policy can test who receives tokens and how many. Pure.
 */
import { decodeFunctionData, erc20Abi, type Hex } from 'viem';

/** A decoded ERC-20 call: `recipient` receives the tokens (transfer, transferFrom) or the allowance (approve: the spender). */
export interface Erc20Call {
  functionName: 'transfer' | 'transferFrom' | 'approve';
  /** Lowercase 0x address. */
  recipient: string;
  amount: bigint;
}

/** The three selectors decoded (keccak256 of the signature, first four bytes). */
export const ERC20_SELECTORS = {
  transfer: '0xa9059cbb',
  transferFrom: '0x23b872dd',
  approve: '0x095ea7b3',
} as const;

const DECODED = new Set<string>(Object.values(ERC20_SELECTORS));

/**
 * The ERC-20 call in `data`, or undefined when data is not one of the three
 * calls or does not decode as one (too short, for instance). As a token
 * compiled before Solidity 0.8 would, an address word with dirty high bytes
 * is read as its low 20 bytes.
 */
export function decodeErc20Call(data: Hex | undefined): Erc20Call | undefined {
  if (!data || data.length < 10 || !DECODED.has(data.slice(0, 10).toLowerCase())) return undefined;
  let decoded: ReturnType<typeof decodeFunctionData<typeof erc20Abi>>;
  try {
    decoded = decodeFunctionData({ abi: erc20Abi, data });
  } catch {
    return undefined;
  }
  switch (decoded.functionName) {
    case 'transfer':
      return { functionName: 'transfer', recipient: decoded.args[0].toLowerCase(), amount: decoded.args[1] };
    case 'transferFrom':
      return { functionName: 'transferFrom', recipient: decoded.args[1].toLowerCase(), amount: decoded.args[2] };
    case 'approve':
      return { functionName: 'approve', recipient: decoded.args[0].toLowerCase(), amount: decoded.args[1] };
    default:
      return undefined;
  }
}
