/**
 * Checks on the wallet API's fields beyond what a JSON schema can say:
 * addresses (EIP-55 mixed-case checksum, via viem) and canonical standard
 * base64 (RFC 4648 §4) of bounded decoded size. Each returns the value in the
 * form the store keeps, or throws invalid_request naming the field — never
 * echoing the value.
 */
import { getAddress, isAddress } from 'viem';
import { invalidRequest } from './errors.js';

const HEX_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * An Ethereum address (20 bytes hex), returned EIP-55 checksummed. All-lower or
 * all-upper hex is accepted as is; mixed case must be a valid EIP-55 checksum.
 * @throws {WalletError} invalid_request.
 */
export function checksumAddress(value: string, field: string): string {
  if (!HEX_ADDRESS.test(value)) throw invalidRequest(`${field} must be 0x followed by 40 hex digits.`);
  // EIP-55: a mixed-case address carries a checksum, and a wrong one is a typo.
  if (!isAddress(value, { strict: true })) throw invalidRequest(`${field} has an invalid EIP-55 checksum.`);
  const address = getAddress(value);
  if (address === ZERO_ADDRESS) throw invalidRequest(`${field} must not be the zero address.`);
  return address;
}

/**
 * Decodes canonical standard base64 whose decoded length is within [min, max].
 * @throws {WalletError} invalid_request.
 */
export function base64Bytes(value: string, field: string, size: { min: number; max: number }): Uint8Array {
  if (!BASE64.test(value)) throw invalidRequest(`${field} must be standard base64 with padding.`);
  const bytes = Buffer.from(value, 'base64');
  // Non-zero bits after the last full byte mean a different encoder or a corrupted value.
  if (bytes.toString('base64') !== value) throw invalidRequest(`${field} is not canonical base64.`);
  if (bytes.length < size.min || bytes.length > size.max) {
    throw invalidRequest(`${field} must decode to ${size.min}-${size.max} bytes (got ${bytes.length}).`);
  }
  // A copy: Buffer.from may return a view of Node's shared pool.
  return new Uint8Array(bytes);
}
