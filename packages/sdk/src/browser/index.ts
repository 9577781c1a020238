/**
 * @symbolon/sdk/browser — the DApp side: an EIP-1193 provider backed by the
 * Symbolon wallet frame, announced through EIP-6963. Browser-only (uses
 * window, document, postMessage, fetch).
 */
export { SymbolonProvider, type SymbolonProviderOptions, type SymbolonChain, type RequestArguments } from './SymbolonProvider.js';
export { announceProvider, SYMBOLON_ICON, type EIP6963ProviderInfo, type EIP6963ProviderDetail } from './announceProvider.js';
export { ProviderRpcError, ProviderErrorCode } from './ProviderRpcError.js';
export type { FilledTransaction } from './fillTransaction.js';
