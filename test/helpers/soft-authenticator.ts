/**
 * A software WebAuthn authenticator for node tests of the server's refusal
 * paths (the browser tests use Chromium's virtual authenticator instead): it
 * makes real P-256 credentials and real responses — a "none" attestation
 * object (CBOR, WebAuthn §6.5), authenticator data with the rpIdHash, flags
 * and counter (§6.1), and ES256 assertion signatures over authenticatorData ‖
 * SHA-256(clientDataJSON) (§6.3.3) — so the server verifies them exactly as it
 * verifies a browser's. Knobs let a test produce what an attacker or a broken
 * authenticator would: another origin, another RP ID, no user verification, a
 * counter that does not rise (a cloned key).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { encode } from 'cborg';

const UP = 0x01;
const UV = 0x04;
const BE = 0x08;
const BS = 0x10;
const AT = 0x40;

interface Credential {
  id: Uint8Array;
  key: KeyObject;
  counter: number;
  userHandle: string;
}

const b64u = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');

export interface CeremonyKnobs {
  origin?: string;
  rpId?: string;
  userVerified?: boolean;
  /** Sign with this counter instead of the next one (a clone's stale counter). */
  counter?: number;
  /** An assertion made in a cross-origin frame embedded in a page of this origin (clientData `crossOrigin`, `topOrigin`). */
  topOrigin?: string;
}

export class SoftAuthenticator {
  readonly credentials: Credential[] = [];
  constructor(readonly options: { origin: string; rpId: string; backupEligible?: boolean }) {}

  #flags(k: CeremonyKnobs, attested: boolean): number {
    let f = UP | (k.userVerified === false ? 0 : UV);
    if (this.options.backupEligible) f |= BE | BS;
    if (attested) f |= AT;
    return f;
  }

  #authData(rpId: string, flags: number, counter: number, attested?: Uint8Array): Uint8Array {
    const head = Buffer.alloc(37);
    createHash('sha256').update(rpId).digest().copy(head, 0);
    head[32] = flags;
    head.writeUInt32BE(counter, 33);
    return attested ? Buffer.concat([head, attested]) : head;
  }

  /** navigator.credentials.create() with `options` (PublicKeyCredentialCreationOptionsJSON). */
  create(options: Record<string, any>, k: CeremonyKnobs = {}): Record<string, unknown> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const id = randomBytes(16);
    const cred: Credential = { id, key: privateKey, counter: 0, userHandle: options.user.id };
    // RFC 9053 §7.1.1: an EC2 key, P-256, ES256.
    const cose = encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(id.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLen, id, cose]);
    const authData = this.#authData(k.rpId ?? this.options.rpId, this.#flags(k, true), 0, attested);
    const clientData = JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: k.origin ?? this.options.origin, crossOrigin: false });
    const attestationObject = encode({ fmt: 'none', attStmt: {}, authData });
    this.credentials.push(cred);
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: { clientDataJSON: b64u(clientData), attestationObject: b64u(attestationObject), transports: ['internal'] },
    };
  }

  /** navigator.credentials.get() with `options` (PublicKeyCredentialRequestOptionsJSON), using credential `index`. */
  get(options: Record<string, any>, k: CeremonyKnobs = {}, index = 0): Record<string, unknown> {
    const cred = this.credentials[index]!;
    const counter = k.counter ?? ++cred.counter;
    const authData = this.#authData(k.rpId ?? this.options.rpId, this.#flags(k, false), counter);
    const clientData = Buffer.from(
      JSON.stringify({
        type: 'webauthn.get',
        challenge: options.challenge,
        origin: k.origin ?? this.options.origin,
        ...(k.topOrigin !== undefined ? { crossOrigin: true, topOrigin: k.topOrigin } : { crossOrigin: false }),
      }),
    );
    const signature = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientData).digest()]), cred.key);
    return {
      id: b64u(cred.id),
      rawId: b64u(cred.id),
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: { clientDataJSON: b64u(clientData), authenticatorData: b64u(authData), signature: b64u(signature), userHandle: cred.userHandle },
    };
  }
}
