/**
 * The wallet's home page: /frame/ opened directly in a tab (not embedded by a
 * site). The user logs in (a session of this tab's own, like every frame's)
 * and sees the wallet's address, its balance on the configured chain, the
 * sites connected in the frame, each with Disconnect, the recent activity
 * signed through the frame, and Log out. Sites and activity come from the
 * wallet API (/v1/me/sites, /v1/me/activity: the user's own only); the
 * balance from the configured chain's RPC. Nothing here opens the key: the
 * address is the wallet service's, and a first login creates the wallet the
 * way a site's frame does. A split wallet's page offers Rotate key shares
 * (docs/signer.md, "Share rotation"): the signer re-splits the key, the
 * address stays; and its signing policy as JSON with Save
 * (docs/signing-policy.md, "Split and envelope wallets"): saving is a share
 * rotation that seals the policy into share A, with this user's token.
 * A built-in issuer login shows Passkeys: how this login was made, Add a
 * passkey, and Confirm with passkey (a step-up, ./step-up.ts) when the login
 * has no second factor yet.
 * Linked logins (./linked-logins.ts): the logins the custodian counts as
 * this user, Link another login (a second login made fresh here) and Unlink.
 * Every wallet's page offers Export private key (docs/frame.md,
 * "Export"): after a plain warning and a fresh authentication (reauthenticate: a passkey when the user has
 * one, else the login screen again), an envelope
 * wallet's key is decrypted on this device as for a signature; a split
 * wallet's is sealed by the signer to a key pair made here for this export.
 * Either way the key is shown in this page only, and sent nowhere.
 */
import { bytesToHex, formatEther, type Address } from 'viem';
import type { FrameConfig } from './config.js';
import { type PasskeySummary, type Session, SessionEndedError } from './session.js';
import { openLoginPopup } from './oidc-login.js';
import { openWallet } from './backends.js';
import { SplitBackend } from './split-backend.js';
import { credentialIdBytes } from './passkey-prf.js';
import { EnvelopeBackend } from './envelope-backend.js';
import type { PagesApi, WalletOverview } from './pages-api.js';
import * as ui from './ui.js';
import { StepUpUnavailableError, stepUp } from './step-up.js';
import { type LinkedLogin, linkErrorMessage, linkLogin, linkedLogins, unlinkLogin } from './linked-logins.js';

/** This login's methods as the user reads them (the token's amr, docs/identity.md). */
function describeMethods(amr: readonly string[]): string {
  const parts: string[] = [];
  if (amr.includes('otp')) parts.push('email code');
  if (amr.includes('hwk') || amr.includes('swk')) parts.push('passkey');
  if (parts.length === 0) parts.push('sign-in provider');
  return `${parts.join(' + ')}${amr.includes('mfa') ? ' (two factors)' : ''}`;
}

/** A passkey as the list shows it: when it was added and last used, and whether it is synced. */
function passkeyLabel(p: PasskeySummary): string {
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return `Added ${day(p.createdAt)}${p.lastUsedAt !== null ? `, last used ${day(p.lastUsedAt)}` : ''}${p.backedUp ? ' (synced)' : ''}`;
}

/**
 * Removes a passkey; the issuer wants an authentication from the last 10
 * minutes, so an older login steps up first (with any of the user's
 * passkeys) and tries once more. The issuer refuses to remove the last way
 * to log in (`last_login_method`).
 * @throws {ui.Dismissed} the user cancelled the step-up; the issuer's refusal otherwise.
 */
async function removePasskey(session: Session, id: string): Promise<void> {
  try {
    await session.removePasskey(id);
    return;
  } catch (e) {
    if ((e as { code?: unknown })?.code !== 'fresh_login_required') throw e;
  }
  await stepUp(session, 'Confirm with your passkey to remove a passkey.');
  await session.removePasskey(id);
}

/** The balance as shown, never failing: the chain may be down or not configured. */
async function balanceOf(config: FrameConfig, address: Address): Promise<string> {
  const chain = config.chain;
  if (!chain) return 'no chain configured';
  try {
    const response = await fetch(chain.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getBalance', params: [address, 'latest'] }),
      credentials: 'omit',
      cache: 'no-store',
      signal: AbortSignal.timeout(5000),
    });
    const body = (await response.json()) as { result?: unknown };
    if (typeof body.result !== 'string' || !/^0x[0-9a-fA-F]+$/.test(body.result)) throw new Error('no balance');
    return `${formatEther(BigInt(body.result))} ETH on ${chain.name}`;
  } catch {
    return `${chain.name} cannot be reached`;
  }
}

function loginHandlers(config: FrameConfig, session: Session): ui.LoginHandlers {
  return {
    sendCode: (email) => session.startEmail(email),
    verify: (email, code) => session.verifyEmail(email, code),
    passkey: () => session.loginWithPasskey(),
    providers: config.loginProviders,
    loginWith: (id, signal) => session.loginWith(config.loginProviders.find((p) => p.id === id)!, openLoginPopup(), signal),
  };
}

async function logIn(config: FrameConfig, session: Session): Promise<void> {
  while (!session.loggedIn) {
    try {
      await ui.login(loginHandlers(config, session));
    } catch (e) {
      if (!(e instanceof ui.Dismissed)) throw e;
    }
  }
}

/** What a fresh authentication is for, as the user reads it. */
interface Purpose {
  /** The step-up's reason. */
  passkey: string;
  /** The login screen's intro. */
  login: string;
  /** When the user logged in as someone else. */
  otherUser: string;
}

const EXPORT: Purpose = {
  passkey: 'Confirm with your passkey to export your private key.',
  login: 'Log in again to export your private key.',
  otherUser: 'You logged in as another user; nothing was exported. Reload the page.',
};

const LINKING: Purpose = {
  passkey: 'Confirm with your passkey to change your linked logins.',
  login: 'Log in again (as you are now) to change your linked logins.',
  otherUser: 'You logged in as another user; no login was linked or unlinked. Reload the page.',
};

/**
 * The fresh authentication an export needs (the signer refuses a split
 * wallet's export unless the authentication is at most 5 minutes old;
 * docs/signer.md, "Export"), and a link or unlink (STS wants the login at
 * most 300 seconds old): a passkey step-up when the user has a passkey
 * (./step-up.ts: a second factor, auth_time now), else the login screen
 * again — email code, passkey or a provider.
 * @returns false when the user cancelled.
 * @throws {Error} when the user logged in as someone else (nothing is done).
 */
async function reauthenticate(config: FrameConfig, session: Session, purpose: Purpose = EXPORT): Promise<boolean> {
  if (session.builtin && ((await session.passkeyCount().catch(() => 0)) ?? 0) > 0) {
    try {
      await stepUp(session, purpose.passkey);
      return true;
    } catch (e) {
      if (e instanceof ui.Dismissed) return false;
      if (!(e instanceof StepUpUnavailableError)) throw e;
    }
  }
  return freshLogin(config, session, purpose);
}

/** The login screen again, for `reauthenticate`. @returns false when the user cancelled. */
async function freshLogin(config: FrameConfig, session: Session, purpose: Purpose): Promise<boolean> {
  const before = session.email;
  ui.setStepUpLogin(purpose.login);
  try {
    await ui.login(loginHandlers(config, session));
  } catch (e) {
    if (e instanceof ui.Dismissed) return false;
    throw e;
  } finally {
    ui.setHomeLogin();
  }
  if (session.email !== before) throw new Error(purpose.otherUser);
  return true;
}

/**
 * The Linked logins box: the list (or why it could not be listed, with STS's
 * code), Link another login (the login screen for the second method, then
 * STS LinkWebIdentity) and Unlink. Unlinking the login in use logs out: that
 * login is another user from then on.
 */
async function loginsView(config: FrameConfig, session: Session, rerender: () => Promise<void>, restart: () => void): Promise<ui.HomeView['logins']> {
  let list: LinkedLogin[] | undefined;
  let error: string | undefined;
  try {
    list = await linkedLogins(config, session);
  } catch (e) {
    if (e instanceof SessionEndedError) throw e;
    error = `Your logins could not be listed: ${linkErrorMessage(e)}`;
  }
  const after = async (run: () => Promise<string>): Promise<void> => {
    let status = '';
    let failure = '';
    try {
      status = await run();
    } catch (e) {
      failure = linkErrorMessage(e);
    }
    if (!session.loggedIn) return; // unlinked the login in use: back at the login screen
    await rerender().catch(() => undefined);
    ui.showLinkResult(status, failure);
  };
  const confirmOwner = () => reauthenticate(config, session, LINKING);
  return {
    list,
    error,
    onLink: () =>
      void after(async () => {
        const secondLogin = async (second: Session): Promise<boolean> => {
          ui.setLinkLogin();
          try {
            await ui.login(loginHandlers(config, second));
            return true;
          } catch (e) {
            if (e instanceof ui.Dismissed) return false;
            throw e;
          } finally {
            ui.setHomeLogin();
          }
        };
        return (await linkLogin(config, session, { secondLogin, confirmOwner })) ? 'Login linked: it opens this wallet from now on.' : 'Linking cancelled.';
      }),
    onUnlink: (index) => {
      const login = list?.[index];
      if (!login) return;
      if (
        login.current &&
        list!.length > 1 &&
        !window.confirm('Unlink the login you are using now? You will be logged out, and this login will no longer open this wallet.')
      )
        return void rerender();
      void after(async () => {
        if (!(await unlinkLogin(config, session, login, { confirmOwner }))) return 'Unlinking cancelled.';
        if (login.current) {
          restart();
          return '';
        }
        return 'Login unlinked: it no longer opens this wallet.';
      });
    },
  };
}

/**
 * Exports the wallet's key after a step-up and hands it to `show` as 0x hex
 * (a string, which JavaScript cannot wipe: it lives in this page until it
 * is hidden and collected). The key bytes are wiped by the backend.
 */
async function exportKey(config: FrameConfig, session: Session, show: (keyHex: string) => void): Promise<boolean> {
  if (!(await reauthenticate(config, session))) return false;
  const backend = await openWallet(config, session);
  const shown = (key: Uint8Array) => show(bytesToHex(key));
  if (backend instanceof SplitBackend || backend instanceof EnvelopeBackend) await backend.exportKey(shown);
  else throw new Error('This wallet cannot export its key.');
  return true;
}

/** The wallet as the wallet service knows it; created (as in a site's frame) on the first login. */
async function walletOf(config: FrameConfig, session: Session, pages: PagesApi): Promise<WalletOverview> {
  const known = await pages.wallet();
  if (known) return known;
  ui.showStatus('Creating your wallet…');
  const backend = await openWallet(config, session);
  return { address: backend.address(), custodyMode: backend.custodyMode };
}

/** Logs in if needed, then shows the home page; again after Log out or when the session ends. */
export async function showHome(config: FrameConfig, session: Session, pages: PagesApi): Promise<void> {
  ui.setHomeLogin();
  for (;;) {
    await logIn(config, session);
    try {
      ui.showStatus('Opening your wallet…');
      const wallet = await walletOf(config, session, pages);
      const split = async (): Promise<SplitBackend> => {
        const backend = await openWallet(config, session);
        if (!(backend instanceof SplitBackend)) throw new Error('This wallet is not a split wallet.');
        return backend;
      };
      const logout = (): void => {
        ui.hideExportedKey();
        session.logout();
        void showHome(config, session, pages);
      };
      const render = async (): Promise<void> => {
        const [sites, activity, balance, passkeyList, policy, deviceFactor, logins] = await Promise.all([
          pages.sites(),
          pages.activity(20),
          balanceOf(config, wallet.address as Address),
          session.builtin ? session.passkeys().catch(() => undefined) : undefined,
          wallet.custodyMode === 'split' ? split().then((b) => b.signingPolicy()) : undefined,
          wallet.custodyMode === 'split' ? split().then((b) => b.hasDeviceFactor()) : undefined,
          loginsView(config, session, render, logout),
        ]);
        const amr = session.authMethods;
        const passkeyCount = passkeyList?.length;
        ui.showHome({
          ...wallet,
          email: session.email ?? '',
          balance,
          sites,
          activity,
          onDisconnect: (origin) => {
            void pages
              .disconnect(origin)
              .then(render)
              .catch((e: unknown) => ui.showHomeError(e instanceof Error ? e.message : 'The site could not be disconnected.'));
          },
          onExport: async (show) => {
            const shown = await exportKey(config, session, show);
            if (shown) {
              // On the activity list, as the frame reports it (the custodian's audit log is the record for a split wallet).
              await pages
                .record({ kind: 'export_key', site: location.origin, summary: `Exported the private key (${wallet.custodyMode} wallet)` })
                .then(render)
                .catch(() => undefined);
            }
            return shown;
          },
          onLogout: logout,
          passkeys:
            passkeyCount === undefined
              ? undefined
              : {
                  count: passkeyCount,
                  methods: describeMethods(amr),
                  onAdd: () => session.addPasskey(),
                  list: passkeyList?.map((p) => ({ id: p.credentialId, label: passkeyLabel(p) })),
                  onRemove: async (id) => {
                    await removePasskey(session, id);
                    await render();
                  },
                  onConfirm:
                    passkeyCount > 0 && !amr.includes('mfa')
                      ? async () => {
                          try {
                            await stepUp(session, 'Confirm with your passkey to add a second factor to this login.');
                          } catch (e) {
                            if (!(e instanceof ui.Dismissed)) ui.showHomeError(ui.passkeyMessage(e));
                          }
                          await render();
                        }
                      : undefined,
                },
          onRotate: wallet.custodyMode === 'split' ? async () => (await split()).rotateShares() : undefined,
          deviceShare:
            deviceFactor === undefined
              ? undefined
              : {
                  present: deviceFactor,
                  // Another provider's login has no issuer passkeys, and a user with none yet has nothing to unlock with.
                  passkeyWrap: passkeyCount !== undefined && passkeyCount > 0,
                  add: async (withPasskey) =>
                    (await split()).addDeviceFactor(withPasskey ? (await session.passkeys()).map((p) => credentialIdBytes(p.credentialId)) : undefined),
                  recover: async (code, withPasskey) =>
                    (await split()).recoverDeviceShare(
                      code,
                      withPasskey ? (await session.passkeys()).map((p) => credentialIdBytes(p.credentialId)) : undefined,
                    ),
                  wrapForPasskey: async () =>
                    (await split()).wrapDeviceShareForPasskey((await session.passkeys()).map((p) => credentialIdBytes(p.credentialId))),
                  remove: async () => (await split()).removeDeviceFactor(),
                },
          logins,
          policy: wallet.custodyMode === 'split' ? { current: policy, save: async (text) => (await split()).setSigningPolicy(text) } : undefined,
        });
      };
      await render();
      // Back to the tab: what sites signed meanwhile, and the balance, as they are now.
      document.onvisibilitychange = () => {
        if (document.visibilityState === 'visible' && session.loggedIn) void render().catch(() => undefined);
      };
      return;
    } catch (e) {
      if (e instanceof SessionEndedError) continue;
      ui.showStatus(e instanceof Error ? e.message : 'The wallet could not be opened.');
      return;
    }
  }
}
