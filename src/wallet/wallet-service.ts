/**
 * Assembles the wallet service from configuration: which custodian it talks
 * to (SYMBOLON_WALLET_KMS_ENDPOINT, or this server), with which credentials
 * (SYMBOLON_WALLET_KMS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY, else the admin
 * credential from the environment, else the generated admin-credentials.json),
 * and who those credentials are (SYMBOLON_WALLET_KMS_PRINCIPAL_ARN, else looked
 * up in this server's store) — the principal the master-key policy lets
 * manage, and forbids to use, each user's key. See docs/wallet-api.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.js';
import type { Store } from '../storage/database.js';
import { findAccessKey } from '../storage/access-keys.repository.js';
import type { AccessTokenVerifier } from './auth.js';
import { WalletError } from './errors.js';
import { kmsMasterKeys, type MasterKeyCustodian } from './master-keys.js';
import type { WalletApiOptions } from './routes.js';

export interface WalletServiceOptions {
  config: ServerConfig;
  store: Store;
  accountId: string;
  logger: Logger;
  clock: () => number;
  verifier: AccessTokenVerifier;
  /** This server's app, once it listens: the custodian when no endpoint is configured. */
  localApp: () => FastifyInstance | undefined;
  /** Replaces the KMS client (tests of the wallet API alone). */
  masterKeys?: MasterKeyCustodian;
}

export interface WalletService {
  /** What `buildApp` mounts under /v1. */
  api: WalletApiOptions;
  close(): void;
}

type Credentials = { accessKeyId: string; secretAccessKey: string };

/**
 * The loopback URL of a listening app.
 * @throws {WalletError} custodian_unavailable when it does not listen (yet).
 */
export function localEndpoint(app: FastifyInstance | undefined): string {
  const address = app?.server.address() as AddressInfo | string | null | undefined;
  if (!address || typeof address === 'string') throw new WalletError('custodian_unavailable', 'The key custodian of this server is not listening yet.');
  const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

function credentialsFrom(config: ServerConfig): Credentials | undefined {
  const w = config.wallet;
  if (w.kmsAccessKeyId && w.kmsSecretAccessKey) return { accessKeyId: w.kmsAccessKeyId, secretAccessKey: w.kmsSecretAccessKey };
  if (config.adminAccessKeyId && config.adminSecretAccessKey) return { accessKeyId: config.adminAccessKeyId, secretAccessKey: config.adminSecretAccessKey };
  // The embedded default writes a generated admin credential here at first start.
  try {
    const file = JSON.parse(readFileSync(join(config.dataDir, 'admin-credentials.json'), 'utf8')) as Partial<Credentials>;
    if (typeof file.accessKeyId === 'string' && typeof file.secretAccessKey === 'string') {
      return { accessKeyId: file.accessKeyId, secretAccessKey: file.secretAccessKey };
    }
  } catch {
    // No file: no credential; reported when a key is needed.
  }
  return undefined;
}

const NO_CREDENTIALS =
  'The wallet service has no credentials for the key custodian: set SYMBOLON_WALLET_KMS_ACCESS_KEY_ID and SYMBOLON_WALLET_KMS_SECRET_ACCESS_KEY.';
/** What a client is told; the reason is the operator's business (logged). */
const UNAVAILABLE = 'The key custodian is unavailable; try again later.';

/**
 * Builds the wallet service.
 * @throws {RangeError} when the account id is malformed.
 */
export function createWalletService(options: WalletServiceOptions): WalletService {
  const { config, store, accountId, logger } = options;
  const credentials = credentialsFrom(config);
  if (!credentials) logger.warn(NO_CREDENTIALS);

  const masterKeys: MasterKeyCustodian =
    options.masterKeys ??
    (credentials
      ? kmsMasterKeys({
          endpoint: () => config.wallet.kmsEndpoint ?? localEndpoint(options.localApp()),
          region: config.region,
          credentials,
          accountId,
          walletServicePrincipalArn: async () => {
            if (config.wallet.kmsPrincipalArn) return config.wallet.kmsPrincipalArn;
            const row = config.wallet.kmsEndpoint ? undefined : await findAccessKey(store.db, credentials.accessKeyId);
            if (!row) {
              logger.error('The wallet service cannot tell its own principal: set SYMBOLON_WALLET_KMS_PRINCIPAL_ARN.');
              throw new WalletError('custodian_unavailable', UNAVAILABLE);
            }
            return row.principalArn;
          },
        })
      : {
          async create() {
            logger.error(NO_CREDENTIALS);
            throw new WalletError('custodian_unavailable', UNAVAILABLE);
          },
          async discard() {
            throw new WalletError('custodian_unavailable', UNAVAILABLE);
          },
          close() {},
        });

  return {
    api: { store, verifier: options.verifier, masterKeys, logger, clock: options.clock },
    close: () => masterKeys.close(),
  };
}
