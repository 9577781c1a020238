/**
 * The wallet API's routes for the wallet's own pages (docs/wallet-api.md,
 * "Connected sites and activity"): the sites the user connected in the frame,
 * and one line per request the user approved. Called with the user's access
 * token from the frame's own origin only.
 */
import type { FrameConfig } from './config.js';

export interface ConnectedSite {
  origin: string;
  connectedAt: string;
}

export interface ActivityEntry {
  at: string;
  kind: 'connect' | 'disconnect' | 'sign_message' | 'sign_typed_data' | 'sign_transaction' | 'export_key';
  site: string;
  summary: string;
  txHash?: string;
}

export interface WalletOverview {
  address: string;
  custodyMode: string;
}

/** The wallet API answered with an error (its stable code). */
export class PagesApiError extends Error {
  override name = 'PagesApiError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Longest summary the API takes; control characters are refused, so they are replaced. */
const SUMMARY_MAX = 200;

/** A one-line summary fit for the API: no control characters, at most 200 characters. */
export function oneLine(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > SUMMARY_MAX ? `${flat.slice(0, SUMMARY_MAX - 1)}…` : flat || '—';
}

export class PagesApi {
  constructor(
    private readonly config: FrameConfig,
    private readonly token: () => Promise<string>,
  ) {}

  /** @throws {PagesApiError} the wallet API's refusal; {SessionEndedError} from the token. */
  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.config.walletApi}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${await this.token()}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      credentials: 'omit',
      cache: 'no-store',
    });
    const json = (await response.json().catch(() => undefined)) as (T & { error?: { code?: unknown; message?: unknown } }) | undefined;
    if (!response.ok) {
      const e = json?.error;
      throw new PagesApiError(
        typeof e?.code === 'string' ? e.code : `http_${response.status}`,
        typeof e?.message === 'string' ? e.message : `The wallet service answered ${response.status}.`,
      );
    }
    return json as T;
  }

  /** The user's wallet as the wallet service knows it (no key is opened), or undefined before the first. */
  async wallet(): Promise<WalletOverview | undefined> {
    const me = await this.#call<{ wallet: WalletOverview | null }>('GET', '/me');
    return me.wallet ?? undefined;
  }

  async sites(): Promise<ConnectedSite[]> {
    return (await this.#call<{ sites: ConnectedSite[] }>('GET', '/me/sites')).sites;
  }

  async connect(origin: string): Promise<void> {
    await this.#call('PUT', '/me/sites', { origin });
  }

  /** @throws {PagesApiError} not_found when the site is not connected. */
  async disconnect(origin: string): Promise<void> {
    await this.#call('DELETE', `/me/sites?origin=${encodeURIComponent(origin)}`);
  }

  async activity(limit = 20): Promise<ActivityEntry[]> {
    return (await this.#call<{ events: ActivityEntry[] }>('GET', `/me/activity?limit=${limit}`)).events;
  }

  async record(entry: {
    kind: 'sign_message' | 'sign_typed_data' | 'sign_transaction' | 'export_key';
    site: string;
    summary: string;
    txHash?: string;
  }): Promise<void> {
    await this.#call('POST', '/me/activity', { ...entry, summary: oneLine(entry.summary) });
  }
}
