/**
 * Step-up: ask the logged-in user for a second factor (a passkey assertion,
 * docs/identity.md "Step-up") before something a policy guards.
 *
 * Contract of `stepUp(session, reason)`:
 * - Shows the "Confirm it's you" screen with `reason` (plain text, shown with
 *   textContent) and, on the user's click, asks the browser for one of the
 *   user's passkeys. The screen stays until it succeeds or the user cancels;
 *   a refused or cancelled assertion shows its message and can be retried.
 * - On success the session's tokens are replaced by the issuer's new ones
 *   (`amr` with `mfa`, `auth_time` now) and returned. STS credentials made
 *   from the old ID token do not gain MFA: the caller must assume the role
 *   again with the new ID token (open the wallet backend again).
 * - Rejects with ui.Dismissed when the user cancels, and with
 *   StepUpUnavailableError when the session cannot step up: not logged in
 *   with the built-in issuer, or no passkey (code `no_passkey`: the user adds
 *   one on the wallet's home page).
 * - Passkeys need the wallet's origin to be the top-level page or an iframe
 *   allowed `publickey-credentials-get` (the SDK's iframe is: a step-up in the
 *   frame inside a DApp page is web/frame/step-up-retry.ts's; docs/frame.md).
 * - The caller restores its own screen afterwards.
 */
import { IssuerRequestError, type Session } from './session.js';
import * as ui from './ui.js';

export interface StepUpTokens {
  accessToken: string;
  idToken: string;
}

/** The session cannot step up: `code` is `not_builtin` or `no_passkey`. */
export class StepUpUnavailableError extends Error {
  override name = 'StepUpUnavailableError';
  constructor(
    readonly code: 'not_builtin' | 'no_passkey',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Asks the user to confirm with a passkey; resolves to tokens whose amr holds `mfa`.
 * @throws {ui.Dismissed} the user cancelled. @throws {StepUpUnavailableError} no built-in login or no passkey.
 */
export async function stepUp(session: Session, reason: string): Promise<StepUpTokens> {
  if (!session.builtin) throw new StepUpUnavailableError('not_builtin', 'A second factor needs a login with the wallet’s own email or passkey login.');
  let tokens: StepUpTokens | undefined;
  let unavailable: StepUpUnavailableError | undefined;
  await ui
    .stepUpPrompt(reason, async () => {
      try {
        tokens = await session.stepUpWithPasskey();
      } catch (e) {
        if (e instanceof IssuerRequestError && e.code === 'no_passkey') {
          unavailable = new StepUpUnavailableError('no_passkey', 'Add a passkey on your wallet page first.');
          ui.dismiss();
          return;
        }
        throw e;
      }
    })
    .catch((e: unknown) => {
      if (unavailable) throw unavailable;
      throw e;
    });
  return tokens!;
}
