/**
 * Issues an attestation document: the platform (the signer's launcher, in the
 * Nitro hypervisor's role) binds the measurements IT computed at launch to the
 * public key, user data and nonce the signer asked for, dates it, and signs
 * the COSE_Sign1 with its platform key (ES384).
 */
import { encodeAttestationPayload } from './document.js';
import { encodeCoseSign1 } from './cose-sign1.js';
import type { PlatformKey } from './platform-key.js';

export interface AttestationRequest {
  /** The measurements taken at launch (index -> 48-byte SHA-384). */
  pcrs: ReadonlyMap<number, Uint8Array>;
  moduleId: string;
  publicKey?: Uint8Array | undefined;
  userData?: Uint8Array | undefined;
  nonce?: Uint8Array | undefined;
  /** Milliseconds since the epoch (default: now). */
  timestamp?: number;
}

/**
 * @returns the COSE_Sign1 bytes.
 * @throws {RangeError} when a field is outside the NSM limits (see document.ts).
 */
export function signAttestationDocument(platform: PlatformKey, request: AttestationRequest): Uint8Array {
  const payload = encodeAttestationPayload({
    moduleId: request.moduleId,
    digest: 'SHA384',
    timestamp: request.timestamp ?? Date.now(),
    pcrs: request.pcrs,
    certificate: platform.spki,
    // A one-certificate chain: the platform key is its own root (docs/signer.md).
    cabundle: [platform.spki],
    publicKey: request.publicKey,
    userData: request.userData,
    nonce: request.nonce,
  });
  return encodeCoseSign1(payload, (tbs) => platform.sign(tbs));
}
