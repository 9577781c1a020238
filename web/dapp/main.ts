/**
 * The example DApp: what a site does to use Symbolon. It creates the
 * provider (@symbolon/sdk/browser), which announces itself with EIP-6963; it
 * then finds wallets the standard way (eip6963:requestProvider) and talks to
 * the chosen one only through EIP-1193, with viem: connect, read the balance,
 * sign a message (and check it by recovering the signer), sign EIP-712 typed
 * data, send a transaction and wait for its receipt.
 */
import { announceProvider, SymbolonProvider, type EIP6963ProviderDetail } from '@symbolon/sdk/browser';
import {
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  formatEther,
  getAddress,
  parseEther,
  recoverMessageAddress,
  type Address,
  type EIP1193Provider,
} from 'viem';

interface DappConfig {
  frameUrl: string;
  chains: { chainId: number; name: string; rpcUrl: string }[];
  readyTimeoutMs?: number;
}

function $(id: string): HTMLElement {
  return document.getElementById(id)!;
}

function show(id: string, text: string): void {
  $(id).textContent = text;
}

function fail(e: unknown): void {
  const err = e as { code?: unknown; shortMessage?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  // viem wraps provider errors; the EIP-1193 code is on the error or its cause.
  const code = typeof err.code === 'number' ? err.code : typeof err.cause?.code === 'number' ? err.cause.code : undefined;
  const message = String(err.cause?.message ?? err.shortMessage ?? err.message ?? e);
  console.error('request failed', code, message);
  $('error').dataset.code = code === undefined ? '' : String(code);
  show('error', code === undefined ? message : `Error ${code}: ${message}`);
}

async function run(action: () => Promise<void>): Promise<void> {
  show('error', '');
  $('error').dataset.code = '';
  try {
    await action();
  } catch (e) {
    fail(e);
  }
}

/** EIP-6963 discovery: every wallet that answers within `ms`. */
function discoverWallets(ms = 300): Promise<EIP6963ProviderDetail<EIP1193Provider>[]> {
  const found: EIP6963ProviderDetail<EIP1193Provider>[] = [];
  const onAnnounce = (event: Event) => found.push((event as CustomEvent<EIP6963ProviderDetail<EIP1193Provider>>).detail);
  window.addEventListener('eip6963:announceProvider', onAnnounce);
  window.dispatchEvent(new Event('eip6963:requestProvider'));
  return new Promise((resolve) =>
    setTimeout(() => {
      window.removeEventListener('eip6963:announceProvider', onAnnounce);
      resolve(found);
    }, ms),
  );
}

async function main(): Promise<void> {
  show('origin', location.origin);
  const config = (await (await fetch('config.json', { cache: 'no-store' })).json()) as DappConfig;
  const first = config.chains[0]!;
  const chain = defineChain({
    id: first.chainId,
    name: first.name,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [first.rpcUrl] } },
  });

  // The site's own setup: one line to create the provider, one to announce it.
  announceProvider({
    provider: new SymbolonProvider({
      frameUrl: config.frameUrl,
      chains: config.chains,
      ...(config.readyTimeoutMs ? { readyTimeoutMs: config.readyTimeoutMs } : {}),
    }),
  });

  const wallets = await discoverWallets();
  const symbolon = wallets.find((w) => w.info.rdns === 'org.symbolon.wallet');
  if (!symbolon) throw new Error('No Symbolon wallet was announced.');
  show('wallet-name', `${symbolon.info.name} (${symbolon.info.rdns}; ${wallets.length} wallet${wallets.length === 1 ? '' : 's'} found)`);
  const provider = symbolon.provider;
  // For the browser console (and the tests): the EIP-1193 provider this page uses.
  (window as unknown as { symbolon: EIP1193Provider }).symbolon = provider;

  const wallet = createWalletClient({ chain, transport: custom(provider) });
  const reader = createPublicClient({ chain, transport: custom(provider) });
  show('chain', `${chain.name} (${await reader.getChainId()})`);
  let account: Address | undefined;
  const buttons = ['sign', 'sign-typed', 'send'].map((id) => $(id) as HTMLButtonElement);

  const refreshBalance = async () => {
    if (account) show('balance', `${formatEther(await reader.getBalance({ address: account }))} ETH`);
  };
  const connect = $('connect') as HTMLButtonElement;
  const disconnect = $('disconnect') as HTMLButtonElement;
  /** One place for the connected state: status, address, balance and which buttons work. */
  const setAccount = (next: Address | undefined) => {
    account = next;
    show('connection', account ? 'Connected' : 'Not connected');
    show('address', account ?? 'not connected');
    if (!account) show('balance', '–');
    connect.hidden = !!account;
    disconnect.hidden = !account;
    buttons.forEach((b) => (b.disabled = !account));
    if (account) void refreshBalance().catch(() => show('balance', 'chain not reachable'));
  };
  provider.on('accountsChanged', (accounts) => setAccount((accounts as string[])[0] as Address | undefined));
  // Follow the chain: each new block refreshes the balance (funds received, a transaction mined).
  reader.watchBlockNumber({
    pollingInterval: 2000,
    emitOnBegin: false,
    onBlockNumber: () => void refreshBalance().catch(() => undefined),
    onError: () => undefined,
  });

  connect.disabled = false;
  connect.onclick = () =>
    run(async () => {
      const [first] = await wallet.requestAddresses();
      setAccount(first);
    });
  // EIP-1193 has no "disconnect" request: the page forgets the account. The
  // site stays connected in the wallet until the user disconnects it on the
  // wallet's own page (/frame/), so Connect again does not ask again.
  disconnect.onclick = () => setAccount(undefined);

  $('sign').onclick = () =>
    run(async () => {
      const message = ($('message') as HTMLTextAreaElement).value;
      const signature = await wallet.signMessage({ account: account!, message });
      show('signature', signature);
      show('recovered', await recoverMessageAddress({ message, signature }));
    });

  $('sign-typed').onclick = () =>
    run(async () => {
      const signature = await wallet.signTypedData({
        account: account!,
        domain: { name: 'Example Exchange', version: '1', chainId: chain.id, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
        types: {
          Order: [
            { name: 'maker', type: 'address' },
            { name: 'sell', type: 'string' },
            { name: 'amount', type: 'uint256' },
            { name: 'expiry', type: 'uint64' },
          ],
        },
        primaryType: 'Order',
        message: { maker: account!, sell: 'ETH', amount: 1_000_000_000_000_000n, expiry: 1_900_000_000n },
      });
      show('typed-signature', signature);
    });

  $('send').onclick = () =>
    run(async () => {
      show('tx-status', 'waiting for approval…');
      const to = getAddress(($('to') as HTMLInputElement).value.trim());
      const value = parseEther(($('value') as HTMLInputElement).value.trim());
      const hash = await wallet.sendTransaction({ account: account!, to, value });
      show('tx-hash', hash);
      show('tx-status', 'sent; waiting for a block…');
      const receipt = await reader.waitForTransactionReceipt({ hash, pollingInterval: 250 });
      show('tx-status', `${receipt.status} in block ${receipt.blockNumber}`);
      // The balance as of the block that holds the transaction (not a cached or older "latest").
      if (account) show('balance', `${formatEther(await reader.getBalance({ address: account, blockNumber: receipt.blockNumber }))} ETH`);
    }).finally(() => {
      if ($('tx-status').textContent === 'waiting for approval…') show('tx-status', '–');
    });
}

main().catch(fail);
