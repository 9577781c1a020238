/**
 * The public API of @symbolon/sdk: the entry module's export list is compared
 * with the committed snapshot (exports.snapshot.json), so any change to it
 * shows in review. And the package stays browser-safe: no `node:` imports, no
 * Node globals, nothing from the server's tree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';

const here = import.meta.dirname;

test('the entry module exports exactly the snapshot list', async () => {
  const entry = await import('../src/index.js');
  const snapshot = JSON.parse(readFileSync(join(here, 'exports.snapshot.json'), 'utf8')) as string[];
  assert.deepEqual(Object.keys(entry).sort(), snapshot);
});

test('the Node-only entry (@symbolon/sdk/node) exports exactly its parity, transport, hash and client factories', async () => {
  const entry = await import('../src/node/index.js');
  assert.deepEqual(Object.keys(entry).sort(), ['createNativeParity', 'createNodeHttpFetch', 'createNodeKmsClient', 'nativeParity', 'nodeSigV4Hashes']);
  assert.equal(typeof entry.createNativeParity(), 'function');
});

test('package.json exports the build (types first), and the repository maps each entry to its source', () => {
  const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'));
  assert.equal(pkg.name, '@symbolon/sdk');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.sideEffects, false);
  assert.equal(pkg.scripts.prepack, 'npm run build');
  // The root tsconfig.json's `paths` (read by tsc, tsx and esbuild) point each entry at the .ts file the build turns into the exported .js.
  const paths = JSON.parse(readFileSync(join(here, '..', '..', '..', 'tsconfig.json'), 'utf8')).compilerOptions.paths as Record<string, string[]>;
  const entries = Object.keys(pkg.exports).filter((k) => k !== './package.json');
  assert.deepEqual(entries, ['.', './viem', './ethers', './browser', './node', './master-key-policy']);
  for (const sub of entries) {
    const target = pkg.exports[sub] as Record<string, string>;
    assert.deepEqual(Object.keys(target), ['types', 'default'], `${sub}: types must come first`);
    assert.match(target.default!, /^\.\/dist\/.+\.js$/);
    assert.equal(target.types, target.default!.replace(/\.js$/, '.d.ts'));
    const source = paths[`@symbolon/sdk${sub.slice(1)}`]?.[0];
    assert.equal(source, `./packages/sdk/src/${target.default!.slice('./dist/'.length).replace(/\.js$/, '.ts')}`, `${sub}: tsconfig paths`);
  }
  // Each peer is needed by some entries only (docs/sdk.md says which), so none is required.
  assert.deepEqual(Object.keys(pkg.peerDependencies).sort(), ['@aws-sdk/client-kms', 'ethers', 'viem']);
  for (const peer of Object.keys(pkg.peerDependencies)) assert.equal(pkg.peerDependenciesMeta[peer]?.optional, true, peer);
});

/** The bare specifiers (packages) an entry loads, following its relative imports (type-only imports load nothing). */
function packagesLoadedBy(entry: string): Set<string> {
  const seen = new Set<string>();
  const found = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const m of code.matchAll(/^(import|export)\s+(type\s)?[^'";]*?from\s*['"]([^'"]+)['"]/gm)) {
      if (m[2]) continue;
      const s = m[3]!;
      if (s.startsWith('.')) visit(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
      else found.add(s);
    }
  };
  visit(entry);
  return found;
}

test('the viem entry never loads ethers, the browser entry loads no package at all', () => {
  const src = join(here, '..', 'src');
  const viem = packagesLoadedBy(join(src, 'viem.ts'));
  assert.ok(viem.has('viem') && viem.has('@aws-sdk/client-kms'), [...viem].join(', '));
  assert.ok(![...viem].some((s) => s === 'ethers' || s.startsWith('ethers/')), [...viem].join(', '));
  assert.deepEqual([...packagesLoadedBy(join(src, 'browser', 'index.ts'))], []);
  assert.ok(packagesLoadedBy(join(src, 'ethers.ts')).has('ethers'));
});

test('no source file imports node: modules, Node globals or the server tree', () => {
  const dir = join(here, '..', 'src');
  // Every source file of the package, sub-folders included (e.g. src/envelope/SomeFile.ts),
  // except src/node/: the Node-only entry (@symbolon/sdk/node), which nothing else may import (checked below).
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.startsWith(`node${sep}`));
  assert.ok(files.length >= 8);
  for (const f of files) {
    const code = readFileSync(join(dir, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    const specifiers = [
      ...code.matchAll(/^(?:import|export)\b[^'";]*?from\s*['"]([^'"]+)['"]/gm),
      ...code.matchAll(/^import\s*['"]([^'"]+)['"]/gm),
      ...code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]/g),
    ].map((m) => m[1]!);
    // A file with no import at all is fine; one whose imports the patterns miss is not, so count them roughly.
    if (/^import\s/m.test(code)) assert.ok(specifiers.length > 0, `${f}: imports not recognised`);
    for (const s of specifiers) {
      assert.ok(!s.startsWith('node:'), `${f} imports ${s}`);
      if (s.startsWith('.')) {
        // Relative imports stay inside the package's src/ (nothing from the server tree), and out of src/node/.
        assert.ok(resolve(dir, dirname(f), s).startsWith(dir + sep), `${f} imports ${s}, outside the package`);
        assert.ok(!resolve(dir, dirname(f), s).startsWith(join(dir, 'node') + sep), `${f} imports the Node-only ${s}`);
        continue;
      }
      assert.ok(
        [
          'ethers',
          'viem',
          'viem/accounts',
          'viem/utils',
          '@aws-sdk/client-kms',
          '@noble/curves/secp256k1.js',
          '@noble/hashes/sha3.js',
          '@noble/hashes/sha2.js',
          '@noble/hashes/hmac.js',
          // HPKE (RFC 9180) for an owner's key export (split/keyExport.ts): WebCrypto only.
          '@hpke/core',
        ].includes(s),
        `${f} imports ${s}`,
      );
    }
    assert.doesNotMatch(code, /\bBuffer\.|\bprocess\.|\brequire\(/, `${f} uses a Node-only global`);
  }
});
