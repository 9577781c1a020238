/**
 * Checks the parameters of the signing requests a DApp sends the frame. The
 * frame trusts nothing the DApp page sends — the provider is the DApp's code —
 * so every field is parsed strictly here, and what is shown to the user is
 * exactly what is then signed. Failures are -32602 (JSON-RPC invalid params)
 * or 4100 (an account other than the connected one); messages name fields,
 * never values.
 */
import { getAddress, hashTypedData, isAddress, isHex, stringToHex, type Address, type Hex, type TransactionSerializable, type TypedDataDefinition } from 'viem';
import { invalidParams, unauthorized } from '../../packages/sdk/src/browser/ProviderRpcError.js';
import type { TransactionView, TypedDataInput } from './decode.js';
import { checkTypedDataLimits, TypedDataLimitError } from '../../packages/sdk/src/checkTypedDataLimits.js';

function sameAddress(value: unknown, account: Address): boolean {
  return typeof value === 'string' && isAddress(value, { strict: false }) && getAddress(value) === account;
}

/** personal_sign [message, address]: the message as hex bytes (a non-hex string is taken as UTF-8 text). */
export function personalSignParams(params: readonly unknown[], account: Address): Hex {
  const [message, address] = params;
  if (typeof message !== 'string' || message.length > 1_000_000) throw invalidParams('personal_sign takes [message, address].');
  if (!sameAddress(address, account)) throw unauthorized('personal_sign names an account that is not connected.');
  if (message.startsWith('0x')) {
    if (!isHex(message, { strict: true }) || message.length % 2 !== 0) throw invalidParams('The personal_sign message is not valid hex.');
    return message;
  }
  return stringToHex(message);
}

/** eth_signTypedData_v4 [address, typedData (JSON string or object)]. */
export function typedDataParams(params: readonly unknown[], account: Address): TypedDataInput {
  const [address, raw] = params;
  if (!sameAddress(address, account)) throw unauthorized('eth_signTypedData_v4 names an account that is not connected.');
  let value: unknown = raw;
  if (typeof raw === 'string') {
    if (raw.length > 1_000_000) throw invalidParams('The typed data is too large.');
    try {
      value = JSON.parse(raw);
    } catch {
      throw invalidParams('The typed data is not valid JSON.');
    }
  }
  const t = value as Partial<TypedDataInput> | null;
  if (
    typeof t !== 'object' ||
    t === null ||
    typeof t.types !== 'object' ||
    t.types === null ||
    typeof t.primaryType !== 'string' ||
    typeof t.message !== 'object' ||
    t.message === null
  ) {
    throw invalidParams('The typed data needs types, primaryType and message (EIP-712).');
  }
  if (t.domain !== undefined && (typeof t.domain !== 'object' || t.domain === null)) throw invalidParams('The typed data domain must be an object.');
  const typed: TypedDataInput = { types: t.types, primaryType: t.primaryType, message: t.message, ...(t.domain ? { domain: t.domain } : {}) };
  try {
    // Bounded before anything hashes it (packages/sdk/src/checkTypedDataLimits.ts): the DApp page is not trusted.
    checkTypedDataLimits(typed);
  } catch (e) {
    if (e instanceof TypedDataLimitError) throw invalidParams(`The typed data is too large: ${e.message}`);
    throw e;
  }
  try {
    // EIP-712 encodability (types, ranges, addresses) before the user is asked.
    hashTypedData(typed as unknown as TypedDataDefinition);
  } catch {
    throw invalidParams('The typed data does not encode under EIP-712 (check its types and values).');
  }
  return typed;
}

const QUANTITY = /^0x(0|[1-9a-f][0-9a-f]{0,63})$/i;

function quantity(v: unknown, name: string): bigint {
  if (typeof v !== 'string' || !QUANTITY.test(v)) throw invalidParams(`Transaction field ${name} must be a hex quantity.`);
  return BigInt(v);
}

function optionalQuantity(v: unknown, name: string): bigint | undefined {
  return v === undefined ? undefined : quantity(v, name);
}

function accessListParam(v: unknown): { address: Hex; storageKeys: Hex[] }[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > 1024) throw invalidParams('Transaction field accessList must be an array.');
  return v.map((item: unknown) => {
    const i = item as { address?: unknown; storageKeys?: unknown } | null;
    if (typeof i?.address !== 'string' || !isAddress(i.address, { strict: false })) throw invalidParams('accessList entries need an address.');
    if (!Array.isArray(i.storageKeys) || !i.storageKeys.every((k) => typeof k === 'string' && /^0x[0-9a-fA-F]{64}$/.test(k))) {
      throw invalidParams('accessList storageKeys must be 32-byte hex strings.');
    }
    return { address: getAddress(i.address), storageKeys: i.storageKeys as Hex[] };
  });
}

const FIELDS = new Set(['type', 'chainId', 'from', 'to', 'value', 'data', 'nonce', 'gas', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'accessList']);

/** eth_signTransaction [tx] with every field filled (the provider fills them; see fillTransaction). */
export function transactionParams(params: readonly unknown[], account: Address): { view: TransactionView; serializable: TransactionSerializable } {
  const tx = params[0] as Record<string, unknown> | undefined;
  if (typeof tx !== 'object' || tx === null || Array.isArray(tx)) throw invalidParams('eth_signTransaction takes [transaction].');
  for (const k of Object.keys(tx)) if (!FIELDS.has(k)) throw invalidParams(`Transaction field ${k.slice(0, 32)} is not supported.`);
  if (!sameAddress(tx.from, account)) throw unauthorized('The transaction is from an account that is not connected.');
  const chainId = quantity(tx.chainId, 'chainId');
  if (chainId === 0n || chainId > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidParams('Transaction field chainId is out of range.');
  const nonce = quantity(tx.nonce, 'nonce');
  if (nonce > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidParams('Transaction field nonce is out of range.');
  const gas = quantity(tx.gas, 'gas');
  const value = optionalQuantity(tx.value, 'value') ?? 0n;
  let to: Hex | undefined;
  if (tx.to !== undefined && tx.to !== null) {
    if (typeof tx.to !== 'string' || !isAddress(tx.to, { strict: false })) throw invalidParams('Transaction field to must be an address.');
    to = getAddress(tx.to);
  }
  const data = tx.data === undefined ? '0x' : tx.data;
  if (typeof data !== 'string' || !isHex(data, { strict: true }) || data.length % 2 !== 0) throw invalidParams('Transaction field data must be hex bytes.');
  const accessList = accessListParam(tx.accessList);
  const base = { chainId: Number(chainId), nonce: Number(nonce), gas, value, data: data as Hex, ...(to ? { to } : {}) };
  switch (tx.type) {
    case '0x2': {
      const maxFeePerGas = quantity(tx.maxFeePerGas, 'maxFeePerGas');
      const maxPriorityFeePerGas = quantity(tx.maxPriorityFeePerGas, 'maxPriorityFeePerGas');
      if (tx.gasPrice !== undefined) throw invalidParams('An EIP-1559 transaction takes no gasPrice.');
      if (maxPriorityFeePerGas > maxFeePerGas) throw invalidParams('maxPriorityFeePerGas exceeds maxFeePerGas.');
      return {
        view: { type: 'eip1559', ...base, maxFeePerGas, maxPriorityFeePerGas },
        serializable: { type: 'eip1559', ...base, maxFeePerGas, maxPriorityFeePerGas, ...(accessList ? { accessList } : {}) },
      };
    }
    case '0x1':
    case '0x0': {
      const gasPrice = quantity(tx.gasPrice, 'gasPrice');
      if (tx.maxFeePerGas !== undefined || tx.maxPriorityFeePerGas !== undefined) throw invalidParams('A legacy or EIP-2930 transaction takes gasPrice only.');
      if (tx.type === '0x0') {
        if (accessList) throw invalidParams('A legacy transaction takes no accessList.');
        return { view: { type: 'legacy', ...base, gasPrice }, serializable: { type: 'legacy', ...base, gasPrice } };
      }
      return { view: { type: 'eip2930', ...base, gasPrice }, serializable: { type: 'eip2930', ...base, gasPrice, accessList: accessList ?? [] } };
    }
    default:
      throw invalidParams('Transaction field type must be 0x0, 0x1 or 0x2.');
  }
}
