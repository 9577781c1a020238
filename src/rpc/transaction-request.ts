/**
 * Ethereum JSON-RPC transaction objects (eth_signTransaction,
 * eth_sendTransaction: `from`, `to`, `gas` or `gasLimit`, `data` or `input`,
 * hex quantities, `type` as 0x0…0x4) read into the payload form
 * src/eth/payload.ts parses, and what is missing filled from the upstream
 * node: chain id, nonce (pending), fees (EIP-1559 from the latest block's base
 * fee and the node's priority fee; legacy from eth_gasPrice) and gas
 * (eth_estimateGas). Unknown fields are refused, naming the field.
 */
import { isAddress, type Address } from 'viem';
import { invalidParams } from './errors.js';
import type { Upstream } from './upstream.js';

/** A transaction request: who signs (`from`, lowercase) and the transaction in payload.ts's JSON form. */
export interface TransactionRequest {
  from: Address;
  transaction: Record<string, unknown>;
}

const TYPES: Record<string, string> = { '0x0': 'legacy', '0x1': 'eip2930', '0x2': 'eip1559', '0x3': 'eip4844', '0x4': 'eip7702' };
const PASSED = ['to', 'value', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'maxFeePerBlobGas', 'nonce', 'chainId', 'accessList', 'blobVersionedHashes'];
const KNOWN = new Set([...PASSED, 'from', 'gas', 'gasLimit', 'data', 'input', 'type', 'authorizationList']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON-RPC's yParity/v of a signed authorization (0x0/0x1, or a number) as payload.ts wants it (0 or 1). */
function parity(v: unknown): unknown {
  if (v === '0x0' || v === '0x00' || v === 0) return 0;
  if (v === '0x1' || v === '0x01' || v === 1) return 1;
  return v;
}

/**
 * Reads params[0] of eth_signTransaction / eth_sendTransaction.
 * @throws {RpcError} -32602 naming the field.
 */
export function readTransactionRequest(raw: unknown): TransactionRequest {
  if (!isObject(raw)) throw invalidParams('params[0] must be a transaction object.');
  for (const k of Object.keys(raw)) if (!KNOWN.has(k)) throw invalidParams(`The transaction has an unknown field (${k.slice(0, 32)}).`);
  if (typeof raw.from !== 'string' || !isAddress(raw.from, { strict: false }))
    throw invalidParams('transaction.from must be the 0x address of one of your accounts.');
  const tx: Record<string, unknown> = {};
  for (const k of PASSED) if (raw[k] !== undefined && raw[k] !== null) tx[k] = raw[k];
  if ('to' in raw && raw.to === null) tx.to = null;
  if (raw.gas !== undefined && raw.gasLimit !== undefined && raw.gas !== raw.gasLimit) throw invalidParams('transaction.gas and gasLimit differ.');
  const gas = raw.gas ?? raw.gasLimit;
  if (gas !== undefined && gas !== null) tx.gas = gas;
  if (raw.data !== undefined && raw.input !== undefined && raw.data !== raw.input) throw invalidParams('transaction.data and input differ.');
  const data = raw.data ?? raw.input;
  if (data !== undefined && data !== null) tx.data = data;
  if (raw.type !== undefined && raw.type !== null) {
    const t =
      typeof raw.type === 'string'
        ? (TYPES[raw.type.toLowerCase().replace(/^0x0+(?=.)/, '0x')] ?? (Object.values(TYPES).includes(raw.type) ? raw.type : undefined))
        : undefined;
    if (!t) throw invalidParams('transaction.type must be 0x0, 0x1, 0x2, 0x3 or 0x4.');
    tx.type = t;
  }
  if (raw.authorizationList !== undefined && raw.authorizationList !== null) {
    if (!Array.isArray(raw.authorizationList)) throw invalidParams('transaction.authorizationList must be an array.');
    tx.authorizationList = raw.authorizationList
      .map((a) => (isObject(a) ? { ...a, yParity: parity(a.yParity ?? a.v) } : a))
      .map((a) => {
        if (isObject(a) && 'v' in a) {
          const { v: _v, ...rest } = a;
          return rest;
        }
        return a;
      });
  }
  return { from: raw.from.toLowerCase() as Address, transaction: tx };
}

function hexQuantity(v: unknown, what: string): bigint {
  if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,64}$/.test(v)) return BigInt(v);
  throw invalidParams(`The upstream node answered ${what} with no quantity.`);
}

const toHex = (n: bigint): string => `0x${n.toString(16)}`;

/** A payload.ts quantity (number, decimal or hex string) as the node's hex, for eth_estimateGas. */
function asHex(v: unknown): unknown {
  if (typeof v === 'number') return toHex(BigInt(v));
  if (typeof v === 'string' && /^\d+$/.test(v)) return toHex(BigInt(v));
  return v;
}

/**
 * Fills what the request leaves out from the upstream node; a given field is
 * kept as it is. The chain id must be the node's when `sameChain` (a
 * transaction to broadcast there).
 * @throws {RpcError} -32602 for a chain id that is not the node's; the node's own errors (e.g. eth_estimateGas reverting).
 */
export async function fillTransaction(request: TransactionRequest, upstream: Upstream, options: { sameChain: boolean }): Promise<Record<string, unknown>> {
  const tx = { ...request.transaction };
  const from = request.from;
  if (tx.chainId === undefined) tx.chainId = await upstream.chainId();
  else if (options.sameChain) {
    const given = typeof tx.chainId === 'string' && tx.chainId.startsWith('0x') ? Number.parseInt(tx.chainId, 16) : Number(tx.chainId);
    if (given !== (await upstream.chainId())) throw invalidParams("transaction.chainId is not the upstream node's chain.");
  }
  if (tx.nonce === undefined) tx.nonce = toHex(hexQuantity(await upstream.call('eth_getTransactionCount', [from, 'pending']), 'eth_getTransactionCount'));
  if (tx.type === undefined) {
    if (tx.authorizationList !== undefined) tx.type = 'eip7702';
    else if (tx.gasPrice !== undefined) tx.type = tx.accessList !== undefined ? 'eip2930' : 'legacy';
    else tx.type = 'eip1559';
  }
  if (tx.type === 'legacy' || tx.type === 'eip2930') {
    if (tx.gasPrice === undefined) tx.gasPrice = toHex(hexQuantity(await upstream.call('eth_gasPrice', []), 'eth_gasPrice'));
  } else if (tx.maxFeePerGas === undefined || tx.maxPriorityFeePerGas === undefined) {
    let priority: bigint;
    if (tx.maxPriorityFeePerGas !== undefined) priority = BigInt(String(asHex(tx.maxPriorityFeePerGas)));
    else {
      try {
        priority = hexQuantity(await upstream.call('eth_maxPriorityFeePerGas', []), 'eth_maxPriorityFeePerGas');
      } catch {
        priority = 1_000_000_000n; // nodes without the method: 1 gwei, as ethers and viem assume
      }
      tx.maxPriorityFeePerGas = toHex(priority);
    }
    if (tx.maxFeePerGas === undefined) {
      const block = await upstream.call('eth_getBlockByNumber', ['latest', false]);
      const base = isObject(block) && block.baseFeePerGas !== undefined ? hexQuantity(block.baseFeePerGas, 'eth_getBlockByNumber') : 0n;
      tx.maxFeePerGas = toHex(base * 2n + priority);
    }
  }
  if (tx.gas === undefined) {
    const estimate: Record<string, unknown> = { from };
    for (const k of ['to', 'value', 'data', 'accessList', 'authorizationList']) if (tx[k] !== undefined && tx[k] !== null) estimate[k] = asHex(tx[k]);
    tx.gas = toHex(hexQuantity(await upstream.call('eth_estimateGas', [estimate]), 'eth_estimateGas'));
  }
  return tx;
}
