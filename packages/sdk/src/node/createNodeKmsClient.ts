/**
 * createNodeKmsClient: the lean KMS client (Sign, GetPublicKey) with Node's
 * fast parts plugged in — undici's keep-alive dispatcher as transport
 * (createNodeHttpFetch) and OpenSSL's SHA-256/HMAC for SigV4
 * (nodeSigV4Hashes). What a Node service that signs many transactions
 * should use with KmsSigner / toKmsAccount, together with `nativeParity`:
 *
 *   const client = createNodeKmsClient({ endpoint, region, credentials });
 *   const signer = new KmsSigner({ client, keyId, parity: nativeParity });
 *
 * Works against Symbolon's custodian and AWS KMS alike, as createKmsHttpClient.
 * Node-only: `@symbolon/sdk/node`.
 */
import { createKmsHttpClient, type KmsHttpClient, type KmsHttpClientOptions } from '../kmsHttpClient.js';
import { createNodeHttpFetch, type NodeHttpFetchOptions } from './nodeHttpFetch.js';
import { nodeSigV4Hashes } from './nodeSigV4Hashes.js';

export type NodeKmsClientOptions = Omit<KmsHttpClientOptions, 'fetch' | 'hashes'> & { http?: NodeHttpFetchOptions };

/**
 * @throws {TypeError} when region or credentials are missing, or the endpoint is not a bare origin.
 */
export function createNodeKmsClient(options: NodeKmsClientOptions): KmsHttpClient {
  const { http, ...rest } = options;
  const transport = createNodeHttpFetch(http);
  const client = createKmsHttpClient({ ...rest, fetch: transport, hashes: nodeSigV4Hashes });
  // destroy() closes the pooled connections (KMSClient's destroy does the same for the AWS SDK).
  return { send: client.send, destroy: () => transport.destroy() };
}
