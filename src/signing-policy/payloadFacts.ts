/**
 * The facts of an Ethereum payload (src/eth/payload.ts's SignPayload) as the
 * condition keys of a signing policy (src/signing-policy/keys.ts,
 * docs/signing-policy.md). A key a payload does not have is absent — eth:To
 * of a contract creation, eth:Value of a message — and absent keys follow
 * IAM's rules (a positive operator is false, a negated one true, `IfExists`
 * true, `Null` tests it). Numbers are exact bigints, addresses lowercase.
 * Pure.
 */
import { getTransactionType, type Hex, type TransactionSerializable, type TypedDataDefinition } from 'viem';
import type { SignPayload } from '../eth/payload.js';
import { decodeErc20Call } from './decodeErc20Call.js';

/** A key's values: their text (decimal for numbers), and for numeric keys the same values as bigints. */
export interface FactValues {
  text: string[];
  numbers: bigint[];
}

/** The facts of one payload, by lowercase condition key. */
export type PayloadFacts = Map<string, FactValues>;

const MAX_UINT256 = (1n << 256n) - 1n;

function num(facts: PayloadFacts, key: string, values: readonly bigint[]): void {
  if (values.length > 0) facts.set(key, { text: values.map((v) => v.toString(10)), numbers: [...values] });
}

function str(facts: PayloadFacts, key: string, values: readonly string[]): void {
  if (values.length > 0) facts.set(key, { text: [...values], numbers: [] });
}

/** A typed-data value as an exact integer: number, bigint, decimal or 0x-hex string; undefined otherwise. */
function toInteger(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v >= 0n && v <= MAX_UINT256 ? v : undefined;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v === 'string' && (/^(0|[1-9]\d{0,77})$/.test(v) || /^0x[0-9a-fA-F]{1,64}$/.test(v))) {
    const n = BigInt(v);
    return n <= MAX_UINT256 ? n : undefined;
  }
  return undefined;
}

function toAddress(v: unknown): string | undefined {
  return typeof v === 'string' && /^0x[0-9a-fA-F]{40}$/.test(v) ? v.toLowerCase() : undefined;
}

function transactionFacts(facts: PayloadFacts, tx: TransactionSerializable): void {
  let type: string | undefined = tx.type;
  try {
    type = getTransactionType(tx);
  } catch {
    // viem cannot tell the type: the payload reader's `type`, if any, stands.
  }
  if (type) str(facts, 'eth:transactiontype', [type]);
  if (tx.chainId !== undefined) num(facts, 'eth:chainid', [BigInt(tx.chainId)]);
  // Contract creation: no `to`, so eth:To is absent (docs/signing-policy.md: test it with Null).
  if (tx.to) str(facts, 'eth:to', [tx.to.toLowerCase()]);
  num(facts, 'eth:value', [tx.value ?? 0n]);
  if (tx.gas !== undefined) num(facts, 'eth:gaslimit', [tx.gas]);
  // The most the sender may pay per gas: maxFeePerGas (EIP-1559 and later), else gasPrice.
  const fee = 'maxFeePerGas' in tx && tx.maxFeePerGas !== undefined ? tx.maxFeePerGas : 'gasPrice' in tx ? tx.gasPrice : undefined;
  if (fee !== undefined) num(facts, 'eth:maxfeepergas', [fee]);
  const data = tx.data as Hex | undefined;
  if (data && data.length > 2) {
    // Data shorter than a selector still calls the contract (its fallback): it is its own "selector", never absent.
    str(facts, 'eth:functionselector', [data.slice(0, Math.min(10, data.length)).toLowerCase()]);
    const call = decodeErc20Call(data);
    if (call) {
      str(facts, 'eth:erc20recipient', [call.recipient]);
      num(facts, 'eth:erc20amount', [call.amount]);
    }
  }
  if ('authorizationList' in tx && tx.authorizationList) {
    const delegates = tx.authorizationList.map((a) =>
      toAddress((a as { address?: string; contractAddress?: string }).address ?? (a as { contractAddress?: string }).contractAddress),
    );
    // A delegate that cannot be read is kept as the empty string: it matches no allowed address.
    str(
      facts,
      'eth:authorizationaddress',
      delegates.map((d) => d ?? ''),
    );
  }
}

/** EIP-2612 Permit, DAI's Permit and Permit2's PermitSingle/PermitBatch: the spender and the allowance, as eth:Erc20Recipient/Amount. */
function permitFacts(facts: PayloadFacts, primaryType: string, message: Record<string, unknown>): void {
  const spender = toAddress(message.spender);
  if (!spender) return;
  const amounts: bigint[] = [];
  if (primaryType === 'Permit') {
    // EIP-2612 has `value`; DAI's permit has `allowed` (true: the maximum allowance).
    if ('value' in message) {
      const v = toInteger(message.value);
      if (v === undefined) return;
      amounts.push(v);
    } else if (typeof message.allowed === 'boolean') amounts.push(message.allowed ? MAX_UINT256 : 0n);
    else return;
  } else if (primaryType === 'PermitSingle' || primaryType === 'PermitBatch') {
    const details = primaryType === 'PermitSingle' ? [message.details] : Array.isArray(message.details) ? message.details : [];
    for (const d of details) {
      const v = typeof d === 'object' && d !== null ? toInteger((d as Record<string, unknown>).amount) : undefined;
      // An amount that cannot be read counts as the maximum: a limit must not miss it.
      amounts.push(v ?? MAX_UINT256);
    }
    if (amounts.length === 0) return;
  } else return;
  str(facts, 'eth:erc20recipient', [spender]);
  num(facts, 'eth:erc20amount', amounts);
}

function typedDataFacts(facts: PayloadFacts, td: TypedDataDefinition): void {
  const domain = (td.domain ?? {}) as Record<string, unknown>;
  if (typeof domain.name === 'string') str(facts, 'eth:typeddatadomainname', [domain.name]);
  const chainId = toInteger(domain.chainId);
  if (chainId !== undefined) {
    num(facts, 'eth:typeddatachainid', [chainId]);
    // The chain a signature over typed data is good for is its domain's: eth:ChainId says the same, so a
    // policy pinning eth:ChainId cannot be passed with typed data bound to another chain (or to none).
    num(facts, 'eth:chainid', [chainId]);
  }
  const vc = toAddress(domain.verifyingContract);
  if (vc) str(facts, 'eth:typeddataverifyingcontract', [vc]);
  str(facts, 'eth:typeddataprimarytype', [String(td.primaryType)]);
  const message = (td as { message?: unknown }).message;
  if (typeof message === 'object' && message !== null) permitFacts(facts, String(td.primaryType), message as Record<string, unknown>);
}

/** The condition keys of a payload. */
export function payloadFacts(payload: SignPayload): PayloadFacts {
  const facts: PayloadFacts = new Map();
  str(facts, 'eth:payloadtype', [payload.type]);
  switch (payload.type) {
    case 'transaction':
      transactionFacts(facts, payload.transaction);
      break;
    case 'typedData':
      typedDataFacts(facts, payload.typedData);
      break;
    case 'authorization': {
      const a = payload.authorization as unknown as { address?: string; contractAddress?: string; chainId: number };
      num(facts, 'eth:chainid', [BigInt(a.chainId)]);
      str(facts, 'eth:authorizationaddress', [toAddress(a.address ?? a.contractAddress) ?? '']);
      break;
    }
    case 'message':
      break;
  }
  return facts;
}
