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
  const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'));
  assert.equal(pkg.exports['./node'], './src/node/index.ts');
  const entry = await import('../src/node/index.js');
  assert.deepEqual(Object.keys(entry).sort(), ['createNativeParity', 'createNodeHttpFetch', 'createNodeKmsClient', 'nativeParity', 'nodeSigV4Hashes']);
  assert.equal(typeof entry.createNativeParity(), 'function');
});

test('package.json points at the entry module, with ethers, viem and the AWS SDK as peers', () => {
  const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'));
  assert.equal(pkg.name, '@symbolon/sdk');
  assert.equal(pkg.exports['.'], './src/index.ts');
  assert.equal(pkg.sideEffects, false);
  assert.ok(pkg.peerDependencies['@aws-sdk/client-kms'] && pkg.peerDependencies.ethers && pkg.peerDependencies.viem);
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
        ].includes(s),
        `${f} imports ${s}`,
      );
    }
    assert.doesNotMatch(code, /\bBuffer\.|\bprocess\.|\brequire\(/, `${f} uses a Node-only global`);
  }
});
