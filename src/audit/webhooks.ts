/**
 * Monitoring webhooks (docs/audit.md, "Webhooks"): administrators register a
 * URL and the event types it wants (`deny.burst`, `approval.requested`,
 * `approval.decided`, `value.threshold`); the SigningMonitor (monitor.ts)
 * emits those events and this dispatcher POSTs them.
 *
 * - Body: JSON `{ id, type, time, webhookId, data }`: ids, ARNs, counts and
 *   decimal amounts only — never a secret, token, payload, digest or signature.
 * - Signature (as Stripe's): `X-Symbolon-Timestamp: <unix seconds>` and
 *   `X-Symbolon-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`;
 *   the HMAC key is the UTF-8 bytes of the webhook's secret, which is shown
 *   once at creation and stored sealed under the root of trust.
 * - Delivery never blocks a request: a bounded queue (`maxQueue` deliveries;
 *   beyond it a delivery is dropped and counted), at most `concurrency` POSTs
 *   at a time, each attempt bounded by `timeoutMs`, redirects not followed,
 *   and only to an address that is not loopback, private, link-local or
 *   reserved (webhook-targets.ts; checked at registration and again on the
 *   address each delivery connects to) unless `allowPrivateTargets`;
 *   a failure (no 2xx) is retried with exponential back-off and full jitter up
 *   to `maxAttempts`, re-signed with a fresh timestamp; the delivery id stays
 *   the same so a receiver can drop duplicates.
 * - `value.threshold`: per webhook, the value signed by one key on one chain
 *   (wei, exact bigint sums) in a rolling window of `windowSeconds`; one event
 *   when the sum reaches the threshold, re-armed once it falls below again.
 *   The window lives in this process's memory (docs/audit.md says what that
 *   means for several processes and restarts).
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Store } from '../storage/database.js';
import { deleteWebhook, insertWebhook, listWebhooks, type WebhookRow } from '../storage/webhooks.repository.js';
import { sealingContext, type RootOfTrust } from '../root/root-of-trust.js';
import { utf8Bytes, wipe } from '../crypto/bytes.js';
import { guardedLookup, isLocalHostName, isRefusedWebhookAddress, RefusedTargetError } from './webhook-targets.js';

/** The event types a webhook may subscribe to. */
export const WEBHOOK_EVENTS = ['deny.burst', 'approval.requested', 'approval.decided', 'value.threshold'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** Header names (lower case, as Node delivers them). */
export const SIGNATURE_HEADER = 'x-symbolon-signature';
export const TIMESTAMP_HEADER = 'x-symbolon-timestamp';

const SECRET_PURPOSE = 'monitor-webhook-secret/v1';
const MAX_URL_LENGTH = 2048;
/** Longest rolling window for value.threshold (7 days). */
export const MAX_WINDOW_SECONDS = 7 * 24 * 3600;
export const DEFAULT_WINDOW_SECONDS = 3600;
/** Webhooks per store. */
export const MAX_WEBHOOKS = 100;
/** Keys × chains tracked per value.threshold webhook; beyond it the least recently used pair is forgotten. */
const MAX_VALUE_SERIES = 1000;
/** Window entries per series; beyond it the two oldest merge (the sum stays exact, expiry only later). */
const MAX_WINDOW_ENTRIES = 10_000;

export interface WebhookSettings {
  /** Deliveries waiting or in flight; beyond it new ones are dropped (counted). */
  maxQueue: number;
  /** Attempts per delivery, the first included. */
  maxAttempts: number;
  /** Back-off before retry n: random(0, min(maxDelayMs, baseDelayMs × 2^(n-1))). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** One POST's time limit. */
  timeoutMs: number;
  /** POSTs in flight at once. */
  concurrency: number;
  /** How often the list is re-read from the store (changes made through another process). */
  reloadMs: number;
  /**
   * Deliver to loopback, private, link-local and other reserved addresses
   * (src/audit/webhook-targets.ts); off unless the operator sets
   * SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS=1.
   */
  allowPrivateTargets: boolean;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  maxQueue: 1000,
  maxAttempts: 6,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  timeoutMs: 5000,
  concurrency: 4,
  reloadMs: 30_000,
  allowPrivateTargets: false,
};

/**
 * Reads SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS (0 or 1, default 0).
 * @throws {RangeError} when it is set to anything else.
 */
export function webhookSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<WebhookSettings> {
  const flag = env.SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS;
  if (flag === undefined || flag === '') return {};
  if (flag !== '0' && flag !== '1') throw new RangeError('SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS must be 0 or 1');
  return { allowPrivateTargets: flag === '1' };
}

/** A refused webhook request, with a stable code (the API maps it to ValidationException). */
export class WebhookError extends Error {
  override name = 'WebhookError';
  constructor(
    readonly code: 'InvalidUrl' | 'RefusedTarget' | 'InvalidEvents' | 'InvalidThreshold' | 'InvalidSecret' | 'TooManyWebhooks',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Checks a webhook URL: absolute http: or https:, a host, no user name or
 * password, at most 2048 characters. Returns it normalized (fragment dropped).
 * @throws {WebhookError} InvalidUrl naming the rule (never echoing a credential).
 */
export function validateWebhookUrl(raw: string): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new WebhookError('InvalidUrl', 'the webhook URL is required');
  if (raw.length > MAX_URL_LENGTH) throw new WebhookError('InvalidUrl', `the webhook URL is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookError('InvalidUrl', 'the webhook URL is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WebhookError('InvalidUrl', `the webhook URL must be http: or https: (got ${url.protocol.slice(0, 20)})`);
  }
  if (url.username !== '' || url.password !== '') throw new WebhookError('InvalidUrl', 'the webhook URL must not carry a user name or password');
  if (url.hostname === '') throw new WebhookError('InvalidUrl', 'the webhook URL has no host');
  url.hash = '';
  return url.href;
}

/** The host of a checked URL as `net` takes it: an IPv6 literal without its brackets. */
function urlHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

const REFUSED_TARGET =
  'a loopback, private, link-local or otherwise reserved address (set SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS=1 on the server to allow internal receivers)';

/**
 * Refuses a webhook URL (already validated) whose host is a refused address
 * literal, a `localhost` name, or a name that resolves to a refused address.
 * A name that does not resolve now is accepted: every delivery checks the
 * addresses it connects to again. The message never names a resolved
 * address (that would map internal DNS for the caller).
 * @throws {WebhookError} RefusedTarget.
 */
export async function checkWebhookTarget(validUrl: string): Promise<void> {
  const host = urlHost(new URL(validUrl));
  if (isIP(host) !== 0) {
    if (isRefusedWebhookAddress(host)) throw new WebhookError('RefusedTarget', `the webhook URL's host is ${REFUSED_TARGET}`);
    return;
  }
  let addresses: Array<{ address: string }> = [];
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    // Not resolvable now: each delivery checks what it connects to.
  }
  if (addresses.some((a) => isRefusedWebhookAddress(a.address))) {
    throw new WebhookError('RefusedTarget', `the webhook URL's host resolves to ${REFUSED_TARGET}`);
  }
  if (isLocalHostName(host)) throw new WebhookError('RefusedTarget', `the webhook URL's host is ${REFUSED_TARGET}`);
}

/**
 * Checks a subscription: known event types, at least one, no duplicates; a
 * threshold (decimal wei > 0) exactly when `value.threshold` is subscribed.
 * @throws {WebhookError} InvalidEvents or InvalidThreshold.
 */
export function validateSubscription(
  events: readonly string[],
  thresholdWei: string | undefined,
  windowSeconds: number | undefined,
): {
  events: WebhookEventType[];
  thresholdWei: string | null;
  windowSeconds: number | null;
} {
  if (events.length === 0) throw new WebhookError('InvalidEvents', `give at least one event type: ${WEBHOOK_EVENTS.join(', ')}`);
  const out: WebhookEventType[] = [];
  for (const e of events) {
    const known = WEBHOOK_EVENTS.find((k) => k === e);
    if (!known) throw new WebhookError('InvalidEvents', `unknown event type '${e.slice(0, 40)}' (known: ${WEBHOOK_EVENTS.join(', ')})`);
    if (!out.includes(known)) out.push(known);
  }
  const wantsValue = out.includes('value.threshold');
  if (!wantsValue) {
    if (thresholdWei !== undefined || windowSeconds !== undefined) {
      throw new WebhookError('InvalidThreshold', 'a threshold and window apply only to the value.threshold event');
    }
    return { events: out, thresholdWei: null, windowSeconds: null };
  }
  if (thresholdWei === undefined) throw new WebhookError('InvalidThreshold', 'value.threshold needs a threshold in wei');
  if (!/^[0-9]{1,78}$/.test(thresholdWei) || BigInt(thresholdWei) === 0n) {
    throw new WebhookError('InvalidThreshold', 'the threshold must be a positive decimal integer of wei (at most 78 digits)');
  }
  const window = windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  if (!Number.isSafeInteger(window) || window < 1 || window > MAX_WINDOW_SECONDS) {
    throw new WebhookError('InvalidThreshold', `the window must be 1 to ${MAX_WINDOW_SECONDS} seconds`);
  }
  return { events: out, thresholdWei: BigInt(thresholdWei).toString(), windowSeconds: window };
}

/** What a webhook's sealed secret is bound to: its purpose and the webhook id (a box moved to another row does not open). */
export function webhookSecretAad(webhookId: string): Uint8Array {
  return sealingContext(SECRET_PURPOSE, webhookId);
}

/** `sha256=<hex>`: HMAC-SHA256 over `${timestamp}.${body}` with the secret's UTF-8 bytes as key. */
export function webhookSignature(secret: Uint8Array, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a webhook looks like to an administrator (never its secret). */
export interface WebhookView {
  WebhookId: string;
  Url: string;
  Events: string[];
  ThresholdWei?: string;
  WindowSeconds?: number;
  CreatedBy: string;
  CreationDate: number;
}

export function webhookView(w: WebhookRow): WebhookView {
  return {
    WebhookId: w.webhookId,
    Url: w.url,
    Events: w.events,
    ...(w.thresholdWei !== null ? { ThresholdWei: w.thresholdWei } : {}),
    ...(w.windowSeconds !== null ? { WindowSeconds: w.windowSeconds } : {}),
    CreatedBy: w.createdBy,
    CreationDate: w.createdAt / 1000,
  };
}

/** Counters for /metrics. */
export interface WebhookStats {
  /** Deliveries answered 2xx. */
  delivered: number;
  /** Attempts that failed (no answer in time, a network error, or not 2xx), by event type. */
  failedAttempts: Map<string, number>;
  /** Deliveries abandoned after maxAttempts. */
  givenUp: number;
  /** Deliveries refused because the queue was full. */
  dropped: number;
}

interface Delivery {
  id: string;
  webhookId: string;
  url: string;
  sealedSecret: Uint8Array;
  type: WebhookEventType;
  body: string;
}

interface ValueSeries {
  entries: Array<{ t: number; wei: bigint }>;
  sum: bigint;
  alerted: boolean;
}

export interface WebhookDispatcherOptions {
  store: Store;
  root: RootOfTrust;
  logger: Logger;
  settings?: Partial<WebhookSettings> | undefined;
  clock?: () => number;
}

export class WebhookDispatcher {
  readonly #store: Store;
  readonly #root: RootOfTrust;
  readonly #logger: Logger;
  readonly #settings: WebhookSettings;
  readonly #clock: () => number;
  #hooks: WebhookRow[] = [];
  #pending = 0;
  #inFlight = 0;
  readonly #waiting: Array<() => void> = [];
  /** Back-off sleeps in progress, resolved early by close(). */
  readonly #timers = new Map<NodeJS.Timeout, () => void>();
  #reload: NodeJS.Timeout | undefined;
  #closed = false;
  /** value.threshold windows: webhook id → `${keyArn}\n${chainId}` → series. */
  readonly #values = new Map<string, Map<string, ValueSeries>>();
  readonly stats: WebhookStats = { delivered: 0, failedAttempts: new Map(), givenUp: 0, dropped: 0 };

  constructor(options: WebhookDispatcherOptions) {
    this.#store = options.store;
    this.#root = options.root;
    this.#logger = options.logger;
    const given = Object.fromEntries(Object.entries(options.settings ?? {}).filter(([, v]) => v !== undefined));
    this.#settings = { ...DEFAULT_WEBHOOK_SETTINGS, ...given };
    this.#clock = options.clock ?? Date.now;
  }

  /** Deliveries waiting or in flight. */
  get queued(): number {
    return this.#pending;
  }

  /** Reads the webhooks from the store, then keeps re-reading them every `reloadMs`. */
  async start(): Promise<void> {
    await this.reload();
    this.#reload = setInterval(() => {
      this.reload().catch((e: unknown) => this.#logger.warn({ error: (e as Error)?.name }, 'webhooks: could not re-read the list'));
    }, this.#settings.reloadMs);
    this.#reload.unref();
  }

  /** Re-reads the webhooks from the store. */
  async reload(): Promise<void> {
    const hooks = await listWebhooks(this.#store.db);
    this.#hooks = hooks;
    const ids = new Set(hooks.map((h) => h.webhookId));
    for (const id of this.#values.keys()) if (!ids.has(id)) this.#values.delete(id);
  }

  /** The webhooks (as last read). */
  list(): readonly WebhookRow[] {
    return this.#hooks;
  }

  /**
   * Registers a webhook. Without `secret` one is generated and returned (shown once).
   * @throws {WebhookError} for a bad URL, events, threshold or secret, or too many webhooks.
   */
  async create(request: {
    url: string;
    events: readonly string[];
    thresholdWei?: string | undefined;
    windowSeconds?: number | undefined;
    secret?: string | undefined;
    createdBy: string;
    now: number;
  }): Promise<{ webhook: WebhookRow; secret: string | undefined }> {
    const url = validateWebhookUrl(request.url);
    if (!this.#settings.allowPrivateTargets) await checkWebhookTarget(url);
    const sub = validateSubscription(request.events, request.thresholdWei, request.windowSeconds);
    if (request.secret !== undefined && (request.secret.length < 16 || request.secret.length > 256 || /[\s]/.test(request.secret))) {
      throw new WebhookError('InvalidSecret', 'a webhook secret must be 16 to 256 characters without white space');
    }
    await this.reload();
    if (this.#hooks.length >= MAX_WEBHOOKS) throw new WebhookError('TooManyWebhooks', `at most ${MAX_WEBHOOKS} webhooks; delete one first`);
    const generated = request.secret === undefined ? `whsec_${randomBytes(32).toString('base64url')}` : undefined;
    const webhookId = `wh-${randomUUID()}`;
    const secretBytes = utf8Bytes(request.secret ?? generated!);
    let sealedSecret: Uint8Array;
    try {
      sealedSecret = this.#root.seal(secretBytes, webhookSecretAad(webhookId));
    } finally {
      wipe(secretBytes);
    }
    const webhook: WebhookRow = {
      webhookId,
      url,
      events: sub.events,
      thresholdWei: sub.thresholdWei,
      windowSeconds: sub.windowSeconds,
      sealedSecret,
      createdBy: request.createdBy,
      createdAt: request.now,
    };
    await insertWebhook(this.#store.db, webhook);
    await this.reload();
    return { webhook, secret: generated };
  }

  /** @returns false when there was no such webhook. */
  async delete(webhookId: string): Promise<boolean> {
    const deleted = await deleteWebhook(this.#store.db, webhookId);
    await this.reload();
    return deleted;
  }

  /** Queues `type` for every webhook subscribed to it. Never throws. */
  emit(type: Exclude<WebhookEventType, 'value.threshold'>, data: Record<string, unknown>, time: number): void {
    try {
      for (const h of this.#hooks) if (h.events.includes(type)) this.#enqueue(h, type, data, time);
    } catch (e) {
      this.#logger.warn({ error: (e as Error)?.name }, 'webhooks: could not queue an event');
    }
  }

  /**
   * Adds value signed by `keyArn` on `chainId` to every value.threshold
   * webhook's window; queues one event to a webhook whose threshold the sum
   * reaches. Never throws.
   */
  valueSigned(keyArn: string, chainId: string, wei: bigint, time: number): void {
    try {
      if (wei <= 0n) return;
      for (const h of this.#hooks) {
        if (!h.events.includes('value.threshold') || h.thresholdWei === null || h.windowSeconds === null) continue;
        const threshold = BigInt(h.thresholdWei);
        let series = this.#values.get(h.webhookId);
        if (!series) this.#values.set(h.webhookId, (series = new Map()));
        const id = `${keyArn}\n${chainId}`;
        let s = series.get(id);
        if (s)
          series.delete(id); // re-inserted below: Map order is least recently used first
        else {
          if (series.size >= MAX_VALUE_SERIES) series.delete(series.keys().next().value!);
          s = { entries: [], sum: 0n, alerted: false };
        }
        series.set(id, s);
        const since = time - h.windowSeconds * 1000;
        while (s.entries.length > 0 && s.entries[0]!.t <= since) s.sum -= s.entries.shift()!.wei;
        if (s.alerted && s.sum < threshold) s.alerted = false;
        s.entries.push({ t: time, wei });
        s.sum += wei;
        if (s.entries.length > MAX_WINDOW_ENTRIES) {
          const [a, b] = s.entries.splice(0, 2) as [{ t: number; wei: bigint }, { t: number; wei: bigint }];
          s.entries.unshift({ t: b.t, wei: a.wei + b.wei });
        }
        if (!s.alerted && s.sum >= threshold) {
          s.alerted = true;
          this.#enqueue(
            h,
            'value.threshold',
            {
              keyArn,
              chainId,
              valueWei: s.sum.toString(),
              thresholdWei: h.thresholdWei,
              windowSeconds: h.windowSeconds,
              signatures: s.entries.length,
            },
            time,
          );
        }
      }
    } catch (e) {
      this.#logger.warn({ error: (e as Error)?.name }, 'webhooks: could not count signed value');
    }
  }

  /** Stops reloading and retrying; deliveries not yet sent are abandoned. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#reload);
    for (const [t, wake] of this.#timers) {
      clearTimeout(t);
      wake();
    }
    this.#timers.clear();
    for (const w of this.#waiting.splice(0)) w();
  }

  #enqueue(h: WebhookRow, type: WebhookEventType, data: Record<string, unknown>, time: number): void {
    if (this.#closed) return;
    if (this.#pending >= this.#settings.maxQueue) {
      this.stats.dropped++;
      return;
    }
    const id = randomUUID();
    const body = JSON.stringify({ id, type, time: new Date(time).toISOString(), webhookId: h.webhookId, data });
    this.#pending++;
    void this.#deliver({ id, webhookId: h.webhookId, url: h.url, sealedSecret: h.sealedSecret, type, body });
  }

  async #deliver(d: Delivery): Promise<void> {
    try {
      for (let attempt = 1; !this.#closed; attempt++) {
        const result = await this.#limited(() => this.#post(d));
        if (result === 'ok') {
          this.stats.delivered++;
          return;
        }
        if (this.#closed) return;
        this.stats.failedAttempts.set(d.type, (this.stats.failedAttempts.get(d.type) ?? 0) + 1);
        if (attempt >= this.#settings.maxAttempts) {
          this.stats.givenUp++;
          // Ids and a status only: the URL's path or query may carry a receiver's token.
          this.#logger.warn({ webhookId: d.webhookId, delivery: d.id, type: d.type, attempts: attempt, last: result }, 'webhook delivery abandoned');
          return;
        }
        const cap = Math.min(this.#settings.maxDelayMs, this.#settings.baseDelayMs * 2 ** (attempt - 1));
        await this.#sleep(Math.floor(Math.random() * cap));
      }
    } catch (e) {
      this.#logger.warn({ webhookId: d.webhookId, error: (e as Error)?.name }, 'webhook delivery failed unexpectedly');
    } finally {
      this.#pending--;
    }
  }

  /** One POST: 'ok' for a 2xx answer, else a short reason (an HTTP status or an error class). */
  async #post(d: Delivery): Promise<string> {
    if (this.#closed) return 'closed';
    const timestamp = Math.floor(this.#clock() / 1000);
    let signature: string;
    const secret = this.#root.open(d.sealedSecret, webhookSecretAad(d.webhookId));
    try {
      signature = webhookSignature(secret, timestamp, d.body);
    } finally {
      wipe(secret);
    }
    try {
      const status = await this.#send(d, signature, timestamp);
      return status >= 200 && status < 300 ? 'ok' : `HTTP ${status}`;
    } catch (e) {
      return (e as Error)?.name ?? 'Error';
    }
  }

  /**
   * The POST itself, over node:http(s) so that the socket connects only to a
   * checked address: an address literal is checked here, a name through
   * guardedLookup (the addresses actually connected to, not what the name
   * resolved to at registration). Redirects are never followed (a 3xx is a
   * failed attempt), so no answer can point the server elsewhere.
   * @throws {RefusedTargetError|Error} when refused, on a network error or at the time limit.
   */
  #send(d: Delivery, signature: string, timestamp: number): Promise<number> {
    const url = new URL(d.url);
    const host = urlHost(url);
    const guarded = !this.#settings.allowPrivateTargets;
    if (guarded && isIP(host) !== 0 && isRefusedWebhookAddress(host)) {
      return Promise.reject(new RefusedTargetError('the webhook host is a refused address'));
    }
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(d.body),
            'user-agent': 'symbolon-webhooks/1',
            [SIGNATURE_HEADER]: signature,
            [TIMESTAMP_HEADER]: String(timestamp),
            'x-symbolon-event': d.type,
            'x-symbolon-delivery': d.id,
          },
          // A fresh connection each time: no pooled socket outlives the check.
          agent: false,
          ...(guarded ? { lookup: guardedLookup } : {}),
          signal: AbortSignal.timeout(this.#settings.timeoutMs),
        },
        (res) => {
          // Only the status counts; the answer is never read.
          resolve(res.statusCode ?? 0);
          res.destroy();
        },
      );
      req.on('error', reject);
      req.end(d.body);
    });
  }

  /** Runs `fn` once fewer than `concurrency` POSTs are in flight. */
  async #limited<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#inFlight >= this.#settings.concurrency && !this.#closed) await new Promise<void>((r) => this.#waiting.push(r));
    this.#inFlight++;
    try {
      return await fn();
    } finally {
      this.#inFlight--;
      this.#waiting.shift()?.();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      t.unref();
      this.#timers.set(t, resolve);
    });
  }
}
