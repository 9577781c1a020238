/**
 * The JSON-RPC signer (docs/rpc.md): a Web3Signer/Clef-style Ethereum
 * JSON-RPC 2.0 endpoint over the custodian's KMS keys, for a caller already
 * authenticated by its API token (src/rpc/tokens.ts). It answers the
 * account and signing methods itself — eth_accounts, eth_chainId,
 * eth_signTransaction, eth_sendTransaction, eth_sign, personal_sign,
 * eth_signTypedData_v4 — signing through src/kms/sign-payload.ts exactly as
 * the user's KMS `Sign` would be authorized (kms:ViaService=rpc.symbolon);
 * every other method goes to the upstream node, except those that would
 * reach the node's own keys or administration, which are never forwarded.
 * Batches are answered entry by entry: an allowed and a denied call in one
 * batch give one result and one error. Each signing call leaves one audit
 * event (service `rpc`, the method as operation; never the payload).
 */
import { getAddress, isAddress, isHex, numberToHex, type Address } from 'viem';
import { AwsError } from '../aws/errors.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { AuditEvent, AuditSink } from '../audit/event.js';
import { EthError } from '../eth/errors.js';
import { parsePayload } from '../eth/payload.js';
import { isStoreUnavailable } from '../storage/database.js';
import type { AuditFields, KmsDeps, OperationContext } from '../kms/context.js';
import { signEthPayload } from '../kms/sign-payload.js';
import { RPC_ERRORS, RpcError, invalidParams, unauthorized } from './errors.js';
import type { RpcAccounts } from './accounts.js';
import { fillTransaction, readTransactionRequest } from './transaction-request.js';
import type { Upstream } from './upstream.js';

/** At most this many calls in one batch. */
export const MAX_BATCH = 100;

/**
 * Methods never forwarded to the node: they would reach the node's own
 * accounts and keys (personal_*, eth_sign*, signer_/account_ of Clef), its
 * administration and debugging (admin_, debug_, miner_, engine_, txpool_ is
 * read-only and allowed), or a development node's state controls (hardhat_,
 * anvil_, evm_). A token holder uses the signer's keys, not the node's.
 */
const NEVER_FORWARDED = /^(personal_|eth_sign|signer_|account_|admin_|debug_|miner_|engine_|clique_|parity_|hardhat_|anvil_|evm_|wallet_)/;

/** A JSON-RPC id as received: string, number or null (absent: a notification). */
type Id = string | number | null;

export type RpcResponse = { jsonrpc: '2.0'; id: Id; result: unknown } | { jsonrpc: '2.0'; id: Id; error: { code: number; message: string; data?: unknown } };

/** Who is calling and how: one HTTP request (a batch shares it). */
export interface RpcCall {
  caller: Caller;
  info: RequestInfo;
}

export interface RpcSignerDeps {
  deps: KmsDeps;
  audit: AuditSink;
  upstream: Upstream;
  accounts: RpcAccounts;
  /** Where unexpected failures are logged (by error name only). */
  logger: { error(obj: object, msg: string): void };
}

type Handler = (params: unknown, call: RpcCall) => Promise<unknown>;

export function errorResponse(id: Id, e: RpcError): RpcResponse {
  return { jsonrpc: '2.0', id, error: { code: e.code, message: e.message, ...(e.data !== undefined ? { data: e.data } : {}) } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positional(params: unknown, min: number, max: number, shape: string): unknown[] {
  if (!Array.isArray(params) || params.length < min || params.length > max) throw invalidParams(`params must be ${shape}.`);
  return params;
}

function account(v: unknown, where: string): string {
  if (typeof v !== 'string' || !isAddress(v, { strict: false })) throw invalidParams(`${where} must be the 0x address of one of your accounts.`);
  return v.toLowerCase();
}

/** The AwsError (or anything else) a signing call threw, as the JSON-RPC error the client sees. */
function toRpcError(e: unknown, logger: RpcSignerDeps['logger'], info: RequestInfo, method: string): RpcError {
  if (e instanceof RpcError) return e;
  if (e instanceof AwsError) {
    switch (e.type) {
      case 'AccessDeniedException':
        return new RpcError(RPC_ERRORS.denied, e.message);
      case 'SigningApprovalPendingException': {
        const approvalId = (e as { approvalId?: unknown }).approvalId;
        return new RpcError(RPC_ERRORS.approvalPending, e.message, typeof approvalId === 'string' ? { approvalId } : undefined);
      }
      case 'NotFoundException':
      case 'DisabledException':
      case 'KMSInvalidStateException':
      case 'InvalidKeyUsageException':
        return new RpcError(RPC_ERRORS.keyUnavailable, e.message);
      case 'ValidationException':
        return invalidParams(e.message);
      default:
        if (e.status < 500) return new RpcError(RPC_ERRORS.denied, e.message);
        return new RpcError(RPC_ERRORS.internal, 'An internal error occurred.');
    }
  }
  if (e instanceof EthError) return invalidParams(e.shortMessage);
  if (isStoreUnavailable(e)) return new RpcError(RPC_ERRORS.internal, 'The key store is temporarily unavailable; retry the request.');
  logger.error({ err: { name: (e as Error)?.name }, requestId: info.requestId, method: method.slice(0, 64) }, 'JSON-RPC call failed unexpectedly');
  return new RpcError(RPC_ERRORS.internal, 'An internal error occurred.');
}

export class RpcSigner {
  readonly #d: RpcSignerDeps;
  readonly #methods: ReadonlyMap<string, Handler>;
  /** eth_sendTransaction per sender, one at a time: the pending nonce read, signed and broadcast in turn. */
  readonly #senders = new Map<string, Promise<unknown>>();

  constructor(deps: RpcSignerDeps) {
    this.#d = deps;
    this.#methods = new Map<string, Handler>([
      ['eth_accounts', (_p, call) => this.#accounts(call)],
      ['eth_requestAccounts', (_p, call) => this.#accounts(call)],
      ['eth_chainId', async () => numberToHex(await this.#d.upstream.chainId())],
      ['eth_signTransaction', (p, call) => this.#signTransaction(p, call, false)],
      ['eth_sendTransaction', (p, call) => this.#signTransaction(p, call, true)],
      ['eth_sign', (p, call) => this.#ethSign(p, call)],
      ['personal_sign', (p, call) => this.#personalSign(p, call)],
      ['eth_signTypedData_v4', (p, call) => this.#signTypedData(p, call)],
    ]);
  }

  /**
   * Answers a parsed JSON-RPC body: one request or a batch.
   * @returns the response (an array for a batch), or undefined when there is nothing to answer (only notifications).
   */
  async handle(body: unknown, call: RpcCall): Promise<RpcResponse | RpcResponse[] | undefined> {
    if (Array.isArray(body)) {
      if (body.length === 0) return errorResponse(null, new RpcError(RPC_ERRORS.invalidRequest, 'An empty batch is not a request.'));
      if (body.length > MAX_BATCH) return errorResponse(null, new RpcError(RPC_ERRORS.invalidRequest, `A batch holds at most ${MAX_BATCH} calls.`));
      const answers = await Promise.all(body.map((entry) => this.#one(entry, call)));
      const out = answers.filter((a): a is RpcResponse => a !== undefined);
      return out.length ? out : undefined;
    }
    return this.#one(body, call);
  }

  async #one(entry: unknown, call: RpcCall): Promise<RpcResponse | undefined> {
    const rawId = isObject(entry) ? entry.id : undefined;
    const idOk = rawId === undefined || rawId === null || typeof rawId === 'string' || (typeof rawId === 'number' && Number.isFinite(rawId));
    const id: Id = idOk && rawId !== undefined ? (rawId as Id) : null;
    if (
      !isObject(entry) ||
      entry.jsonrpc !== '2.0' ||
      typeof entry.method !== 'string' ||
      entry.method.length === 0 ||
      entry.method.length > 128 ||
      !idOk ||
      (entry.params !== undefined && typeof entry.params !== 'object')
    ) {
      return errorResponse(id, new RpcError(RPC_ERRORS.invalidRequest, 'Not a JSON-RPC 2.0 request: { jsonrpc: "2.0", method, params?, id }.'));
    }
    const method = entry.method;
    const notification = !('id' in entry);
    let response: RpcResponse;
    try {
      response = { jsonrpc: '2.0', id, result: await this.#dispatch(method, entry.params, call) };
    } catch (e) {
      response = errorResponse(id, toRpcError(e, this.#d.logger, call.info, method));
    }
    return notification ? undefined : response;
  }

  async #dispatch(method: string, params: unknown, call: RpcCall): Promise<unknown> {
    const handler = this.#methods.get(method);
    if (handler) return handler(params, call);
    if (NEVER_FORWARDED.test(method)) throw new RpcError(RPC_ERRORS.methodNotFound, `The method ${method.slice(0, 64)} is not offered through the signer.`);
    const answer = await this.#d.upstream.forward(method, params);
    if ('error' in answer)
      throw new RpcError(answer.error.code, answer.error.message, answer.error.data === undefined ? undefined : { upstream: answer.error.data });
    return answer.result;
  }

  async #accounts(call: RpcCall): Promise<Address[]> {
    const accounts = await this.#d.accounts.of(call.caller, call.info);
    return [...accounts.keys()].map((a) => getAddress(a));
  }

  /**
   * Signs `raw` (payload.ts's JSON form) with the key behind `from`, and records the call's audit event.
   * @throws {RpcError} 4100 when `from` is not one of the caller's accounts; the signing refusals mapped by toRpcError.
   */
  async #sign(method: string, call: RpcCall, from: string, build: () => Promise<unknown>): Promise<{ signed: `0x${string}` }> {
    const audit: AuditFields = {};
    let error: RpcError | undefined;
    let errorCode: string | null = null;
    try {
      const keyId = await this.#d.accounts.keyFor(call.caller, call.info, from);
      if (keyId === undefined) {
        errorCode = 'UnauthorizedAccount';
        throw unauthorized(`${getAddress(from)} is not an account you may sign with (eth_accounts lists them).`);
      }
      const payload = parsePayload(await build());
      const ctx: OperationContext = { deps: this.#d.deps, caller: call.caller, info: call.info, audit };
      const result = await signEthPayload(ctx, { keyId, payload, via: 'rpc' });
      return { signed: result.signed };
    } catch (e) {
      if (e instanceof AwsError) errorCode = e.type;
      error = toRpcError(e, this.#d.logger, call.info, method);
      throw error;
    } finally {
      // Refusals of the params themselves (nothing was decided about a key) are not signing decisions; everything else is recorded.
      if (error === undefined || error.code !== RPC_ERRORS.invalidParams || audit.keyArn !== undefined) this.#record(method, call, audit, error, errorCode);
    }
  }

  #record(method: string, call: RpcCall, audit: AuditFields, error: RpcError | undefined, errorCode: string | null): void {
    const event: AuditEvent = {
      time: call.info.now,
      requestId: call.info.requestId,
      service: 'rpc',
      operation: method,
      principalArn: call.caller.arn,
      principalTags: { ...call.caller.tags },
      accessKeyId: call.caller.accessKeyId,
      sourceIp: call.info.sourceIp,
      userAgent: call.info.userAgent,
      keyArn: audit.keyArn ?? null,
      encryptionContext: null,
      signingAlgorithm: audit.signingAlgorithm ?? null,
      outcome: error === undefined ? 'allowed' : error.code === RPC_ERRORS.denied || error.code === RPC_ERRORS.unauthorized ? 'denied' : 'error',
      errorCode: error === undefined ? null : (errorCode ?? `rpc:${error.code}`),
    };
    // The decoded fields a signing policy adds to the audit fields (src/kms/context.ts), when it does, go with the event.
    if ('eth' in audit) Object.assign(event, { eth: (audit as Record<string, unknown>).eth });
    this.#d.audit.record(event);
  }

  async #signTransaction(params: unknown, call: RpcCall, send: boolean): Promise<unknown> {
    const [raw] = positional(params, 1, 1, '[transaction]');
    const request = readTransactionRequest(raw);
    if (!send) {
      const { signed } = await this.#sign('eth_signTransaction', call, request.from, async () => ({
        type: 'transaction',
        transaction: await fillTransaction(request, this.#d.upstream, { sameChain: false }),
      }));
      return signed;
    }
    return this.#serially(request.from, async () => {
      const { signed } = await this.#sign('eth_sendTransaction', call, request.from, async () => ({
        type: 'transaction',
        transaction: await fillTransaction(request, this.#d.upstream, { sameChain: true }),
      }));
      return this.#d.upstream.call('eth_sendRawTransaction', [signed]);
    });
  }

  /** Runs `fn` after every earlier call for `from` has finished (one sender's nonces in order). */
  async #serially<T>(from: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#senders.get(from) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.#senders.set(from, settled);
    try {
      return await run;
    } finally {
      if (this.#senders.get(from) === settled) this.#senders.delete(from);
    }
  }

  /** eth_sign [address, data]: EIP-191 over the bytes of `data` (geth's eth_sign). */
  async #ethSign(params: unknown, call: RpcCall): Promise<unknown> {
    const [address, data] = positional(params, 2, 2, '[address, data]');
    const from = account(address, 'params[0]');
    if (typeof data !== 'string' || !isHex(data, { strict: true }) || data.length % 2 !== 0) throw invalidParams('params[1] must be 0x-hex data.');
    return (await this.#sign('eth_sign', call, from, async () => ({ type: 'message', message: { raw: data } }))).signed;
  }

  /** personal_sign [data, address, password?]: EIP-191 over `data` (0x-hex bytes, or text). A password is refused: the signer has none. */
  async #personalSign(params: unknown, call: RpcCall): Promise<unknown> {
    const p = positional(params, 2, 3, '[data, address]');
    if (p.length === 3 && p[2] !== undefined && p[2] !== null && p[2] !== '') throw invalidParams('personal_sign takes no password here.');
    const from = account(p[1], 'params[1]');
    const data = p[0];
    if (typeof data !== 'string') throw invalidParams('params[0] must be the message: 0x-hex bytes or text.');
    const message = isHex(data, { strict: true }) && data.length % 2 === 0 ? { raw: data } : data;
    return (await this.#sign('personal_sign', call, from, async () => ({ type: 'message', message }))).signed;
  }

  /** eth_signTypedData_v4 [address, typedData (JSON text or object)]: EIP-712. */
  async #signTypedData(params: unknown, call: RpcCall): Promise<unknown> {
    const [address, raw] = positional(params, 2, 2, '[address, typedData]');
    const from = account(address, 'params[0]');
    let typedData: unknown = raw;
    if (typeof raw === 'string') {
      try {
        typedData = JSON.parse(raw);
      } catch {
        throw invalidParams('params[1] must be EIP-712 typed data (an object or its JSON text).');
      }
    }
    if (!isObject(typedData)) throw invalidParams('params[1] must be EIP-712 typed data (an object or its JSON text).');
    return (await this.#sign('eth_signTypedData_v4', call, from, async () => ({ type: 'typedData', typedData }))).signed;
  }
}
