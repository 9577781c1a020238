/**
 * The layering docs/architecture.md describes, checked on the code itself:
 * every relative import under src/ (found with TypeScript's own pre-parser,
 * type-only imports included) must go from a layer to one it may use —
 * foundations never import services or the shell — and no files import each
 * other in a circle. src/ may also import, by relative path, the few SDK
 * modules that are the one home of code both sides run (SHARED_SDK_MODULES):
 * the SDK stays a standalone package, so the home is there, and it never
 * imports src/ (packages/sdk/test/exports.test.ts). Known exceptions are listed below with their reason; an
 * exception that no longer occurs fails the test too, so the list stays true
 * and can only shrink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';

const SRC = 'src';

/** Which folders each folder may import from (besides itself). */
const FOUNDATIONS = ['crypto', 'eth', 'root', 'storage', 'aws', 'attestation', 'signing-policy'] as const;
const SERVICES = ['kms', 'iam', 'sts', 'identity', 'wallet', 'signer', 'audit', 'rpc'] as const;
const SHELL = ['server', 'cli', 'config.ts'] as const;
const MAY_USE: Record<string, readonly string[]> = {
  crypto: [],
  eth: ['crypto'],
  root: ['crypto'],
  storage: ['crypto'],
  aws: ['crypto', 'root', 'storage'],
  attestation: ['crypto', 'root', 'storage'],
  'signing-policy': ['crypto', 'eth', 'aws'],
  ...Object.fromEntries(SERVICES.map((s) => [s, [...FOUNDATIONS, ...SERVICES]])),
  ...Object.fromEntries(SHELL.map((s) => [s, [...FOUNDATIONS, ...SERVICES, ...SHELL]])),
};

/**
 * SDK modules src/ may import (paths from the repository root): pure,
 * browser-safe, imported by relative path so that what the signer runs of
 * them is in its measured image (src/signer/measure.ts). Any layer may use
 * them; nothing else under packages/ may be imported from src/.
 */
const SHARED_SDK_MODULES: readonly string[] = [
  'packages/sdk/src/canonicalSignature.ts',
  'packages/sdk/src/checkTypedDataLimits.ts',
  'packages/sdk/src/errors.ts',
  // The HPKE channel of a key export: the signer seals, the device opens (docs/signer.md, "Export").
  'packages/sdk/src/split/keyExport.ts',
];

/**
 * Imports that break the rule today, each with why it is still there. Keys are
 * `from -> to` file paths under src/.
 */
const KNOWN_EXCEPTIONS: ReadonlyMap<string, string> = new Map([]);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The relative imports of a file, resolved to paths under src/ (`.js` specifiers name `.ts` files). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => normalize(join(dirname(file), spec.replace(/\.js$/, '.ts'))));
}

/** The folder (or top-level file) a path under src/ belongs to. */
function unit(path: string): string {
  return relative(SRC, path).split('/')[0]!;
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every folder under src/ has a place in the layering', () => {
  const units = new Set(files.map(unit));
  for (const u of units) assert.ok(u in MAY_USE, `src/${u} is in no layer: add it to docs/architecture.md and this test`);
});

test('imports flow one way: no foundation imports a service or the shell (known exceptions listed)', () => {
  const violations: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      if (SHARED_SDK_MODULES.includes(to)) continue;
      const a = unit(from);
      const b = unit(to);
      if (a === b || MAY_USE[a]!.includes(b)) continue;
      violations.push(`${relative(SRC, from)} -> ${relative(SRC, to)}`);
    }
  }
  const unexpected = violations.filter((v) => !KNOWN_EXCEPTIONS.has(v));
  assert.deepEqual(unexpected, [], 'imports against the layering (docs/architecture.md)');
  const gone = [...KNOWN_EXCEPTIONS.keys()].filter((k) => !violations.includes(k));
  assert.deepEqual(gone, [], 'exceptions that no longer occur: remove them from KNOWN_EXCEPTIONS');
});

test('no import circles between files', () => {
  // Tarjan's strongly connected components: any component of more than one file is a circle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(relative(SRC, w));
      } while (w !== v);
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const f of graph.keys()) if (!idx.has(f)) visit(f);
  assert.deepEqual(circles, [], 'files that import each other in a circle');
});

test('every file a doc or comment names under src/, docs/, test/, web/ or packages/ exists', () => {
  const roots = ['README.md', 'docs', 'src', 'packages/sdk/src', 'web', 'test', 'bench', 'scripts'];
  const texts: string[] = [];
  const walk = (p: string): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      if (p.endsWith('node_modules') || p.endsWith('dist') || p.endsWith('results')) return;
      for (const e of readdirSync(p)) walk(join(p, e));
    } else if (/\.(md|ts|js|html)$/.test(p)) texts.push(p);
  };
  roots.forEach(walk);
  const missing: string[] = [];
  const ref = /(?<![\w./-])((?:src|docs|test|web|packages|bench|scripts)\/[\w./-]*\w\.(?:ts|md|js|json|html|css))\b/g;
  for (const file of texts) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(ref)) {
      const path = m[1]!;
      // Build outputs (the frame bundle) are made by `symbolon serve`, not kept in the repository.
      if (path.includes('*') || path.startsWith('web/dist/')) continue;
      // Another repository's path, named with that repository (e.g. AWS's NSM API docs).
      if (/(aws-nitro-enclaves-nsm-api|attestation_process)/.test(text.slice(Math.max(0, m.index! - 60), m.index! + path.length))) continue;
      try {
        statSync(path);
      } catch {
        missing.push(`${file}: ${path}`);
      }
    }
  }
  assert.deepEqual([...new Set(missing)], [], 'references to files that are not in the repository');
});
