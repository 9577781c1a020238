/**
 * Server configuration from flags and environment, with the defaults the
 * embedded mode needs. Every setting is documented in the README.
 */
import { resolve } from 'node:path';
import { attestationSettingsFromEnv, signerSettingsFromEnv, type AttestationSettings, type SignerSettings } from './signer/settings.js';
import { loadTrustedIssuers } from './identity/issuers-config.js';
import { checkFrameProvidersTrusted, parseFrameOidcProviders, type FrameOidcProvider } from './server/frame-oidc-providers.js';
import type { WalletSettings } from './wallet/settings.js';
import type { IdentitySettings } from './identity/settings.js';
import { rootSettingsFromEnv, type RootSettings } from './root/settings.js';

export type { WalletSettings, IdentitySettings };

export interface ServerConfig {
  /** all: the embedded default; kms: the custodian; wallet: the wallet API and its store; signer: the signer's platform. */
  role: 'all' | 'kms' | 'wallet' | 'signer';
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  /** PostgreSQL: how long a connect, pool wait or statement may take before the request fails as retryable (SYMBOLON_DB_TIMEOUT_MS). */
  dbTimeoutMs: number;
  /** Embedded SQLite: who checkpoints the WAL, a worker thread (`background`) or SQLite inside commits (`inline`, default); SYMBOLON_SQLITE_CHECKPOINTS. */
  sqliteCheckpoints: 'inline' | 'background';
  region: string;
  accountId: string | undefined;
  /** The file root's key from SYMBOLON_ROOT_KEY (else DIR/root.key). */
  rootKey: string | undefined;
  /** SYMBOLON_ROOT and its settings: what wraps the store key (docs/root-of-trust.md). */
  root: RootSettings;
  adminAccessKeyId: string | undefined;
  adminSecretAccessKey: string | undefined;
  logLevel: string;
  keyCacheTtlMs: number;
  /** SYMBOLON_PUBLIC_URL, or http://<host>:<port>; undefined with port 0 until the server listens. */
  publicUrl: string | undefined;
  /** SYMBOLON_ALLOWED_HOSTS: more `host[:port]` names the AWS endpoint accepts in Host (src/server/allowed-hosts.ts). */
  allowedHosts: string[];
  identity: IdentitySettings;
  wallet: WalletSettings;
  frame: FrameSettings;
  /** `Recipient` attestation on the custodian (docs/signer.md). */
  attestation: AttestationSettings;
  /** The signer role (docs/signer.md). */
  signer: SignerSettings;
}

/** The wallet frame and the example DApp (docs/frame.md). */
export interface FrameSettings {
  /** SYMBOLON_FRAME_ALLOWED_ORIGINS: comma-separated DApp origins that may embed and message the frame; default: the example DApp's. */
  allowedOrigins: string[];
  /** SYMBOLON_FRAME_CUSTODY_MODE (or SYMBOLON_FRAME_CUSTODY): custody mode of wallets created in the frame (default envelope). */
  custodyMode: 'envelope' | 'split';
  /** SYMBOLON_FRAME_SIGNER_URL: the signer's URL as the browser reaches it (split wallets); default with --role all: the forked signer's. */
  signerUrl: string | undefined;
  /** SYMBOLON_DAPP_PORT: the example DApp's port; default port + 1 in the embedded mode (not with port 0); `off`: none. */
  exampleDappPort: number | undefined;
  exampleDappHost: string;
  /** SYMBOLON_CHAIN_ID, _RPC_URL, _NAME: the example DApp's chain (default a local Hardhat node, 31337 at :8545). */
  chain: { chainId: number; rpcUrl: string; name: string };
  /** SYMBOLON_FRAME_OIDC_PROVIDERS: external OIDC providers the frame offers for login; each must be a trusted issuer. */
  oidcProviders: FrameOidcProvider[];
}

function publicUrlFrom(value: string | undefined, host: string, port: number): string | undefined {
  if (value) {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new RangeError('SYMBOLON_PUBLIC_URL must be an absolute http(s) URL');
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.search || u.hash)
      throw new RangeError('SYMBOLON_PUBLIC_URL must be an http(s) URL without query or fragment');
    return u.href.replace(/\/+$/, '');
  }
  if (port === 0) return undefined;
  const h = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

const HOST_ENTRY = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

function allowedHostsFrom(value: string | undefined): string[] {
  const hosts = (value ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  for (const h of hosts) {
    if (!HOST_ENTRY.test(h)) throw new RangeError('SYMBOLON_ALLOWED_HOSTS must list host[:port] names (no scheme or path), comma-separated');
  }
  return hosts.map((h) => h.toLowerCase());
}

function identityFromEnv(env: NodeJS.ProcessEnv, embedded: boolean, host: string): IdentitySettings {
  const flag = env.SYMBOLON_BUILTIN_ISSUER;
  if (flag !== undefined && flag !== '' && flag !== '0' && flag !== '1') throw new RangeError('SYMBOLON_BUILTIN_ISSUER must be 0 or 1');
  const builtinIssuer = flag === '1' || (flag !== '0' && embedded);
  const smtpUrl = env.SYMBOLON_SMTP_URL || undefined;
  const audience = env.SYMBOLON_OIDC_AUDIENCE || 'symbolon';
  if (audience.length > 256) throw new RangeError('SYMBOLON_OIDC_AUDIENCE must be at most 256 characters');
  return {
    issuersJson: env.SYMBOLON_OIDC_ISSUERS || undefined,
    issuersFile: env.SYMBOLON_OIDC_ISSUERS_FILE || undefined,
    builtinIssuer,
    audience,
    smtpUrl,
    smtpFrom: env.SYMBOLON_SMTP_FROM || undefined,
    // By default only where nobody else can reach it: anyone who can read the mailbox can log in as anyone.
    devMailbox:
      builtinIssuer &&
      (env.SYMBOLON_DEV_MAILBOX === '1' || (env.SYMBOLON_DEV_MAILBOX !== '0' && embedded && !smtpUrl && /^(127\.0\.0\.1|localhost|::1)$/.test(host))),
  };
}

function frameFromEnv(env: NodeJS.ProcessEnv, embedded: boolean, host: string, port: number, defaultSignerUrl: string | undefined): FrameSettings {
  const dapp = env.SYMBOLON_DAPP_PORT;
  let exampleDappPort: number | undefined;
  if (dapp === 'off') exampleDappPort = undefined;
  else if (dapp !== undefined && dapp !== '') {
    exampleDappPort = Number(dapp);
    if (!Number.isInteger(exampleDappPort) || exampleDappPort < 0 || exampleDappPort > 65535)
      throw new RangeError('SYMBOLON_DAPP_PORT must be a port number or off');
  } else if (embedded && port !== 0 && port < 65535) exampleDappPort = port + 1;
  const exampleDappHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const allowedOrigins = (env.SYMBOLON_FRAME_ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const o of allowedOrigins) {
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {
      origin = undefined;
    }
    // Exact origins only: a wildcard or a path would let pages the operator never named use the wallet.
    if (origin !== o || !/^https?:$/.test(new URL(o).protocol) || o.includes('*'))
      throw new RangeError('SYMBOLON_FRAME_ALLOWED_ORIGINS must list exact http(s) origins (scheme://host[:port]), comma-separated');
  }
  if (env.SYMBOLON_FRAME_ALLOWED_ORIGINS === undefined && exampleDappPort !== undefined && exampleDappPort !== 0) {
    const h = exampleDappHost.includes(':') ? `[${exampleDappHost}]` : exampleDappHost;
    allowedOrigins.push(`http://${h}:${exampleDappPort}`);
    if (h === '127.0.0.1') allowedOrigins.push(`http://localhost:${exampleDappPort}`);
  }
  const mode = env.SYMBOLON_FRAME_CUSTODY_MODE || undefined;
  const legacyMode = env.SYMBOLON_FRAME_CUSTODY || undefined;
  if (mode && legacyMode && mode !== legacyMode) throw new RangeError('SYMBOLON_FRAME_CUSTODY_MODE and SYMBOLON_FRAME_CUSTODY differ: set one');
  const custodyMode = mode ?? legacyMode ?? 'envelope';
  if (custodyMode !== 'envelope' && custodyMode !== 'split') throw new RangeError('SYMBOLON_FRAME_CUSTODY_MODE must be envelope or split');
  let signerUrl = defaultSignerUrl;
  if (env.SYMBOLON_FRAME_SIGNER_URL) {
    let u: URL | undefined;
    try {
      u = new URL(env.SYMBOLON_FRAME_SIGNER_URL);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.search || u.hash || u.username || u.password)
      throw new RangeError('SYMBOLON_FRAME_SIGNER_URL must be an http(s) URL without query, fragment or credentials');
    signerUrl = u.href.replace(/\/+$/, '');
  }
  // With port 0 the forked signer's port is known only once it listens; elsewhere a split frame without a signer is a configuration error.
  if (custodyMode === 'split' && signerUrl === undefined && port !== 0)
    throw new RangeError("SYMBOLON_FRAME_CUSTODY_MODE=split needs the signer's URL: set SYMBOLON_FRAME_SIGNER_URL");
  const chainId = Number(env.SYMBOLON_CHAIN_ID || 31337);
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new RangeError('SYMBOLON_CHAIN_ID must be a positive integer');
  const rpcUrl = env.SYMBOLON_CHAIN_RPC_URL || 'http://127.0.0.1:8545';
  if (!/^https?:\/\/[^\s]+$/.test(rpcUrl)) throw new RangeError('SYMBOLON_CHAIN_RPC_URL must be an http(s) URL');
  const name = (env.SYMBOLON_CHAIN_NAME || (chainId === 31337 ? 'Local chain (Hardhat)' : `Chain ${chainId}`)).slice(0, 64);
  const oidcProviders = parseFrameOidcProviders(env.SYMBOLON_FRAME_OIDC_PROVIDERS);
  return { allowedOrigins, custodyMode, signerUrl, exampleDappPort, exampleDappHost, chain: { chainId, rpcUrl, name }, oidcProviders };
}

function walletFromEnv(env: NodeJS.ProcessEnv): WalletSettings {
  const kmsEndpoint = env.SYMBOLON_WALLET_KMS_ENDPOINT || undefined;
  if (kmsEndpoint !== undefined && !/^https?:\/\/[^\s/?#]+\/?$/.test(kmsEndpoint))
    throw new RangeError('SYMBOLON_WALLET_KMS_ENDPOINT must be an http(s) origin, e.g. https://kms.example.com');
  const kmsAccessKeyId = env.SYMBOLON_WALLET_KMS_ACCESS_KEY_ID || undefined;
  const kmsSecretAccessKey = env.SYMBOLON_WALLET_KMS_SECRET_ACCESS_KEY || undefined;
  if ((kmsAccessKeyId === undefined) !== (kmsSecretAccessKey === undefined)) {
    throw new RangeError('SYMBOLON_WALLET_KMS_ACCESS_KEY_ID and SYMBOLON_WALLET_KMS_SECRET_ACCESS_KEY must be set together');
  }
  const kmsPrincipalArn = env.SYMBOLON_WALLET_KMS_PRINCIPAL_ARN || undefined;
  if (kmsPrincipalArn !== undefined && !/^arn:aws:iam::\d{12}:(root|user\/.+|role\/.+)$/.test(kmsPrincipalArn)) {
    throw new RangeError('SYMBOLON_WALLET_KMS_PRINCIPAL_ARN must be an IAM root, user or role ARN');
  }
  return { kmsEndpoint, kmsAccessKeyId, kmsSecretAccessKey, kmsPrincipalArn };
}

export function configFromEnv(env: NodeJS.ProcessEnv, flags: Partial<Record<string, string>>): ServerConfig {
  const role = flags.role ?? env.SYMBOLON_ROLE ?? 'all';
  if (role !== 'all' && role !== 'kms' && role !== 'wallet' && role !== 'signer')
    throw new RangeError(`--role must be all, kms, wallet or signer (got ${role.slice(0, 20)})`);
  const port = Number(flags.port ?? env.SYMBOLON_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('--port must be an integer from 0 to 65535');
  const region = env.SYMBOLON_REGION ?? 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new RangeError('SYMBOLON_REGION must look like an AWS region, e.g. us-east-1');
  const accountId = env.SYMBOLON_ACCOUNT_ID;
  if (accountId !== undefined && !/^\d{12}$/.test(accountId)) throw new RangeError('SYMBOLON_ACCOUNT_ID must be 12 digits');
  const host = flags.host ?? env.SYMBOLON_HOST ?? '127.0.0.1';
  const databaseUrl = env.DATABASE_URL || undefined;
  const dbTimeoutMs = Number(env.SYMBOLON_DB_TIMEOUT_MS ?? 5000);
  if (!Number.isInteger(dbTimeoutMs) || dbTimeoutMs < 100 || dbTimeoutMs > 600_000)
    throw new RangeError('SYMBOLON_DB_TIMEOUT_MS must be an integer from 100 to 600000');
  const sqliteCheckpoints = env.SYMBOLON_SQLITE_CHECKPOINTS || 'inline';
  if (sqliteCheckpoints !== 'inline' && sqliteCheckpoints !== 'background') throw new RangeError('SYMBOLON_SQLITE_CHECKPOINTS must be inline or background');
  const signer = signerSettingsFromEnv(env);
  // The wallet role issues no tokens unless asked (SYMBOLON_BUILTIN_ISSUER=1): whoever holds an issuer's key can sign in as any user.
  const identity = identityFromEnv(env, !databaseUrl && role !== 'wallet', host);
  // --role all forks the signer (port + 2 by default): without a public URL saying otherwise, the frame's browser code calls it there.
  const signerPort = signer.port ?? (port === 0 ? 0 : port + 2);
  const defaultSignerUrl = role === 'all' && !env.SYMBOLON_PUBLIC_URL ? publicUrlFrom(undefined, signer.host ?? host, signerPort) : undefined;
  const frame = frameFromEnv(env, !databaseUrl, host, port, defaultSignerUrl);
  // The frame's login providers must be issuers the wallet service and STS trust (docs/frame.md): refuse to start otherwise.
  if (role === 'all' && frame.oidcProviders.length > 0)
    checkFrameProvidersTrusted(frame.oidcProviders, loadTrustedIssuers({ json: identity.issuersJson, file: identity.issuersFile }));
  const wallet = walletFromEnv(env);
  // The wallet role reaches the custodian only over HTTP, with credentials of its own (README, "Production deployment").
  if (role === 'wallet' && (wallet.kmsEndpoint === undefined || wallet.kmsAccessKeyId === undefined))
    throw new RangeError(
      '--role wallet needs SYMBOLON_WALLET_KMS_ENDPOINT and SYMBOLON_WALLET_KMS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY (its credentials at the custodian)',
    );
  return {
    role,
    host,
    port,
    dataDir: resolve(flags.data ?? env.SYMBOLON_DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    dbTimeoutMs,
    sqliteCheckpoints,
    region,
    accountId,
    rootKey: env.SYMBOLON_ROOT_KEY || undefined,
    root: rootSettingsFromEnv(env),
    adminAccessKeyId: env.SYMBOLON_ADMIN_ACCESS_KEY_ID || undefined,
    adminSecretAccessKey: env.SYMBOLON_ADMIN_SECRET_ACCESS_KEY || undefined,
    logLevel: env.SYMBOLON_LOG_LEVEL ?? 'info',
    keyCacheTtlMs: Number(env.SYMBOLON_KEY_CACHE_TTL_MS ?? 1000),
    publicUrl: publicUrlFrom(env.SYMBOLON_PUBLIC_URL, host, port),
    allowedHosts: allowedHostsFrom(env.SYMBOLON_ALLOWED_HOSTS),
    identity,
    wallet,
    frame,
    attestation: attestationSettingsFromEnv(env),
    signer,
  };
}
