/**
 * Retries a KMS call that was throttled (ThrottlingException; AWS KMS answers
 * it above a key's request quota) with exponential backoff and full jitter
 * (AWS Architecture Blog, "Exponential Backoff And Jitter"). Other errors are
 * not retried: they would fail the same way again.
 */

export interface RetryOptions {
  /** Attempts in all, the first included (default 6). */
  maxAttempts?: number;
  /** First backoff ceiling in ms (default 50); it doubles each attempt. */
  baseDelayMs?: number;
  /** Largest backoff ceiling in ms (default 2,000). */
  maxDelayMs?: number;
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** True for an error that AWS or the custodian raises when a request rate is exceeded. */
export function isThrottlingError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; Code?: unknown; __type?: unknown };
  return [e.name, e.Code, e.__type].some((v) => typeof v === 'string' && THROTTLING.has(v.replace(/^.*#/, '')));
}

/**
 * Runs `call`, retrying it while it throws a throttling error.
 * @throws the last error when attempts run out, or the first non-throttling error.
 */
export async function withThrottlingRetry<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 6;
  const base = options.baseDelayMs ?? 50;
  const cap = options.maxDelayMs ?? 2_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= maxAttempts || !isThrottlingError(error)) throw error;
      const ceiling = Math.min(cap, base * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}
