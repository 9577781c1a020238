/**
 * The upstream Ethereum node (SYMBOLON_CHAIN_RPC_URL): methods the signer
 * does not answer itself are forwarded to it one by one, and
 * eth_sendTransaction reads nonce, gas, fees and the chain id from it and
 * broadcasts through it. Its JSON-RPC errors are passed on as they are (a
 * node's message is the node's); failing to reach it is -32004.
 */
import { RPC_ERRORS, RpcError } from './errors.js';

/** The result or error of one forwarded call, as the node gave it. */
export type UpstreamAnswer = { result: unknown } | { error: { code: number; message: string; data?: unknown } };

const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export class Upstream {
  readonly #url: string;
  readonly #timeoutMs: number;
  #chainId: Promise<number> | undefined;
  #nextId = 1;

  constructor(options: { url: string; timeoutMs?: number }) {
    this.#url = options.url;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Sends one call and returns the node's answer.
   * @throws {RpcError} -32004 when the node cannot be reached or does not answer JSON-RPC.
   */
  async forward(method: string, params: unknown): Promise<UpstreamAnswer> {
    let text: string;
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: this.#nextId++, method, ...(params === undefined ? {} : { params }) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch {
      throw new RpcError(RPC_ERRORS.upstreamUnavailable, 'The upstream node could not be reached.');
    }
    let body: unknown;
    try {
      if (text.length > MAX_RESPONSE_BYTES) throw new Error('too large');
      body = JSON.parse(text);
    } catch {
      throw new RpcError(RPC_ERRORS.upstreamUnavailable, 'The upstream node did not answer JSON-RPC.');
    }
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
      const b = body as Record<string, unknown>;
      if ('error' in b && typeof b.error === 'object' && b.error !== null) {
        const e = b.error as Record<string, unknown>;
        return {
          error: {
            code: typeof e.code === 'number' && Number.isInteger(e.code) ? e.code : RPC_ERRORS.internal,
            message: typeof e.message === 'string' ? e.message.slice(0, 2048) : 'upstream error',
            ...(e.data !== undefined ? { data: e.data } : {}),
          },
        };
      }
      if ('result' in b) return { result: b.result };
    }
    throw new RpcError(RPC_ERRORS.upstreamUnavailable, 'The upstream node did not answer JSON-RPC.');
  }

  /**
   * One call whose result the signer needs itself.
   * @throws {RpcError} the node's error as is, or -32004.
   */
  async call(method: string, params: unknown[]): Promise<unknown> {
    const answer = await this.forward(method, params);
    if ('error' in answer)
      throw new RpcError(answer.error.code, answer.error.message, answer.error.data === undefined ? undefined : { upstream: answer.error.data });
    return answer.result;
  }

  /** The node's chain id, read once (a node does not change chains). */
  chainId(): Promise<number> {
    this.#chainId ??= this.call('eth_chainId', []).then(
      (v) => {
        const n = typeof v === 'string' && /^0x[0-9a-fA-F]{1,13}$/.test(v) ? Number.parseInt(v, 16) : Number.NaN;
        if (!Number.isSafeInteger(n) || n <= 0) throw new RpcError(RPC_ERRORS.upstreamUnavailable, 'The upstream node answered eth_chainId with no chain id.');
        return n;
      },
      (e: unknown) => {
        this.#chainId = undefined;
        throw e;
      },
    );
    return this.#chainId.catch((e: unknown) => {
      this.#chainId = undefined;
      throw e;
    });
  }
}
