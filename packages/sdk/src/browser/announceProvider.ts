/**
 * EIP-6963 (Multi Injected Provider Discovery): announces a provider to the
 * page with `eip6963:announceProvider` (a CustomEvent whose detail is a frozen
 * `{ info, provider }`) now and again on every `eip6963:requestProvider`, so
 * DApps and libraries (wagmi, viem, web3modal, ...) find it next to any
 * injected wallets. `info.uuid` is a fresh UUIDv4 per page, `icon` a data URI.
 */

export interface EIP6963ProviderInfo {
  uuid: string;
  name: string;
  /** A data URI (RFC 2397) of a square image, at least 96×96 px. */
  icon: string;
  /** Reverse-DNS identifier of the wallet, e.g. com.example.wallet. */
  rdns: string;
}

export interface EIP6963ProviderDetail<P> {
  info: EIP6963ProviderInfo;
  provider: P;
}

/** The default icon: Symbolon's broken token, as an SVG data URI. */
export const SYMBOLON_ICON =
  'data:image/svg+xml;base64,' +
  btoa(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96"><rect width="96" height="96" rx="20" fill="#0f172a"/>' +
      '<path d="M20 48a28 28 0 0 1 28-28v14l-6 6 6 8-6 8 6 6v14a28 28 0 0 1-28-28z" fill="#38bdf8"/>' +
      '<path d="M76 48a28 28 0 0 1-28 28V62l6-6-6-8 6-8-6-6V20a28 28 0 0 1 28 28z" fill="#f8fafc"/></svg>',
  );

/**
 * Announces `provider` and keeps answering discovery requests.
 * @returns a function that stops answering.
 * @throws {TypeError} when info.icon is not a data URI or rdns is not reverse-DNS.
 */
export function announceProvider<P>(options: { provider: P; info?: Partial<EIP6963ProviderInfo> }): () => void {
  const info: EIP6963ProviderInfo = Object.freeze({
    uuid: options.info?.uuid ?? globalThis.crypto.randomUUID(),
    name: options.info?.name ?? 'Symbolon',
    icon: options.info?.icon ?? SYMBOLON_ICON,
    rdns: options.info?.rdns ?? 'org.symbolon.wallet',
  });
  if (!info.icon.startsWith('data:image/')) throw new TypeError('info.icon must be a data:image/ URI (EIP-6963).');
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(info.rdns)) throw new TypeError('info.rdns must be a reverse-DNS name, e.g. com.example.wallet.');
  const detail: EIP6963ProviderDetail<P> = Object.freeze({ info, provider: options.provider });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }));
  announce();
  window.addEventListener('eip6963:requestProvider', announce);
  return () => window.removeEventListener('eip6963:requestProvider', announce);
}
