/**
 * `symbolon serve --role wallet`: the wallet API (/v1) over a store and a root
 * of trust of its own — its own data directory (root.key, symbolon.db) or its
 * own PostgreSQL database and SYMBOLON_ROOT_KEY — and nothing of the
 * custodian's. It reaches the custodian only over HTTP, as any KMS client
 * does: SYMBOLON_WALLET_KMS_ENDPOINT with its own IAM credentials
 * (SYMBOLON_WALLET_KMS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY), which create and
 * manage users' master keys and never use them (src/wallet/master-keys.ts).
 * Split wallets' share B is sealed under this role's root, so neither the
 * custodian's store nor its root holds it (README, "Production deployment").
 *
 * No AWS endpoint, no IAM, no frame here: those are the custodian's
 * (`--role kms`) or the embedded default's (`--role all`). The built-in
 * issuer, when enabled here, records its passkey events in this role's own
 * hash-chained audit log (its store, its root: `symbolon audit` on this
 * role's data directory or database reads it), and accepts a passkey
 * step-up made in the frame embedded in one of SYMBOLON_FRAME_ALLOWED_ORIGINS,
 * as the all-in-one server does (src/server/custodian.ts).
 */
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../config.js';
import type { Store } from '../storage/database.js';
import type { RootKey, RootOfTrust } from '../root/root-of-trust.js';
import { StoreKeySealer } from '../root/store-key.js';
import { openAuditLog, type AuditLog } from '../audit/audit-log.js';
import { auditSettingsFromEnv, type AuditLogSettings } from '../audit/settings.js';
import { createIdentity, resolvePublicUrl, type Identity } from '../identity/identity.js';
import { createWalletService } from '../wallet/wallet-service.js';
import { followStoreKey, openRootAndStore } from './custodian.js';
import { buildWalletApp, type ServerFactory } from './app.js';

export interface WalletServer {
  app: FastifyInstance;
  config: ServerConfig;
  store: Store;
  identity: Identity;
  /** This role's audit log (the built-in issuer's passkey events). */
  audit: AuditLog;
  close(): Promise<void>;
}

export interface WalletServerOptions {
  config: ServerConfig;
  logger?: Logger;
  /** Overrides (tests): a PostgreSQL schema, a clock, a root of trust. */
  pgSchema?: string;
  clock?: () => number;
  root?: RootOfTrust;
  /** SYMBOLON_ROOT=shamir: the root rebuilt from unseal shares, and the sealed gate's server (src/server/sealed-gate.ts). */
  unsealedRoot?: RootKey;
  serverFactory?: ServerFactory;
  /** Overrides of the audit log's settings (tests). */
  auditSettings?: Partial<AuditLogSettings>;
}

/**
 * Starts the wallet role (not listening).
 * @throws {RangeError} when the role's custodian settings are missing.
 * @throws {RootKeyError} when the root key is missing beside sealed data, malformed, or not this store's.
 */
export async function createWalletServer(options: WalletServerOptions): Promise<WalletServer> {
  const { config } = options;
  if (config.wallet.kmsEndpoint === undefined) throw new RangeError('--role wallet needs SYMBOLON_WALLET_KMS_ENDPOINT (the custodian URL)');
  const logger =
    options.logger ??
    pino({
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', '*.secretAccessKey', '*.SecretAccessKey', '*.sessionToken'], censor: '[redacted]' },
    });
  // The same order as the custodian's: a root key that is there is checked before the store is touched.
  const { store, sealer: root, source: rootSource, created: rootCreated } = await openRootAndStore(options, logger);
  let wallet: Awaited<ReturnType<typeof createWalletService>> | undefined;
  let audit: AuditLog | undefined;
  const keyRefresh = followStoreKey(options, store, root, logger);
  try {
    const clock = options.clock ?? Date.now;
    audit = await openAuditLog({ store, root, logger, settings: { ...auditSettingsFromEnv(process.env), ...options.auditSettings } });
    let listening: FastifyInstance | undefined;
    // Users' tokens: the trusted issuers (SYMBOLON_OIDC_ISSUERS), and the built-in issuer if enabled here.
    const identity = await createIdentity({
      settings: config.identity,
      store,
      root,
      logger,
      clock,
      publicUrl: () => resolvePublicUrl(config.publicUrl, listening!),
      audit,
      // The frame's allowed DApp origins (served by the custodian): a step-up made in the frame embedded in one of them names it as its top origin.
      embeddingOrigins: () => config.frame.allowedOrigins,
    });
    wallet = await createWalletService({
      config,
      store,
      root,
      // The custodian's account is that of the wallet service's principal (SYMBOLON_WALLET_KMS_PRINCIPAL_ARN or GetCallerIdentity).
      accountId: undefined,
      logger,
      clock,
      verifier: { verify: (token) => identity.verifier('wallet').verify(token) },
      localApp: () => undefined,
    });
    if (!config.identity.builtinIssuer && !config.identity.issuersJson && !config.identity.issuersFile)
      logger.warn('no trusted token issuers (SYMBOLON_OIDC_ISSUERS): every wallet API request will be refused');
    const app = buildWalletApp({ logger, identity, wallet: wallet.api, ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}) });
    listening = app;
    logger.info({ root: rootSource, rootCreated, store: store.dialect, custodian: config.wallet.kmsEndpoint }, 'wallet service ready');
    const service = wallet;
    const log = audit;
    return {
      app,
      config,
      store,
      identity,
      audit: log,
      async close() {
        try {
          keyRefresh?.stop();
          await app.close();
          service.close();
          // The log writes what is buffered and signs a final checkpoint.
          await log.close();
        } finally {
          await store.close();
          if (root instanceof StoreKeySealer && !options.root) root.destroy();
        }
      },
    };
  } catch (e) {
    keyRefresh?.stop();
    wallet?.close();
    await audit?.close().catch(() => undefined);
    await store.close();
    if (root instanceof StoreKeySealer && !options.root) root.destroy();
    throw e;
  }
}
