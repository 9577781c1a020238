/**
 * Token symbols and decimals for the typed-data prompt (./typed-data-view.ts):
 * a small table of well-known tokens, and otherwise `decimals()` and
 * `symbol()` read with eth_call from the configured chain's RPC — only for
 * that chain, and only for the contracts the typed data names. A token that
 * does not answer, or answers nonsense, stays unknown: its amounts are then
 * shown in base units, never guessed.
 */
import { decodeAbiParameters, hexToBigInt, type Hex } from 'viem';
import type { TokenBook, TokenInfo } from './typed-data-view.js';

/** Well-known tokens by chain id and lower-case address. */
const KNOWN_TOKENS: Record<number, Record<string, TokenInfo>> = {
  1: {
    '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48': { symbol: 'USDC', decimals: 6 },
    '0xdac17f958d2ee523a2206206994597c13d831ec7': { symbol: 'USDT', decimals: 6 },
    '0x6b175474e89094c44da98b954eedeac495271d0f': { symbol: 'DAI', decimals: 18 },
    '0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2': { symbol: 'WETH', decimals: 18 },
    '0x2260fac5e5542a773aa44fbcfedf7c193bc2c599': { symbol: 'WBTC', decimals: 8 },
  },
  8453: {
    '0x833589fcd6edb6e08f4c7c32d4f71b54bda02913': { symbol: 'USDC', decimals: 6 },
    '0x4200000000000000000000000000000000000006': { symbol: 'WETH', decimals: 18 },
  },
  10: {
    '0x0b2c639c533813f4aa9d7837caf62653d097ff85': { symbol: 'USDC', decimals: 6 },
    '0x4200000000000000000000000000000000000006': { symbol: 'WETH', decimals: 18 },
  },
  42161: {
    '0xaf88d065e77c8cc2239327c5edb3a432268e5831': { symbol: 'USDC', decimals: 6 },
    '0x82af49447d8a07e3bd95d4d3ba5e6c5c6f4f7e5c': { symbol: 'WETH', decimals: 18 },
  },
};

/** The table's entry, if the token is in it. */
export function knownToken(chainId: number, address: string): TokenInfo | undefined {
  return KNOWN_TOKENS[chainId]?.[address.toLowerCase()];
}

const DECIMALS = '0x313ce567';
const SYMBOL = '0x95d89b41';
const TIMEOUT_MS = 3000;

async function ethCall(rpcUrl: string, to: string, data: Hex, signal: AbortSignal): Promise<Hex | undefined> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_call', params: [{ to, data }, 'latest'] }),
    credentials: 'omit',
    cache: 'no-store',
    signal,
  });
  const body = (await response.json().catch(() => undefined)) as { result?: unknown } | undefined;
  return typeof body?.result === 'string' && /^0x([0-9a-fA-F]{2})*$/.test(body.result) ? (body.result as Hex) : undefined;
}

/** A symbol fit to show: printable, short; else undefined. */
function cleanSymbol(s: string): string | undefined {
  const t = s.trim();
  return /^[\p{L}\p{N}._-]{1,12}$/u.test(t) ? t : undefined;
}

/** decimals() and symbol() of one contract; undefined when it is not an ERC-20 that answers sensibly. */
async function readToken(rpcUrl: string, address: string, signal: AbortSignal): Promise<TokenInfo | undefined> {
  const [d, s] = await Promise.all([ethCall(rpcUrl, address, DECIMALS, signal), ethCall(rpcUrl, address, SYMBOL, signal).catch(() => undefined)]);
  if (!d || d.length !== 66) return undefined;
  const decimals = hexToBigInt(d);
  if (decimals > 36n) return undefined;
  let symbol: string | undefined;
  try {
    if (s && s.length >= 130) symbol = cleanSymbol(decodeAbiParameters([{ type: 'string' }], s)[0]);
  } catch {
    symbol = undefined;
  }
  return { decimals: Number(decimals), symbol: symbol ?? 'tokens' };
}

/**
 * The tokens among `addresses` on `chainId`: from the table, else read from
 * the chain when it is the configured one (`rpc`). Never throws: what cannot
 * be read is left out.
 */
export async function lookUpTokens(
  addresses: readonly string[],
  chainId: number | undefined,
  rpc: { chainId: number; rpcUrl: string } | undefined,
): Promise<TokenBook> {
  const book = new Map<string, TokenInfo>();
  if (chainId === undefined) return book;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), TIMEOUT_MS);
  try {
    await Promise.all(
      addresses.slice(0, 8).map(async (a) => {
        const known = knownToken(chainId, a);
        if (known) return void book.set(a.toLowerCase(), known);
        if (!rpc || rpc.chainId !== chainId) return;
        const read = await readToken(rpc.rpcUrl, a, ac.signal).catch(() => undefined);
        if (read) book.set(a.toLowerCase(), read);
      }),
    );
  } finally {
    clearTimeout(timer);
  }
  return book;
}
