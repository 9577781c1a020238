/**
 * Reads the payload of an attestation document with the checks AWS documents
 * for Nitro documents (aws-nitro-enclaves-nsm-api, docs/attestation_process.md,
 * "Syntactical validation"): every mandatory field present with its CBOR type,
 * `digest` = "SHA384", `timestamp` > 0, 1 to 32 PCRs with indices 0..31,
 * certificate and CA bundle entries 1..1024 bytes, optional fields null or at
 * most 1024 bytes. Stricter than Nitro where this platform is: every PCR is 48
 * bytes (SHA-384), and no unknown field is accepted.
 */
import { decode } from 'cborg';
import { AttestationError } from './errors.js';
import { STRICT_CBOR } from './cose-sign1.js';
import { MAX_CERT_BYTES, MAX_PCR_INDEX, MAX_USER_DATA_BYTES, PCR_BYTES, type AttestationDocument } from './document.js';

const FIELDS = new Set(['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce']);

function malformed(message: string): AttestationError {
  return new AttestationError('malformed', message);
}

function bytesField(map: Map<unknown, unknown>, name: string, min: number, max: number): Uint8Array {
  const v = map.get(name);
  if (!(v instanceof Uint8Array)) throw malformed(`The attestation document's ${name} must be a byte string.`);
  if (v.length < min || v.length > max) throw malformed(`The attestation document's ${name} is ${v.length} bytes; expected ${min} to ${max}.`);
  return v;
}

function optionalBytes(map: Map<unknown, unknown>, name: string): Uint8Array | undefined {
  const v = map.get(name);
  if (v === undefined || v === null) return undefined;
  return bytesField(map, name, 0, MAX_USER_DATA_BYTES);
}

/**
 * Parses and checks a payload.
 * @throws {AttestationError} `malformed`.
 */
export function parseAttestationPayload(payload: Uint8Array): AttestationDocument {
  let map: unknown;
  try {
    map = decode(payload, STRICT_CBOR);
  } catch {
    throw malformed('The attestation document payload is not well-formed CBOR (or has trailing bytes).');
  }
  if (!(map instanceof Map)) throw malformed('The attestation document payload must be a CBOR map.');
  for (const k of map.keys()) {
    if (typeof k !== 'string' || !FIELDS.has(k)) throw malformed('The attestation document payload has an unknown field.');
  }

  const moduleId = map.get('module_id');
  if (typeof moduleId !== 'string' || moduleId.length === 0 || moduleId.length > 256)
    throw malformed('The attestation document module_id must be 1 to 256 characters of text.');
  const digest = map.get('digest');
  if (digest !== 'SHA384') throw malformed('The attestation document digest must be "SHA384".');
  const timestamp = map.get('timestamp');
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp <= 0) {
    throw malformed('The attestation document timestamp must be a positive integer (milliseconds).');
  }

  const rawPcrs = map.get('pcrs');
  if (!(rawPcrs instanceof Map) || rawPcrs.size < 1 || rawPcrs.size > MAX_PCR_INDEX + 1) {
    throw malformed('The attestation document pcrs must be a map of 1 to 32 entries.');
  }
  const pcrs = new Map<number, Uint8Array>();
  for (const [index, value] of rawPcrs) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > MAX_PCR_INDEX) {
      throw malformed('A PCR index of the attestation document is not an integer from 0 to 31.');
    }
    if (!(value instanceof Uint8Array) || value.length !== PCR_BYTES) {
      throw malformed(`PCR${index} of the attestation document is ${value instanceof Uint8Array ? value.length : 0} bytes; expected ${PCR_BYTES} (SHA-384).`);
    }
    pcrs.set(index, value);
  }

  const certificate = bytesField(map, 'certificate', 1, MAX_CERT_BYTES);
  const rawBundle = map.get('cabundle');
  if (!Array.isArray(rawBundle) || rawBundle.length === 0) throw malformed('The attestation document cabundle must be a non-empty array.');
  const cabundle = rawBundle.map((c: unknown) => {
    if (!(c instanceof Uint8Array) || c.length < 1 || c.length > MAX_CERT_BYTES)
      throw malformed('A cabundle entry of the attestation document is not 1 to 1024 bytes.');
    return c;
  });

  return {
    moduleId,
    digest,
    timestamp,
    pcrs,
    certificate,
    cabundle,
    publicKey: optionalBytes(map, 'public_key'),
    userData: optionalBytes(map, 'user_data'),
    nonce: optionalBytes(map, 'nonce'),
  };
}
