// Which KMS operations the custodian answers, through a real listening
// custodian: every operation of AWS's KMS API either works (it is in
// src/kms/operations/registry.ts) or answers UnsupportedOperationException with
// a message naming it and why; a target that is no KMS operation stays
// UnknownOperationException. The list of AWS's operations lives in
// src/kms/aws-operations.ts and is compared here with botocore's KMS service
// model (from the shared vectors; skipped, saying so, when they are absent).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateCustomKeyStoreCommand, GetParametersForImportCommand, ReplicateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { absentMessage, readVectorJson, vectorPath } from './helpers/vectors.js';
import { AWS_KMS_OPERATIONS } from '../src/kms/aws-operations.js';
import { operations } from '../src/kms/operations/registry.js';

let server: TestServer;
let kms: KMSClient;
before(async () => {
  server = await startTestServer();
  kms = server.kms();
});
after(async () => {
  await server?.close();
});

/** Sends a SigV4-signed JSON 1.1 request with `target` and an empty structure; returns status and parsed body. */
async function call(target: string): Promise<{ status: number; body: { __type?: string; message?: string } }> {
  const url = new URL(server.endpoint);
  const headers = { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
  const signer = new SignatureV4({ credentials: ADMIN, region: REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign(
    new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body: '{}' }),
  );
  const sent: Record<string, string> = { ...signed.headers };
  delete sent.host;
  const res = await fetch(server.endpoint, { method: 'POST', headers: sent, body: '{}' });
  return { status: res.status, body: (await res.json()) as { __type?: string; message?: string } };
}

const BOTOCORE_KMS = 'botocore/kms/service-2.json';

// Source: botocore's KMS service model (the operations AWS's SDKs know).
test("the list of AWS KMS operations equals botocore's KMS service model", (t) => {
  const path = vectorPath(BOTOCORE_KMS);
  if (!path) return t.skip(absentMessage(BOTOCORE_KMS));
  const model = readVectorJson<{ operations: Record<string, unknown> }>(path);
  assert.deepEqual([...AWS_KMS_OPERATIONS].sort(), Object.keys(model.operations).sort());
});

test('every operation the registry serves is an AWS KMS operation', () => {
  for (const name of operations.keys()) assert.ok(AWS_KMS_OPERATIONS.includes(name), `${name} is not in AWS's KMS API`);
});

// Source: AWS KMS API Reference, "Common Errors" / each operation's Errors
// (UnsupportedOperationException: "The request was rejected because a specified
// parameter is not supported or a specified resource is not valid for this operation").
test('every AWS KMS operation not served answers UnsupportedOperationException naming it and why', async () => {
  const unserved = AWS_KMS_OPERATIONS.filter((name) => !operations.has(name));
  // Operations that Symbolon does not offer on purpose (README "Differences from AWS KMS").
  for (const name of ['ImportKeyMaterial', 'GetParametersForImport', 'ReplicateKey', 'CreateCustomKeyStore', 'DeriveSharedSecret', 'GetKeyLastUsage']) {
    assert.ok(unserved.includes(name), `${name} should not be served`);
  }
  for (const name of unserved) {
    const { status, body } = await call(`TrentService.${name}`);
    assert.equal(status, 400, name);
    assert.deepEqual(Object.keys(body).sort(), ['__type', 'message'], name);
    assert.equal(body.__type, 'UnsupportedOperationException', name);
    assert.match(body.message!, new RegExp(`^${name} is not supported by Symbolon: .{10,}`), name);
  }
});

test('every served operation is dispatched (never Unknown- or UnsupportedOperationException for an empty request)', async () => {
  for (const name of operations.keys()) {
    const { body } = await call(`TrentService.${name}`);
    assert.ok(body.__type !== 'UnknownOperationException' && body.__type !== 'UnsupportedOperationException', `${name}: ${body.__type}`);
  }
});

test('through the AWS SDK: the exception name and message arrive as AWS clients read them', async () => {
  for (const [command, name, why] of [
    [new ReplicateKeyCommand({ KeyId: 'alias/x', ReplicaRegion: 'eu-west-1' }), 'ReplicateKey', /multi-Region/],
    [
      new GetParametersForImportCommand({ KeyId: 'alias/x', WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }),
      'GetParametersForImport',
      /importing key material/,
    ],
    [new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'hsm' }), 'CreateCustomKeyStore', /custom key stores/],
  ] as const) {
    await assert.rejects(kms.send(command as never), (e: { name: string; message: string; $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(e.name, 'UnsupportedOperationException');
      assert.ok(e.message.startsWith(`${name} is not supported by Symbolon`), e.message);
      assert.match(e.message, why);
      assert.equal(e.$metadata?.httpStatusCode, 400);
      return true;
    });
  }
});

// Source: AWS's JSON 1.1 protocol (an X-Amz-Target the service does not know is UnknownOperationException).
test('a target that is no KMS operation keeps UnknownOperationException', async () => {
  for (const target of ['TrentService.NoSuchOperation', 'TrentService.createKey', 'SomeOtherService.ImportKeyMaterial', 'TrentService.AssumeRole']) {
    const { status, body } = await call(target);
    assert.equal(status, 400, target);
    assert.equal(body.__type, 'UnknownOperationException', target);
  }
});
