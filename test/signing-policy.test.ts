/**
 * The signing-policy language (src/signing-policy/, docs/signing-policy.md):
 * a table of policies and payloads, each row citing the rule it shows; the
 * bypass attempts of issue #16 (contract creation, data smuggled to an
 * allowed address, chain-id spoofing, EIP-7702 delegation, Permit with an
 * unlimited allowance); documents refused; and ERC-20 decoding checked
 * against ethers' on random calldata (fast-check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Interface } from 'ethers';
import { bytesToHex, encodeFunctionData, erc20Abi, maxUint256, type Hex } from 'viem';
import { parsePayload } from '../src/eth/payload.js';
import { parseSigningPolicy, SigningPolicyError } from '../src/signing-policy/document.js';
import { payloadFacts } from '../src/signing-policy/payloadFacts.js';
import { callerFacts } from '../src/signing-policy/callerFacts.js';
import { describeDecision, evaluateSigningPolicy, windowRefusal } from '../src/signing-policy/evaluateSigningPolicy.js';
import { usageOf, windowFacts } from '../src/kms/signing-window.js';
import { decodeErc20Call } from '../src/signing-policy/decodeErc20Call.js';

const TREASURY = '0x1111111111111111111111111111111111111111';
const OTHER = '0x2222222222222222222222222222222222222222';
const TOKEN = '0x3333333333333333333333333333333333333333';
const ATTACKER = '0x6666666666666666666666666666666666666666';
const DELEGATE = '0x7777777777777777777777777777777777777777';
const ONE_ETH = '1000000000000000000';
const APPROVER = 'arn:aws:iam::000000000000:user/alice';

/** The issue's example, verbatim: at most 1 ETH per transaction to one address on chain 31337, nothing else. */
const ISSUE_EXAMPLE = `{ "Version": "2026-12-01",
    "Statement": [{ "Sid": "PayTreasury", "Effect": "Allow",
      "Condition": { "StringEqualsIgnoreCase": { "eth:To": "0x1111111111111111111111111111111111111111" },
                     "NumericEquals": { "eth:ChainId": "31337" },
                     "NumericLessThanEquals": { "eth:Value": "1000000000000000000" } } }] }`;

type Json = Record<string, unknown>;
const doc = (...statements: Json[]) => JSON.stringify({ Version: '2026-12-01', Statement: statements });
const allowAll: Json = { Sid: 'AllowAll', Effect: 'Allow' };

function tx(fields: Json = {}): Json {
  return {
    type: 'transaction',
    transaction: { chainId: 31337, nonce: 0, gas: 21000, maxFeePerGas: '30000000000', maxPriorityFeePerGas: '1000000000', to: TREASURY, value: '0', ...fields },
  };
}
const erc20 = (functionName: 'transfer' | 'approve', to: string, amount: bigint): Hex =>
  encodeFunctionData({ abi: erc20Abi, functionName, args: [to as Hex, amount] });
const transferFrom = (from: string, to: string, amount: bigint): Hex =>
  encodeFunctionData({ abi: erc20Abi, functionName: 'transferFrom', args: [from as Hex, to as Hex, amount] });
const message: Json = { type: 'message', message: 'hello' };
function typed(domain: Json, primaryType = 'Mail', msg: Json = { contents: 'hi' }, types?: Json): Json {
  const domainFields = Object.keys(domain).map((k) => ({
    name: k,
    type: k === 'chainId' ? 'uint256' : k === 'verifyingContract' ? 'address' : 'string',
  }));
  return {
    type: 'typedData',
    typedData: { domain, primaryType, message: msg, types: { EIP712Domain: domainFields, ...(types ?? { Mail: [{ name: 'contents', type: 'string' }] }) } },
  };
}
const PERMIT_TYPES = {
  Permit: [
    { name: 'owner', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
};
const DAI_PERMIT_TYPES = {
  Permit: [
    { name: 'holder', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint256' },
    { name: 'allowed', type: 'bool' },
  ],
};
const permit = (value: string, chainId = 31337) =>
  typed({ name: 'Token', chainId, verifyingContract: TOKEN }, 'Permit', { owner: OTHER, spender: ATTACKER, value, nonce: 0, deadline: 1 }, PERMIT_TYPES);
const auth = (address: string, chainId = 31337): Json => ({ type: 'authorization', authorization: { address, chainId, nonce: 0 } });
const authList = (...addresses: string[]) =>
  addresses.map((address) => ({ address, chainId: 31337, nonce: 0, r: `0x${'11'.repeat(32)}`, s: `0x${'22'.repeat(32)}`, yParity: 0 }));

// Policies the rows share.
const ERC20_ONLY_TREASURY = doc({
  Sid: 'TokenToTreasury',
  Effect: 'Allow',
  Condition: {
    StringEqualsIgnoreCase: { 'eth:To': TOKEN, 'eth:Erc20Recipient': TREASURY },
    StringEquals: { 'eth:FunctionSelector': '0xa9059cbb' },
    NumericLessThanEquals: { 'eth:Erc20Amount': '1000000' },
  },
});
const LAYERED = doc(
  allowAll,
  {
    Sid: 'BigNeedsApproval',
    Effect: 'RequireApproval',
    Condition: { NumericGreaterThan: { 'eth:Value': ONE_ETH } },
    Approval: { Approvers: [APPROVER], MinApprovals: 1 },
  },
  { Sid: 'NoAttacker', Effect: 'Deny', Condition: { StringEqualsIgnoreCase: { 'eth:To': ATTACKER } } },
);
const NO_CREATE = doc(allowAll, {
  Sid: 'NoCreate',
  Effect: 'Deny',
  Condition: { Null: { 'eth:To': 'true' }, StringEquals: { 'eth:PayloadType': 'transaction' } },
});
const PERMIT_CAP = doc(
  { Sid: 'TypedOnTokenDomain', Effect: 'Allow', Condition: { StringEqualsIgnoreCase: { 'eth:TypedDataVerifyingContract': TOKEN } } },
  { Sid: 'NoBigAllowance', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Erc20Amount': '1000000' } } },
);
const DELEGATION = doc(allowAll, {
  Sid: 'OnlyKnownDelegate',
  Effect: 'Deny',
  Condition: { 'ForAnyValue:StringNotEqualsIgnoreCase': { 'eth:AuthorizationAddress': DELEGATE } },
});
const CHAIN_PINNED = doc({ Sid: 'OnlyLocalChain', Effect: 'Allow', Condition: { NumericEquals: { 'eth:ChainId': '31337' } } });

interface Row {
  rule: string;
  policy: string;
  payload: Json;
  want: 'allow' | 'deny' | 'pending';
  sid?: string | undefined;
  /** Rolling windows: payloads the key signed before, and how long ago (seconds). */
  history?: [Json, number][];
}

const NOW = 1_800_000_000_000;
const FIVE_ETH = '5000000000000000000';
const FOUR_ETH = '4000000000000000000';
const ETH_PER_DAY = doc({ Sid: 'FiveEthPerDay', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:ValueInWindow/86400': FIVE_ETH } } });
const TOKEN_PER_HOUR = doc(allowAll, { Sid: 'TokenCap', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Erc20AmountInWindow/3600': '1000000' } } });
const TEN_PER_MINUTE = doc({ Sid: 'TenPerMinute', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:SignaturesInWindow/60': '10' } } });
const tokenTx = (data: Hex, to = TOKEN) => tx({ to, data });
const times = (n: number, p: Json, age: number): [Json, number][] => Array.from({ length: n }, () => [p, age]);

/** The facts a row is decided on: the payload's, with the policy's window sums over its history (as src/kms/signing-window.ts computes them). */
function rowFacts(policy: ReturnType<typeof parseSigningPolicy>, payload: Json, history: [Json, number][] = []) {
  const parsed = parsePayload(payload);
  const facts = payloadFacts(parsed);
  if (policy.windows.length === 0) return facts;
  const rows = history.map(([p, age], i) => {
    const hp = parsePayload(p);
    return usageOf(hp, payloadFacts(hp), 'k', NOW - age * 1000, `h${i}`);
  });
  return windowFacts(policy, facts, usageOf(parsed, facts, 'k', NOW, 'now'), rows, NOW);
}

const rows: Row[] = [
  // The issue's example document.
  { rule: 'example: 1 ETH to the treasury on 31337 is allowed', policy: ISSUE_EXAMPLE, payload: tx({ value: ONE_ETH }), want: 'allow', sid: 'PayTreasury' },
  { rule: 'example: less than 1 ETH is allowed', policy: ISSUE_EXAMPLE, payload: tx({ value: '1' }), want: 'allow', sid: 'PayTreasury' },
  { rule: 'example: zero value is allowed', policy: ISSUE_EXAMPLE, payload: tx(), want: 'allow', sid: 'PayTreasury' },
  { rule: 'example: 1 wei over 1 ETH is refused (bigint exact)', policy: ISSUE_EXAMPLE, payload: tx({ value: '1000000000000000001' }), want: 'deny' },
  { rule: 'example: 2^255 wei is refused', policy: ISSUE_EXAMPLE, payload: tx({ value: (1n << 255n).toString() }), want: 'deny' },
  {
    rule: 'example: checksummed to matches (IgnoreCase)',
    policy: ISSUE_EXAMPLE,
    payload: tx({ to: '0x1111111111111111111111111111111111111111' }),
    want: 'allow',
  },
  { rule: 'example: another recipient is refused', policy: ISSUE_EXAMPLE, payload: tx({ to: OTHER }), want: 'deny' },
  { rule: 'example: another chain is refused', policy: ISSUE_EXAMPLE, payload: tx({ chainId: 1 }), want: 'deny' },
  { rule: 'example: contract creation is refused (eth:To absent)', policy: ISSUE_EXAMPLE, payload: tx({ to: null, data: '0x6080' }), want: 'deny' },
  { rule: 'example: a personal message is refused (no eth:To)', policy: ISSUE_EXAMPLE, payload: message, want: 'deny' },
  { rule: 'example: typed data is refused', policy: ISSUE_EXAMPLE, payload: typed({ name: 'X', chainId: 31337, verifyingContract: TREASURY }), want: 'deny' },
  { rule: 'example: a 7702 authorization is refused', policy: ISSUE_EXAMPLE, payload: auth(TREASURY), want: 'deny' },
  {
    rule: 'example: legacy transaction to the treasury allowed',
    policy: ISSUE_EXAMPLE,
    payload: tx({ maxFeePerGas: undefined, maxPriorityFeePerGas: undefined, gasPrice: '1' }),
    want: 'allow',
  },
  { rule: 'example: hex value 0xde0b6b3a7640000 = 1 ETH allowed', policy: ISSUE_EXAMPLE, payload: tx({ value: '0xde0b6b3a7640000' }), want: 'allow' },
  // Evaluation order.
  {
    rule: 'order: nothing allows -> implicit deny, no Sid',
    policy: doc({ Sid: 'Never', Effect: 'Allow', Condition: { NumericEquals: { 'eth:ChainId': '1' } } }),
    payload: tx(),
    want: 'deny',
    sid: undefined,
  },
  { rule: 'order: an unconditioned Allow allows everything', policy: doc(allowAll), payload: message, want: 'allow', sid: 'AllowAll' },
  { rule: 'order: explicit Deny wins over Allow', policy: LAYERED, payload: tx({ to: ATTACKER }), want: 'deny', sid: 'NoAttacker' },
  {
    rule: 'order: Deny wins over RequireApproval',
    policy: LAYERED,
    payload: tx({ to: ATTACKER, value: '2000000000000000000' }),
    want: 'deny',
    sid: 'NoAttacker',
  },
  { rule: 'order: RequireApproval wins over Allow', policy: LAYERED, payload: tx({ value: '2000000000000000000' }), want: 'pending', sid: 'BigNeedsApproval' },
  { rule: 'order: Allow when neither Deny nor RequireApproval applies', policy: LAYERED, payload: tx({ value: ONE_ETH }), want: 'allow', sid: 'AllowAll' },
  {
    rule: 'order: RequireApproval alone does not need an Allow',
    policy: doc({ Sid: 'Ask', Effect: 'RequireApproval', Approval: { Approvers: [APPROVER], MinApprovals: 1 } }),
    payload: message,
    want: 'pending',
    sid: 'Ask',
  },
  {
    rule: 'order: the first applying Deny in document order names the refusal',
    policy: doc(allowAll, { Sid: 'DenyA', Effect: 'Deny' }, { Sid: 'DenyB', Effect: 'Deny' }),
    payload: message,
    want: 'deny',
    sid: 'DenyA',
  },
  {
    rule: 'order: the first applying Allow names the allow',
    policy: doc({ Sid: 'First', Effect: 'Allow', Condition: { StringEquals: { 'eth:PayloadType': 'message' } } }, { Sid: 'Second', Effect: 'Allow' }),
    payload: message,
    want: 'allow',
    sid: 'First',
  },
  {
    rule: 'order: a non-applying Deny leaves the Allow',
    policy: doc(allowAll, { Sid: 'DenyMainnet', Effect: 'Deny', Condition: { NumericEquals: { 'eth:ChainId': '1' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'AllowAll',
  },
  {
    rule: 'order: all conditions of a statement must hold (AND across operators)',
    policy: doc({ Sid: 'Both', Effect: 'Allow', Condition: { NumericEquals: { 'eth:ChainId': '31337' }, StringEquals: { 'eth:PayloadType': 'message' } } }),
    payload: tx(),
    want: 'deny',
  },
  {
    rule: 'order: values of one key are OR-ed',
    policy: doc({ Sid: 'TwoChains', Effect: 'Allow', Condition: { NumericEquals: { 'eth:ChainId': ['1', '31337'] } } }),
    payload: tx(),
    want: 'allow',
    sid: 'TwoChains',
  },
  // Operators and absent keys.
  {
    rule: 'absent: positive operator on an absent key is false',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { NumericLessThan: { 'eth:Value': '5' } } }),
    payload: message,
    want: 'deny',
  },
  {
    rule: 'absent: IfExists on an absent key is true',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { NumericLessThanIfExists: { 'eth:Value': '5' } } }),
    payload: message,
    want: 'allow',
    sid: 'A',
  },
  {
    rule: 'absent: IfExists still tests a present key',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { NumericLessThanIfExists: { 'eth:Value': '5' } } }),
    payload: tx({ value: '9' }),
    want: 'deny',
  },
  {
    rule: 'absent: negated operator on an absent key is true',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { StringNotEquals: { 'eth:FunctionSelector': '0xa9059cbb' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'A',
  },
  {
    rule: 'absent: ForAnyValue on an absent key is false',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { 'ForAnyValue:StringEquals': { 'eth:AuthorizationAddress': DELEGATE } } }),
    payload: tx(),
    want: 'deny',
  },
  {
    rule: 'absent: ForAllValues on an absent key is true (IAM rule)',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { 'ForAllValues:StringEquals': { 'eth:AuthorizationAddress': DELEGATE } } }),
    payload: tx(),
    want: 'allow',
    sid: 'A',
  },
  {
    rule: 'Null true matches an absent key',
    policy: doc({ Sid: 'N', Effect: 'Allow', Condition: { Null: { 'eth:Value': 'true' } } }),
    payload: message,
    want: 'allow',
    sid: 'N',
  },
  {
    rule: 'Null true does not match a present key',
    policy: doc({ Sid: 'N', Effect: 'Allow', Condition: { Null: { 'eth:Value': 'true' } } }),
    payload: tx(),
    want: 'deny',
  },
  {
    rule: 'Null false matches a present key',
    policy: doc({ Sid: 'N', Effect: 'Allow', Condition: { Null: { 'eth:Value': false } } }),
    payload: tx(),
    want: 'allow',
    sid: 'N',
  },
  {
    rule: 'NumericEquals exact on 2^256-1',
    policy: doc({ Sid: 'Max', Effect: 'Allow', Condition: { NumericEquals: { 'eth:Value': maxUint256.toString() } } }),
    payload: tx({ value: maxUint256.toString() }),
    want: 'allow',
    sid: 'Max',
  },
  {
    rule: 'NumericEquals off by one at 2^256-2',
    policy: doc({ Sid: 'Max', Effect: 'Allow', Condition: { NumericEquals: { 'eth:Value': maxUint256.toString() } } }),
    payload: tx({ value: (maxUint256 - 1n).toString() }),
    want: 'deny',
  },
  {
    rule: 'NumericNotEquals',
    policy: doc({ Sid: 'N', Effect: 'Allow', Condition: { NumericNotEquals: { 'eth:ChainId': '1' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'N',
  },
  {
    rule: 'NumericNotEquals with the same value',
    policy: doc({ Sid: 'N', Effect: 'Allow', Condition: { NumericNotEquals: { 'eth:ChainId': '31337' } } }),
    payload: tx(),
    want: 'deny',
  },
  {
    rule: 'NumericLessThan strict at the bound',
    policy: doc({ Sid: 'L', Effect: 'Allow', Condition: { NumericLessThan: { 'eth:Value': ONE_ETH } } }),
    payload: tx({ value: ONE_ETH }),
    want: 'deny',
  },
  {
    rule: 'NumericGreaterThan',
    policy: doc({ Sid: 'G', Effect: 'Allow', Condition: { NumericGreaterThan: { 'eth:GasLimit': '20999' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'G',
  },
  {
    rule: 'NumericGreaterThanEquals at the bound',
    policy: doc({ Sid: 'G', Effect: 'Allow', Condition: { NumericGreaterThanEquals: { 'eth:GasLimit': '21000' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'G',
  },
  {
    rule: 'Numeric policy value as a JSON number',
    policy: doc({ Sid: 'J', Effect: 'Allow', Condition: { NumericEquals: { 'eth:ChainId': 31337 } } }),
    payload: tx(),
    want: 'allow',
    sid: 'J',
  },
  {
    rule: 'Numeric policy value as 0x-hex',
    policy: doc({ Sid: 'H', Effect: 'Allow', Condition: { NumericEquals: { 'eth:ChainId': '0x7a69' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'H',
  },
  {
    rule: 'StringEquals is case-sensitive',
    policy: doc({ Sid: 'S', Effect: 'Allow', Condition: { StringEquals: { 'eth:PayloadType': 'Message' } } }),
    payload: message,
    want: 'deny',
  },
  {
    rule: 'StringEqualsIgnoreCase',
    policy: doc({ Sid: 'S', Effect: 'Allow', Condition: { StringEqualsIgnoreCase: { 'eth:PayloadType': 'MESSAGE' } } }),
    payload: message,
    want: 'allow',
    sid: 'S',
  },
  {
    rule: 'StringNotEqualsIgnoreCase',
    policy: doc({ Sid: 'S', Effect: 'Allow', Condition: { StringNotEqualsIgnoreCase: { 'eth:PayloadType': 'MESSAGE' } } }),
    payload: message,
    want: 'deny',
  },
  {
    rule: 'StringLike with a wildcard',
    policy: doc({ Sid: 'L', Effect: 'Allow', Condition: { StringLike: { 'eth:TransactionType': 'eip*' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'L',
  },
  {
    rule: 'StringNotLike',
    policy: doc({ Sid: 'L', Effect: 'Allow', Condition: { StringNotLike: { 'eth:TransactionType': 'eip*' } } }),
    payload: tx(),
    want: 'deny',
  },
  {
    rule: 'address keys compare lowercase even under StringEquals',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { StringEquals: { 'eth:To': '0xAbCdEfabcdefABCDEFabcdefabcdefABCDEFabcd' } } }),
    payload: tx({ to: '0xabcdefabcdefabcdefabcdefabcdefabcdefabcd' }),
    want: 'allow',
    sid: 'A',
  },
  {
    rule: 'StringLike on an address (prefix)',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { StringLike: { 'eth:To': '0x1111*' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'A',
  },
  {
    rule: 'condition keys are case-insensitive',
    policy: doc({ Sid: 'K', Effect: 'Allow', Condition: { NumericEquals: { 'ETH:CHAINID': '31337' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'K',
  },
  // Payload facts.
  {
    rule: 'eth:PayloadType transaction',
    policy: doc({ Sid: 'P', Effect: 'Allow', Condition: { StringEquals: { 'eth:PayloadType': 'transaction' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'P',
  },
  {
    rule: 'eth:PayloadType typedData',
    policy: doc({ Sid: 'P', Effect: 'Allow', Condition: { StringEquals: { 'eth:PayloadType': 'typedData' } } }),
    payload: typed({ name: 'X' }),
    want: 'allow',
    sid: 'P',
  },
  {
    rule: 'eth:PayloadType authorization',
    policy: doc({ Sid: 'P', Effect: 'Allow', Condition: { StringEquals: { 'eth:PayloadType': 'authorization' } } }),
    payload: auth(DELEGATE),
    want: 'allow',
    sid: 'P',
  },
  {
    rule: 'eth:PayloadType message (raw bytes too)',
    policy: doc({ Sid: 'P', Effect: 'Allow', Condition: { StringEquals: { 'eth:PayloadType': 'message' } } }),
    payload: { type: 'message', message: { raw: '0x1234' } },
    want: 'allow',
    sid: 'P',
  },
  {
    rule: 'eth:TransactionType eip1559 inferred from fee fields',
    policy: doc({ Sid: 'T', Effect: 'Allow', Condition: { StringEquals: { 'eth:TransactionType': 'eip1559' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'T',
  },
  {
    rule: 'eth:TransactionType legacy from gasPrice',
    policy: doc({ Sid: 'T', Effect: 'Allow', Condition: { StringEquals: { 'eth:TransactionType': 'legacy' } } }),
    payload: tx({ maxFeePerGas: undefined, maxPriorityFeePerGas: undefined, gasPrice: '5' }),
    want: 'allow',
    sid: 'T',
  },
  {
    rule: 'eth:TransactionType eip2930 from an access list',
    policy: doc({ Sid: 'T', Effect: 'Allow', Condition: { StringEquals: { 'eth:TransactionType': 'eip2930' } } }),
    payload: tx({ maxFeePerGas: undefined, maxPriorityFeePerGas: undefined, gasPrice: '5', accessList: [], type: 'eip2930' }),
    want: 'allow',
    sid: 'T',
  },
  {
    rule: 'eth:MaxFeePerGas from maxFeePerGas',
    policy: doc({ Sid: 'F', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:MaxFeePerGas': '30000000000' } } }),
    payload: tx(),
    want: 'allow',
    sid: 'F',
  },
  {
    rule: 'eth:MaxFeePerGas over the cap',
    policy: doc({ Sid: 'F', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:MaxFeePerGas': '29999999999' } } }),
    payload: tx(),
    want: 'deny',
  },
  {
    rule: 'eth:MaxFeePerGas from a legacy gasPrice',
    policy: doc({ Sid: 'F', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:MaxFeePerGas': '10' } } }),
    payload: tx({ maxFeePerGas: undefined, maxPriorityFeePerGas: undefined, gasPrice: '11' }),
    want: 'deny',
  },
  {
    rule: 'eth:GasLimit over the cap',
    policy: doc({ Sid: 'G', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:GasLimit': '100000' } } }),
    payload: tx({ gas: 100001 }),
    want: 'deny',
  },
  {
    rule: 'eth:FunctionSelector of transfer',
    policy: doc({ Sid: 'S', Effect: 'Allow', Condition: { StringEquals: { 'eth:FunctionSelector': '0xa9059cbb' } } }),
    payload: tx({ to: TOKEN, data: erc20('transfer', TREASURY, 5n) }),
    want: 'allow',
    sid: 'S',
  },
  {
    rule: 'eth:FunctionSelector absent without data',
    policy: doc({ Sid: 'S', Effect: 'Allow', Condition: { Null: { 'eth:FunctionSelector': 'true' } } }),
    payload: tx({ data: '0x' }),
    want: 'allow',
    sid: 'S',
  },
  {
    rule: 'eth:FunctionSelector present for 1-3 bytes of data (fallback call)',
    policy: doc({ Sid: 'S', Effect: 'Allow', Condition: { Null: { 'eth:FunctionSelector': 'true' } } }),
    payload: tx({ data: '0x12' }),
    want: 'deny',
  },
  {
    rule: 'eth:Erc20Recipient and Amount of transfer',
    policy: ERC20_ONLY_TREASURY,
    payload: tx({ to: TOKEN, data: erc20('transfer', TREASURY, 1_000_000n) }),
    want: 'allow',
    sid: 'TokenToTreasury',
  },
  {
    rule: 'eth:Erc20Amount over the cap',
    policy: ERC20_ONLY_TREASURY,
    payload: tx({ to: TOKEN, data: erc20('transfer', TREASURY, 1_000_001n) }),
    want: 'deny',
  },
  { rule: 'eth:Erc20Recipient another address', policy: ERC20_ONLY_TREASURY, payload: tx({ to: TOKEN, data: erc20('transfer', ATTACKER, 1n) }), want: 'deny' },
  {
    rule: 'eth:Erc20Recipient of transferFrom is the receiver',
    policy: doc({ Sid: 'R', Effect: 'Allow', Condition: { StringEqualsIgnoreCase: { 'eth:Erc20Recipient': TREASURY } } }),
    payload: tx({ to: TOKEN, data: transferFrom(ATTACKER, TREASURY, 1n) }),
    want: 'allow',
    sid: 'R',
  },
  {
    rule: 'eth:Erc20Recipient of approve is the spender',
    policy: doc({ Sid: 'R', Effect: 'Allow', Condition: { StringEqualsIgnoreCase: { 'eth:Erc20Recipient': TREASURY } } }),
    payload: tx({ to: TOKEN, data: erc20('approve', ATTACKER, 1n) }),
    want: 'deny',
  },
  {
    rule: 'eth:Erc20Amount of an unlimited approve',
    policy: doc(allowAll, { Sid: 'NoUnlimited', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Erc20Amount': '1000000' } } }),
    payload: tx({ to: TOKEN, data: erc20('approve', ATTACKER, maxUint256) }),
    want: 'deny',
    sid: 'NoUnlimited',
  },
  {
    rule: 'eth:Erc20* absent when calldata is truncated',
    policy: doc({ Sid: 'R', Effect: 'Allow', Condition: { Null: { 'eth:Erc20Amount': 'true' } } }),
    payload: tx({ to: TOKEN, data: erc20('transfer', TREASURY, 1n).slice(0, 50) }),
    want: 'allow',
    sid: 'R',
  },
  {
    rule: 'eth:TypedDataDomainName',
    policy: doc({ Sid: 'D', Effect: 'Allow', Condition: { StringEquals: { 'eth:TypedDataDomainName': 'Ether Mail' } } }),
    payload: typed({ name: 'Ether Mail' }),
    want: 'allow',
    sid: 'D',
  },
  {
    rule: 'eth:TypedDataPrimaryType',
    policy: doc({ Sid: 'D', Effect: 'Allow', Condition: { StringEquals: { 'eth:TypedDataPrimaryType': 'Mail' } } }),
    payload: typed({ name: 'X' }),
    want: 'allow',
    sid: 'D',
  },
  {
    rule: 'eth:TypedDataVerifyingContract',
    policy: doc({ Sid: 'D', Effect: 'Allow', Condition: { StringEqualsIgnoreCase: { 'eth:TypedDataVerifyingContract': TOKEN } } }),
    payload: typed({ name: 'X', verifyingContract: TOKEN }),
    want: 'allow',
    sid: 'D',
  },
  {
    rule: 'eth:TypedDataChainId',
    policy: doc({ Sid: 'D', Effect: 'Allow', Condition: { NumericEquals: { 'eth:TypedDataChainId': '31337' } } }),
    payload: typed({ name: 'X', chainId: 31337 }),
    want: 'allow',
    sid: 'D',
  },
  {
    rule: 'eth:TypedDataChainId given as a hex string',
    policy: doc({ Sid: 'D', Effect: 'Allow', Condition: { NumericEquals: { 'eth:TypedDataChainId': '31337' } } }),
    payload: typed({ name: 'X', chainId: '0x7a69' }),
    want: 'allow',
    sid: 'D',
  },
  {
    rule: 'eth:AuthorizationAddress of an authorization payload',
    policy: doc({ Sid: 'A', Effect: 'Allow', Condition: { StringEqualsIgnoreCase: { 'eth:AuthorizationAddress': DELEGATE } } }),
    payload: auth(DELEGATE),
    want: 'allow',
    sid: 'A',
  },
  { rule: 'eth:ChainId of an authorization payload', policy: CHAIN_PINNED, payload: auth(DELEGATE, 31337), want: 'allow', sid: 'OnlyLocalChain' },
  { rule: 'eth:ChainId absent for a personal message', policy: CHAIN_PINNED, payload: message, want: 'deny' },
  // Bypass attempts (issue #16).
  {
    rule: 'bypass: contract creation under an allow-list of recipients',
    policy: doc({ Sid: 'Known', Effect: 'Allow', Condition: { StringEqualsIgnoreCase: { 'eth:To': [TREASURY, OTHER] } } }),
    payload: tx({ to: null, data: '0x60806040' }),
    want: 'deny',
  },
  { rule: 'bypass: contract creation denied by Null eth:To', policy: NO_CREATE, payload: tx({ to: null, data: '0x60806040' }), want: 'deny', sid: 'NoCreate' },
  { rule: 'bypass: NoCreate still allows an ordinary transfer', policy: NO_CREATE, payload: tx(), want: 'allow', sid: 'AllowAll' },
  { rule: 'bypass: NoCreate does not catch a message (PayloadType)', policy: NO_CREATE, payload: message, want: 'allow', sid: 'AllowAll' },
  {
    rule: 'bypass: contract creation under StringNotEquals deny-list is caught (negated on absent = true)',
    policy: doc(allowAll, {
      Sid: 'OnlyTreasury',
      Effect: 'Deny',
      Condition: { StringNotEqualsIgnoreCase: { 'eth:To': TREASURY }, StringEquals: { 'eth:PayloadType': 'transaction' } },
    }),
    payload: tx({ to: null, data: '0x60' }),
    want: 'deny',
    sid: 'OnlyTreasury',
  },
  {
    rule: 'bypass: data smuggled to the allowed token with approve instead of transfer',
    policy: ERC20_ONLY_TREASURY,
    payload: tx({ to: TOKEN, data: erc20('approve', TREASURY, 1n) }),
    want: 'deny',
  },
  {
    rule: 'bypass: arbitrary selector to the allowed token',
    policy: ERC20_ONLY_TREASURY,
    payload: tx({ to: TOKEN, data: `0xdeadbeef${'00'.repeat(64)}` }),
    want: 'deny',
  },
  {
    rule: 'bypass: calldata to the example treasury is still a payment there (value capped)',
    policy: ISSUE_EXAMPLE,
    payload: tx({ data: `0xdeadbeef${'00'.repeat(32)}`, value: '2000000000000000000' }),
    want: 'deny',
  },
  {
    rule: 'bypass: selector pinned to transfer, data smuggled with another selector to the allowed address',
    policy: doc({
      Sid: 'PlainOrTransfer',
      Effect: 'Allow',
      Condition: { StringEqualsIgnoreCase: { 'eth:To': TOKEN }, StringEqualsIfExists: { 'eth:FunctionSelector': '0xa9059cbb' } },
    }),
    payload: tx({ to: TOKEN, data: transferFrom(OTHER, ATTACKER, 5n) }),
    want: 'deny',
  },
  { rule: 'bypass: chain-id spoofing, transaction on mainnet under a 31337 pin', policy: CHAIN_PINNED, payload: tx({ chainId: 1 }), want: 'deny' },
  {
    rule: 'bypass: typed data whose domain is another chain, under an eth:ChainId pin',
    policy: CHAIN_PINNED,
    payload: typed({ name: 'X', chainId: 1 }),
    want: 'deny',
  },
  {
    rule: 'bypass: typed data with no domain chainId (valid on every chain) under an eth:ChainId pin',
    policy: CHAIN_PINNED,
    payload: typed({ name: 'X' }),
    want: 'deny',
  },
  {
    rule: 'bypass: typed data bound to the pinned chain is allowed',
    policy: CHAIN_PINNED,
    payload: typed({ name: 'X', chainId: 31337 }),
    want: 'allow',
    sid: 'OnlyLocalChain',
  },
  {
    rule: 'bypass: a typed message field named chainId does not set eth:ChainId',
    policy: CHAIN_PINNED,
    payload: typed({ name: 'X', chainId: 1 }, 'Order', { chainId: 31337 }, { Order: [{ name: 'chainId', type: 'uint256' }] }),
    want: 'deny',
  },
  { rule: 'bypass: 7702 authorization with chainId 0 (every chain) under a 31337 pin', policy: CHAIN_PINNED, payload: auth(DELEGATE, 0), want: 'deny' },
  {
    rule: 'bypass: 7702 delegation to an attacker (authorization payload)',
    policy: DELEGATION,
    payload: auth(ATTACKER),
    want: 'deny',
    sid: 'OnlyKnownDelegate',
  },
  { rule: 'bypass: 7702 delegation to the known delegate allowed', policy: DELEGATION, payload: auth(DELEGATE), want: 'allow', sid: 'AllowAll' },
  {
    rule: 'bypass: type-4 transaction carrying an attacker authorization among good ones',
    policy: DELEGATION,
    payload: tx({ type: 'eip7702', authorizationList: authList(DELEGATE, ATTACKER) }),
    want: 'deny',
    sid: 'OnlyKnownDelegate',
  },
  {
    rule: 'bypass: type-4 transaction with only the known delegate',
    policy: DELEGATION,
    payload: tx({ type: 'eip7702', authorizationList: authList(DELEGATE, DELEGATE) }),
    want: 'allow',
    sid: 'AllowAll',
  },
  {
    rule: 'bypass: 7702 under an Allow of eth:To only does not allow the authorization payload',
    policy: ISSUE_EXAMPLE,
    payload: auth(ATTACKER, 31337),
    want: 'deny',
  },
  {
    rule: 'bypass: Permit typed data with an unlimited allowance',
    policy: PERMIT_CAP,
    payload: permit(maxUint256.toString()),
    want: 'deny',
    sid: 'NoBigAllowance',
  },
  { rule: 'bypass: Permit within the cap is allowed', policy: PERMIT_CAP, payload: permit('1000'), want: 'allow', sid: 'TypedOnTokenDomain' },
  { rule: 'bypass: Permit value as hex is still read', policy: PERMIT_CAP, payload: permit(`0x${'ff'.repeat(32)}`), want: 'deny', sid: 'NoBigAllowance' },
  {
    rule: "bypass: DAI's Permit with allowed=true counts as unlimited",
    policy: PERMIT_CAP,
    payload: typed(
      { name: 'Dai', chainId: 31337, verifyingContract: TOKEN },
      'Permit',
      { holder: OTHER, spender: ATTACKER, nonce: 0, expiry: 0, allowed: true },
      DAI_PERMIT_TYPES,
    ),
    want: 'deny',
    sid: 'NoBigAllowance',
  },
  {
    rule: 'bypass: Permit spender is eth:Erc20Recipient',
    policy: doc({ Sid: 'OnlyTreasurySpender', Effect: 'Allow', Condition: { StringEqualsIgnoreCase: { 'eth:Erc20Recipient': TREASURY } } }),
    payload: permit('1'),
    want: 'deny',
  },
  // RequireApproval.
  {
    rule: 'approval: the pending decision carries the approval rule',
    policy: LAYERED,
    payload: tx({ value: '3000000000000000000' }),
    want: 'pending',
    sid: 'BigNeedsApproval',
  },
  { rule: 'approval: under the threshold no approval is needed', policy: LAYERED, payload: tx({ value: '1' }), want: 'allow', sid: 'AllowAll' },
  // Rolling windows: the sum includes the request being decided, so the limit is never exceeded.
  { rule: 'window: 5 ETH with nothing signed today is allowed', policy: ETH_PER_DAY, payload: tx({ value: FIVE_ETH }), want: 'allow', sid: 'FiveEthPerDay' },
  { rule: 'window: 5 ETH + 1 wei in one request is refused', policy: ETH_PER_DAY, payload: tx({ value: '5000000000000000001' }), want: 'deny' },
  {
    rule: 'window: 4 ETH two hours ago + 1 ETH now reaches exactly 5 ETH: allowed',
    policy: ETH_PER_DAY,
    payload: tx({ value: ONE_ETH }),
    history: [[tx({ value: FOUR_ETH }), 7200]],
    want: 'allow',
  },
  {
    rule: 'window: 4 ETH earlier + 1 ETH + 1 wei now would exceed 5 ETH: refused (the request counts)',
    policy: ETH_PER_DAY,
    payload: tx({ value: '1000000000000000001' }),
    history: [[tx({ value: FOUR_ETH }), 7200]],
    want: 'deny',
  },
  {
    rule: 'window: 5 ETH signed 25 hours ago is out of the 24-hour window',
    policy: ETH_PER_DAY,
    payload: tx({ value: FIVE_ETH }),
    history: [[tx({ value: FIVE_ETH }), 25 * 3600]],
    want: 'allow',
  },
  {
    rule: 'window: a row exactly 86400 s old has left the window',
    policy: ETH_PER_DAY,
    payload: tx({ value: FIVE_ETH }),
    history: [[tx({ value: '1' }), 86400]],
    want: 'allow',
  },
  {
    rule: 'window: value on another chain counts on that chain only',
    policy: ETH_PER_DAY,
    payload: tx({ value: FIVE_ETH }),
    history: [[tx({ chainId: 1, value: FIVE_ETH }), 60]],
    want: 'allow',
  },
  { rule: 'window: a message adds no value', policy: ETH_PER_DAY, payload: message, history: [[tx({ value: FIVE_ETH }), 60]], want: 'allow' },
  {
    rule: 'window: many small values add up exactly (bigint sums)',
    policy: ETH_PER_DAY,
    payload: tx({ value: '1' }),
    history: times(5, tx({ value: ONE_ETH }), 10),
    want: 'deny',
  },
  {
    rule: 'window: ERC-20 999,999 units this hour + 1 reaches the cap: allowed',
    policy: TOKEN_PER_HOUR,
    payload: tokenTx(erc20('transfer', OTHER, 1n)),
    history: [[tokenTx(erc20('transfer', TREASURY, 999_999n)), 600]],
    want: 'allow',
    sid: 'AllowAll',
  },
  {
    rule: 'window: ERC-20 999,999 units this hour + 2 exceeds the cap: explicit Deny',
    policy: TOKEN_PER_HOUR,
    payload: tokenTx(erc20('transfer', OTHER, 2n)),
    history: [[tokenTx(erc20('transfer', TREASURY, 999_999n)), 600]],
    want: 'deny',
    sid: 'TokenCap',
  },
  {
    rule: 'window: transferFrom counts as an ERC-20 amount sent',
    policy: TOKEN_PER_HOUR,
    payload: tokenTx(erc20('transfer', OTHER, 2n)),
    history: [[tokenTx(transferFrom(OTHER, TREASURY, 999_999n)), 600]],
    want: 'deny',
    sid: 'TokenCap',
  },
  {
    rule: 'window: transfers of another token contract do not count',
    policy: TOKEN_PER_HOUR,
    payload: tokenTx(erc20('transfer', OTHER, 2n)),
    history: [[tokenTx(erc20('transfer', TREASURY, 999_999n), OTHER), 600]],
    want: 'allow',
  },
  {
    rule: 'window: an approve sends nothing and is not counted',
    policy: TOKEN_PER_HOUR,
    payload: tokenTx(erc20('approve', OTHER, 5_000_000n)),
    history: [[tokenTx(erc20('transfer', TREASURY, 999_999n)), 600]],
    want: 'allow',
  },
  {
    rule: 'window: ERC-20 transfers over an hour ago are out of the window',
    policy: TOKEN_PER_HOUR,
    payload: tokenTx(erc20('transfer', OTHER, 1_000_000n)),
    history: [[tokenTx(erc20('transfer', TREASURY, 999_999n)), 3601]],
    want: 'allow',
  },
  {
    rule: 'window: a plain ETH payment has no eth:Erc20AmountInWindow (the Deny does not apply)',
    policy: TOKEN_PER_HOUR,
    payload: tx({ value: FIVE_ETH }),
    history: [[tokenTx(erc20('transfer', TREASURY, 2_000_000n)), 60]],
    want: 'allow',
  },
  {
    rule: 'window: the 10th signature in a minute is allowed',
    policy: TEN_PER_MINUTE,
    payload: message,
    history: times(9, tx(), 30),
    want: 'allow',
    sid: 'TenPerMinute',
  },
  { rule: 'window: the 11th signature in a minute is refused', policy: TEN_PER_MINUTE, payload: tx(), history: times(10, message, 30), want: 'deny' },
  {
    rule: 'window: signatures over a minute ago do not count',
    policy: TEN_PER_MINUTE,
    payload: tx(),
    history: [...times(10, message, 61), ...times(9, message, 59)],
    want: 'allow',
  },
];

test(`signing policy table: ${rows.length} rows, each citing its rule`, () => {
  assert.ok(rows.length >= 80, `the table has ${rows.length} rows; the issue asks for at least 80`);
  const failures: string[] = [];
  for (const row of rows) {
    const policy = parseSigningPolicy(row.policy);
    const d = evaluateSigningPolicy(policy, rowFacts(policy, row.payload, row.history));
    const sidOk = !('sid' in row) || d.statement === row.sid;
    if (d.decision !== row.want || !sidOk)
      failures.push(`${row.rule}: got ${d.decision} (${d.statement ?? 'no statement'}), want ${row.want} (${row.sid ?? 'any'})`);
  }
  assert.deepEqual(failures, []);
});

test('a refusal names the deciding Sid; a pending decision names its approvers rule', () => {
  const d = evaluateSigningPolicy(parseSigningPolicy(LAYERED), payloadFacts(parsePayload(tx({ to: ATTACKER }))));
  assert.equal(describeDecision(d), 'Refused by signing policy statement NoAttacker (explicit Deny).');
  const implicit = evaluateSigningPolicy(parseSigningPolicy(ISSUE_EXAMPLE), payloadFacts(parsePayload(tx({ chainId: 1 }))));
  assert.match(describeDecision(implicit), /no statement allows this payload/);
  const pending = evaluateSigningPolicy(parseSigningPolicy(LAYERED), payloadFacts(parsePayload(tx({ value: '5000000000000000000' }))));
  assert.equal(pending.decision, 'pending');
  assert.deepEqual(pending.decision === 'pending' && pending.approval, { approvers: [APPROVER], minApprovals: 1, expiresInSeconds: 86400 });
});

test('a window refusal names the Sid and the window limit, never a payload value', () => {
  const daily = parseSigningPolicy(ETH_PER_DAY);
  const over = rowFacts(daily, tx({ value: '1000000000000000001' }), [[tx({ value: FOUR_ETH }), 60]]);
  const d = evaluateSigningPolicy(daily, over);
  assert.equal(
    `${describeDecision(d)}${windowRefusal(daily, over, d)}`,
    'Refused by the signing policy: no statement allows this payload (implicit deny). Statement FiveEthPerDay would allow it, but its rolling-window limit ' +
      'eth:ValueInWindow/86400 <= 5000000000000000000 would be exceeded (the window counts this request, so the limit is never exceeded).',
  );
  const cap = parseSigningPolicy(TOKEN_PER_HOUR);
  const tokenFacts = rowFacts(cap, tokenTx(erc20('transfer', OTHER, 2n)), [[tokenTx(erc20('transfer', TREASURY, 999_999n)), 60]]);
  const denied = evaluateSigningPolicy(cap, tokenFacts);
  assert.match(windowRefusal(cap, tokenFacts, denied), /^ Its rolling-window condition eth:Erc20AmountInWindow\/3600 > 1000000 holds/);
  // A refusal no window decided says nothing about windows.
  const chain = parseSigningPolicy(
    doc({ Sid: 'A', Effect: 'Allow', Condition: { NumericEquals: { 'eth:ChainId': '1' }, NumericLessThan: { 'eth:SignaturesInWindow/60': '5' } } }),
  );
  const other = rowFacts(chain, tx());
  assert.equal(windowRefusal(chain, other, evaluateSigningPolicy(chain, other)), '');
  // Window keys are listed once each, with their kind and length; keys compare case-insensitively.
  const both = parseSigningPolicy(
    doc(
      { Sid: 'A', Effect: 'Allow', Condition: { NumericLessThan: { 'eth:valueinwindow/60': '5', 'eth:SignaturesInWindow/60': '3' } } },
      { Sid: 'B', Effect: 'Deny', Condition: { NumericGreaterThan: { 'ETH:VALUEINWINDOW/60': '9' } } },
    ),
  );
  assert.deepEqual(both.windows, [
    { key: 'eth:valueinwindow/60', kind: 'value', seconds: 60 },
    { key: 'eth:signaturesinwindow/60', kind: 'signatures', seconds: 60 },
  ]);
  assert.deepEqual(parseSigningPolicy(ISSUE_EXAMPLE).windows, []);
  // Evaluated without the usage store (no window sums), a windowed policy refuses, even with only a Deny naming a window.
  const denyOnly = parseSigningPolicy(doc(allowAll, { Sid: 'Cap', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:SignaturesInWindow/60': '5' } } }));
  assert.deepEqual(evaluateSigningPolicy(denyOnly, payloadFacts(parsePayload(tx()))), { decision: 'deny', statement: undefined });
  assert.deepEqual(evaluateSigningPolicy(denyOnly, rowFacts(denyOnly, tx())), { decision: 'allow', statement: 'AllowAll' });
  assert.throws(
    () => parseSigningPolicy(doc({ Sid: 'A', Effect: 'Allow', Condition: { StringEquals: { 'symbolon:windowsread': 'true' } } })),
    /unknown condition key/,
  );
});

test('documents a signing policy refuses, each with a message naming the fault', () => {
  const bad: [string, string, RegExp][] = [
    ['not JSON', '{', /not valid JSON/],
    ['wrong version', JSON.stringify({ Version: '2012-10-17', Statement: [allowAll] }), /Version must be "2026-12-01"/],
    ['no statement', JSON.stringify({ Version: '2026-12-01', Statement: [] }), /at least one statement/],
    ['unknown top-level field', JSON.stringify({ Version: '2026-12-01', Statement: [allowAll], Id: 'x' }), /unknown field "Id"/],
    ['missing Sid', doc({ Effect: 'Allow' }), /Sid is required/],
    ['duplicate Sid', doc(allowAll, allowAll), /used twice/],
    ['bad effect', doc({ Sid: 'A', Effect: 'Permit' }), /Effect must be Allow, Deny or RequireApproval/],
    ['Principal is not a signing-policy field', doc({ Sid: 'A', Effect: 'Allow', Principal: '*' }), /unknown field "Principal"/],
    ['unknown key (typo)', doc({ Sid: 'A', Effect: 'Deny', Condition: { StringEquals: { 'eth:Too': TREASURY } } }), /unknown condition key "eth:Too"/],
    ['aws key', doc({ Sid: 'A', Effect: 'Deny', Condition: { StringEquals: { 'aws:username': 'x' } } }), /unknown condition key/],
    ['Date operator', doc({ Sid: 'A', Effect: 'Deny', Condition: { DateLessThan: { 'eth:Value': '1' } } }), /unsupported condition operator/],
    ['unknown operator', doc({ Sid: 'A', Effect: 'Deny', Condition: { NumericAbout: { 'eth:Value': '1' } } }), /unsupported condition operator/],
    ['String operator on a number', doc({ Sid: 'A', Effect: 'Deny', Condition: { StringEquals: { 'eth:Value': '1' } } }), /use a Numeric operator/],
    ['Numeric operator on a string', doc({ Sid: 'A', Effect: 'Deny', Condition: { NumericEquals: { 'eth:To': '1' } } }), /needs a numeric key/],
    ['decimal fraction', doc({ Sid: 'A', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Value': '1.5' } } }), /non-negative integer/],
    ['negative', doc({ Sid: 'A', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Value': '-1' } } }), /non-negative integer/],
    [
      'unsafe JSON number',
      '{"Version":"2026-12-01","Statement":[{"Sid":"A","Effect":"Deny","Condition":{"NumericGreaterThan":{"eth:Value":1000000000000000001}}}]}',
      /decimal strings/,
    ],
    [
      'window over 31 days',
      doc({ Sid: 'A', Effect: 'Allow', Condition: { NumericLessThan: { 'eth:ValueInWindow/2678401': '1' } } }),
      /rolling window is 1 to 2678400 seconds/,
    ],
    [
      'window of 0 s',
      doc({ Sid: 'A', Effect: 'Allow', Condition: { NumericLessThan: { 'eth:ValueInWindow/0': '1' } } }),
      /unknown condition key "eth:ValueInWindow\/0"/,
    ],
    ['window without seconds', doc({ Sid: 'A', Effect: 'Allow', Condition: { NumericLessThan: { 'eth:SignaturesInWindow': '1' } } }), /unknown condition key/],
    ['window on a stateless key', doc({ Sid: 'A', Effect: 'Allow', Condition: { NumericLessThan: { 'eth:GasLimit/60': '1' } } }), /unknown condition key/],
    [
      'String operator on a window',
      doc({ Sid: 'A', Effect: 'Allow', Condition: { StringEquals: { 'eth:SignaturesInWindow/60': '1' } } }),
      /use a Numeric operator/,
    ],
    ['over 256 bits', doc({ Sid: 'A', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Value': (1n << 256n).toString() } } }), /256 bits/],
    ['bad address', doc({ Sid: 'A', Effect: 'Allow', Condition: { StringEquals: { 'eth:To': '0x1234' } } }), /not a 20-byte 0x address/],
    ['empty value list', doc({ Sid: 'A', Effect: 'Allow', Condition: { StringEquals: { 'eth:PayloadType': [] } } }), /empty/],
    ['Null with a string', doc({ Sid: 'A', Effect: 'Allow', Condition: { Null: { 'eth:To': 'yes' } } }), /Null takes true or false/],
    ['RequireApproval without approvers', doc({ Sid: 'A', Effect: 'RequireApproval' }), /names its approvers/],
    ['Approval on an Allow', doc({ Sid: 'A', Effect: 'Allow', Approval: { Approvers: [APPROVER], MinApprovals: 1 } }), /only a RequireApproval/],
    [
      'M greater than N',
      doc({ Sid: 'A', Effect: 'RequireApproval', Approval: { Approvers: [APPROVER], MinApprovals: 2 } }),
      /MinApprovals must be an integer from 1 to/,
    ],
    ['approver not an ARN', doc({ Sid: 'A', Effect: 'RequireApproval', Approval: { Approvers: ['alice'], MinApprovals: 1 } }), /not an IAM user/],
    [
      'expiry too long',
      doc({ Sid: 'A', Effect: 'RequireApproval', Approval: { Approvers: [APPROVER], MinApprovals: 1, ExpiresInSeconds: 10 ** 9 } }),
      /ExpiresInSeconds/,
    ],
    [
      'too long',
      doc({
        Sid: 'A',
        Effect: 'Allow',
        Condition: { StringEquals: { 'eth:TypedDataDomainName': ['x'.repeat(1000), ...Array.from({ length: 40 }, (_, i) => `${i}${'y'.repeat(900)}`)] } },
      }),
      /longer than/,
    ],
  ];
  for (const [what, text, message] of bad) {
    assert.throws(
      () => parseSigningPolicy(text),
      (e: unknown) => e instanceof SigningPolicyError && message.test(e.message),
      what,
    );
  }
});

const iface = new Interface(erc20Abi as unknown as string[]);

test('ERC-20 decoding matches ethers on random well-formed calls (fast-check)', () => {
  const addr = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => bytesToHex(b));
  const amount = fc.bigInt({ min: 0n, max: maxUint256 });
  fc.assert(
    fc.property(fc.constantFrom('transfer', 'transferFrom', 'approve'), addr, addr, amount, (fn, a, b, n) => {
      const data = (fn === 'transferFrom' ? iface.encodeFunctionData(fn, [a, b, n]) : iface.encodeFunctionData(fn, [a, n])) as Hex;
      const ours = decodeErc20Call(data);
      const theirs = iface.decodeFunctionData(fn, data);
      assert.ok(ours);
      assert.equal(ours.functionName, fn);
      assert.equal(ours.recipient, String(fn === 'transferFrom' ? theirs[1] : theirs[0]).toLowerCase());
      assert.equal(ours.amount, fn === 'transferFrom' ? theirs[2] : theirs[1]);
    }),
    { numRuns: 300 },
  );
});

test('ERC-20 decoding on random calldata: agrees with ethers wherever ethers decodes', () => {
  const selector = fc.constantFrom('0xa9059cbb', '0x23b872dd', '0x095ea7b3', '0xdeadbeef');
  fc.assert(
    fc.property(selector, fc.uint8Array({ maxLength: 140 }), (sel, body) => {
      const data = (sel + bytesToHex(body).slice(2)) as Hex;
      const ours = decodeErc20Call(data);
      const fragment = iface.getFunction(sel);
      let theirs: ReturnType<typeof iface.decodeFunctionData> | undefined;
      try {
        theirs = fragment ? iface.decodeFunctionData(fragment, data) : undefined;
      } catch {
        theirs = undefined;
      }
      if (sel === '0xdeadbeef') assert.equal(ours, undefined);
      if (theirs && fragment) {
        // Where ethers reads the call, ours reads the same recipient and amount.
        assert.ok(ours, 'ethers decodes it, so must we');
        const [r, n] = fragment.name === 'transferFrom' ? [theirs[1], theirs[2]] : [theirs[0], theirs[1]];
        assert.equal(ours.recipient, String(r).toLowerCase());
        assert.equal(ours.amount, n);
      } else if (ours) {
        // Ethers refuses only what is short or an address word with dirty high bytes; we read its low 20 bytes.
        const words = fragment!.name === 'transferFrom' ? 3 : 2;
        assert.ok(body.length >= 32 * words, 'we decode only what is long enough');
      }
    }),
    { numRuns: 500 },
  );
});

test('audit chain: eth fields are hashed when present, and an event without them hashes as before', async () => {
  const { canonicalEvent, canonicalEventGeneric, chainHash, toChained, GENESIS_HASH } = await import('../src/audit/chain.js');
  const base = {
    time: 1700000000000,
    requestId: 'r',
    service: 'kms',
    operation: 'SignPayload',
    principalArn: 'arn:aws:iam::111122223333:root',
    principalTags: {},
    accessKeyId: 'AKIA',
    sourceIp: '127.0.0.1',
    userAgent: 'ua',
    keyArn: null,
    encryptionContext: null,
    signingAlgorithm: 'ECDSA_SHA_256',
    outcome: 'denied' as const,
    errorCode: 'AccessDeniedException',
  };
  const plain = toChained(1, base);
  assert.equal(canonicalEvent(plain).includes('"eth"'), false);
  assert.equal(canonicalEvent(plain), canonicalEventGeneric(plain));
  const eth = toChained(1, { ...base, eth: { payloadType: 'transaction', chainId: '1', to: null, value: '5', decision: 'deny', statement: 'NoCreate' } });
  assert.equal(canonicalEvent(eth), canonicalEventGeneric(eth));
  assert.match(
    canonicalEvent(eth),
    /"errorCode":"AccessDeniedException","eth":\{"chainId":"1","decision":"deny","payloadType":"transaction","statement":"NoCreate","to":null,"value":"5"\},"keyArn"/,
  );
  assert.notEqual(chainHash(GENESIS_HASH, eth), chainHash(GENESIS_HASH, plain));
  const edited = { ...eth, eth: { ...eth.eth!, decision: 'allow' } };
  assert.notEqual(chainHash(GENESIS_HASH, edited), chainHash(GENESIS_HASH, eth));
});

test('login keys: Bool tests aws:MultiFactorAuthPresent, a number its age, a string list the methods; absent for other callers', () => {
  const mfaOnly = parseSigningPolicy(
    doc({
      Sid: 'Mfa',
      Effect: 'Allow',
      Condition: { Bool: { 'aws:MultiFactorAuthPresent': true }, NumericLessThanEquals: { 'aws:MultiFactorAuthAge': '300' } },
    }),
  );
  const passkey = parseSigningPolicy(
    doc({ Sid: 'Passkey', Effect: 'Allow', Condition: { 'ForAnyValue:StringEquals': { 'symbolon:AuthMethods': ['hwk', 'swk'] } } }),
  );
  const noMfaDeny = parseSigningPolicy(doc(allowAll, { Sid: 'NoMfa', Effect: 'Deny', Condition: { BoolIfExists: { 'aws:MultiFactorAuthPresent': 'false' } } }));
  const facts = (auth: { methods: string[]; authTime?: number } | undefined, at = NOW) => callerFacts(payloadFacts(parsePayload(tx())), auth, at);
  const stepped = { methods: ['otp', 'hwk', 'user', 'mfa'], authTime: NOW - 60_000 };
  const emailOnly = { methods: ['otp'], authTime: NOW - 60_000 };
  assert.equal(evaluateSigningPolicy(mfaOnly, facts(stepped)).decision, 'allow');
  assert.equal(evaluateSigningPolicy(mfaOnly, facts(stepped, NOW + 300_000)).decision, 'deny', 'MFA older than 300 s');
  assert.equal(evaluateSigningPolicy(mfaOnly, facts(emailOnly)).decision, 'deny');
  assert.equal(evaluateSigningPolicy(mfaOnly, facts(undefined)).decision, 'deny', 'an IAM user has no MFA facts');
  assert.equal(evaluateSigningPolicy(passkey, facts(stepped)).decision, 'allow');
  assert.equal(evaluateSigningPolicy(passkey, facts(emailOnly)).decision, 'deny');
  assert.equal(evaluateSigningPolicy(noMfaDeny, facts(emailOnly)).decision, 'deny');
  assert.equal(evaluateSigningPolicy(noMfaDeny, facts(stepped)).decision, 'allow');
  assert.equal(evaluateSigningPolicy(noMfaDeny, facts(undefined)).decision, 'deny', 'BoolIfExists: an absent key matches');
  for (const [condition, fault] of [
    [{ Bool: { 'eth:Value': 'true' } }, /Bool operator tests a boolean key/],
    [{ StringEquals: { 'aws:MultiFactorAuthPresent': 'true' } }, /boolean key takes Bool/],
    [{ Bool: { 'aws:MultiFactorAuthPresent': 'yes' } }, /Bool takes true or false/],
  ] as const) {
    assert.throws(
      () => parseSigningPolicy(doc({ Sid: 'X', Effect: 'Allow', Condition: condition })),
      (e: unknown) => e instanceof SigningPolicyError && fault.test(e.message),
    );
  }
});
