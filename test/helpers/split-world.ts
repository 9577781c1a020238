/**
 * Small pieces the split-wallet tests share: a JSON request with a bearer
 * token, a SplitWalletClient for the test server's user, a free loopback
 * port, and a real server in split custody with the signer forked by the
 * server's own code (as `serve --role all` does), for the frame's tests.
 */
import { createServer } from 'node:net';
import pino from 'pino';
import { startTestServer, REGION, type TestServer } from './server.js';
import { startSignerChild } from '../../src/server/signer-launcher.js';
import type { SignerProcess } from '../../src/signer/platform.js';
import { walletUsersRoleArn } from '../../src/iam/roles/wallet-users-role.js';
import { SplitWalletClient, type SplitWalletClientOptions } from '../../packages/sdk/src/index.js';

/** A JSON request with `Authorization: Bearer <token>`; the status and the parsed answer. */
export async function bearerJson(url: string, method: 'GET' | 'POST', token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}

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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The server in split custody (built-in issuer, dev mailbox) and its forked signer; `env` adds to the environment. */
export async function startSplitFrameServer(env: Record<string, string>): Promise<{ server: TestServer; signer: SignerProcess }> {
  const signerPort = await freePort();
  const server = await startTestServer({
    env: {
      SYMBOLON_BUILTIN_ISSUER: '1',
      SYMBOLON_DEV_MAILBOX: '1',
      SYMBOLON_FRAME_CUSTODY_MODE: 'split',
      SYMBOLON_SIGNER_PORT: String(signerPort),
      SYMBOLON_DAPP_PORT: 'off',
      ...env,
    },
    identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
  });
  const signer = await startSignerChild({
    config: server.config,
    platformKey: server.custodian.platformKey,
    custodianUrl: server.endpoint,
    issuers: server.custodian.identity.trustedIssuers('custodian'),
    accountId: server.custodian.accountId,
    logger: pino({ level: 'silent' }),
  });
  return { server, signer };
}
