/**
 * The hash chain of audit events (format v1, see docs/audit.md).
 *
 *   hash(n) = SHA-256( hash(n-1) || UTF-8(canonicalJson(record(n))) )
 *   hash(0) = 32 zero bytes
 *
 * where record(n) holds the event's fields and its sequence number, so an
 * event that is edited, removed, inserted or moved breaks the chain at that
 * point. `eth` (a signing decision's decoded fields) and `releasePurpose`
 * (an attested release's stated purpose) are part of record(n) only when the
 * event has them, so every event without them hashes as before. Strings are made well-formed (lone surrogates and NUL become U+FFFD)
 * before hashing, so what is hashed is exactly what both SQL dialects store.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, type CanonicalValue } from '../crypto/canonical-json.js';
import type { AuditEvent } from './event.js';
import type { ChainedEvent } from '../storage/audit.repository.js';

/** hash(0): the chain starts from 32 zero bytes. */
export const GENESIS_HASH = '0'.repeat(64);

export type { ChainedEvent } from '../storage/audit.repository.js';

// PostgreSQL text cannot hold NUL, and neither dialect stores a lone surrogate
// as given; both would make the stored event differ from the hashed one.
// String.prototype.toWellFormed is in Node 20; TypeScript's ES2023 lib does not declare it.
const toWellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

function clean(s: string): string {
  const w = toWellFormed(s);
  return w.includes('\u0000') ? w.replace(/\u0000/g, '\uFFFD') : w;
}

function cleanOrNull(s: string | null): string | null {
  return s === null ? null : clean(s);
}

function cleanMap(m: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[clean(k)] = clean(String(v));
  return out;
}

/** Prepares an event for the chain at `seq`: the exact values that are stored and hashed. */
export function toChained(seq: number, e: AuditEvent): ChainedEvent {
  return {
    seq,
    time: Math.trunc(e.time),
    requestId: clean(e.requestId),
    service: clean(e.service),
    operation: clean(e.operation),
    principalArn: cleanOrNull(e.principalArn),
    principalTags: cleanMap(e.principalTags),
    accessKeyId: cleanOrNull(e.accessKeyId),
    sourceIp: clean(e.sourceIp),
    userAgent: clean(e.userAgent),
    keyArn: cleanOrNull(e.keyArn),
    encryptionContext: e.encryptionContext === null ? null : cleanMap(e.encryptionContext),
    signingAlgorithm: cleanOrNull(e.signingAlgorithm),
    outcome: clean(e.outcome),
    errorCode: cleanOrNull(e.errorCode),
    eth: e.eth ? cleanEth(e.eth) : null,
    releasePurpose: e.releasePurpose ? clean(e.releasePurpose) : null,
  };
}

/** The eth fields as stored and hashed: defined fields only, strings made well formed (`to` may be null). */
function cleanEth(eth: NonNullable<AuditEvent['eth']>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(eth)) if (v !== undefined) out[clean(k)] = v === null ? null : clean(String(v));
  return out;
}

const str = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v));
const map = (m: Record<string, string> | null): string => (m === null ? 'null' : canonicalJson(m));

/**
 * The canonical JSON of one chained event: exactly its fields, `seq` included
 * (a stored `hash` is not). Written out in sorted key order because it runs
 * once per request; equal to `canonicalJson` of the same fields (tested).
 */
export function canonicalEvent(e: ChainedEvent): string {
  if (!Number.isSafeInteger(e.seq) || !Number.isSafeInteger(e.time)) throw new TypeError('seq and time must be integers');
  return (
    `{"accessKeyId":${str(e.accessKeyId)},"encryptionContext":${map(e.encryptionContext)},"errorCode":${str(e.errorCode)}` +
    (e.eth ? `,"eth":${canonicalJson(e.eth)}` : '') +
    `,"keyArn":${str(e.keyArn)},"operation":${str(e.operation)},"outcome":${str(e.outcome)},"principalArn":${str(e.principalArn)}` +
    `,"principalTags":${map(e.principalTags)}` +
    (e.releasePurpose ? `,"releasePurpose":${str(e.releasePurpose)}` : '') +
    `,"requestId":${str(e.requestId)},"seq":${e.seq},"service":${str(e.service)}` +
    `,"signingAlgorithm":${str(e.signingAlgorithm)},"sourceIp":${str(e.sourceIp)},"time":${e.time},"userAgent":${str(e.userAgent)}}`
  );
}

/** The same fields through the generic canonical JSON (the definition canonicalEvent must match). */
export function canonicalEventGeneric(e: ChainedEvent): string {
  const fields: { [K in keyof ChainedEvent]?: CanonicalValue } = {
    seq: e.seq,
    time: e.time,
    requestId: e.requestId,
    service: e.service,
    operation: e.operation,
    principalArn: e.principalArn,
    principalTags: e.principalTags,
    accessKeyId: e.accessKeyId,
    sourceIp: e.sourceIp,
    userAgent: e.userAgent,
    keyArn: e.keyArn,
    encryptionContext: e.encryptionContext,
    signingAlgorithm: e.signingAlgorithm,
    outcome: e.outcome,
    errorCode: e.errorCode,
  };
  if (e.eth) fields.eth = e.eth;
  if (e.releasePurpose) fields.releasePurpose = e.releasePurpose;
  return canonicalJson(fields);
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * hash(n) from hash(n-1) (hex) and event n.
 * @throws {RangeError} when `prevHash` is not 64 lower-case hex characters.
 */
export function chainHash(prevHash: string, e: ChainedEvent): string {
  if (prevHash.length !== 64 || !HEX64.test(prevHash)) throw new RangeError('prevHash must be 64 lower-case hex characters');
  return createHash('sha256').update(prevHash, 'hex').update(canonicalEvent(e), 'utf8').digest('hex');
}
