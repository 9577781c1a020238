/**
 * Rate limits of the passkey ceremonies (`/oidc/passkey/<kind>/start` and
 * `…/finish`, docs/identity.md "Passkeys"): a sliding window per client
 * address and per user (`sub`), in this process's memory.
 *
 * Bounded memory: each key keeps at most `limit` timestamps, and each of the
 * two tables at most `maxKeys` keys; past that the least recently touched key
 * is dropped (so a flood of addresses can make the limiter forget a key, but
 * never makes it grow). Counted per process: behind N processes a client gets
 * at most N times the limit. The email-code limits, by contrast, are counted
 * from stored rows (src/identity/issuer/builtin-issuer.ts).
 */
import { IssuerError } from '../errors.js';

export interface CeremonyLimits {
  /** Passkey ceremony requests (starts and finishes) one client address may make per window. */
  perIp: number;
  /** Passkey ceremony requests one user may make per window. */
  perUser: number;
  windowMs: number;
  /** Keys each table holds at most. */
  maxKeys: number;
}

class SlidingWindows {
  readonly #times = new Map<string, number[]>();
  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly maxKeys: number,
  ) {}

  /** Counts one request for `key` at `now`; returns the seconds to wait when it is over the limit (and then does not count it). */
  take(key: string, now: number): number | undefined {
    const since = now - this.windowMs;
    const times = (this.#times.get(key) ?? []).filter((t) => t > since);
    this.#times.delete(key);
    if (times.length >= this.limit) {
      this.#times.set(key, times);
      // Possible again when the oldest request still counted leaves the window.
      return Math.max(1, Math.ceil((times[0]! + this.windowMs - now) / 1000));
    }
    times.push(now);
    this.#times.set(key, times);
    // A Map iterates in insertion order: the first key is the least recently touched.
    while (this.#times.size > this.maxKeys) this.#times.delete(this.#times.keys().next().value!);
    return undefined;
  }

  get size(): number {
    return this.#times.size;
  }
}

export class CeremonyLimiter {
  readonly #ip: SlidingWindows;
  readonly #user: SlidingWindows;

  /** @throws {RangeError} when a limit is not a positive integer. */
  constructor(limits: CeremonyLimits) {
    for (const k of ['perIp', 'perUser', 'windowMs', 'maxKeys'] as const) {
      if (!Number.isInteger(limits[k]) || limits[k] < 1) throw new RangeError(`passkey limit ${k} must be a positive integer`);
    }
    this.#ip = new SlidingWindows(limits.perIp, limits.windowMs, limits.maxKeys);
    this.#user = new SlidingWindows(limits.perUser, limits.windowMs, limits.maxKeys);
  }

  /** @throws {IssuerError} rate_limited (429, with Retry-After) when this address is over its limit. */
  checkIp(ip: string, now: number): void {
    const wait = this.#ip.take(ip, now);
    if (wait !== undefined) throw limited('from this address', wait);
  }

  /** @throws {IssuerError} rate_limited (429, with Retry-After) when this user is over their limit. */
  checkUser(sub: string, now: number): void {
    const wait = this.#user.take(sub, now);
    if (wait !== undefined) throw limited('for this user', wait);
  }

  /** How many keys each table holds (tests of the memory bound). */
  get sizes(): { ip: number; user: number } {
    return { ip: this.#ip.size, user: this.#user.size };
  }
}

function limited(what: string, retryAfterSec: number): IssuerError {
  return new IssuerError('rate_limited', `Too many passkey requests ${what}; try again in ${retryAfterSec} seconds.`, 429, retryAfterSec);
}
