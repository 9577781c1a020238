/**
 * Rolling-window limits of signing policies (docs/signing-policy.md): the
 * decision on a key whose signing policy names eth:ValueInWindow/…,
 * eth:Erc20AmountInWindow/… or eth:SignaturesInWindow/…. In one store
 * transaction, under a per-key lock (src/storage/signing-usage.repository.ts
 * inUsageTransaction), it brings the key's usage up to date, adds the request
 * to it, evaluates the policy with those sums as facts and, when it allows,
 * records the request (one indexed insert) — so decisions on one key are
 * serialized across every server process over the store and the limit,
 * which counts the request being decided, is never exceeded together. A
 * reservation whose signing then fails is released.
 *
 * The usage is held in memory between decisions (usage-windows.ts, in the
 * key cache): under the lock, a decision reads only the rows written after
 * the last one it holds (usageAfter: one indexed range read, empty unless
 * another process signed with the key), so a decision costs the lock, that
 * read and the one insert however many signatures the window holds. The
 * first decision on a key in a process, one after the policy's windows
 * changed, after the clock went back more than a minute, or after a failed
 * transaction reads
 * the whole window (usageSince). A reservation another process releases
 * stays counted here until it leaves the window: a limit may refuse early,
 * never late.
 */
import { randomUUID } from 'node:crypto';
import type { SignPayload } from '../eth/payload.js';
import type { SigningPolicy } from '../signing-policy/document.js';
import { evaluateSigningPolicy, WINDOWS_READ, type SigningDecision } from '../signing-policy/evaluateSigningPolicy.js';
import { MAX_WINDOW_SECONDS } from '../signing-policy/keys.js';
import type { PayloadFacts } from '../signing-policy/payloadFacts.js';
import {
  inUsageTransaction,
  pruneUsage,
  recordUsage,
  releaseUsage,
  type SigningUsageRow,
  usageAfter,
  usageSince,
} from '../storage/signing-usage.repository.js';
import type { OperationContext } from './context.js';
import type { KeyRecord } from './model.js';
import { UsageWindows, windowsId } from './usage-windows.js';

const ERC20_SENDS = new Set(['0xa9059cbb', '0x23b872dd']);
/** How often one process prunes one key's usage older than the longest window (ms). */
const PRUNE_EVERY_MS = 3600_000;
const lastPruned = new Map<string, number>();

/** What this request adds to the windows: its chain, wei value and, for an ERC-20 transfer/transferFrom, token and amount. */
export function usageOf(payload: SignPayload, facts: PayloadFacts, keyId: string, at: number, id: string = randomUUID()): SigningUsageRow {
  const first = (k: string) => facts.get(k)?.text[0];
  const selector = first('eth:functionselector');
  const token = payload.type === 'transaction' && selector && ERC20_SENDS.has(selector) ? first('eth:to') : undefined;
  const amount = token ? first('eth:erc20amount') : undefined;
  return {
    id,
    keyId,
    at,
    chainId: first('eth:chainid') ?? null,
    value: payload.type === 'transaction' ? (first('eth:value') ?? '0') : '0',
    token: token && amount !== undefined ? token : null,
    erc20Amount: token && amount !== undefined ? amount : null,
  };
}

/**
 * The payload's facts with the policy's window keys added: for each window,
 * the key's usage in the last `seconds` before `now` plus this request —
 * value: wei on the request's chain; erc20: the amount of transfers of the
 * request's token on its chain (absent when the request is no ERC-20
 * transfer); signatures: the count. Pure.
 */
export function windowFacts(policy: SigningPolicy, facts: PayloadFacts, request: SigningUsageRow, rows: readonly SigningUsageRow[], now: number): PayloadFacts {
  const out: PayloadFacts = new Map(facts);
  out.set(WINDOWS_READ, { text: ['true'], numbers: [] });
  for (const w of policy.windows) {
    const since = now - w.seconds * 1000;
    const recent = rows.filter((r) => r.at > since && r.id !== request.id);
    let n: bigint | undefined;
    if (w.kind === 'signatures') n = BigInt(recent.length) + 1n;
    else if (w.kind === 'value') {
      n = BigInt(request.value);
      for (const r of recent) if (r.chainId === request.chainId) n += BigInt(r.value);
    } else if (request.token !== null && request.erc20Amount !== null) {
      n = BigInt(request.erc20Amount);
      for (const r of recent) if (r.token === request.token && r.chainId === request.chainId && r.erc20Amount !== null) n += BigInt(r.erc20Amount);
    }
    if (n !== undefined) out.set(w.key, { text: [n.toString(10)], numbers: [n] });
  }
  return out;
}

export interface WindowedDecision {
  decision: SigningDecision;
  /** The facts the policy was evaluated with (window sums included). */
  facts: PayloadFacts;
  /** The usage row recorded for an allowed request: release it if signing fails. */
  reservation: string | undefined;
}

/**
 * Decides a request on a key whose signing policy names window keys, and
 * reserves its usage when allowed, atomically (see the module comment).
 */
export async function decideWithWindows(
  ctx: OperationContext,
  key: KeyRecord,
  policy: SigningPolicy,
  payload: SignPayload,
  facts: PayloadFacts,
): Promise<WindowedDecision> {
  const { store, keyCache } = ctx.deps;
  const now = ctx.info.now;
  const request = usageOf(payload, facts, key.keyId, now);
  try {
    return await inUsageTransaction(store, key.keyId, async (trx) => {
      const usage = await currentUsage(ctx, trx, key.keyId, policy.windows);
      // Decided, and recorded, at the later of its arrival and the key's latest decision (usage-windows.ts decisionTime).
      request.at = usage.decisionTime(now);
      const withWindows = usage.facts(facts, request, request.at);
      const decision = evaluateSigningPolicy(policy, withWindows);
      if (decision.decision !== 'allow') return { decision, facts: withWindows, reservation: undefined };
      usage.add({ ...request, seq: await recordUsage(trx, request) });
      const pruned = lastPruned.get(key.keyId);
      if (pruned === undefined || now - pruned >= PRUNE_EVERY_MS) {
        if (lastPruned.size >= 10_000) lastPruned.clear();
        lastPruned.set(key.keyId, now);
        await pruneUsage(trx, key.keyId, now - MAX_WINDOW_SECONDS * 1000);
      }
      return { decision, facts: withWindows, reservation: request.id };
    });
  } catch (e) {
    // What is held may now count a row the store rolled back: read it afresh next time.
    keyCache.dropUsageWindows(key.keyId);
    throw e;
  }
}

/**
 * The key's usage for `windows`, up to date with the store (call under the
 * key's lock): the held one plus the rows written since it last looked, or a
 * new one read from the store.
 */
async function currentUsage(
  ctx: OperationContext,
  trx: Parameters<typeof usageSince>[0],
  keyId: string,
  windows: SigningPolicy['windows'],
): Promise<UsageWindows> {
  const { keyCache } = ctx.deps;
  const now = ctx.info.now;
  const held = keyCache.getUsageWindows(keyId);
  if (held && held.windowsId === windowsId(windows) && held.serves(now)) {
    for (const row of await usageAfter(trx, keyId, held.lastSeq)) held.add(row);
    return held;
  }
  const longest = Math.max(...windows.map((w) => w.seconds));
  const usage = new UsageWindows(windows, await usageSince(trx, keyId, now - longest * 1000), now);
  keyCache.putUsageWindows(keyId, usage);
  return usage;
}

/** Releases a reservation whose signing failed (best effort: a failure here leaves the limit counting it, never exceeded). */
export async function releaseReservation(ctx: OperationContext, keyId: string, id: string): Promise<void> {
  ctx.deps.keyCache.getUsageWindows(keyId)?.release(id);
  await releaseUsage(ctx.deps.store.db, id).catch(() => undefined);
}

/**
 * Counts an approved signing request once (its id: the request's), however
 * often its signature is fetched; under the key's lock like every usage row,
 * so that on one key rows are written in seq order.
 */
export async function recordApprovedUsage(ctx: OperationContext, key: KeyRecord, payload: SignPayload, facts: PayloadFacts, changeId: string): Promise<void> {
  const row = usageOf(payload, facts, key.keyId, ctx.info.now, `approved:${changeId}`);
  await inUsageTransaction(ctx.deps.store, key.keyId, (trx) => recordUsage(trx, row));
}
