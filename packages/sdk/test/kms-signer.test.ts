/**
 * @symbolon/sdk through a real custodian (a listening server, the real AWS SDK,
 * SQLite or PostgreSQL per DATABASE_URL): KmsSigner (ethers) and toKmsAccount
 * (viem) over random payloads of every type. Each signed byte string must
 * parse in ethers and viem, recover to the KMS key's address, be
 * byte-identical to ethers' and viem's own serialization of the same
 * signature, and equal what src/eth (the server-side path) makes from the
 * same KMS signature. Plus: caching, throttling retries, hostile KMS answers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CreateKeyCommand, GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  Signature as EthersSignature,
  Transaction,
  TypedDataEncoder,
  verifyMessage,
  verifyTypedData,
  recoverAddress as ethersRecoverAddress,
  hashMessage as ethersHashMessage,
} from 'ethers';
import {
  bytesToHex,
  parseTransaction,
  recoverTransactionAddress,
  serializeTransaction,
  verifyMessage as viemVerifyMessage,
  verifyTypedData as viemVerifyTypedData,
  type Address,
  type Hex,
  type TransactionSerializable,
} from 'viem';
import { recoverAuthorizationAddress } from 'viem/utils';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { KmsSigner, KmsWalletManager, toKmsAccount, KmsKeyError, KmsSignatureError, type KmsAccount } from '../src/index.js';
import { startTestServer, STORE, type TestServer } from '../../../test/helpers/server.js';
import { publicKeyToAddress } from '../../../src/eth/publicKeyToAddress.js';
import { signTransaction as ethSignTransaction } from '../../../src/eth/signTransaction.js';
import { parseSignedTransaction } from '../../../src/eth/parseSignedTransaction.js';

let server: TestServer;
let kms: KMSClient;
let keyId: string;
let address: Address;
let signer: KmsSigner;
let account: KmsAccount;

before(async () => {
  server = await startTestServer();
  kms = server.kms();
  const manager = new KmsWalletManager({ client: kms });
  const wallet = await manager.createWallet({ alias: `sdk-${Date.now()}`, tags: { purpose: 'sdk-test' }, description: 'sdk differential' });
  keyId = wallet.keyId;
  address = wallet.address;
  signer = manager.getSigner(keyId);
  account = await toKmsAccount({ client: kms, keyId });
});
after(async () => {
  await server?.close();
});

test(`the wallet's address is the one src/eth derives from GetPublicKey's DER SPKI (${STORE})`, async () => {
  const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  assert.equal(address, publicKeyToAddress(PublicKey!));
  assert.equal(await signer.getAddress(), address);
  assert.equal(account.address, address);
  assert.equal(account.source, 'kms');
  assert.equal(publicKeyToAddress(Buffer.from(account.publicKey.slice(2), 'hex')), address);
});

const addressArb = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => bytesToHex(b) as Address);
const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bytesToHex(b));
const dataArb = fc.uint8Array({ maxLength: 48 }).map((b) => bytesToHex(b));
const accessListArb = fc.array(fc.record({ address: addressArb, storageKeys: fc.array(hashArb, { maxLength: 2 }) }), { maxLength: 2 });
const fee = fc.bigInt({ min: 1n, max: 1n << 70n });
const gas = fc.bigInt({ min: 100_000n, max: 1n << 40n });
const chainId = fc.integer({ min: 1, max: 2 ** 32 });
const nonce = fc.nat({ max: 2 ** 31 });
const fees1559 = fc.tuple(fee, fee).map(([a, b]) => (a >= b ? { maxFeePerGas: a, maxPriorityFeePerGas: b } : { maxFeePerGas: b, maxPriorityFeePerGas: a }));

// Every transaction type, as viem objects (the ethers request is derived from each).
const txArb: fc.Arbitrary<TransactionSerializable> = fc.oneof(
  fc.record({ type: fc.constant('legacy' as const), nonce, gasPrice: fee, gas, to: addressArb, value: fee, data: dataArb }),
  fc.record({ type: fc.constant('legacy' as const), chainId, nonce, gasPrice: fee, gas, to: addressArb, value: fee, data: dataArb }),
  fc.record({
    type: fc.constant('eip2930' as const),
    chainId,
    nonce,
    gasPrice: fee,
    gas,
    to: addressArb,
    value: fee,
    data: dataArb,
    accessList: accessListArb,
  }),
  fc
    .tuple(fees1559, fc.record({ chainId, nonce, gas, to: addressArb, value: fee, data: dataArb, accessList: accessListArb }))
    .map(([f, r]) => ({ type: 'eip1559' as const, ...f, ...r })),
  fc
    .tuple(
      fees1559,
      fc.record({
        chainId,
        nonce,
        gas,
        to: addressArb,
        value: fee,
        data: dataArb,
        accessList: accessListArb,
        maxFeePerBlobGas: fee,
        blobVersionedHashes: fc.array(
          hashArb.map((h) => `0x01${h.slice(4)}` as Hex),
          { minLength: 1, maxLength: 3 },
        ),
      }),
    )
    .map(([f, r]) => ({ type: 'eip4844' as const, ...f, ...r })),
  fc
    .tuple(
      fees1559,
      fc.record({ chainId, nonce, gas, to: addressArb, value: fee, data: dataArb, accessList: accessListArb }),
      fc.array(fc.record({ address: addressArb, chainId: fc.nat({ max: 2 ** 32 }), nonce, r: hashArb, s: hashArb, yParity: fc.integer({ min: 0, max: 1 }) }), {
        minLength: 1,
        maxLength: 2,
      }),
    )
    .map(([f, r, authorizationList]) => ({ type: 'eip7702' as const, ...f, ...r, authorizationList })),
) as fc.Arbitrary<TransactionSerializable>;

const TYPE_NUMBER = { legacy: 0, eip2930: 1, eip1559: 2, eip4844: 3, eip7702: 4 } as const;

function toEthersRequest(tx: TransactionSerializable): Record<string, unknown> {
  const t = tx as Record<string, any>;
  return {
    type: TYPE_NUMBER[t.type as keyof typeof TYPE_NUMBER],
    to: t.to,
    nonce: t.nonce,
    gasLimit: t.gas,
    value: t.value,
    data: t.data,
    ...(t.chainId !== undefined ? { chainId: t.chainId } : {}),
    ...(t.gasPrice !== undefined ? { gasPrice: t.gasPrice } : {}),
    ...(t.maxFeePerGas !== undefined ? { maxFeePerGas: t.maxFeePerGas, maxPriorityFeePerGas: t.maxPriorityFeePerGas } : {}),
    ...(t.accessList !== undefined ? { accessList: t.accessList } : {}),
    ...(t.maxFeePerBlobGas !== undefined ? { maxFeePerBlobGas: t.maxFeePerBlobGas, blobVersionedHashes: t.blobVersionedHashes } : {}),
    ...(t.authorizationList !== undefined
      ? {
          authorizationList: t.authorizationList.map((a: any) => ({
            address: a.address,
            chainId: a.chainId,
            nonce: a.nonce,
            signature: { r: a.r, s: a.s, yParity: a.yParity },
          })),
        }
      : {}),
  };
}

test("random transactions of every type: KmsSigner and toKmsAccount bytes parse in ethers and viem, recover to the KMS address, and equal both libraries' own serialization of the same signature", async (t) => {
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(txArb, async (tx) => {
      const fromEthersSigner = await signer.signTransaction(toEthersRequest(tx));
      const fromViemAccount = await account.signTransaction(tx);
      // RFC 6979 makes KMS's signature deterministic: both adapters must give the same bytes.
      assert.equal(fromEthersSigner, fromViemAccount);
      const signed = fromViemAccount;

      const parsedEthers = Transaction.from(signed);
      assert.equal(parsedEthers.from, address);
      assert.equal(parsedEthers.type, TYPE_NUMBER[tx.type!]);
      const parsedViem = parseTransaction(signed);
      assert.equal(await recoverTransactionAddress({ serializedTransaction: signed as never }), address);

      // ethers' and viem's own serialization of the same transaction and signature.
      const ethersOwn = Transaction.from(toEthersRequest(tx) as never);
      ethersOwn.signature = EthersSignature.from(parsedEthers.signature!);
      assert.equal(ethersOwn.serialized, signed);
      const sig = { r: parsedViem.r!, s: parsedViem.s!, yParity: parsedViem.yParity!, ...(tx.type === 'legacy' ? { v: parsedViem.v! } : {}) };
      assert.equal(serializeTransaction(tx, sig as never), signed);

      // v per payload, and the server-side path from the same KMS signature.
      const parsed = parseSignedTransaction(signed);
      if (tx.type === 'legacy') assert.equal(parsed.v, tx.chainId ? BigInt(tx.chainId) * 2n + 35n + BigInt(parsed.yParity) : 27n + BigInt(parsed.yParity));
      assert.ok(parsed.s <= secp256k1.Point.Fn.ORDER >> 1n, 'low-s');
      const serverSide = await ethSignTransaction({
        transaction: tx,
        address,
        signer: async (digest) =>
          (await kms.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!,
      });
      assert.equal(serverSide, signed);
      const kind = `${tx.type}${tx.type === 'legacy' ? (tx.chainId ? '+155' : '') : ''}`;
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    }),
    { numRuns: Number(process.env.SDK_DIFF_RUNS ?? 90) },
  );
  t.diagnostic(`payloads per type: ${JSON.stringify(Object.fromEntries(seen))}`);
  assert.equal(seen.size, 6, 'every transaction type was drawn');
});

test('random EIP-191 messages: identical from both adapters, verified by ethers and viem, v 27/28', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 })), async (message) => {
      const viemMessage = typeof message === 'string' ? message : { raw: message };
      const a = await signer.signMessage(message);
      const b = await account.signMessage({ message: viemMessage });
      assert.equal(a, b);
      assert.ok(['1b', '1c'].includes(a.slice(-2)));
      assert.equal(verifyMessage(message, a), address);
      assert.ok(await viemVerifyMessage({ address, message: viemMessage, signature: b as Hex }));
      assert.equal(ethersRecoverAddress(ethersHashMessage(message), a), address);
    }),
    { numRuns: 25 },
  );
});

const MAIL_TYPES = {
  Person: [
    { name: 'name', type: 'string' },
    { name: 'wallets', type: 'address[]' },
  ],
  Mail: [
    { name: 'from', type: 'Person' },
    { name: 'to', type: 'Person[]' },
    { name: 'contents', type: 'string' },
    { name: 'amount', type: 'uint256' },
    { name: 'tag', type: 'bytes32' },
  ],
} as const;

test('random EIP-712 v4 typed data (nested structs, arrays): identical from both adapters, verified by ethers and viem, no EIP-155 in v', async () => {
  const person = fc.record({ name: fc.string({ maxLength: 20 }), wallets: fc.array(addressArb, { maxLength: 2 }) });
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        from: person,
        to: fc.array(person, { maxLength: 2 }),
        contents: fc.string({ maxLength: 40 }),
        amount: fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }),
        tag: hashArb,
      }),
      chainId,
      addressArb,
      async (message, cid, verifyingContract) => {
        const domain = { name: 'Symbolon', version: '1', chainId: cid, verifyingContract };
        const a = await signer.signTypedData(domain, MAIL_TYPES as never, message);
        const b = await account.signTypedData({ domain, types: MAIL_TYPES, primaryType: 'Mail', message } as never);
        assert.equal(a, b);
        assert.ok(['1b', '1c'].includes(a.slice(-2)));
        assert.equal(verifyTypedData(domain, MAIL_TYPES as never, message, a), address);
        assert.ok(await viemVerifyTypedData({ address, domain, types: MAIL_TYPES, primaryType: 'Mail', message, signature: b as Hex } as never));
        assert.equal(ethersRecoverAddress(TypedDataEncoder.hash(domain, MAIL_TYPES as never, message), a), address);
      },
    ),
    { numRuns: 20 },
  );
});

test('EIP-7702 authorizations from both adapters recover to the KMS address', async () => {
  for (const [cid, n] of [
    [1, 0],
    [0, 5],
    [31337, 2 ** 31],
  ] as const) {
    const target = `0x${'5a'.repeat(20)}` as Address;
    const viemAuth = await account.signAuthorization!({ address: target, chainId: cid, nonce: n });
    assert.equal(await recoverAuthorizationAddress({ authorization: viemAuth }), address);
    const ethersAuth = await signer.authorize({ address: target, chainId: cid, nonce: n });
    assert.equal(ethersAuth.signature.r, viemAuth.r);
    assert.equal(ethersAuth.signature.yParity, viemAuth.yParity);
  }
});

test('the public key is fetched once per key: many signatures, one GetPublicKey', async () => {
  const counts = { GetPublicKey: 0, Sign: 0 };
  const counting = {
    send: (command: { constructor: { name: string } }) => {
      if (command instanceof GetPublicKeyCommand) counts.GetPublicKey++;
      if (command instanceof SignCommand) counts.Sign++;
      return kms.send(command as never);
    },
  } as unknown as KMSClient;
  const s = new KmsSigner({ client: counting, keyId });
  await Promise.all(Array.from({ length: 12 }, (_, i) => s.signMessage(`m${i}`)));
  assert.equal(counts.GetPublicKey, 1);
  assert.equal(counts.Sign, 12);
  const connected = s.connect(null);
  await connected.signMessage('again');
  assert.equal(counts.GetPublicKey, 1);
});

test('ThrottlingException is retried with backoff; other errors are not', async () => {
  let throttles = 2;
  let calls = 0;
  const throttled = {
    send: async (command: unknown) => {
      calls++;
      if (command instanceof SignCommand && throttles-- > 0) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      return kms.send(command as never);
    },
  } as unknown as KMSClient;
  const s = new KmsSigner({ client: throttled, keyId, retry: { baseDelayMs: 1 } });
  assert.equal(verifyMessage('hello', await s.signMessage('hello')), address);
  assert.equal(calls, 4); // GetPublicKey + 2 throttled Signs + 1 Sign

  let refusals = 0;
  const refusing = {
    send: async (command: unknown) => {
      if (command instanceof SignCommand) {
        refusals++;
        throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
      }
      return kms.send(command as never);
    },
  } as unknown as KMSClient;
  await assert.rejects(new KmsSigner({ client: refusing, keyId, retry: { baseDelayMs: 1 } }).signMessage('x'), { name: 'AccessDeniedException' });
  assert.equal(refusals, 1);
});

test("hostile KMS answers: another key's signature, non-canonical DER and out-of-range values are refused; high-s is normalised", async () => {
  const other = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
  const rewrite = (f: (der: Uint8Array, digest: Uint8Array) => Promise<Uint8Array> | Uint8Array) =>
    ({
      send: async (command: any) => {
        if (command instanceof SignCommand) {
          const out = await kms.send(command);
          return { ...out, Signature: await f(out.Signature!, command.input.Message as Uint8Array) };
        }
        return kms.send(command);
      },
    }) as unknown as KMSClient;
  const swapped = rewrite(
    async (_der, digest) =>
      (await kms.send(new SignCommand({ KeyId: other, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!,
  );
  await assert.rejects(
    new KmsSigner({ client: swapped, keyId }).signMessage('x'),
    (e: unknown) => e instanceof KmsSignatureError && e.code === 'SIGNER_MISMATCH',
  );
  const longForm = rewrite((der) => Uint8Array.from([0x30, 0x81, der[1]!, ...der.subarray(2)]));
  await assert.rejects(new KmsSigner({ client: longForm, keyId }).signMessage('x'), (e: unknown) => e instanceof KmsSignatureError && e.code === 'INVALID_DER');
  const trailing = rewrite((der) => Uint8Array.from([...der, 0]));
  await assert.rejects(new KmsSigner({ client: trailing, keyId }).signMessage('x'), KmsSignatureError);
  const N = secp256k1.Point.Fn.ORDER;
  const highS = rewrite((der) => {
    const sig = secp256k1.Signature.fromBytes(der, 'der');
    return new secp256k1.Signature(sig.r, N - sig.s).toBytes('der');
  });
  assert.equal(await new KmsSigner({ client: highS, keyId }).signMessage('normalise me'), await signer.signMessage('normalise me'));
  const zeroR = rewrite(() => Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01]));
  await assert.rejects(new KmsSigner({ client: zeroR, keyId }).signMessage('x'), KmsSignatureError);
});

test('keys that are not secp256k1 signing keys are refused with KmsKeyError', async () => {
  const p256 = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
  await assert.rejects(new KmsSigner({ client: kms, keyId: p256 }).getAddress(), (e: unknown) => e instanceof KmsKeyError && e.code === 'NOT_SECP256K1');
  await assert.rejects(toKmsAccount({ client: kms, keyId: p256 }), KmsKeyError);
  await assert.rejects(new KmsSigner({ client: kms, keyId: 'alias/does-not-exist' }).getAddress(), { name: 'NotFoundException' });
});

test('the KmsSigner refuses a transaction whose from is another address, before asking KMS to sign', async () => {
  let signs = 0;
  const counting = {
    send: (command: unknown) => {
      if (command instanceof SignCommand) signs++;
      return kms.send(command as never);
    },
  } as unknown as KMSClient;
  const s = new KmsSigner({ client: counting, keyId });
  await assert.rejects(
    s.signTransaction({ from: `0x${'11'.repeat(20)}`, to: address, chainId: 1, gasLimit: 21000, maxFeePerGas: 1, maxPriorityFeePerGas: 1 }),
    { code: 'FROM_MISMATCH' },
  );
  assert.equal(signs, 0);
  // Its own address as `from` is fine.
  const signed = await s.signTransaction({ from: address, to: address, chainId: 1, gasLimit: 21000, maxFeePerGas: 1, maxPriorityFeePerGas: 1 });
  assert.equal(Transaction.from(signed).from, address);
  assert.equal(signs, 1);
});
