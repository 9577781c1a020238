/**
 * The wallet frame, the example DApp and the provider script for `symbolon serve`: built from web/
 * (scripts/build-web.js, esbuild) when web/dist is missing or older than its
 * sources, so a fresh clone serves /frame/ without a separate build step.
 * Sources are web/frame, web/dapp, web/provider and packages/sdk/src (which
 * the frame and the provider script bundle); the check compares modification times only.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCES = ['web/frame', 'web/dapp', 'web/provider', 'packages/sdk/src'];
const OUTPUTS = [
  'web/dist/frame/index.html',
  'web/dist/frame/frame.js',
  'web/dist/frame/oidc-callback.js',
  'web/dist/dapp/index.html',
  'web/dist/dapp/dapp.js',
  'web/dist/sdk/provider.js',
];

function newestMtime(dir: string): number {
  let newest = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const p = join(dir, name);
    let s;
    try {
      s = statSync(p);
    } catch {
      continue; // removed meanwhile
    }
    newest = Math.max(newest, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return newest;
}

/**
 * Why web/dist must be (re)built, or undefined when it is current.
 * @throws never: unreadable files count as missing.
 */
export function webBuildNeeded(root = ROOT): string | undefined {
  let oldestOutput = Infinity;
  for (const f of OUTPUTS) {
    try {
      oldestOutput = Math.min(oldestOutput, statSync(join(root, f)).mtimeMs);
    } catch {
      return `${f} is missing`;
    }
  }
  const newestSource = Math.max(...SOURCES.map((d) => newestMtime(join(root, d))));
  return newestSource > oldestOutput ? 'web/ sources changed since the last build' : undefined;
}

/**
 * Builds web/dist when needed. A failed build (e.g. an install without the
 * build tools) is reported and serving goes on: /frame/ then answers 503 not_built.
 * @throws never.
 */
export async function ensureWebBuilt(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<void> {
  const reason = webBuildNeeded();
  if (reason === undefined) return;
  const started = Date.now();
  try {
    // A variable specifier: scripts/ is plain JavaScript outside the type-checked sources.
    const script = pathToFileURL(join(ROOT, 'scripts/build-web.js')).href;
    const { buildWeb } = (await import(script)) as { buildWeb: (o: { quiet: boolean }) => Promise<Record<string, number>> };
    await buildWeb({ quiet: true });
    log(`symbolon serve: built the wallet frame and example DApp into web/dist (${reason}; ${Date.now() - started} ms)`);
  } catch (e) {
    log(
      `symbolon serve: could not build the wallet frame (${(e as Error).message.split('\n')[0]?.slice(0, 200)}); /frame/ answers 503 until npm run build:web succeeds`,
    );
  }
}
