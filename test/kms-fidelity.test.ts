// AWS KMS fidelity (issue #14) through a real listening custodian and the real
// AWS SDK: UpdateKeyDescription, the HMAC_224/384/512 key specs and
// RotateKeyOnDemand's KeyId. Each expectation
// names its source: a LocalStack recording of AWS's answer
// (tests/aws/services/kms/test_kms.snapshot.json in LocalStack's repository),
// or, where none exists, the AWS KMS API Reference and botocore's KMS model.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  GenerateMacCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  UpdateKeyDescriptionCommand,
  VerifyMacCommand,
  type KMSClient,
  type KeyMetadata,
  type MacAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import * as repo from '../src/storage/keys.repository.js';
import { sealingContext } from '../src/root/root-of-trust.js';

let server: TestServer;
let kms: KMSClient;

before(async () => {
  server = await startTestServer();
  kms = server.kms();
});
after(async () => {
  await server?.close();
});

/** Asserts that `p` fails with AWS exception `name` (and `message`, exact or by pattern), status 400. */
async function rejects(p: Promise<unknown>, name: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    assert.equal(err.$metadata?.httpStatusCode, 400);
    return true;
  });
}

async function createKey(input: ConstructorParameters<typeof CreateKeyCommand>[0] = {}): Promise<KeyMetadata> {
  return (await kms.send(new CreateKeyCommand(input))).KeyMetadata!;
}
const describeKey = async (keyId: string) => (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;

/** One signed JSON 1.1 request (for members the SDK will not send); returns status and body. */
async function call(target: string, body: unknown): Promise<{ status: number; body: { __type?: string; message?: string } }> {
  const url = new URL(server.endpoint);
  const payload = JSON.stringify(body);
  const signer = new SignatureV4({ credentials: ADMIN, region: REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign(
    new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target }, body: payload }),
  );
  const headers: Record<string, string> = { ...signed.headers };
  delete headers.host;
  const res = await fetch(server.endpoint, { method: 'POST', headers, body: payload });
  return { status: res.status, body: JSON.parse(await res.text()) };
}

describe('UpdateKeyDescription', () => {
  // Source: AWS KMS API Reference, UpdateKeyDescription (KeyId: key ID or key ARN; Description 0-8192 characters, required).
  test('replaces and clears the description, by key id or key ARN; DescribeKey shows it', async () => {
    const key = await createKey({ Description: 'before' });
    const reply = await kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'after' }));
    assert.equal(reply.$metadata.httpStatusCode, 200);
    assert.equal((await describeKey(key.KeyId!)).Description, 'after');
    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.Arn!, Description: 'by ARN' }));
    assert.equal((await describeKey(key.KeyId!)).Description, 'by ARN');
    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: '' }));
    assert.equal((await describeKey(key.KeyId!)).Description, '');
    const longest = 'd'.repeat(8192);
    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: longest }));
    assert.equal((await describeKey(key.KeyId!)).Description, longest);
  });

  // Source: botocore's model (DescriptionType max 8192, Description required) and AWS's
  // validation wording as recorded by LocalStack for other members ("1 validation error detected: …").
  test('a too-long or missing description and an unknown key are refused; nothing changes', async () => {
    const key = await createKey({ Description: 'kept' });
    await rejects(
      kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'x'.repeat(8193) })),
      'ValidationException',
      "1 validation error detected: Value null at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192",
    );
    const missing = await call('TrentService.UpdateKeyDescription', { KeyId: key.KeyId });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.__type, 'ValidationException');
    const ghost = '00000000-0000-4000-8000-00000000d35c';
    await rejects(
      kms.send(new UpdateKeyDescriptionCommand({ KeyId: ghost, Description: 'x' })),
      'NotFoundException',
      `Key 'arn:aws:kms:${REGION}:${server.custodian.accountId}:key/${ghost}' does not exist`,
    );
    assert.equal((await describeKey(key.KeyId!)).Description, 'kept');
  });

  // Source: AWS KMS Developer Guide, "Key states of AWS KMS keys" (UpdateKeyDescription on a key
  // pending deletion: KMSInvalidStateException), wording as LocalStack records for other operations.
  test('a key pending deletion is KMSInvalidStateException and keeps its description', async () => {
    const key = await createKey({ Description: 'doomed' });
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: 7 }));
    await rejects(kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'new' })), 'KMSInvalidStateException', `${key.Arn} is pending deletion.`);
    assert.equal((await describeKey(key.KeyId!)).Description, 'doomed');
  });

  test('is authorized as kms:UpdateKeyDescription, audited with the key ARN, and not held by a quorum rule', async () => {
    const key = await createKey({ Description: 'guarded' });
    const iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    try {
      const approvers: string[] = [];
      for (const name of ['describer-a', 'describer-b']) approvers.push((await iam.send(new CreateUserCommand({ UserName: name }))).User!.Arn!);
      const rule = await call('SymbolonApprovals.PutQuorumRule', { KeyId: key.KeyId, Approvers: approvers, Threshold: 2 });
      assert.equal(rule.status, 200, JSON.stringify(rule.body));
      // A description is not a permission: it takes effect at once on a guarded key.
      await kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'changed under a quorum rule' }));
      assert.equal((await describeKey(key.KeyId!)).Description, 'changed under a quorum rule');

      // A user without kms:UpdateKeyDescription is refused with AWS's AccessDeniedException.
      await iam.send(new CreateUserCommand({ UserName: 'no-describer' }));
      const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'no-describer' }))).AccessKey!;
      const stranger = server.kms({ accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! });
      await rejects(stranger.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'nope' })), 'AccessDeniedException', /kms:UpdateKeyDescription/);
      stranger.destroy();
    } finally {
      iam.destroy();
    }
    assert.equal((await describeKey(key.KeyId!)).Description, 'changed under a quorum rule');
    await server.custodian.audit.flush();
    const rows = await server.custodian.deps.store.db
      .selectFrom('audit_events')
      .select(['operation', 'key_arn', 'outcome', 'error_code'])
      .where('operation', '=', 'UpdateKeyDescription')
      .where('key_arn', '=', key.Arn!)
      .orderBy('seq')
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.outcome, r.error_code]),
      [
        ['allowed', null],
        ['denied', 'AccessDeniedException'],
      ],
    );
  });
});

// Source: AWS KMS API Reference, RotateKeyOnDemand ("KeyId: Identifies the symmetric encryption
// KMS key that you initiated on-demand rotation on", its example answers the key ARN); LocalStack's
// recording test_rotate_key_on_demand_for_external_keys_decrypts_with_previous_material answers the ARN.
test('RotateKeyOnDemand answers the key ARN in KeyId', async () => {
  const key = await createKey();
  const byId = await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId! }));
  assert.equal(byId.KeyId, key.Arn);
  const byArn = await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.Arn! }));
  assert.equal(byArn.KeyId, key.Arn);
});

describe('HMAC_224, HMAC_384, HMAC_512 keys', () => {
  const SPECS = [
    ['HMAC_224', 'HMAC_SHA_224', 'sha224', 28],
    ['HMAC_256', 'HMAC_SHA_256', 'sha256', 32],
    ['HMAC_384', 'HMAC_SHA_384', 'sha384', 48],
    ['HMAC_512', 'HMAC_SHA_512', 'sha512', 64],
  ] as const;

  /** The key's material, opened with the custodian's root of trust (as an auditor holding the root key could). */
  async function material(keyId: string): Promise<Uint8Array> {
    const row = await repo.findMaterial(server.custodian.deps.store.db, keyId, 1);
    return server.custodian.deps.root.open(row!.sealed, sealingContext('kms/key-material/v1', keyId, 1));
  }

  for (const [spec, algorithm, hash, keyBytes] of SPECS) {
    // Source: LocalStack recordings test_hmac_create_key and test_generate_and_verify_mac[<spec>-<algorithm>]
    // (MacAlgorithms [<algorithm>]; GenerateMac/VerifyMac answer the algorithm, VerifyMac MacValid true).
    test(`${spec}: CreateKey, GenerateMac equals node:crypto HMAC-${hash.toUpperCase()} under the key, VerifyMac`, async () => {
      const key = await createKey({ KeySpec: spec, KeyUsage: 'GENERATE_VERIFY_MAC', Description: 'test key' });
      assert.equal(key.KeySpec, spec);
      assert.equal(key.CustomerMasterKeySpec, spec);
      assert.deepEqual(key.MacAlgorithms, [algorithm]);
      assert.deepEqual((await describeKey(key.KeyId!)).MacAlgorithms, [algorithm]);

      const secret = await material(key.KeyId!);
      assert.equal(secret.length, keyBytes, 'AWS: HMAC key material is as long as the hash output');
      const message = randomBytes(200);
      const { Mac, MacAlgorithm, KeyId } = await kms.send(new GenerateMacCommand({ KeyId: key.KeyId!, Message: message, MacAlgorithm: algorithm }));
      assert.equal(MacAlgorithm, algorithm);
      assert.equal(KeyId, key.Arn);
      assert.deepEqual(Buffer.from(Mac!), createHmac(hash, secret).update(message).digest());

      const ok = await kms.send(new VerifyMacCommand({ KeyId: key.KeyId!, Message: message, Mac: Mac!, MacAlgorithm: algorithm }));
      assert.equal(ok.MacValid, true);
      assert.equal(ok.MacAlgorithm, algorithm);
      const altered = Uint8Array.from(Mac!);
      altered[0]! ^= 1;
      // Source: LocalStack recording test_invalid_verify_mac[HMAC_256-HMAC_SHA_256-…]: KMSInvalidMacException, empty message.
      await rejects(kms.send(new VerifyMacCommand({ KeyId: key.KeyId!, Message: message, Mac: altered, MacAlgorithm: algorithm })), 'KMSInvalidMacException');
    });
  }

  // Source: LocalStack recordings test_invalid_generate_mac[HMAC_224-HMAC_SHA_256] and
  // test_invalid_verify_mac[HMAC_256-HMAC_SHA_512-…]: "Algorithm X is incompatible with key spec Y."
  test('every spec refuses every other MAC algorithm with InvalidKeyUsageException, on GenerateMac and VerifyMac', async () => {
    for (const [spec, own] of SPECS) {
      const key = await createKey({ KeySpec: spec, KeyUsage: 'GENERATE_VERIFY_MAC' });
      const message = Buffer.from('pairing');
      const { Mac } = await kms.send(new GenerateMacCommand({ KeyId: key.KeyId!, Message: message, MacAlgorithm: own }));
      for (const [, other] of SPECS) {
        if (other === own) continue;
        const expected = `Algorithm ${other} is incompatible with key spec ${spec}.`;
        await rejects(kms.send(new GenerateMacCommand({ KeyId: key.KeyId!, Message: message, MacAlgorithm: other as MacAlgorithmSpec })), 'InvalidKeyUsageException', expected);
        await rejects(kms.send(new VerifyMacCommand({ KeyId: key.KeyId!, Message: message, Mac: Mac!, MacAlgorithm: other as MacAlgorithmSpec })), 'InvalidKeyUsageException', expected);
      }
    }
  });
});
