/**
 * Server configuration from flags and environment, with the defaults the
 * embedded mode needs. Every setting is documented in the README.
 */
import { resolve } from 'node:path';

export interface ServerConfig {
  role: 'all' | 'kms';
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  region: string;
  accountId: string | undefined;
  rootKey: string | undefined;
  adminAccessKeyId: string | undefined;
  adminSecretAccessKey: string | undefined;
  logLevel: string;
  keyCacheTtlMs: number;
  /** SYMBOLON_PUBLIC_URL, or http://<host>:<port>; undefined with port 0 until the server listens. */
  publicUrl: string | undefined;
  identity: IdentitySettings;
  wallet: WalletSettings;
}

/** How the wallet service reaches the custodian (docs/wallet-api.md). */
export interface WalletSettings {
  /** SYMBOLON_WALLET_KMS_ENDPOINT: the custodian's KMS endpoint; unset: this server. */
  kmsEndpoint: string | undefined;
  /** SYMBOLON_WALLET_KMS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY: the wallet service's credentials; unset: the admin credential. */
  kmsAccessKeyId: string | undefined;
  kmsSecretAccessKey: string | undefined;
  /** SYMBOLON_WALLET_KMS_PRINCIPAL_ARN: who those credentials are; unset: looked up in this server's store. */
  kmsPrincipalArn: string | undefined;
}


/** Identity settings (docs/identity.md). */
export interface IdentitySettings {
  /** SYMBOLON_OIDC_ISSUERS: a JSON array of trusted issuers. */
  issuersJson: string | undefined;
  /** SYMBOLON_OIDC_ISSUERS_FILE: path of a JSON file with the same array. */
  issuersFile: string | undefined;
  /** SYMBOLON_BUILTIN_ISSUER: 1 on, 0 off; by default on in the embedded (SQLite) mode. */
  builtinIssuer: boolean;
  /** SYMBOLON_OIDC_AUDIENCE: the built-in issuer's `aud` (default symbolon). */
  audience: string;
  /** SYMBOLON_SMTP_URL: smtp(s)://[user:pass@]host[:port]; unset means development delivery. */
  smtpUrl: string | undefined;
  /** SYMBOLON_SMTP_FROM: sender address of login codes. */
  smtpFrom: string | undefined;
  /** SYMBOLON_DEV_MAILBOX=1, or the embedded default without SMTP: serve GET /oidc/dev/mailbox. */
  devMailbox: boolean;
}

function publicUrlFrom(value: string | undefined, host: string, port: number): string | undefined {
  if (value) {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new RangeError('SYMBOLON_PUBLIC_URL must be an absolute http(s) URL');
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.search || u.hash) throw new RangeError('SYMBOLON_PUBLIC_URL must be an http(s) URL without query or fragment');
    return u.href.replace(/\/+$/, '');
  }
  if (port === 0) return undefined;
  const h = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
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

function walletFromEnv(env: NodeJS.ProcessEnv): WalletSettings {
  const kmsEndpoint = env.SYMBOLON_WALLET_KMS_ENDPOINT || undefined;
  if (kmsEndpoint !== undefined && !/^https?:\/\/[^\s/?#]+\/?$/.test(kmsEndpoint)) throw new RangeError('SYMBOLON_WALLET_KMS_ENDPOINT must be an http(s) origin, e.g. https://kms.example.com');
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
  if (role !== 'all' && role !== 'kms') throw new RangeError(`--role must be all or kms (got ${role.slice(0, 20)})`);
  const port = Number(flags.port ?? env.SYMBOLON_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('--port must be an integer from 0 to 65535');
  const region = env.SYMBOLON_REGION ?? 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new RangeError('SYMBOLON_REGION must look like an AWS region, e.g. us-east-1');
  const accountId = env.SYMBOLON_ACCOUNT_ID;
  if (accountId !== undefined && !/^\d{12}$/.test(accountId)) throw new RangeError('SYMBOLON_ACCOUNT_ID must be 12 digits');
  const host = flags.host ?? env.SYMBOLON_HOST ?? '127.0.0.1';
  const databaseUrl = env.DATABASE_URL || undefined;
  return {
    role,
    host,
    port,
    dataDir: resolve(flags.data ?? env.SYMBOLON_DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    region,
    accountId,
    rootKey: env.SYMBOLON_ROOT_KEY || undefined,
    adminAccessKeyId: env.SYMBOLON_ADMIN_ACCESS_KEY_ID || undefined,
    adminSecretAccessKey: env.SYMBOLON_ADMIN_SECRET_ACCESS_KEY || undefined,
    logLevel: env.SYMBOLON_LOG_LEVEL ?? 'info',
    keyCacheTtlMs: Number(env.SYMBOLON_KEY_CACHE_TTL_MS ?? 1000),
    publicUrl: publicUrlFrom(env.SYMBOLON_PUBLIC_URL, host, port),
    identity: identityFromEnv(env, !databaseUrl, host),
    wallet: walletFromEnv(env),
  };
}
