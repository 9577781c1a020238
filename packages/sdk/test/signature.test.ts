/**
 * The SDK's pure parts, without a server: yParity from R = u1·G + u2·Q against
 * noble's own recovery bit (before and after a key's tables are built), the
 * strict SPKI reader, canonicalSignature on hostile DER, and the throttling
 * backoff's limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { RecoveryParity, canonicalSignature, pointFromSpki, withThrottlingRetry, isThrottlingError, KmsKeyError, KmsSignatureError } from '../src/index.js';

const N = secp256k1.Point.Fn.ORDER;
const SPKI_PREFIX = Uint8Array.from(Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex'));

test("yParity equals noble's recovery bit for random keys and digests, before and after the tables are built", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 12, maxLength: 12 }),
      (seed, digests) => {
        let sk: Uint8Array;
        try {
          sk = secp256k1.utils.randomSecretKey(seed);
        } catch {
          return;
        }
        const parity = new RecoveryParity(secp256k1.getPublicKey(sk, false));
        for (const digest of digests) {
          const sig = secp256k1.Signature.fromBytes(secp256k1.sign(digest, sk, { prehash: false, format: 'recovered' }), 'recovered');
          assert.equal(parity.parity(digest, sig.r, sig.s), sig.recovery);
          // The other key, or another digest, recovers nothing.
          assert.equal(
            parity.parity(
              Uint8Array.from(digest, (b) => b ^ 1),
              sig.r,
              sig.s,
            ),
            undefined,
          );
        }
      },
    ),
    { numRuns: 12 },
  );
});

test('canonicalSignature: DER from a KMS-like signer, high-s normalised, hostile DER refused', () => {
  const sk = secp256k1.utils.randomSecretKey();
  const parity = new RecoveryParity(secp256k1.getPublicKey(sk, true));
  const digest = new Uint8Array(32).fill(5);
  const sig = secp256k1.Signature.fromBytes(secp256k1.sign(digest, sk, { prehash: false, format: 'recovered' }), 'recovered');
  const low = canonicalSignature(sig.toBytes('der'), digest, parity);
  assert.equal(BigInt(low.s), sig.s);
  assert.equal(low.yParity, sig.recovery);
  const high = canonicalSignature(new secp256k1.Signature(sig.r, N - sig.s).toBytes('der'), digest, parity);
  assert.deepEqual(high, low);
  const der = sig.toBytes('der');
  for (const bad of [
    Uint8Array.from([...der, 0]),
    Uint8Array.from([0x30, 0x81, der[1]!, ...der.subarray(2)]),
    der.subarray(0, der.length - 1),
    new Uint8Array(0),
    sig.toBytes('compact'),
  ]) {
    assert.throws(
      () => canonicalSignature(bad, digest, parity),
      (e: unknown) => e instanceof KmsSignatureError && e.code === 'INVALID_DER',
    );
  }
  const other = secp256k1.sign(digest, secp256k1.utils.randomSecretKey(), { prehash: false, format: 'der' });
  assert.throws(
    () => canonicalSignature(other, digest, parity),
    (e: unknown) => e instanceof KmsSignatureError && e.code === 'SIGNER_MISMATCH',
  );
});

test('pointFromSpki takes only the canonical secp256k1 SubjectPublicKeyInfo', () => {
  const point = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false);
  const spki = Uint8Array.from([...SPKI_PREFIX, ...point]);
  assert.deepEqual(pointFromSpki(spki), point);
  const p256Spki = Uint8Array.from([
    ...Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
    ...p256.getPublicKey(p256.utils.randomSecretKey(), false),
  ]);
  for (const bad of [p256Spki, Uint8Array.from([...spki, 0]), spki.subarray(0, 87), point, Uint8Array.from(spki, (b, i) => (i === 22 ? 1 : b))]) {
    assert.throws(() => pointFromSpki(bad), KmsKeyError);
  }
});

test('throttling backoff: retries only throttling errors, and gives up after maxAttempts', async () => {
  assert.ok(isThrottlingError({ name: 'ThrottlingException' }));
  assert.ok(isThrottlingError({ __type: 'com.amazonaws.kms#ThrottlingException' }));
  assert.ok(!isThrottlingError({ name: 'AccessDeniedException' }));
  let calls = 0;
  await assert.rejects(
    withThrottlingRetry(
      async () => {
        calls++;
        throw Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
      },
      { maxAttempts: 3, baseDelayMs: 1 },
    ),
    { name: 'ThrottlingException' },
  );
  assert.equal(calls, 3);
});
