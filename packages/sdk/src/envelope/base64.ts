/**
 * Base64 (RFC 4648 §4) and base64url (§5) for the browser and Node alike,
 * without Buffer: the wallet API carries ciphertexts as base64, JWT payloads
 * are base64url. Decoding is strict (alphabet, padding, length).
 */

const STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function bytesToBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/**
 * @throws {TypeError} when `text` is not canonical padded base64.
 */
export function base64ToBytes(text: string, field: string): Uint8Array {
  if (typeof text !== 'string' || !STD.test(text)) throw new TypeError(`${field} is not base64`);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * @throws {TypeError} when `text` is not base64url.
 */
export function base64UrlToBytes(text: string, field: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new TypeError(`${field} is not base64url`);
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  return base64ToBytes(std + '='.repeat((4 - (std.length % 4)) % 4), field);
}
