/**
 * Measures the signer image, as the platform does at launch (the analogue of
 * the PCRs a Nitro hypervisor computes for an enclave image):
 *
 *  - the file list is found by WALKING IMPORTS from the entry point
 *    (src/signer/main.ts): every relative `import … from`, `export … from`,
 *    side-effect `import '…'` and dynamic `import('…')` is followed, `.js`
 *    specifiers resolved to their `.ts` sources; `import type` / `export type`
 *    are skipped (erased at run time). Anything else (a bare package name) is
 *    a dependency. No manifest to keep in sync: the image is exactly what the
 *    entry point can load, and a file the walk misses is absent from the image,
 *    so the signer fails to start rather than run unmeasured code. Files may
 *    come from src/ and from the SDK's sources, packages/sdk/src/ (the one home
 *    of code both sides run, e.g. packages/sdk/src/canonicalSignature.ts):
 *    reached by relative path they are measured byte for byte, where a bare
 *    `@symbolon/sdk` import would count only as name@version in PCR2;
 *  - PCR0 ("ImageSha384") = SHA-384 over "symbolon-signer-image/v1\n" then, for
 *    each image file in byte order of its path: path, NUL, decimal length, NUL,
 *    content. The image also holds a fixed package.json ({"type":"module"}) and
 *    the repository's tsconfig.json (how the sources compile), both measured;
 *  - PCR1 = SHA-384 of the runtime: Node.js, V8 and OpenSSL versions, platform, arch;
 *  - PCR2 = SHA-384 of the dependencies the image imports: "name@version\n"
 *    for each, sorted, versions read from node_modules.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository this module belongs to (two levels above src/signer). */
export const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIGNER_ENTRY = 'src/signer/main.ts';
export const IMAGE_PACKAGE_JSON = '{"type":"module"}\n';
/** The folders (relative to the repository, '/'-terminated) image files may come from. */
export const IMAGE_SOURCE_FOLDERS: readonly string[] = Object.freeze(['src/', 'packages/sdk/src/']);

export interface ImageFile {
  /** Path relative to the image root, '/'-separated. */
  path: string;
  content: Buffer;
}

export interface SignerImage {
  files: ImageFile[];
  /** Bare dependencies with their installed versions, sorted. */
  dependencies: string[];
  /** PCR index -> 48-byte SHA-384. */
  pcrs: Map<number, Uint8Array>;
  /** Lower-case hex of PCR0, as kms:RecipientAttestation:ImageSha384 compares it. */
  imageSha384: string;
}

/** Raised when the image cannot be built (a relative import outside IMAGE_SOURCE_FOLDERS, a missing file). */
export class MeasurementError extends Error {
  override name = 'MeasurementError';
}

const STATIC_IMPORT = /^[ \t]*(?:import|export)[ \t]+(type[ \t]+)?(?:[^;'"]*?[ \t\n}*])?from[ \t]*['"]([^'"\n]+)['"]/gm;
const SIDE_EFFECT_IMPORT = /^[ \t]*import[ \t]*['"]([^'"\n]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;
const REQUIRE = /\brequire\(\s*['"]([^'"\n]+)['"]\s*\)/g;

function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(STATIC_IMPORT)) if (!m[1]) out.push(m[2]!);
  for (const re of [SIDE_EFFECT_IMPORT, DYNAMIC_IMPORT, REQUIRE]) for (const m of source.matchAll(re)) out.push(m[1]!);
  return out;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function toPosix(p: string): string {
  return p.split(sep).join('/');
}

/**
 * Walks the imports from `entry` under `sourceRoot` and measures the result.
 * @throws {MeasurementError} on an import that leaves IMAGE_SOURCE_FOLDERS or names no file.
 */
export function measureSignerImage(options: { sourceRoot?: string; entry?: string } = {}): SignerImage {
  const root = resolve(options.sourceRoot ?? REPOSITORY_ROOT);
  const entry = options.entry ?? SIGNER_ENTRY;
  const files = new Map<string, Buffer>();
  const packages = new Set<string>();
  const queue = [resolve(root, entry)];
  while (queue.length) {
    const file = queue.pop()!;
    const rel = toPosix(relative(root, file));
    if (files.has(rel)) continue;
    if (rel.startsWith('..') || !IMAGE_SOURCE_FOLDERS.some((folder) => rel.startsWith(folder)))
      throw new MeasurementError(`the signer imports ${rel}, outside ${IMAGE_SOURCE_FOLDERS.join(' and ')}`);
    if (!existsSync(file)) throw new MeasurementError(`the signer imports ${rel}, which does not exist`);
    const content = readFileSync(file);
    files.set(rel, content);
    for (const spec of specifiers(content.toString('utf8'))) {
      if (spec.startsWith('.')) {
        let target = resolve(dirname(file), spec);
        if (target.endsWith('.js') && existsSync(target.slice(0, -3) + '.ts')) target = target.slice(0, -3) + '.ts';
        queue.push(target);
      } else if (!isBuiltin(spec)) {
        packages.add(packageName(spec));
      }
    }
  }
  files.set('package.json', Buffer.from(IMAGE_PACKAGE_JSON));
  const tsconfig = join(root, 'tsconfig.json');
  if (existsSync(tsconfig)) files.set('tsconfig.json', readFileSync(tsconfig));

  const sorted = [...files.entries()].map(([path, content]) => ({ path, content })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const pcr0 = createHash('sha384').update('symbolon-signer-image/v1\n');
  for (const f of sorted) pcr0.update(`${f.path}\u0000${f.content.length}\u0000`).update(f.content);

  const pcr1 = createHash('sha384').update(
    `symbolon-signer-runtime/v1\nnode ${process.version}\nv8 ${process.versions.v8}\nopenssl ${process.versions.openssl}\n${process.platform} ${process.arch}\n`,
  );

  const dependencies = [...packages].sort().map((name) => {
    const pkg = join(root, 'node_modules', name, 'package.json');
    const version = existsSync(pkg) ? String((JSON.parse(readFileSync(pkg, 'utf8')) as { version?: unknown }).version ?? '?') : 'missing';
    return `${name}@${version}`;
  });
  const pcr2 = createHash('sha384').update('symbolon-signer-dependencies/v1\n');
  for (const d of dependencies) pcr2.update(`${d}\n`);

  const pcrs = new Map<number, Uint8Array>([
    [0, new Uint8Array(pcr0.digest())],
    [1, new Uint8Array(pcr1.digest())],
    [2, new Uint8Array(pcr2.digest())],
  ]);
  return { files: sorted, dependencies, pcrs, imageSha384: Buffer.from(pcrs.get(0)!).toString('hex') };
}
