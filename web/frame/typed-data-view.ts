/**
 * How the frame shows EIP-712 typed data (eth_signTypedData_v4) before the
 * user signs it: the domain (name, chain, verifying contract) and the primary
 * type first, then the message field by field, with token amounts in units
 * (the token's decimals where known, ETH otherwise) formatted from bigints so
 * no digit is lost, and plain warnings on what drains wallets: Permit-style
 * approvals (EIP-2612 Permit, DAI's permit, Uniswap Permit2's PermitSingle,
 * PermitBatch and signature transfers) and unlimited allowances. The raw JSON
 * stays available, collapsed. Pure functions: no DOM, no I/O (token decimals
 * are looked up beforehand, ./tokens.ts).
 *
 * One module on purpose: what a typed-data prompt shows grows here (e.g.
 * fields a policy adds), apart from the other prompts in ./decode.ts.
 */
import { formatUnits, getAddress } from 'viem';
import type { Field, Prompt } from './decode.js';

/** Typed data as the frame accepts it (./requests.ts checks it encodes under EIP-712 first). */
export interface TypedDataInput {
  domain?: Record<string, unknown>;
  types: Record<string, unknown>;
  primaryType: string;
  message: Record<string, unknown>;
}

/** What the frame knows of a token: its symbol and decimals. */
export interface TokenInfo {
  symbol: string;
  decimals: number;
}

/** Tokens by lower-case address, on the typed data's chain. */
export type TokenBook = ReadonlyMap<string, TokenInfo>;

/** From this amount up an allowance is unlimited in practice: 2^160 − 1 is Permit2's maximum, 2^256 − 1 ERC-20's. */
export const UNLIMITED_FROM = 2n ** 160n - 1n;
const MAX_UINT256 = 2n ** 256n - 1n;

/** Message rows shown at most; the rest is in the raw JSON. */
const MAX_ROWS = 48;

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
/** Field names that hold an amount of a token (or of ETH). */
const AMOUNT_NAME = /amount|value|wad|allowance/i;
/** Field names that hold a Unix time. */
const TIME_NAME = /deadline|expir|validafter|validbefore|validuntil/i;

const PERMIT2_TYPES = new Set([
  'PermitSingle',
  'PermitBatch',
  'PermitTransferFrom',
  'PermitBatchTransferFrom',
  'PermitWitnessTransferFrom',
  'PermitBatchWitnessTransferFrom',
]);

/** Addresses in their EIP-55 checksummed form, the way wallets and explorers show them. */
function checksummed(v: string): string {
  return ADDRESS.test(v) ? getAddress(v) : v;
}

function toBigInt(v: unknown): bigint | undefined {
  try {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
    if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|\d+)$/.test(v)) return BigInt(v);
  } catch {
    return undefined;
  }
  return undefined;
}

/** The typed data as JSON, addresses checksummed and bigints as decimal strings. */
export function rawJson(typedData: TypedDataInput): string {
  const { domain, types, primaryType, message } = typedData;
  return JSON.stringify(
    { domain: domain ?? {}, primaryType, types, message },
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : typeof v === 'string' ? checksummed(v) : v),
    2,
  );
}

interface TypeField {
  name: string;
  type: string;
}

function structFields(types: Record<string, unknown>, name: string): TypeField[] | undefined {
  const t = types[name];
  return Array.isArray(t) ? (t as TypeField[]) : undefined;
}

/** Which kind of permit the typed data is, if any. */
export type PermitKind = 'eip2612' | 'dai' | 'permit2' | 'other';

export function permitKind(typedData: TypedDataInput): PermitKind | undefined {
  const { primaryType, types } = typedData;
  if (PERMIT2_TYPES.has(primaryType)) return 'permit2';
  if (primaryType === 'Permit') {
    const names = new Set((structFields(types, 'Permit') ?? []).map((f) => f.name));
    if (names.has('allowed') && names.has('holder')) return 'dai';
    if (names.has('spender') && names.has('value')) return 'eip2612';
  }
  return /permit/i.test(primaryType) ? 'other' : undefined;
}

/** Token contracts whose decimals the prompt would use: the verifying contract, and every `token` address in the message. */
export function tokenAddresses(typedData: TypedDataInput): string[] {
  const found = new Set<string>();
  const vc = typedData.domain?.verifyingContract;
  if (typeof vc === 'string' && ADDRESS.test(vc)) found.add(vc.toLowerCase());
  const walk = (v: unknown, depth: number): void => {
    if (depth > 8 || found.size > 16 || v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (/^token$/i.test(k) && typeof x === 'string' && ADDRESS.test(x)) found.add(x.toLowerCase());
      else walk(x, depth + 1);
    }
  };
  walk(typedData.message, 0);
  return [...found];
}

/** How an amount field's token is known, from the closest context outwards. */
type AmountUnit = { kind: 'token'; address: string; info: TokenInfo | undefined } | { kind: 'eth' };

interface Walk {
  types: Record<string, unknown>;
  tokens: TokenBook;
  rows: Field[];
  hidden: number;
  unlimited: string[];
}

function formatAmount(v: bigint, unit: AmountUnit): string {
  if (v >= UNLIMITED_FROM) return `Unlimited (${v === MAX_UINT256 ? '2^256 − 1' : v === UNLIMITED_FROM ? '2^160 − 1' : v.toString()})`;
  if (unit.kind === 'eth') return `${formatUnits(v, 18)} ETH`;
  if (!unit.info) return `${v.toString()} (base units; the token's decimals are unknown)`;
  return `${formatUnits(v, unit.info.decimals)} ${unit.info.symbol}`;
}

function formatTime(v: bigint): string {
  if (v === 0n) return '0 (never)';
  if (v > 253_402_300_799n) return `${v.toString()} (never, in practice)`;
  return `${new Date(Number(v) * 1000).toISOString().replace('.000Z', 'Z')} (${v.toString()})`;
}

function atom(w: Walk, path: string, type: string, name: string, value: unknown, unit: AmountUnit): void {
  if (w.rows.length >= MAX_ROWS) {
    w.hidden++;
    return;
  }
  if (type === 'address' && typeof value === 'string') {
    w.rows.push({ label: path, value: checksummed(value), mono: true, group: 'Message' });
    return;
  }
  if (/^u?int\d*$/.test(type)) {
    const n = toBigInt(value);
    if (n !== undefined && type.startsWith('uint') && AMOUNT_NAME.test(name)) {
      const unlimited = n >= UNLIMITED_FROM;
      if (unlimited) w.unlimited.push(path);
      w.rows.push({ label: path, value: formatAmount(n, unit), warn: unlimited, group: 'Message' });
      return;
    }
    if (n !== undefined && type.startsWith('uint') && TIME_NAME.test(name)) {
      w.rows.push({ label: path, value: formatTime(n), group: 'Message' });
      return;
    }
    w.rows.push({ label: path, value: n !== undefined ? n.toString() : String(value), group: 'Message' });
    return;
  }
  if (type === 'bool') {
    w.rows.push({ label: path, value: String(value), group: 'Message' });
    return;
  }
  if (type === 'string') {
    w.rows.push({ label: path, value: typeof value === 'string' ? value : String(value), group: 'Message' });
    return;
  }
  // bytes, bytesN and anything else: as given.
  w.rows.push({ label: path, value: typeof value === 'string' ? value : JSON.stringify(value), mono: true, group: 'Message' });
}

function unitOfStruct(w: Walk, value: Record<string, unknown>, outer: AmountUnit): AmountUnit {
  const token = value.token;
  if (typeof token === 'string' && ADDRESS.test(token)) return { kind: 'token', address: token.toLowerCase(), info: w.tokens.get(token.toLowerCase()) };
  return outer;
}

function walkValue(w: Walk, path: string, type: string, name: string, value: unknown, unit: AmountUnit, depth: number): void {
  if (depth > 8) return;
  const array = /^(.*)\[(\d*)\]$/.exec(type);
  if (array) {
    const items = Array.isArray(value) ? value : [];
    items.forEach((item, i) => walkValue(w, `${path}[${i}]`, array[1]!, name, item, unit, depth + 1));
    return;
  }
  const fields = structFields(w.types, type);
  if (fields) {
    const obj = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const inner = unitOfStruct(w, obj, unit);
    for (const f of fields) walkValue(w, path ? `${path}.${f.name}` : f.name, f.type, f.name, obj[f.name], inner, depth + 1);
    return;
  }
  atom(w, path, type, name, value, unit);
}

/** The chain id of the domain as a number, if it is one. */
function domainChainId(domain: Record<string, unknown>): number | undefined {
  const n = toBigInt(domain.chainId);
  return n !== undefined && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

export interface TypedDataContext {
  origin: string;
  account: string;
  currentChainId: number;
  /** "Name (chain id)" for a chain id (./decode.ts chainLabel with the frame's names). */
  chainLabel(chainId: number): string;
  /** Tokens known on the domain's chain (./tokens.ts). */
  tokens: TokenBook;
}

/** eth_signTypedData_v4 (EIP-712): domain and primary type first, the message in units, permit and allowance warnings, raw JSON. */
export function describeTypedData(typedData: TypedDataInput, ctx: TypedDataContext): Prompt {
  const domain = typedData.domain ?? {};
  const warnings: string[] = [];
  const fields: Field[] = [{ label: 'Primary type', value: typedData.primaryType, mono: true, group: 'What you sign' }];
  if (typeof domain.name === 'string') fields.push({ label: 'Domain', value: domain.name, group: 'What you sign' });
  if (domain.chainId !== undefined) {
    const id = domainChainId(domain);
    const other = id !== ctx.currentChainId;
    fields.push({ label: 'Chain', value: id === undefined ? String(domain.chainId) : ctx.chainLabel(id), warn: other, group: 'What you sign' });
    if (other) warnings.push(`The data is for a different chain than the current one (${ctx.chainLabel(ctx.currentChainId)}).`);
  }
  const vc = typeof domain.verifyingContract === 'string' ? checksummed(domain.verifyingContract) : undefined;
  if (vc) fields.push({ label: 'Verifying contract', value: vc, mono: true, group: 'What you sign' });
  if (typeof domain.version === 'string') fields.push({ label: 'Domain version', value: domain.version, group: 'What you sign' });
  if (typeof domain.salt === 'string') fields.push({ label: 'Domain salt', value: domain.salt, mono: true, group: 'What you sign' });
  fields.push(
    { label: 'Site', value: ctx.origin, mono: true, group: 'What you sign' },
    { label: 'Account', value: ctx.account, mono: true, group: 'What you sign' },
  );

  const kind = permitKind(typedData);
  // A permit's amounts are of the verifying contract (EIP-2612, DAI); elsewhere a known token contract's, else ETH.
  const vcToken = vc ? ctx.tokens.get(vc.toLowerCase()) : undefined;
  const defaultUnit: AmountUnit =
    vc && (kind === 'eip2612' || kind === 'dai' || vcToken) ? { kind: 'token', address: vc.toLowerCase(), info: vcToken } : { kind: 'eth' };
  const w: Walk = { types: typedData.types, tokens: ctx.tokens, rows: [], hidden: 0, unlimited: [] };
  walkValue(w, '', typedData.primaryType, '', typedData.message, defaultUnit, 0);
  fields.push(...w.rows);
  if (w.hidden > 0)
    fields.push({ label: '…', value: `${w.hidden} more field${w.hidden === 1 ? '' : 's'}: see the raw data below`, warn: true, group: 'Message' });

  const m = typedData.message;
  const spender = typeof m.spender === 'string' ? checksummed(m.spender) : undefined;
  if (kind) {
    const what =
      kind === 'permit2'
        ? 'a Permit2 token approval'
        : kind === 'dai'
          ? 'a DAI-style permit (a token approval)'
          : kind === 'eip2612'
            ? 'a token approval (EIP-2612 permit)'
            : `a ${typedData.primaryType} (a permit)`;
    const token = defaultUnit.kind === 'token' ? (defaultUnit.info ? `your ${defaultUnit.info.symbol}` : 'your tokens') : 'your tokens';
    warnings.push(
      `This is ${what}: signing it lets ${spender ?? 'the spender'} move ${token} without another approval from you. Sign it only for a site you trust.`,
    );
  }
  if (kind === 'dai' && m.allowed === true) {
    warnings.push(`The allowance is unlimited: ${spender ?? 'the spender'} could move all of this token you hold, now or later.`);
    const i = fields.findIndex((f) => f.label === 'allowed');
    if (i >= 0) fields[i] = { ...fields[i]!, value: 'true (unlimited allowance)', warn: true };
  }
  if (w.unlimited.length > 0) {
    warnings.push(`The amount ${w.unlimited.join(', ')} is unlimited: ${spender ?? 'the spender'} could move all of this token you hold, now or later.`);
  }
  return {
    title: 'Sign typed data',
    summary: `${ctx.origin} asks you to sign structured data (EIP-712)${kind ? ' that approves spending your tokens' : ''}.`,
    fields,
    raw: { label: 'Raw data (JSON)', text: rawJson(typedData) },
    warnings,
  };
}
