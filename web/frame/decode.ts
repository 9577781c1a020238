/**
 * What the frame shows the user before a signature: each request decoded into
 * labelled fields — recipient, value in ETH, chain, contract method selector
 * (named when it is a well-known ERC-20/721 method, with its arguments), fees;
 * an EIP-191 message as text when it is text; EIP-712 typed data is shown by
 * ./typed-data-view.ts. Warnings flag what users are tricked with most:
 * a chain other than the current one, unlimited approvals, messages that are
 * really hashes (blind signing). Pure functions: no DOM, no I/O.
 */
import { decodeAbiParameters, formatEther, formatGwei, hexToBytes, parseAbiParameters, type Hex } from 'viem';

export interface Field {
  label: string;
  value: string;
  /** Shown in a monospace font (addresses, hashes, raw data). */
  mono?: boolean;
  /** Highlighted: the user should read this one twice. */
  warn?: boolean;
  /** A heading the field is shown under (consecutive fields with the same group share it). */
  group?: string;
}

export interface Prompt {
  title: string;
  /** One line under the title. */
  summary: string;
  fields: Field[];
  /** A long block (typed-data message, message text), shown scrollable. */
  block?: { label: string; text: string };
  /** The request as given (e.g. typed data's JSON), collapsed until the user opens it. */
  raw?: { label: string; text: string };
  warnings: string[];
  /** A split wallet's signing policy decision (docs/frame.md): shown above Approve; refused keeps Approve disabled. */
  policy?: PolicyNote;
}

/** The owner's signing policy's decision on a request, as the approval screen shows it. */
export interface PolicyNote {
  /** false: the policy refuses it, and Approve stays disabled. */
  allowed: boolean;
  text: string;
}

/** Well-known chains, overridden and extended by the frame's configuration. */
const KNOWN_CHAINS: Record<number, string> = {
  1: 'Ethereum',
  10: 'OP Mainnet',
  56: 'BNB Smart Chain',
  137: 'Polygon',
  8453: 'Base',
  42161: 'Arbitrum One',
  11155111: 'Sepolia',
  17000: 'Holesky',
  31337: 'Local chain (Hardhat)',
};

/** "Name (id)" for a chain id. */
export function chainLabel(chainId: number, names: Readonly<Record<string, string>>): string {
  const name = names[String(chainId)] ?? KNOWN_CHAINS[chainId];
  return name ? `${name} (chain ${chainId})` : `Chain ${chainId}`;
}

const MAX_UINT256 = 2n ** 256n - 1n;

/** Well-known method selectors (first 4 bytes of keccak256 of the signature) and their argument types. */
const SELECTORS: Record<string, { name: string; args?: string; labels?: string[] }> = {
  '0xa9059cbb': { name: 'transfer(address,uint256)', args: 'address, uint256', labels: ['Token recipient', 'Token amount (base units)'] },
  '0x095ea7b3': { name: 'approve(address,uint256)', args: 'address, uint256', labels: ['Spender', 'Allowance (base units)'] },
  '0x23b872dd': { name: 'transferFrom(address,address,uint256)', args: 'address, address, uint256', labels: ['Token from', 'Token to', 'Amount or token id'] },
  '0xa22cb465': { name: 'setApprovalForAll(address,bool)', args: 'address, bool', labels: ['Operator', 'Approved'] },
  '0x42842e0e': { name: 'safeTransferFrom(address,address,uint256)', args: 'address, address, uint256', labels: ['Token from', 'Token to', 'Token id'] },
  '0xd0e30db0': { name: 'deposit()' },
  '0x2e1a7d4d': { name: 'withdraw(uint256)', args: 'uint256', labels: ['Amount (wei)'] },
};

function eth(wei: bigint): string {
  return `${formatEther(wei)} ETH`;
}

/** The connection request. */
export function describeConnect(origin: string, address: string): Prompt {
  return {
    title: 'Connect to this site?',
    summary: `${origin} asks to see your wallet address.`,
    fields: [
      { label: 'Site', value: origin, mono: true },
      { label: 'Your address', value: address, mono: true },
    ],
    warnings: [],
  };
}

function printable(text: string): boolean {
  // Letters, marks, numbers, punctuation, symbols and ordinary whitespace; no control or format characters.
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}\n\r\t]*$/u.test(text);
}

/** personal_sign (EIP-191 version 0x45): the message as text when it decodes as printable UTF-8. */
export function describeMessage(origin: string, message: Hex, address: string, chain: string): Prompt {
  const bytes = hexToBytes(message);
  let text: string | undefined;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (!printable(text)) text = undefined;
  } catch {
    text = undefined;
  }
  const warnings: string[] = [];
  if (text === undefined && bytes.length === 32) {
    warnings.push('This message is 32 raw bytes — it may be the hash of a transaction or an order. Sign it only if you know what it is.');
  }
  return {
    title: 'Sign a message',
    summary: `${origin} asks you to sign a message (EIP-191). It cannot move funds by itself.`,
    fields: [
      { label: 'Site', value: origin, mono: true },
      { label: 'Account', value: address, mono: true },
      { label: 'Chain', value: chain },
      { label: 'Length', value: `${bytes.length} bytes` },
    ],
    block: text !== undefined ? { label: 'Message', text } : { label: 'Message (hex)', text: message },
    warnings,
  };
}

export type { TypedDataInput } from './typed-data-view.js';

/** A transaction in the shape the frame signs. */
export interface TransactionView {
  type: 'legacy' | 'eip2930' | 'eip1559';
  chainId: number;
  to?: Hex;
  value: bigint;
  data: Hex;
  nonce: number;
  gas: bigint;
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
}

function decodeCall(data: Hex): { fields: Field[]; warnings: string[] } {
  const fields: Field[] = [];
  const warnings: string[] = [];
  if (data === '0x') return { fields, warnings };
  if (data.length < 10) {
    fields.push({ label: 'Data', value: data, mono: true });
    return { fields, warnings };
  }
  const selector = data.slice(0, 10).toLowerCase();
  const known = SELECTORS[selector];
  fields.push({
    label: 'Contract method',
    value: known ? `${known.name} — selector ${selector}` : `Unknown method — selector ${selector}`,
    mono: true,
    warn: !known,
  });
  if (known?.args) {
    try {
      const values = decodeAbiParameters(parseAbiParameters(known.args), `0x${data.slice(10)}`);
      values.forEach((v, i) => {
        const label = known.labels?.[i] ?? `Argument ${i + 1}`;
        if (typeof v === 'bigint' && v === MAX_UINT256 && selector === '0x095ea7b3') {
          fields.push({ label, value: 'Unlimited', warn: true });
          warnings.push('This approval is unlimited: the spender could move all of this token you hold, now or later.');
        } else {
          fields.push({ label, value: String(v), mono: typeof v === 'string' });
        }
      });
      if (selector === '0xa22cb465' && values[1] === true) warnings.push('This gives the operator control of every token of this collection you hold.');
    } catch {
      fields.push({ label: 'Arguments', value: 'Do not decode as this method expects', warn: true });
    }
  }
  fields.push({ label: 'Data', value: `${(data.length - 2) / 2} bytes`, mono: false });
  return { fields, warnings };
}

/** eth_signTransaction / eth_sendTransaction. */
export function describeTransaction(
  origin: string,
  tx: TransactionView,
  address: string,
  currentChainId: number,
  chainNames: Readonly<Record<string, string>>,
): Prompt {
  const warnings: string[] = [];
  const fields: Field[] = [
    { label: 'Site', value: origin, mono: true },
    { label: 'From', value: address, mono: true },
    tx.to ? { label: 'To', value: tx.to, mono: true } : { label: 'To', value: 'New contract (deployment)', warn: true },
    { label: 'Value', value: eth(tx.value) },
    { label: 'Chain', value: chainLabel(tx.chainId, chainNames), warn: tx.chainId !== currentChainId },
  ];
  if (tx.chainId !== currentChainId)
    warnings.push(`The transaction is for a different chain than the current one (${chainLabel(currentChainId, chainNames)}).`);
  const call = decodeCall(tx.data);
  fields.push(...call.fields);
  warnings.push(...call.warnings);
  fields.push({ label: 'Nonce', value: String(tx.nonce) }, { label: 'Gas limit', value: tx.gas.toString() });
  const perGas = tx.maxFeePerGas ?? tx.gasPrice ?? 0n;
  if (tx.type === 'eip1559') {
    fields.push(
      { label: 'Max fee per gas', value: `${formatGwei(tx.maxFeePerGas ?? 0n)} gwei` },
      { label: 'Priority fee per gas', value: `${formatGwei(tx.maxPriorityFeePerGas ?? 0n)} gwei` },
    );
  } else {
    fields.push({ label: 'Gas price', value: `${formatGwei(tx.gasPrice ?? 0n)} gwei` });
  }
  fields.push({ label: 'Most it can cost', value: eth(tx.value + tx.gas * perGas) });
  return {
    title: tx.to ? (tx.data === '0x' ? 'Send ETH' : 'Call a contract') : 'Deploy a contract',
    summary: `${origin} asks you to sign a transaction.`,
    fields,
    warnings,
  };
}
