/**
 * The signer image's measurement (src/signer/measure.ts) over the SDK code it
 * runs: DER → low-s → recovery parity and typed data's bounds have one home,
 * in the SDK (packages/sdk/src/canonicalSignature.ts,
 * packages/sdk/src/checkTypedDataLimits.ts), reached from src/ by relative
 * path — so it is in the image and measured byte for byte, not only named in
 * PCR2 — and an import that leaves src/ and packages/sdk/src/ stops the
 * measurement. That the image so built starts and signs is shown by
 * test/signer-process.test.ts and test/signer-serve.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { measureSignerImage, MeasurementError, REPOSITORY_ROOT, SIGNER_ENTRY } from '../src/signer/measure.js';

/** A copy of the image's source files under a fresh root (no node_modules: versions read as "missing", the same in both measurements). */
function copyImage(): string {
  const root = mkdtempSync(join(tmpdir(), 'symbolon-measure-'));
  for (const f of measureSignerImage().files) {
    if (f.path === 'package.json') continue;
    mkdirSync(dirname(join(root, f.path)), { recursive: true });
    cpSync(join(REPOSITORY_ROOT, f.path), join(root, f.path));
  }
  return root;
}

test('the SDK modules the signer runs are in the image, measured byte for byte', () => {
  const image = measureSignerImage();
  const paths = image.files.map((f) => f.path);
  const shared = [
    'packages/sdk/src/canonicalSignature.ts',
    'packages/sdk/src/checkTypedDataLimits.ts',
    'packages/sdk/src/errors.ts',
    // HPKE sealing of an owner's export, shared with the frame that opens it (docs/signer.md, "Export").
    'packages/sdk/src/split/keyExport.ts',
  ];
  for (const p of ['src/eth/toRecoverableSignature.ts', 'src/eth/payload.ts', ...shared]) {
    assert.ok(paths.includes(p), `${p} is not in the signer image`);
  }
  // Only those SDK files: the rest of the SDK (clients, ethers adapter) is not the signer's.
  assert.deepEqual(
    paths.filter((p) => p.startsWith('packages/')),
    shared,
  );
  assert.ok(!image.dependencies.some((d) => d.startsWith('@symbolon/')), 'the SDK is not a bare dependency of the image');
  assert.ok(
    image.dependencies.some((d) => d.startsWith('@noble/curves@')),
    'the SDK module imports @noble/curves',
  );

  const root = copyImage();
  try {
    const same = measureSignerImage({ sourceRoot: root });
    appendFileSync(join(root, 'packages/sdk/src/canonicalSignature.ts'), '\n// changed after review\n');
    const changed = measureSignerImage({ sourceRoot: root });
    assert.notEqual(changed.imageSha384, same.imageSha384, 'a changed SDK file changes PCR0');
    assert.deepEqual(changed.pcrs.get(2), same.pcrs.get(2));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an import outside src/ and packages/sdk/src/ stops the measurement', () => {
  // Joined here so that the architecture test does not take them for references to files of this repository.
  for (const outside of [
    ['web', 'frame', 'shared.ts'],
    ['packages', 'other', 'src', 'x.ts'],
    ['test', 'helpers', 'x.ts'],
  ].map((p) => p.join('/'))) {
    const root = copyImage();
    try {
      mkdirSync(dirname(join(root, outside)), { recursive: true });
      writeFileSync(join(root, outside), 'export const x = 1;\n');
      appendFileSync(join(root, SIGNER_ENTRY), `\nimport '../../${outside.replace(/\.ts$/, '.js')}';\n`);
      assert.throws(
        () => measureSignerImage({ sourceRoot: root }),
        (e: unknown) => e instanceof MeasurementError && e.message === `the signer imports ${outside}, outside src/ and packages/sdk/src/`,
        outside,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});
