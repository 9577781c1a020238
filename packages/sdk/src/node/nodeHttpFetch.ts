/**
 * A minimal `fetch` for createKmsHttpClient on Node, over node:http/node:https
 * with a keep-alive Agent: POST with headers and a byte body, answering
 * `ok`, `status`, `headers.get` and `text()` — all the lean KMS client uses.
 * Why: undici's WHATWG fetch spends several times the CPU of a plain
 * node:http request per call (streams, Request/Response objects), and per KMS
 * signature that is most of the client's CPU. Node-only: `@symbolon/sdk/node`.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { KmsFetch, KmsFetchResponse } from '../kmsHttpClient.js';

export interface NodeHttpFetchOptions {
  /** Sockets per origin kept open (default 64: at least the requests you keep in flight). */
  maxSockets?: number;
}

/**
 * Makes a keep-alive fetch for createKmsHttpClient's `fetch` option.
 * @throws nothing itself; the returned function rejects on network errors as fetch does.
 */
export function createNodeHttpFetch(options: NodeHttpFetchOptions = {}): KmsFetch & { destroy(): void } {
  const maxSockets = options.maxSockets ?? 64;
  const http = new HttpAgent({ keepAlive: true, maxSockets });
  const https = new HttpsAgent({ keepAlive: true, maxSockets });
  const nodeFetch = (url: string, init: { method: string; headers: Record<string, string>; body: Uint8Array }): Promise<KmsFetchResponse> =>
    new Promise((resolve, reject) => {
      const secure = url.startsWith('https:');
      const req = (secure ? httpsRequest : httpRequest)(url, { method: init.method, headers: { ...init.headers, 'content-length': String(init.body.length) }, agent: secure ? https : http }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          resolve({
            ok: status >= 200 && status < 300,
            status,
            headers: { get: (name: string) => { const v = res.headers[name.toLowerCase()]; return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v; } },
            text: async () => text,
          });
        });
      });
      req.on('error', reject);
      req.end(init.body);
    });
  return Object.assign(nodeFetch, { destroy: () => (http.destroy(), https.destroy()) });
}
