/**
 * The audit event every custodian request produces (allowed, denied, or
 * malformed-but-authenticated), and the sink it goes to. Fields are ids,
 * names and outcomes: never plaintext, ciphertext, messages or digests.
 */
import type { DecisionAuditFields } from '../signing-policy/decisionAuditFields.js';

/** A decoded Ethereum signing decision; amounts are decimal strings (wei / token units), addresses lowercase 0x. */
export type EthAuditFields = DecisionAuditFields & {
  /** A pending decision: the id of the signing request approvers vote on. */
  signingRequest?: string;
};

export interface AuditEvent {
  time: number;
  requestId: string;
  service: string;
  operation: string;
  principalArn: string | null;
  principalTags: Record<string, string>;
  accessKeyId: string | null;
  sourceIp: string;
  userAgent: string;
  keyArn: string | null;
  encryptionContext: Record<string, string> | null;
  signingAlgorithm: string | null;
  outcome: 'allowed' | 'denied' | 'error';
  errorCode: string | null;
  /** The decoded payload of a signing decision (src/kms/sign-payload.ts); absent on every other event. */
  eth?: EthAuditFields | undefined;
  /** On a Decrypt whose attested recipient stated a purpose (src/attestation/release-purpose.ts): `export`. Absent otherwise. */
  releasePurpose?: 'export' | undefined;
}

/** What a client is told when a change was applied but its audit record could not be made durable in time. */
export const AUDIT_NOT_DURABLE = 'The request may have been applied, but its audit record could not be written in time; check the resource before retrying.';

export interface AuditSink {
  /** Accepts an event; may batch. Must not throw into the request path. */
  record(event: AuditEvent): void;
  /**
   * Accepts an event and resolves once it is durable in the store (group
   * commit: events arriving together share one transaction). State-changing
   * requests await it before they are acknowledged, so a crash never loses the
   * record of a change a client was told about.
   * @throws {Error} when the event could not be written in time; the caller
   *   must not acknowledge the request as if it were recorded.
   */
  recordDurable(event: AuditEvent): Promise<void>;
  /** Flushes what is buffered (on shutdown and in tests). */
  flush(): Promise<void>;
  /** Flushes and releases timers on shutdown (a sink without it is just flushed). */
  close?(): Promise<void>;
}

/**
 * Records one request's event the way its answer needs: a successful state
 * change waits until the event is durable (so it is never acknowledged
 * unrecorded); anything else is buffered.
 * @returns false when a durable record could not be written in time: the
 *   caller must answer an error (AUDIT_NOT_DURABLE), never a success.
 */
export async function recordRequestEvent(sink: AuditSink, event: AuditEvent, durable: boolean): Promise<boolean> {
  if (!durable) {
    sink.record(event);
    return true;
  }
  try {
    await sink.recordDurable(event);
    return true;
  } catch {
    return false;
  }
}

/** A sink that keeps nothing (tests and measurements that compare against no audit). */
export const nullAuditSink: AuditSink = {
  record() {},
  async recordDurable() {},
  async flush() {},
};
