/** A KMS client with the web-identity session of an ID token (the `symbolon-wallet-users` role), as a device has. */
import type { KMSClient } from '@aws-sdk/client-kms';
import { walletUsersRoleArn } from '../../src/iam/roles/wallet-users-role.js';
import { assumeRoleWithWebIdentity } from '../../packages/sdk/src/index.js';
import type { TestServer } from './server.js';

export async function webIdentityKms(server: TestServer, token: string): Promise<KMSClient> {
  const c = await assumeRoleWithWebIdentity({
    endpoint: server.endpoint,
    roleArn: walletUsersRoleArn(server.custodian.accountId),
    roleSessionName: 'device',
    webIdentityToken: token,
  });
  return server.kms({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken });
}
