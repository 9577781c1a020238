/**
 * Assembles the wallet service from configuration: which custodian it talks
 * to (SYMBOLON_WALLET_KMS_ENDPOINT, or this server), with which credentials
 * (SYMBOLON_WALLET_KMS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY, or — when the
 * custodian is this server — the dedicated `symbolon-wallet-service` IAM user,
 * see wallet-principal.ts), and who those credentials are
 * (SYMBOLON_WALLET_KMS_PRINCIPAL_ARN, else known from this server's store, or
 * — with a remote custodian — asked of its STS, GetCallerIdentity):
 * the principal each user's master-key policy lets manage, and forbids to use,
 * the key. Never the account root. See docs/wallet-api.md.
 */
import type { AddressInfo } from 'node:net';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { WalletSettings } from './settings.js';
import type { Store } from '../storage/database.js';
import { findAccessKey } from '../storage/access-keys.repository.js';
import type { AccessTokenVerifier } from './auth.js';
import { WalletError } from './errors.js';
import { kmsMasterKeys, type MasterKeyCustodian } from './master-keys.js';
import { provisionWalletServicePrincipal } from './wallet-principal.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import type { WalletApiOptions } from './routes.js';
import type { AuditSink } from '../audit/event.js';

export interface WalletServiceOptions {
  /** The parts of the server's configuration (src/config.ts) the wallet service reads. */
  config: { region: string; wallet: WalletSettings; signer: { imageSha384?: string | undefined } };
  store: Store;
  /**
   * This server's root of trust: opens the embedded wallet-service principal's
   * secret, and seals split wallets' share B (with `--role wallet`, the wallet
   * role's own root, not the custodian's).
   */
  root: RootOfTrust;
  /** The custodian's account; undefined with `--role wallet` (the account of the wallet service's principal). */
  accountId: string | undefined;
  logger: Logger;
  clock: () => number;
  verifier: AccessTokenVerifier;
  /** This server's app, once it listens: the custodian when no endpoint is configured. */
  localApp: () => FastifyInstance | undefined;
  /** Replaces the KMS client (tests of the wallet API alone). */
  masterKeys?: MasterKeyCustodian;
  /** The audit log the wallet service's own events (share rotations) go to. */
  audit?: AuditSink;
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

const NO_CREDENTIALS =
  'The wallet service has no credentials for the key custodian: set SYMBOLON_WALLET_KMS_ACCESS_KEY_ID and SYMBOLON_WALLET_KMS_SECRET_ACCESS_KEY, or reactivate the access key of IAM user symbolon-wallet-service.';
/** What a client is told; the reason is the operator's business (logged). */
const UNAVAILABLE = 'The key custodian is unavailable; try again later.';

/**
 * Who the credentials are at a remote custodian (STS GetCallerIdentity, which any valid credential may call).
 * @throws {WalletError} custodian_unavailable when the custodian does not answer or refuses.
 */
async function callerArn(endpoint: string, region: string, credentials: Credentials, logger: Logger): Promise<string> {
  const sts = new STSClient({ endpoint, region, credentials, maxAttempts: 2, requestHandler: { requestTimeout: 5_000, connectionTimeout: 5_000 } });
  try {
    const arn = (await sts.send(new GetCallerIdentityCommand({}))).Arn;
    if (!arn) throw new Error('GetCallerIdentity returned no Arn');
    return arn;
  } catch (e) {
    logger.error(
      { err: e instanceof Error ? e.name : 'Error' },
      'The wallet service cannot tell its own principal at the custodian (GetCallerIdentity failed).',
    );
    throw new WalletError('custodian_unavailable', UNAVAILABLE, { cause: e });
  } finally {
    sts.destroy();
  }
}

/**
 * Builds the wallet service; with no credentials configured and the custodian
 * in this process tree, provisions the wallet service's IAM user first.
 * @throws {RangeError} when the account id is malformed.
 * @throws {Error} when the store fails while provisioning.
 */
export async function createWalletService(options: WalletServiceOptions): Promise<WalletService> {
  const { config, store, accountId, logger } = options;
  const local = config.wallet.kmsEndpoint === undefined;
  let credentials: Credentials | undefined;
  let principalArn = config.wallet.kmsPrincipalArn;
  if (config.wallet.kmsAccessKeyId && config.wallet.kmsSecretAccessKey) {
    credentials = { accessKeyId: config.wallet.kmsAccessKeyId, secretAccessKey: config.wallet.kmsSecretAccessKey };
  } else if (local && !options.masterKeys && accountId !== undefined) {
    const own = await provisionWalletServicePrincipal({ store, root: options.root, accountId, now: options.clock() });
    if (own) {
      credentials = { accessKeyId: own.accessKeyId, secretAccessKey: own.secretAccessKey };
      principalArn ??= own.principalArn;
    }
  }
  if (!credentials && !options.masterKeys) logger.warn(NO_CREDENTIALS);
  const creds = credentials;

  const masterKeys: MasterKeyCustodian =
    options.masterKeys ??
    (creds
      ? kmsMasterKeys({
          endpoint: () => config.wallet.kmsEndpoint ?? localEndpoint(options.localApp()),
          region: config.region,
          credentials: creds,
          accountId,
          ...(config.signer.imageSha384 ? { signerImageSha384: config.signer.imageSha384 } : {}),
          walletServicePrincipalArn: async () => {
            if (principalArn) return principalArn;
            const row = local ? await findAccessKey(store.db, creds.accessKeyId) : undefined;
            if (!row && !local) {
              principalArn = await callerArn(config.wallet.kmsEndpoint!, config.region, creds, logger);
              return principalArn;
            }
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
    // Split wallets' share B is sealed under the provider's key: this server's root of trust —
    // with --role all the custodian's (same process tree), with --role wallet the wallet
    // role's own (src/server/wallet-role.ts, docs/wallet-api.md).
    api: { store, verifier: options.verifier, masterKeys, logger, clock: options.clock, shareSealer: options.root, audit: options.audit },
    close: () => masterKeys.close(),
  };
}
