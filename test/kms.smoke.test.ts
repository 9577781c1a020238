import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CreateKeyCommand, DescribeKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.close();
});

test('CreateKey secp256k1 then Sign a digest through the AWS SDK', async () => {
  const kms = server.kms();
  const created = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
  const keyId = created.KeyMetadata!.KeyId!;
  assert.equal(created.KeyMetadata!.KeySpec, 'ECC_SECG_P256K1');
  const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
  assert.equal(described.KeyMetadata!.Arn, created.KeyMetadata!.Arn);
  const digest = createHash('sha256').update('hello').digest();
  const signed = await kms.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
  assert.equal(signed.Signature![0], 0x30);
});
