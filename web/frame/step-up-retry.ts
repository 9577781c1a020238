/**
 * A signature asked by a site, refused because a policy wants a second
 * factor (docs/frame.md "Step-up"): the frame says so, asks for the user's
 * passkey (./step-up.ts), and retries the request once with the new tokens.
 *
 * - The refusal is recognised by its stable code only (`mfa_required`: the
 *   signer's for a split wallet's signing policy, src/signer/errors.ts),
 *   never by its text.
 * - One retry: if the retried request is refused again, that refusal goes to
 *   the site as it is (no loop, and no second passkey prompt).
 * - A user without a passkey, or logged in with another provider, is told so
 *   (add a passkey on the wallet page) and the site gets 4100 Unauthorized
 *   with the code in the message; Cancel is 4001 User Rejected.
 */
import { ProviderRpcError, ProviderErrorCode, userRejected } from '../../packages/sdk/src/browser/ProviderRpcError.js';
import type { Session } from './session.js';
import { stepUp, StepUpUnavailableError } from './step-up.js';
import * as ui from './ui.js';

/** Refusal codes a passkey step-up can lift. */
const SECOND_FACTOR_CODES: ReadonlySet<string> = new Set(['mfa_required']);

/** Whether `e` is a refusal that a passkey step-up can lift (by its stable `code`). */
export function needsSecondFactor(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && SECOND_FACTOR_CODES.has(code);
}

/**
 * Runs `sign`; when a policy refuses it for want of a second factor, steps up and runs it once more.
 * @param o.show brings the frame to the front (the site's overlay) before asking the user.
 * @throws {ProviderRpcError} 4001 when the user cancels the passkey, 4100 when no second factor can be asked;
 *   whatever `sign` throws otherwise (the retry's refusal included).
 */
export async function withStepUp<T>(o: { session: Session; site: string; show: () => void; sign: () => Promise<T> }): Promise<T> {
  try {
    return await o.sign();
  } catch (e) {
    if (!needsSecondFactor(e)) throw e;
  }
  o.show();
  const reason = `${o.site} asked for a signature that your wallet's policy allows only with a second factor.`;
  // Said before any click when it is known: no passkey, or a login from another provider.
  let unavailable: StepUpUnavailableError['code'] | undefined;
  if (!o.session.builtin) unavailable = 'not_builtin';
  else if ((await o.session.passkeyCount().catch(() => undefined)) === 0) unavailable = 'no_passkey';
  if (unavailable === undefined) {
    try {
      await stepUp(o.session, `${reason} Confirm with your passkey to sign it.`);
    } catch (e) {
      if (e instanceof ui.Dismissed) throw userRejected('The user cancelled the passkey confirmation (mfa_required).');
      if (!(e instanceof StepUpUnavailableError)) throw e;
      unavailable = e.code;
    }
  }
  if (unavailable !== undefined) {
    const why =
      unavailable === 'no_passkey'
        ? 'You have no passkey yet. Add one on your wallet page (open the wallet in its own tab), then try again.'
        : 'This login cannot give a second factor: log in with the wallet’s email code and add a passkey on your wallet page.';
    await ui.stepUpUnavailable(reason, why);
    throw new ProviderRpcError(ProviderErrorCode.unauthorized, `This signature needs a second factor and none could be asked (mfa_required, ${unavailable}).`);
  }
  ui.showStatus('Signing…');
  return o.sign();
}
