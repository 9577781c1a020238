/**
 * Starts a real custodian on a random loopback port for a test file, on the
 * store the suite runs against: embedded SQLite in a temporary directory by
 * default, or PostgreSQL (a fresh schema) when DATABASE_URL is set. Returns
 * AWS SDK clients configured with the administrator's credentials.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { KMSClient } from '@aws-sdk/client-kms';
import { createCustodian, type Custodian, type CustodianOptions } from '../../src/server/custodian.js';
import { configFromEnv, type ServerConfig } from '../../src/config.js';
import { dropPgSchema } from '../../src/storage/database.js';

export const ADMIN = { accessKeyId: 'AKIASYMBOLONTEST0001', secretAccessKey: 'test-secret-access-key-0123456789abcdef' };
export const REGION = 'us-east-1';

/** Which store this run uses: "postgres" when DATABASE_URL is set, else "sqlite". */
export const STORE = process.env.DATABASE_URL ? 'postgres' : 'sqlite';

export interface TestServer {
  custodian: Custodian;
  endpoint: string;
  port: number;
  dataDir: string;
  config: ServerConfig;
  kms(credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): KMSClient;
  close(): Promise<void>;
}

export interface TestServerOptions extends Omit<CustodianOptions, 'config'> {
  env?: Record<string, string>;
  /** Reuse a data directory (restart tests); a fresh temporary one otherwise. */
  dataDir?: string;
  /** Keep the PostgreSQL schema on close (restart tests). */
  keepSchema?: boolean;
  /** Listen on this loopback port (a test that must name the public URL before listening); 0 by default. */
  port?: number;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'symbolon-test-'));
  const env = {
    SYMBOLON_ADMIN_ACCESS_KEY_ID: ADMIN.accessKeyId,
    SYMBOLON_ADMIN_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
    SYMBOLON_REGION: REGION,
    SYMBOLON_LOG_LEVEL: process.env.SYMBOLON_TEST_LOG_LEVEL ?? 'silent',
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...options.env,
  };
  const config = configFromEnv(env, { data: dataDir, port: '0' });
  const pgSchema = options.pgSchema ?? (config.databaseUrl ? `t_${randomBytes(6).toString('hex')}` : undefined);
  const custodian = await createCustodian({
    ...options,
    config,
    logger: options.logger ?? pino({ level: config.logLevel }),
    ...(pgSchema ? { pgSchema } : {}),
  });
  await custodian.app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const address = custodian.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: KMSClient[] = [];
  return {
    custodian,
    endpoint,
    port,
    dataDir,
    config,
    kms(credentials = ADMIN) {
      const c = new KMSClient({ endpoint, region: REGION, credentials, maxAttempts: 1 });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await custodian.close();
      if (pgSchema && config.databaseUrl && !options.keepSchema) await dropPgSchema(config.databaseUrl, pgSchema);
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
