/**
 * Polling for something that happens off the request path (a webhook
 * delivery, a counter): used by test/monitor.test.ts, test/webhooks.test.ts,
 * test/webhooks-delivery.test.ts and test/webhook-targets.test.ts.
 */
import assert from 'node:assert/strict';

/**
 * Waits until `check()` is true, polling every 20 ms.
 * @throws {AssertionError} naming `what` when it is still false after `limitMs`.
 */
export async function eventually(what: string, check: () => boolean, limitMs = 15_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
