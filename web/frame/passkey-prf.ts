/**
 * The passkey wrap of the device share in the frame (docs/frame.md, "The
 * device share"; packages/sdk/src/split/deviceShare.ts, PasskeyPrf): asks
 * the browser for one of `allow`'s passkeys with the WebAuthn `prf`
 * extension and returns its PRF output for `input`. No server takes part:
 * the assertion is not sent anywhere, only the PRF output is used, here,
 * to derive the key that unwraps share C; the caller wipes it. The relying
 * party is the frame's own host name (the built-in issuer's passkeys), so
 * this works wherever the frame may run a ceremony: its own pages, and an
 * iframe the DApp allowed `publickey-credentials-get` (the SDK's does).
 */
import type { PasskeyPrfResult } from '../../packages/sdk/src/split/deviceShare.js';
import { SplitError } from '../../packages/sdk/src/split/errors.js';

/** Base64url (the issuer's credential ids) to bytes. */
export function credentialIdBytes(id: string): Uint8Array {
  const b64 = id.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/**
 * The PRF output of one of `allow` for `input`, after the user verifies on the authenticator.
 * @throws {SplitError} DEVICE_PRF_UNSUPPORTED when the authenticator (or the passkey) has no PRF; NO_PASSKEY when `allow` is empty;
 *   the browser's NotAllowedError when the user cancels.
 */
export async function evaluatePasskeyPrf(request: { allow: Uint8Array[]; input: Uint8Array }): Promise<PasskeyPrfResult> {
  if (request.allow.length === 0) throw new SplitError('NO_PASSKEY', 'Add a passkey on your wallet page first: the device share is wrapped under one.');
  const credential = (await navigator.credentials.get({
    publicKey: {
      // Nothing verifies this assertion: the challenge only has to be fresh.
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      allowCredentials: request.allow.map((id) => ({ type: 'public-key', id: id as Uint8Array<ArrayBuffer> })),
      userVerification: 'required',
      timeout: 5 * 60_000,
      extensions: { prf: { eval: { first: request.input as Uint8Array<ArrayBuffer> } } },
    },
  })) as PublicKeyCredential | null;
  if (!credential) throw new SplitError('NO_PASSKEY', 'No passkey answered.');
  const first = credential.getClientExtensionResults().prf?.results?.first;
  if (!first)
    throw new SplitError(
      'DEVICE_PRF_UNSUPPORTED',
      'This passkey cannot protect the device share: its authenticator has no PRF extension (hmac-secret), or the passkey was made without it. Use a passkey that supports it, or add the device share without a passkey.',
    );
  // A view on the browser's own buffer: wiping it wipes the output.
  const output = first instanceof ArrayBuffer ? new Uint8Array(first) : new Uint8Array(first.buffer, first.byteOffset, first.byteLength);
  return { credentialId: new Uint8Array(credential.rawId), output };
}
