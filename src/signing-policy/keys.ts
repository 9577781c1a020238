/**
 * The condition keys of a signing policy (docs/signing-policy.md): the facts
 * of an Ethereum payload a statement can test, each with its type. A policy
 * naming any other key is refused when it is parsed, so a misspelt key can
 * never make a Deny silently match nothing. Keys compare case-insensitively,
 * as IAM's do. Pure.
 */

/** How a key's values compare: numbers as exact integers (bigint), addresses lowercase, strings as written. */
export type KeyType = 'number' | 'address' | 'string';

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
    ] as const
  ).map(([name, type]) => [name.toLowerCase(), { name, type }]),
);
