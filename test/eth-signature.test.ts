/**
 * src/eth's signature handling with hostile signer output, the `v` rules per
 * payload, public-key forms, and random transactions of every type signed
 * through src/eth: parsed back by src/eth, ethers and viem, recovering the signer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  bytesToHex,
  hexToBytes,
  keccak256,
  numberToBytes,
  parseTransaction,
  recoverTransactionAddress,
  type Address,
  type Hex,
  type TransactionSerializable,
} from 'viem';
import { Transaction } from 'ethers';
import { p256 } from '@noble/curves/nist.js';
import { getPublicKey, signDigest, SECP256K1_N } from '../src/crypto/secp256k1.js';
import { encodeEcdsaSignatureDer, encodeEcSpki } from '../src/crypto/der.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { toRecoverableSignature } from '../src/eth/toRecoverableSignature.js';
import { signatureV } from '../src/eth/signatureV.js';
import { signPreparedTransaction, signTransaction } from '../src/eth/signTransaction.js';
import { hashTransaction, prepareTransaction } from '../src/eth/hashTransaction.js';
import { keccak, keccakHex } from '../src/eth/keccak.js';
import { signAuthorization } from '../src/eth/signAuthorization.js';
import { parseSignedTransaction } from '../src/eth/parseSignedTransaction.js';
import { InvalidPublicKeyError, InvalidSignatureError, SignerMismatchError, UnsignablePayloadError } from '../src/eth/errors.js';
import type { DigestSigner } from '../src/eth/types.js';

const sk = hexToBytes(`0x${'17'.repeat(32)}`);
const address = publicKeyToAddress(getPublicKey(sk));
const digest = keccak256(new TextEncoder().encode('symbolon'), 'bytes');
const lowS = signDigest(digest, sk);
const signer: DigestSigner = async (d) => encodeEcdsaSignatureDer(signDigest(d, sk).signature);

test('DER and r || s from the signer give the same canonical signature, with the parity libsecp256k1 found', () => {
  const fromDer = toRecoverableSignature({ digest, signature: encodeEcdsaSignatureDer(lowS.signature), address });
  const fromCompact = toRecoverableSignature({ digest, signature: lowS.signature, address });
  assert.deepEqual(fromDer, fromCompact);
  assert.equal(fromDer.yParity, lowS.recovery);
  assert.equal(fromDer.r, bytesToHex(lowS.signature.subarray(0, 32)));
});

test('a high-s signature is normalised to low-s (EIP-2) and its parity found again', () => {
  const s = BigInt(bytesToHex(lowS.signature.subarray(32)));
  const high = new Uint8Array(64);
  high.set(lowS.signature.subarray(0, 32));
  high.set(numberToBytes(SECP256K1_N - s, { size: 32 }), 32);
  const sig = toRecoverableSignature({ digest, signature: encodeEcdsaSignatureDer(high), address });
  assert.equal(sig.s, bytesToHex(lowS.signature.subarray(32)));
  assert.equal(sig.yParity, lowS.recovery);
});

test('non-canonical DER, wrong lengths and out-of-range r or s are refused', () => {
  const der = encodeEcdsaSignatureDer(lowS.signature);
  const longForm = new Uint8Array([0x30, 0x81, der[1]!, ...der.subarray(2)]); // length in long form
  assert.throws(() => toRecoverableSignature({ digest, signature: longForm, address }), InvalidSignatureError);
  const trailing = new Uint8Array([...der, 0]);
  assert.throws(() => toRecoverableSignature({ digest, signature: trailing, address }), InvalidSignatureError);
  assert.throws(() => toRecoverableSignature({ digest, signature: lowS.signature.subarray(0, 63), address }), InvalidSignatureError);
  const zeroR = new Uint8Array(64);
  zeroR.set(lowS.signature.subarray(32), 32);
  assert.throws(() => toRecoverableSignature({ digest, signature: zeroR, address }), { code: 'SIGNATURE_OUT_OF_RANGE' });
  const bigS = new Uint8Array(64);
  bigS.set(lowS.signature.subarray(0, 32));
  bigS.set(numberToBytes(SECP256K1_N, { size: 32 }), 32);
  assert.throws(() => toRecoverableSignature({ digest, signature: bigS, address }), { code: 'SIGNATURE_OUT_OF_RANGE' });
  assert.throws(() => toRecoverableSignature({ digest: digest.subarray(1), signature: der, address }), RangeError);
});

test('a 64-byte r || s that begins with 0x30 is read as r || s; DER with r or s out of range is not strict DER', () => {
  let i = 0;
  let d: Uint8Array;
  let sig: ReturnType<typeof signDigest>;
  do {
    d = keccak256(new TextEncoder().encode(`starts with 0x30 ${i++}`), 'bytes');
    sig = signDigest(d, sk);
  } while (sig.signature[0] !== 0x30);
  const out = toRecoverableSignature({ digest: d, signature: sig.signature, address });
  assert.equal(out.r, bytesToHex(sig.signature.subarray(0, 32)));
  assert.equal(out.yParity, sig.recovery);
  // r = n in DER: noble's decoder refuses it (INVALID_DER); as r || s it is SIGNATURE_OUT_OF_RANGE (above).
  const rIsN = new Uint8Array([0x30, 0x26, 0x02, 0x21, 0x00, ...numberToBytes(SECP256K1_N, { size: 32 }), 0x02, 0x01, 0x01]);
  assert.throws(
    () => toRecoverableSignature({ digest, signature: rIsN, address }),
    (e: unknown) => e instanceof InvalidSignatureError && e.code === 'INVALID_DER',
  );
});

test('a signature by another key, or over another digest, is refused with SignerMismatchError', () => {
  const other = signDigest(digest, hexToBytes(`0x${'18'.repeat(32)}`));
  assert.throws(() => toRecoverableSignature({ digest, signature: other.signature, address }), SignerMismatchError);
  const otherDigest = keccak256(new TextEncoder().encode('other'), 'bytes');
  assert.throws(() => toRecoverableSignature({ digest: otherDigest, signature: lowS.signature, address }), SignerMismatchError);
});

test('a recovery-id hint orders the trials but is never trusted: right, wrong, flipped by low-s, or out of range, the parity is the verified one', async () => {
  const right = lowS.recovery;
  const wrong = right === 0 ? 1 : 0;
  for (const recoveryHint of [right, wrong, 2, 3, -1, undefined]) {
    assert.equal(toRecoverableSignature({ digest, signature: lowS.signature, address, recoveryHint }).yParity, right, `hint ${recoveryHint}`);
  }
  // A high-s signature's recovery id is for (r, s); its low-s form (r, n - s) has the other parity.
  const s = BigInt(bytesToHex(lowS.signature.subarray(32)));
  const high = new Uint8Array(64);
  high.set(lowS.signature.subarray(0, 32));
  high.set(numberToBytes(SECP256K1_N - s, { size: 32 }), 32);
  for (const recoveryHint of [wrong, right, undefined]) {
    const sig = toRecoverableSignature({ digest, signature: encodeEcdsaSignatureDer(high), address, recoveryHint });
    assert.equal(sig.yParity, right);
    assert.equal(sig.s, bytesToHex(lowS.signature.subarray(32)));
  }
  // Another key's signature, or another digest, is refused whatever the hint says.
  const other = signDigest(digest, hexToBytes(`0x${'18'.repeat(32)}`));
  for (const recoveryHint of [0, 1]) {
    assert.throws(() => toRecoverableSignature({ digest, signature: other.signature, address, recoveryHint }), SignerMismatchError);
    assert.throws(
      () => toRecoverableSignature({ digest: keccak256(new TextEncoder().encode('other'), 'bytes'), signature: lowS.signature, address, recoveryHint }),
      SignerMismatchError,
    );
  }
  // Through a digest signer returning { signature, recovery }: a lying hint changes nothing.
  const tx = { type: 'eip1559', chainId: 1, nonce: 0, to: address, gas: 21000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n } as const;
  const bare = await signTransaction({ transaction: tx, signer: async (d) => signDigest(d, sk).signature, address });
  const hinted = await signTransaction({ transaction: tx, signer: async (d) => signDigest(d, sk), address });
  const lying = await signTransaction({
    transaction: tx,
    signer: async (d) => ({ signature: signDigest(d, sk).signature, recovery: 1 - signDigest(d, sk).recovery }),
    address,
  });
  assert.equal(hinted, bare);
  assert.equal(lying, bare);
  assert.equal(await recoverTransactionAddress({ serializedTransaction: hinted as `0x02${string}` }), address);
  await assert.rejects(
    signTransaction({
      transaction: tx,
      signer: async (d) => ({ signature: signDigest(d, hexToBytes(`0x${'18'.repeat(32)}`)).signature, recovery: 0 }),
      address,
    }),
    SignerMismatchError,
  );
  await assert.rejects(signTransaction({ transaction: tx, signer: async () => 'nope' as never, address }), TypeError);
});

test("keccak (noble 2.x, the signing path) equals viem's keccak256, across block boundaries", () => {
  for (const n of [0, 1, 31, 32, 64, 65, 135, 136, 137, 271, 272, 273, 1000]) {
    const b = new Uint8Array(n).map((_, i) => (i * 131 + n) & 0xff);
    assert.deepEqual(keccak(b), keccak256(b, 'bytes'), `length ${n}`);
    assert.equal(keccakHex(bytesToHex(b)), keccak256(bytesToHex(b)), `length ${n}`);
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => bytesToHex(keccak(b)) === keccak256(b)));
});

test('prepareTransaction hashes once: signPreparedTransaction gives what signTransaction gives', async () => {
  const tx = { type: 'eip1559', chainId: 5, nonce: 7, to: address, value: 3n, gas: 21000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n } as const;
  const prepared = prepareTransaction(tx);
  assert.deepEqual(prepared.digest, hashTransaction(tx));
  assert.ok(Object.isFrozen(prepared));
  assert.equal(await signPreparedTransaction({ prepared, signer, address }), await signTransaction({ transaction: tx, signer, address }));
});

test('v per payload: EIP-155 for legacy with chain id, 27/28 without and for messages, yParity for typed', () => {
  assert.equal(signatureV({ kind: 'legacy-transaction', yParity: 1, chainId: 1 }), 38n);
  assert.equal(signatureV({ kind: 'legacy-transaction', yParity: 0, chainId: 137 }), 309n);
  assert.equal(signatureV({ kind: 'legacy-transaction', yParity: 0 }), 27n);
  assert.equal(signatureV({ kind: 'typed-transaction', yParity: 1, chainId: 1 }), 1n);
  assert.equal(signatureV({ kind: 'authorization', yParity: 0 }), 0n);
  assert.equal(signatureV({ kind: 'message', yParity: 1, chainId: 1 }), 28n);
  assert.equal(signatureV({ kind: 'typed-data', yParity: 0, chainId: 5 }), 27n);
  assert.throws(() => signatureV({ kind: 'message', yParity: 2 }), RangeError);
});

test('public keys: P-256 SPKI, points off the curve and odd sizes are refused', () => {
  const p256Spki = encodeEcSpki('P-256', p256.getPublicKey(p256.utils.randomSecretKey(), false));
  assert.throws(() => publicKeyToAddress(p256Spki), { code: 'UNSUPPORTED_CURVE' });
  const offCurve = getPublicKey(sk);
  offCurve[64] = (offCurve[64] as number) ^ 1;
  assert.throws(() => publicKeyToAddress(offCurve), InvalidPublicKeyError);
  assert.throws(() => publicKeyToAddress(new Uint8Array(40)), InvalidPublicKeyError);
  assert.throws(() => publicKeyToAddress('0x04' as unknown as Uint8Array), TypeError);
});

test('blob sidecars and to-less blob or set-code transactions are refused before anything is signed', async () => {
  let calls = 0;
  const counting: DigestSigner = async (d) => {
    calls++;
    return signer(d);
  };
  const base = { chainId: 1, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n, maxFeePerBlobGas: 1n, blobVersionedHashes: [`0x01${'00'.repeat(31)}`] as Hex[] };
  await assert.rejects(signTransaction({ transaction: { ...base, to: address, blobs: ['0x00'] } as never, signer: counting, address }), UnsignablePayloadError);
  await assert.rejects(signTransaction({ transaction: { ...base } as never, signer: counting, address }), { code: 'MISSING_TO' });
  assert.equal(calls, 0);
});

const addressArb = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => bytesToHex(b) as Address);
const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bytesToHex(b));
const dataArb = fc.uint8Array({ maxLength: 64 }).map((b) => bytesToHex(b));
const accessListArb = fc.array(fc.record({ address: addressArb, storageKeys: fc.array(hashArb, { maxLength: 2 }) }), { maxLength: 2 });
const fee = fc.bigInt({ min: 0n, max: 1n << 80n });

const txArb: fc.Arbitrary<TransactionSerializable> = fc.oneof(
  fc.record({
    type: fc.constant('legacy' as const),
    nonce: fc.nat(),
    gasPrice: fee,
    gas: fc.bigInt({ min: 100_000n, max: 1n << 40n }),
    to: addressArb,
    value: fee,
    data: dataArb,
  }),
  fc.record({
    type: fc.constant('legacy' as const),
    chainId: fc.integer({ min: 1, max: 2 ** 40 }),
    nonce: fc.nat(),
    gasPrice: fee,
    gas: fc.bigInt({ min: 100_000n, max: 1n << 40n }),
    value: fee,
    data: dataArb,
  }),
  fc.record({
    type: fc.constant('eip2930' as const),
    chainId: fc.integer({ min: 1, max: 2 ** 40 }),
    nonce: fc.nat(),
    gasPrice: fee,
    gas: fc.bigInt({ min: 100_000n, max: 1n << 40n }),
    to: addressArb,
    value: fee,
    data: dataArb,
    accessList: accessListArb,
  }),
  fc.tuple(fee, fee).chain(([a, b]) =>
    fc.record({
      type: fc.constant('eip1559' as const),
      chainId: fc.integer({ min: 1, max: 2 ** 40 }),
      nonce: fc.nat(),
      maxFeePerGas: fc.constant(a > b ? a : b),
      maxPriorityFeePerGas: fc.constant(a > b ? b : a),
      gas: fc.bigInt({ min: 100_000n, max: 1n << 40n }),
      to: addressArb,
      value: fee,
      data: dataArb,
      accessList: accessListArb,
    }),
  ),
  fc.record({
    type: fc.constant('eip4844' as const),
    chainId: fc.integer({ min: 1, max: 2 ** 40 }),
    nonce: fc.nat(),
    maxFeePerGas: fc.constant(10n ** 12n),
    maxPriorityFeePerGas: fee.map((f) => f % 10n ** 12n),
    maxFeePerBlobGas: fee,
    gas: fc.bigInt({ min: 100_000n, max: 1n << 40n }),
    to: addressArb,
    value: fee,
    data: dataArb,
    accessList: accessListArb,
    blobVersionedHashes: fc.array(
      hashArb.map((h) => `0x01${h.slice(4)}` as Hex),
      { minLength: 1, maxLength: 3 },
    ),
  }),
) as fc.Arbitrary<TransactionSerializable>;

test('random transactions of every type: src/eth bytes parse in src/eth, ethers and viem and recover the signer', async () => {
  await fc.assert(
    fc.asyncProperty(txArb, async (tx) => {
      const signed = await signTransaction({ transaction: tx, signer, address });
      const parsed = parseSignedTransaction(signed, { fork: 'prague', ...(tx.chainId ? { chainId: tx.chainId } : {}) });
      assert.equal(parsed.from, address);
      assert.equal(Transaction.from(signed).from, address);
      assert.equal(Transaction.from(signed).serialized, signed);
      assert.equal(await recoverTransactionAddress({ serializedTransaction: signed as never }), address);
      assert.equal(parseTransaction(signed).type, tx.type);
    }),
    { numRuns: 150 },
  );
});

test('EIP-7702: a signed authorization inside a type-4 transaction, both recovered', async () => {
  const auth = await signAuthorization({ authorization: { address: `0x${'ab'.repeat(20)}`, chainId: 1, nonce: 7 }, signer, address });
  const signed = await signTransaction({
    transaction: {
      type: 'eip7702',
      chainId: 1,
      nonce: 6,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 10n ** 9n,
      gas: 100_000n,
      to: address,
      authorizationList: [auth],
    },
    signer,
    address,
  });
  const parsed = parseSignedTransaction(signed, { chainId: 1 });
  assert.equal(parsed.type, 'eip7702');
  assert.equal(parsed.from, address);
  assert.equal(parsed.authorizationList?.length, 1);
  assert.equal(Transaction.from(signed).serialized, signed);
  const { recoverAuthorizationAddress } = await import('viem/utils');
  assert.equal(await recoverAuthorizationAddress({ authorization: auth }), address);
  assert.throws(() => parseSignedTransaction(signed, { chainId: 1, fork: 'cancun' }), { code: 'TYPE_NOT_SUPPORTED' });
});
