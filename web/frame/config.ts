/**
 * The frame's configuration, served by the wallet service at
 * /frame/config.json (src/server/frame.ts) from the same origin as the page:
 * which DApp origins may use the frame (SYMBOLON_FRAME_ALLOWED_ORIGINS), where
 * the issuer, the wallet API, the custodian and the signer are, which custody
 * mode new wallets get, and chain names to show.
 */
import type { CustodyMode } from './wallet-backend.js';
import type { LoginProvider } from './oidc-login.js';

export interface FrameConfig {
  /** Exact origins (scheme://host[:port]) allowed to embed and message the frame. */
  allowedOrigins: string[];
  /** The built-in issuer's base URL (email code login). */
  issuer: string;
  /** The wallet service's base URL (/v1/...). */
  walletApi: string;
  /** The custodian's KMS/STS endpoint, and its region. */
  kmsEndpoint: string;
  region: string;
  /** The role devices assume with the user's token (STS AssumeRoleWithWebIdentity). */
  roleArn: string;
  /** Custody mode of wallets created from this frame. */
  custodyMode: CustodyMode;
  /** The signer's base URL (POST /v1/sign) for split wallets; undefined when the wallet service knows none. */
  signerUrl: string | undefined;
  /** Chain names by decimal chain id. */
  chains: Record<string, string>;
  /** The configured chain and its JSON-RPC URL (SYMBOLON_CHAIN_*): balances, token decimals. */
  chain: { chainId: number; name: string; rpcUrl: string } | undefined;
  /** External OIDC providers offered for login (SYMBOLON_FRAME_OIDC_PROVIDERS), with their discovered endpoints. */
  loginProviders: LoginProvider[];
}

function loginProviders(v: unknown): LoginProvider[] {
  if (!Array.isArray(v)) return [];
  const keys = ['id', 'name', 'issuer', 'clientId', 'scope', 'authorizationEndpoint', 'tokenEndpoint'] as const;
  return v.filter((p): p is LoginProvider => typeof p === 'object' && p !== null && keys.every((k) => typeof (p as Record<string, unknown>)[k] === 'string'));
}

function chainOf(v: unknown): FrameConfig['chain'] {
  const c = v as { chainId?: unknown; name?: unknown; rpcUrl?: unknown } | null | undefined;
  if (typeof c?.chainId !== 'number' || !Number.isSafeInteger(c.chainId) || typeof c.rpcUrl !== 'string' || !/^https?:\/\//.test(c.rpcUrl)) return undefined;
  return { chainId: c.chainId, name: typeof c.name === 'string' ? c.name : `Chain ${c.chainId}`, rpcUrl: c.rpcUrl };
}

function absolute(url: unknown, name: string): string {
  if (typeof url !== 'string') throw new Error(`The frame configuration lacks ${name}`);
  return new URL(url, location.href).href.replace(/\/+$/, '');
}

/** @throws {Error} when the configuration cannot be loaded or is malformed. */
export async function loadConfig(): Promise<FrameConfig> {
  const response = await fetch(new URL('config.json', location.href), { cache: 'no-store', credentials: 'omit' });
  if (!response.ok) throw new Error(`The frame configuration could not be loaded (${response.status})`);
  const c = (await response.json()) as Partial<Record<keyof FrameConfig, unknown>>;
  if (!Array.isArray(c.allowedOrigins) || !c.allowedOrigins.every((o) => typeof o === 'string'))
    throw new Error('The frame configuration lacks allowedOrigins');
  const mode = c.custodyMode;
  if (mode !== 'envelope' && mode !== 'split' && mode !== 'kms') throw new Error('The frame configuration has an unknown custodyMode');
  return {
    allowedOrigins: c.allowedOrigins as string[],
    issuer: absolute(c.issuer, 'issuer'),
    walletApi: absolute(c.walletApi, 'walletApi'),
    kmsEndpoint: absolute(c.kmsEndpoint, 'kmsEndpoint'),
    region: typeof c.region === 'string' ? c.region : 'us-east-1',
    roleArn: typeof c.roleArn === 'string' ? c.roleArn : '',
    custodyMode: mode,
    signerUrl: c.signerUrl === null || c.signerUrl === undefined ? undefined : absolute(c.signerUrl, 'signerUrl'),
    chains: typeof c.chains === 'object' && c.chains !== null ? (c.chains as Record<string, string>) : {},
    chain: chainOf(c.chain),
    loginProviders: loginProviders(c.loginProviders),
  };
}
