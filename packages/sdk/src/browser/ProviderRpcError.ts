/**
 * ProviderRpcError: the error shape of EIP-1193 §"Errors" — an Error with a
 * numeric `code` and optional `data` — and the codes Symbolon's provider and
 * wallet frame use: EIP-1193's provider errors (4001, 4100, 4200, 4900, 4901),
 * EIP-3326's 4902 for an unknown chain, and JSON-RPC 2.0's -32602/-32603.
 * Messages name methods and chain ids, never a payload or a token.
 */

/** EIP-1193 / EIP-3326 / JSON-RPC 2.0 error codes. */
export const ProviderErrorCode = {
  /** EIP-1193: the user rejected the request. */
  userRejected: 4001,
  /** EIP-1193: the method or account has not been authorized by the user. */
  unauthorized: 4100,
  /** EIP-1193: the provider does not support the method. */
  unsupportedMethod: 4200,
  /** EIP-1193: the provider is disconnected from all chains (here: the wallet frame is unreachable). */
  disconnected: 4900,
  /** EIP-1193: the provider is not connected to the requested chain (no RPC for it). */
  chainDisconnected: 4901,
  /** EIP-3326: the chain has not been added to the provider. */
  unrecognizedChain: 4902,
  /** JSON-RPC 2.0: invalid method parameters. */
  invalidParams: -32602,
  /** JSON-RPC 2.0: internal error. */
  internal: -32603,
} as const;

export type ProviderErrorCode = (typeof ProviderErrorCode)[keyof typeof ProviderErrorCode];

/** The error every EIP-1193 request of this SDK rejects with. */
export class ProviderRpcError extends Error {
  override name = 'ProviderRpcError';
  readonly code: number;
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
  }

  /** The plain `{ code, message, data? }` object that crosses postMessage (structured clone drops class identity). */
  toJSON(): { code: number; message: string; data?: unknown } {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data };
  }

  /**
   * Rebuilds an error from its plain shape (a frame response, an RPC error).
   * Anything that is not `{ code: integer, message: string }` becomes an internal error.
   */
  static from(value: unknown): ProviderRpcError {
    if (value instanceof ProviderRpcError) return value;
    if (typeof value === 'object' && value !== null) {
      const v = value as { code?: unknown; message?: unknown; data?: unknown };
      if (Number.isInteger(v.code) && typeof v.message === 'string') return new ProviderRpcError(v.code as number, v.message.slice(0, 500), v.data);
    }
    return new ProviderRpcError(ProviderErrorCode.internal, 'Internal error.');
  }
}

/** 4001: the user said no. */
export function userRejected(message = 'The user rejected the request.'): ProviderRpcError {
  return new ProviderRpcError(ProviderErrorCode.userRejected, message);
}

/** 4100: not connected yet, or an account other than the connected one. */
export function unauthorized(message = 'The requested account and/or method has not been authorized by the user.'): ProviderRpcError {
  return new ProviderRpcError(ProviderErrorCode.unauthorized, message);
}

/** 4200: a method this provider does not implement (or refuses, like eth_sign). */
export function unsupportedMethod(method: string): ProviderRpcError {
  return new ProviderRpcError(ProviderErrorCode.unsupportedMethod, `The provider does not support the method ${method.slice(0, 64)}.`);
}

/** 4900: the wallet frame cannot be reached. */
export function disconnected(message = 'The wallet frame is not reachable.'): ProviderRpcError {
  return new ProviderRpcError(ProviderErrorCode.disconnected, message);
}

/** 4901: no RPC endpoint for the current chain. */
export function chainDisconnected(chainId: number): ProviderRpcError {
  return new ProviderRpcError(ProviderErrorCode.chainDisconnected, `The provider is not connected to chain ${chainId}.`);
}

/** 4902: a chain the DApp did not configure. */
export function unrecognizedChain(chainId: string): ProviderRpcError {
  return new ProviderRpcError(
    ProviderErrorCode.unrecognizedChain,
    `Unrecognized chain ID ${chainId.slice(0, 66)}. Configure it in the provider's chains first.`,
  );
}

/** -32602: malformed parameters (names the parameter, never echoes its value). */
export function invalidParams(message: string): ProviderRpcError {
  return new ProviderRpcError(ProviderErrorCode.invalidParams, message);
}
