/**
 * The provider script: the wallet serves this file, bundled (scripts/build-web.js),
 * at /sdk/provider.js and /sdk/provider-<version>.js (src/server/provider-script.ts).
 * One classic `<script src>` on a DApp page creates the Symbolon EIP-1193
 * provider for the wallet that served it — its frame at <wallet origin>/frame/ —
 * and announces it through EIP-6963 (again on every eip6963:requestProvider),
 * so wagmi, mipd or any discovery code finds the wallet with no bundling.
 *
 * The page configures it with the tag's data- attributes:
 *   data-chain-id          the chain the DApp starts on, decimal (required)
 *   data-rpc-url           that chain's JSON-RPC URL for reads, fees and broadcasts
 *   data-chain-name        the chain's name
 *   data-window-ethereum   present: window.ethereum is set to the provider too
 * Errors in them are thrown at once (the page's console shows them); nothing is announced then.
 */
import { announceProvider, SymbolonProvider } from '@symbolon/sdk/browser';

function main(): void {
  const script = document.currentScript;
  if (!(script instanceof HTMLScriptElement) || !script.src) {
    throw new Error('Symbolon provider: load this file with a classic <script src="…/sdk/provider.js"> tag (not a module, not inline)');
  }
  const { chainId: chainIdText, rpcUrl, chainName, windowEthereum } = script.dataset;
  const chainId = Number(chainIdText);
  if (!chainIdText || !/^[1-9][0-9]*$/.test(chainIdText) || !Number.isSafeInteger(chainId)) {
    throw new Error('Symbolon provider: data-chain-id must be the decimal chain id, e.g. data-chain-id="1"');
  }
  if (rpcUrl !== undefined && !/^https?:\/\//.test(rpcUrl)) throw new Error('Symbolon provider: data-rpc-url must be an http(s) URL');
  const provider = new SymbolonProvider({
    frameUrl: new URL('/frame/', script.src).href,
    chains: [{ chainId, ...(rpcUrl ? { rpcUrl } : {}), ...(chainName ? { name: chainName } : {}) }],
  });
  announceProvider({ provider });
  if (windowEthereum !== undefined) (window as unknown as { ethereum: unknown }).ethereum = provider;
}

main();
