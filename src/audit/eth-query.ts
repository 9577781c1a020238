/**
 * Filters on an audit event's decoded Ethereum fields (`event.eth`,
 * EthAuditFields in event.ts) for `symbolon audit query`: chain id, to
 * (or contract creation), function selector, payload type, decision, a
 * minimum value (compared as bigint: wei does not fit a JS number) and the
 * ERC-20 recipient. Addresses and selectors compare case-insensitively.
 */
import type { EthAuditFields } from './event.js';

export interface EthEventFilter {
  chainId?: string;
  /** A lower-case address, or null for contract creation. */
  to?: string | null;
  selector?: string;
  payloadType?: EthAuditFields['payloadType'];
  decision?: EthAuditFields['decision'];
  minValue?: bigint;
  erc20Recipient?: string;
}

const PAYLOAD_TYPES = ['transaction', 'message', 'typedData', 'authorization'] as const;
const DECISIONS = ['allow', 'deny', 'pending'] as const;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** The raw flag values, as `symbolon audit query` reads them. */
export interface EthFilterFlags {
  chainId?: string | undefined;
  to?: string | undefined;
  selector?: string | undefined;
  payloadType?: string | undefined;
  decision?: string | undefined;
  minValue?: string | undefined;
  erc20Recipient?: string | undefined;
}

/**
 * Checks and normalizes the flags.
 * @throws {RangeError} naming the flag and what it accepts.
 */
export function parseEthFilter(flags: EthFilterFlags): EthEventFilter {
  const f: EthEventFilter = {};
  if (flags.chainId !== undefined) {
    const raw = flags.chainId;
    if (!/^(0x[0-9a-fA-F]{1,64}|[0-9]{1,78})$/.test(raw)) throw new RangeError('--chain-id must be a decimal or 0x-hex chain id');
    f.chainId = BigInt(raw).toString();
  }
  if (flags.to !== undefined) {
    if (flags.to === 'create') f.to = null;
    else if (ADDRESS.test(flags.to)) f.to = flags.to.toLowerCase();
    else throw new RangeError('--to must be a 0x address of 40 hex digits, or "create" for contract creation');
  }
  if (flags.selector !== undefined) {
    if (!/^0x[0-9a-fA-F]{8}$/.test(flags.selector)) throw new RangeError('--selector must be 0x and 8 hex digits');
    f.selector = flags.selector.toLowerCase();
  }
  if (flags.payloadType !== undefined) {
    const t = PAYLOAD_TYPES.find((p) => p === flags.payloadType);
    if (!t) throw new RangeError(`--payload-type must be one of ${PAYLOAD_TYPES.join(', ')}`);
    f.payloadType = t;
  }
  if (flags.decision !== undefined) {
    const d = DECISIONS.find((p) => p === flags.decision);
    if (!d) throw new RangeError(`--decision must be one of ${DECISIONS.join(', ')}`);
    f.decision = d;
  }
  if (flags.minValue !== undefined) {
    if (!/^[0-9]{1,78}$/.test(flags.minValue)) throw new RangeError('--min-value must be a decimal integer of wei');
    f.minValue = BigInt(flags.minValue);
  }
  if (flags.erc20Recipient !== undefined) {
    if (!ADDRESS.test(flags.erc20Recipient)) throw new RangeError('--erc20-recipient must be a 0x address of 40 hex digits');
    f.erc20Recipient = flags.erc20Recipient.toLowerCase();
  }
  return f;
}

/** True when the filter constrains anything. */
export function hasEthFilter(f: EthEventFilter): boolean {
  return Object.keys(f).length > 0;
}

/** True when `eth` meets every condition of `f` (an event without decoded fields meets none). */
export function matchesEthFilter(eth: EthAuditFields | undefined, f: EthEventFilter): boolean {
  if (!hasEthFilter(f)) return true;
  if (!eth) return false;
  if (f.chainId !== undefined && eth.chainId !== f.chainId) return false;
  if (f.to !== undefined) {
    if (f.to === null ? eth.to !== null : (eth.to ?? '').toLowerCase() !== f.to) return false;
  }
  if (f.selector !== undefined && (eth.selector ?? '').toLowerCase() !== f.selector) return false;
  if (f.payloadType !== undefined && eth.payloadType !== f.payloadType) return false;
  if (f.decision !== undefined && eth.decision !== f.decision) return false;
  if (f.minValue !== undefined) {
    if (eth.value === undefined || !/^[0-9]{1,78}$/.test(eth.value) || BigInt(eth.value) < f.minValue) return false;
  }
  if (f.erc20Recipient !== undefined && (eth.erc20Recipient ?? '').toLowerCase() !== f.erc20Recipient) return false;
  return true;
}
