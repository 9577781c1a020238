/**
 * Validates an `eth_sendTransaction` / `eth_signTransaction` request object
 * (EIP-1474 / execution-apis `GenericTransaction`, hex quantities) and fills
 * what the DApp left out from the chain's RPC: nonce (`pending`), gas
 * (`eth_estimateGas`), fees (EIP-1559 `maxFeePerGas = 2 × baseFee + tip`, or
 * `eth_gasPrice` on a chain without a base fee) and the chain id. The frame
 * shows the user the filled transaction, so what is signed is what was shown.
 * Transaction types 0, 1 and 2 are supported.
 */
import { invalidParams, unauthorized } from './ProviderRpcError.js';
import { rpcRequest } from './rpcRequest.js';

type Hex = `0x${string}`;

/** A transaction request with every field the wallet needs to sign it. */
export interface FilledTransaction {
  type: '0x0' | '0x1' | '0x2';
  chainId: Hex;
  from: Hex;
  to?: Hex;
  value: Hex;
  data: Hex;
  nonce: Hex;
  gas: Hex;
  gasPrice?: Hex;
  maxFeePerGas?: Hex;
  maxPriorityFeePerGas?: Hex;
  accessList?: { address: Hex; storageKeys: Hex[] }[];
}

const QUANTITY = /^0x(0|[1-9a-f][0-9a-f]{0,63})$/i;
const DATA = /^0x([0-9a-f]{2})*$/i;
const ADDRESS = /^0x[0-9a-f]{40}$/i;
const FIELDS = new Set([
  'type',
  'chainId',
  'from',
  'to',
  'value',
  'data',
  'input',
  'nonce',
  'gas',
  'gasLimit',
  'gasPrice',
  'maxFeePerGas',
  'maxPriorityFeePerGas',
  'accessList',
]);
const ONE_GWEI = 1_000_000_000n;

function quantity(v: unknown, name: string): Hex | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !QUANTITY.test(v)) throw invalidParams(`Transaction field ${name} must be a hex quantity.`);
  return v.toLowerCase() as Hex;
}

function toHex(n: bigint): Hex {
  return `0x${n.toString(16)}`;
}

function accessList(v: unknown): FilledTransaction['accessList'] {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 1024) throw invalidParams('Transaction field accessList must be an array.');
  return v.map((item: unknown) => {
    const i = item as { address?: unknown; storageKeys?: unknown };
    if (typeof i?.address !== 'string' || !ADDRESS.test(i.address)) throw invalidParams('accessList entries need an address.');
    if (!Array.isArray(i.storageKeys) || !i.storageKeys.every((k) => typeof k === 'string' && /^0x[0-9a-f]{64}$/i.test(k))) {
      throw invalidParams('accessList storageKeys must be 32-byte hex strings.');
    }
    return { address: i.address as Hex, storageKeys: i.storageKeys as Hex[] };
  });
}

/**
 * @param request the DApp's transaction object.
 * @param account the connected account (the only `from` allowed).
 * @param chainId the provider's current chain.
 * @param rpcUrl the chain's RPC endpoint, for what is missing.
 * @throws {ProviderRpcError} -32602 for a malformed or unsupported request, 4100 for another `from`, the RPC's errors.
 */
export async function fillTransaction(request: unknown, account: Hex, chainId: number, rpcUrl: string | undefined): Promise<FilledTransaction> {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) throw invalidParams('The transaction must be an object.');
  const r = request as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!FIELDS.has(k)) throw invalidParams(`Transaction field ${k.slice(0, 32)} is not supported.`);
  if (r.from !== undefined && (typeof r.from !== 'string' || r.from.toLowerCase() !== account.toLowerCase()))
    throw unauthorized('The transaction is from an account that is not connected.');
  const txChain = quantity(r.chainId, 'chainId');
  if (txChain !== undefined && BigInt(txChain) !== BigInt(chainId)) throw invalidParams(`The transaction's chainId differs from the current chain ${chainId}.`);
  let to: Hex | undefined;
  if (r.to !== undefined && r.to !== null) {
    if (typeof r.to !== 'string' || !ADDRESS.test(r.to)) throw invalidParams('Transaction field to must be an address.');
    to = r.to as Hex;
  }
  const input = r.data ?? r.input;
  if (r.data !== undefined && r.input !== undefined && r.data !== r.input) throw invalidParams('Transaction fields data and input differ.');
  if (input !== undefined && input !== null && (typeof input !== 'string' || !DATA.test(input)))
    throw invalidParams('Transaction field data must be hex bytes.');
  const data = ((input as string | undefined | null) ?? '0x').toLowerCase() as Hex;
  if (to === undefined && data === '0x') throw invalidParams('A transaction without a recipient must carry contract code.');
  const value = quantity(r.value, 'value') ?? '0x0';
  const list = accessList(r.accessList);
  const type = quantity(r.type, 'type');
  if (type !== undefined && !['0x0', '0x1', '0x2'].includes(type)) throw invalidParams('Only transaction types 0x0, 0x1 and 0x2 are supported.');
  let gasPrice = quantity(r.gasPrice, 'gasPrice');
  let maxFeePerGas = quantity(r.maxFeePerGas, 'maxFeePerGas');
  let maxPriorityFeePerGas = quantity(r.maxPriorityFeePerGas, 'maxPriorityFeePerGas');
  if (gasPrice !== undefined && (maxFeePerGas !== undefined || maxPriorityFeePerGas !== undefined))
    throw invalidParams('Give gasPrice or the EIP-1559 fees, not both.');
  let nonce = quantity(r.nonce, 'nonce');
  let gas = quantity(r.gas ?? r.gasLimit, 'gas');

  const need = nonce === undefined || gas === undefined || (gasPrice === undefined && (maxFeePerGas === undefined || maxPriorityFeePerGas === undefined));
  if (need && rpcUrl === undefined) throw invalidParams('The transaction lacks nonce, gas or fees, and no RPC endpoint is configured to fill them.');
  const rpc = (method: string, params: unknown[]) => rpcRequest(rpcUrl!, method, params);

  if (nonce === undefined) nonce = quantity(await rpc('eth_getTransactionCount', [account, 'pending']), 'nonce');
  if (gas === undefined) {
    const call: Record<string, unknown> = { from: account, value, data };
    if (to !== undefined) call.to = to;
    if (list !== undefined) call.accessList = list;
    gas = quantity(await rpc('eth_estimateGas', [call]), 'gas');
  }
  let resolvedType = type ?? (gasPrice !== undefined ? (list ? '0x1' : '0x0') : undefined);
  if (resolvedType === undefined || resolvedType === '0x2') {
    if (maxFeePerGas === undefined || maxPriorityFeePerGas === undefined) {
      const block = (await rpc('eth_getBlockByNumber', ['latest', false])) as { baseFeePerGas?: unknown } | null;
      const baseFee = quantity(block?.baseFeePerGas, 'baseFeePerGas');
      if (baseFee === undefined) {
        if (resolvedType === '0x2') throw invalidParams('The chain has no base fee: give maxFeePerGas and maxPriorityFeePerGas, or gasPrice.');
        resolvedType = list ? '0x1' : '0x0';
      } else {
        if (maxPriorityFeePerGas === undefined) {
          let tip = ONE_GWEI;
          try {
            tip = BigInt(quantity(await rpc('eth_maxPriorityFeePerGas', []), 'maxPriorityFeePerGas') ?? toHex(ONE_GWEI));
          } catch {
            // Nodes without the method: a 1 gwei tip, as viem and ethers default to.
          }
          maxPriorityFeePerGas = toHex(tip);
        }
        maxFeePerGas ??= toHex(BigInt(baseFee) * 2n + BigInt(maxPriorityFeePerGas));
        resolvedType = '0x2';
      }
    } else {
      resolvedType = '0x2';
    }
  }
  if (resolvedType !== '0x2') {
    if (maxFeePerGas !== undefined || maxPriorityFeePerGas !== undefined)
      throw invalidParams(`Transaction type ${resolvedType} takes gasPrice, not EIP-1559 fees.`);
    gasPrice ??= quantity(await rpc('eth_gasPrice', []), 'gasPrice');
    if (resolvedType === '0x0' && list !== undefined) throw invalidParams('Transaction type 0x0 cannot carry an accessList.');
  }
  const filled: FilledTransaction = {
    type: resolvedType as FilledTransaction['type'],
    chainId: toHex(BigInt(chainId)),
    from: account,
    value,
    data,
    nonce: nonce!,
    gas: gas!,
  };
  if (to !== undefined) filled.to = to;
  if (resolvedType === '0x2') {
    filled.maxFeePerGas = maxFeePerGas!;
    filled.maxPriorityFeePerGas = maxPriorityFeePerGas!;
  } else {
    filled.gasPrice = gasPrice!;
  }
  if (list !== undefined) filled.accessList = list;
  return filled;
}
