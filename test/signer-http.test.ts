/**
 * The signer's two HTTP edges in isolation, against real sockets:
 *  - KmsRecipientClient (undici dispatch) against a real node:http server
 *    standing in for the custodian: the request it sends (SigV4 headers that
 *    verify, the session document's base64), CiphertextForRecipient returned,
 *    Plaintext refused, AWS errors mapped, non-JSON, oversized and cut-off
 *    responses, an unreachable custodian, a slow one;
 *  - the signer app's CORS hook: only a listed origin gets CORS headers and a
 *    preflight answer.
 */
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import pino from 'pino';
import { KmsRecipientClient, sigV4SigningKey } from '../src/signer/kms-client.js';
import { SignerError } from '../src/signer/errors.js';
import { buildSignerApp } from '../src/signer/server.js';
import type { SignerDeps } from '../src/signer/signWithSplitKey.js';

type Answer = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void;

describe('KmsRecipientClient (undici) against a real HTTP server', () => {
  let answer: Answer = (_q, _b, res) => res.end('{}');
  const seen: Array<{ headers: http.IncomingHttpHeaders; body: Buffer }> = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    seen.push({ headers: req.headers, body });
    answer(req, body, res);
  });
  let client: KmsRecipientClient;
  const credentials = { accessKeyId: 'ASIATESTTESTTEST0001', secretAccessKey: 'secret-for-the-test', sessionToken: 'session-token' };
  const document = new Uint8Array(1500).map((_, i) => i & 0xff);
  const request = {
    credentials,
    ciphertextBlob: new Uint8Array([1, 2, 3]),
    encryptionContext: { sub: 'owner', address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' },
    attestationDocument: document,
  };
  const json =
    (status: number, value: unknown, headers: Record<string, string> = {}): Answer =>
    (_q, _b, res) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...headers });
      res.end(JSON.stringify(value));
    };
  const refusal = async (code: string, re?: RegExp) =>
    assert.rejects(client.decryptForRecipient(request), (e: unknown) => e instanceof SignerError && e.code === code && (!re || re.test(e.message)));

  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    client = new KmsRecipientClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', timeoutMs: 500 });
  });
  after(async () => {
    client.close();
    server.closeAllConnections();
    server.close();
  });

  test('sends a SigV4-signed Decrypt with Recipient and returns CiphertextForRecipient', async () => {
    answer = json(200, { KeyId: 'arn', CiphertextForRecipient: Buffer.from([9, 8, 7]).toString('base64') });
    seen.length = 0;
    assert.deepEqual(await client.decryptForRecipient(request), new Uint8Array([9, 8, 7]));
    assert.deepEqual(await client.decryptForRecipient({ ...request, keyId: 'alias/owner' }), new Uint8Array([9, 8, 7]));
    const [first, second] = seen;
    const body = JSON.parse(first!.body.toString('utf8'));
    assert.deepEqual(body, {
      CiphertextBlob: 'AQID',
      EncryptionContext: request.encryptionContext,
      Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: Buffer.from(document).toString('base64') },
    });
    assert.equal(JSON.parse(second!.body.toString('utf8')).KeyId, 'alias/owner');
    const h = first!.headers;
    assert.equal(h['x-amz-target'], 'TrentService.Decrypt');
    assert.equal(h['content-type'], 'application/x-amz-json-1.1');
    assert.equal(h['x-amz-security-token'], 'session-token');
    assert.equal(h['x-amz-content-sha256'], createHash('sha256').update(first!.body).digest('hex'));
    assert.equal(Number(h['content-length']), first!.body.length);
    // The signature verifies: recompute it from what arrived.
    const m =
      /^AWS4-HMAC-SHA256 Credential=ASIATESTTESTTEST0001\/(\d{8})\/us-east-1\/kms\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
        String(h.authorization),
      );
    assert.ok(m, String(h.authorization));
    const names = m[2]!.split(';');
    assert.deepEqual(names, ['content-length', 'content-type', 'host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token', 'x-amz-target']);
    const canonical = `POST\n/\n\n${names.map((n) => `${n}:${String(h[n]).trim()}\n`).join('')}\n${m[2]}\n${h['x-amz-content-sha256']}`;
    const stringToSign = `AWS4-HMAC-SHA256\n${h['x-amz-date']}\n${m[1]}/us-east-1/kms/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
    assert.equal(
      createHmac('sha256', sigV4SigningKey(credentials.secretAccessKey, m[1]!, 'us-east-1'))
        .update(stringToSign)
        .digest('hex'),
      m[3],
    );
    // Another document (same length, one byte changed) is encoded afresh, not taken from the one-entry cache.
    const other = document.slice();
    other[0] = 0xff;
    seen.length = 0;
    await client.decryptForRecipient({ ...request, attestationDocument: other });
    assert.equal(JSON.parse(seen[0]!.body.toString('utf8')).Recipient.AttestationDocument, Buffer.from(other).toString('base64'));
  });

  test('a response with Plaintext, or without CiphertextForRecipient, is refused', async () => {
    answer = json(200, { Plaintext: 'AAAA', CiphertextForRecipient: 'AAAA' });
    await refusal('custodian_unavailable', /plaintext/);
    answer = json(200, { KeyId: 'arn' });
    await refusal('custodian_unavailable', /no CiphertextForRecipient/);
  });

  test("AWS errors map to the signer's codes", async () => {
    answer = json(400, { __type: 'AccessDeniedException', message: 'no' });
    await refusal('release_refused');
    answer = json(400, { __type: 'com.amazonaws.kms#InvalidCiphertextException' });
    await refusal('share_ciphertext_invalid');
    answer = json(400, { __type: 'ValidationException', message: 'The attestation document in Recipient is not valid (stale): old' });
    await assert.rejects(
      client.decryptForRecipient(request),
      (e: unknown) => e instanceof SignerError && e.code === 'attestation_refused' && e.reason === 'stale',
    );
    answer = json(400, { __type: 'ExpiredTokenException' });
    await refusal('credentials_unavailable');
    answer = json(500, { __type: 'KMSInternalException' });
    await refusal('custodian_unavailable', /HTTP 500, KMSInternalException/);
  });

  test('non-JSON, oversized and cut-off responses, and a custodian that does not answer in time, fail cleanly', async () => {
    answer = (_q, _b, res) => res.end('<html>');
    await refusal('custodian_unavailable', /without a JSON body/);
    answer = (_q, _b, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(70 * 1024, 0x20));
    };
    await refusal('custodian_unavailable', /too large/);
    answer = (_q, _b, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"CiphertextForRecipient":');
      setTimeout(() => res.destroy(), 20);
    };
    await refusal('custodian_unavailable');
    answer = () => undefined; // never answers: the 500 ms headers timeout
    const started = Date.now();
    await refusal('custodian_unavailable');
    assert.ok(Date.now() - started < 5_000);
    // The client still works afterwards.
    answer = json(200, { CiphertextForRecipient: 'AQ==' });
    assert.deepEqual(await client.decryptForRecipient(request), new Uint8Array([1]));
  });

  test('an unreachable custodian is custodian_unavailable naming the socket error', async () => {
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as { port: number };
    closed.close();
    await once(closed, 'close');
    const c = new KmsRecipientClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1' });
    try {
      await assert.rejects(
        c.decryptForRecipient(request),
        (e: unknown) => e instanceof SignerError && e.code === 'custodian_unavailable' && /could not be reached \(ECONNREFUSED\)/.test(e.message),
      );
    } finally {
      c.close();
    }
    assert.throws(() => new KmsRecipientClient({ endpoint: 'ftp://127.0.0.1/', region: 'us-east-1' }), RangeError);
  });
});

describe("the signer app's CORS hook", () => {
  const deps = {} as SignerDeps; // never reached: these requests stop before signing
  const app = buildSignerApp({ ...deps, logger: pino({ level: 'silent' }), corsOrigins: ['https://frame.example'] });
  after(() => app.close());

  test('a listed origin gets its preflight answered and CORS headers; another origin gets none', async () => {
    const pre = await app.inject({ method: 'OPTIONS', url: '/v1/sign', headers: { origin: 'https://frame.example', 'access-control-request-method': 'POST' } });
    assert.equal(pre.statusCode, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://frame.example');
    assert.equal(pre.headers['access-control-allow-methods'], 'POST');
    assert.equal(pre.headers['access-control-allow-headers'], 'authorization, content-type');
    assert.equal(pre.headers.vary, 'Origin');
    const other = await app.inject({
      method: 'OPTIONS',
      url: '/v1/sign',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.notEqual(other.statusCode, 204);
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/sign',
      headers: { origin: 'https://frame.example', 'content-type': 'application/json' },
      payload: '{"nope":1}',
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.headers['access-control-allow-origin'], 'https://frame.example');
    assert.equal(bad.json().error.code, 'bad_request');
    const plain = await app.inject({ method: 'GET', url: '/health', headers: { origin: 'https://evil.example' } });
    assert.equal(plain.statusCode, 200);
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
  });
});
