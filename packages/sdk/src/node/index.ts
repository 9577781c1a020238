/**
 * @symbolon/sdk/node — Node-only additions to the browser-safe SDK: yParity
 * over the native libsecp256k1 addon, and a keep-alive node:http fetch for
 * the lean KMS client. Import from `@symbolon/sdk/node`, never
 * from the main entry (which must stay loadable in a browser).
 */
export { nativeParity, createNativeParity } from './nativeParity.js';
export { createNodeHttpFetch, type NodeHttpFetchOptions } from './nodeHttpFetch.js';
