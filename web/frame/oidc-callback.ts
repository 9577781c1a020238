/**
 * The login popup's landing page (/frame/oidc-callback.html, the redirect URI
 * registered at each external provider). The provider redirects here with
 * `?code&state` (or `?error&state`); this page hands those to the frame that
 * opened the popup — `window.opener`, with this page's own origin as
 * targetOrigin, so only a window of the wallet's origin can receive it — wipes
 * them from the address bar and closes. It exchanges nothing itself: the frame
 * holds the PKCE verifier and checks the state.
 */
import { callbackFromQuery } from './oidc-message.js';

const status = document.getElementById('callback-status');
const message = callbackFromQuery(location.search);
// The code must not stay in the history or be shown again on reload.
history.replaceState(null, '', location.pathname);

if (!message) {
  if (status) status.textContent = 'There is no login to finish here. You can close this window.';
} else if (!window.opener || window.opener === window) {
  // The provider's pages cut the link to the frame (Cross-Origin-Opener-Policy), or the frame is gone.
  if (status) status.textContent = 'The wallet that asked for this login is no longer reachable. Close this window and log in again from the site.';
} else {
  (window.opener as Window).postMessage(message, location.origin);
  if (status) status.textContent = 'Logged in. You can close this window.';
  window.close();
}
