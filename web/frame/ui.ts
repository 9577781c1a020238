/**
 * The frame's screens: status, login, prompt (a request decoded for the user,
 * with Approve/Reject) and account. Everything from a DApp or a server is put
 * on the page with textContent — never as HTML — so a crafted message or
 * typed-data field cannot inject script into the wallet's origin.
 */
import { guardVisibility, tracksVisibility, type VisibilityGuard } from './visibility.js';
import type { Field, Prompt } from './decode.js';
import type { ActivityEntry, ConnectedSite } from './pages-api.js';

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`The frame page lacks #${id}`);
  return e as T;
}

const SECTIONS = ['status', 'login', 'prompt', 'account', 'home', 'stepup'] as const;
type Section = (typeof SECTIONS)[number];

function showSection(name: Section): void {
  for (const s of SECTIONS) el(s).hidden = s !== name;
}

export function showStatus(text: string): void {
  el('status-text').textContent = text;
  showSection('status');
}

export function setSite(origin: string): void {
  el('site').textContent = origin;
  el('login-site').textContent = origin;
}

/** The user closed the prompt or the login (Reject, Cancel, or the DApp's close button). */
export class Dismissed extends Error {
  override name = 'Dismissed';
}

let dismissCurrent: (() => void) | undefined;

/** Dismisses whatever the frame is asking the user (the DApp's overlay was closed). */
export function dismiss(): void {
  dismissCurrent?.();
}

export interface LoginHandlers {
  sendCode(email: string): Promise<void>;
  verify(email: string, code: string): Promise<void>;
  /** External OIDC providers, one "Continue with <name>" button each. */
  providers?: readonly { id: string; name: string }[];
  /** Logs in with a provider; called synchronously in the button's click (it opens a popup). */
  loginWith?(id: string, signal: AbortSignal): Promise<void>;
  /** Logs in with a passkey (the built-in issuer); absent: no passkey button. */
  passkey?(): Promise<void>;
}

/**
 * Shows the login screen until the user has logged in.
 * @throws {Dismissed} when the user cancels.
 */
export function login(handlers: LoginHandlers): Promise<void> {
  const emailForm = el<HTMLFormElement>('email-form');
  const codeForm = el<HTMLFormElement>('code-form');
  const email = el<HTMLInputElement>('email');
  const code = el<HTMLInputElement>('code');
  const error = el('login-error');
  emailForm.hidden = false;
  codeForm.hidden = true;
  code.value = '';
  error.textContent = '';
  const providerBox = el('login-providers');
  const providers = handlers.providers ?? [];
  providerBox.hidden = providers.length === 0;
  const providerButtons = providers.map((p) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'secondary provider';
    b.dataset.provider = p.id;
    b.textContent = `Continue with ${p.name}`;
    return b;
  });
  providerBox.replaceChildren(...providerButtons);
  const passkeyButton = el<HTMLButtonElement>('login-passkey');
  passkeyButton.hidden = handlers.passkey === undefined;
  passkeyButton.disabled = false;
  showSection('login');
  email.focus();
  return new Promise<void>((resolve, reject) => {
    let sentTo = '';
    const busy = (form: HTMLFormElement, on: boolean) => form.querySelectorAll('button, input').forEach((e) => ((e as HTMLButtonElement).disabled = on));
    let pending: AbortController | undefined;
    const finish = () => {
      pending?.abort();
      for (const b of providerButtons) b.onclick = null;
      passkeyButton.onclick = null;
      emailForm.onsubmit = null;
      codeForm.onsubmit = null;
      el('login-cancel').onclick = null;
      dismissCurrent = undefined;
    };
    emailForm.onsubmit = async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      busy(emailForm, true);
      try {
        sentTo = email.value.trim();
        await handlers.sendCode(sentTo);
        el('code-email').textContent = sentTo;
        emailForm.hidden = true;
        codeForm.hidden = false;
        code.focus();
      } catch (e) {
        error.textContent = (e as Error).message;
      } finally {
        busy(emailForm, false);
      }
    };
    codeForm.onsubmit = async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      busy(codeForm, true);
      try {
        await handlers.verify(sentTo, code.value.trim());
        finish();
        resolve();
      } catch (e) {
        error.textContent = (e as Error).message;
      } finally {
        busy(codeForm, false);
      }
    };
    for (const [i, b] of providerButtons.entries()) {
      b.onclick = async () => {
        const p = providers[i]!;
        pending?.abort();
        const ac = new AbortController();
        pending = ac;
        error.textContent = '';
        providerButtons.forEach((x) => (x.disabled = true));
        el('login-status').textContent = `Continue in the ${p.name} window…`;
        try {
          // Synchronous up to its first await: the popup opens within this click.
          await handlers.loginWith!(p.id, ac.signal);
          if (ac.signal.aborted) return;
          pending = undefined;
          finish();
          resolve();
        } catch (e) {
          if (!ac.signal.aborted) error.textContent = (e as Error).message;
        } finally {
          if (pending === ac || pending === undefined) {
            providerButtons.forEach((x) => (x.disabled = false));
            el('login-status').textContent = '';
          }
        }
      };
    }
    if (handlers.passkey) {
      const passkey = handlers.passkey;
      passkeyButton.onclick = async () => {
        error.textContent = '';
        passkeyButton.disabled = true;
        try {
          await passkey();
          finish();
          resolve();
        } catch (e) {
          error.textContent = passkeyMessage(e);
        } finally {
          passkeyButton.disabled = false;
        }
      };
    }
    dismissCurrent = () => {
      finish();
      reject(new Dismissed('The user cancelled the login.'));
    };
    el('login-cancel').onclick = () => dismissCurrent?.();
  });
}

/**
 * Who is logged in, shown on every prompt with a Log out button: while a DApp
 * keeps the frame hidden between requests, a prompt is where the user sees
 * the frame. Only the user's click in the frame calls onLogout; a DApp can
 * only post requests.
 */
export interface PromptAccount {
  email: string;
  /** Ends the session; the prompt then closes as if rejected. */
  onLogout(): void;
}

/** Fields as definition lists, one per run of fields with the same group, each under its group's heading. */
function fieldLists(fields: readonly Field[]): HTMLElement[] {
  const out: HTMLElement[] = [];
  let dl: HTMLElement | undefined;
  let group: string | undefined;
  for (const f of fields) {
    if (!dl || f.group !== group) {
      group = f.group;
      if (group) {
        const h = document.createElement('h2');
        h.textContent = group;
        out.push(h);
      }
      dl = document.createElement('dl');
      out.push(dl);
    }
    const dt = document.createElement('dt');
    dt.textContent = f.label;
    const dd = document.createElement('dd');
    dd.textContent = f.value;
    if (f.mono) dd.classList.add('mono');
    if (f.warn) dd.classList.add('warn');
    dl.append(dt, dd);
  }
  return out;
}

/**
 * Shows a request and waits for the user's answer. Approve is enabled only
 * while the prompt is fully visible (see ./visibility.ts).
 * @returns true on Approve, false on Reject, Log out or dismissal.
 */
export function ask(prompt: Prompt, account?: PromptAccount): Promise<boolean> {
  el('prompt-title').textContent = prompt.title;
  el('prompt-summary').textContent = prompt.summary;
  const warnings = el('prompt-warnings');
  warnings.replaceChildren(
    ...prompt.warnings.map((w) => {
      const li = document.createElement('li');
      li.textContent = w;
      return li;
    }),
  );
  el('prompt-fields').replaceChildren(...fieldLists(prompt.fields));
  // The owner's signing policy (split wallets): a refusal keeps Approve disabled whatever the visibility guard says.
  const policy = el('prompt-policy');
  policy.hidden = !prompt.policy;
  policy.textContent = prompt.policy?.text ?? '';
  policy.className = prompt.policy?.allowed === false ? 'policy refused' : 'policy';
  const refused = prompt.policy?.allowed === false;
  const block = el('prompt-block');
  block.hidden = !prompt.block;
  el('prompt-block-label').textContent = prompt.block?.label ?? '';
  el('prompt-block-text').textContent = prompt.block?.text ?? '';
  const raw = el<HTMLDetailsElement>('prompt-raw');
  raw.hidden = !prompt.raw;
  raw.open = false;
  el('prompt-raw-label').textContent = prompt.raw?.label ?? '';
  el('prompt-raw-text').textContent = prompt.raw?.text ?? '';
  const approve = el<HTMLButtonElement>('approve');
  const reject = el<HTMLButtonElement>('reject');
  const guardText = el('prompt-guard');
  const who = el('prompt-who');
  const logout = el<HTMLButtonElement>('prompt-logout');
  who.hidden = !account;
  el('prompt-email').textContent = account?.email ?? '';
  showSection('prompt');
  return new Promise<boolean>((resolve) => {
    let guard: VisibilityGuard | undefined;
    const done = (answer: boolean) => {
      guard?.stop();
      approve.onclick = null;
      reject.onclick = null;
      logout.onclick = null;
      approve.disabled = true;
      dismissCurrent = undefined;
      resolve(answer);
    };
    guard = guardVisibility(document.body, (armed) => {
      approve.disabled = !armed || refused;
      guardText.textContent = refused
        ? 'Your signing policy refuses this request: it cannot be approved.'
        : armed
          ? ''
          : tracksVisibility
            ? 'Approve is enabled once this window is fully visible.'
            : 'Approve is enabled in a moment.';
    });
    approve.onclick = () => {
      if (!approve.disabled) done(true);
    };
    reject.onclick = () => done(false);
    if (account) {
      logout.onclick = () => {
        account.onLogout();
        done(false);
      };
    }
    dismissCurrent = () => done(false);
  });
}

export interface AccountView {
  address: string;
  email: string;
  custodyMode: string;
  onLogout(): void;
}

export function showAccount(view: AccountView): void {
  el('account-address').textContent = view.address;
  el('account-email').textContent = view.email;
  el('account-mode').textContent = view.custodyMode;
  el('logout').onclick = view.onLogout;
  showSection('account');
}

/** The login screen as the wallet's home page shows it: no site asks, nothing to cancel. */
export function setHomeLogin(): void {
  el('login-intro').textContent = 'Log in with your email to see your wallet. You get one wallet for every site.';
  el('login-cancel').hidden = true;
}

export interface HomeView {
  address: string;
  email: string;
  custodyMode: string;
  /** The balance as shown, e.g. "1.5 ETH on Local chain (Hardhat)". */
  balance: string;
  sites: readonly ConnectedSite[];
  activity: readonly ActivityEntry[];
  /** The user's click on a site's Disconnect. */
  onDisconnect(origin: string): void;
  onLogout(): void;
  /** Split wallets: the user's click on Rotate key shares; resolves to the new generation. */
  onRotate?: (() => Promise<number>) | undefined;
  /**
   * Split wallets: the third share on this device (docs/frame.md, "The device share"): whether the wallet has it,
   * and the clicks on Add (resolves to the recovery code, shown once), Recover (with a code; resolves to the new code) and Remove.
   */
  deviceShare?:
    | {
        present: boolean;
        /**
         * Whether this login can wrap share C under a passkey: a built-in issuer login with at least one passkey.
         * Without one (another provider's login, or no passkey yet) the two passkey buttons are not shown.
         */
        passkeyWrap: boolean;
        /** `withPasskey`: share C is also wrapped under a passkey's PRF output (works in DApps of other sites). */
        add(withPasskey: boolean): Promise<string>;
        /** `withPasskey`: the recovered share C is also wrapped under a passkey's PRF output, as with add. */
        recover(code: string, withPasskey: boolean): Promise<string>;
        /** Wraps the share this device holds under a passkey too (a device share added without one). */
        wrapForPasskey(): Promise<void>;
        remove(): Promise<void>;
      }
    | undefined;
  /** Built-in issuer logins: how many passkeys the user has, and the click on Add a passkey. */
  passkeys?:
    | {
        count: number;
        methods: string;
        onAdd(): Promise<void>;
        onConfirm?: (() => Promise<void>) | undefined;
        /** The passkeys, each with Remove (which may ask for a step-up first). */
        list?: readonly { id: string; label: string }[] | undefined;
        onRemove?: ((id: string) => Promise<void>) | undefined;
      }
    | undefined;
  /**
   * The logins linked to this user at the custodian (docs/frame.md, "Linked logins"), or why they could not be listed;
   * the clicks on Link another login and on a login's Unlink (each runs to its end, showing what happened).
   */
  logins?:
    | { list: readonly { label: string; current: boolean }[] | undefined; error?: string | undefined; onLink(): void; onUnlink(index: number): void }
    | undefined;
  /** Split wallets: the owner's signing policy (undefined: none) and its Save (text, or null to remove; resolves to the new generation). */
  policy?: { current: string | undefined; save(text: string | null): Promise<number> } | undefined;
  /**
   * The user's click on Export private key (after they confirmed the warning):
   * logs in again, then calls `show` with the key (0x hex); resolves false when the user cancelled the login.
   */
  onExport(show: (keyHex: string) => void): Promise<boolean>;
}

/** Clears a shown exported key from the page. */
export function hideExportedKey(): void {
  el('home-export-key').textContent = '';
  el('home-export-result').hidden = true;
}

/** The login screen as a step-up before an export (or `intro`, e.g. before a link): the user may cancel. */
export function setStepUpLogin(intro = 'Log in again to export your private key.'): void {
  el('login-intro').textContent = intro;
  el('login-cancel').hidden = false;
}

/** The login screen for the second login of a link: empty, and the user may cancel. */
export function setLinkLogin(): void {
  setStepUpLogin('Log in with the login to link to your wallet: another email, a sign-in provider or a passkey.');
  el<HTMLInputElement>('email').value = '';
}

/** Back on the home page after a link or unlink: its outcome (status) or refusal (the page's error line). */
export function showLinkResult(status: string, error: string): void {
  showSection('home');
  el('home-link-status').textContent = status;
  if (error) showHomeError(error);
}

function showLogins(logins: HomeView['logins']): void {
  el('home-links-box').hidden = logins === undefined;
  if (!logins) return;
  const add = el<HTMLButtonElement>('home-link-add');
  const status = el('home-link-status');
  status.textContent = logins.error ?? '';
  const buttons: HTMLButtonElement[] = [add];
  el('home-links').replaceChildren(
    ...(logins.list ?? []).map((l, i) => {
      const li = document.createElement('li');
      li.append(span(l.label, 'grow'));
      if (l.current) li.append(' ', span('(this login)', 'muted'));
      const unlink = document.createElement('button');
      unlink.type = 'button';
      unlink.className = 'secondary small';
      unlink.id = `home-link-unlink-${i}`;
      unlink.textContent = 'Unlink';
      unlink.onclick = () => {
        for (const b of buttons) b.disabled = true;
        showHomeError('');
        status.textContent = 'Unlinking…';
        logins.onUnlink(i);
      };
      buttons.push(unlink);
      li.append(' ', unlink);
      return li;
    }),
  );
  add.disabled = logins.list === undefined;
  add.onclick = () => {
    for (const b of buttons) b.disabled = true;
    showHomeError('');
    status.textContent = '';
    logins.onLink();
  };
}

function time(iso: string): HTMLTimeElement {
  const t = document.createElement('time');
  t.dateTime = iso;
  t.textContent = iso.replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
  return t;
}

function span(text: string, className: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}

/** The wallet's home page (/frame/ opened directly). Everything is put on the page with textContent. */
export function showHome(view: HomeView): void {
  el('home-address').textContent = view.address;
  el('home-balance').textContent = view.balance;
  el('home-email').textContent = view.email;
  el('home-mode').textContent = view.custodyMode;
  el('home-error').textContent = '';
  el('home-sites').replaceChildren(
    ...view.sites.map((s) => {
      const li = document.createElement('li');
      li.dataset.origin = s.origin;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary disconnect';
      b.textContent = 'Disconnect';
      b.onclick = () => {
        b.disabled = true;
        view.onDisconnect(s.origin);
      };
      li.append(span(s.origin, 'grow mono'), time(s.connectedAt), b);
      return li;
    }),
  );
  el('home-sites-none').hidden = view.sites.length > 0;
  el('home-activity').replaceChildren(
    ...view.activity.map((a) => {
      const li = document.createElement('li');
      li.dataset.kind = a.kind;
      const what = span(a.summary, 'grow');
      li.append(time(a.at), span(a.site, 'mono small'), what);
      if (a.txHash) li.append(span(a.txHash, 'mono small tx'));
      return li;
    }),
  );
  el('home-activity-none').hidden = view.activity.length > 0;
  el('home-logout').onclick = view.onLogout;
  const passkeys = view.passkeys;
  el('home-passkey-box').hidden = passkeys === undefined;
  if (passkeys) {
    const count = el('home-passkey-count');
    const button = el<HTMLButtonElement>('home-passkey-add');
    const status = el('home-passkey-status');
    let n = passkeys.count;
    const show = () => (count.textContent = n === 0 ? 'No passkey yet.' : `${n} passkey${n === 1 ? '' : 's'}.`);
    show();
    el('home-login-methods').textContent = passkeys.methods;
    const list = el('home-passkey-list');
    list.replaceChildren(
      ...(passkeys.list ?? []).map((p, i) => {
        const li = document.createElement('li');
        const label = document.createElement('span');
        label.textContent = p.label;
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'secondary small';
        remove.id = `home-passkey-remove-${i}`;
        remove.textContent = 'Remove';
        remove.hidden = passkeys.onRemove === undefined;
        remove.onclick = () => {
          remove.disabled = true;
          showHomeError('');
          void passkeys.onRemove!(p.id).then(
            () => (status.textContent = 'Passkey removed.'),
            (e: unknown) => {
              if (!(e instanceof Dismissed)) showHomeError(passkeyMessage(e));
              remove.disabled = false;
            },
          );
        };
        li.append(label, ' ', remove);
        return li;
      }),
    );
    const confirm = el<HTMLButtonElement>('home-passkey-confirm');
    confirm.hidden = passkeys.onConfirm === undefined;
    confirm.disabled = false;
    confirm.onclick = passkeys.onConfirm
      ? () => {
          confirm.disabled = true;
          void passkeys.onConfirm!().finally(() => (confirm.disabled = false));
        }
      : null;
    status.textContent = '';
    button.disabled = false;
    button.onclick = () => {
      button.disabled = true;
      status.textContent = 'Follow your browser to create the passkey…';
      passkeys.onAdd().then(
        () => {
          n += 1;
          show();
          // The device share can now be wrapped under a passkey too.
          showDevicePasskeyWrap(true);
          status.textContent = 'Passkey added. You can log in with it from now on.';
          button.disabled = false;
        },
        (e: unknown) => {
          status.textContent = '';
          showHomeError(passkeyMessage(e));
          button.disabled = false;
        },
      );
    };
  }
  showLogins(view.logins);
  showDeviceShare(view.deviceShare);
  const rotate = view.onRotate;
  el('home-rotate-box').hidden = rotate === undefined;
  if (rotate) {
    const button = el('home-rotate') as HTMLButtonElement;
    const status = el('home-rotate-status');
    button.disabled = false;
    button.onclick = () => {
      button.disabled = true;
      status.textContent = 'Rotating your key shares…';
      rotate().then(
        (generation) => {
          status.textContent = `New key shares in place (generation ${generation}). Your address is unchanged.`;
          button.disabled = false;
        },
        (e: unknown) => {
          status.textContent = '';
          showHomeError(e instanceof Error ? e.message : 'The key shares could not be rotated.');
          button.disabled = false;
        },
      );
    };
  }
  const policy = view.policy;
  el('home-policy-box').hidden = policy === undefined;
  if (policy) {
    const text = el<HTMLTextAreaElement>('home-policy');
    const save = el<HTMLButtonElement>('home-policy-save');
    const status = el('home-policy-status');
    text.value = policy.current ?? '';
    save.disabled = false;
    save.onclick = () => {
      save.disabled = true;
      const value = text.value.trim() === '' ? null : text.value;
      status.textContent = value === null ? 'Removing your signing policy…' : 'Saving your signing policy…';
      policy.save(value).then(
        (generation) => {
          status.textContent =
            value === null
              ? `Signing policy removed (generation ${generation}).`
              : `Signing policy saved: the signer applies it from now on (generation ${generation}).`;
          save.disabled = false;
        },
        (e: unknown) => {
          status.textContent = '';
          showHomeError(e instanceof Error ? e.message : 'The signing policy could not be saved.');
          save.disabled = false;
        },
      );
    };
  }
  const exportButton = el<HTMLButtonElement>('home-export');
  const exportStatus = el('home-export-status');
  exportButton.disabled = false;
  el('home-export-hide').onclick = hideExportedKey;
  exportButton.onclick = () => {
    if (!window.confirm('Export your private key? Anyone who sees it controls your funds, and Symbolon cannot undo an export.')) return;
    exportButton.disabled = true;
    hideExportedKey();
    exportStatus.textContent = '';
    view
      .onExport((keyHex) => {
        showSection('home');
        el('home-export-key').textContent = keyHex;
        el('home-export-result').hidden = false;
      })
      .then(
        (shown) => {
          showSection('home');
          exportStatus.textContent = shown ? 'Your private key is shown below. Hide it when you are done.' : 'Export cancelled.';
          exportButton.disabled = false;
        },
        (e: unknown) => {
          showSection('home');
          exportStatus.textContent = '';
          showHomeError(e instanceof Error ? e.message : 'The key could not be exported.');
          exportButton.disabled = false;
        },
      );
  };
  showSection('home');
}

export function showHomeError(text: string): void {
  el('home-error').textContent = text;
}

/** What to tell the user when a passkey ceremony failed (the browser's cancel, or the issuer's refusal). */
export function passkeyMessage(e: unknown): string {
  if (e instanceof Error && (e.name === 'NotAllowedError' || e.name === 'AbortError')) return 'The passkey request was cancelled or timed out.';
  if ((e as { code?: unknown } | null)?.code === 'fresh_login_required') return 'For your safety, log out and log in again, then add the passkey.';
  return e instanceof Error ? e.message : 'The passkey could not be used.';
}

/**
 * The step-up screen: says why, and runs `confirm` on the user's click (so the
 * browser sees a user gesture). Resolves when `confirm` succeeds; a failure
 * stays on the screen to be tried again.
 * @throws {Dismissed} when the user cancels.
 */
export function stepUpPrompt(reason: string, confirm: () => Promise<void>): Promise<void> {
  el('stepup-reason').textContent = reason;
  const error = el('stepup-error');
  const go = el<HTMLButtonElement>('stepup-go');
  error.textContent = '';
  go.disabled = false;
  go.hidden = false;
  el('stepup-cancel').textContent = 'Cancel';
  showSection('stepup');
  return new Promise<void>((resolve, reject) => {
    const finish = () => {
      go.onclick = null;
      el('stepup-cancel').onclick = null;
      dismissCurrent = undefined;
    };
    go.onclick = async () => {
      go.disabled = true;
      error.textContent = '';
      try {
        await confirm();
        finish();
        resolve();
      } catch (e) {
        error.textContent = passkeyMessage(e);
      } finally {
        go.disabled = false;
      }
    };
    dismissCurrent = () => {
      finish();
      reject(new Dismissed('The user cancelled the confirmation.'));
    };
    el('stepup-cancel').onclick = () => dismissCurrent?.();
  });
}

/** Shows or hides the device share's two passkey buttons and their note (they need a passkey of the built-in issuer). */
function showDevicePasskeyWrap(on: boolean): void {
  for (const id of ['home-device-add-passkey', 'home-device-recover-passkey', 'home-device-wrap-passkey', 'home-device-passkey-note']) el(id).hidden = !on;
}

/** The device-share box of the home page: Add (after the warning is acknowledged), the code shown once, Recover, Remove. */
function showDeviceShare(device: HomeView['deviceShare']): void {
  el('home-device-box').hidden = device === undefined;
  if (!device) return;
  const ack = el<HTMLInputElement>('home-device-ack');
  const add = el<HTMLButtonElement>('home-device-add');
  const addPasskey = el<HTMLButtonElement>('home-device-add-passkey');
  const recover = el<HTMLButtonElement>('home-device-recover');
  const recoverPasskey = el<HTMLButtonElement>('home-device-recover-passkey');
  const wrapPasskey = el<HTMLButtonElement>('home-device-wrap-passkey');
  const remove = el<HTMLButtonElement>('home-device-remove');
  const codeInput = el<HTMLInputElement>('home-device-recover-code');
  showDevicePasskeyWrap(device.passkeyWrap);
  const status = el('home-device-status');
  const showCode = (code: string) => {
    el('home-device-code').textContent = code;
    el('home-device-code-box').hidden = false;
  };
  const state = (present: boolean) => {
    el('home-device-state').textContent = present
      ? 'This wallet has a device share: signing needs the device that holds it.'
      : 'This wallet has two shares (no device share).';
    el('home-device-add-box').hidden = present;
    el('home-device-recover-box').hidden = !present;
    ack.checked = false;
    add.disabled = true;
    addPasskey.disabled = true;
  };
  const busy = (on: boolean) => {
    for (const b of [add, addPasskey, recover, recoverPasskey, wrapPasskey, remove]) b.disabled = on;
    if (!on) add.disabled = addPasskey.disabled = !ack.checked;
  };
  const failed = (e: unknown, what: string) => {
    status.textContent = '';
    const code = (e as { code?: unknown } | null)?.code;
    // The SDK's stable code after the sentence, for support and for the passkey refusals (DEVICE_PRF_UNSUPPORTED).
    showHomeError(e instanceof Error ? (typeof code === 'string' ? `${e.message} (${code})` : e.message) : what);
    busy(false);
  };
  el('home-device-code-box').hidden = true;
  el('home-device-code').textContent = '';
  status.textContent = '';
  state(device.present);
  ack.onchange = () => {
    add.disabled = addPasskey.disabled = !ack.checked;
  };
  const adding = (withPasskey: boolean) => {
    if (!ack.checked) return;
    busy(true);
    status.textContent = withPasskey ? 'Adding this device as a factor: confirm with your passkey…' : 'Adding this device as a factor…';
    device.add(withPasskey).then(
      (code) => {
        showCode(code);
        status.textContent = 'This device now holds a share of your key. Your address is unchanged.';
        state(true);
        busy(false);
      },
      (e: unknown) => failed(e, 'The device share could not be added.'),
    );
  };
  add.onclick = () => adding(false);
  addPasskey.onclick = () => adding(true);
  const recovering = (withPasskey: boolean) => {
    const code = codeInput.value;
    busy(true);
    status.textContent = withPasskey ? 'Recovering the device share on this device: confirm with your passkey…' : 'Recovering the device share on this device…';
    device.recover(code, withPasskey).then(
      (next) => {
        codeInput.value = '';
        showCode(next);
        status.textContent = 'This device now holds the share; the old device and the old code no longer work. A new recovery code is shown above.';
        busy(false);
      },
      (e: unknown) => failed(e, 'The device share could not be recovered.'),
    );
  };
  recover.onclick = () => recovering(false);
  recoverPasskey.onclick = () => recovering(true);
  wrapPasskey.onclick = () => {
    busy(true);
    status.textContent = 'Wrapping the device share under a passkey: confirm with your passkey…';
    device.wrapForPasskey().then(
      () => {
        status.textContent = 'Your passkey now unlocks the device share too, in apps on other sites. The recovery code is unchanged.';
        busy(false);
      },
      (e: unknown) => failed(e, 'The device share could not be wrapped under a passkey.'),
    );
  };
  remove.onclick = () => {
    busy(true);
    status.textContent = 'Removing the device share…';
    device.remove().then(
      () => {
        el('home-device-code-box').hidden = true;
        status.textContent = 'The wallet is back to two shares.';
        state(false);
        busy(false);
      },
      (e: unknown) => failed(e, 'The device share could not be removed.'),
    );
  };
}

/**
 * The step-up screen when no second factor can be asked (no passkey, or a
 * login from another provider): says why, with Close only. Resolves when the
 * user closes it (or the site closes the frame).
 */
export function stepUpUnavailable(reason: string, why: string): Promise<void> {
  el('stepup-reason').textContent = reason;
  el('stepup-error').textContent = why;
  el('stepup-go').hidden = true;
  const close = el('stepup-cancel');
  close.textContent = 'Close';
  showSection('stepup');
  return new Promise<void>((resolve) => {
    dismissCurrent = () => {
      close.onclick = null;
      dismissCurrent = undefined;
      resolve();
    };
    close.onclick = () => dismissCurrent?.();
  });
}
