/**
 * The audit event every custodian request produces (allowed, denied, or
 * malformed-but-authenticated), and the sink it goes to. Fields are ids,
 * names and outcomes: never plaintext, ciphertext, messages or digests.
 */

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
}

export interface AuditSink {
  /** Accepts an event; may batch. Must not throw into the request path. */
  record(event: AuditEvent): void;
  /** Flushes what is buffered (on shutdown and in tests). */
  flush(): Promise<void>;
  /** Flushes and releases timers on shutdown (a sink without it is just flushed). */
  close?(): Promise<void>;
}

/** A sink that keeps nothing (tests and measurements that compare against no audit). */
export const nullAuditSink: AuditSink = {
  record() {},
  async flush() {},
};
