/**
 * The signer's attested session and payload reading, in process: one RSA-2048
 * key pair per session (reused, replaced after its lifetime), one attestation
 * document per key pair reused until the refresh interval and then replaced
 * by one with a fresh nonce (or a fresh document per release with refresh 0),
 * each verified as the custodian would and bound to the session's public key;
 * a document the custodian refuses is not handed out again; the
 * sign-request payload parser with hostile inputs (unknown fields, quantities
 * that are not integers or do not fit 256 bits, bad addresses and hex,
 * unencodable transactions and typed data).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { AttestedSession } from '../src/signer/session.js';
import { PlatformKey } from '../src/attestation/platform-key.js';
import { signAttestationDocument } from '../src/attestation/signAttestationDocument.js';
import { RecipientAttestation } from '../src/attestation/recipient-attestation.js';
import { parsePayload } from '../src/eth/payload.js';
import { InvalidPayloadError } from '../src/eth/errors.js';
import { amzDate, signDecryptRequest, sigV4SigningKey } from '../src/signer/kms-client.js';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

const platform = PlatformKey.fromSecret(PlatformKey.generateSecret());
const pcrs = new Map([[0, new Uint8Array(48).fill(1)]]);

describe('attested session', () => {
  const attester =
    (clock: () => number, requests: Array<{ publicKey: Uint8Array; nonce: Uint8Array }>) => async (r: { publicKey: Uint8Array; nonce: Uint8Array }) => {
      requests.push(r);
      return signAttestationDocument(platform, { pcrs, moduleId: 'test', publicKey: r.publicKey, nonce: r.nonce, timestamp: clock() });
    };

  test('reuses its key pair and one document until the refresh interval, then a fresh document (fresh nonce)', async () => {
    let now = 1_800_000_000_000;
    const requests: Array<{ publicKey: Uint8Array; nonce: Uint8Array }> = [];
    const session = new AttestedSession({ now: () => now, lifetimeMs: 240_000, refreshMs: 60_000, attest: attester(() => now, requests) });
    const verifier = new RecipientAttestation({ trustedKeys: [platform.spki] });
    const a = await session.recipient();
    now += 30_000;
    const b = await session.recipient();
    assert.equal(a.privateKey, b.privateKey);
    assert.equal(b.document, a.document, 'the same document inside the refresh interval');
    assert.deepEqual([a.reused, b.reused], [false, true]);
    assert.equal(requests.length, 1);
    assert.equal(session.documentsIssued, 1);
    assert.equal(requests[0]!.nonce.length, 32);
    // The custodian verifies it once and finds it again.
    const ra = verifier.accept(a.document, now - 30_000);
    verifier.accept(b.document, now);
    assert.deepEqual(verifier.stats, { verified: 1, sessionHits: 1 });
    // The document's key is the session's key.
    const spki = createPublicKey(a.privateKey).export({ format: 'der', type: 'spki' });
    assert.deepEqual(new Uint8Array(spki), ra.spki);
    assert.equal(a.privateKey.asymmetricKeyDetails?.modulusLength, 2048);

    now += 30_000; // 60 s after the document: a fresh one, same key
    const c = await session.recipient();
    assert.equal(c.privateKey, a.privateKey);
    assert.notDeepEqual(c.document, a.document);
    assert.equal(c.reused, false);
    assert.notDeepEqual(requests[1]!.nonce, requests[0]!.nonce);
    assert.deepEqual(requests[1]!.publicKey, requests[0]!.publicKey);
    // ... which the custodian verifies in full, while the old one is now stale there.
    verifier.accept(c.document, now);
    assert.deepEqual(verifier.stats, { verified: 2, sessionHits: 1 });
    assert.throws(() => verifier.accept(a.document, now), /session of this document has ended/);

    now += 181_000; // past the key pair's lifetime: a new key pair, and a document for it
    const d = await session.recipient();
    assert.notEqual(d.privateKey, a.privateKey, 'a new key pair after the lifetime');
    assert.notDeepEqual(requests[2]!.publicKey, requests[0]!.publicKey);
    assert.equal(d.reused, false);
  });

  test('concurrent releases share one platform request', async () => {
    const requests: Array<{ publicKey: Uint8Array; nonce: Uint8Array }> = [];
    const session = new AttestedSession({ attest: attester(Date.now, requests) });
    await session.warm();
    const all = await Promise.all(Array.from({ length: 20 }, () => session.recipient()));
    assert.equal(requests.length, 1);
    assert.ok(all.every((r) => r.document === all[0]!.document));
    assert.equal(all.filter((r) => !r.reused).length, 1);
  });

  test("with refreshMs 0 every release gets a fresh document and nonce (the custodian's single-use mode)", async () => {
    const requests: Array<{ publicKey: Uint8Array; nonce: Uint8Array }> = [];
    const session = new AttestedSession({ refreshMs: 0, attest: attester(Date.now, requests) });
    const verifier = new RecipientAttestation({ trustedKeys: [platform.spki], sessionMs: 0 });
    const a = await session.recipient();
    const b = await session.recipient();
    assert.equal(a.privateKey, b.privateKey);
    assert.notDeepEqual(a.document, b.document);
    assert.notDeepEqual(requests[0]!.nonce, requests[1]!.nonce);
    assert.deepEqual([a.reused, b.reused], [false, false]);
    verifier.accept(a.document, Date.now());
    verifier.accept(b.document, Date.now());
    assert.throws(() => new AttestedSession({ refreshMs: -1, attest: attester(Date.now, []) }), RangeError);
  });

  test('a refused document is not handed out again; after `replayed` for a reused one, each release gets its own', async () => {
    const requests: Array<{ publicKey: Uint8Array; nonce: Uint8Array }> = [];
    const session = new AttestedSession({ attest: attester(Date.now, requests) });
    const a = await session.recipient();
    const b = await session.recipient();
    await session.refused(b, 'stale');
    const c = await session.recipient();
    assert.notDeepEqual(c.document, a.document);
    assert.equal(c.reused, false);
    const d = await session.recipient();
    assert.equal(d.document, c.document, 'reuse resumes after a stale refusal');
    // A custodian that accepts each document once:
    await session.refused(d, 'replayed');
    const e = await session.recipient();
    const f = await session.recipient();
    assert.notDeepEqual(e.document, f.document);
    assert.deepEqual([e.reused, f.reused], [false, false]);
    assert.equal(requests.length, 4);
  });

  test('a platform that refuses makes the release fail, and the next one asks again', async () => {
    let refuse = true;
    const session = new AttestedSession({
      attest: async (r) => {
        if (refuse) throw new Error('platform gone');
        return signAttestationDocument(platform, { pcrs, moduleId: 'test', publicKey: r.publicKey, nonce: r.nonce });
      },
    });
    await assert.rejects(session.recipient(), /platform gone/);
    refuse = false;
    assert.ok((await session.recipient()).document.length > 100);
  });
});

describe("the KMS client's SigV4 signature", () => {
  test("equals the AWS SDK's signer (@smithy/signature-v4) for the same request, with and without a session token", async () => {
    const now = Date.parse('2026-11-23T01:02:03.456Z');
    assert.equal(amzDate(now), '20261123T010203Z');
    const body = Buffer.from(JSON.stringify({ CiphertextBlob: 'AAAA', EncryptionContext: { sub: 'alice' } }));
    for (const credentials of [
      { accessKeyId: 'AKIAEXAMPLEEXAMPLE01', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      { accessKeyId: 'ASIAEXAMPLEEXAMPLE02', secretAccessKey: 'secret/with+chars=', sessionToken: 'FwoGZXIvYXdzEJr//////////wEaDM+session+token==' },
    ]) {
      const ours = signDecryptRequest({
        host: '127.0.0.1:4000',
        body,
        credentials,
        region: 'eu-west-1',
        now,
        signingKey: (d) => sigV4SigningKey(credentials.secretAccessKey, d, 'eu-west-1'),
      });
      const sdk = new SignatureV4({ credentials, region: 'eu-west-1', service: 'kms', sha256: Hash.bind(null, 'sha256') });
      const request = new HttpRequest({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 4000,
        path: '/',
        headers: {
          host: '127.0.0.1:4000',
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': 'TrentService.Decrypt',
          'content-length': String(body.length),
        },
        body,
      });
      const theirs = (await sdk.sign(request, { signingDate: new Date(now) })) as HttpRequest;
      assert.equal(ours.authorization, theirs.headers.authorization);
      assert.equal(ours['x-amz-date'], theirs.headers['x-amz-date']);
      assert.equal(ours['x-amz-security-token'], theirs.headers['x-amz-security-token']);
    }
  });
});

describe('sign request payloads', () => {
  const refused = (payload: unknown, re?: RegExp) =>
    assert.throws(
      () => parsePayload(payload),
      (e: unknown) => e instanceof InvalidPayloadError && e.code === 'invalid_payload' && (!re || re.test(e.message)),
    );
  const tx = {
    type: 'eip1559',
    chainId: 1,
    nonce: 0,
    to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    gas: 21000,
    maxFeePerGas: '2',
    maxPriorityFeePerGas: '1',
  };

  test('quantities: numbers, decimal and hex strings become bigints; anything else is refused', () => {
    const p = parsePayload({ type: 'transaction', transaction: { ...tx, value: '0x10', maxFeePerGas: '1000', gas: 21000 } });
    assert.equal(p.type, 'transaction');
    const t = (p as { transaction: Record<string, unknown> }).transaction;
    assert.equal(t.value, 16n);
    assert.equal(t.maxFeePerGas, 1000n);
    assert.equal(t.gas, 21000n);
    for (const value of [-1, 1.5, '01', '-1', '1e3', '0x', `0x${'f'.repeat(65)}`, (2n ** 256n).toString(), true, {}, [], Number.MAX_SAFE_INTEGER + 2]) {
      refused({ type: 'transaction', transaction: { ...tx, value } }, /transaction\.value/);
    }
    refused({ type: 'transaction', transaction: { ...tx, chainId: '0x1fffffffffffff0' } }, /chainId/);
  });

  test('unknown fields and types are refused at every level', () => {
    refused({ type: 'transaction', transaction: { ...tx, from: tx.to } }, /unknown field/);
    refused({ type: 'transaction', transaction: tx, extra: 1 }, /unknown field/);
    refused({ type: 'transaction', transaction: { ...tx, type: 'eip9999' } });
    refused({ type: 'message', message: 'x', raw: '0x' }, /unknown field/);
    refused({ type: 'authorization', authorization: { address: tx.to, chainId: 1, nonce: 0, r: '0x' } }, /unknown field/);
    refused({ type: 'typedData', typedData: { types: {}, primaryType: 'A', message: {}, extra: 1 } }, /unknown field/);
    refused({ type: 'sign' });
    refused(null);
    refused([{ type: 'message', message: 'x' }]);
  });

  test('addresses, hex and lists are checked', () => {
    refused({ type: 'transaction', transaction: { ...tx, to: '0x1234' } }, /transaction\.to/);
    refused({ type: 'transaction', transaction: { ...tx, data: '0x123' } }, /transaction\.data/);
    refused({ type: 'transaction', transaction: { ...tx, data: 'deadbeef' } }, /transaction\.data/);
    refused({ type: 'transaction', transaction: { ...tx, accessList: [{ address: tx.to, storageKeys: ['0x01'] }] } }, /storageKeys/);
    refused({ type: 'transaction', transaction: { ...tx, accessList: {} } }, /accessList/);
    refused({ type: 'message', message: { raw: 'hello' } }, /message\.raw/);
    refused({ type: 'message', message: 7 });
    refused({ type: 'authorization', authorization: { address: 'nope', chainId: 1, nonce: 0 } }, /authorization\.address/);
    refused({ type: 'transaction', transaction: { ...tx, chainId: undefined } }, /chainId is required/);
  });

  test('payloads that cannot be encoded are refused before any release, naming no value', () => {
    // maxPriorityFeePerGas above maxFeePerGas: viem refuses to serialize it.
    refused({ type: 'transaction', transaction: { ...tx, maxFeePerGas: '1', maxPriorityFeePerGas: '5' } }, /TipAboveFeeCapError/);
    refused({ type: 'transaction', transaction: { ...tx, chainId: 0 } });
    refused(
      {
        type: 'typedData',
        typedData: { types: { Mail: [{ name: 'amount', type: 'uint256' }] }, primaryType: 'Mail', message: { amount: 'secret-looking-value' } },
      },
      /^(?!.*secret-looking-value)/,
    );
  });

  test('well-formed payloads of every type pass', () => {
    assert.equal(parsePayload({ type: 'message', message: 'hi' }).type, 'message');
    assert.equal(parsePayload({ type: 'message', message: { raw: '0xdeadbeef' } }).type, 'message');
    assert.equal(parsePayload({ type: 'authorization', authorization: { contractAddress: tx.to, chainId: 0, nonce: 1 } }).type, 'authorization');
    assert.equal(
      parsePayload({
        type: 'typedData',
        typedData: { domain: { name: 'x', chainId: 1 }, types: { A: [{ name: 'v', type: 'uint256' }] }, primaryType: 'A', message: { v: '1' } },
      }).type,
      'typedData',
    );
    assert.equal(
      parsePayload({ type: 'transaction', transaction: { type: 'legacy', chainId: 1, nonce: 0, gas: 21000, gasPrice: '1', to: null } }).type,
      'transaction',
    );
  });
});
