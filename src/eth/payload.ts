/**
 * Reads the `payload` of a sign request (the split signer's /v1/sign, and any
 * other path that signs a decoded Ethereum payload) from JSON into the types src/eth
 * signs, strictly: a known `type`, known fields only, quantities as a safe
 * integer, a decimal string or a 0x-hex string (JSON has no bigint), addresses
 * and hex checked. Encoding rules themselves (EIP-155, EIP-1559, EIP-712, …)
 * are checked by viem when src/eth serializes, and reported as
 * `invalid_payload` too — before any share is released: encodePayload hashes
 * transactions and typed data once, so a payload that cannot be signed never
 * costs a release, and keeps that digest for signing (no second encoding).
 * readPayload is the cheap part (shape, and typed data's bounds from
 * packages/sdk/src/checkTypedDataLimits.ts): it runs before the token is verified;
 * encodePayload only after (issue #12, item 4: hashing first let anyone
 * without a token spend seconds of the signer's CPU).
 *
 *   { type: 'transaction',   transaction: { type?, chainId, nonce, to, value, data, gas, gasPrice | maxFeePerGas, … } }
 *   { type: 'message',       message: string | { raw: 0x-hex } }          EIP-191
 *   { type: 'typedData',     typedData: { domain, types, primaryType, message } }   EIP-712
 *   { type: 'authorization', authorization: { address, chainId, nonce } }  EIP-7702
 */
import {
  hashTypedData,
  hexToBytes,
  isAddress,
  isHex,
  type Address,
  type AuthorizationRequest,
  type Hex,
  type SignableMessage,
  type TransactionSerializable,
  type TypedDataDefinition,
} from 'viem';
import { prepareTransaction, type PreparedTransaction } from './hashTransaction.js';
import { EthError, InvalidPayloadError } from './errors.js';
import { checkTypedDataLimits, TypedDataLimitError } from '../../packages/sdk/src/checkTypedDataLimits.js';

/** `prepared` / `digest`: what parsePayload computed when it checked the payload (optional: signing computes it otherwise). */
export type SignPayload =
  | { type: 'transaction'; transaction: TransactionSerializable; prepared?: PreparedTransaction }
  | { type: 'message'; message: SignableMessage }
  | { type: 'typedData'; typedData: TypedDataDefinition; digest?: Uint8Array }
  | { type: 'authorization'; authorization: AuthorizationRequest };

const TX_FIELDS: Record<string, 'quantity' | 'int' | 'address' | 'toAddress' | 'hex' | 'accessList' | 'authorizationList' | 'hashes' | 'type'> = {
  type: 'type',
  chainId: 'int',
  nonce: 'int',
  to: 'toAddress',
  value: 'quantity',
  data: 'hex',
  gas: 'quantity',
  gasPrice: 'quantity',
  maxFeePerGas: 'quantity',
  maxPriorityFeePerGas: 'quantity',
  maxFeePerBlobGas: 'quantity',
  accessList: 'accessList',
  authorizationList: 'authorizationList',
  blobVersionedHashes: 'hashes',
};
const TX_TYPES = new Set(['legacy', 'eip2930', 'eip1559', 'eip4844', 'eip7702']);
const MAX_UINT256 = (1n << 256n) - 1n;

function bad(message: string): InvalidPayloadError {
  return new InvalidPayloadError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function quantity(v: unknown, field: string): bigint {
  let n: bigint;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) n = BigInt(v);
  else if (typeof v === 'string' && /^(0|[1-9]\d{0,77})$/.test(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,64}$/.test(v)) n = BigInt(v);
  else throw bad(`${field} must be a non-negative integer (number, decimal string or 0x-hex).`);
  if (n > MAX_UINT256) throw bad(`${field} does not fit in 256 bits.`);
  return n;
}

function int(v: unknown, field: string): number {
  const n = quantity(v, field);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`${field} is too large.`);
  return Number(n);
}

function address(v: unknown, field: string): Address {
  if (typeof v !== 'string' || !isAddress(v, { strict: false })) throw bad(`${field} must be a 20-byte 0x address.`);
  return v;
}

function hex(v: unknown, field: string, maxBytes = 256 * 1024): Hex {
  if (typeof v !== 'string' || !isHex(v, { strict: true }) || v.length % 2 !== 0) throw bad(`${field} must be 0x-prefixed hex of whole bytes.`);
  if ((v.length - 2) / 2 > maxBytes) throw bad(`${field} is longer than ${maxBytes} bytes.`);
  return v;
}

function bytes32(v: unknown, field: string): Hex {
  const h = hex(v, field);
  if (h.length !== 66) throw bad(`${field} must be 32 bytes.`);
  return h;
}

function list(v: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw bad(`${field} must be an array.`);
  if (v.length > max) throw bad(`${field} has more than ${max} entries.`);
  return v;
}

function transaction(raw: unknown): TransactionSerializable {
  if (!isObject(raw)) throw bad('payload.transaction must be an object.');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const kind = TX_FIELDS[k];
    if (!kind || !Object.hasOwn(TX_FIELDS, k)) throw bad(`payload.transaction has an unknown field (${k.slice(0, 32)}).`);
    if (v === undefined || v === null) {
      if (k === 'to') out.to = null;
      continue;
    }
    const f = `transaction.${k}`;
    switch (kind) {
      case 'type':
        if (typeof v !== 'string' || !TX_TYPES.has(v)) throw bad('transaction.type must be legacy, eip2930, eip1559, eip4844 or eip7702.');
        out[k] = v;
        break;
      case 'int':
        out[k] = int(v, f);
        break;
      case 'quantity':
        out[k] = quantity(v, f);
        break;
      case 'toAddress':
      case 'address':
        out[k] = address(v, f);
        break;
      case 'hex':
        out[k] = hex(v, f);
        break;
      case 'hashes':
        out[k] = list(v, f, 16).map((h, i) => bytes32(h, `${f}[${i}]`));
        break;
      case 'accessList':
        out[k] = list(v, f, 1024).map((e, i) => {
          if (!isObject(e) || Object.keys(e).some((x) => x !== 'address' && x !== 'storageKeys')) throw bad(`${f}[${i}] must be { address, storageKeys }.`);
          return {
            address: address(e.address, `${f}[${i}].address`),
            storageKeys: list(e.storageKeys, `${f}[${i}].storageKeys`, 1024).map((s, j) => bytes32(s, `${f}[${i}].storageKeys[${j}]`)),
          };
        });
        break;
      case 'authorizationList':
        out[k] = list(v, f, 256).map((e, i) => {
          const g = `${f}[${i}]`;
          if (!isObject(e)) throw bad(`${g} must be a signed authorization.`);
          const target = e.address ?? e.contractAddress;
          const yParity = e.yParity;
          if (yParity !== 0 && yParity !== 1) throw bad(`${g}.yParity must be 0 or 1.`);
          return {
            address: address(target, `${g}.address`),
            chainId: int(e.chainId, `${g}.chainId`),
            nonce: int(e.nonce, `${g}.nonce`),
            r: bytes32(e.r, `${g}.r`),
            s: bytes32(e.s, `${g}.s`),
            yParity,
          };
        });
        break;
    }
  }
  if (out.chainId === undefined) throw bad('transaction.chainId is required (EIP-155 replay protection).');
  if (out.nonce === undefined) throw bad('transaction.nonce is required.');
  if (out.gas === undefined) throw bad('transaction.gas is required.');
  return out as TransactionSerializable;
}

/**
 * Encodes and hashes the payload as signing will, so that it fails here, and
 * keeps the result for signing (a payload already encoded is returned as is).
 * Call only once the request's token is verified: this is the costly part.
 * viem's messages can quote payload values, so only the error's name is kept.
 * @throws {InvalidPayloadError}.
 */
export function encodePayload(payload: SignPayload): SignPayload {
  try {
    if (payload.type === 'transaction') return payload.prepared ? payload : { ...payload, prepared: prepareTransaction(payload.transaction) };
    if (payload.type === 'typedData') return payload.digest ? payload : { ...payload, digest: hexToBytes(hashTypedData(payload.typedData)) };
  } catch (e) {
    if (e instanceof InvalidPayloadError) throw e;
    if (e instanceof EthError) throw bad(e.shortMessage);
    throw bad(`The payload cannot be encoded for signing (${e instanceof Error ? e.name.slice(0, 64) : 'error'}).`);
  }
  return payload;
}

/**
 * Reads the payload's shape and checks typed data's bounds: linear in the
 * payload's size, no hashing (safe before the token is verified).
 * @throws {InvalidPayloadError} naming the field or the bound.
 */
export function readPayload(raw: unknown): SignPayload {
  return parseShape(raw);
}

/**
 * readPayload then encodePayload.
 * @throws {InvalidPayloadError} naming the field.
 */
export function parsePayload(raw: unknown): SignPayload {
  return encodePayload(readPayload(raw));
}

function parseShape(raw: unknown): SignPayload {
  if (!isObject(raw)) throw bad('payload must be an object.');
  const only = (allowed: string[]) => {
    for (const k of Object.keys(raw)) if (!allowed.includes(k)) throw bad(`payload has an unknown field (${k.slice(0, 32)}).`);
  };
  switch (raw.type) {
    case 'transaction':
      only(['type', 'transaction']);
      return { type: 'transaction', transaction: transaction(raw.transaction) };
    case 'message': {
      only(['type', 'message']);
      const m = raw.message;
      if (typeof m === 'string') {
        if (m.length > 64 * 1024) throw bad('payload.message is longer than 65,536 characters.');
        return { type: 'message', message: m };
      }
      if (isObject(m) && Object.keys(m).length === 1 && 'raw' in m) return { type: 'message', message: { raw: hex(m.raw, 'message.raw', 64 * 1024) } };
      throw bad('payload.message must be a string or { raw: 0x-hex }.');
    }
    case 'typedData': {
      only(['type', 'typedData']);
      const t = raw.typedData;
      if (
        !isObject(t) ||
        !isObject(t.types) ||
        typeof t.primaryType !== 'string' ||
        !isObject(t.message ?? {}) ||
        (t.domain !== undefined && !isObject(t.domain))
      ) {
        throw bad('payload.typedData must be { domain, types, primaryType, message } (EIP-712).');
      }
      for (const k of Object.keys(t))
        if (!['domain', 'types', 'primaryType', 'message'].includes(k)) throw bad(`payload.typedData has an unknown field (${k.slice(0, 32)}).`);
      try {
        checkTypedDataLimits(t);
      } catch (e) {
        if (e instanceof TypedDataLimitError) throw bad(e.message);
        throw e;
      }
      return { type: 'typedData', typedData: t as unknown as TypedDataDefinition };
    }
    case 'authorization': {
      only(['type', 'authorization']);
      const a = raw.authorization;
      if (!isObject(a)) throw bad('payload.authorization must be { address, chainId, nonce }.');
      for (const k of Object.keys(a))
        if (!['address', 'contractAddress', 'chainId', 'nonce'].includes(k)) throw bad(`payload.authorization has an unknown field (${k.slice(0, 32)}).`);
      return {
        type: 'authorization',
        authorization: {
          address: address(a.address ?? a.contractAddress, 'authorization.address'),
          chainId: int(a.chainId, 'authorization.chainId'),
          nonce: int(a.nonce, 'authorization.nonce'),
        },
      };
    }
    default:
      throw bad('payload.type must be transaction, message, typedData or authorization.');
  }
}
