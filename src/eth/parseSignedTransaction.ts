/**
 * Parses a signed transaction as a node would before accepting it, refusing
 * anything a node refuses, and recovers its sender (libsecp256k1).
 *
 * Checks, in the order ethereum/tests' TransactionTests name them:
 *  - envelope: a legacy RLP list, or a type byte (EIP-2718) the fork knows
 *    (0x01 Berlin, 0x02 London, 0x03 Cancun, 0x04 Prague) before an RLP list;
 *  - canonical RLP (viem's strict fromRlp, and re-encoding through viem's
 *    toRlp must give back the same bytes): no trailing bytes, minimal lengths;
 *  - each field's shape: integers are byte strings without leading zeros and
 *    within their width (nonce and gas limit 64 bits, EIP-2681 nonce < 2^64-1),
 *    addresses 20 bytes, access-list keys 32 bytes, blob hashes version 0x01;
 *  - gas limit * max fee < 2^256, priority fee <= max fee (EIP-1559);
 *  - the chain id (EIP-155 `v` or the typed field) is the expected one;
 *  - signature: 0 < r, s < n, s <= n/2 (EIP-2), yParity 0 or 1, recoverable;
 *  - init code at most 49,152 bytes (EIP-3860); gas limit >= intrinsic gas.
 * EIP-4844 transactions are taken in their signed form, without sidecars.
 * The signing payload is rebuilt from the decoded RLP items with viem's toRlp,
 * so values beyond 2^53 (nonces up to 2^64-2) hash exactly.
 */
import { bytesToHex, concatBytes, fromRlp, getAddress, hexToBytes, keccak256, numberToBytes, toRlp, type Address, type Hex } from 'viem';
import { recoverPublicKey, SECP256K1_HALF_N, SECP256K1_N } from '../crypto/secp256k1.js';
import { InvalidTransactionError } from './errors.js';
import { forkAtLeast, intrinsicGas, type Fork } from './intrinsicGas.js';

type Item = Uint8Array | Item[];

export type SignedTransactionType = 'legacy' | 'eip2930' | 'eip1559' | 'eip4844' | 'eip7702';

export interface ParsedAuthorization {
  chainId: bigint;
  address: Address;
  nonce: bigint;
  yParity: number;
  r: bigint;
  s: bigint;
}

export interface ParsedSignedTransaction {
  type: SignedTransactionType;
  /** undefined for a legacy transaction without EIP-155. */
  chainId: bigint | undefined;
  nonce: bigint;
  gas: bigint;
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  maxFeePerBlobGas?: bigint;
  to: Address | null;
  value: bigint;
  data: Hex;
  accessList?: { address: Address; storageKeys: Hex[] }[];
  blobVersionedHashes?: Hex[];
  authorizationList?: ParsedAuthorization[];
  /** Legacy only: the `v` as encoded. */
  v?: bigint;
  yParity: 0 | 1;
  r: bigint;
  s: bigint;
  /** The recovered sender. */
  from: Address;
  /** keccak256 of the serialized bytes: the transaction hash. */
  hash: Hex;
}

export interface ParseSignedTransactionOptions {
  /** The chain the transaction must be for; when omitted any chain id is accepted. */
  chainId?: number | bigint;
  /** Fork whose rules apply (transaction types, EIP-3860, EIP-7623); default prague. */
  fork?: Fork;
}

const MAX_INITCODE_SIZE = 49_152; // EIP-3860: 2 * MAX_CODE_SIZE
const U64_MAX = (1n << 64n) - 1n;
const U256_LIMIT = 1n << 256n;

function fail(code: string, message: string, cause?: unknown): never {
  throw new InvalidTransactionError(code, message, cause === undefined ? {} : { cause });
}

function bytesItem(item: Item | undefined, field: string): Uint8Array {
  if (!(item instanceof Uint8Array)) fail(`RLP_INVALID_${field}`, `Field ${field.toLowerCase()} must be a byte string, not a list.`);
  return item;
}

function listItem(item: Item | undefined, field: string): Item[] {
  if (!Array.isArray(item)) fail(`RLP_INVALID_${field}`, `Field ${field.toLowerCase()} must be a list.`);
  return item;
}

function toBig(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(bytesToHex(bytes));
}

/** An RLP integer: no leading zero byte, at most `maxBytes` bytes. */
function uint(item: Item | undefined, field: string, maxBytes: number, overflowCode = `${field}_OVERFLOW`): bigint {
  const bytes = bytesItem(item, field);
  if (bytes.length > 0 && bytes[0] === 0) fail(`RLP_LEADING_ZEROS_${field}`, `Field ${field.toLowerCase()} has leading zero bytes.`);
  if (bytes.length > maxBytes) fail(overflowCode, `Field ${field.toLowerCase()} is ${bytes.length} bytes, more than ${maxBytes}.`);
  return toBig(bytes);
}

function address(item: Item | undefined, field: string, optional: boolean): Address | null {
  const bytes = bytesItem(item, field);
  if (bytes.length === 0 && optional) return null;
  if (bytes.length < 20) fail(`${field === 'TO' ? 'ADDRESS' : field}_TOO_SHORT`, `Field ${field.toLowerCase()} is ${bytes.length} bytes, not 20.`);
  if (bytes.length > 20) fail(`${field === 'TO' ? 'ADDRESS' : field}_TOO_LONG`, `Field ${field.toLowerCase()} is ${bytes.length} bytes, not 20.`);
  return getAddress(bytesToHex(bytes));
}

function accessList(item: Item | undefined): { list: { address: Address; storageKeys: Hex[] }[]; keys: number } {
  const entries = listItem(item, 'ACCESS_LIST');
  let keys = 0;
  const list = entries.map((entry) => {
    const pair = listItem(entry, 'ACCESS_LIST');
    if (pair.length !== 2) fail('RLP_INVALID_ACCESS_LIST', `Access-list entry has ${pair.length} items, not 2.`);
    const addr = bytesItem(pair[0], 'ACCESS_LIST_ADDRESS');
    if (addr.length < 20) fail('RLP_INVALID_ACCESS_LIST_ADDRESS_TOO_SHORT', `Access-list address is ${addr.length} bytes, not 20.`);
    if (addr.length > 20) fail('RLP_INVALID_ACCESS_LIST_ADDRESS_TOO_LONG', `Access-list address is ${addr.length} bytes, not 20.`);
    const storageKeys = listItem(pair[1], 'ACCESS_LIST_STORAGE').map((k) => {
      const key = bytesItem(k, 'ACCESS_LIST_STORAGE');
      if (key.length < 32) fail('RLP_INVALID_ACCESS_LIST_STORAGE_TOO_SHORT', `Storage key is ${key.length} bytes, not 32.`);
      if (key.length > 32) fail('RLP_INVALID_ACCESS_LIST_STORAGE_TOO_LONG', `Storage key is ${key.length} bytes, not 32.`);
      keys++;
      return bytesToHex(key);
    });
    return { address: getAddress(bytesToHex(addr)), storageKeys };
  });
  return { list, keys };
}

function blobHashes(item: Item | undefined): Hex[] {
  const hashes = listItem(item, 'BLOB_VERSIONED_HASHES').map((h) => {
    const hash = bytesItem(h, 'BLOB_VERSIONED_HASHES');
    if (hash.length !== 32 || hash[0] !== 0x01) fail('INVALID_BLOB_VERSIONED_HASH', 'Blob versioned hash must be 32 bytes with version 0x01 (EIP-4844).');
    return bytesToHex(hash);
  });
  if (hashes.length === 0) fail('TYPE_3_TX_ZERO_BLOBS', 'A blob transaction needs at least one blob versioned hash.');
  return hashes;
}

function authorizationList(item: Item | undefined): ParsedAuthorization[] {
  const tuples = listItem(item, 'AUTHORIZATION_LIST');
  if (tuples.length === 0) fail('TYPE_4_EMPTY_AUTHORIZATION_LIST', 'A set-code transaction needs at least one authorization (EIP-7702).');
  return tuples.map((t) => {
    const tuple = listItem(t, 'AUTHORIZATION');
    if (tuple.length !== 6) fail('RLP_INVALID_AUTHORIZATION', `Authorization has ${tuple.length} items, not 6.`);
    // EIP-7702: a tuple whose signature does not recover is skipped by the node, not a reason to refuse the transaction.
    return {
      chainId: uint(tuple[0], 'AUTHORIZATION_CHAIN_ID', 32),
      address: address(tuple[1], 'AUTHORIZATION_ADDRESS', false) as Address,
      nonce: uint(tuple[2], 'AUTHORIZATION_NONCE', 8),
      yParity: Number(uint(tuple[3], 'AUTHORIZATION_Y_PARITY', 1)),
      r: uint(tuple[4], 'AUTHORIZATION_R', 32),
      s: uint(tuple[5], 'AUTHORIZATION_S', 32),
    };
  });
}

function decodeList(payload: Uint8Array): Item[] {
  let decoded: Item;
  try {
    decoded = fromRlp(payload, 'bytes') as Item;
  } catch (cause) {
    fail('RLP_ERROR', `Transaction (${payload.length} bytes) is not valid RLP.`, cause);
  }
  if (!Array.isArray(decoded)) fail('RLP_INVALID_HEADER', 'Transaction payload must be an RLP list.');
  const reencoded = toRlp(decoded as never, 'bytes');
  if (reencoded.length !== payload.length || reencoded.some((b, i) => b !== payload[i])) {
    fail('RLP_NON_CANONICAL', 'Transaction RLP is not in canonical form.');
  }
  return decoded;
}

const TYPES: ReadonlyMap<number, { type: SignedTransactionType; fields: number; since: Fork | 'berlin' }> = new Map([
  [0x01, { type: 'eip2930', fields: 11, since: 'berlin' }],
  [0x02, { type: 'eip1559', fields: 12, since: 'london' }],
  [0x03, { type: 'eip4844', fields: 14, since: 'cancun' }],
  [0x04, { type: 'eip7702', fields: 13, since: 'prague' }],
]);

/**
 * Parses, validates and recovers the sender of a signed transaction.
 * @throws {TypeError} when `serialized` is neither hex nor bytes.
 * @throws {InvalidTransactionError} (with a TransactionTests-style `code`) when a node would refuse it.
 */
export function parseSignedTransaction(serialized: Hex | Uint8Array, options: ParseSignedTransactionOptions = {}): ParsedSignedTransaction {
  const fork = options.fork ?? 'prague';
  const expectedChainId = options.chainId === undefined ? undefined : BigInt(options.chainId);
  let bytes: Uint8Array;
  if (serialized instanceof Uint8Array) bytes = serialized;
  else if (typeof serialized === 'string' && /^0x([0-9a-fA-F]{2})*$/.test(serialized)) bytes = hexToBytes(serialized);
  else throw new TypeError('serialized transaction must be 0x-prefixed hex or a Uint8Array');
  if (bytes.length === 0) fail('RLP_ERROR_EOF', 'Transaction is empty.');

  const first = bytes[0] as number;
  let typeByte: number | undefined;
  let spec: { type: SignedTransactionType; fields: number; since: Fork | 'berlin' } | undefined;
  if (first >= 0xc0) {
    spec = { type: 'legacy', fields: 9, since: 'berlin' };
  } else {
    typeByte = first;
    spec = TYPES.get(first);
    if (!spec || (spec.since !== 'berlin' && !forkAtLeast(fork, spec.since)))
      fail('TYPE_NOT_SUPPORTED', `Transaction type 0x${first.toString(16).padStart(2, '0')} is not supported at ${fork}.`);
  }
  const items = decodeList(typeByte === undefined ? bytes : bytes.subarray(1));
  if (items.length < spec.fields) fail('RLP_TOO_FEW_ELEMENTS', `Transaction has ${items.length} fields, not ${spec.fields}.`);
  if (items.length > spec.fields) fail('RLP_TOO_MANY_ELEMENTS', `Transaction has ${items.length} fields, not ${spec.fields}.`);

  const it = items[Symbol.iterator]();
  const next = () => it.next().value as Item | undefined;
  const type = spec.type;
  const out: Partial<ParsedSignedTransaction> & { type: SignedTransactionType } = { type };
  let chainId: bigint | undefined;
  if (type !== 'legacy') chainId = uint(next(), 'CHAINID', 32);
  out.nonce = uint(next(), 'NONCE', 8, 'NONCE_OVERFLOW');
  let feeCap: bigint;
  if (type === 'legacy' || type === 'eip2930') {
    feeCap = out.gasPrice = uint(next(), 'GASPRICE', 32, 'GASPRICE_OVERFLOW');
  } else {
    out.maxPriorityFeePerGas = uint(next(), 'PRIORITY_FEE', 32, 'PRIORITY_OVERFLOW');
    feeCap = out.maxFeePerGas = uint(next(), 'BASEFEE', 32, 'GASPRICE_OVERFLOW');
  }
  out.gas = uint(next(), 'GASLIMIT', 8, 'GASLIMIT_OVERFLOW');
  out.to = address(next(), 'TO', type === 'legacy' || type === 'eip2930' || type === 'eip1559');
  out.value = uint(next(), 'VALUE', 32, 'VALUE_OVERFLOW');
  const data = bytesItem(next(), 'DATA');
  out.data = bytesToHex(data);
  let accessKeys = 0;
  if (type !== 'legacy') {
    const al = accessList(next());
    out.accessList = al.list;
    accessKeys = al.keys;
  }
  if (type === 'eip4844') {
    out.maxFeePerBlobGas = uint(next(), 'BLOB_FEE', 32, 'GASPRICE_OVERFLOW');
    out.blobVersionedHashes = blobHashes(next());
  }
  if (type === 'eip7702') out.authorizationList = authorizationList(next());

  let yParity: 0 | 1;
  if (type === 'legacy') {
    const v = uint(next(), 'V', 32, 'INVALID_SIGNATURE_VRS');
    out.v = v;
    if (v === 27n || v === 28n) {
      yParity = v === 27n ? 0 : 1;
    } else if (v >= 37n) {
      // EIP-155: v = chainId * 2 + 35 + yParity, chainId >= 1.
      chainId = (v - 35n) / 2n;
      yParity = (v - 35n) % 2n === 0n ? 0 : 1;
    } else {
      fail('INVALID_CHAINID', `Legacy v is neither 27/28 nor an EIP-155 value.`);
    }
  } else {
    const y = uint(next(), 'V', 32, 'INVALID_SIGNATURE_VRS');
    if (y > 1n) fail('INVALID_SIGNATURE_VRS', 'yParity must be 0 or 1.');
    yParity = y === 0n ? 0 : 1;
  }
  const r = uint(next(), 'R', 32, 'INVALID_SIGNATURE_VRS');
  const s = uint(next(), 'S', 32, 'INVALID_SIGNATURE_VRS');
  out.chainId = chainId;
  if (expectedChainId !== undefined && chainId !== undefined && chainId !== expectedChainId) fail('INVALID_CHAINID', 'Transaction is for another chain.');
  if (type !== 'legacy' && chainId === 0n) fail('INVALID_CHAINID', 'Typed transaction chain id must not be 0.');

  if (out.nonce === U64_MAX) fail('NONCE_TOO_BIG', 'Nonce must be below 2^64-1 (EIP-2681).');
  if (out.gas * feeCap >= U256_LIMIT) fail('GASLIMIT_PRICE_PRODUCT_OVERFLOW', 'Gas limit times fee cap overflows 256 bits.');
  if (out.maxPriorityFeePerGas !== undefined && out.maxFeePerGas !== undefined && out.maxPriorityFeePerGas > out.maxFeePerGas) {
    fail('PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS', 'maxPriorityFeePerGas exceeds maxFeePerGas.');
  }
  if (r === 0n || s === 0n || r >= SECP256K1_N || s >= SECP256K1_N) fail('INVALID_SIGNATURE_VRS', 'Signature r and s must be in [1, n-1].');
  if (s > SECP256K1_HALF_N) fail('INVALID_SIGNATURE_VRS', 'Signature s must be at most n/2 (EIP-2).');
  const isCreate = out.to === null;
  if (isCreate && forkAtLeast(fork, 'shanghai') && data.length > MAX_INITCODE_SIZE)
    fail('INITCODE_SIZE_EXCEEDED', `Init code is ${data.length} bytes, more than ${MAX_INITCODE_SIZE}.`);
  const needed = intrinsicGas({
    data,
    isCreate,
    accessListAddresses: out.accessList?.length ?? 0,
    accessListStorageKeys: accessKeys,
    authorizations: out.authorizationList?.length ?? 0,
    fork,
  });
  if (out.gas < needed) fail('INTRINSIC_GAS_TOO_LOW', `Gas limit is below the intrinsic gas (${needed}).`);

  // The signing payload: the fields before the signature (+ chainId, 0, 0 for EIP-155), same type byte.
  const unsignedItems = items.slice(0, spec.fields - 3);
  if (type === 'legacy' && chainId !== undefined) unsignedItems.push(numberToBytes(chainId), new Uint8Array(0), new Uint8Array(0));
  const rlp = toRlp(unsignedItems as never, 'bytes');
  const payload = typeByte === undefined ? rlp : concatBytes([Uint8Array.of(typeByte), rlp]);
  const digest = keccak256(payload, 'bytes');
  const compact = concatBytes([numberToBytes(r, { size: 32 }), numberToBytes(s, { size: 32 })]);
  const publicKey = recoverPublicKey(compact, yParity, digest);
  if (!publicKey) fail('EC_RECOVERY_FAIL', 'No public key recovers from the signature.');
  const from = getAddress(bytesToHex(keccak256(publicKey.subarray(1), 'bytes').subarray(12)));
  return { ...out, yParity, r, s, from, hash: keccak256(bytes) } as ParsedSignedTransaction;
}
