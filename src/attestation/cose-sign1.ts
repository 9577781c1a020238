/**
 * COSE_Sign1 (RFC 9052 §4.2) with one signer and ES384 (RFC 9053 §2.1), as AWS
 * Nitro attestation documents use it:
 *
 *   COSE_Sign1 = [ protected: bstr .cbor {1: -35}, unprotected: {}, payload: bstr, signature: bstr ]
 *
 * encoded untagged (as the NSM emits it; the tagged form #6.18 is accepted on
 * input). The signature is over Sig_structure = ["Signature1", protected,
 * external_aad = h'', payload] (RFC 9052 §4.4), in the fixed-length r || s form
 * (96 bytes for P-384, RFC 9053 §2.1). Decoding is strict: deterministic CBOR
 * integers, no indefinite lengths, no duplicate map keys, no trailing bytes,
 * exactly the header parameters above.
 */
import { decode, encode, type TagDecoder } from 'cborg';
import { AttestationError } from './errors.js';
import { COSE_ALG_ES384, MAX_DOCUMENT_BYTES } from './document.js';

/** ES384 signatures are r || s, 48 bytes each. */
export const ES384_SIGNATURE_BYTES = 96;

const PROTECTED_ES384 = encode(new Map([[1, COSE_ALG_ES384]]));

class Tagged {
  constructor(readonly value: unknown) {}
}
const coseTags: TagDecoder[] = [];
coseTags[18] = (inner: unknown) => new Tagged(inner);

/** Options for every CBOR decode of untrusted bytes. */
export const STRICT_CBOR = {
  strict: true,
  useMaps: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
} as const;

/** Sig_structure for a COSE_Sign1 without external AAD (RFC 9052 §4.4). */
export function sigStructure(protectedHeader: Uint8Array, payload: Uint8Array): Uint8Array {
  return encode(['Signature1', protectedHeader, new Uint8Array(0), payload]);
}

/**
 * Builds an untagged COSE_Sign1 with the ES384 protected header.
 * @param sign returns the 96-byte r || s ES384 signature of its input.
 * @throws {RangeError} when `sign` returns something other than 96 bytes.
 */
export function encodeCoseSign1(payload: Uint8Array, sign: (toBeSigned: Uint8Array) => Uint8Array): Uint8Array {
  const signature = sign(sigStructure(PROTECTED_ES384, payload));
  if (signature.length !== ES384_SIGNATURE_BYTES) throw new RangeError(`ES384 signature must be ${ES384_SIGNATURE_BYTES} bytes, got ${signature.length}`);
  return encode([PROTECTED_ES384, new Map(), payload, signature]);
}

export interface DecodedCoseSign1 {
  payload: Uint8Array;
  signature: Uint8Array;
  /** The exact bytes the signature covers. */
  toBeSigned: Uint8Array;
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/**
 * Decodes a COSE_Sign1 and checks its structure and algorithm; does not verify
 * the signature (the key comes from the payload's certificate).
 * @throws {AttestationError} `malformed` or `unsupported_algorithm`.
 */
export function decodeCoseSign1(bytes: Uint8Array): DecodedCoseSign1 {
  if (!isBytes(bytes)) throw new TypeError('document must be a Uint8Array');
  if (bytes.length === 0 || bytes.length > MAX_DOCUMENT_BYTES) {
    throw new AttestationError('malformed', `The attestation document is ${bytes.length} bytes; expected 1 to ${MAX_DOCUMENT_BYTES}.`);
  }
  let outer: unknown;
  try {
    outer = decode(bytes, { ...STRICT_CBOR, tags: coseTags });
  } catch {
    throw new AttestationError('malformed', 'The attestation document is not well-formed CBOR (or has bytes after the COSE_Sign1).');
  }
  if (outer instanceof Tagged) outer = outer.value;
  if (!Array.isArray(outer) || outer.length !== 4) throw new AttestationError('malformed', 'The attestation document is not a COSE_Sign1 array of 4 items.');
  const [protectedHeader, unprotected, payload, signature] = outer as unknown[];
  if (!isBytes(protectedHeader) || !isBytes(payload) || !isBytes(signature)) {
    throw new AttestationError('malformed', 'The COSE_Sign1 protected header, payload and signature must be byte strings.');
  }
  if (!(unprotected instanceof Map) || unprotected.size !== 0) {
    throw new AttestationError('malformed', 'The COSE_Sign1 unprotected header must be an empty map.');
  }
  let header: unknown;
  try {
    header = decode(protectedHeader, STRICT_CBOR);
  } catch {
    throw new AttestationError('malformed', 'The COSE_Sign1 protected header is not well-formed CBOR.');
  }
  if (!(header instanceof Map) || !header.has(1))
    throw new AttestationError('malformed', 'The COSE_Sign1 protected header must be a map naming the algorithm (label 1).');
  const alg = header.get(1);
  if (alg !== COSE_ALG_ES384) {
    throw new AttestationError('unsupported_algorithm', `The COSE algorithm ${typeof alg === 'number' ? alg : typeof alg} is not ES384 (-35).`);
  }
  if (header.size !== 1) throw new AttestationError('malformed', 'The COSE_Sign1 protected header must hold only the algorithm.');
  if (signature.length !== ES384_SIGNATURE_BYTES) {
    throw new AttestationError('malformed', `The ES384 signature is ${signature.length} bytes; expected ${ES384_SIGNATURE_BYTES}.`);
  }
  return { payload, signature, toBeSigned: sigStructure(protectedHeader, payload) };
}
