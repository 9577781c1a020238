/**
 * The postMessage protocol between a DApp page (the provider) and the wallet
 * frame. Every message carries `protocol: 'symbolon-frame/1'`; anything else is
 * not ours and is ignored. Messages are plain objects (structured clone) and
 * are always posted to an explicit target origin, never '*'.
 *
 *   DApp → frame   hello                      after the iframe loads; the frame learns (and checks) the DApp's origin
 *                  request {id, method, params, chainId}
 *                  cancel                     the DApp closed the frame's dialog: the pending prompt is rejected (4001)
 *   frame → DApp   ready {accounts}           answer to hello, sent only to an allowed origin
 *                  response {id, result | error}
 *                  show / hide                the frame needs the user (login, approval) / is done
 *                  accountsChanged {accounts}
 */

export const PROTOCOL = 'symbolon-frame/1';

/** The methods the frame answers; the provider answers the rest itself or through the chain's RPC. */
export const FRAME_METHODS = ['eth_requestAccounts', 'eth_accounts', 'personal_sign', 'eth_signTypedData_v4', 'eth_signTransaction'] as const;
export type FrameMethod = (typeof FRAME_METHODS)[number];

export interface RpcErrorShape {
  code: number;
  message: string;
  data?: unknown;
}

export type DappMessage =
  | { protocol: typeof PROTOCOL; kind: 'hello' }
  | { protocol: typeof PROTOCOL; kind: 'request'; id: string; method: FrameMethod; params: readonly unknown[]; chainId: number }
  | { protocol: typeof PROTOCOL; kind: 'cancel' };

export type FrameMessage =
  | { protocol: typeof PROTOCOL; kind: 'ready'; accounts: string[] }
  | { protocol: typeof PROTOCOL; kind: 'response'; id: string; result: unknown }
  | { protocol: typeof PROTOCOL; kind: 'response'; id: string; error: RpcErrorShape }
  | { protocol: typeof PROTOCOL; kind: 'show' }
  | { protocol: typeof PROTOCOL; kind: 'hide' }
  | { protocol: typeof PROTOCOL; kind: 'accountsChanged'; accounts: string[] };

const ID = /^[A-Za-z0-9-]{1,64}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isAccounts(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= 16 && v.every((a) => typeof a === 'string' && /^0x[0-9a-fA-F]{40}$/.test(a));
}

/** Narrows what the frame received to a well-formed DApp message, or undefined. */
export function parseDappMessage(data: unknown): DappMessage | undefined {
  if (!isObject(data) || data.protocol !== PROTOCOL) return undefined;
  switch (data.kind) {
    case 'hello':
    case 'cancel':
      return { protocol: PROTOCOL, kind: data.kind };
    case 'request': {
      const { id, method, params, chainId } = data;
      if (typeof id !== 'string' || !ID.test(id)) return undefined;
      if (typeof method !== 'string' || !(FRAME_METHODS as readonly string[]).includes(method)) return undefined;
      if (!Array.isArray(params) || params.length > 8) return undefined;
      if (typeof chainId !== 'number' || !Number.isSafeInteger(chainId) || chainId <= 0) return undefined;
      return { protocol: PROTOCOL, kind: 'request', id, method: method as FrameMethod, params, chainId };
    }
    default:
      return undefined;
  }
}

/** Narrows what the provider received to a well-formed frame message, or undefined. */
export function parseFrameMessage(data: unknown): FrameMessage | undefined {
  if (!isObject(data) || data.protocol !== PROTOCOL) return undefined;
  switch (data.kind) {
    case 'show':
    case 'hide':
      return { protocol: PROTOCOL, kind: data.kind };
    case 'ready':
    case 'accountsChanged':
      return isAccounts(data.accounts) ? { protocol: PROTOCOL, kind: data.kind, accounts: data.accounts } : undefined;
    case 'response': {
      if (typeof data.id !== 'string' || !ID.test(data.id)) return undefined;
      if ('error' in data) {
        const e = data.error;
        if (!isObject(e) || !Number.isInteger(e.code) || typeof e.message !== 'string') return undefined;
        return {
          protocol: PROTOCOL,
          kind: 'response',
          id: data.id,
          error: { code: e.code as number, message: e.message, ...(e.data !== undefined ? { data: e.data } : {}) },
        };
      }
      return { protocol: PROTOCOL, kind: 'response', id: data.id, result: data.result };
    }
    default:
      return undefined;
  }
}
