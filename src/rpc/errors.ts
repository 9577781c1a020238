/**
 * The JSON-RPC signer's errors (JSON-RPC 2.0 §5.1, EIP-1193, EIP-1474): a
 * stable numeric `code`, a one-line `message` that never quotes a payload, a
 * token or a stack, and optional `data` (ids only). The table in docs/rpc.md
 * lists every code.
 */

/** JSON-RPC 2.0's own codes, and the application codes this signer adds. */
export const RPC_ERRORS = {
  /** The body is not JSON. */
  parse: -32700,
  /** Not a JSON-RPC 2.0 request object (or an empty or oversized batch, or an oversized body). */
  invalidRequest: -32600,
  /** No such method, or one never offered through the signer (docs/rpc.md). */
  methodNotFound: -32601,
  /** The params do not fit the method (a bad address, transaction field or payload). */
  invalidParams: -32602,
  /** Anything unexpected; the details are in the server's log, never here. */
  internal: -32603,
  /** EIP-1193 "Unauthorized": no, unknown or revoked token; or `from` is not an account of the token's user. */
  unauthorized: 4100,
  /** The key's policies (or its signing policy: the message names the deciding statement) refuse the signature. */
  denied: -32001,
  /** The key's signing policy requires approval: the message and `data.approvalId` name the pending request. */
  approvalPending: -32002,
  /** The key cannot sign now (disabled, pending deletion, not found, not a secp256k1 signing key). */
  keyUnavailable: -32003,
  /** The upstream node (SYMBOLON_CHAIN_RPC_URL) could not be reached or answered nonsense. */
  upstreamUnavailable: -32010,
} as const;

export class RpcError extends Error {
  override name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export const invalidParams = (message: string): RpcError => new RpcError(RPC_ERRORS.invalidParams, message);
export const unauthorized = (message: string): RpcError => new RpcError(RPC_ERRORS.unauthorized, message);
