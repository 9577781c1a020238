/**
 * One JSON-RPC 2.0 call over HTTP (EIP-1474 methods) to a chain's RPC
 * endpoint with the platform's fetch. An error object from the node is passed
 * on with its code (EIP-1193 lets a provider surface the node's JSON-RPC
 * errors); a network failure or a malformed answer is 4901: the provider is not
 * connected to that chain.
 */
import { ProviderErrorCode, ProviderRpcError } from './ProviderRpcError.js';

let nextId = 1;

/**
 * @throws {ProviderRpcError} the node's error, or 4901 when the endpoint cannot be reached or answers nonsense.
 */
export async function rpcRequest(url: string, method: string, params: readonly unknown[] = []): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
    });
  } catch {
    throw new ProviderRpcError(ProviderErrorCode.chainDisconnected, `The chain's RPC endpoint cannot be reached (${method}).`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new ProviderRpcError(ProviderErrorCode.chainDisconnected, `The chain's RPC endpoint answered ${response.status} without JSON (${method}).`);
  }
  if (typeof body !== 'object' || body === null)
    throw new ProviderRpcError(ProviderErrorCode.chainDisconnected, `The chain's RPC endpoint answered nonsense (${method}).`);
  const b = body as { result?: unknown; error?: unknown };
  if (b.error !== undefined) throw ProviderRpcError.from(b.error);
  if (!('result' in b)) throw new ProviderRpcError(ProviderErrorCode.chainDisconnected, `The chain's RPC endpoint answered without a result (${method}).`);
  return b.result;
}
