/**
 * src/crypto/hkdf.ts against Wycheproof's HKDF-SHA-256 vectors (every valid
 * case of at most 32 bytes, which are a prefix of the one block it makes) and, differentially,
 * against node:crypto's hkdfSync on random inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hkdfSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { hkdfSha256 } from '../src/crypto/hkdf.js';
import { absentMessage, readVectorJson, vectorPath } from './helpers/vectors.js';

const FILE = 'wycheproof/testvectors_v1/hkdf_sha256_test.json';

interface HkdfCase {
  tcId: number;
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

test('Wycheproof HKDF-SHA-256: every valid case of at most 32 bytes (a prefix of T(1))', (t) => {
  const path = vectorPath(FILE);
  if (!path) return t.skip(absentMessage(FILE));
  const doc = readVectorJson<{ testGroups: Array<{ tests: HkdfCase[] }> }>(path);
  const cases = doc.testGroups.flatMap((g) => g.tests).filter((c) => c.size <= 32 && c.result === 'valid');
  assert.ok(cases.length > 0);
  let ran = 0;
  for (const c of cases) {
    const okm = hkdfSha256(Buffer.from(c.ikm, 'hex'), Buffer.from(c.salt, 'hex'), Buffer.from(c.info, 'hex'));
    assert.equal(Buffer.from(okm.subarray(0, c.size)).toString('hex'), c.okm, `tcId ${c.tcId}`);
    ran++;
  }
  assert.equal(ran, cases.length);
});

test('hkdfSha256 equals node:crypto hkdfSync (L = 32) on random inputs', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 120 }), (ikm, salt, info) => {
      const ours = Buffer.from(hkdfSha256(ikm, salt, info));
      const node = Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
      return ours.equals(node);
    }),
    { numRuns: 500 },
  );
  assert.throws(() => hkdfSha256('x' as unknown as Uint8Array, randomBytes(32), randomBytes(1)), TypeError);
});
