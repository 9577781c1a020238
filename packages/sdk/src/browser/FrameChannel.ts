/**
 * FrameChannel: the DApp page's end of the link to the wallet frame. It mounts
 * the frame (a cross-origin iframe, so the same-origin policy keeps the DApp's
 * script out of it) inside an overlay that stays hidden until the frame asks
 * for the user, and exchanges the messages of ./protocol.ts with it.
 *
 * Origin checks (this direction): a message is accepted only when its
 * `origin` is the frame URL's origin AND its `source` is this iframe's own
 * window — a page of the same origin in another window or frame cannot answer
 * for it. Messages go out only to the frame's origin, never '*'.
 */
import { PROTOCOL, parseFrameMessage, type DappMessage, type FrameMethod } from './protocol.js';
import { ProviderRpcError, disconnected, invalidParams } from './ProviderRpcError.js';

export interface FrameChannelOptions {
  /** The wallet frame's URL (https, or http on a loopback host). */
  frameUrl: string;
  /** Where the overlay is mounted (default document.body). */
  container?: HTMLElement;
  /** How long to wait for the frame's ready answer (default 15 s). */
  readyTimeoutMs?: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Parses and checks the frame URL.
 * @throws {ProviderRpcError} -32602 when it is not https (or http on a loopback host).
 */
export function checkFrameUrl(frameUrl: string): URL {
  let url: URL;
  try {
    url = new URL(frameUrl);
  } catch {
    throw invalidParams('frameUrl must be an absolute URL.');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw invalidParams('frameUrl must use https (http only on localhost).');
  }
  return url;
}

function randomId(): string {
  return globalThis.crypto.randomUUID();
}

export class FrameChannel {
  readonly origin: string;
  readonly #url: URL;
  readonly #options: FrameChannelOptions;
  #overlay: HTMLDivElement | undefined;
  #iframe: HTMLIFrameElement | undefined;
  #ready: Promise<string[]> | undefined;
  #onReady: ((accounts: string[]) => void) | undefined;
  readonly #pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: ProviderRpcError) => void }>();
  readonly #listener = (event: MessageEvent) => this.#receive(event);
  /** Called with the frame's accounts whenever they change (ready, connect, logout). */
  onAccounts: ((accounts: string[]) => void) | undefined;
  /** Called when the frame cannot be reached any more. */
  onDisconnect: ((error: ProviderRpcError) => void) | undefined;

  /** @throws {ProviderRpcError} -32602 for a bad frame URL. */
  constructor(options: FrameChannelOptions) {
    this.#url = checkFrameUrl(options.frameUrl);
    this.origin = this.#url.origin;
    this.#options = options;
  }

  /** Mounts the frame (once) and resolves with its accounts when it answers hello. */
  connect(): Promise<string[]> {
    this.#ready ??= this.#mount();
    return this.#ready;
  }

  /**
   * Sends one request to the frame and waits for its answer (which may take as
   * long as the user does).
   * @throws {ProviderRpcError} the frame's error (4001, 4100, ...), or 4900 when it is unreachable.
   */
  async request(method: FrameMethod, params: readonly unknown[], chainId: number): Promise<unknown> {
    await this.connect();
    const id = randomId();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#post({ protocol: PROTOCOL, kind: 'request', id, method, params, chainId });
    });
  }

  /** Removes the frame; pending requests fail with 4900. */
  destroy(): void {
    window.removeEventListener('message', this.#listener);
    this.#overlay?.remove();
    this.#overlay = undefined;
    this.#iframe = undefined;
    this.#ready = undefined;
    this.#failAll(disconnected('The wallet frame was closed.'));
  }

  #mount(): Promise<string[]> {
    const doc = document;
    const overlay = doc.createElement('div');
    overlay.setAttribute('data-symbolon-overlay', '');
    // CSSOM assignments, not style attributes: they work under a DApp's strict style-src.
    Object.assign(overlay.style, {
      position: 'fixed',
      inset: '0',
      zIndex: '2147483647',
      display: 'none',
      alignItems: 'center',
      justifyContent: 'center',
      background: 'rgba(15, 23, 42, 0.55)',
    });
    const iframe = doc.createElement('iframe');
    iframe.src = this.#url.href;
    iframe.title = 'Symbolon wallet';
    iframe.setAttribute('data-symbolon-frame', '');
    iframe.referrerPolicy = 'origin';
    // WebAuthn in a cross-origin iframe needs the embedder to delegate it (Permissions Policy): the frame asks for
    // the user's passkey when a policy wants a second factor (docs/frame.md "Step-up"). Its origin only.
    iframe.allow = `publickey-credentials-get ${this.origin}`;
    // No transform, opacity or filter: the frame checks that it is fully visible (IntersectionObserver v2) before it enables Approve.
    Object.assign(iframe.style, { width: 'min(420px, 100vw)', height: 'min(640px, 100vh)', border: '0', background: '#ffffff', colorScheme: 'normal' });
    const close = doc.createElement('button');
    close.type = 'button';
    close.textContent = '×';
    close.setAttribute('aria-label', 'Close the wallet');
    Object.assign(close.style, {
      position: 'fixed',
      top: '12px',
      right: '16px',
      font: '28px/1 system-ui, sans-serif',
      color: '#ffffff',
      background: 'transparent',
      border: '0',
      cursor: 'pointer',
    });
    close.addEventListener('click', () => {
      // The frame rejects whatever it was asking the user (4001).
      this.#post({ protocol: PROTOCOL, kind: 'cancel' });
      overlay.style.display = 'none';
    });
    overlay.append(iframe, close);
    this.#overlay = overlay;
    this.#iframe = iframe;
    window.addEventListener('message', this.#listener);

    return new Promise<string[]>((resolve, reject) => {
      const timeoutMs = this.#options.readyTimeoutMs ?? 15_000;
      let hellos: ReturnType<typeof setTimeout> | undefined;
      const timer = setTimeout(() => {
        clearTimeout(hellos);
        const e = disconnected(`The wallet frame at ${this.origin} did not answer within ${timeoutMs} ms (not running, or this origin is not allowed).`);
        this.#ready = undefined;
        this.#onReady = undefined;
        overlay.remove();
        window.removeEventListener('message', this.#listener);
        this.#iframe = undefined;
        this.#overlay = undefined;
        reject(e);
      }, timeoutMs);
      this.#onReady = (accounts) => {
        clearTimeout(timer);
        clearTimeout(hellos);
        this.#onReady = undefined;
        resolve(accounts);
      };
      iframe.addEventListener('load', () => {
        // The frame's script may still be starting when load fires: say hello until it answers, backing off.
        clearTimeout(hellos);
        let delay = 100;
        const hello = () => {
          this.#post({ protocol: PROTOCOL, kind: 'hello' });
          hellos = setTimeout(hello, delay);
          delay = Math.min(delay * 2, 2_000);
        };
        hello();
      });
      (this.#options.container ?? doc.body).append(overlay);
    });
  }

  #post(message: DappMessage): void {
    this.#iframe?.contentWindow?.postMessage(message, this.origin);
  }

  #receive(event: MessageEvent): void {
    // Origin check, both halves: the frame's origin, from this very iframe.
    if (event.origin !== this.origin || !this.#iframe || event.source !== this.#iframe.contentWindow) return;
    const message = parseFrameMessage(event.data);
    if (!message) return;
    switch (message.kind) {
      case 'ready':
        if (this.#onReady) {
          this.#onReady(message.accounts);
          this.onAccounts?.(message.accounts);
        }
        return;
      case 'accountsChanged':
        this.onAccounts?.(message.accounts);
        return;
      case 'show':
        if (this.#overlay) this.#overlay.style.display = 'flex';
        this.#iframe.focus();
        return;
      case 'hide':
        if (this.#overlay) this.#overlay.style.display = 'none';
        return;
      case 'response': {
        const pending = this.#pending.get(message.id);
        if (!pending) return;
        this.#pending.delete(message.id);
        if ('error' in message) pending.reject(ProviderRpcError.from(message.error));
        else pending.resolve(message.result);
        return;
      }
    }
  }

  #failAll(error: ProviderRpcError): void {
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    this.onDisconnect?.(error);
  }
}
