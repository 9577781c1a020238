/**
 * Prometheus metrics (text exposition format 0.0.4, through prom-client) on a
 * per-app Registry, served at `GET /metrics`:
 *
 * - symbolon_kms_requests_total{operation,outcome,error_code}
 * - symbolon_kms_request_duration_seconds{operation} (histogram)
 * - symbolon_kms_denied_total{principal,key}: AccessDeniedException replies
 * - symbolon_kms_keys{state}: computed from the store at scrape time
 * - symbolon_kms_denied_alerts_total, and the audit log's own counters
 * - from the signing monitor (src/audit/monitor.ts), which sees every audit
 *   event: symbolon_signatures_total{key,chain_id,payload_type},
 *   symbolon_signed_value_wei_total{key,chain_id},
 *   symbolon_signing_decisions_total{payload_type,decision},
 *   symbolon_denied_requests_total{service,operation},
 *   symbolon_approvals_requested_total{kind},
 *   symbolon_approvals_decided_total{kind,decision},
 *   symbolon_monitor_alerts_total{type}
 * - webhook delivery (src/audit/webhooks.ts): symbolon_webhook_deliveries_total,
 *   symbolon_webhook_delivery_failures_total{type} (failed attempts),
 *   symbolon_webhook_deliveries_abandoned_total, symbolon_webhook_dropped_total,
 *   symbolon_webhook_queue
 * - the process metrics prom-client collects (CPU, memory, event-loop lag)
 *
 * The request hook runs on every KMS request, so label children are cached and
 * label values are bounded: unknown operation names become `unknown`, and
 * beyond a cap new principal/key pairs are counted as `other`. The monitor's
 * counters are read at scrape time; it bounds its own labels the same way.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { Store } from '../storage/database.js';
import type { Caller } from '../aws/context.js';
import type { DeniedAlerts } from '../audit/denied-alerts.js';
import type { AuditLogStats } from '../audit/audit-log.js';
import type { MonitorStats } from '../audit/monitor.js';
import type { WebhookStats } from '../audit/webhooks.js';
import { equalConstantTime, utf8Bytes } from '../crypto/bytes.js';

export type ObserveHook = (operation: string, outcome: string, seconds: number, caller: Caller | undefined, keyArn: string | undefined) => void;

export interface Metrics {
  registry: Registry;
  /** The AwsEndpointOptions.observe hook. */
  observe: ObserveHook;
}

export interface MetricsOptions {
  store: Store;
  logger: Logger;
  /** Names of the KMS operations served (anything else is labelled `unknown`). */
  operations: Iterable<string>;
  alerts: DeniedAlerts;
  /** The audit log's counters, when the hash-chained log is in use. */
  audit?: { stats: AuditLogStats; buffered: number } | undefined;
  /** The signing monitor's counters (src/audit/monitor.ts). */
  monitor?: { stats: MonitorStats } | undefined;
  /** Webhook delivery counters (src/audit/webhooks.ts). */
  webhooks?: { stats: WebhookStats; queued: number } | undefined;
  /** Include prom-client's process metrics (default true). */
  processMetrics?: boolean;
}

const KEY_STATES = ['Enabled', 'Disabled', 'PendingDeletion'] as const;
const MAX_DENIED_SERIES = 1000;

interface RequestChildren {
  requests: { inc(): void };
  duration: { observe(v: number): void };
}

/**
 * Creates the registry and the request hook.
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const { store, logger, alerts } = options;
  const known = new Set(options.operations);
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'symbolon_' });

  const requests = new Counter({
    name: 'symbolon_kms_requests_total',
    help: 'KMS requests by operation and outcome (ok, denied, error) and AWS error code.',
    labelNames: ['operation', 'outcome', 'error_code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'symbolon_kms_request_duration_seconds',
    help: 'KMS request latency in seconds, from the request reaching the endpoint to the reply being sent.',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const denied = new Counter({
    name: 'symbolon_kms_denied_total',
    help: 'KMS requests refused with AccessDeniedException, by principal ARN and key ARN.',
    labelNames: ['principal', 'key'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'symbolon_kms_keys',
    help: 'KMS keys in the store by key state (read at scrape time).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      try {
        const rows = await store.db
          .selectFrom('kms_keys')
          .select(['key_state', sql<number>`count(*)`.as('n')])
          .groupBy('key_state')
          .execute();
        this.reset();
        for (const s of KEY_STATES) this.set({ state: s }, 0);
        for (const r of rows) this.set({ state: r.key_state }, Number(r.n));
      } catch (e) {
        logger.warn({ error: (e as Error)?.name }, 'metrics: could not count keys by state');
      }
    },
  });
  new Counter({
    name: 'symbolon_kms_denied_alerts_total',
    help: 'Warnings logged for bursts of denied requests from one principal on one key.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(alerts.alerts);
    },
  });
  const audit = options.audit;
  if (audit) {
    new Gauge({
      name: 'symbolon_audit_buffered_events',
      help: 'Audit events waiting in memory to be written.',
      registers: [registry],
      collect() {
        this.set(audit.buffered);
      },
    });
    const fromStats = (name: string, help: string, pick: (s: AuditLogStats) => number): void => {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(pick(audit.stats));
        },
      });
    };
    fromStats('symbolon_audit_events_written_total', 'Audit events appended to the chain by this process.', (s) => s.written);
    fromStats('symbolon_audit_write_failures_total', 'Failed audit batch writes (the batch stays buffered and is retried).', (s) => s.flushFailures);
    fromStats(
      'symbolon_audit_dropped_events_total',
      'Audit events refused because the buffer was full (recorded in the chain as EventsDropped).',
      (s) => s.dropped,
    );
    fromStats('symbolon_audit_checkpoints_total', 'Signed checkpoints written by this process.', (s) => s.checkpoints);
  }

  if (options.monitor) registerMonitorMetrics(registry, options.monitor);
  if (options.webhooks) registerWebhookMetrics(registry, options.webhooks);

  const children = new Map<string, RequestChildren>();
  const deniedSeries = new Set<string>();
  const observe: ObserveHook = (operation, outcome, seconds, caller, keyArn) => {
    try {
      const dot = operation.lastIndexOf('.');
      const name = dot >= 0 ? operation.slice(dot + 1) : operation;
      const op = known.has(name) ? name : 'unknown';
      const id = `${op}\n${outcome}`;
      let c = children.get(id);
      if (!c) {
        const kind = outcome === 'ok' ? 'ok' : outcome === 'AccessDeniedException' ? 'denied' : 'error';
        c = { requests: requests.labels(op, kind, outcome === 'ok' ? '' : outcome), duration: duration.labels(op) };
        children.set(id, c);
      }
      c.requests.inc();
      c.duration.observe(seconds);
      if (outcome === 'AccessDeniedException' && caller) {
        const key = keyArn ?? '';
        let series = `${caller.arn}\n${key}`;
        if (!deniedSeries.has(series)) {
          if (deniedSeries.size < MAX_DENIED_SERIES) deniedSeries.add(series);
          else series = 'other\nother';
        }
        const [principal, keyLabel] = series.split('\n') as [string, string];
        denied.labels(principal, keyLabel).inc();
        // The denied-burst alert sees the request's audit event (src/audit/monitor.ts).
      }
    } catch (e) {
      // Metrics must never fail a request.
      logger.warn({ error: (e as Error)?.name }, 'metrics: could not record a request');
    }
  };
  return { registry, observe };
}

/** A counter whose children are set at scrape time from `series` (label values joined with `\n`). */
function seriesCounter<V extends number | bigint>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  series: () => Map<string, V>,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [id, v] of series()) {
        const values = id.split('\n');
        // float64: exact up to 2^53; beyond it the nearest double (docs/audit.md).
        this.inc(Object.fromEntries(labelNames.map((l, i) => [l, values[i] ?? ''])), Number(v));
      }
    },
  });
}

function registerMonitorMetrics(registry: Registry, monitor: { stats: MonitorStats }): void {
  seriesCounter(
    registry,
    'symbolon_signatures_total',
    'Signatures made over decoded Ethereum payloads, by key ARN, chain id and payload type (the first 100 keys by name, then other).',
    ['key', 'chain_id', 'payload_type'],
    () => monitor.stats.signatures,
  );
  seriesCounter(
    registry,
    'symbolon_signed_value_wei_total',
    'Value (wei) of the transactions signed, by key ARN and chain id; summed exactly, exposed as a float64.',
    ['key', 'chain_id'],
    () => monitor.stats.valueWei,
  );
  seriesCounter(
    registry,
    'symbolon_signing_decisions_total',
    'Signing decisions over decoded payloads by payload type and decision (allow, deny, pending).',
    ['payload_type', 'decision'],
    () => monitor.stats.decisions,
  );
  seriesCounter(
    registry,
    'symbolon_denied_requests_total',
    'Requests refused as access denied, by service and operation.',
    ['service', 'operation'],
    () => monitor.stats.denials,
  );
  seriesCounter(
    registry,
    'symbolon_approvals_requested_total',
    'Approvals requested: quorum policy changes proposed (policy_change) and signatures pending approval (signing).',
    ['kind'],
    () => monitor.stats.approvalsRequested,
  );
  seriesCounter(
    registry,
    'symbolon_approvals_decided_total',
    'Approvals decided, by kind and decision (approved, rejected, expired, superseded).',
    ['kind', 'decision'],
    () => monitor.stats.approvalsDecided,
  );
  seriesCounter(
    registry,
    'symbolon_monitor_alerts_total',
    'Monitoring events raised (deny.burst, approval.requested, approval.decided), whether or not a webhook wants them.',
    ['type'],
    () => monitor.stats.webhookEvents,
  );
}

function registerWebhookMetrics(registry: Registry, webhooks: { stats: WebhookStats; queued: number }): void {
  const single = (name: string, help: string, pick: (s: WebhookStats) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick(webhooks.stats));
      },
    });
  };
  single('symbolon_webhook_deliveries_total', 'Webhook deliveries answered with a 2xx status.', (s) => s.delivered);
  single('symbolon_webhook_deliveries_abandoned_total', 'Webhook deliveries given up after the last retry.', (s) => s.givenUp);
  single('symbolon_webhook_dropped_total', 'Webhook deliveries dropped because the delivery queue was full.', (s) => s.dropped);
  seriesCounter(
    registry,
    'symbolon_webhook_delivery_failures_total',
    'Failed webhook delivery attempts (timeout, network error, or a status other than 2xx), by event type.',
    ['type'],
    () => webhooks.stats.failedAttempts,
  );
  new Gauge({
    name: 'symbolon_webhook_queue',
    help: 'Webhook deliveries waiting or in flight.',
    registers: [registry],
    collect() {
      this.set(webhooks.queued);
    },
  });
}

/**
 * Serves `GET /metrics`. With `token`, only requests bearing
 * `Authorization: Bearer <token>` get the metrics (they name principals and keys).
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, options: { token?: string | undefined } = {}): void {
  const expected = options.token ? utf8Bytes(`Bearer ${options.token}`) : undefined;
  app.get('/metrics', async (req, reply) => {
    if (expected && !equalConstantTime(utf8Bytes(String(req.headers.authorization ?? '')), expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: { code: 'unauthorized', message: 'A bearer token is required for /metrics.' } });
    }
    const body = await metrics.registry.metrics();
    return reply.code(200).header('content-type', metrics.registry.contentType).send(body);
  });
}
