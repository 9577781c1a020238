/**
 * node:test's `test`, `before` and `after` for the browser tests
 * (test/frame.test.ts, test/frame-split.test.ts, test/frame-oidc.test.ts).
 *
 * Without Chromium, a fresh machine running `npm test` must pass: every test
 * of such a file is counted as skipped, with a plain message saying Chromium
 * is missing and how to install it, and its hooks do not run. CI sets
 * SYMBOLON_REQUIRE_BROWSER=1 (.ci/run): there a missing browser fails the
 * file instead, so CI always runs the browser tests.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after as nodeAfter, before as nodeBefore, test as nodeTest } from 'node:test';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The Chromium the tests drive: SYMBOLON_CHROMIUM if set, else `chromium`
 * (Debian's package) or `chromium-browser` on PATH; undefined when none is found.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.SYMBOLON_CHROMIUM) return executable(env.SYMBOLON_CHROMIUM) ? env.SYMBOLON_CHROMIUM : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of ['chromium', 'chromium-browser']) if (executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Why the browser tests cannot run here, or undefined when Chromium is there. */
export const BROWSER_MISSING: string | undefined = findChromium()
  ? undefined
  : `Chromium is missing (${process.env.SYMBOLON_CHROMIUM ? `SYMBOLON_CHROMIUM=${process.env.SYMBOLON_CHROMIUM} is not an executable` : 'no chromium on PATH'}): install it with \`apt-get install chromium\`, or set SYMBOLON_CHROMIUM to its path`;

const REQUIRED = process.env.SYMBOLON_REQUIRE_BROWSER === '1';
/** The skip reason of every test in a browser test file; undefined when the tests run (or must). */
export const SKIP = BROWSER_MISSING && !REQUIRED ? `${BROWSER_MISSING} — browser test skipped` : undefined;

/** node:test's `test`, skipped (with the reason) when Chromium is missing. */
export function test(name: string, fn: () => unknown): void {
  void (SKIP ? nodeTest(name, { skip: SKIP }, fn as () => void) : nodeTest(name, fn as () => void));
}

/** node:test's `before`; not run when the file's tests are skipped; fails at once when Chromium is missing and required. */
export function before(fn: () => unknown): void {
  if (SKIP) return;
  nodeBefore(async () => {
    if (BROWSER_MISSING) throw new Error(`${BROWSER_MISSING} (SYMBOLON_REQUIRE_BROWSER=1: the browser tests must run)`);
    await fn();
  });
}

/** node:test's `after`; not run when the file's tests are skipped. */
export function after(fn: () => unknown): void {
  if (SKIP) return;
  nodeAfter(fn as () => void);
}
