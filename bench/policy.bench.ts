/**
 * `npm run bench:policy`: the median time to evaluate a 20-statement signing
 * policy (src/signing-policy/) against an ERC-20 transfer — the payload's
 * facts already read — and, beside it, the same with reading the facts
 * (payloadFacts: ERC-20 calldata decoded by viem) included, in this process.
 * The policy is shaped so every statement is tested (only the last Allow
 * applies: the worst case for order). Target (issue #16): <= 20 µs median.
 * Samples time BATCH evaluations each; the median of SAMPLES samples is
 * printed, with the target and the ratio; results go to bench/results/policy.json.
 *
 * BENCH_SAMPLES (default 400), BENCH_BATCH (evaluations per sample, 200).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { encodeFunctionData, erc20Abi } from 'viem';
import { parsePayload } from '../src/eth/payload.js';
import { parseSigningPolicy } from '../src/signing-policy/document.js';
import { payloadFacts } from '../src/signing-policy/payloadFacts.js';
import { evaluateSigningPolicy } from '../src/signing-policy/evaluateSigningPolicy.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 400);
const BATCH = Number(process.env.BENCH_BATCH ?? 200);
const TARGET_US = 20;

const TOKEN = '0x3333333333333333333333333333333333333333';
const TREASURY = '0x1111111111111111111111111111111111111111';
const addr = (i: number) => `0x${i.toString(16).padStart(40, 'a')}`;

const statements: Record<string, unknown>[] = [];
for (let i = 0; i < 8; i++)
  statements.push({
    Sid: `DenyAttacker${i}`,
    Effect: 'Deny',
    Condition: { 'ForAnyValue:StringEqualsIgnoreCase': { 'eth:Erc20Recipient': [addr(i * 3), addr(i * 3 + 1)] } },
  });
statements.push({ Sid: 'DenyCreate', Effect: 'Deny', Condition: { Null: { 'eth:To': 'true' }, StringEquals: { 'eth:PayloadType': 'transaction' } } });
statements.push({ Sid: 'DenyUnlimited', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Erc20Amount': '1000000000000000000000000' } } });
statements.push({ Sid: 'DenyOtherChains', Effect: 'Deny', Condition: { NumericNotEquals: { 'eth:ChainId': ['1', '31337'] } } });
statements.push({ Sid: 'DenyHighFee', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:MaxFeePerGas': '500000000000' } } });
for (let i = 0; i < 3; i++)
  statements.push({
    Sid: `ApproveBig${i}`,
    Effect: 'RequireApproval',
    Condition: { StringEqualsIgnoreCase: { 'eth:To': addr(100 + i) }, NumericGreaterThan: { 'eth:Value': '10000000000000000000' } },
    Approval: { Approvers: ['arn:aws:iam::000000000000:user/alice'], MinApprovals: 1 },
  });
for (let i = 0; i < 4; i++)
  statements.push({
    Sid: `AllowPay${i}`,
    Effect: 'Allow',
    Condition: { StringEqualsIgnoreCase: { 'eth:To': addr(200 + i) }, NumericLessThanEquals: { 'eth:Value': '1000000000000000000' } },
  });
statements.push({
  Sid: 'AllowTokenToTreasury',
  Effect: 'Allow',
  Condition: {
    StringEqualsIgnoreCase: { 'eth:To': TOKEN, 'eth:Erc20Recipient': TREASURY },
    StringEquals: { 'eth:FunctionSelector': '0xa9059cbb' },
    NumericLessThanEquals: { 'eth:Erc20Amount': '5000000000' },
  },
});
if (statements.length !== 20) throw new Error(`the bench policy has ${statements.length} statements`);
const policy = parseSigningPolicy(JSON.stringify({ Version: '2026-12-01', Statement: statements }));

const payload = parsePayload({
  type: 'transaction',
  transaction: {
    chainId: 1,
    nonce: 7,
    gas: 60000,
    maxFeePerGas: '30000000000',
    maxPriorityFeePerGas: '1000000000',
    to: TOKEN,
    value: '0',
    data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [TREASURY, 1_000_000n] }),
  },
});
const facts = payloadFacts(payload);
const check = evaluateSigningPolicy(policy, facts);
if (check.decision !== 'allow' || check.statement !== 'AllowTokenToTreasury') throw new Error('the bench payload must be allowed by the last statement');

function medianMicros(fn: () => void): { median: number; p99: number } {
  for (let i = 0; i < 2000; i++) fn();
  const per: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) fn();
    per.push(((performance.now() - t0) * 1000) / BATCH);
  }
  per.sort((a, b) => a - b);
  return { median: per[Math.floor(per.length / 2)]!, p99: per[Math.floor(per.length * 0.99)]! };
}

let sink = 0;
const evaluate = medianMicros(() => {
  sink += evaluateSigningPolicy(policy, facts).decision.length;
});
const withFacts = medianMicros(() => {
  sink += evaluateSigningPolicy(policy, payloadFacts(payload)).decision.length;
});
if (sink === 0) throw new Error('unreachable');

const round = (x: number) => Math.round(x * 100) / 100;
console.log(`signing policy: ${statements.length} statements, ERC-20 transfer allowed by the last one`);
console.log(`  evaluate (facts read):     median ${round(evaluate.median)} µs, p99 of samples ${round(evaluate.p99)} µs`);
console.log(`  payloadFacts + evaluate:   median ${round(withFacts.median)} µs, p99 of samples ${round(withFacts.p99)} µs`);
console.log(
  `  target: evaluation <= ${TARGET_US} µs median -> ${evaluate.median <= TARGET_US ? 'met' : 'NOT met'} (${round(TARGET_US / evaluate.median)}x headroom)`,
);

mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/policy.json',
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      statements: statements.length,
      samples: SAMPLES,
      batch: BATCH,
      evaluateMedianMicros: round(evaluate.median),
      evaluateP99Micros: round(evaluate.p99),
      factsAndEvaluateMedianMicros: round(withFacts.median),
      factsAndEvaluateP99Micros: round(withFacts.p99),
      targetMicros: TARGET_US,
      met: evaluate.median <= TARGET_US,
    },
    null,
    2,
  )}\n`,
);
