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
  return {
    role,
    host: flags.host ?? env.SYMBOLON_HOST ?? '127.0.0.1',
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
  };
}
