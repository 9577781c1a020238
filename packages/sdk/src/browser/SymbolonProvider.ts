/**
 * SymbolonProvider: an EIP-1193 provider for DApp pages. Accounts and
 * signatures come from the Symbolon wallet frame (a cross-origin iframe, see
 * FrameChannel), which holds the user's session and asks the user to approve
 * every signature; chain state (eth_chainId, wallet_switchEthereumChain) is
 * kept here; read methods go straight to the configured chain RPC; and
 * eth_sendTransaction fills the transaction, has the frame sign it, and
 * broadcasts it with eth_sendRawTransaction (EIP-1474).
 *
 * Errors are ProviderRpcError with EIP-1193's codes: 4001 rejected, 4100 not
 * connected, 4200 unsupported, 4900 frame unreachable, 4901 no RPC for the
 * chain; EIP-3326's 4902 for a chain that is not configured.
 */
import { FrameChannel } from './FrameChannel.js';
import { fillTransaction } from './fillTransaction.js';
import { rpcRequest } from './rpcRequest.js';
import { chainDisconnected, invalidParams, unauthorized, unrecognizedChain, unsupportedMethod } from './ProviderRpcError.js';

type Hex = `0x${string}`;

export interface SymbolonChain {
  chainId: number;
  /** JSON-RPC endpoint for reads, nonces, fees and broadcasts (CORS-enabled for the DApp's origin). */
  rpcUrl?: string;
  name?: string;
}

export interface SymbolonProviderOptions {
  /** The wallet frame's URL, e.g. https://wallet.example.com/frame/ */
  frameUrl: string;
  /** The chains this DApp uses; the first is the initial chain unless `chainId` says otherwise. */
  chains: readonly SymbolonChain[];
  chainId?: number;
  /** Where the frame's overlay is mounted (default document.body). */
  container?: HTMLElement;
  /** How long to wait for the frame to answer (default 15 s). */
  readyTimeoutMs?: number;
}

export interface RequestArguments {
  readonly method: string;
  readonly params?: readonly unknown[] | object;
}

type Listener = (...args: unknown[]) => void;

/** EIP-1474 methods that read chain state (and eth_sendRawTransaction, which broadcasts bytes already signed). */
const READ_METHODS = new Set([
  'eth_blockNumber',
  'eth_call',
  'eth_estimateGas',
  'eth_gasPrice',
  'eth_maxPriorityFeePerGas',
  'eth_feeHistory',
  'eth_blobBaseFee',
  'eth_getBalance',
  'eth_getCode',
  'eth_getStorageAt',
  'eth_getTransactionCount',
  'eth_getProof',
  'eth_getLogs',
  'eth_getBlockByNumber',
  'eth_getBlockByHash',
  'eth_getBlockTransactionCountByNumber',
  'eth_getBlockTransactionCountByHash',
  'eth_getBlockReceipts',
  'eth_getTransactionByHash',
  'eth_getTransactionByBlockHashAndIndex',
  'eth_getTransactionByBlockNumberAndIndex',
  'eth_getTransactionReceipt',
  'eth_getUncleCountByBlockHash',
  'eth_getUncleCountByBlockNumber',
  'eth_syncing',
  'eth_sendRawTransaction',
  'net_listening',
  'web3_clientVersion',
  'web3_sha3',
]);

function toHexChain(chainId: number): Hex {
  return `0x${chainId.toString(16)}`;
}

export class SymbolonProvider {
  /** EIP-6963 wallets set flags like this; DApps may test it. */
  readonly isSymbolon = true;
  readonly #channel: FrameChannel;
  readonly #chains: ReadonlyMap<number, SymbolonChain>;
  #chainId: number;
  #accounts: Hex[] = [];
  #connected = false;
  readonly #listeners = new Map<string, Set<Listener>>();

  /**
   * Creates the provider; the frame is loaded on the first request that needs it.
   * @throws {ProviderRpcError} -32602 for a bad frame URL, no chains, or an initial chain that is not among them.
   */
  constructor(options: SymbolonProviderOptions) {
    if (!Array.isArray(options.chains) || options.chains.length === 0) throw invalidParams('chains must list at least one chain.');
    const chains = new Map<number, SymbolonChain>();
    for (const c of options.chains) {
      if (!Number.isSafeInteger(c.chainId) || c.chainId <= 0) throw invalidParams('Each chain needs a positive integer chainId.');
      chains.set(c.chainId, c);
    }
    this.#chains = chains;
    this.#chainId = options.chainId ?? options.chains[0]!.chainId;
    if (!chains.has(this.#chainId)) throw invalidParams(`The initial chain ${this.#chainId} is not among chains.`);
    this.#channel = new FrameChannel({
      frameUrl: options.frameUrl,
      ...(options.container ? { container: options.container } : {}),
      ...(options.readyTimeoutMs !== undefined ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
    });
    this.#channel.onAccounts = (accounts) => this.#setAccounts(accounts as Hex[]);
    this.#channel.onDisconnect = (error) => {
      if (!this.#connected) return;
      this.#connected = false;
      this.#emit('disconnect', error);
    };
  }

  /** The wallet frame's origin. */
  get frameOrigin(): string {
    return this.#channel.origin;
  }

  /**
   * EIP-1193 request.
   * @throws {ProviderRpcError} with an EIP-1193 / JSON-RPC code.
   */
  async request(args: RequestArguments): Promise<unknown> {
    if (typeof args !== 'object' || args === null || typeof args.method !== 'string') throw invalidParams('request() takes { method, params }.');
    const { method } = args;
    const params = args.params === undefined ? [] : args.params;
    if (!Array.isArray(params)) throw invalidParams(`${method.slice(0, 64)} takes its params as an array.`);
    switch (method) {
      case 'eth_chainId':
        return toHexChain(this.#chainId);
      case 'net_version':
        return String(this.#chainId);
      case 'eth_accounts': {
        // Asked of the frame each time: the user may have disconnected this site on the wallet's own page meanwhile.
        await this.#connect();
        const accounts = (await this.#channel.request('eth_accounts', [], this.#chainId)) as Hex[];
        this.#setAccounts(accounts);
        return [...accounts];
      }
      case 'eth_requestAccounts': {
        await this.#connect();
        const accounts = (await this.#channel.request('eth_requestAccounts', [], this.#chainId)) as Hex[];
        this.#setAccounts(accounts);
        return [...accounts];
      }
      case 'wallet_switchEthereumChain':
        return this.#switchChain(params);
      case 'personal_sign':
      case 'eth_signTypedData_v4':
        await this.#account();
        return this.#channel.request(method, params, this.#chainId);
      case 'eth_signTransaction':
      case 'eth_sendTransaction': {
        const account = await this.#account();
        const filled = await fillTransaction(params[0], account, this.#chainId, this.#rpcUrl());
        const raw = (await this.#channel.request('eth_signTransaction', [filled], this.#chainId)) as Hex;
        if (method === 'eth_signTransaction') return raw;
        return this.#rpc('eth_sendRawTransaction', [raw]);
      }
      default:
        if (READ_METHODS.has(method)) return this.#rpc(method, params);
        throw unsupportedMethod(method);
    }
  }

  /** EIP-1193 events: connect, disconnect, chainChanged, accountsChanged. */
  on(event: string, listener: Listener): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  removeListener(event: string, listener: Listener): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  /** Unloads the frame. */
  disconnect(): void {
    this.#channel.destroy();
  }

  async #connect(): Promise<void> {
    const accounts = await this.#channel.connect();
    if (!this.#connected) {
      this.#connected = true;
      this.#setAccounts(accounts as Hex[]);
      this.#emit('connect', { chainId: toHexChain(this.#chainId) });
    }
  }

  async #account(): Promise<Hex> {
    await this.#connect();
    const account = this.#accounts[0];
    if (!account) throw unauthorized('Call eth_requestAccounts first: no account is connected.');
    return account;
  }

  #rpcUrl(): string | undefined {
    return this.#chains.get(this.#chainId)?.rpcUrl;
  }

  #rpc(method: string, params: readonly unknown[]): Promise<unknown> {
    const url = this.#rpcUrl();
    if (!url) throw chainDisconnected(this.#chainId);
    return rpcRequest(url, method, params);
  }

  #switchChain(params: readonly unknown[]): null {
    const p = params[0] as { chainId?: unknown } | undefined;
    if (typeof p?.chainId !== 'string' || !/^0x[1-9a-f][0-9a-f]{0,15}$/i.test(p.chainId)) {
      throw invalidParams('wallet_switchEthereumChain takes [{ chainId: <hex> }].');
    }
    const chainId = Number.parseInt(p.chainId, 16);
    if (!Number.isSafeInteger(chainId) || !this.#chains.has(chainId)) throw unrecognizedChain(p.chainId);
    if (chainId !== this.#chainId) {
      this.#chainId = chainId;
      this.#emit('chainChanged', toHexChain(chainId));
    }
    return null;
  }

  #setAccounts(accounts: Hex[]): void {
    const same = accounts.length === this.#accounts.length && accounts.every((a, i) => a.toLowerCase() === this.#accounts[i]?.toLowerCase());
    this.#accounts = [...accounts];
    if (!same) this.#emit('accountsChanged', [...accounts]);
  }

  #emit(event: string, value: unknown): void {
    for (const l of this.#listeners.get(event) ?? []) {
      try {
        l(value);
      } catch {
        // A DApp listener's failure must not break the provider.
      }
    }
  }
}
