/**
 * The lean KMS transport (createKmsHttpClient: JSON 1.1 over fetch, SigV4 by
 * @noble/hashes) and the pluggable yParity (nativeParity from
 * @symbolon/sdk/node, libsecp256k1), against a real listening custodian
 * (SQLite or PostgreSQL per DATABASE_URL) beside the real AWS SDK: the
 * custodian accepts its SigV4 (any bug there is an InvalidSignatureException),
 * its outputs have the AWS SDK's shape and bytes, KMS errors keep their
 * names (so throttling retries work), and KmsSigner / toKmsAccount over it
 * with native parity sign transactions that recover to the key's address.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateKeyCommand, DescribeKeyCommand, GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Transaction, getAddress } from 'ethers';
import { keccak256, recoverTransactionAddress, serializeTransaction, type TransactionSerializableEIP1559 } from 'viem';
import {
  KmsKey,
  KmsSigner,
  RecoveryParity,
  canonicalSignature,
  createKmsHttpClient,
  isThrottlingError,
  toKmsAccount,
  KmsSignatureError,
} from '../src/index.js';
import { createNodeHttpFetch, createNodeKmsClient, nativeParity, nodeSigV4Hashes } from '../src/node/index.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from 'node:crypto';
import { ADMIN, REGION, STORE, startTestServer, type TestServer } from '../../../test/helpers/server.js';

let server: TestServer;
let kms: KMSClient;
let keyId: string;

before(async () => {
  server = await startTestServer();
  kms = server.kms();
  keyId = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
});
after(async () => {
  await server?.close();
});

const lean = () => createKmsHttpClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN });
const tx = (nonce: number): TransactionSerializableEIP1559 => ({
  type: 'eip1559',
  chainId: 1,
  nonce,
  to: '0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
  value: 10n ** 15n,
  gas: 21_000n,
  maxFeePerGas: 30_000_000_000n,
  maxPriorityFeePerGas: 1_000_000_000n,
});

test(`GetPublicKey over the lean client returns what the AWS SDK returns (${STORE})`, async () => {
  const mine = await lean().send(new GetPublicKeyCommand({ KeyId: keyId }));
  const theirs = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  assert.ok(mine.PublicKey instanceof Uint8Array);
  assert.deepEqual(mine.PublicKey, new Uint8Array(theirs.PublicKey!));
  assert.equal(mine.KeyId, theirs.KeyId);
  assert.equal(mine.KeySpec, 'ECC_SECG_P256K1');
  assert.equal(mine.KeyUsage, 'SIGN_VERIFY');
  assert.deepEqual(mine.SigningAlgorithms, theirs.SigningAlgorithms);
  assert.equal(mine.$metadata.httpStatusCode, 200);
});

test(`Sign over the lean client: the custodian accepts its SigV4 and the DER signature verifies (${STORE})`, async () => {
  const client = lean();
  const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  const point = new RecoveryParity(secp256k1.Point.fromBytes(new Uint8Array(PublicKey!).subarray(-65)).toBytes(false)).uncompressed();
  for (let i = 0; i < 5; i++) {
    const digest = keccak256(serializeTransaction(tx(i)), 'bytes');
    const out = await client.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.ok(out.Signature instanceof Uint8Array);
    assert.equal(out.SigningAlgorithm, 'ECDSA_SHA_256');
    assert.match(out.KeyId!, /^arn:aws:kms:/);
    assert.ok(secp256k1.verify(out.Signature, digest, point, { prehash: false, format: 'der', lowS: false }));
  }
});

test(`KMS errors keep AWS's __type as the error name, as the AWS SDK raises them (${STORE})`, async () => {
  const missing = 'alias/does-not-exist';
  const theirs = await kms.send(new GetPublicKeyCommand({ KeyId: missing })).catch((e: Error) => e);
  const mine = await lean()
    .send(new GetPublicKeyCommand({ KeyId: missing }))
    .catch((e: Error) => e);
  assert.ok(mine instanceof Error && theirs instanceof Error);
  assert.equal(mine.name, 'NotFoundException');
  assert.equal(mine.name, theirs.name);
  assert.equal(mine.message, theirs.message);
  assert.equal((mine as unknown as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode, 400);
  const nodeFetch = createNodeHttpFetch();
  const overNodeHttp = await createKmsHttpClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, fetch: nodeFetch })
    .send(new GetPublicKeyCommand({ KeyId: missing }))
    .catch((e: Error) => e);
  nodeFetch.destroy();
  assert.ok(overNodeHttp instanceof Error);
  assert.equal(overNodeHttp.name, 'NotFoundException');
  assert.equal(overNodeHttp.message, theirs.message);

  // A wrong secret: the custodian refuses the SigV4 signature the same way for both clients.
  const bad = { accessKeyId: ADMIN.accessKeyId, secretAccessKey: `${ADMIN.secretAccessKey}x` };
  const theirsBad = await server
    .kms(bad)
    .send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32).fill(1), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))
    .catch((e: Error) => e);
  const mineBad = await createKmsHttpClient({ endpoint: server.endpoint, region: REGION, credentials: bad })
    .send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32).fill(1), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))
    .catch((e: Error) => e);
  assert.ok(mineBad instanceof Error && theirsBad instanceof Error);
  assert.equal(mineBad.name, 'InvalidSignatureException');
  assert.equal(mineBad.name, theirsBad.name);
});

test('other commands are refused before anything is sent', async () => {
  let sent = 0;
  const client = createKmsHttpClient({ endpoint: 'http://127.0.0.1:1', region: REGION, credentials: ADMIN, fetch: async () => (sent++, new Response('{}')) });
  await assert.rejects(client.send(new DescribeKeyCommand({ KeyId: keyId }) as never), TypeError);
  assert.equal(sent, 0);
});

test('a session token is sent as x-amz-security-token and signed', async () => {
  const seen: Record<string, string>[] = [];
  const fetchStub = async (_url: string, init: { headers: Record<string, string> }) => {
    seen.push(init.headers);
    return new Response(JSON.stringify({ KeyId: 'k', PublicKey: 'AQID' }), { status: 200 });
  };
  const client = createKmsHttpClient({ region: 'eu-west-1', credentials: { ...ADMIN, sessionToken: 'token-1' }, fetch: fetchStub });
  const out = await client.send(new GetPublicKeyCommand({ KeyId: 'k' }));
  assert.deepEqual(out.PublicKey, new Uint8Array([1, 2, 3]));
  const h = seen[0]!;
  assert.equal(h['x-amz-security-token'], 'token-1');
  assert.equal(h['x-amz-target'], 'TrentService.GetPublicKey');
  assert.match(
    h.authorization!,
    /^AWS4-HMAC-SHA256 Credential=AKIASYMBOLONTEST0001\/\d{8}\/eu-west-1\/kms\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$/,
  );
});

test(`ThrottlingException from the lean client is retried by KmsKey (${STORE})`, async () => {
  let throttled = 0;
  const client = createKmsHttpClient({
    endpoint: server.endpoint,
    region: REGION,
    credentials: ADMIN,
    fetch: async (url, init) => {
      if (init.headers['x-amz-target'] === 'TrentService.Sign' && throttled < 2) {
        throttled++;
        return new Response(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }), { status: 400 });
      }
      return fetch(url, init as RequestInit);
    },
  });
  const err = await client
    .send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))
    .catch((e: Error) => e);
  assert.ok(err instanceof Error && err.name === 'ThrottlingException' && isThrottlingError(err));
  const key = new KmsKey({ client, keyId, retry: { baseDelayMs: 1, maxAttempts: 3 } });
  const sig = await key.signDigest(new Uint8Array(32).fill(7));
  assert.equal(throttled, 2);
  assert.ok(sig.yParity === 0 || sig.yParity === 1);
});

test(`KmsSigner and toKmsAccount over the lean client with native parity sign transactions that recover to the key (${STORE})`, async () => {
  const client = lean();
  const signer = new KmsSigner({ client, keyId, parity: nativeParity });
  const reference = new KmsSigner({ client: kms, keyId });
  const address = await reference.getAddress();
  assert.equal(await signer.getAddress(), address);
  // The account over node:http (createNodeHttpFetch) instead of the global fetch.
  const nodeFetch = createNodeHttpFetch();
  after(() => nodeFetch.destroy());
  const account = await toKmsAccount({
    client: createKmsHttpClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, fetch: nodeFetch }),
    keyId,
    parity: nativeParity,
  });
  for (let i = 0; i < 12; i++) {
    const signed = await signer.signTransaction({
      type: 2,
      chainId: 1,
      nonce: i,
      to: tx(i).to!,
      value: 10n ** 15n,
      gasLimit: 21_000n,
      maxFeePerGas: 30_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    });
    assert.equal(Transaction.from(signed).from, address);
    const viemSigned = await account.signTransaction(tx(i));
    assert.equal(await recoverTransactionAddress({ serializedTransaction: viemSigned as never }), address);
  }
});

test(`nativeParity gives noble's yParity for the same KMS signature, and refuses another key's signature (${STORE})`, async () => {
  const other = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
  const { publicKey } = await new KmsKey({ client: kms, keyId }).getPublicKey();
  const uncompressed = Uint8Array.from(Buffer.from(publicKey.slice(2), 'hex'));
  const noble = new RecoveryParity(uncompressed);
  const native = (sig: Uint8Array, digest: Uint8Array) => nativeParity(sig, digest, uncompressed);
  const seen = new Set<number>();
  for (let i = 0; i < 24; i++) {
    const digest = keccak256(serializeTransaction(tx(100 + i)), 'bytes');
    const der = (await kms.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!;
    const a = canonicalSignature(der, digest, noble);
    const b = canonicalSignature(der, digest, native);
    assert.deepEqual(b, a);
    seen.add(b.yParity);
    // Another digest: neither parity recovers the key.
    assert.throws(
      () => canonicalSignature(der, new Uint8Array(32).fill(i + 1), native),
      (e: unknown) => e instanceof KmsSignatureError && e.code === 'SIGNER_MISMATCH',
    );
    if (i === 0) {
      const otherDer = (await kms.send(new SignCommand({ KeyId: other, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })))
        .Signature!;
      assert.throws(
        () => canonicalSignature(otherDer, digest, native),
        (e: unknown) => e instanceof KmsSignatureError && e.code === 'SIGNER_MISMATCH',
      );
    }
  }
  assert.deepEqual([...seen].sort(), [0, 1], '24 signatures should show both parities');
});

test(`the recovery-id hint: Symbolon's Sign reports it (secp256k1 only), the lean client passes it on, and a wrong hint never changes the answer (${STORE})`, async () => {
  const client = createNodeKmsClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN });
  try {
    const { publicKey } = await new KmsKey({ client: kms, keyId }).getPublicKey();
    const uncompressed = Uint8Array.from(Buffer.from(publicKey.slice(2), 'hex'));
    const noble = new RecoveryParity(uncompressed);
    // A ParityFunction that counts recoveries: nativeParity with the hint, recorded.
    const calls: (0 | 1 | undefined)[] = [];
    const counting = (sig: Uint8Array, digest: Uint8Array, hint?: 0 | 1) => (calls.push(hint), nativeParity(sig, digest, uncompressed, hint));
    const seen = new Set<number>();
    for (let i = 0; i < 16; i++) {
      const digest = keccak256(serializeTransaction(tx(300 + i)), 'bytes');
      const out = await client.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
      const hint = out.$recoveryIdHint;
      assert.ok(hint === 0 || hint === 1, 'Sign with a secp256k1 key carries a recovery-id hint');
      const truth = canonicalSignature(out.Signature!, digest, noble);
      // The custodian's hint is the signature's real parity (its signatures are already low-s).
      assert.equal(hint, truth.yParity);
      seen.add(hint);
      assert.deepEqual(canonicalSignature(out.Signature!, digest, counting, hint), truth);
      // A wrong hint costs a second recovery, never a wrong parity.
      assert.deepEqual(canonicalSignature(out.Signature!, digest, counting, hint === 0 ? 1 : 0), truth);
      // Neither hint makes another digest's signature acceptable.
      for (const h of [0, 1] as const) {
        assert.throws(
          () => canonicalSignature(out.Signature!, new Uint8Array(32).fill(i + 7), counting, h),
          (e: unknown) => e instanceof KmsSignatureError && e.code === 'SIGNER_MISMATCH',
        );
      }
    }
    assert.deepEqual([...seen].sort(), [0, 1], '16 signatures should show both parities');
    // A high-s form of the same signature recovers with the other parity: the hint is flipped with s.
    const digest = keccak256(serializeTransaction(tx(400)), 'bytes');
    const out = await client.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    const sig = secp256k1.Signature.fromBytes(out.Signature!, 'der');
    const highS = new secp256k1.Signature(sig.r, secp256k1.Point.Fn.ORDER - sig.s).toBytes('der');
    calls.length = 0;
    assert.deepEqual(canonicalSignature(highS, digest, counting, out.$recoveryIdHint), canonicalSignature(out.Signature!, digest, noble));
    assert.deepEqual(calls, [out.$recoveryIdHint === 0 ? 1 : 0], 'the hint was flipped with s and passed on');
    // The AWS SDK's own client ignores the header; a P-256 key's Sign carries none.
    const p256 = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const p = await client.send(new SignCommand({ KeyId: p256, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.equal(p.$recoveryIdHint, undefined);
    // KmsSigner over the lean client signs with one recovery per signature when the hint is right.
    calls.length = 0;
    const signer = new KmsSigner({ client, keyId, parity: (sig, d, key, hint) => (calls.push(hint), nativeParity(sig, d, key, hint)) });
    const signed = Transaction.from(
      await signer.signTransaction({
        type: 2,
        chainId: 1,
        nonce: 9,
        to: '0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
        value: 1n,
        gasLimit: 21_000n,
        maxFeePerGas: 2n,
        maxPriorityFeePerGas: 1n,
      }),
    );
    assert.equal(signed.from, await signer.getAddress());
    assert.equal(calls.length, 1);
    assert.ok(calls[0] === 0 || calls[0] === 1);
  } finally {
    client.destroy();
  }
});

test('nodeSigV4Hashes (OpenSSL) equal @noble/hashes on random inputs of every length SigV4 meets', () => {
  for (let len = 0; len <= 300; len++) {
    const data = new Uint8Array(randomBytes(len));
    const key = new Uint8Array(randomBytes(1 + (len % 70)));
    assert.deepEqual(new Uint8Array(nodeSigV4Hashes.sha256(data)), sha256(data), `sha256, ${len} bytes`);
    assert.deepEqual(new Uint8Array(nodeSigV4Hashes.hmacSha256(key, data)), hmac(sha256, key, data), `hmac, ${len} bytes`);
  }
});

test(`createNodeKmsClient (undici + OpenSSL hashes): GetPublicKey, Sign and errors as the AWS SDK; a wrong secret is refused (${STORE})`, async () => {
  const client = createNodeKmsClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN });
  try {
    const mine = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
    const theirs = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    assert.deepEqual(mine.PublicKey, new Uint8Array(theirs.PublicKey!));
    const point = secp256k1.Point.fromBytes(mine.PublicKey!.subarray(-65)).toBytes(false);
    // Concurrent requests share the pool's keep-alive connections.
    const digests = Array.from({ length: 40 }, (_, i) => keccak256(serializeTransaction(tx(100 + i)), 'bytes'));
    const outs = await Promise.all(
      digests.map((d) => client.send(new SignCommand({ KeyId: keyId, Message: d, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))),
    );
    outs.forEach((out, i) => assert.ok(secp256k1.verify(out.Signature!, digests[i]!, point, { prehash: false, format: 'der', lowS: false })));
    const missing = await client.send(new GetPublicKeyCommand({ KeyId: 'alias/does-not-exist' })).catch((e: Error) => e);
    assert.ok(missing instanceof Error);
    assert.equal(missing.name, 'NotFoundException');
  } finally {
    client.destroy();
  }
  const bad = createNodeKmsClient({
    endpoint: server.endpoint,
    region: REGION,
    credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: `${ADMIN.secretAccessKey}x` },
  });
  try {
    const refused = await bad
      .send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32).fill(1), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))
      .catch((e: Error) => e);
    assert.ok(refused instanceof Error);
    assert.equal(refused.name, 'InvalidSignatureException');
  } finally {
    bad.destroy();
  }
});

test('createNodeHttpFetch: headers and body as sent, status and headers as answered; an oversized answer rejects', async () => {
  const { createServer } = await import('node:http');
  const seen: { headers: Record<string, unknown>; body: string }[] = [];
  const big = 'x'.repeat(2048);
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === '/big') return void res.end(big);
      res.writeHead(418, { 'x-amzn-requestid': 'req-1', 'set-cookie': ['a=1', 'b=2'] }).end('{"__type":"Teapot"}');
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  const nodeFetch = createNodeHttpFetch({ maxResponseBytes: 1024 });
  try {
    const res = await nodeFetch(`${origin}/`, { method: 'POST', headers: { 'x-amz-target': 'TrentService.Sign' }, body: new TextEncoder().encode('{"a":1}') });
    assert.equal(res.status, 418);
    assert.equal(res.ok, false);
    assert.equal(res.headers.get('X-Amzn-RequestId'), 'req-1');
    assert.equal(res.headers.get('set-cookie'), 'a=1, b=2');
    assert.equal(res.headers.get('absent'), null);
    assert.equal(await res.text(), '{"__type":"Teapot"}');
    assert.equal(seen[0]!.body, '{"a":1}');
    assert.equal(seen[0]!.headers['x-amz-target'], 'TrentService.Sign');
    await assert.rejects(nodeFetch(`${origin}/big`, { method: 'POST', headers: {}, body: new Uint8Array(0) }), /larger than 1024 bytes/);
    // The pool still serves requests after an aborted one.
    assert.equal((await nodeFetch(`${origin}/`, { method: 'POST', headers: {}, body: new Uint8Array(0) })).status, 418);
  } finally {
    nodeFetch.destroy();
    http.close();
  }
});

test('createNodeHttpFetch rejects when nothing listens, as fetch does', async () => {
  const nodeFetch = createNodeHttpFetch();
  try {
    await assert.rejects(nodeFetch('http://127.0.0.1:1/', { method: 'POST', headers: {}, body: new Uint8Array(0) }));
  } finally {
    nodeFetch.destroy();
  }
});

/** `address` with the case of its first hex letter swapped: mixed case with a wrong EIP-55 checksum. */
function badChecksum(address: string): string {
  const i = address.slice(2).search(/[a-fA-F]/) + 2;
  const c = address[i]!;
  return address.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + address.slice(i + 1);
}

test(`KmsSigner resolves hex to/from like ethers: a bad mixed-case checksum is refused every time, lower-case and EIP-55 forms sign the same transaction (${STORE})`, async () => {
  const client = createNodeKmsClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN });
  try {
    const signer = new KmsSigner({ client, keyId, parity: nativeParity });
    const address = await signer.getAddress();
    const to = '0x5A5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a'; // mixed case, not the EIP-55 form of 0x5a5a…
    const good = { type: 2, chainId: 1, nonce: 7, value: 1n, gasLimit: 21_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n };
    for (let i = 0; i < 2; i++) {
      // Twice: a refused address is never cached as good.
      await assert.rejects(signer.signTransaction({ ...good, to }), /checksum/i);
      await assert.rejects(signer.signTransaction({ ...good, to: to.toLowerCase(), from: badChecksum(address) }), /checksum/i);
    }
    await assert.rejects(signer.signTransaction({ ...good, to: to.toLowerCase(), from: to.toLowerCase() }), /FROM_MISMATCH|not this signer/);
    const lower = Transaction.from(await signer.signTransaction({ ...good, to: to.toLowerCase(), from: address.toLowerCase() }));
    const checksummed = Transaction.from(await signer.signTransaction({ ...good, to: lower.to!, from: address }));
    assert.equal(lower.from, address);
    assert.equal(lower.to, getAddress(to.toLowerCase()));
    assert.equal(lower.unsignedHash, checksummed.unsignedHash);
    // No type: ethers infers it (legacy here, with a contract creation), as before.
    const untyped = Transaction.from(await signer.signTransaction({ chainId: 1, nonce: 1, gasLimit: 60_000n, gasPrice: 5n, data: '0x6000' }));
    assert.equal(untyped.from, address);
    assert.equal(untyped.to, null);
  } finally {
    client.destroy();
  }
});
