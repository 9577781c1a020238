/**
 * One key's rolling-window usage held in memory (docs/signing-policy.md,
 * "Rolling windows"): the running sums a windowed signing policy reads —
 * signatures, wei per chain, ERC-20 amount per chain and token — for each
 * window the policy names, kept up to date as rows are added and as time
 * moves rows out of a window. It answers exactly what windowFacts
 * (src/kms/signing-window.ts) computes from the rows, without walking them
 * per decision: adding a row and expiring one are O(log n) (a min-heap by
 * time per window), a decision O(windows). Pure: no I/O. The store stays the
 * truth: src/kms/signing-window.ts reads the rows other processes wrote
 * since `lastSeq` under the key's lock before every decision, and rebuilds
 * this from the store when the clock goes back or the policy's windows change.
 */
import type { SigningPolicy } from '../signing-policy/document.js';
import { WINDOWS_READ } from '../signing-policy/evaluateSigningPolicy.js';
import type { PayloadFacts } from '../signing-policy/payloadFacts.js';
import type { SigningUsageRow } from '../storage/signing-usage.repository.js';

type Window = SigningPolicy['windows'][number];

/** A row and, per window, whether it is counted there now. */
interface Tracked {
  row: SigningUsageRow;
  live: boolean[];
}

/** A binary min-heap of rows by time. */
class RowHeap {
  readonly #items: Tracked[] = [];
  get size(): number {
    return this.#items.length;
  }
  peek(): Tracked | undefined {
    return this.#items[0];
  }
  push(t: Tracked): void {
    const a = this.#items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.row.at <= a[i]!.row.at) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }
  pop(): Tracked | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && a[l]!.row.at < a[m]!.row.at) m = l;
      if (r < a.length && a[r]!.row.at < a[m]!.row.at) m = r;
      if (m === i) break;
      [a[m], a[i]] = [a[i]!, a[m]!];
      i = m;
    }
    return top;
  }
}

/** What a row adds to a window's grouped sum: the group (chain; chain and token) and the amount, or undefined (counted only). */
function contribution(kind: Window['kind'], row: SigningUsageRow): { group: string; amount: bigint } | undefined {
  if (kind === 'value') return { group: row.chainId ?? '', amount: BigInt(row.value) };
  if (kind === 'erc20' && row.token !== null && row.erc20Amount !== null)
    return { group: `${row.chainId ?? ''}\n${row.token}`, amount: BigInt(row.erc20Amount) };
  return undefined;
}

/** One window's rows and sums. */
class WindowSum {
  readonly heap = new RowHeap();
  count = 0;
  readonly sums = new Map<string, bigint>();
  constructor(readonly window: Window) {}
  change(row: SigningUsageRow, sign: 1n | -1n): void {
    this.count += sign === 1n ? 1 : -1;
    const c = contribution(this.window.kind, row);
    if (!c) return;
    const next = (this.sums.get(c.group) ?? 0n) + sign * c.amount;
    if (next === 0n) this.sums.delete(c.group);
    else this.sums.set(c.group, next);
  }
}

/** How far before the latest decision a request may have arrived and still be decided from what is held (ms). */
export const CLOCK_STEP_BACK_MS = 60_000;

export class UsageWindows {
  /** Identifies the windows this was built for (see windowsId). */
  readonly windowsId: string;
  /** The highest seq of a row this holds or has read: the store's rows after it are what it has not seen. */
  lastSeq: number;
  /** The latest time decided at; a decision at an earlier time needs a rebuild. */
  #now: number;
  readonly #windows: WindowSum[];
  /** Rows counted in at least one window, by id (to release a reservation). */
  readonly #byId = new Map<string, Tracked>();

  /** `rows`: every row of the key with `at` > now − the longest window (usageSince), read at `now`. */
  constructor(windows: readonly Window[], rows: readonly SigningUsageRow[], now: number) {
    this.windowsId = windowsId(windows);
    this.#windows = windows.map((w) => new WindowSum(w));
    this.#now = now;
    this.lastSeq = 0;
    for (const r of rows) this.add(r);
  }

  /** How many rows are counted in some window. */
  get size(): number {
    return this.#byId.size;
  }

  /** The latest time decided at: a later decision is decided at this time or after (see decisionTime). */
  get now(): number {
    return this.#now;
  }

  /**
   * True when this can answer a request that arrived at `now`: no more than
   * CLOCK_STEP_BACK_MS before the latest decision (a request that waited
   * behind later ones; it is decided at decisionTime). A larger step back —
   * the clock went back — needs the window read again.
   */
  serves(now: number): boolean {
    return now >= this.#now - CLOCK_STEP_BACK_MS;
  }

  /** When a request that arrived at `now` is decided (and recorded): never before an earlier decision, so time only moves forward here. */
  decisionTime(now: number): number {
    return Math.max(now, this.#now);
  }

  /** Counts a row written to the store (its seq moves lastSeq); a row already held is ignored. */
  add(row: SigningUsageRow): void {
    if (row.seq !== undefined && row.seq > this.lastSeq) this.lastSeq = row.seq;
    if (this.#byId.has(row.id)) return;
    const t: Tracked = { row, live: this.#windows.map(() => false) };
    this.#windows.forEach((w, i) => {
      if (row.at <= this.#now - w.window.seconds * 1000) return;
      t.live[i] = true;
      w.heap.push(t);
      w.change(row, 1n);
    });
    if (t.live.some(Boolean)) this.#byId.set(row.id, t);
  }

  /** Stops counting a row (a released reservation). */
  release(id: string): void {
    const t = this.#byId.get(id);
    if (!t) return;
    this.#byId.delete(id);
    this.#windows.forEach((w, i) => {
      if (t.live[i]) {
        t.live[i] = false;
        w.change(t.row, -1n);
      }
    });
  }

  /** Moves time to `now`: rows at or before each window's start leave it (an earlier `now` changes nothing). */
  #advance(now: number): void {
    if (now <= this.#now) return;
    this.#now = now;
    this.#windows.forEach((w, i) => {
      const since = now - w.window.seconds * 1000;
      for (let top = w.heap.peek(); top !== undefined && top.row.at <= since; top = w.heap.peek()) {
        w.heap.pop();
        if (!top.live[i]) continue;
        top.live[i] = false;
        w.change(top.row, -1n);
        if (!top.live.some(Boolean)) this.#byId.delete(top.row.id);
      }
    });
  }

  /**
   * The payload's facts with the window keys added, as windowFacts computes
   * them from the rows: the usage in each window before `now`, plus `request`.
   */
  facts(facts: PayloadFacts, request: SigningUsageRow, now: number): PayloadFacts {
    this.#advance(now);
    const out: PayloadFacts = new Map(facts);
    out.set(WINDOWS_READ, { text: ['true'], numbers: [] });
    for (const w of this.#windows) {
      let n: bigint | undefined;
      if (w.window.kind === 'signatures') n = BigInt(w.count) + 1n;
      else {
        const c = contribution(w.window.kind, request);
        if (c) n = (w.sums.get(c.group) ?? 0n) + c.amount;
      }
      if (n !== undefined) out.set(w.window.key, { text: [n.toString(10)], numbers: [n] });
    }
    return out;
  }
}

/** The identity of a policy's windows: a held UsageWindows serves a policy with the same one. */
export function windowsId(windows: readonly Window[]): string {
  return windows.map((w) => `${w.key}\n${w.kind}\n${w.seconds}`).join('\n\n');
}
