/**
 * The WebAuthn ceremonies of the built-in issuer's passkeys (W3C Web
 * Authentication Level 3): registration (§7.1) and authentication (§7.2) with
 * discoverable ("resident") credentials and user verification required.
 *
 * Attestation and assertion verification — CBOR and COSE decoding, the
 * authenticator-data flags, the RP ID hash, the signature over
 * authenticatorData ‖ SHA-256(clientDataJSON) — is @simplewebauthn/server's
 * (pinned). It is here because it is maintained, widely deployed, and follows
 * the FIDO conformance tests; hand-rolled CBOR/COSE verification is exactly the
 * code that must not be written again. This module only chooses the options,
 * maps the library's refusals to stable codes, and never sees a secret: a
 * passkey's private key never leaves its authenticator.
 *
 * The relying party is the wallet's public URL (SYMBOLON_PUBLIC_URL, where the
 * frame is served): RP ID its host name, the only accepted origin its origin.
 * WebAuthn RP IDs are domain names; on a loopback IP address (the development
 * default `http://127.0.0.1:<port>`) the RP is `localhost` at
 * `http://localhost:<port>` (same server, a name browsers accept); on any
 * other IP address passkeys are unavailable.
 */
import { isIP } from 'node:net';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { IssuerError } from '../errors.js';
import type { PasskeyRow } from '../../storage/passkeys.repository.js';

export interface RelyingParty {
  /** WebAuthn RP ID: a domain name. */
  id: string;
  /** The one origin whose ceremonies are accepted. */
  origin: string;
}

/** How long a challenge is valid (WebAuthn §15.4 recommends a timeout of a few minutes). */
export const CHALLENGE_TTL_MS = 5 * 60_000;
const RP_NAME = 'Symbolon wallet';
/** COSE algorithms accepted: ES256, EdDSA, RS256 (what platform authenticators and security keys use). */
const ALGORITHMS = [-7, -8, -257];

/**
 * The relying party of a public URL.
 * @throws {IssuerError} passkeys_unavailable when the URL's host is a non-loopback IP address.
 */
export function relyingParty(publicUrl: string): RelyingParty {
  const u = new URL(publicUrl);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) === 0) return { id: host.toLowerCase(), origin: u.origin };
  if (host === '127.0.0.1' || host === '::1') return { id: 'localhost', origin: `${u.protocol}//localhost${u.port ? `:${u.port}` : ''}` };
  throw new IssuerError(
    'passkeys_unavailable',
    'Passkeys need the wallet to be reached by a domain name (SYMBOLON_PUBLIC_URL); WebAuthn does not accept an IP address.',
  );
}

/** Maps a verification failure to a stable code; the library's text names no secret but is kept out of responses anyway. */
function refusal(e: unknown): IssuerError {
  const m = e instanceof Error ? e.message : '';
  if (/challenge/i.test(m)) return new IssuerError('challenge_mismatch', 'The passkey response answers another challenge.');
  if (/origin/i.test(m)) return new IssuerError('origin_mismatch', 'The passkey response comes from another origin.');
  if (/RP ID|rpID/i.test(m)) return new IssuerError('rp_id_mismatch', 'The passkey response is for another relying party.');
  if (/user verification|user could not be verified|not present/i.test(m)) {
    return new IssuerError('user_not_verified', 'The authenticator did not verify the user (a PIN or biometric is required).');
  }
  if (/counter/i.test(m)) return new IssuerError('counter_not_increased', 'The passkey signature counter did not increase: the passkey may be cloned.');
  return new IssuerError('passkey_invalid', 'The passkey response could not be verified.');
}

/** Options for navigator.credentials.create(): a discoverable credential with UV required. */
export function registrationOptions(o: {
  rp: RelyingParty;
  /** base64url of the challenge bytes. */
  challenge: string;
  sub: string;
  email: string;
  existing: readonly PasskeyRow[];
}): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: RP_NAME,
    rpID: o.rp.id,
    // The user handle is the stable `sub` (WebAuthn §14.6.1: no personal data in it).
    userID: new TextEncoder().encode(o.sub),
    userName: o.email,
    userDisplayName: o.email,
    // Bytes: a string would be taken as text and encoded again.
    challenge: Buffer.from(o.challenge, 'base64url'),
    timeout: CHALLENGE_TTL_MS,
    attestationType: 'none',
    excludeCredentials: o.existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    supportedAlgorithmIDs: ALGORITHMS,
    // The PRF extension (CTAP2 hmac-secret) is enabled at creation where the authenticator has it: the
    // device share's passkey wrap evaluates it later, in the wallet frame only (docs/signer.md, "The passkey wrap").
    extensions: { prf: {} },
  });
}

/** Options for navigator.credentials.get(): any discoverable credential (login) or one of `allow` (step-up). */
export function authenticationOptions(o: {
  rp: RelyingParty;
  challenge: string;
  allow?: readonly PasskeyRow[];
}): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: o.rp.id,
    challenge: Buffer.from(o.challenge, 'base64url'),
    timeout: CHALLENGE_TTL_MS,
    userVerification: 'required',
    ...(o.allow ? { allowCredentials: o.allow.map((p) => ({ id: p.credentialId, transports: p.transports })) } : {}),
  });
}

/** A verified new credential: what the store keeps, before it is given its user and times. */
export type NewPasskey = Omit<PasskeyRow, 'sub' | 'createdAt' | 'lastUsedAt'>;

/**
 * Verifies a registration response (WebAuthn §7.1).
 * @throws {IssuerError} challenge_mismatch, origin_mismatch, rp_id_mismatch, user_not_verified, passkey_invalid.
 */
export async function verifyRegistration(o: { rp: RelyingParty; challenge: string; response: unknown }): Promise<NewPasskey> {
  let r: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    r = await verifyRegistrationResponse({
      response: o.response as RegistrationResponseJSON,
      expectedChallenge: o.challenge,
      expectedOrigin: o.rp.origin,
      expectedRPID: o.rp.id,
      requireUserVerification: true,
      supportedAlgorithmIDs: ALGORITHMS,
    });
  } catch (e) {
    throw refusal(e);
  }
  if (!r.verified) throw new IssuerError('passkey_invalid', 'The passkey response could not be verified.');
  const info = r.registrationInfo;
  return {
    credentialId: info.credential.id,
    publicKey: new Uint8Array(info.credential.publicKey),
    counter: info.credential.counter,
    transports: [...(info.credential.transports ?? [])],
    backupEligible: info.credentialDeviceType === 'multiDevice',
    backedUp: info.credentialBackedUp,
    aaguid: info.aaguid,
  };
}

/**
 * Verifies an assertion (WebAuthn §7.2) by a stored passkey: signature, origin, RP ID,
 * UV, and a signature counter above the stored one (§6.1.1) when either is non-zero.
 * @throws {IssuerError} challenge_mismatch, origin_mismatch, rp_id_mismatch, user_not_verified,
 *   counter_not_increased, passkey_invalid.
 */
export async function verifyAssertion(o: {
  rp: RelyingParty;
  challenge: string;
  response: unknown;
  passkey: PasskeyRow;
  /**
   * The pages that may embed the wallet's frame (SYMBOLON_FRAME_ALLOWED_ORIGINS): an assertion made in
   * the frame inside one of them (clientData `crossOrigin`, with `topOrigin`) is accepted; any other
   * top origin is refused (origin_mismatch). Empty: only assertions made on the wallet's own page.
   */
  topOrigins?: readonly string[];
}): Promise<{ counter: number; backedUp: boolean }> {
  const response = o.response as AuthenticationResponseJSON;
  // §7.2 step 6: the user handle, when returned, must be the credential's user.
  const handle = response.response?.userHandle;
  if (handle !== undefined && handle !== Buffer.from(o.passkey.sub, 'utf8').toString('base64url')) {
    throw new IssuerError('passkey_invalid', 'The passkey response names another user.');
  }
  let r: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    r = await verifyAuthenticationResponse({
      response,
      expectedChallenge: o.challenge,
      expectedOrigin: o.rp.origin,
      expectedRPID: o.rp.id,
      // Never an empty list: the library takes a missing value as "refuse every cross-origin response".
      ...(o.topOrigins && o.topOrigins.length > 0 ? { expectedTopOrigin: [...o.topOrigins] } : {}),
      credential: { id: o.passkey.credentialId, publicKey: new Uint8Array(o.passkey.publicKey), counter: o.passkey.counter },
      requireUserVerification: true,
    });
  } catch (e) {
    throw refusal(e);
  }
  if (!r.verified) throw new IssuerError('passkey_invalid', 'The passkey response could not be verified.');
  return { counter: r.authenticationInfo.newCounter, backedUp: r.authenticationInfo.credentialBackedUp };
}

/** The credential id a response names, if it is a base64url string of sane length. */
export function responseCredentialId(response: unknown): string | undefined {
  const id = (response as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id.length > 0 && id.length <= 1400 && /^[A-Za-z0-9_-]+$/.test(id) ? id : undefined;
}
