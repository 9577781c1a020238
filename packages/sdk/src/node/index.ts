/**
 * @symbolon/sdk/node — Node-only additions to the browser-safe SDK: yParity
 * over the native libsecp256k1 addon, a keep-alive undici transport and
 * OpenSSL hashes for the lean KMS client, and the two together
 * (createNodeKmsClient). Import from `@symbolon/sdk/node`, never from the
 * main entry (which must stay loadable in a browser).
 */
export { nativeParity, createNativeParity } from './nativeParity.js';
export { createNodeHttpFetch, type NodeHttpFetchOptions } from './nodeHttpFetch.js';
export { nodeSigV4Hashes } from './nodeSigV4Hashes.js';
export { createNodeKmsClient, type NodeKmsClientOptions } from './createNodeKmsClient.js';
