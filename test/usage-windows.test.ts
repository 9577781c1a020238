/**
 * Rolling windows held in memory (src/kms/usage-windows.ts) and what a
 * windowed decision costs the store (src/kms/signing-window.ts):
 * - fast-check property: after any sequence of rows added in any order
 *   (other processes' clocks differ), time moving on and reservations
 *   released, the held sums give exactly the facts windowFacts computes from
 *   the rows themselves — every window kind, several chains and tokens;
 * - on the real store (SQLite, or PostgreSQL with DATABASE_URL): with 400
 *   signatures already in the window, a decision after the first reads no
 *   row and writes exactly one (one INSERT, no UPDATE or DELETE), counted by
 *   a Kysely plugin that sees every statement; rows another process writes
 *   (a second cache over the same store) are the only ones read, and counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { parsePayload } from '../src/eth/payload.js';
import type { OperationContext } from '../src/kms/context.js';
import { KeyCache } from '../src/kms/key-cache.js';
import type { KeyRecord } from '../src/kms/model.js';
import { decideWithWindows, usageOf, windowFacts } from '../src/kms/signing-window.js';
import { CLOCK_STEP_BACK_MS, UsageWindows } from '../src/kms/usage-windows.js';
import { parseSigningPolicy } from '../src/signing-policy/document.js';
import { payloadFacts, type PayloadFacts } from '../src/signing-policy/payloadFacts.js';
import { dropPgSchema, openStore, type Store } from '../src/storage/database.js';
import { putSigningPolicy } from '../src/storage/signing-policies.repository.js';
import { recordUsage, type SigningUsageRow } from '../src/storage/signing-usage.repository.js';

const POLICY = parseSigningPolicy(
  JSON.stringify({
    Version: '2026-12-01',
    Statement: [
      {
        Sid: 'Capped',
        Effect: 'Allow',
        Condition: {
          NumericLessThanEquals: {
            'eth:ValueInWindow/60': '1000000000000000000000000',
            'eth:ValueInWindow/3600': '1000000000000000000000000',
            'eth:Erc20AmountInWindow/600': '1000000000000000000000000',
            'eth:SignaturesInWindow/120': '1000000000',
          },
        },
      },
    ],
  }),
);

function windowValues(f: PayloadFacts): Record<string, string | undefined> {
  return Object.fromEntries(POLICY.windows.map((w) => [w.key, f.get(w.key)?.text[0]]));
}

const rowArb = fc.record({
  // Coarse times (whole 30 s steps) so that rows land exactly on window edges too.
  at: fc.integer({ min: 0, max: 130 }).map((n) => n * 30_000),
  chainId: fc.constantFrom('1', '31337', null),
  value: fc.bigInt({ min: 0n, max: 2n ** 80n }),
  token: fc.constantFrom(null, '0x' + 'aa'.repeat(20), '0x' + 'bb'.repeat(20)),
  amount: fc.bigInt({ min: 0n, max: 2n ** 70n }),
});

test('held window sums equal windowFacts over the rows, whatever the order of rows, time and releases', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          rowArb.map((r) => ({ op: 'add' as const, r })),
          fc.integer({ min: 0, max: 20 }).map((n) => ({ op: 'tick' as const, dt: n * 30_000 })),
          fc.nat().map((n) => ({ op: 'release' as const, n })),
        ),
        { maxLength: 80 },
      ),
      rowArb,
      (ops, req) => {
        let now = 3_600_000;
        let seq = 0;
        const stored: SigningUsageRow[] = [];
        const held = new UsageWindows(POLICY.windows, [], now);
        const request: SigningUsageRow = {
          id: 'request',
          keyId: 'k',
          at: now,
          chainId: req.chainId,
          value: req.value.toString(),
          token: req.token,
          erc20Amount: req.token ? req.amount.toString() : null,
        };
        const base = payloadFacts(parsePayload({ type: 'message', message: 'x' }));
        for (const o of ops) {
          if (o.op === 'tick') now += o.dt;
          else if (o.op === 'add') {
            const row: SigningUsageRow = {
              seq: ++seq,
              id: `r${seq}`,
              keyId: 'k',
              // Rows land around now, some from a clock behind or ahead of this one.
              at: now - 3_600_000 + o.r.at,
              chainId: o.r.chainId,
              value: o.r.value.toString(),
              token: o.r.token,
              erc20Amount: o.r.token ? o.r.amount.toString() : null,
            };
            stored.push(row);
            held.add(row);
          } else if (stored.length > 0) {
            const [gone] = stored.splice(o.n % stored.length, 1);
            held.release(gone!.id);
          }
          const r = { ...request, at: now };
          assert.deepEqual(windowValues(held.facts(base, r, now)), windowValues(windowFacts(POLICY, base, r, stored, now)));
        }
        assert.ok(held.lastSeq === seq);
      },
    ),
    { numRuns: 300 },
  );
});

test('a held window decides forward in time; a clock gone back further than a minute needs the window read again', () => {
  const held = new UsageWindows(POLICY.windows, [], 1_000_000);
  assert.equal(held.serves(1_000_000), true);
  assert.equal(held.serves(1_000_000 - CLOCK_STEP_BACK_MS), true, 'a request that waited behind later ones');
  assert.equal(held.decisionTime(1_000_000 - 5), 1_000_000, 'it is decided (and recorded) at the latest decision time');
  assert.equal(held.decisionTime(1_000_007), 1_000_007);
  assert.equal(held.serves(1_000_000 - CLOCK_STEP_BACK_MS - 1), false, 'the clock went back: the caller reads the window again');
});

/** Counts the statements run through a Kysely instance, by kind, and the rows they returned. */
class Counter implements KyselyPlugin {
  kinds: string[] = [];
  rowsRead = 0;
  readonly #pending = new WeakMap<object, string>();
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.kinds.push(args.node.kind);
    this.#pending.set(args.queryId, args.node.kind);
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.#pending.get(args.queryId) === 'SelectQueryNode') this.rowsRead += args.result.rows.length;
    return args.result;
  }
  reset(): void {
    this.kinds = [];
    this.rowsRead = 0;
  }
}

test(`a windowed decision costs one indexed insert and reads only new rows (${process.env.DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'usage-windows-'));
  const url = process.env.DATABASE_URL;
  const pgSchema = url ? `usage16_${Math.random().toString(16).slice(2, 10)}` : undefined;
  const store = await openStore({ databaseUrl: url, sqliteFile: join(dir, 'store.db'), ...(pgSchema ? { pgSchema } : {}) });
  try {
    const keyId = '00000000-0000-4000-8000-0000000000a1';
    const text = JSON.stringify({
      Version: '2026-12-01',
      Statement: [{ Sid: 'Capped', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:SignaturesInWindow/3600': '100000' } } }],
    });
    const policy = parseSigningPolicy(text);
    await putSigningPolicy(store.db, { keyId, policy: text, updatedAt: Date.now(), updatedBy: 'test' }, undefined);
    const payload = parsePayload({
      type: 'transaction',
      transaction: { chainId: 31337, nonce: 0, gas: 21000, maxFeePerGas: '2', maxPriorityFeePerGas: '1', to: `0x${'11'.repeat(20)}`, value: '5' },
    });
    const facts = payloadFacts(payload);
    const t0 = Date.now();
    for (let i = 0; i < 400; i++) await recordUsage(store.db, usageOf(payload, facts, keyId, t0 - 10_000 + i, `prefill-${i}`));
    const counter = new Counter();
    const counted: Store = { ...store, db: store.db.withPlugin(counter) };
    const key = { keyId } as KeyRecord;
    const process1 = new KeyCache({ ttlMs: 60_000 });
    const process2 = new KeyCache({ ttlMs: 60_000 });
    let now = t0;
    const decide = async (cache: KeyCache) => {
      const ctx = { deps: { store: counted, keyCache: cache }, info: { now: ++now } } as unknown as OperationContext;
      const d = await decideWithWindows(ctx, key, policy, payload, facts);
      assert.equal(d.decision.decision, 'allow');
      return d.facts.get('eth:signaturesinwindow/3600')?.text[0] ?? d.facts.get(policy.windows[0]!.key)?.text[0];
    };
    // The first decision in a process reads the window (400 rows) once.
    assert.equal(await decide(process1), '401');
    assert.ok(counter.rowsRead >= 400);
    const writes = (kinds: string[]) => kinds.filter((k) => k !== 'SelectQueryNode');
    for (let i = 0; i < 20; i++) {
      counter.reset();
      assert.equal(await decide(process1), String(402 + i));
      assert.deepEqual(writes(counter.kinds), ['InsertQueryNode'], 'exactly one write: the usage row');
      // The key's lock (PostgreSQL: SELECT … FOR UPDATE of its one policy row) and the read of newer rows.
      assert.equal(counter.kinds.length, store.dialect === 'postgres' ? 3 : 2, counter.kinds.join(','));
      assert.equal(counter.rowsRead, store.dialect === 'postgres' ? 1 : 0, 'no usage row is read again');
    }
    // Another process signs 3 times: the first process reads exactly those rows, and counts them.
    await decide(process2);
    await decide(process2);
    await decide(process2);
    counter.reset();
    assert.equal(await decide(process1), String(400 + 1 + 20 + 3 + 1));
    assert.equal(counter.rowsRead - (store.dialect === 'postgres' ? 1 : 0), 3, "only the other process's rows are read");
    assert.deepEqual(writes(counter.kinds), ['InsertQueryNode']);
  } finally {
    await store.close();
    if (url && pgSchema) await dropPgSchema(url, pgSchema);
    rmSync(dir, { recursive: true, force: true });
  }
});
