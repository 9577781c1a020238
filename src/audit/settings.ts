/**
 * Settings of the audit log and the denied-request alert, read from the
 * environment (documented in docs/audit.md), with defaults that keep the Sign
 * path from ever waiting on the log.
 */

export interface AuditLogSettings {
  /** Flush buffered events at least this often (milliseconds). */
  flushIntervalMs: number;
  /** Flush at once when this many events are buffered; also the largest batch. */
  batchSize: number;
  /** Events kept in memory while the store is unreachable; beyond it new events are counted as dropped. */
  maxBuffered: number;
  /** Sign a checkpoint when this many events were appended since the last one… */
  checkpointEvents: number;
  /** …or when this many seconds passed and there are new events. */
  checkpointSeconds: number;
  /** Longest wait between retries of a failed flush (milliseconds). */
  retryMaxMs: number;
  /** How long a state-changing request waits for its event to be durable before it answers an error (milliseconds). */
  durableTimeoutMs: number;
}

export interface DeniedAlertSettings {
  /** Denied requests from one principal on one key that make a burst. */
  threshold: number;
  /** The window the burst is counted in, and the quiet time after an alert (seconds). */
  windowSeconds: number;
}

export const DEFAULT_AUDIT_SETTINGS: AuditLogSettings = {
  flushIntervalMs: 50,
  batchSize: 500,
  maxBuffered: 200_000,
  checkpointEvents: 10_000,
  checkpointSeconds: 300,
  retryMaxMs: 30_000,
  durableTimeoutMs: 5_000,
};

export const DEFAULT_ALERT_SETTINGS: DeniedAlertSettings = { threshold: 5, windowSeconds: 60 };

function positiveInt(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer (got ${raw.slice(0, 20)})`);
  return n;
}

/**
 * Reads SYMBOLON_AUDIT_FLUSH_MS, SYMBOLON_AUDIT_BATCH_SIZE, SYMBOLON_AUDIT_MAX_BUFFERED,
 * SYMBOLON_AUDIT_CHECKPOINT_EVENTS, SYMBOLON_AUDIT_CHECKPOINT_SECONDS and
 * SYMBOLON_AUDIT_DURABLE_TIMEOUT_MS.
 * @throws {RangeError} when one is set but is not a positive integer.
 */
export function auditSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): AuditLogSettings {
  const d = DEFAULT_AUDIT_SETTINGS;
  return {
    flushIntervalMs: positiveInt(env, 'SYMBOLON_AUDIT_FLUSH_MS', d.flushIntervalMs),
    batchSize: positiveInt(env, 'SYMBOLON_AUDIT_BATCH_SIZE', d.batchSize),
    maxBuffered: positiveInt(env, 'SYMBOLON_AUDIT_MAX_BUFFERED', d.maxBuffered),
    checkpointEvents: positiveInt(env, 'SYMBOLON_AUDIT_CHECKPOINT_EVENTS', d.checkpointEvents),
    checkpointSeconds: positiveInt(env, 'SYMBOLON_AUDIT_CHECKPOINT_SECONDS', d.checkpointSeconds),
    retryMaxMs: d.retryMaxMs,
    durableTimeoutMs: positiveInt(env, 'SYMBOLON_AUDIT_DURABLE_TIMEOUT_MS', d.durableTimeoutMs),
  };
}

/**
 * Reads SYMBOLON_DENIED_ALERT_THRESHOLD and SYMBOLON_DENIED_ALERT_WINDOW_SECONDS.
 * @throws {RangeError} when one is set but is not a positive integer.
 */
export function alertSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): DeniedAlertSettings {
  return {
    threshold: positiveInt(env, 'SYMBOLON_DENIED_ALERT_THRESHOLD', DEFAULT_ALERT_SETTINGS.threshold),
    windowSeconds: positiveInt(env, 'SYMBOLON_DENIED_ALERT_WINDOW_SECONDS', DEFAULT_ALERT_SETTINGS.windowSeconds),
  };
}
