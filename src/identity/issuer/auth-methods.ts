/**
 * How a user logged in, as the built-in issuer's tokens say it: `amr`
 * (Authentication Method Reference values, RFC 8176 §2), `acr` and
 * `auth_time` (OIDC Core §2). Pure.
 *
 * - An email code is `otp` (RFC 8176: a one-time password).
 * - A passkey is `hwk` (a key that cannot leave its authenticator: the
 *   credential is not backup eligible, WebAuthn §6.1 flag BE = 0) or `swk`
 *   (a synced passkey, BE = 1, whose private key a passkey provider copies
 *   between devices), plus `user`: the authenticator verified the user (UV is
 *   required, by PIN or biometric — which one is not reported to the server).
 * - `mfa` is added when the login used two distinct factors: a passkey with
 *   user verification (possession of the key and the PIN/biometric the
 *   authenticator checked: a multi-factor cryptographic authenticator, NIST
 *   SP 800-63B §5.1.9), and so also an email code followed by a passkey
 *   step-up. An email code alone is one factor.
 * - `acr` is `phr` (phishing-resistant: OpenID Extended Authentication Profile
 *   ACR values 1.0) when a passkey was used in the login, otherwise
 *   `urn:symbolon:acr:email-otp`.
 */

export const EMAIL_OTP_AMR: readonly string[] = Object.freeze(['otp']);
export const ACR_PHISHING_RESISTANT = 'phr';
export const ACR_EMAIL_OTP = 'urn:symbolon:acr:email-otp';

/** The order values appear in, so equal sets give equal claims. */
const ORDER = ['otp', 'hwk', 'swk', 'user', 'mfa'];

/** The amr of one passkey assertion with user verification. */
export function passkeyAmr(backupEligible: boolean): string[] {
  return [backupEligible ? 'swk' : 'hwk', 'user', 'mfa'];
}

/**
 * The amr of a login that added `next` to `prior` (a step-up): the union, in a
 * fixed order, with `mfa` when a passkey with UV is among them. Values this
 * issuer never writes are dropped (a prior amr comes from a token it signed).
 */
export function combineAmr(prior: readonly string[], next: readonly string[]): string[] {
  const all = new Set([...prior, ...next]);
  if ((all.has('hwk') || all.has('swk')) && all.has('user')) all.add('mfa');
  return ORDER.filter((v) => all.has(v));
}

/** The acr for an amr. */
export function acrFor(amr: readonly string[]): string {
  return amr.includes('hwk') || amr.includes('swk') ? ACR_PHISHING_RESISTANT : ACR_EMAIL_OTP;
}
