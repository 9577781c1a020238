/**
 * `npm run bench:policy-window`: the cost of a rolling-window signing-policy
 * decision (src/kms/signing-window.ts decideWithWindows: one transaction
 * that locks the key, reads its usage in the window, evaluates and inserts
 * one usage row) with the real store, in this process, against its ceiling —
 * the same policy decided statelessly (evaluateSigningPolicy on the payload's
 * facts, no store). Embedded SQLite in a temporary directory, or PostgreSQL
 * (a schema of its own, dropped after) when DATABASE_URL is set. The window
 * starts with PREFILL signatures in it and grows by one per decision.
 * Prints medians and the ratio; writes bench/results/policy-window[-postgres].json.
 *
 * BENCH_SAMPLES (decisions, default 500), BENCH_PREFILL (default 1000).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { parsePayload } from '../src/eth/payload.js';
import type { OperationContext } from '../src/kms/context.js';
import { KeyCache } from '../src/kms/key-cache.js';
import type { KeyRecord } from '../src/kms/model.js';
import { decideWithWindows, usageOf } from '../src/kms/signing-window.js';
import { parseSigningPolicy } from '../src/signing-policy/document.js';
import { evaluateSigningPolicy, WINDOWS_READ } from '../src/signing-policy/evaluateSigningPolicy.js';
import { payloadFacts } from '../src/signing-policy/payloadFacts.js';
import { openStore } from '../src/storage/database.js';
import { putSigningPolicy } from '../src/storage/signing-policies.repository.js';
import { recordUsage } from '../src/storage/signing-usage.repository.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 500);
const PREFILL = Number(process.env.BENCH_PREFILL ?? 1000);
const url = process.env.DATABASE_URL;
const schema = url ? `window16_bench_${process.pid}` : undefined;
const dir = mkdtempSync(join(tmpdir(), 'window16-bench-'));

const text = JSON.stringify({
  Version: '2026-12-01',
  Statement: [
    { Sid: 'NoOtherChain', Effect: 'Deny', Condition: { NumericNotEquals: { 'eth:ChainId': '31337' } } },
    {
      Sid: 'Capped',
      Effect: 'Allow',
      Condition: { NumericLessThanEquals: { 'eth:ValueInWindow/86400': '1000000000000000000000000', 'eth:SignaturesInWindow/3600': '1000000000' } },
    },
  ],
});
const policy = parseSigningPolicy(text);
const payload = parsePayload({
  type: 'transaction',
  transaction: {
    chainId: 31337,
    nonce: 0,
    gas: 21000,
    maxFeePerGas: '30000000000',
    maxPriorityFeePerGas: '1000000000',
    to: `0x${'11'.repeat(20)}`,
    value: '1000',
  },
});
const facts = payloadFacts(payload);

const store = await openStore({ databaseUrl: url, sqliteFile: join(dir, 'bench.db'), ...(schema ? { pgSchema: schema } : {}) });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 1000) / 1000;
try {
  const keyId = '00000000-0000-4000-8000-000000000016';
  await putSigningPolicy(store.db, { keyId, policy: text, updatedAt: Date.now(), updatedBy: 'bench' }, undefined);
  const now0 = Date.now();
  for (let i = 0; i < PREFILL; i++) await recordUsage(store.db, usageOf(payload, facts, keyId, now0 - 1000 - i, `prefill-${i}`));
  const key = { keyId } as KeyRecord;
  // One process's key cache: the window is read once, then held (src/kms/usage-windows.ts).
  const keyCache = new KeyCache({ ttlMs: 60_000 });
  const ctx = () => ({ deps: { store, keyCache }, info: { now: Date.now() } }) as unknown as OperationContext;

  // Stateless ceiling: the same policy without the store (window facts as if read), microseconds per decision.
  const stateless: number[] = [];
  const withWindows = new Map(facts);
  withWindows.set(WINDOWS_READ, { text: ['true'], numbers: [] });
  for (const w of policy.windows) withWindows.set(w.key, { text: ['1000'], numbers: [1000n] });
  for (let s = 0; s < 200; s++) {
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) if (evaluateSigningPolicy(policy, withWindows).decision !== 'allow') throw new Error('not allowed');
    stateless.push((performance.now() - t0) / 200);
  }
  const windowed: number[] = [];
  for (let i = 0; i < 20; i++) await decideWithWindows(ctx(), key, policy, payload, facts);
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = performance.now();
    const d = await decideWithWindows(ctx(), key, policy, payload, facts);
    windowed.push(performance.now() - t0);
    if (d.decision.decision !== 'allow') throw new Error('not allowed');
  }
  const ceiling = median(stateless);
  const cost = median(windowed);
  const which = store.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite';
  console.log(`rolling-window decision (${which}, ${PREFILL}..${PREFILL + SAMPLES + 20} signatures in the window):`);
  console.log(`  stateless evaluate (ceiling): median ${round(ceiling * 1000)} µs`);
  console.log(`  windowed decision (lock, read, evaluate, one insert): median ${round(cost)} ms`);
  console.log(`  ratio: ${Math.round(cost / ceiling)}x the stateless decision`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    `bench/results/policy-window${store.dialect === 'postgres' ? '-postgres' : ''}.json`,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model,
        store: store.dialect,
        prefill: PREFILL,
        samples: SAMPLES,
        statelessMedianMicros: round(ceiling * 1000),
        windowedMedianMillis: round(cost),
        ratio: Math.round(cost / ceiling),
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  if (url && schema) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  }
}
