/**
 * `audit verify`: walks the whole chain in sequence order, recomputing every
 * hash (chain.ts), checks every checkpoint's Ed25519 signature and that it
 * commits to the chain's hash at its sequence number, and compares the end of
 * the chain with the chain-head row. It stops at the FIRST problem and names
 * it: which event, and whether it was edited, removed, inserted or reordered.
 *
 * What can be told apart (docs/audit.md, "Limits"): an event whose fields were
 * changed; a missing sequence number; an event removed or inserted with the
 * later ones renumbered; two events swapped. A run of events rewritten with
 * recomputed hashes is consistent by itself; it is caught by the next signed
 * checkpoint, which names the range since the previous one.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../storage/tables.js';
import {
  findEvent,
  listCheckpointKeys,
  listCheckpoints,
  readChainHead,
  readEventRange,
  readEventsAfter,
  type CheckpointKeyRow,
  type CheckpointRow,
  type ChainHead,
  type StoredEvent,
} from '../storage/audit.repository.js';
import { chainHash, GENESIS_HASH } from './chain.js';
import { verifyCheckpoint } from './checkpoint-key.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export type AuditProblemKind =
  | 'edited'
  | 'removed'
  | 'inserted'
  | 'reordered'
  | 'rewritten'
  | 'truncated'
  | 'forged-checkpoint'
  | 'unknown-checkpoint-key'
  | 'removed-checkpoint'
  | 'head-mismatch';

export interface AuditProblem {
  /** The first event that is wrong (for checkpoint problems, the checkpoint's sequence number). */
  seq: number;
  kind: AuditProblemKind;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Events whose hashes were recomputed and matched. */
  eventsVerified: number;
  /** The chain head row when verification started. */
  head: { seq: number; hash: string };
  checkpoints: { total: number; verified: number; last: { seq: number; time: number; keyId: string } | null };
  /** Events after the last verified checkpoint: consistent, but not yet covered by a signature. */
  unsignedEvents: number;
  keys: CheckpointKeyRow[];
  /**
   * Server processes seen on the chain (their ProcessStarted and ProcessStopped
   * events, src/audit/audit-log.ts). One without a clean stop is still running,
   * or stopped uncleanly (kill -9, power loss): then reads it answered in its
   * last SYMBOLON_AUDIT_FLUSH_MS (plus one batch in flight) may be missing from
   * the chain. State-changing requests are never among them (durable before
   * acknowledged).
   */
  processes: { started: number; withoutCleanStop: Array<{ process: string; startedAt: number; startSeq: number }> };
  problem: AuditProblem | null;
}

export interface VerifyOptions {
  /** Hex of the Ed25519 public key checkpoints must be signed with (pinned out of band). */
  publicKey?: string;
  pageSize?: number;
}

const span = (a: number, b: number): string => (a === b ? `event ${a}` : `events ${a}–${b}`);
const were = (a: number, b: number): string => `${span(a, b)} ${a === b ? 'was' : 'were'}`;

/**
 * Verifies the audit log.
 * @throws {Error} only when the store cannot be read; tampering is reported, not thrown.
 */
export async function verifyAuditLog(db: Db, options: VerifyOptions = {}): Promise<VerifyReport> {
  const pageSize = options.pageSize ?? 5000;
  const keys = await listCheckpointKeys(db);
  const keyById = new Map(keys.map((k) => [k.keyId, k]));
  const pinned = options.publicKey?.toLowerCase();
  // Checkpoints before the head: each is written in the transaction that moves
  // the head, so every checkpoint read here is at or below the head read next.
  const checkpoints = await listCheckpoints(db);
  const head = await readChainHead(db);

  let prev = GENESIS_HASH;
  let prev2: string | undefined;
  let expected = 1;
  let verified = 0;
  let cpIndex = 0;
  let cpVerified = 0;
  let lastCp: CheckpointRow | null = null;
  const running = new Map<string, { startedAt: number; startSeq: number }>();
  let started = 0;
  const report = (problem: AuditProblem | null): VerifyReport => ({
    ok: problem === null,
    eventsVerified: verified,
    head: { seq: head.seq, hash: head.hash },
    checkpoints: { total: checkpoints.length, verified: cpVerified, last: lastCp && { seq: lastCp.seq, time: lastCp.time, keyId: lastCp.keyId } },
    unsignedEvents: Math.max(0, expected - 1 - (lastCp?.seq ?? 0)),
    keys,
    processes: { started, withoutCleanStop: [...running].map(([process, p]) => ({ process, ...p })) },
    problem,
  });

  const signatureProblem = (cp: CheckpointRow): AuditProblem | null => {
    const key = keyById.get(cp.keyId);
    if (!key)
      return {
        seq: cp.seq,
        kind: 'unknown-checkpoint-key',
        message: `checkpoint at event ${cp.seq} names key ${cp.keyId.slice(0, 64)}, which is not a recorded checkpoint key`,
      };
    if (pinned !== undefined && key.publicKey !== pinned) {
      return {
        seq: cp.seq,
        kind: 'unknown-checkpoint-key',
        message: `checkpoint at event ${cp.seq} is signed by key ${key.keyId} (${key.publicKey}), not the expected public key`,
      };
    }
    if (!verifyCheckpoint({ seq: cp.seq, hash: cp.hash, time: cp.time, keyId: cp.keyId }, cp.signature, key.publicKey)) {
      return {
        seq: cp.seq,
        kind: 'forged-checkpoint',
        message: `checkpoint at event ${cp.seq}: its signature does not verify with key ${key.keyId} (the checkpoint was forged or altered)`,
      };
    }
    return null;
  };

  let from = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = await readEventRange(db, from, head.seq, pageSize);
    for (const r of rows) {
      if (r.seq < expected) {
        return report({ seq: r.seq, kind: 'inserted', message: `event ${r.seq} was inserted: sequence numbers start at 1` });
      }
      if (r.seq > expected) {
        return report({
          seq: expected,
          kind: 'removed',
          message: `${were(expected, r.seq - 1)} removed (the sequence jumps from ${expected - 1} to ${r.seq})`,
        });
      }
      if (chainHash(prev, r) !== r.hash) return report(await diagnose(db, r, prev, prev2, head, checkpoints));
      prev2 = prev;
      prev = r.hash;
      expected++;
      verified++;
      if (r.service === 'audit') {
        if (r.operation === 'ProcessStarted') {
          started++;
          running.set(r.requestId, { startedAt: r.time, startSeq: r.seq });
        } else if (r.operation === 'ProcessStopped') running.delete(r.requestId);
      }
      while (cpIndex < checkpoints.length && checkpoints[cpIndex]!.seq <= r.seq) {
        const cp = checkpoints[cpIndex]!;
        const bad = signatureProblem(cp);
        if (bad) return report(bad);
        if (cp.seq !== r.seq)
          return report({ seq: cp.seq, kind: 'forged-checkpoint', message: `checkpoint at event ${cp.seq} does not name an event of the chain` });
        if (cp.hash !== r.hash) {
          // An event forged at the checkpoint's position, hash and all, with the
          // real one renumbered after it: the next event says so more precisely.
          const next = await findEvent(db, r.seq + 1);
          if (next && chainHash(r.hash, next) !== next.hash) {
            const d = await diagnose(db, next, r.hash, prev2, head, checkpoints);
            if (d.kind !== 'edited') return report(d);
          }
          const first = (lastCp?.seq ?? 0) + 1;
          return report({
            seq: first,
            kind: 'rewritten',
            message: `${were(first, cp.seq)} rewritten with recomputed hashes: the checkpoint signed at ${new Date(cp.time).toISOString()} commits event ${cp.seq} to hash ${cp.hash}, the chain now has ${r.hash}`,
          });
        }
        lastCp = cp;
        cpVerified++;
        cpIndex++;
      }
    }
    if (rows.length < pageSize) break;
    from = rows[rows.length - 1]!.seq + 1;
  }

  const last = expected - 1;
  // Signed checkpoints beyond the last event: the end of the log was cut off.
  if (cpIndex < checkpoints.length) {
    for (const cp of checkpoints.slice(cpIndex)) {
      const bad = signatureProblem(cp);
      if (bad) return report(bad);
    }
    const covered = checkpoints[checkpoints.length - 1]!.seq;
    const end = Math.max(covered, head.seq);
    return report({
      seq: last + 1,
      kind: 'truncated',
      message: `${were(last + 1, end)} removed from the end of the log (a signed checkpoint covers event ${covered})`,
    });
  }
  if (head.seq > last) {
    return report({
      seq: last + 1,
      kind: 'truncated',
      message: `${were(last + 1, head.seq)} removed from the end of the log (the chain head is at event ${head.seq})`,
    });
  }
  if (head.hash !== prev) {
    return report({
      seq: last,
      kind: 'head-mismatch',
      message: `the chain head records hash ${head.hash} for event ${last}, the chain has ${prev} (the head or the last event was rewritten)`,
    });
  }
  if (head.checkpointSeq > 0 && !checkpoints.some((c) => c.seq === head.checkpointSeq)) {
    return report({
      seq: head.checkpointSeq,
      kind: 'removed-checkpoint',
      message: `the checkpoint at event ${head.checkpointSeq} recorded in the chain head was removed`,
    });
  }
  // Rows beyond the head, read before the head is read again: a process appending
  // now moves the head in the same transaction as its rows, so only rows that
  // never went through the log remain beyond it.
  const beyond = await readEventsAfter(db, head.seq, 1);
  if (beyond.length > 0) {
    const now = await readChainHead(db);
    if (beyond[0]!.seq > now.seq) {
      return report({
        seq: beyond[0]!.seq,
        kind: 'inserted',
        message: `event ${beyond[0]!.seq} was inserted after the end of the chain (the chain head is at event ${now.seq})`,
      });
    }
  }
  return report(null);
}

/** Says what is wrong with event `r`, the first whose hash does not follow from `prev`. */
async function diagnose(db: Db, r: StoredEvent, prev: string, prev2: string | undefined, head: ChainHead, checkpoints: CheckpointRow[]): Promise<AuditProblem> {
  const m = r.seq;
  const next = await findEvent(db, m + 1);

  // A later record that belongs at m: events were swapped, or m is an insertion
  // and the real event m was renumbered to m + 1.
  let from = m + 1;
  for (;;) {
    const rows = await readEventRange(db, from, Number.MAX_SAFE_INTEGER, 5000);
    for (const x of rows) {
      if (chainHash(prev, { ...x, seq: m }) === x.hash) {
        const beforeX = x.seq - 1 === m ? x.hash : (await findEvent(db, x.seq - 1))?.hash;
        if (beforeX !== undefined && chainHash(beforeX, { ...r, seq: x.seq }) === r.hash) {
          return { seq: m, kind: 'reordered', message: `event ${m} was reordered: events ${m} and ${x.seq} were swapped` };
        }
        if (x.seq === m + 1) {
          return { seq: m, kind: 'inserted', message: `event ${m} was inserted: it is not part of the chain, and the events after it were renumbered` };
        }
        return { seq: m, kind: 'reordered', message: `event ${m} was reordered: its record is stored as event ${x.seq}` };
      }
      if (chainHash(prev, { ...x, seq: m }) === r.hash) {
        return {
          seq: m,
          kind: 'reordered',
          message: `event ${m} was reordered: its fields are stored in event ${x.seq} (the fields of events ${m} and ${x.seq} were swapped)`,
        };
      }
    }
    if (rows.length < 5000) break;
    from = rows[rows.length - 1]!.seq + 1;
  }

  // m - 1 verified only because its hash was computed for it: without it, m follows.
  if (prev2 !== undefined && chainHash(prev2, { ...r, seq: m - 1 }) === r.hash) {
    return {
      seq: m - 1,
      kind: 'inserted',
      message: `event ${m - 1} was inserted: the chain continues from event ${m - 2} without it, and the events after it were renumbered`,
    };
  }
  // The record at m was written as m + 1, and the next one as m + 2.
  if (next && chainHash(r.hash, { ...next, seq: next.seq + 1 }) === next.hash) {
    return { seq: m, kind: 'removed', message: `event ${m} was removed and the events after it were renumbered` };
  }
  // The stored hash is still the link the rest of the chain was built on: the fields changed.
  const linkHolds = next
    ? chainHash(r.hash, next) === next.hash
    : (head.seq === m && head.hash === r.hash) || checkpoints.some((c) => c.seq === m && c.hash === r.hash);
  if (linkHolds) {
    return {
      seq: m,
      kind: 'edited',
      message: `event ${m} was edited: its fields no longer match the hash it was written with${m > 1 ? ` (unless event ${m - 1} was rewritten together with its hash, which only a checkpoint can tell)` : ''}`,
    };
  }
  return {
    seq: m,
    kind: 'edited',
    message: `event ${m} was edited: its fields and its hash no longer follow from event ${m - 1} (its hash was rewritten too)`,
  };
}
