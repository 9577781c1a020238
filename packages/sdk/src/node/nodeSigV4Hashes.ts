/**
 * SigV4's SHA-256 and HMAC-SHA-256 over node:crypto (OpenSSL) for
 * createKmsHttpClient's `hashes` option: about a third of the CPU of the
 * JavaScript defaults (@noble/hashes) for the short inputs SigV4 hashes.
 * Node-only: `@symbolon/sdk/node`.
 */
import { createHash, createHmac } from 'node:crypto';
import type { SigV4Hashes } from '../kmsHttpClient.js';

export const nodeSigV4Hashes: SigV4Hashes = Object.freeze({
  sha256: (data: Uint8Array): Uint8Array => createHash('sha256').update(data).digest(),
  hmacSha256: (key: Uint8Array, data: Uint8Array): Uint8Array => createHmac('sha256', key).update(data).digest(),
});
