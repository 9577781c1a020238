/**
 * The wallet frame's entry point. It runs on the wallet's own origin, inside a
 * DApp page's iframe, and answers the DApp's provider (packages/sdk/src/browser)
 * over postMessage.
 *
 * Origin checks (this direction), all required for a message to be read:
 *  - the frame is embedded (window.parent is another window) and the message
 *    comes from that parent window itself (`event.source === window.parent`);
 *  - `event.origin` is one of the configured DApp origins
 *    (SYMBOLON_FRAME_ALLOWED_ORIGINS) — and, where the browser reports it, the
 *    embedding page's origin (`location.ancestorOrigins[0]`);
 *  - after the first hello, only that same origin.
 * Answers go to `window.parent` with that exact origin as targetOrigin.
 *
 * Requests are handled one at a time; anything that signs waits for the user's
 * Approve on a decoded view of exactly what is signed.
 */
import type { Address } from 'viem';
import { PROTOCOL, parseDappMessage, type DappMessage, type FrameMessage } from '../../packages/sdk/src/browser/protocol.js';
import { ProviderRpcError, ProviderErrorCode, unauthorized, userRejected } from '../../packages/sdk/src/browser/ProviderRpcError.js';
import { loadConfig, type FrameConfig } from './config.js';
import { Session, SessionEndedError } from './session.js';
import { openLoginPopup } from './oidc-login.js';
import { openWallet } from './backends.js';
import type { PolicyRequest, WalletBackend } from './wallet-backend.js';
import { chainLabel, describeConnect, describeMessage, describeTransaction, type Prompt } from './decode.js';
import { describeTypedData, tokenAddresses } from './typed-data-view.js';
import { lookUpTokens } from './tokens.js';
import { personalSignParams, transactionParams, typedDataParams } from './requests.js';
import * as ui from './ui.js';
import { PagesApi } from './pages-api.js';
import { showHome } from './home.js';
import { withStepUp } from './step-up-retry.js';
import { keccak256, type Hex } from 'viem';

type Request = Extract<DappMessage, { kind: 'request' }>;

const CONNECTED_KEY = 'symbolon.connected';
/** Requests waiting for the user at most; more are refused (a page cannot bury the user in prompts). */
const MAX_QUEUED = 16;
/** EIP-1474: limit exceeded. */
const LIMIT_EXCEEDED = -32005;

let config: FrameConfig;
let session: Session;
let pages: PagesApi;
let wallet: WalletBackend | undefined;
let dappOrigin: string | undefined;
const queue: Request[] = [];
let working = false;
let shown = false;
let opening: Promise<void> | undefined;

function post(message: FrameMessage): void {
  if (dappOrigin) window.parent.postMessage(message, dappOrigin);
}

function setShown(on: boolean): void {
  if (shown === on) return;
  shown = on;
  post({ protocol: PROTOCOL, kind: on ? 'show' : 'hide' });
}

function connectedOrigins(): string[] {
  try {
    const v: unknown = JSON.parse(sessionStorage.getItem(CONNECTED_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((o): o is string => typeof o === 'string') : [];
  } catch {
    return [];
  }
}

function isConnected(): boolean {
  return !!dappOrigin && !!wallet && session.loggedIn && connectedOrigins().includes(dappOrigin);
}

function accounts(): Address[] {
  return isConnected() ? [wallet!.address()] : [];
}

function forgetSite(): void {
  sessionStorage.setItem(CONNECTED_KEY, JSON.stringify(connectedOrigins().filter((o) => o !== dappOrigin)));
}

/**
 * The accounts after asking the wallet service whether the user still has
 * this site connected: a site disconnected on the wallet's home page gets no
 * account from then on (and accountsChanged []), in every tab.
 */
async function checkedAccounts(): Promise<Address[]> {
  if (!isConnected()) return [];
  let listed: boolean;
  try {
    listed = (await pages.sites()).some((s) => s.origin === dappOrigin);
  } catch (e) {
    if (e instanceof SessionEndedError) return [];
    throw e;
  }
  if (!listed) {
    forgetSite();
    post({ protocol: PROTOCOL, kind: 'accountsChanged', accounts: [] });
  }
  return accounts();
}

/** Logs in (showing the login screen) and opens the user's wallet, once per session. */
async function ensureWallet(): Promise<WalletBackend> {
  for (;;) {
    if (!session.loggedIn) {
      setShown(true);
      await ui.login({
        sendCode: (email) => session.startEmail(email),
        verify: (email, code) => session.verifyEmail(email, code),
        providers: config.loginProviders,
        loginWith: (id, signal) => {
          const provider = config.loginProviders.find((p) => p.id === id)!;
          return session.loginWith(provider, openLoginPopup(), signal);
        },
      });
    }
    if (wallet) return wallet;
    ui.showStatus('Opening your wallet…');
    try {
      wallet = await openWallet(config, session);
      return wallet;
    } catch (e) {
      if (!(e instanceof SessionEndedError)) throw e;
      // Refresh refused: log in again.
    }
  }
}

async function requestAccounts(): Promise<Address[]> {
  for (;;) {
    const w = await ensureWallet();
    if ((await checkedAccounts()).length > 0) return accounts();
    setShown(true);
    const ok = await ui.ask(describeConnect(dappOrigin!, w.address()), promptAccount());
    if (!ok) {
      // Log out on this prompt means "another account": log in again rather than refuse the site.
      if (!session.loggedIn) continue;
      throw userRejected('The user rejected the connection.');
    }
    // The wallet service lists it on the home page, where the user can disconnect it.
    await pages.connect(dappOrigin!);
    sessionStorage.setItem(CONNECTED_KEY, JSON.stringify([...connectedOrigins(), dappOrigin!]));
    post({ protocol: PROTOCOL, kind: 'accountsChanged', accounts: accounts() });
    return accounts();
  }
}

/**
 * Ends the session in this frame: tokens, the open wallet and the sites
 * connected in it. Called only from the user's click on a Log out button
 * inside the frame (a prompt's or the account view's).
 */
function logout(): void {
  session.logout();
  wallet = undefined;
  sessionStorage.removeItem(CONNECTED_KEY);
  post({ protocol: PROTOCOL, kind: 'accountsChanged', accounts: [] });
}

/** The account line with its Log out button, shown on every prompt while a wallet is open. */
function promptAccount(): ui.PromptAccount | undefined {
  return wallet && session.loggedIn ? { email: session.email ?? '', onLogout: logout } : undefined;
}

async function requireConnected(): Promise<WalletBackend> {
  if ((await checkedAccounts()).length === 0) throw unauthorized('This site is not connected: call eth_requestAccounts first.');
  return wallet!;
}

/** One line on the home page's activity list for what the user just signed; in the background: it never delays or fails the signature. */
function record(kind: 'sign_message' | 'sign_typed_data' | 'sign_transaction', summary: string, txHash?: Hex): void {
  void pages.record({ kind, site: dappOrigin!, summary, ...(txHash ? { txHash } : {}) }).catch(() => undefined);
}

/**
 * The prompt with the owner's signing policy decision (split wallets with a policy; docs/frame.md).
 * A preview that fails is said, and the signer still decides when the user approves.
 */
async function withPolicy(w: WalletBackend, prompt: Prompt, request: PolicyRequest): Promise<Prompt> {
  if (!w.previewPolicy) return prompt;
  try {
    const policy = await w.previewPolicy(request);
    return policy ? { ...prompt, policy } : prompt;
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    return {
      ...prompt,
      policy: {
        allowed: true,
        text: `Signing policy: could not be checked now (${typeof code === 'string' ? code.slice(0, 40) : 'error'}); the signer applies it.`,
      },
    };
  }
}

/** Signs after approval; a refusal for want of a second factor steps up and retries once (./step-up-retry.ts). */
function signing<T>(sign: () => Promise<T>): Promise<T> {
  return withStepUp({ session, site: dappOrigin!, show: () => setShown(true), sign });
}

async function approve(prompt: Parameters<typeof ui.ask>[0]): Promise<void> {
  setShown(true);
  if (!(await ui.ask(prompt, promptAccount()))) throw userRejected(session.loggedIn ? undefined : 'The user logged out.');
  ui.showStatus('Signing…');
}

async function handle(req: Request): Promise<unknown> {
  const chains = config.chains;
  switch (req.method) {
    case 'eth_accounts':
      return checkedAccounts();
    case 'eth_requestAccounts':
      return requestAccounts();
    case 'personal_sign': {
      const w = await requireConnected();
      const message = personalSignParams(req.params, w.address());
      await approve(
        await withPolicy(w, describeMessage(dappOrigin!, message, w.address(), chainLabel(req.chainId, chains)), { type: 'message', raw: message }),
      );
      const signature = await signing(() => w.signMessage({ raw: message }));
      record('sign_message', `Signed a message (${(message.length - 2) / 2} bytes)`);
      return signature;
    }
    case 'eth_signTypedData_v4': {
      const w = await requireConnected();
      const typed = typedDataParams(req.params, w.address());
      const domainChain = typed.domain?.chainId === undefined ? req.chainId : Number(typed.domain.chainId as number | string | bigint);
      const tokens = await lookUpTokens(tokenAddresses(typed), Number.isSafeInteger(domainChain) ? domainChain : undefined, config.chain);
      const prompt = await withPolicy(
        w,
        describeTypedData(typed, {
          origin: dappOrigin!,
          account: w.address(),
          currentChainId: req.chainId,
          chainLabel: (id) => chainLabel(id, chains),
          tokens,
        }),
        { type: 'typedData', typedData: typed as never },
      );
      await approve(prompt);
      const signature = await signing(() => w.signTypedData(typed as never));
      const domainName = typeof typed.domain?.name === 'string' ? ` for ${typed.domain.name.slice(0, 60)}` : '';
      record(
        'sign_typed_data',
        `Signed typed data: ${typed.primaryType.slice(0, 60)}${domainName}${prompt.warnings.some((w) => /permit|allowance/i.test(w)) ? ' (a token approval)' : ''}`,
      );
      return signature;
    }
    case 'eth_signTransaction': {
      const w = await requireConnected();
      const { view, serializable } = transactionParams(req.params, w.address());
      const prompt = await withPolicy(w, describeTransaction(dappOrigin!, view, w.address(), req.chainId, chains), {
        type: 'transaction',
        transaction: serializable,
      });
      await approve(prompt);
      const signed = await signing(() => w.signTransaction(serializable));
      const value = prompt.fields.find((f) => f.label === 'Value')?.value ?? '';
      record('sign_transaction', `${prompt.title}: ${value}${view.to ? ` to ${view.to}` : ''} on ${chainLabel(view.chainId, chains)}`, keccak256(signed));
      return signed;
    }
  }
}

function toRpcError(e: unknown): ProviderRpcError {
  if (e instanceof ProviderRpcError) return e;
  if (e instanceof ui.Dismissed) return userRejected(e.message);
  if (e instanceof SessionEndedError) return unauthorized(e.message);
  // The backend's errors carry names and codes, never key material; keep only those.
  const name = (e as { name?: unknown })?.name;
  const code = (e as { code?: unknown })?.code;
  return new ProviderRpcError(
    ProviderErrorCode.internal,
    `The wallet could not complete the request (${typeof name === 'string' ? name : 'Error'}${typeof code === 'string' ? `: ${code}` : ''}).`,
  );
}

async function work(): Promise<void> {
  if (working) return;
  working = true;
  try {
    for (let req = queue.shift(); req; req = queue.shift()) {
      try {
        const result = await handle(req);
        post({ protocol: PROTOCOL, kind: 'response', id: req.id, result });
      } catch (e) {
        post({ protocol: PROTOCOL, kind: 'response', id: req.id, error: toRpcError(e).toJSON() });
      }
    }
  } finally {
    working = false;
    showIdle();
    setShown(false);
  }
}

function showIdle(): void {
  if (wallet && session.loggedIn) {
    ui.showAccount({
      address: wallet.address(),
      email: session.email ?? '',
      custodyMode: wallet.custodyMode,
      onLogout: () => {
        logout();
        ui.showStatus('Logged out.');
      },
    });
  } else {
    ui.showStatus(dappOrigin ? `Connected to ${dappOrigin}.` : 'Waiting for the site…');
  }
}

function accept(event: MessageEvent): DappMessage | undefined {
  if (window.parent === window || event.source !== window.parent) return undefined;
  if (!config.allowedOrigins.includes(event.origin)) return undefined;
  const ancestors = location.ancestorOrigins as DOMStringList | undefined;
  if (ancestors && ancestors.length > 0 && ancestors[0] !== event.origin) return undefined;
  if (dappOrigin !== undefined && event.origin !== dappOrigin) return undefined;
  return parseDappMessage(event.data);
}

/** A session kept in this tab reopens the wallet for a connected site without asking the user anything. */
async function reopen(): Promise<void> {
  if (session.loggedIn && connectedOrigins().includes(dappOrigin!)) {
    try {
      wallet ??= await openWallet(config, session);
      await checkedAccounts();
    } catch {
      wallet = undefined;
    }
  }
  showIdle();
}

async function onMessage(event: MessageEvent): Promise<void> {
  const message = accept(event);
  if (!message) return;
  switch (message.kind) {
    case 'hello':
      if (dappOrigin === undefined) {
        dappOrigin = event.origin;
        ui.setSite(dappOrigin);
        opening = reopen();
      }
      await opening;
      post({ protocol: PROTOCOL, kind: 'ready', accounts: accounts() });
      return;
    case 'cancel':
      if (dappOrigin !== undefined) ui.dismiss();
      return;
    case 'request':
      // Nothing is answered before hello has fixed the one origin this frame serves.
      if (dappOrigin === undefined) return;
      if (queue.length >= MAX_QUEUED) {
        post({ protocol: PROTOCOL, kind: 'response', id: message.id, error: { code: LIMIT_EXCEEDED, message: 'Too many requests are waiting for the user.' } });
        return;
      }
      queue.push(message);
      void work();
      return;
  }
}

async function main(): Promise<void> {
  try {
    config = await loadConfig();
  } catch (e) {
    ui.showStatus((e as Error).message);
    return;
  }
  session = new Session(config.issuer);
  pages = new PagesApi(config, () => session.accessToken());
  if (window.parent === window) {
    // Opened on its own: the wallet's home page, with a session of its own (each tab, and each site in it, has its own).
    await showHome(config, session, pages);
    return;
  }
  ui.showStatus('Waiting for the site…');
  window.addEventListener('message', (event) => void onMessage(event));
}

void main();
