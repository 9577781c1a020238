// Issue #12, item 4: EIP-712 typed data is bounded before anything hashes it
// (packages/sdk/src/checkTypedDataLimits.ts, one file), on every path that hashes it — the
// signer, src/eth's signTypedData, the wallet frame's request check and the
// SDK (toKmsAccount, KmsSigner, SplitWalletClient) — and the signer verifies
// the token before hashing. Through a real launched signer: typed data whose
// hashing fails is refused as invalid_token with a forged token and as
// invalid_payload with a valid one (the order, shown without timing);
// over-bound typed data is refused with invalid_payload naming the bound,
// even with a valid token.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { hashTypedData, type TypedDataDefinition } from 'viem';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { checkTypedDataLimits, TYPED_DATA_LIMITS, TypedDataLimitError } from '../packages/sdk/src/checkTypedDataLimits.js';
import { signTypedData } from '../src/eth/signTypedData.js';
import { typedDataParams } from '../web/frame/requests.js';
import { toKmsAccount } from '../packages/sdk/src/toKmsAccount.js';
import { KmsSigner } from '../packages/sdk/src/KmsSigner.js';
import { SplitWalletClient } from '../packages/sdk/src/split/SplitWalletClient.js';
import { UnsignableError } from '../packages/sdk/src/errors.js';
import { SplitError } from '../packages/sdk/src/split/errors.js';
import { ProviderRpcError } from '../packages/sdk/src/browser/ProviderRpcError.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { startSplitFixture, postSign, signBody, type SplitFixture, type SplitWallet, type LaunchedSigner } from './helpers/signer-fixture.js';

const MAIL = {
  domain: { name: 'Ether Mail', version: '1', chainId: 1, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
  types: {
    Person: [
      { name: 'name', type: 'string' },
      { name: 'wallet', type: 'address' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'string' },
    ],
  },
  primaryType: 'Mail',
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
  },
};

/** Within every bound, yet costly to hash: `n` structs in one array. */
function costly(n: number) {
  return {
    domain: { name: 'x', chainId: 1 },
    types: {
      Item: [
        { name: 'a', type: 'uint256' },
        { name: 'b', type: 'uint256' },
        { name: 'c', type: 'uint256' },
        { name: 'd', type: 'uint256' },
      ],
      Root: [{ name: 'items', type: 'Item[]' }],
    },
    primaryType: 'Root',
    message: { items: Array.from({ length: n }, (_, i) => ({ a: String(i), b: '2', c: '3', d: '4' })) },
  };
}

/** One example over each bound, with the words its message must contain. */
function overBounds(): Array<[string, unknown, RegExp]> {
  const manyTypes = Object.fromEntries(Array.from({ length: TYPED_DATA_LIMITS.types + 1 }, (_, i) => [`T${i}`, [{ name: 'v', type: 'uint8' }]]));
  const wide = Array.from({ length: TYPED_DATA_LIMITS.fieldsPerType + 1 }, (_, i) => ({ name: `f${i}`, type: 'uint8' }));
  const allFields = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`T${i}`, wide.slice(0, 60)]));
  let deep: unknown = 1;
  for (let i = 0; i < TYPED_DATA_LIMITS.depth + 1; i++) deep = { x: deep };
  return [
    ['types', { types: manyTypes, primaryType: 'T0', message: {} }, /more than 64 types/],
    ['fields per type', { types: { A: wide }, primaryType: 'A', message: {} }, /more than 64 fields/],
    ['fields in all', { types: allFields, primaryType: 'T0', message: {} }, /more than 256 fields in all/],
    ['name length', { types: { ['A'.repeat(300)]: [] }, primaryType: 'A', message: {} }, /longer than 256 characters/],
    ['array dimensions', { types: { A: [{ name: 'v', type: `uint8${'[]'.repeat(17)}` }] }, primaryType: 'A', message: {} }, /more than 16 array dimensions/],
    ['depth', { types: { A: [] }, primaryType: 'A', message: deep }, /nested deeper than 16/],
    [
      'array length',
      { types: { A: [{ name: 'v', type: 'uint8[]' }] }, primaryType: 'A', message: { v: new Array(TYPED_DATA_LIMITS.arrayLength + 1).fill(1) } },
      /more than 1024 elements/,
    ],
    ['values', costly(1_000), /more than 4096 values/],
    [
      'size',
      { types: { A: [{ name: 's', type: 'string' }] }, primaryType: 'A', message: { s: 'z'.repeat(TYPED_DATA_LIMITS.size + 1) } },
      /larger than 65536 characters/,
    ],
    // The red team's request: 115 KiB of typed data.
    ["the red team's 115 KiB", costly(2_600), /more than 1024 elements/],
  ];
}

describe('checkTypedDataLimits', () => {
  test('real typed data passes: Mail, and a Permit2 batch of 100 tokens', () => {
    checkTypedDataLimits(MAIL);
    const permit = {
      domain: { name: 'Permit2', chainId: 1, verifyingContract: '0x000000000022D473030F116dDEE9F6B43aC78BA3' },
      types: {
        PermitDetails: [
          { name: 'token', type: 'address' },
          { name: 'amount', type: 'uint160' },
          { name: 'expiration', type: 'uint48' },
          { name: 'nonce', type: 'uint48' },
        ],
        PermitBatch: [
          { name: 'details', type: 'PermitDetails[]' },
          { name: 'spender', type: 'address' },
          { name: 'sigDeadline', type: 'uint256' },
        ],
      },
      primaryType: 'PermitBatch',
      message: {
        details: Array.from({ length: 100 }, () => ({ token: MAIL.domain.verifyingContract, amount: '1', expiration: '1', nonce: '0' })),
        spender: MAIL.domain.verifyingContract,
        sigDeadline: '1',
      },
    };
    checkTypedDataLimits(permit);
    hashTypedData(permit as unknown as TypedDataDefinition);
  });

  test('each bound is enforced, naming the bound and never a value', () => {
    for (const [what, data, message] of overBounds()) {
      assert.throws(
        () => checkTypedDataLimits(data),
        (e: unknown) => e instanceof TypedDataLimitError && e.code === 'TYPED_DATA_LIMIT' && message.test(e.message) && !/zzzz/.test(e.message),
        what,
      );
    }
  });
});

describe('every path that hashes typed data refuses over-bound typed data before hashing', () => {
  let server: TestServer;
  let keyId: string;
  const big = costly(1_000);
  before(async () => {
    server = await startTestServer();
    keyId = (await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
  });
  after(() => server?.close());

  test('src/eth signTypedData: TypedDataLimitError, the digest signer never called', async () => {
    let calls = 0;
    await assert.rejects(
      signTypedData({
        typedData: big as never,
        signer: async () => (calls++, { r: 0n, s: 0n, recovery: 0 }) as never,
        address: '0x0000000000000000000000000000000000000001',
      }),
      (e: unknown) => e instanceof TypedDataLimitError && /more than 4096 values/.test(e.message),
    );
    assert.equal(calls, 0);
  });

  test('the wallet frame: -32602 invalid params naming the bound', () => {
    const account = '0x0000000000000000000000000000000000000001';
    assert.throws(
      () => typedDataParams([account, JSON.stringify(big)], account),
      (e: unknown) => e instanceof ProviderRpcError && e.code === -32602 && /too large: .*more than 4096 values/.test(e.message),
    );
    assert.equal(typedDataParams([account, MAIL], account).primaryType, 'Mail');
  });

  test('the SDK: toKmsAccount and KmsSigner throw UnsignableError TYPED_DATA_LIMIT; within bounds they sign', async () => {
    const account = await toKmsAccount({ client: server.kms(), keyId });
    await assert.rejects(account.signTypedData(big as never), (e: unknown) => e instanceof UnsignableError && e.code === 'TYPED_DATA_LIMIT');
    assert.match(await account.signTypedData(MAIL as never), /^0x[0-9a-f]{130}$/);
    const signer = new KmsSigner({ client: server.kms(), keyId });
    await assert.rejects(
      signer.signTypedData(big.domain, { Item: big.types.Item, Root: big.types.Root }, big.message),
      (e: unknown) => e instanceof UnsignableError && e.code === 'TYPED_DATA_LIMIT',
    );
    assert.match(await signer.signTypedData(MAIL.domain, MAIL.types, MAIL.message), /^0x[0-9a-f]{130}$/);
  });

  test('the SDK: SplitWalletClient refuses before any request (invalid_payload)', async () => {
    let requests = 0;
    const client = new SplitWalletClient({
      walletUrl: server.endpoint,
      custodianUrl: server.endpoint,
      roleArn: 'arn:aws:iam::111122223333:role/unused',
      signerUrl: server.endpoint,
      region: 'us-east-1',
      token: async () => 'unused',
      fetch: async () => {
        requests++;
        throw new Error('no request expected');
      },
    } as never);
    await assert.rejects(
      client.sign({ type: 'typedData', typedData: big as never }),
      (e: unknown) => e instanceof SplitError && e.code === 'invalid_payload' && /more than 4096 values/.test(e.message),
    );
    assert.equal(requests, 0);
  });
});

describe('the signer verifies the token before hashing typed data (real signer process)', () => {
  let fx: SplitFixture;
  let signer: LaunchedSigner;
  let alice: SplitWallet;
  let token: string;

  before(async () => {
    fx = await startSplitFixture();
    signer = await fx.launch();
    alice = await fx.createWallet('alice');
    token = await fx.token('alice');
  });
  after(() => fx?.close());

  test('typed data that fails to hash: an invalid token is refused first (401), a valid one reaches hashing (400)', async () => {
    // Ordering, not timing: this payload is within the bounds (so the cheap shape check lets it through)
    // but hashing it throws. Were the signer to hash before verifying the token, the forged token would
    // get the hashing error (400 invalid_payload); it gets invalid_token, so hashing never ran for it.
    const unhashable = { ...MAIL, message: { ...MAIL.message, to: { name: 'Bob', wallet: 'not-an-address' } } };
    checkTypedDataLimits(unhashable);
    assert.throws(() => hashTypedData(unhashable as unknown as TypedDataDefinition));
    const forged = `${token.slice(0, -8)}AAAAAAAA`;
    for (const t of [forged, 'not-a-jwt']) {
      const r = await postSign(signer.url, signBody(alice, t, { type: 'typedData', typedData: unhashable }));
      assert.equal(r.status, 401, JSON.stringify(r.json));
      assert.equal(r.json.error.code, 'invalid_token');
    }
    const r = await postSign(signer.url, signBody(alice, token, { type: 'typedData', typedData: unhashable }));
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'invalid_payload');
    assert.doesNotMatch(r.json.error.message, /not-an-address/, 'payload values are not quoted back');
    // Within the bounds yet costly to hash, with a forged token: refused the same way.
    const data = costly(450);
    checkTypedDataLimits(data);
    const c = await postSign(signer.url, signBody(alice, forged, { type: 'typedData', typedData: data }));
    assert.equal(c.status, 401, JSON.stringify(c.json));
    assert.equal(c.json.error.code, 'invalid_token');
  });

  test('over-bound typed data is invalid_payload naming the bound, even with a valid token; nothing is released', async () => {
    for (const [what, data, message] of overBounds()) {
      const r = await postSign(signer.url, signBody(alice, token, { type: 'typedData', typedData: data }));
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, 'invalid_payload', what);
      assert.match(r.json.error.message, message, what);
    }
    // Within the bounds the same wallet still signs.
    const ok = await postSign(signer.url, signBody(alice, token, { type: 'typedData', typedData: MAIL }));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
  });
});
