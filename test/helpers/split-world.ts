/**
 * Small pieces the split-wallet tests share: a JSON request with a bearer
 * token, a SplitWalletClient for the test server's user, a free loopback
 * port, and a real server in split custody with the signer forked by the
 * server's own code (as `serve --role all` does), for the frame's tests.
 */
import { freePort } from './free-port.js';
import pino from 'pino';
import { startTestServer, REGION, type TestServer } from './server.js';
import { startSignerChild } from '../../src/server/signer-launcher.js';
import type { SignerProcess } from '../../src/signer/platform.js';
import { walletUsersRoleArn } from '../../src/iam/roles/wallet-users-role.js';
import { SplitWalletClient, type SplitWalletClientOptions } from '../../packages/sdk/src/index.js';

export { bearerJson } from './split-device.js';

/** A device of the test server's wallet users, talking to `signerUrl`. */
export function splitDevice(
  server: TestServer,
  signerUrl: string,
  token: SplitWalletClientOptions['token'],
  extra: Partial<SplitWalletClientOptions> = {},
): SplitWalletClient {
  return new SplitWalletClient({
    walletUrl: server.endpoint,
    custodianUrl: server.endpoint,
    signerUrl,
    region: REGION,
    roleArn: walletUsersRoleArn(server.custodian.accountId),
    token,
    kmsClientConfig: { maxAttempts: 1 },
    ...extra,
  });
}

/**
 * The server in split custody (built-in issuer, dev mailbox) and its forked signer, as `serve --role all` starts it
 * (src/cli/serve.ts); `env` adds to the environment (a function: given the signer's port), `options.port` fixes the server's.
 */
export async function startSplitFrameServer(
  env: Record<string, string> | ((signerPort: number) => Record<string, string>),
  options: { port?: number } = {},
): Promise<{ server: TestServer; signer: SignerProcess }> {
  const signerPort = await freePort();
  const extra = typeof env === 'function' ? env(signerPort) : env;
  const server = await startTestServer({
    ...(options.port !== undefined ? { port: options.port } : {}),
    env: {
      SYMBOLON_BUILTIN_ISSUER: '1',
      SYMBOLON_DEV_MAILBOX: '1',
      SYMBOLON_FRAME_CUSTODY_MODE: 'split',
      SYMBOLON_SIGNER_PORT: String(signerPort),
      SYMBOLON_DAPP_PORT: 'off',
      ...extra,
    },
    identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
  });
  try {
    const signer = await startSignerChild({
      config: server.config,
      platformKey: server.custodian.platformKey,
      custodianUrl: server.endpoint,
      issuers: server.custodian.identity.trustedIssuers('custodian'),
      accountId: server.custodian.accountId,
      logger: pino({ level: 'silent' }),
    });
    return { server, signer };
  } catch (e) {
    await server.close();
    throw e;
  }
}
