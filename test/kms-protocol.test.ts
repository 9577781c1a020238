/**
 * KMS wire-protocol conformance (AWS JSON 1.1 over `POST /`, SigV4) against a
 * real listening custodian: every way a request can be refused before an
 * operation runs. Faults the AWS SDK can produce (a wrong secret, an unknown
 * access key, a wrong region) go through @aws-sdk/client-kms; the rest are
 * built by hand with @smithy/signature-v4 and sent with fetch.
 *
 * Each refusal must look like AWS's: status below 500, a body that is exactly
 * `{"__type", "message"}` (AWS's exception name and, where AWS has one, its
 * text), no stack trace, an `x-amzn-requestid` header, and no change to the
 * store.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateKeyCommand, DescribeKeyCommand, KMSClient, KMSServiceException, paginateListKeys } from '@aws-sdk/client-kms';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import { startTestServer, ADMIN, REGION, type TestServer } from './helpers/server.js';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.close();
});

const JSON_11 = 'application/x-amz-json-1.1';
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const AMZ_DATE = /\d{8}T\d{6}Z/.source;

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

interface CallOptions {
  target?: string | undefined;
  body?: string;
  contentType?: string;
  credentials?: Credentials;
  region?: string;
  signingDate?: Date;
  /** false: send no Authorization header at all. */
  sign?: boolean;
  /** Replaces the Authorization header after signing (a function gets the request's yyyyMMdd date). */
  authorization?: string | ((shortDate: string) => string);
  /** Headers left out of the signature (sent all the same). */
  unsigned?: string[];
  /** Headers set or replaced after signing (a captured request, altered in flight). */
  after?: Record<string, string>;
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  amzDate: string | undefined;
}

/** Sends one request the way an AWS client would, with the fault the test asks for. */
async function call(o: CallOptions = {}): Promise<Reply> {
  const url = new URL(server.endpoint);
  const body = o.body ?? '{}';
  const headers: Record<string, string> = { host: url.host, 'content-type': o.contentType ?? JSON_11 };
  if (o.target !== undefined) headers['x-amz-target'] = o.target;
  let request = new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body });
  if (o.sign !== false) {
    const signer = new SignatureV4({ credentials: o.credentials ?? ADMIN, region: o.region ?? REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });
    request = (await signer.sign(request, {
      ...(o.signingDate ? { signingDate: o.signingDate } : {}),
      ...(o.unsigned ? { unsignableHeaders: new Set(o.unsigned) } : {}),
    })) as HttpRequest;
  }
  const sent: Record<string, string> = { ...request.headers, ...o.after };
  delete sent.host;
  if (o.authorization !== undefined) {
    sent.authorization = typeof o.authorization === 'string' ? o.authorization : o.authorization((sent['x-amz-date'] ?? '').slice(0, 8));
  }
  const res = await fetch(`${server.endpoint}/`, { method: 'POST', headers: sent, body });
  return { status: res.status, headers: res.headers, text: await res.text(), amzDate: sent['x-amz-date'] };
}

/** Asserts the refusal a user of an AWS client would see, and returns its message. */
function assertAwsError(reply: Reply, type: string, message?: string | RegExp): string {
  assert.ok(reply.status >= 400 && reply.status < 500, `status ${reply.status}: ${reply.text.slice(0, 200)}`);
  assert.ok(reply.headers.get('x-amzn-requestid'), 'x-amzn-requestid header');
  assert.match(reply.headers.get('content-type') ?? '', /^application\/x-amz-json-1\.1\b/);
  assert.doesNotMatch(reply.text, /\n\s+at |node_modules|\.ts:\d+|Error: /, 'no stack trace or internal detail');
  const body = JSON.parse(reply.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['__type', 'message']);
  assert.equal(body.__type, type, `${String(body.__type)}: ${String(body.message)}`);
  assert.equal(typeof body.message, 'string');
  if (typeof message === 'string') assert.equal(body.message, message);
  else if (message) assert.match(body.message as string, message);
  return body.message as string;
}

/** How many keys exist, read from the store itself. */
async function keyCount(): Promise<number> {
  const rows = await server.custodian.deps.store.db.selectFrom('kms_keys').select('key_id').execute();
  return rows.length;
}

/** The key ids ListKeys returns, every page: what a user sees. */
async function listedKeyIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of paginateListKeys({ client: server.kms() }, { Limit: 100 })) ids.push(...(page.Keys ?? []).map((k) => k.KeyId!));
  return ids.sort();
}

/** Runs a refused CreateKey and asserts no key appeared, through ListKeys and in the store. */
async function refusedCreateKey(o: CallOptions, type: string, message?: string | RegExp): Promise<string> {
  const listed = await listedKeyIds();
  const stored = await keyCount();
  const msg = assertAwsError(await call({ target: 'TrentService.CreateKey', ...o }), type, message);
  assert.deepEqual(await listedKeyIds(), listed, 'a refused CreateKey changed ListKeys');
  assert.equal(await keyCount(), stored, 'a refused CreateKey changed the store');
  return msg;
}

async function sdkError(p: Promise<unknown>): Promise<KMSServiceException> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KMSServiceException, `not a KMS service error: ${String(e)}`);
    return e;
  }
  assert.fail('the request succeeded');
}

test('the endpoint accepts a well-formed request (the baseline every refusal below differs from)', async () => {
  const before = await listedKeyIds();
  const reply = await call({ target: 'TrentService.CreateKey', body: JSON.stringify({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }) });
  assert.equal(reply.status, 200, reply.text);
  assert.ok(reply.headers.get('x-amzn-requestid'));
  const created = (JSON.parse(reply.text) as { KeyMetadata: { KeyId: string; KeySpec: string } }).KeyMetadata;
  assert.equal(created.KeySpec, 'ECC_SECG_P256K1');
  // The counting the refusals below rely on sees a change when there is one.
  assert.deepEqual(await listedKeyIds(), [...before, created.KeyId].sort());
});

test('no Authorization header: 403 MissingAuthenticationTokenException, nothing created', async () => {
  await refusedCreateKey(
    { sign: false, body: JSON.stringify({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }) },
    'MissingAuthenticationTokenException',
    'Missing Authentication Token',
  );
  const reply = await call({ target: 'TrentService.DescribeKey', sign: false });
  assert.equal(reply.status, 403);
});

test('malformed Authorization headers: IncompleteSignatureException, nothing created', async () => {
  const valid = JSON.stringify({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' });
  const malformed: Array<string | ((d: string) => string)> = [
    'AWS4-HMAC-SHA256 garbage',
    'Basic dXNlcjpwYXNzd29yZA==',
    (d) => `AWS4-HMAC-SHA256 Credential=${ADMIN.accessKeyId}/${d}/${REGION}/kms, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    (d) => `AWS4-HMAC-SHA256 Credential=${ADMIN.accessKeyId}/${d}/${REGION}/kms/aws4_request, SignedHeaders=host;x-amz-date`,
    (d) => `AWS4-HMAC-SHA256 Credential=${ADMIN.accessKeyId}/${d}/${REGION}/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=not-hex`,
    (d) => `AWS4-HMAC-SHA256 Credential=${ADMIN.accessKeyId}/${d}/${REGION}/kms/aws4_request, SignedHeaders=x-amz-date, Signature=${'0'.repeat(64)}`,
  ];
  for (const authorization of malformed) {
    const message = await refusedCreateKey({ body: valid, authorization }, 'IncompleteSignatureException');
    assert.ok(message.length > 0);
  }
});

test('the SignedHeaders list the server checks: a name listed twice is refused, the order is canonical, every repeat is checked again', async () => {
  const body = JSON.stringify({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' });
  const url = new URL(server.endpoint);
  const signer = new SignatureV4({ credentials: ADMIN, region: REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  const signed = (await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': JSON_11, 'x-amz-target': 'TrentService.CreateKey' },
      body,
    }),
  )) as HttpRequest;
  const authorization = signed.headers.authorization!;
  // The signed request with its SignedHeaders list rewritten (the signature stays the SDK's).
  const send = async (list: (names: string[]) => string[]): Promise<Reply> => {
    const sent: Record<string, string> = {
      ...signed.headers,
      authorization: authorization.replace(/SignedHeaders=([^,]+)/, (_m, names: string) => `SignedHeaders=${list(names.split(';')).join(';')}`),
    };
    delete sent.host;
    const res = await fetch(`${server.endpoint}/`, { method: 'POST', headers: sent, body });
    return { status: res.status, headers: res.headers, text: await res.text(), amzDate: sent['x-amz-date'] };
  };
  const stored = await keyCount();
  // A name listed twice, sent twice in a row: a list the server has seen before is checked again.
  for (let i = 0; i < 2; i++) assertAwsError(await send((names) => [...names, 'host']), 'InvalidSignatureException', SIGNATURE_MISMATCH);
  // Upper-case names are malformed, and stay so when repeated.
  for (let i = 0; i < 2; i++) assertAwsError(await send((names) => names.map((n) => (n === 'host' ? 'Host' : n))), 'IncompleteSignatureException');
  assert.equal(await keyCount(), stored, 'a refused request created a key');
  // Listed in another order, the names are canonicalised sorted (as smithy signs them): accepted.
  const reversed = await send((names) => [...names].reverse());
  assert.equal(reversed.status, 200, reversed.text);
  // And the list as signed works, twice (the remembered list is the same list).
  for (let i = 0; i < 2; i++) {
    const plain = await send((names) => names);
    assert.equal(plain.status, 200, plain.text);
  }
});

test('a captured request signed over host;x-amz-date only cannot become another operation: X-Amz-Target must be signed (red team #12.1)', async () => {
  const created = await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
  const keyId = created.KeyMetadata!.KeyId!;
  const body = JSON.stringify({ KeyId: keyId });
  const enabled = async (): Promise<boolean> => (await server.kms().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Enabled!;
  // The attack: a DescribeKey whose signature covers neither X-Amz-Target nor Content-Type, replayed as DisableKey.
  const replayed = await call({
    target: 'TrentService.DescribeKey',
    body,
    unsigned: ['x-amz-target', 'content-type'],
    after: { 'x-amz-target': 'TrentService.DisableKey' },
  });
  assertAwsError(replayed, 'IncompleteSignatureException', /not signed: content-type, x-amz-target\./);
  assert.equal(await enabled(), true, 'the replayed request disabled the key');
  // Even unaltered, such a request is refused: an unsigned target is never trusted.
  assertAwsError(
    await call({ target: 'TrentService.DescribeKey', body, unsigned: ['x-amz-target'] }),
    'IncompleteSignatureException',
    /not signed: x-amz-target\./,
  );
  // Content-Type selects the body's parser: it must be signed when present.
  assertAwsError(
    await call({ target: 'TrentService.DescribeKey', body, unsigned: ['content-type'] }),
    'IncompleteSignatureException',
    /not signed: content-type\./,
  );
  // Any other x-amz-* header added after signing is refused too (SigV4's rule).
  assertAwsError(
    await call({ target: 'TrentService.DescribeKey', body, after: { 'x-amz-extra': '1' } }),
    'IncompleteSignatureException',
    /not signed: x-amz-extra\./,
  );
  // A fully signed target, rewritten in flight, fails the signature.
  assertAwsError(
    await call({ target: 'TrentService.DescribeKey', body, after: { 'x-amz-target': 'TrentService.DisableKey' } }),
    'InvalidSignatureException',
    SIGNATURE_MISMATCH,
  );
  assert.equal(await enabled(), true);
  // The same request, fully signed, works (so the refusals above are about coverage alone).
  const ok = await call({ target: 'TrentService.DisableKey', body });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(await enabled(), false);
});

test('wrong secret: InvalidSignatureException with AWS message, through the AWS SDK and on the wire', async () => {
  const wrong = { accessKeyId: ADMIN.accessKeyId, secretAccessKey: `${ADMIN.secretAccessKey}-wrong` };
  const err = await sdkError(server.kms(wrong).send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' })));
  assert.equal(err.name, 'InvalidSignatureException');
  assert.equal(err.message, SIGNATURE_MISMATCH);
  assert.equal(err.$metadata.httpStatusCode, 400);
  assert.ok(err.$metadata.requestId, 'the SDK read x-amzn-requestid');
  await refusedCreateKey({ credentials: wrong }, 'InvalidSignatureException', SIGNATURE_MISMATCH);
});

test('unknown access key: UnrecognizedClientException "The security token included in the request is invalid."', async () => {
  const unknown = { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'does-not-matter-0123456789' };
  const err = await sdkError(server.kms(unknown).send(new DescribeKeyCommand({ KeyId: 'alias/anything' })));
  assert.equal(err.name, 'UnrecognizedClientException');
  assert.equal(err.message, 'The security token included in the request is invalid.');
  assert.equal(err.$metadata.httpStatusCode, 400);
  await refusedCreateKey({ credentials: unknown }, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
});

test('X-Amz-Date 6 minutes old: InvalidSignatureException "Signature expired: …"', async () => {
  const before = await keyCount();
  const reply = await call({ target: 'TrentService.CreateKey', signingDate: new Date(Date.now() - 6 * 60_000) });
  const message = assertAwsError(
    reply,
    'InvalidSignatureException',
    new RegExp(`^Signature expired: ${AMZ_DATE} is now earlier than ${AMZ_DATE} \\(${AMZ_DATE} - 5 min\\.\\)$`),
  );
  assert.ok(message.startsWith(`Signature expired: ${reply.amzDate} `), message);
  assert.equal(await keyCount(), before);
});

test('X-Amz-Date 6 minutes ahead: InvalidSignatureException "Signature not yet current: …" (AWS\'s text for a future date)', async () => {
  const before = await keyCount();
  const reply = await call({ target: 'TrentService.CreateKey', signingDate: new Date(Date.now() + 6 * 60_000) });
  const message = assertAwsError(
    reply,
    'InvalidSignatureException',
    new RegExp(`^Signature not yet current: ${AMZ_DATE} is still later than ${AMZ_DATE} \\(${AMZ_DATE} \\+ 5 min\\.\\)$`),
  );
  assert.ok(message.startsWith(`Signature not yet current: ${reply.amzDate} `), message);
  assert.equal(await keyCount(), before);
});

test("X-Amz-Date 4 minutes off either way is within AWS's 5-minute skew and accepted", async () => {
  for (const offset of [-4 * 60_000, 4 * 60_000]) {
    const reply = await call({ target: 'TrentService.DescribeKey', body: JSON.stringify({ KeyId: 'alias/none' }), signingDate: new Date(Date.now() + offset) });
    // Authenticated: refused only because the alias does not exist.
    assertAwsError(reply, 'NotFoundException');
  }
});

test('credential scoped to another region: InvalidSignatureException, through the AWS SDK and on the wire', async () => {
  const client = new KMSClient({ endpoint: server.endpoint, region: 'eu-west-1', credentials: ADMIN, maxAttempts: 1 });
  try {
    const err = await sdkError(client.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' })));
    assert.equal(err.name, 'InvalidSignatureException');
    assert.equal(err.message, "Credential should be scoped to a valid region, not 'eu-west-1'.");
  } finally {
    client.destroy();
  }
  await refusedCreateKey({ region: 'eu-west-1' }, 'InvalidSignatureException', "Credential should be scoped to a valid region, not 'eu-west-1'.");
});

test('unknown operation: UnknownOperationException, as AWS answers', async () => {
  assertAwsError(await call({ target: 'TrentService.NoSuchOperation' }), 'UnknownOperationException');
  assertAwsError(await call({ target: 'SomeOtherService.CreateKey' }), 'UnknownOperationException');
  assertAwsError(await call({ target: 'TrentService' }), 'UnknownOperationException');
});

test('malformed JSON: SerializationException, nothing created', async () => {
  for (const body of ['{"KeySpec": ', 'not json', '{"KeySpec": "ECC_SECG_P256K1",}']) {
    await refusedCreateKey({ body }, 'SerializationException');
  }
  // A JSON value that is not an object is not a request structure either.
  for (const body of ['[]', '"CreateKey"', '42', 'null']) {
    await refusedCreateKey({ body }, 'SerializationException');
  }
});

test('a field of the wrong JSON type: SerializationException, nothing created', async () => {
  for (const body of [
    { KeySpec: 5, KeyUsage: 'SIGN_VERIFY' },
    { KeySpec: 'ECC_SECG_P256K1', KeyUsage: ['SIGN_VERIFY'] },
    { Description: { text: 'x' } },
    { MultiRegion: 'true' },
  ]) {
    await refusedCreateKey({ body: JSON.stringify(body) }, 'SerializationException');
  }
  assertAwsError(await call({ target: 'TrentService.DescribeKey', body: JSON.stringify({ KeyId: 12 }) }), 'SerializationException');
});

test('a 100 KiB body: ValidationException (not a 500), nothing created', async () => {
  const body = JSON.stringify({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: 'x'.repeat(100 * 1024) });
  await refusedCreateKey({ body }, 'ValidationException');
});

test('wrong content type: SerializationException, nothing created', async () => {
  const body = JSON.stringify({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' });
  for (const contentType of ['text/plain', 'application/xml', 'application/octet-stream', 'multipart/form-data; boundary=x']) {
    await refusedCreateKey({ body, contentType }, 'SerializationException');
  }
});

test('a failed request changes nothing: the key a refused request named is unchanged', async () => {
  const kms = server.kms();
  const created = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: 'original' }));
  const keyId = created.KeyMetadata!.KeyId!;
  const before = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
  const count = await keyCount();
  const listed = await listedKeyIds();
  // Refusals at each layer: authentication, parsing, the operation's own validation.
  assertAwsError(
    await call({ target: 'TrentService.Sign', credentials: { ...ADMIN, secretAccessKey: 'wrong-secret-0123456789' }, body: JSON.stringify({ KeyId: keyId }) }),
    'InvalidSignatureException',
  );
  assertAwsError(await call({ target: 'TrentService.Sign', body: `{"KeyId": "${keyId}", ` }), 'SerializationException');
  assertAwsError(
    await call({
      target: 'TrentService.Sign',
      body: JSON.stringify({ KeyId: keyId, Message: 'AAAA', MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
    }),
    'ValidationException',
  );
  assertAwsError(await call({ target: 'TrentService.CreateKey', body: JSON.stringify({ KeySpec: 'ECC_SECG_P256K1' }) }), 'ValidationException');
  const after = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
  assert.deepEqual(after, before);
  assert.equal(await keyCount(), count);
  assert.deepEqual(await listedKeyIds(), listed);
});
