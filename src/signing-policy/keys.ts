/**
 * The condition keys of a signing policy (docs/signing-policy.md): the facts
 * of an Ethereum payload a statement can test, each with its type. A policy
 * naming any other key is refused when it is parsed, so a misspelt key can
 * never make a Deny silently match nothing. Keys compare case-insensitively,
 * as IAM's do. Pure.
 */

/** How a key's values compare: numbers as exact integers (bigint), addresses lowercase, strings as written. */
export type KeyType = 'number' | 'address' | 'string' | 'bool';

/** Every key, by its lowercase name: its canonical spelling and type. */
export const CONDITION_KEYS: ReadonlyMap<string, { name: string; type: KeyType }> = new Map(
  (
    [
      ['eth:ChainId', 'number'],
      ['eth:PayloadType', 'string'],
      ['eth:TransactionType', 'string'],
      ['eth:To', 'address'],
      ['eth:Value', 'number'],
      ['eth:FunctionSelector', 'string'],
      ['eth:Erc20Recipient', 'address'],
      ['eth:Erc20Amount', 'number'],
      ['eth:MaxFeePerGas', 'number'],
      ['eth:GasLimit', 'number'],
      ['eth:TypedDataDomainName', 'string'],
      ['eth:TypedDataChainId', 'number'],
      ['eth:TypedDataVerifyingContract', 'address'],
      ['eth:TypedDataPrimaryType', 'string'],
      ['eth:AuthorizationAddress', 'address'],
      // How the caller logged in (src/signing-policy/callerFacts.ts): present for STS web-identity sessions.
      ['aws:MultiFactorAuthPresent', 'bool'],
      ['aws:MultiFactorAuthAge', 'number'],
      ['symbolon:AuthMethods', 'string'],
    ] as const
  ).map(([name, type]) => [name.toLowerCase(), { name, type }]),
);

/**
 * The stateful keys: what this key signed in a rolling window of the last
 * `<seconds>` seconds, the request being decided included, written
 * `eth:ValueInWindow/86400`. Numeric; evaluated from the usage store
 * (src/kms/signing-window.ts), never from the payload alone.
 */
export type WindowKind = 'value' | 'erc20' | 'signatures';

export const WINDOW_KEYS: ReadonlyMap<string, { name: string; kind: WindowKind }> = new Map(
  (
    [
      ['eth:ValueInWindow', 'value'],
      ['eth:Erc20AmountInWindow', 'erc20'],
      ['eth:SignaturesInWindow', 'signatures'],
    ] as const
  ).map(([name, kind]) => [name.toLowerCase(), { name, kind }]),
);

/** The longest rolling window a key may name: 31 days (usage older than this is pruned). */
export const MAX_WINDOW_SECONDS = 31 * 24 * 3600;

/** A window key parsed: `eth:ValueInWindow/86400` → kind value, 86400 s; undefined when `text` is no window key. */
export function parseWindowKey(text: string): { name: string; kind: WindowKind; seconds: number; key: string } | undefined {
  const m = /^([^/]+)\/([1-9]\d{0,7})$/.exec(text);
  const base = m && WINDOW_KEYS.get(m[1]!.toLowerCase());
  if (!m || !base) return undefined;
  const seconds = Number(m[2]);
  return { name: `${base.name}/${seconds}`, kind: base.kind, seconds, key: `${base.name.toLowerCase()}/${seconds}` };
}
