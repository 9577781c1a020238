/**
 * Alerts on bursts of denied requests: when one principal gets
 * `threshold` AccessDeniedException replies on one key within `windowSeconds`,
 * one warning line names the principal, the key and the count, so log-based
 * alerting can catch unauthorized access attempts. The same principal and key
 * are not reported again until a full window has passed since the alert.
 * The SigningMonitor (monitor.ts) feeds it every denied audit event and turns
 * each burst it reports into a `deny.burst` webhook.
 */
import type { Logger } from 'pino';
import type { DeniedAlertSettings } from './settings.js';

/** One completed burst, as logged. */
export interface DeniedBurst {
  principal: string;
  key: string;
  count: number;
  windowSeconds: number;
}

interface Burst {
  /** Times of recent denials (milliseconds), oldest first. */
  times: number[];
  alertedAt: number | undefined;
}

// Bounds memory under a flood of distinct principal/key pairs.
const MAX_TRACKED = 10_000;

export class DeniedAlerts {
  readonly #logger: Logger;
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #bursts = new Map<string, Burst>();
  /** Alerts logged so far (for /metrics). */
  alerts = 0;

  constructor(options: { logger: Logger; settings: DeniedAlertSettings }) {
    this.#logger = options.logger;
    this.#threshold = options.settings.threshold;
    this.#windowMs = options.settings.windowSeconds * 1000;
  }

  /**
   * Counts one denied request; logs the warning when it completes a burst.
   * @returns the burst it completed, or undefined.
   */
  denied(principalArn: string, keyArn: string | undefined, now: number): DeniedBurst | undefined {
    const key = keyArn ?? '(no key)';
    const id = `${principalArn}\n${key}`;
    let b = this.#bursts.get(id);
    if (!b) {
      if (this.#bursts.size >= MAX_TRACKED) this.#prune(now);
      b = { times: [], alertedAt: undefined };
      this.#bursts.set(id, b);
    }
    const since = now - this.#windowMs;
    while (b.times.length > 0 && b.times[0]! <= since) b.times.shift();
    b.times.push(now);
    if (b.times.length > this.#threshold) b.times.shift();
    if (b.times.length >= this.#threshold && (b.alertedAt === undefined || b.alertedAt <= since)) {
      b.alertedAt = now;
      this.alerts++;
      const windowSeconds = this.#windowMs / 1000;
      this.#logger.warn(
        { alert: 'kms_denied_burst', principal: principalArn, key, count: b.times.length, windowSeconds },
        `${b.times.length} denied KMS requests from ${principalArn} on ${key} within ${windowSeconds}s`,
      );
      return { principal: principalArn, key, count: b.times.length, windowSeconds };
    }
    return undefined;
  }

  #prune(now: number): void {
    const since = now - this.#windowMs;
    for (const [id, b] of this.#bursts) {
      if ((b.times.at(-1) ?? 0) <= since && (b.alertedAt ?? 0) <= since) this.#bursts.delete(id);
    }
    // Still full of live bursts: forget the oldest entries rather than grow.
    for (const id of this.#bursts.keys()) {
      if (this.#bursts.size < MAX_TRACKED) break;
      this.#bursts.delete(id);
    }
  }
}
