/**
 * The attestation document: the payload of a COSE_Sign1, shaped exactly like
 * the one an AWS Nitro Enclaves Nitro Secure Module (NSM) returns
 * (aws-nitro-enclaves-nsm-api, docs/attestation_process.md):
 *
 *   AttestationDocument = {
 *     module_id:   text,                ; the issuing platform module
 *     digest:      "SHA384",            ; the PCR hash function
 *     timestamp:   uint,                ; milliseconds since the UNIX epoch
 *     pcrs:        { + index => bytes }, ; index 0..31; 48-byte SHA-384 values here
 *     certificate: bytes .size (1..1024),
 *     cabundle:    [ * bytes .size (1..1024) ],
 *     ? public_key: bytes .size (0..1024) / null,
 *     ? user_data:  bytes .size (0..1024) / null,
 *     ? nonce:      bytes .size (0..1024) / null,
 *   }
 *
 * Here `certificate` and `cabundle[0]` hold the platform attestation key as a
 * DER SubjectPublicKeyInfo (P-384) rather than an X.509 chain to the AWS
 * Nitro root: see docs/signer.md for what a real Nitro deployment changes.
 */
import { encode } from 'cborg';

/** The COSE algorithm of every document: ECDSA P-384 with SHA-384 (RFC 9053 §2.1). */
export const COSE_ALG_ES384 = -35;
/** Every PCR is a SHA-384 value. */
export const PCR_BYTES = 48;
/** NSM limits (attestation_process.md). */
export const MAX_PCR_INDEX = 31;
export const MAX_CERT_BYTES = 1024;
export const MAX_USER_DATA_BYTES = 1024;
/** A Nitro document is about 4.5 KiB; ours about 1 KiB. Anything much larger is not a document. */
export const MAX_DOCUMENT_BYTES = 32 * 1024;
/** Documents older than this are refused (AWS KMS treats Nitro documents as short-lived; so do we). */
export const MAX_DOCUMENT_AGE_MS = 5 * 60_000;
/** How far in the future a timestamp may be (clock skew between platform and verifier). */
export const MAX_CLOCK_SKEW_MS = 30_000;

export interface AttestationDocument {
  moduleId: string;
  digest: 'SHA384';
  /** Milliseconds since the UNIX epoch, as the platform's clock read it. */
  timestamp: number;
  /** PCR index -> 48-byte measurement. PCR0 is the signer image (ImageSha384). */
  pcrs: ReadonlyMap<number, Uint8Array>;
  /** The platform key's DER SubjectPublicKeyInfo (Nitro: the signing X.509 certificate). */
  certificate: Uint8Array;
  /** The issuing chain, root first (Nitro: the CA bundle up to the AWS Nitro root). */
  cabundle: readonly Uint8Array[];
  /** The attested party's public key (RSA, DER SubjectPublicKeyInfo, for KMS recipients). */
  publicKey: Uint8Array | undefined;
  userData: Uint8Array | undefined;
  nonce: Uint8Array | undefined;
}

/**
 * Encodes a document's payload map (CBOR, RFC 8949), with Nitro's field names
 * and absent optional fields as null, as the NSM does.
 * @throws {RangeError} when a field is outside the NSM limits.
 */
export function encodeAttestationPayload(doc: AttestationDocument): Uint8Array {
  if (doc.moduleId.length === 0) throw new RangeError('moduleId must not be empty');
  if (!Number.isSafeInteger(doc.timestamp) || doc.timestamp <= 0) throw new RangeError('timestamp must be a positive integer (ms)');
  if (doc.pcrs.size === 0 || doc.pcrs.size > MAX_PCR_INDEX + 1) throw new RangeError('pcrs must hold 1 to 32 entries');
  for (const [i, v] of doc.pcrs) {
    if (!Number.isInteger(i) || i < 0 || i > MAX_PCR_INDEX) throw new RangeError(`pcr index ${i} is outside 0..31`);
    if (v.length !== PCR_BYTES) throw new RangeError(`pcr ${i} must be ${PCR_BYTES} bytes, got ${v.length}`);
  }
  for (const [name, v, max] of [
    ['certificate', doc.certificate, MAX_CERT_BYTES],
    ['publicKey', doc.publicKey, MAX_USER_DATA_BYTES],
    ['userData', doc.userData, MAX_USER_DATA_BYTES],
    ['nonce', doc.nonce, MAX_USER_DATA_BYTES],
  ] as const) {
    if (v !== undefined && v.length > max) throw new RangeError(`${name} must be at most ${max} bytes, got ${v.length}`);
  }
  if (doc.cabundle.length === 0) throw new RangeError('cabundle must hold at least one certificate');
  return encode(
    new Map<string, unknown>([
      ['module_id', doc.moduleId],
      ['digest', doc.digest],
      ['timestamp', doc.timestamp],
      ['pcrs', new Map([...doc.pcrs].sort((a, b) => a[0] - b[0]))],
      ['certificate', doc.certificate],
      ['cabundle', [...doc.cabundle]],
      ['public_key', doc.publicKey ?? null],
      ['user_data', doc.userData ?? null],
      ['nonce', doc.nonce ?? null],
    ]),
  );
}
