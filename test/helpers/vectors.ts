/**
 * Finds the shared test vectors (Wycheproof, ethereum/tests, ethers, AWS SigV4
 * suite, LocalStack captures) through one setting: SYMBOLON_VECTORS, defaulting
 * to ../shared/vectors beside the clone. They are not copied into the repo;
 * `npm run vectors:fetch` downloads them at the commits SOURCES.md names.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';

export const VECTORS_DIR = resolve(process.env.SYMBOLON_VECTORS ?? join(import.meta.dirname, '..', '..', '..', 'shared', 'vectors'));

/** The absolute path of a vector file, or undefined when the vectors are absent. */
export function vectorPath(relative: string): string | undefined {
  const p = join(VECTORS_DIR, relative);
  return existsSync(p) ? p : undefined;
}

/** A message for a vector suite that cannot run, saying plainly why. */
export function absentMessage(relative: string): string {
  return `test vectors absent: ${join(VECTORS_DIR, relative)} not found (set SYMBOLON_VECTORS, or run \`npm run vectors:fetch\`)`;
}

/** Reads a JSON (or .json.gz) vector file. */
export function readVectorJson<T = unknown>(path: string): T {
  const raw = readFileSync(path);
  return JSON.parse((path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')) as T;
}
