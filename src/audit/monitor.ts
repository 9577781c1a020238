/**
 * The signing monitor: sees every audit event the custodian records — KMS and
 * approvals requests, IAM, STS, the wallet API, JSON-RPC — because it wraps
 * the custodian's audit sink (monitoredSink), so no route calls it. From the
 * events alone it keeps the counters /metrics exposes (src/server/metrics.ts)
 * and emits the webhook events (webhooks.ts):
 *
 * - a signing decision with decoded Ethereum fields (`event.eth`): signatures
 *   and value signed per key and chain, decisions per payload type;
 * - a denied request (`outcome: denied`): denials per service and operation,
 *   and the denied-burst detector (denied-alerts.ts) → `deny.burst`;
 * - quorum steps (src/kms/policy/quorum.ts, account-quorum.ts:
 *   `PolicyChangeProposed/<id>` → `approval.requested`;
 *   `PolicyChangeApplied|Expired|Superseded/<id>` and the closing
 *   `PolicyChangeRejected/<id>` → `approval.decided`, kind policyChange);
 * - signing requests (RequireApproval): the signing decision whose
 *   `eth.decision` is `pending` → `approval.requested` (kind signing, naming
 *   the request `eth.signingRequest`); `SigningRequestApplied|Expired|Superseded/<id>`
 *   and the closing `SigningRequestRejected/<id>` → `approval.decided` (kind
 *   signing; approved: the requester fetches the signature with
 *   SymbolonSigning.GetSigningRequest). `SigningRequestProposed` is not
 *   announced again: its decision event is.
 *
 * Label cardinality is bounded: the first `maxKeys` key ARNs (default 100)
 * and `maxChains` chain ids (default 50) get their own label values; later
 * ones are counted under `other`. Value is summed exactly (bigint wei) and
 * exposed as a float64 (see docs/audit.md on precision).
 */
import type { Logger } from 'pino';
import type { AuditEvent, AuditSink, EthAuditFields } from './event.js';
import type { DeniedAlerts } from './denied-alerts.js';
import type { WebhookDispatcher } from './webhooks.js';

/** Counters by label tuple (values joined with `\n`): a snapshot taken by /metrics at scrape time. */
export interface MonitorStats {
  /** key, chain_id, payload_type → signatures made. */
  signatures: Map<string, number>;
  /** key, chain_id → wei signed (transactions' `value`). */
  valueWei: Map<string, bigint>;
  /** payload_type, decision → signing decisions (allow, deny, pending). */
  decisions: Map<string, number>;
  /** service, operation → denied requests. */
  denials: Map<string, number>;
  /** kind (policy_change, signing) → approvals requested. */
  approvalsRequested: Map<string, number>;
  /** kind, decision (approved, rejected, expired, superseded) → approvals decided. */
  approvalsDecided: Map<string, number>;
  /** type → webhook events emitted (before delivery). */
  webhookEvents: Map<string, number>;
}

export interface SigningMonitorOptions {
  logger: Logger;
  alerts: DeniedAlerts;
  webhooks?: WebhookDispatcher | undefined;
  /** Distinct key ARNs given their own label (default 100). */
  maxKeys?: number | undefined;
  /** Distinct chain ids given their own label (default 50). */
  maxChains?: number | undefined;
}

export const DEFAULT_MAX_KEYS = 100;
export const DEFAULT_MAX_CHAINS = 50;
const MAX_OPERATIONS = 200;
/** Recent `PolicyChangeRejected` events remembered to tell a vote from the closing decision. */
const MAX_RECENT_REJECTIONS = 1000;

const DECIDED: ReadonlyMap<string, string> = new Map([
  ['PolicyChangeApplied', 'approved'],
  ['PolicyChangeExpired', 'expired'],
  ['PolicyChangeSuperseded', 'superseded'],
]);

const DECIMAL = /^[0-9]{1,78}$/;
const SIGNING_REQUEST = 'SigningRequest';

/** A label value from an open set: its own value while fewer than `max` are known, then `other`. */
class BoundedLabel {
  /** value → the stored instance (its hash is cached, so later lookups by it are cheap). */
  readonly #known = new Map<string, string>();
  constructor(readonly max: number) {}
  of(value: string): string {
    const known = this.#known.get(value);
    if (known !== undefined) return known;
    if (this.#known.size >= this.max) return 'other';
    this.#known.set(value, value);
    return value;
  }
}

function add<K>(m: Map<K, number>, k: K, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

/** Counters keyed by two labels, without building a joined key per event. */
class Tally2 {
  readonly #m = new Map<string, Map<string, number>>();
  add(a: string, b: string): void {
    let inner = this.#m.get(a);
    if (!inner) this.#m.set(a, (inner = new Map()));
    add(inner, b);
  }
  /** The counters keyed by `a\nb` (for /metrics, at scrape time). */
  flat(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [a, inner] of this.#m) for (const [b, n] of inner) out.set(`${a}\n${b}`, n);
    return out;
  }
}

/** One key and chain's counters. */
interface KeyChainSeries {
  signatures: Map<string, number>;
  wei: bigint;
}

export class SigningMonitor {
  readonly #logger: Logger;
  readonly #alerts: DeniedAlerts;
  readonly #webhooks: WebhookDispatcher | undefined;
  readonly #keys: BoundedLabel;
  readonly #chains: BoundedLabel;
  readonly #operations = new BoundedLabel(MAX_OPERATIONS);
  /** `${requestId}\n${changeId}` of recent rejection votes (Map order: oldest first). */
  readonly #rejections = new Map<string, true>();
  /** key label → chain label → counters. */
  readonly #series = new Map<string, Map<string, KeyChainSeries>>();
  readonly #decisions = new Tally2();
  readonly #denials = new Tally2();
  readonly #approvalsRequested = new Map<string, number>();
  readonly #approvalsDecided = new Map<string, number>();
  readonly #alertsRaised = new Map<string, number>();

  /** The counters, as /metrics reads them at scrape time. */
  get stats(): MonitorStats {
    const signatures = new Map<string, number>();
    const valueWei = new Map<string, bigint>();
    for (const [key, chains] of this.#series) {
      for (const [chain, c] of chains) {
        for (const [type, n] of c.signatures) signatures.set(`${key}\n${chain}\n${type}`, n);
        if (c.wei > 0n) valueWei.set(`${key}\n${chain}`, c.wei);
      }
    }
    return {
      signatures,
      valueWei,
      decisions: this.#decisions.flat(),
      denials: this.#denials.flat(),
      approvalsRequested: new Map(this.#approvalsRequested),
      approvalsDecided: new Map(this.#approvalsDecided),
      webhookEvents: new Map(this.#alertsRaised),
    };
  }

  constructor(options: SigningMonitorOptions) {
    this.#logger = options.logger;
    this.#alerts = options.alerts;
    this.#webhooks = options.webhooks;
    this.#keys = new BoundedLabel(options.maxKeys ?? DEFAULT_MAX_KEYS);
    this.#chains = new BoundedLabel(options.maxChains ?? DEFAULT_MAX_CHAINS);
  }

  /** Derives metrics and webhook events from one recorded audit event. Never throws. */
  observeAuditEvent(event: AuditEvent): void {
    try {
      if (event.eth) this.#signing(event, event.eth);
      if (event.outcome === 'denied') this.#denied(event);
      if (event.outcome === 'allowed') this.#quorumStep(event);
    } catch (e) {
      // Monitoring must never fail the request that recorded the event.
      this.#logger.warn({ error: (e as Error)?.name }, 'monitor: could not observe an audit event');
    }
  }

  #signing(event: AuditEvent, eth: EthAuditFields): void {
    // A policy's allow counts once the request succeeded: one refused further on (a disabled key, a share A
    // the custodian would not open) signed nothing. Denials and pending decisions count as they are.
    if (eth.decision !== 'allow' || event.outcome === 'allowed') this.#decisions.add(eth.payloadType, eth.decision);
    const keyArn = event.keyArn ?? '';
    const chainId = eth.chainId !== undefined && DECIMAL.test(eth.chainId) ? eth.chainId : '';
    if (eth.decision === 'pending') {
      add(this.#approvalsRequested, 'signing');
      this.#emit(
        'approval.requested',
        {
          kind: 'signing',
          requestId: event.requestId,
          keyArn: event.keyArn,
          principal: event.principalArn,
          payloadType: eth.payloadType,
          ...(chainId ? { chainId } : {}),
          ...(eth.statement !== undefined ? { statement: eth.statement } : {}),
          ...(eth.signingRequest !== undefined ? { changeId: eth.signingRequest } : {}),
        },
        event.time,
      );
      return;
    }
    if (eth.decision !== 'allow' || event.outcome !== 'allowed') return;
    const key = this.#keys.of(keyArn);
    const chain = chainId === '' ? '' : this.#chains.of(chainId);
    let chains = this.#series.get(key);
    if (!chains) this.#series.set(key, (chains = new Map()));
    let series = chains.get(chain);
    if (!series) chains.set(chain, (series = { signatures: new Map(), wei: 0n }));
    add(series.signatures, eth.payloadType);
    if (eth.value !== undefined && eth.value !== '0' && DECIMAL.test(eth.value)) {
      const wei = BigInt(eth.value);
      series.wei += wei;
      this.#webhooks?.valueSigned(keyArn, chainId, wei, event.time);
    }
  }

  #denied(event: AuditEvent): void {
    this.#denials.add(event.service, this.#operations.of(event.operation));
    if (event.principalArn === null) return;
    const burst = this.#alerts.denied(event.principalArn, event.keyArn ?? undefined, event.time);
    if (burst) {
      this.#emit(
        'deny.burst',
        { principal: burst.principal, keyArn: event.keyArn, count: burst.count, windowSeconds: burst.windowSeconds, service: event.service },
        event.time,
      );
    }
  }

  #quorumStep(event: AuditEvent): void {
    const slash = event.operation.indexOf('/');
    if (slash < 0) return;
    const named = event.operation.slice(0, slash);
    const signing = named.startsWith(SIGNING_REQUEST);
    // A signing request's steps are a permission change's, renamed (src/kms/policy/quorum.ts recordStep).
    const step = signing ? `PolicyChange${named.slice(SIGNING_REQUEST.length)}` : named;
    const changeId = event.operation.slice(slash + 1);
    const change = { kind: signing ? 'signing' : 'policyChange', changeId, keyArn: event.keyArn, service: event.service };
    if (step === 'PolicyChangeProposed') {
      // A signing request is announced by its pending decision's event, which carries the decoded fields.
      if (signing) return;
      add(this.#approvalsRequested, 'policy_change');
      this.#emit('approval.requested', { ...change, proposer: event.principalArn }, event.time);
      return;
    }
    let decision = DECIDED.get(step);
    if (step === 'PolicyChangeRejected') {
      // quorum.ts records a rejection vote, and in the same request a second
      // PolicyChangeRejected when that vote closes the change.
      const id = `${event.requestId}\n${changeId}`;
      if (!this.#rejections.has(id)) {
        this.#rejections.set(id, true);
        if (this.#rejections.size > MAX_RECENT_REJECTIONS) this.#rejections.delete(this.#rejections.keys().next().value!);
        return;
      }
      this.#rejections.delete(id);
      decision = 'rejected';
    }
    if (decision === undefined) return;
    add(this.#approvalsDecided, `${signing ? 'signing' : 'policy_change'}\n${decision}`);
    const fetch = signing && decision === 'approved' ? { signature: 'SymbolonSigning.GetSigningRequest' } : {};
    this.#emit('approval.decided', { ...change, decision, by: event.principalArn, ...fetch }, event.time);
  }

  #emit(type: 'deny.burst' | 'approval.requested' | 'approval.decided', data: Record<string, unknown>, time: number): void {
    add(this.#alertsRaised, type);
    this.#webhooks?.emit(type, data, time);
  }
}

/**
 * The custodian's audit sink with the monitor looking on: every event
 * recorded through it is also observed (after the sink has taken it).
 */
export function monitoredSink(sink: AuditSink, monitor: Pick<SigningMonitor, 'observeAuditEvent'>): AuditSink {
  return {
    record(event) {
      sink.record(event);
      monitor.observeAuditEvent(event);
    },
    recordDurable(event) {
      const durable = sink.recordDurable(event);
      monitor.observeAuditEvent(event);
      return durable;
    },
    flush: () => sink.flush(),
    ...(sink.close ? { close: () => sink.close!() } : {}),
  };
}
