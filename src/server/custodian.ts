/**
 * Assembles a running custodian from configuration: opens the store, loads the
 * root of trust and proves it matches the store, fixes the account id, makes
 * sure an administrator credential exists, and builds the app. Used by
 * `symbolon serve`, the tests and the benchmarks alike.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { openStore, type Store } from '../storage/database.js';
import { getMeta, putMetaIfAbsent } from '../storage/meta.repository.js';
import { countAccessKeys, findAccessKey, insertAccessKey } from '../storage/access-keys.repository.js';
import { loadFileRoot, rootKeyFileState } from '../root/file-root.js';
import { type KeyRootOfTrust, RootKeyError, sealingContext, SealedBoxError, type RootKey, type RootKind, type RootOfTrust } from '../root/root-of-trust.js';
import { createStoreKeyRecord, decodeStoreKeyRecord, openStoreKeys, STORE_KEY_META, StoreKeySealer } from '../root/store-key.js';
import { openPkcs11Root } from '../root/pkcs11-root.js';
import { KmsRootKey } from '../root/kms-root.js';
import { Authenticator } from '../aws/authenticator.js';
import { AccessKeySource, accessKeySecretAad } from '../aws/access-key-source.js';
import { KeyCache } from '../kms/key-cache.js';
import { operations } from '../kms/operations/registry.js';
import { utf8Bytes, wipe } from '../crypto/bytes.js';
import { SECP256K1_IMPLEMENTATION } from '../crypto/secp256k1.js';
import type { AuditSink } from '../audit/event.js';
import { openAuditLog, type AuditLog } from '../audit/audit-log.js';
import { DeniedAlerts } from '../audit/denied-alerts.js';
import { alertSettingsFromEnv, auditSettingsFromEnv, type AuditLogSettings, type DeniedAlertSettings } from '../audit/settings.js';
import { createMetrics, registerMetricsRoute, type Metrics } from './metrics.js';
import { monitoredSink, SigningMonitor } from '../audit/monitor.js';
import { WebhookDispatcher, webhookSettingsFromEnv, type WebhookSettings } from '../audit/webhooks.js';
import { webhookOperations } from '../audit/webhook-operations.js';
import type { Authorizer, KmsDeps } from '../kms/context.js';
import type { ServerConfig } from '../config.js';
import { buildApp, type ServerFactory } from './app.js';
import { allowedHosts, hostAccepted } from './allowed-hosts.js';
import { PolicyAuthorizer } from '../aws/policy/authorizer.js';
import { approvalOperations } from '../kms/policy/approvals.js';
import { signingOperations } from '../kms/signing-policy-operations.js';
import { AccountQuorum } from '../kms/policy/account-quorum.js';
import { kmsChangeAppliers } from '../kms/policy/account-changes.js';
import { iamChangeAppliers } from '../iam/account-changes.js';
import { listUserAccessKeys } from '../storage/iam.repository.js';
import { Principals } from '../iam/principals.js';
import { IamService } from '../iam/service.js';
import { RolePolicies } from '../iam/roles/role-policies.js';
import { IdentityPolicies } from '../iam/identity-policies.js';
import { SessionCredentialSource } from '../sts/session-credential-source.js';
import { RolesService } from '../iam/roles/roles-service.js';
import { StsService } from '../sts/sts-service.js';
import { provisionWalletUsersRole } from '../iam/roles/wallet-users-role.js';
import { createIdentity, resolvePublicUrl, type Identity, type IdentityOptions } from '../identity/identity.js';
import { startMaintenance, MAINTENANCE_INTERVAL_MS } from '../kms/maintenance.js';
import { setUpRecipientAttestation } from './signer-launcher.js';
import type { PlatformKey } from '../attestation/platform-key.js';
import { createWalletService } from '../wallet/wallet-service.js';
import { createFrame, type Frame } from './frame.js';
import type { AccessTokenVerifier } from '../wallet/auth.js';
import type { MasterKeyCustodian } from '../wallet/master-keys.js';
import { cleanUpOrphanedMasterKeys } from '../wallet/orphaned-master-keys.js';
import { RpcTokenAuthenticator } from '../rpc/tokens.js';
import { rpcTokenChangeAppliers, rpcTokenOperations } from '../rpc/token-operations.js';
import { RpcAccounts } from '../rpc/accounts.js';
import { Upstream } from '../rpc/upstream.js';
import { RpcSigner } from '../rpc/rpc-signer.js';
import { registerRpcRoute } from './rpc-route.js';
import { startStoreKeyRefresh, storeKeyRefreshMs, type StoreKeyRefresh } from './store-key-refresh.js';

/** Follows store-key rotations (src/server/store-key-refresh.ts) when the sealer is the store key. */
export function followStoreKey(options: CustodianOptions, store: Store, sealer: RootOfTrust, logger: Logger): StoreKeyRefresh | undefined {
  if (!(sealer instanceof StoreKeySealer) || options.root) return undefined;
  return startStoreKeyRefresh(store, sealer, options.storeKeyRefreshMs ?? storeKeyRefreshMs(process.env), logger);
}

export interface Custodian {
  app: FastifyInstance;
  deps: KmsDeps;
  authenticator: Authenticator;
  config: ServerConfig;
  accountId: string;
  /** Where the generated admin credential was written, if it was generated now. */
  adminCredentialsFile: string | undefined;
  /** The audit sink: the hash-chained log unless one was injected. */
  audit: AuditSink;
  metrics: Metrics;
  /** Sees every audit event recorded (src/audit/monitor.ts): signing metrics and webhook events. */
  monitor: SigningMonitor;
  /** Monitoring webhooks (src/audit/webhooks.ts). */
  webhooks: WebhookDispatcher;
  /** Token verification over the trusted issuers, and the built-in issuer when enabled. */
  identity: Identity;
  /** The embedded platform attestation key: with --role all, the signer's launcher signs its documents with it. */
  platformKey: PlatformKey;
  /** The wallet frame (--role all): `serve` tells it the forked signer's URL when the port was 0. */
  frame: Frame | undefined;
  close(): Promise<void>;
}

export interface CustodianOptions {
  config: ServerConfig;
  logger?: Logger;
  /** Overrides (tests): a PostgreSQL schema, a clock, a root of trust that seals directly (no store key). */
  pgSchema?: string;
  clock?: () => number;
  root?: RootOfTrust;
  /** An audit sink to use instead of the hash-chained log (tests, measurements). */
  audit?: AuditSink;
  /** Audit log settings over those from the environment (SYMBOLON_AUDIT_*). */
  auditSettings?: Partial<AuditLogSettings>;
  /** Denied-burst alert settings over those from the environment (SYMBOLON_DENIED_ALERT_*). */
  alertSettings?: Partial<DeniedAlertSettings>;
  /** Webhook delivery settings over those from the environment (SYMBOLON_WEBHOOK_*; tests: short back-off, local receivers). */
  webhookSettings?: Partial<WebhookSettings>;
  /** Distinct key ARNs the signing metrics label by name (default 100; then `other`). */
  monitorMaxKeys?: number;
  /** Bearer token for GET /metrics (default SYMBOLON_METRICS_TOKEN; none: open). */
  metricsToken?: string;
  authorizer?: Authorizer;
  /** How often to delete keys past their deletion window and rotate keys that are due (default one minute). */
  maintenanceIntervalMs?: number;
  /** Identity overrides (tests): the built-in issuer's limits, verifier options. */
  identity?: Pick<IdentityOptions, 'limits' | 'verifierOptions'>;
  /** How often to re-read the store-key row and adopt a rotation (default SYMBOLON_STORE_KEY_REFRESH_MS, else 5 s). */
  storeKeyRefreshMs?: number;
  /** Wallet API overrides (tests): the token verifier (default: the identity module's), the custodian client. */
  wallet?: { verifier?: AccessTokenVerifier; masterKeys?: MasterKeyCustodian };
  /** SYMBOLON_ROOT=shamir: the root rebuilt from unseal shares (src/server/sealed-gate.ts); closed (wiped) once the store key is unwrapped. */
  unsealedRoot?: RootKey;
  /** Serves through an HTTP server the caller owns (the sealed gate's); the app then never listens itself. */
  serverFactory?: ServerFactory;
}

/** The symbolon_meta row holding a box sealed under the root, opened at every start (and by restore) to prove the root is this store's. */
export const ROOT_CHECK = 'root_check';
export const ROOT_CHECK_PURPOSE = 'root-check/v1';
const ROOT_CHECK_PLAINTEXT = 'symbolon root key check v1';

function generateAccessKeyId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let s = 'AKIA';
  for (let i = 0; i < 16; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

function generateSecret(): string {
  return randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
}

async function verifyRoot(store: Store, root: RootOfTrust, source: string): Promise<void> {
  const aad = sealingContext(ROOT_CHECK_PURPOSE);
  const existing = await getMeta(store.db, ROOT_CHECK);
  const box = existing ?? (await putMetaIfAbsent(store.db, ROOT_CHECK, root.seal(utf8Bytes(ROOT_CHECK_PLAINTEXT), aad)));
  try {
    const opened = root.open(box, aad);
    wipe(opened);
  } catch (e) {
    if (e instanceof SealedBoxError) {
      throw new RootKeyError(
        `The root key from ${source} does not match this store: its data was sealed under a different root key. Refusing to start; restore the original root key.`,
      );
    }
    throw e;
  }
}

/** Whether the store already holds data sealed under some root (a root-key check box or a store key); false before its tables exist (a first start). */
async function storeHoldsSealedData(store: Store): Promise<boolean> {
  try {
    return (await getMeta(store.db, ROOT_CHECK)) !== undefined || (await getMeta(store.db, STORE_KEY_META)) !== undefined;
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    // 42P01 (PostgreSQL) and "no such table" (SQLite): not migrated yet, so nothing is sealed.
    if (err.code === '42P01' || (err.code === 'SQLITE_ERROR' && typeof err.message === 'string' && err.message.startsWith('no such table'))) return false;
    throw e;
  }
}

/** The root of trust as configured, opened in the order that keeps a missing root key from being replaced. */
export type LoadedRoot = { root: RootKey; source: string; created: boolean };

/** The store, the services' sealer (the store key, or a test's root), and where the root came from. */
type OpenedStore = { store: Store; sealer: RootOfTrust; source: string; created: boolean };

/**
 * Opens the configured root (SYMBOLON_ROOT).
 * @param storeSealed the file root: whether a missing root.key must be refused rather than generated.
 */
export async function loadConfiguredRoot(config: Pick<ServerConfig, 'root' | 'dataDir' | 'rootKey'>, storeSealed: boolean): Promise<LoadedRoot> {
  if (config.root.kind === 'shamir')
    throw new RootKeyError(
      storeSealed
        ? 'SYMBOLON_ROOT=shamir: the root key exists only as shares; this command cannot open the store (a server starts sealed: symbolon operator unseal)'
        : 'SYMBOLON_ROOT=shamir: this store has no Shamir root yet; run symbolon operator init --shares N --threshold M first',
    );
  if (config.root.kind === 'kms') {
    const root = new KmsRootKey(config.root.kms!);
    return { root, source: root.description, created: false };
  }
  if (config.root.kind === 'pkcs11') {
    const root = await openPkcs11Root(config.root.pkcs11!, { createKey: !storeSealed });
    return { root, source: root.description, created: false };
  }
  return loadFileRoot({ dataDir: config.dataDir, envKey: config.rootKey, storeSealed });
}

/**
 * The store key, unwrapped with the root once. A store without one gets one:
 * a fresh store (version 1), or a store made before the key hierarchy, whose
 * records stay sealed under the file root (checked first, so another root key
 * writes nothing) and open through its legacy sealer.
 * @throws {RootKeyError} when the root is not this store's.
 */
async function openStoreKey(store: Store, loaded: LoadedRoot): Promise<StoreKeySealer> {
  let legacy: KeyRootOfTrust | undefined = loaded.root.legacySealer?.();
  try {
    let record = await getMeta(store.db, STORE_KEY_META);
    if (!record) {
      const sealedBefore = (await getMeta(store.db, ROOT_CHECK)) !== undefined;
      if (sealedBefore) {
        if (!legacy)
          throw new RootKeyError(
            `this store was sealed directly under a root key file (before the key hierarchy), but SYMBOLON_ROOT is ${loaded.root.kind}. Refusing to start; start it with its root key file first.`,
          );
        await verifyRoot(store, legacy, loaded.source);
      }
      record = await putMetaIfAbsent(store.db, STORE_KEY_META, await createStoreKeyRecord(loaded.root, sealedBefore));
    }
    const sealer = await openStoreKeys(loaded.root, record, legacy);
    if (decodeStoreKeyRecord(record).legacy) legacy = undefined; // the sealer owns it now
    return sealer;
  } finally {
    legacy?.destroy();
  }
}

/**
 * Refuses, before the root is opened, a root of another kind than the one the
 * store's key is wrapped by (or, for a store sealed before the key hierarchy,
 * anything but the file root).
 * @throws {RootKeyError} naming both kinds.
 */
async function checkRootKind(store: Store, kind: RootKind): Promise<void> {
  const record = await getMeta(store.db, STORE_KEY_META);
  const storeKind = record ? decodeStoreKeyRecord(record).root : 'file';
  if (storeKind === kind) return;
  throw new RootKeyError(
    record
      ? `this store's store key is wrapped by the ${storeKind} root, but SYMBOLON_ROOT is ${kind}. Refusing to start; configure the ${storeKind} root.`
      : `this store was sealed directly under a root key file (before the key hierarchy), but SYMBOLON_ROOT is ${kind}. Refusing to start; start it with its root key file first.`,
  );
}

/**
 * Step 1: the root of trust and the store. A root that is there is opened
 * before the store is touched; the store is opened unmigrated, since whether
 * it already holds sealed data decides whether a missing root.key may be
 * generated (a fresh store) or must be refused; then it is migrated, the
 * store key is unwrapped, and the root is closed: it is not used again.
 * @throws {RootKeyError} when the root is missing beside sealed data, malformed, unreachable or not this store's.
 */
export async function openRootAndStore(options: CustodianOptions, logger: Logger): Promise<OpenedStore> {
  const { config } = options;
  const embedded = !config.databaseUrl;
  if (embedded || !options.root) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  let early: LoadedRoot | undefined;
  if (!options.root && config.root.kind === 'file' && (config.rootKey || rootKeyFileState(config.dataDir) === 'present'))
    early = await loadConfiguredRoot(config, true);
  let loaded: LoadedRoot | undefined = early;
  let store: Store | undefined;
  try {
    store = await openStore({
      databaseUrl: config.databaseUrl,
      sqliteFile: join(config.dataDir, 'symbolon.db'),
      pgSchema: options.pgSchema,
      timeoutMs: config.dbTimeoutMs,
      logger,
      migrate: false,
      // SYMBOLON_SQLITE_CHECKPOINTS: SQLite's own WAL checkpoints, or a worker thread's (src/storage/wal-checkpointer.ts).
      sqliteCheckpoints: config.sqliteCheckpoints,
    });
    if (options.root) {
      // A test's root of trust seals directly (no store key).
      await store.migrate();
      await verifyRoot(store, options.root, options.root.description);
      return { store, sealer: options.root, source: options.root.description, created: false };
    }
    const sealed = await storeHoldsSealedData(store);
    if (sealed) await checkRootKind(store, config.root.kind);
    loaded ??= options.unsealedRoot
      ? { root: options.unsealedRoot, source: options.unsealedRoot.description, created: false }
      : await loadConfiguredRoot(config, sealed);
    await store.migrate();
    const sealer = await openStoreKey(store, loaded);
    try {
      await verifyRoot(store, sealer, loaded.source);
    } catch (e) {
      sealer.destroy();
      throw e;
    }
    return { store, sealer, source: loaded.source, created: loaded.created };
  } catch (e) {
    await store?.close();
    throw e;
  } finally {
    await loaded?.root.close();
  }
}

/**
 * Step 2: the account id, fixed in the store on first start.
 * @throws {Error} when SYMBOLON_ACCOUNT_ID names another account than the store's.
 */
async function fixAccountId(store: Store, config: ServerConfig): Promise<string> {
  const accountBytes = await putMetaIfAbsent(
    store.db,
    'account_id',
    utf8Bytes(config.accountId ?? String(randomInt(100000, 999999)) + String(randomInt(100000, 999999))),
  );
  const accountId = Buffer.from(accountBytes).toString('utf8');
  if (config.accountId && config.accountId !== accountId) {
    throw new Error(`SYMBOLON_ACCOUNT_ID ${config.accountId} differs from this store's account ${accountId}`);
  }

  return accountId;
}

/**
 * Step 3: an administrator credential exists — on first start the configured
 * one, or one generated into DIR/admin-credentials.json (mode 0600).
 * @returns the file written, if one was.
 * @throws {RangeError} when a configured credential is malformed.
 */
async function ensureAdminCredential(store: Store, root: RootOfTrust, accountId: string, config: ServerConfig): Promise<string | undefined> {
  let adminCredentialsFile: string | undefined;
  if ((await countAccessKeys(store.db)) === 0) {
    const accessKeyId = config.adminAccessKeyId ?? generateAccessKeyId();
    const secret = config.adminSecretAccessKey ?? generateSecret();
    if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) throw new RangeError('SYMBOLON_ADMIN_ACCESS_KEY_ID must be 16-128 upper-case letters and digits');
    if (secret.length < 16) throw new RangeError('SYMBOLON_ADMIN_SECRET_ACCESS_KEY must be at least 16 characters');
    const secretBytes = utf8Bytes(secret);
    try {
      await insertAccessKey(store.db, {
        accessKeyId,
        userName: 'root',
        principalArn: `arn:aws:iam::${accountId}:root`,
        sealedSecret: root.seal(secretBytes, accessKeySecretAad(accessKeyId)),
        status: 'Active',
        createdAt: Date.now(),
      });
    } catch (e) {
      // Several processes starting at once on an empty store (test/multi-process.test.ts): another one
      // inserted the same configured credential first, which is what this step wants.
      const won = config.adminAccessKeyId ? await findAccessKey(store.db, accessKeyId).catch(() => undefined) : undefined;
      if (!won || won.principalArn !== `arn:aws:iam::${accountId}:root`) throw e;
    } finally {
      wipe(secretBytes);
    }
    if (!config.adminAccessKeyId) {
      adminCredentialsFile = join(config.dataDir, 'admin-credentials.json');
      writeFileSync(adminCredentialsFile, JSON.stringify({ accessKeyId, secretAccessKey: secret, region: config.region, accountId }, null, 2) + '\n', {
        mode: 0o600,
      });
    }
  }

  return adminCredentialsFile;
}

/** Whether a request's Host names this server; the set is known once it listens (--port 0). */
function hostChecker(config: ServerConfig, listening: () => FastifyInstance | undefined): (host: string) => boolean {
  // The Host names this server answers to, known once it listens (--port 0).
  let hosts: Set<string> | undefined;
  const acceptsHost = (host: string): boolean => {
    if (hosts) return hostAccepted(hosts, host);
    const address = listening()?.server.address();
    const set = allowedHosts({ publicUrl: config.publicUrl, extra: config.allowedHosts, address });
    if (address) hosts = set;
    return hostAccepted(set, host);
  };
  return acceptsHost;
}

/**
 * Starts a custodian (not listening).
 * @throws {RootKeyError} when the root key is missing, malformed or not this store's.
 */
export async function createCustodian(options: CustodianOptions): Promise<Custodian> {
  const { config } = options;
  const logger =
    options.logger ??
    pino({
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', '*.secretAccessKey', '*.SecretAccessKey', '*.sessionToken'], censor: '[redacted]' },
    });
  const { store, sealer: root, source: rootSource, created: rootCreated } = await openRootAndStore(options, logger);
  let ownAudit: AuditLog | undefined;
  let keyRefresh: StoreKeyRefresh | undefined;
  try {
    keyRefresh = followStoreKey(options, store, root, logger);
    const accountId = await fixAccountId(store, config);
    const adminCredentialsFile = await ensureAdminCredential(store, root, accountId, config);
    const clock = options.clock ?? Date.now;
    // Key policies and IAM identity policies, evaluated as AWS does (src/aws/policy/evaluate.ts).
    const principals = new Principals({ store, ttlMs: config.keyCacheTtlMs });
    // A role session's identity policies are its role's (PutRolePolicy); a user's are its own.
    const rolePolicies = new RolePolicies({ store, ttlMs: config.keyCacheTtlMs });
    const policyAuthorizer = new PolicyAuthorizer({ identityPolicies: new IdentityPolicies({ principals, rolePolicies }) });
    // Decrypt's `Recipient`: the embedded platform key (made alongside the root key) and the trusted platform keys (docs/signer.md).
    const { platformKey, verifier: recipientAttestation } = await setUpRecipientAttestation({ db: store.db, root, settings: config.attestation });
    let listening: FastifyInstance | undefined;
    const authenticator = new Authenticator({
      sources: [new AccessKeySource(store, root, accountId, principals.tagsFor), new SessionCredentialSource(store, root, accountId)],
      regions: [config.region],
      acceptsHost: hostChecker(config, () => listening),
    });
    const auditLog: AuditLog | undefined = options.audit
      ? undefined
      : await openAuditLog({ store, root, logger, settings: { ...auditSettingsFromEnv(process.env), ...options.auditSettings } });
    ownAudit = auditLog;
    const alerts = new DeniedAlerts({ logger, settings: { ...alertSettingsFromEnv(process.env), ...options.alertSettings } });
    const webhooks = new WebhookDispatcher({
      store,
      root,
      logger,
      settings: { ...webhookSettingsFromEnv(process.env), ...options.webhookSettings },
      clock,
    });
    await webhooks.start();
    const monitor = new SigningMonitor({ logger, alerts, webhooks, maxKeys: options.monitorMaxKeys });
    // Every event recorded through `audit` is also seen by the monitor (metrics, webhooks).
    const audit: AuditSink = monitoredSink(options.audit ?? auditLog!, monitor);
    const keyCache = new KeyCache({ ttlMs: config.keyCacheTtlMs });
    // The account-level quorum and how each kind of approved change is applied (docs/access-control.md).
    const quorum = new AccountQuorum({ store, audit, accountId });
    quorum.register(kmsChangeAppliers({ keyCache, accountId }));
    quorum.register(rpcTokenChangeAppliers());
    quorum.register(iamChangeAppliers({ principals, authenticator, rolePolicies, accountId, keysOf: (userName) => listUserAccessKeys(store.db, userName) }));
    const deps: KmsDeps = {
      store,
      root,
      config: { accountId, region: config.region },
      authorizer: options.authorizer ?? policyAuthorizer,
      keyCache,
      clock,
      audit,
      quorum,
      recipientAttestation,
    };
    const metrics = createMetrics({ store, logger, operations: operations.keys(), alerts, audit: auditLog, monitor, webhooks });
    const identity = await createIdentity({
      settings: config.identity,
      store,
      root,
      logger,
      clock,
      // With --port 0 the URL is known once listening; it is first needed by a request, so after that.
      publicUrl: () => resolvePublicUrl(config.publicUrl, listening!),
      audit,
      // The frame's allowed DApp origins: a step-up made in the frame embedded in one of them names it as its top origin.
      embeddingOrigins: () => config.frame.allowedOrigins,
      ...options.identity,
    });
    const iam = new IamService({ store, root, accountId, authenticator, principals, authorizer: policyAuthorizer, audit, quorum });
    const roles = new RolesService({ store, accountId, authenticator, authorizer: policyAuthorizer, rolePolicies, audit, quorum });
    const sts = new StsService({
      store,
      root,
      accountId,
      verifier: () => identity.verifier('custodian'),
      audit,
      authorizer: policyAuthorizer,
      keyChanged: (keyId) => keyCache.invalidate(keyId),
    });
    // The role devices assume for their users' master keys (docs/sts.md); created once per store.
    await provisionWalletUsersRole({ store, accountId, now: clock() });
    // The wallet store role; it reaches the custodian over the KMS API like any client (src/wallet/wallet-service.ts).
    const wallet =
      config.role !== 'all'
        ? undefined
        : await createWalletService({
            config,
            store,
            root,
            accountId,
            logger,
            clock,
            verifier: options.wallet?.verifier ?? { verify: (token) => identity.verifier('wallet').verify(token) },
            localApp: () => listening,
            audit,
            ...(options.wallet?.masterKeys ? { masterKeys: options.wallet.masterKeys } : {}),
          });
    // Master keys a crash left unrecorded are adopted or scheduled for deletion, audited;
    // possible only where the custodian's keys share this store (no remote custodian).
    if (wallet && config.wallet.kmsEndpoint === undefined) {
      const cleaned = await cleanUpOrphanedMasterKeys({ store, audit, logger, now: clock() });
      if (cleaned.adopted + cleaned.scheduledForDeletion > 0) logger.warn({ ...cleaned }, 'orphaned wallet master keys cleaned up');
      else if (cleaned.tooYoung > 0) logger.info({ ...cleaned }, 'unrecorded wallet master keys too young to count as orphaned, left for a later start');
    }
    // The wallet frame (and, in the embedded default, the example DApp on another port) come with the wallet service.
    const frame = wallet
      ? createFrame({ settings: config.frame, publicUrl: () => resolvePublicUrl(config.publicUrl, listening!), region: config.region, accountId, logger })
      : undefined;
    // The JSON-RPC signer at POST /rpc (docs/rpc.md): API tokens of IAM users, the upstream node for the rest.
    const rpcTokens = new RpcTokenAuthenticator({ store, accountId, tagsFor: principals.tagsFor });
    const rpcSigner = new RpcSigner({
      deps,
      audit,
      upstream: new Upstream({ url: config.frame.chain.rpcUrl }),
      accounts: new RpcAccounts({ deps, ttlMs: config.keyCacheTtlMs }),
      logger,
    });
    const app = buildApp({
      logger,
      deps,
      rpcTokenOperations: rpcTokenOperations(rpcTokens),
      rpc: { register: (a) => registerRpcRoute(a, { signer: rpcSigner, tokens: rpcTokens, audit, clock }) },
      authenticator,
      operations,
      queryServices: [iam, roles, sts],
      approvalOperations,
      monitoringOperations: webhookOperations(webhooks),
      signingOperations,
      audit,
      observe: metrics.observe,
      identity,
      ...(wallet ? { wallet: wallet.api } : {}),
      ...(frame ? { frame } : {}),
      ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
    });
    listening = app;
    registerMetricsRoute(app, metrics, { token: options.metricsToken ?? (process.env.SYMBOLON_METRICS_TOKEN || undefined) });
    // Deletes keys whose window ended while no process ran, then keeps watching.
    const maintenance = await startMaintenance(deps, logger, options.maintenanceIntervalMs ?? MAINTENANCE_INTERVAL_MS);
    logger.info({ root: rootSource, rootCreated, store: store.dialect, secp256k1: SECP256K1_IMPLEMENTATION }, 'custodian ready');
    return {
      app,
      deps,
      authenticator,
      config,
      accountId,
      adminCredentialsFile,
      // The log itself (tests read its checkpoint key); services record through the monitored sink.
      audit: options.audit ?? auditLog!,
      metrics,
      monitor,
      webhooks,
      identity,
      platformKey,
      frame,
      async close() {
        try {
          keyRefresh?.stop();
          await maintenance.stop();
          await app.close();
          wallet?.close();
          webhooks.close();
          // The log writes what is buffered and signs a final checkpoint.
          await (audit.close ? audit.close() : audit.flush());
        } finally {
          await store.close();
          if (root instanceof StoreKeySealer && !options.root) root.destroy();
        }
      },
    };
  } catch (e) {
    keyRefresh?.stop();
    await ownAudit?.close().catch(() => undefined);
    await store.close();
    if (root instanceof StoreKeySealer && !options.root) root.destroy();
    throw e;
  }
}
