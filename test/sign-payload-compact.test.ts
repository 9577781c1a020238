/**
 * The signature src/kms/sign-payload.ts takes from libsecp256k1 without a
 * recovery (fromCompact, after a key's first signature was proven by
 * recovery): for random keys and digests it is byte-identical to viem's
 * signature (r, s, yParity: invariant 5) and to what the recovering path
 * (src/eth/toRecoverableSignature.ts) finds; malformed input is refused
 * (undefined) so that the caller falls back to the recovering path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { bytesToHex, type Hex } from 'viem';
import { privateKeyToAddress, sign } from 'viem/accounts';
import { generatePrivateKey, signDigest, SECP256K1_N } from '../src/crypto/secp256k1.js';
import { fromCompact } from '../src/kms/sign-payload.js';
import { toRecoverableSignature } from '../src/eth/toRecoverableSignature.js';

test('fromCompact equals viem and the recovering path on 300 random keys and digests, both parities', async () => {
  const parities = new Set<number>();
  for (let i = 0; i < 300; i++) {
    const sk = generatePrivateKey();
    const digest = new Uint8Array(randomBytes(32));
    const { signature, recovery } = signDigest(digest, sk);
    const fast = fromCompact(signature, recovery);
    assert.ok(fast, 'a libsecp256k1 signature passes the checks');
    const privateKey = bytesToHex(sk);
    const viem = await sign({ hash: bytesToHex(digest), privateKey, to: 'object' });
    assert.deepEqual(fast, { r: viem.r, s: viem.s, yParity: viem.yParity });
    assert.deepEqual(fast, toRecoverableSignature({ digest, signature, address: privateKeyToAddress(privateKey as Hex) }));
    parities.add(fast.yParity);
  }
  assert.deepEqual([...parities].sort(), [0, 1]);
});

test('fromCompact refuses what is not a canonical signature with a 0/1 recovery id', () => {
  const sk = generatePrivateKey();
  const { signature } = signDigest(new Uint8Array(32).fill(1), sk);
  assert.equal(fromCompact(signature, 2), undefined, 'recovery id 2');
  assert.equal(fromCompact(signature.subarray(0, 63), 0), undefined, 'short');
  const high = new Uint8Array(signature);
  const s = BigInt(bytesToHex(signature.subarray(32)));
  high.set(Buffer.from((SECP256K1_N - s).toString(16).padStart(64, '0'), 'hex'), 32);
  assert.equal(fromCompact(high, 0), undefined, 'high s (EIP-2)');
  const zeroR = new Uint8Array(signature);
  zeroR.fill(0, 0, 32);
  assert.equal(fromCompact(zeroR, 0), undefined, 'r = 0');
});
