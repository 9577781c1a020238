/**
 * The wallet service's REST API as the device uses it (docs: the wallet
 * API's OpenAPI document at /v1/openapi.json): `GET /v1/me`,
 * `POST /v1/wallets`, `GET /v1/wallets/me`, each with the user's bearer token.
 */
import { httpJson } from './httpJson.js';

export interface WalletMe {
  id: string;
  issuer: string;
  sub: string;
  email: string | null;
  /** The user's master key in the custodian. */
  masterKeyId: string;
  createdAt: string;
  wallet: { id: string; address: string; custodyMode: string } | null;
}

export interface WalletRecord {
  id: string;
  address: string;
  custodyMode: string;
  createdAt: string;
  envelope?: {
    encryptedPrivateKey: string;
    encryptedDataKey: string;
    kmsKeyId: string;
    encryptionContext: { sub: string };
  };
}

export interface CreateEnvelopeWalletBody {
  custodyMode: 'envelope';
  address: string;
  encryptedPrivateKey: string;
  encryptedDataKey: string;
  idempotencyKey?: string;
}

/** A thin client of the wallet API. */
export class WalletApi {
  readonly #base: string;
  readonly #fetch: typeof fetch;

  /** @param url the wallet service's base URL (the `/v1` prefix is added here). */
  constructor(url: string, doFetch: typeof fetch = fetch) {
    this.#base = `${url.replace(/\/+$/, '')}/v1`;
    this.#fetch = doFetch;
  }

  /** @throws {WalletApiError} */
  async me(token: string): Promise<WalletMe> {
    return (await httpJson<WalletMe>(this.#fetch, `${this.#base}/me`, { method: 'GET', bearer: token })).body;
  }

  /** @throws {WalletApiError} wallet_exists (409) when the user has another wallet. */
  async createWallet(token: string, body: CreateEnvelopeWalletBody): Promise<WalletRecord> {
    return (await httpJson<WalletRecord>(this.#fetch, `${this.#base}/wallets`, { method: 'POST', bearer: token, body })).body;
  }

  /** @throws {WalletApiError} not_found when the user has no wallet. */
  async myWallet(token: string): Promise<WalletRecord> {
    return (await httpJson<WalletRecord>(this.#fetch, `${this.#base}/wallets/me`, { method: 'GET', bearer: token })).body;
  }
}
