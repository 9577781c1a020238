/**
 * A device's email login against the built-in issuer, as a user would do it
 * with @symbolon/sdk, reading the code from the dev mailbox
 * (SYMBOLON_DEV_MAILBOX=1) instead of an inbox.
 */
import { startEmailLogin, verifyEmailCode, type OidcSession } from '../../packages/sdk/src/index.js';

/** Logs `email` in at the built-in issuer `issuerUrl` (…/oidc) with the newest code in the dev mailbox. */
export async function emailLogin(issuerUrl: string, email: string): Promise<OidcSession> {
  await startEmailLogin({ issuerUrl, email });
  const r = await fetch(`${issuerUrl}/dev/mailbox?email=${encodeURIComponent(email)}`);
  const messages = ((await r.json()) as { messages: Array<{ code: string }> }).messages;
  return verifyEmailCode({ issuerUrl, email, code: messages[0]!.code }); // newest first
}
