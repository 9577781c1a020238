/**
 * A split wallet's device and raw calls, as the split-wallet tests make them
 * against a test server and its signer (test/share-rotation.test.ts,
 * test/share-generation-retire.test.ts, test/split-signing-policy.test.ts).
 */
import { REGION } from './server.js';
import { walletUsersRoleArn } from '../../src/iam/roles/wallet-users-role.js';
import { SplitWalletClient, type OidcSession } from '../../packages/sdk/src/index.js';

/**
 * The SDK's split-wallet client for `session` on the wallet service at `walletUrl` (also the custodian) and the signer
 * at `signerUrl`, through the account's symbolon-wallet-users role, without retries. Pushed onto `clients` (destroy them after).
 */
export function splitDevice(o: {
  walletUrl: string;
  signerUrl: string;
  accountId: string;
  session: OidcSession;
  clients: Array<{ destroy(): void }>;
}): SplitWalletClient {
  const c = new SplitWalletClient({
    walletUrl: o.walletUrl,
    custodianUrl: o.walletUrl,
    signerUrl: o.signerUrl,
    region: REGION,
    roleArn: walletUsersRoleArn(o.accountId),
    token: o.session,
    kmsClientConfig: { maxAttempts: 1 },
  });
  o.clients.push(c);
  return c;
}

/** A JSON request with `Authorization: Bearer <token>`: the status and the parsed answer. */
export async function bearerJson(url: string, method: 'GET' | 'POST', token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}
