/**
 * The DER (ITU-T X.690) structures the custodian speaks:
 *  - ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }  (RFC 3279 §2.2.3), as KMS Sign returns it;
 *  - SubjectPublicKeyInfo for an EC key (RFC 5480), as KMS GetPublicKey returns it;
 *  - PKCS #8 PrivateKeyInfo holding an ECPrivateKey (RFC 5208, RFC 5915), as
 *    KMS GenerateDataKeyPair returns a private key (encoding only).
 * Decoding is strict: minimal lengths, minimal non-negative integers, no trailing
 * bytes. Anything else is rejected (BER leniency is a signature-malleability source).
 */
import { concatBytes as cat } from './bytes.js';

/** Raised on bytes that are not the strict DER this module accepts. */
export class DerError extends Error {
  override name = 'DerError';
}

const OID_EC_PUBLIC_KEY = Uint8Array.from([0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]); // 1.2.840.10045.2.1
const OID_SECP256K1 = Uint8Array.from([0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]); // 1.3.132.0.10
const OID_PRIME256V1 = Uint8Array.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]); // 1.2.840.10045.3.1.7

export type EcCurve = 'secp256k1' | 'P-256';

function encodeLength(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0x81, n];
  if (n < 0x10000) return [0x82, n >> 8, n & 0xff];
  throw new DerError('DER length too large');
}

function tlv(tag: number, body: Uint8Array): Uint8Array {
  const len = encodeLength(body.length);
  const out = new Uint8Array(1 + len.length + body.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

/** Encodes an unsigned big-endian integer as a minimal DER INTEGER. */
function derUint(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let body = bytes.subarray(i);
  if ((body[0] ?? 0) & 0x80) body = cat(Uint8Array.of(0), body);
  return tlv(0x02, body);
}

/** Encodes a 64-byte r || s signature as DER ECDSA-Sig-Value. */
export function encodeEcdsaSignatureDer(compact: Uint8Array): Uint8Array {
  if (compact.length !== 64) throw new RangeError('signature must be 64 bytes (r || s)');
  return tlv(0x30, cat(derUint(compact.subarray(0, 32)), derUint(compact.subarray(32, 64))));
}

interface Reader {
  buf: Uint8Array;
  pos: number;
}

function readTlv(r: Reader, expectedTag: number): Uint8Array {
  const tag = r.buf[r.pos++];
  if (tag !== expectedTag) throw new DerError(`expected DER tag 0x${expectedTag.toString(16)}`);
  const first = r.buf[r.pos++];
  if (first === undefined) throw new DerError('truncated DER length');
  let len: number;
  if (first < 0x80) len = first;
  else if (first === 0x81) {
    const b = r.buf[r.pos++];
    if (b === undefined || b < 0x80) throw new DerError('non-minimal DER length');
    len = b;
  } else if (first === 0x82) {
    const hi = r.buf[r.pos++];
    const lo = r.buf[r.pos++];
    if (hi === undefined || lo === undefined || hi === 0) throw new DerError('non-minimal DER length');
    len = (hi << 8) | lo;
  } else throw new DerError('unsupported DER length form');
  if (r.pos + len > r.buf.length) throw new DerError('truncated DER value');
  const body = r.buf.subarray(r.pos, r.pos + len);
  r.pos += len;
  return body;
}

function readUint(r: Reader, size: number): Uint8Array {
  const body = readTlv(r, 0x02);
  if (body.length === 0) throw new DerError('empty DER INTEGER');
  if ((body[0] as number) & 0x80) throw new DerError('negative DER INTEGER');
  if (body.length > 1 && body[0] === 0 && !((body[1] as number) & 0x80)) throw new DerError('non-minimal DER INTEGER');
  const value = body[0] === 0 ? body.subarray(1) : body;
  if (value.length > size) throw new DerError('DER INTEGER too large');
  const out = new Uint8Array(size);
  out.set(value, size - value.length);
  return out;
}

/**
 * Decodes a strict DER ECDSA-Sig-Value into r || s (64 bytes). Range checks on
 * r and s (0 < r, s < n) are the curve code's job.
 * @throws {DerError} on anything but strict DER.
 */
export function decodeEcdsaSignatureDer(der: Uint8Array): Uint8Array {
  const outer: Reader = { buf: der, pos: 0 };
  const seq = readTlv(outer, 0x30);
  if (outer.pos !== der.length) throw new DerError('trailing bytes after DER signature');
  const inner: Reader = { buf: seq, pos: 0 };
  const r = readUint(inner, 32);
  const s = readUint(inner, 32);
  if (inner.pos !== seq.length) throw new DerError('trailing bytes inside DER signature');
  return cat(r, s);
}

/** Encodes an EC public key (65-byte uncompressed point) as DER SubjectPublicKeyInfo. */
export function encodeEcSpki(curve: EcCurve, uncompressedPoint: Uint8Array): Uint8Array {
  if (uncompressedPoint.length !== 65 || uncompressedPoint[0] !== 0x04) {
    throw new RangeError('public key must be a 65-byte uncompressed point');
  }
  const algorithm = tlv(0x30, cat(OID_EC_PUBLIC_KEY, curve === 'secp256k1' ? OID_SECP256K1 : OID_PRIME256V1));
  const bitString = tlv(0x03, cat(Uint8Array.of(0), uncompressedPoint));
  return tlv(0x30, cat(algorithm, bitString));
}

/**
 * Encodes an EC private key (32-byte scalar) and its public point as DER
 * PKCS #8 PrivateKeyInfo: version 0, id-ecPublicKey with the curve's OID, and
 * an ECPrivateKey (RFC 5915: version 1, the scalar, the public key in [1]).
 * The scalar is copied once, into the returned buffer, which the caller wipes;
 * every other byte is public.
 * @throws {RangeError} if the key is not 32 bytes or the point not a 65-byte uncompressed point.
 */
export function encodeEcPkcs8(curve: EcCurve, privateKey: Uint8Array, uncompressedPoint: Uint8Array): Uint8Array {
  if (privateKey.length !== 32) throw new RangeError('private key must be 32 bytes');
  if (uncompressedPoint.length !== 65 || uncompressedPoint[0] !== 0x04) {
    throw new RangeError('public key must be a 65-byte uncompressed point');
  }
  const algorithm = tlv(0x30, cat(OID_EC_PUBLIC_KEY, curve === 'secp256k1' ? OID_SECP256K1 : OID_PRIME256V1));
  // ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [1] publicKey BIT STRING }
  const publicKey = tlv(0xa1, tlv(0x03, cat(Uint8Array.of(0), uncompressedPoint)));
  const ecHead = Uint8Array.of(0x02, 0x01, 0x01, 0x04, 0x20);
  const ecBodyLength = ecHead.length + 32 + publicKey.length;
  const ecSeqHead = Uint8Array.of(0x30, ...encodeLength(ecBodyLength));
  const ecLength = ecSeqHead.length + ecBodyLength;
  const octetHead = Uint8Array.of(0x04, ...encodeLength(ecLength));
  const version = Uint8Array.of(0x02, 0x01, 0x00);
  const bodyLength = version.length + algorithm.length + octetHead.length + ecLength;
  const prefix = cat(Uint8Array.of(0x30, ...encodeLength(bodyLength)), version, algorithm, octetHead, ecSeqHead, ecHead);
  const out = new Uint8Array(prefix.length + 32 + publicKey.length);
  out.set(prefix, 0);
  out.set(privateKey, prefix.length);
  out.set(publicKey, prefix.length + 32);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Decodes a DER SubjectPublicKeyInfo for an EC key on secp256k1 or P-256.
 * @returns the curve and the point as encoded (uncompressed or compressed).
 * @throws {DerError} on other algorithms, curves or malformed DER.
 */
export function decodeEcSpki(der: Uint8Array): { curve: EcCurve; point: Uint8Array } {
  const outer: Reader = { buf: der, pos: 0 };
  const seq = readTlv(outer, 0x30);
  if (outer.pos !== der.length) throw new DerError('trailing bytes after SubjectPublicKeyInfo');
  const r: Reader = { buf: seq, pos: 0 };
  const alg = readTlv(r, 0x30);
  const bits = readTlv(r, 0x03);
  if (r.pos !== seq.length) throw new DerError('trailing bytes in SubjectPublicKeyInfo');
  if (!sameBytes(alg.subarray(0, OID_EC_PUBLIC_KEY.length), OID_EC_PUBLIC_KEY)) throw new DerError('not an EC public key');
  const curveOid = alg.subarray(OID_EC_PUBLIC_KEY.length);
  const curve: EcCurve | undefined = sameBytes(curveOid, OID_SECP256K1) ? 'secp256k1' : sameBytes(curveOid, OID_PRIME256V1) ? 'P-256' : undefined;
  if (!curve) throw new DerError('unsupported EC curve');
  if (bits[0] !== 0) throw new DerError('BIT STRING with unused bits');
  return { curve, point: bits.subarray(1) };
}
