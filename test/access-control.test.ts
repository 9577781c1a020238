// Access control end to end, through a real listening custodian with the real
// @aws-sdk/client-kms and @aws-sdk/client-iam: seed 3's identity policy on
// users created through the IAM API, key policies as the root of authority
// (default policy delegating to IAM, a policy that does not), the policy
// lockout safety check, encryption-context conditions, GetKeyPolicy /
// PutKeyPolicy / ListKeyPolicies, administrators who manage but never read,
// and a sweep of every operation's responses for key material.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GetKeyPolicyCommand,
  GetPublicKeyCommand,
  type KMSClient,
  ListKeyPoliciesCommand,
  ListKeysCommand,
  PutKeyPolicyCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  TagResourceCommand,
  VerifyCommand,
  EnableKeyCommand,
  ListResourceTagsCommand,
} from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { ADMIN, REGION, STORE, startTestServer, type TestServer } from './helpers/server.js';
import { operations } from '../src/kms/operations/registry.js';
import { approvalOperations } from '../src/kms/policy/approvals.js';
import { sealingContext } from '../src/root/root-of-trust.js';

type Creds = { accessKeyId: string; secretAccessKey: string };

let server: TestServer;
let account: string;
const iamClients: IAMClient[] = [];
function iam(credentials: Creds = ADMIN): IAMClient {
  const c = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials, maxAttempts: 1 });
  iamClients.push(c);
  return c;
}
const kms = (credentials: Creds = ADMIN): KMSClient => server.kms(credentials);

const seedPolicy = () =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['kms:Sign', 'kms:GetPublicKey'],
        Resource: `arn:aws:kms:us-east-1:${account}:key/*`,
        Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } },
      },
    ],
  });

async function user(name: string, tags: Array<{ Key: string; Value: string }>, policyDoc?: string): Promise<Creds & { arn: string }> {
  const u = await iam().send(new CreateUserCommand({ UserName: name, Tags: tags }));
  if (policyDoc) await iam().send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'kms', PolicyDocument: policyDoc }));
  const k = await iam().send(new CreateAccessKeyCommand({ UserName: name }));
  return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn! };
}

/** Asserts AWS's AccessDeniedException with its exact message. */
async function denied(
  p: Promise<unknown>,
  who: string,
  action: string,
  resource: string,
  because: 'identity' | 'resource' | 'explicit-identity' | 'explicit-resource' = 'identity',
): Promise<void> {
  const tail =
    because === 'identity'
      ? `because no identity-based policy allows the ${action} action`
      : because === 'resource'
        ? `because no resource-based policy allows the ${action} action`
        : because === 'explicit-identity'
          ? 'with an explicit deny in an identity-based policy'
          : 'with an explicit deny in a resource-based policy';
  await assert.rejects(p, (e: unknown) => {
    const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    assert.equal(err.name, 'AccessDeniedException', `${action}: ${err.name}: ${err.message}`);
    assert.equal(err.message, `User: ${who} is not authorized to perform: ${action} on resource: ${resource} ${tail}`);
    assert.equal(err.$metadata?.httpStatusCode, 400);
    return true;
  });
}

async function rejectsWith(p: Promise<unknown>, name: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const err = e as { name?: string; message?: string };
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message ?? '', message);
    return true;
  });
}

const digest = createHash('sha256').update('withdrawal #1').digest();

before(async () => {
  server = await startTestServer();
  account = server.custodian.accountId;
});
after(async () => {
  for (const c of iamClients) c.destroy();
  await server?.close();
});

describe(`seed 3's policy on keys with the default key policy (${STORE})`, () => {
  let signKey: { id: string; arn: string };
  let symKey: { id: string; arn: string };
  let ciphertext: Uint8Array;
  let prod: Creds & { arn: string };

  before(async () => {
    const k = await kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
    signKey = { id: k.KeyMetadata!.KeyId!, arn: k.KeyMetadata!.Arn! };
    const s = await kms().send(new CreateKeyCommand({}));
    symKey = { id: s.KeyMetadata!.KeyId!, arn: s.KeyMetadata!.Arn! };
    ciphertext = (await kms().send(new EncryptCommand({ KeyId: symKey.id, Plaintext: Buffer.from('secret') }))).CiphertextBlob!;
    prod = await user('withdrawals', [{ Key: 'Environment', Value: 'production' }], seedPolicy());
  });

  test('the key has AWS default key policy', async () => {
    const p = await kms().send(new GetKeyPolicyCommand({ KeyId: signKey.id, PolicyName: 'default' }));
    const doc = JSON.parse(p.Policy!);
    assert.deepEqual(doc.Statement, [
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
    ]);
    assert.deepEqual((await kms().send(new ListKeyPoliciesCommand({ KeyId: signKey.id }))).PolicyNames, ['default']);
  });

  test('a user tagged Environment=production can Sign and GetPublicKey', async () => {
    const signed = await kms(prod).send(new SignCommand({ KeyId: signKey.id, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.equal(signed.Signature![0], 0x30);
    assert.equal(signed.KeyId, signKey.arn);
    const pub = await kms(prod).send(new GetPublicKeyCommand({ KeyId: signKey.id }));
    assert.equal(pub.KeySpec, 'ECC_SECG_P256K1');
    // The signature verifies (as the administrator, who may Verify).
    const v = await kms().send(
      new VerifyCommand({ KeyId: signKey.id, Message: digest, MessageType: 'DIGEST', Signature: signed.Signature!, SigningAlgorithm: 'ECDSA_SHA_256' }),
    );
    assert.equal(v.SignatureValid, true);
  });

  test('... and nothing else', async () => {
    const who = prod.arn;
    await denied(kms(prod).send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' })), who, 'kms:CreateKey', '*');
    await denied(kms(prod).send(new ListKeysCommand({})), who, 'kms:ListKeys', '*');
    await denied(kms(prod).send(new DescribeKeyCommand({ KeyId: signKey.id })), who, 'kms:DescribeKey', signKey.arn);
    await denied(kms(prod).send(new DecryptCommand({ CiphertextBlob: ciphertext })), who, 'kms:Decrypt', symKey.arn);
    await denied(kms(prod).send(new EncryptCommand({ KeyId: symKey.id, Plaintext: Buffer.from('x') })), who, 'kms:Encrypt', symKey.arn);
    await denied(kms(prod).send(new ScheduleKeyDeletionCommand({ KeyId: signKey.id, PendingWindowInDays: 7 })), who, 'kms:ScheduleKeyDeletion', signKey.arn);
    await denied(kms(prod).send(new DisableKeyCommand({ KeyId: signKey.id })), who, 'kms:DisableKey', signKey.arn);
    await denied(kms(prod).send(new GetKeyPolicyCommand({ KeyId: signKey.id })), who, 'kms:GetKeyPolicy', signKey.arn);
    await denied(kms(prod).send(new PutKeyPolicyCommand({ KeyId: signKey.id, Policy: '{}' })), who, 'kms:PutKeyPolicy', signKey.arn);
    await denied(kms(prod).send(new TagResourceCommand({ KeyId: signKey.id, Tags: [{ TagKey: 'a', TagValue: 'b' }] })), who, 'kms:TagResource', signKey.arn);
    await denied(
      kms(prod).send(
        new VerifyCommand({ KeyId: signKey.id, Message: digest, MessageType: 'DIGEST', Signature: Buffer.from([0x30, 0]), SigningAlgorithm: 'ECDSA_SHA_256' }),
      ),
      who,
      'kms:Verify',
      signKey.arn,
    );
  });

  test('the same policy on an untagged user, or on one tagged staging, is AccessDeniedException', async () => {
    const untagged = await user('untagged-app', [], seedPolicy());
    await denied(
      kms(untagged).send(new SignCommand({ KeyId: signKey.id, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
      untagged.arn,
      'kms:Sign',
      signKey.arn,
    );
    await denied(kms(untagged).send(new GetPublicKeyCommand({ KeyId: signKey.id })), untagged.arn, 'kms:GetPublicKey', signKey.arn);
    const staging = await user('staging-app', [{ Key: 'Environment', Value: 'staging' }], seedPolicy());
    await denied(
      kms(staging).send(new SignCommand({ KeyId: signKey.id, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
      staging.arn,
      'kms:Sign',
      signKey.arn,
    );
  });

  test('administrators describe, tag, alias, disable and schedule deletion', async () => {
    const k = await kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: 'to retire' }));
    const id = k.KeyMetadata!.KeyId!;
    assert.equal((await kms().send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!.Description, 'to retire');
    await kms().send(new TagResourceCommand({ KeyId: id, Tags: [{ TagKey: 'Environment', TagValue: 'production' }] }));
    assert.deepEqual((await kms().send(new ListResourceTagsCommand({ KeyId: id }))).Tags, [{ TagKey: 'Environment', TagValue: 'production' }]);
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/to-retire', TargetKeyId: id }));
    assert.equal((await kms().send(new DescribeKeyCommand({ KeyId: 'alias/to-retire' }))).KeyMetadata!.KeyId, id);
    await kms().send(new DisableKeyCommand({ KeyId: id }));
    await kms().send(new EnableKeyCommand({ KeyId: id }));
    const del = await kms().send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }));
    assert.equal(del.KeyState, 'PendingDeletion');
  });
});

describe('key policies as the root of authority', () => {
  test('a key policy without the account statement ignores identity policies', async () => {
    const admin = await user('key-admin', [], JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }));
    const prod = await user('prod-signer', [{ Key: 'Environment', Value: 'production' }], seedPolicy());
    const keyPolicy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Key administrators', Effect: 'Allow', Principal: { AWS: admin.arn }, Action: 'kms:*', Resource: '*' },
        { Sid: 'Signer', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:user/named-signer` }, Action: 'kms:Sign', Resource: '*' },
      ],
    });
    // Root may not create a key whose policy would lock it out …
    await rejectsWith(
      kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Policy: keyPolicy })),
      'MalformedPolicyDocumentException',
      'The new key policy will not allow you to update the key policy in the future.',
    );
    // … but the key administrator it names may.
    const k = await kms(admin).send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Policy: keyPolicy }));
    const arn = k.KeyMetadata!.Arn!;
    assert.equal((await kms(admin).send(new GetKeyPolicyCommand({ KeyId: arn }))).Policy, keyPolicy);
    // The production signer's identity policy does not count here.
    await denied(
      kms(prod).send(new SignCommand({ KeyId: arn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
      prod.arn,
      'kms:Sign',
      arn,
      'resource',
    );
    // Nor is the account root allowed: it is not in the key policy.
    await denied(kms().send(new DescribeKeyCommand({ KeyId: arn })), `arn:aws:iam::${account}:root`, 'kms:DescribeKey', arn, 'resource');
    // A user the key policy names needs no identity policy at all.
    const named = await user('named-signer', []);
    const signed = await kms(named).send(new SignCommand({ KeyId: arn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.equal(signed.KeyId, arn);
    await denied(kms(named).send(new GetPublicKeyCommand({ KeyId: arn })), named.arn, 'kms:GetPublicKey', arn, 'resource');
  });

  test('PutKeyPolicy: lockout safety check, bypass, explicit deny, malformed documents', async () => {
    const k = await kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
    const id = k.KeyMetadata!.KeyId!;
    const arn = k.KeyMetadata!.Arn!;
    const rootArn = `arn:aws:iam::${account}:root`;
    const withoutRoot = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:user/nobody` }, Action: 'kms:*', Resource: '*' }],
    });
    await rejectsWith(
      kms().send(new PutKeyPolicyCommand({ KeyId: id, Policy: withoutRoot })),
      'MalformedPolicyDocumentException',
      'The new key policy will not allow you to update the key policy in the future.',
    );
    await rejectsWith(kms().send(new PutKeyPolicyCommand({ KeyId: id, Policy: '{"Statement":' })), 'MalformedPolicyDocumentException');
    await rejectsWith(
      kms().send(
        new PutKeyPolicyCommand({
          KeyId: id,
          Policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { AWS: 'not-an-arn' }, Action: 'kms:*', Resource: '*' }] }),
        }),
      ),
      'MalformedPolicyDocumentException',
      'Policy contains a statement with one or more invalid principals.',
    );
    await rejectsWith(kms().send(new GetKeyPolicyCommand({ KeyId: id, PolicyName: 'other' })), 'NotFoundException', 'No such policy exists');
    await rejectsWith(kms().send(new PutKeyPolicyCommand({ KeyId: id, PolicyName: 'bad name', Policy: withoutRoot })), 'ValidationException', /policyName/);
    // Bad input changed nothing.
    assert.match((await kms().send(new GetKeyPolicyCommand({ KeyId: id }))).Policy!, /Enable IAM User Permissions/);

    // An explicit Deny for the root on ScheduleKeyDeletion, keeping everything else.
    const guarded = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: rootArn }, Action: 'kms:*', Resource: '*' },
        { Sid: 'No deletion', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:ScheduleKeyDeletion', Resource: '*' },
      ],
    });
    await kms().send(new PutKeyPolicyCommand({ KeyId: id, Policy: guarded }));
    assert.equal((await kms().send(new GetKeyPolicyCommand({ KeyId: id }))).Policy, guarded);
    await denied(
      kms().send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 })),
      rootArn,
      'kms:ScheduleKeyDeletion',
      arn,
      'explicit-resource',
    );

    // With the bypass flag the administrator may lock itself out, as in AWS.
    await kms().send(new PutKeyPolicyCommand({ KeyId: id, Policy: withoutRoot, BypassPolicyLockoutSafetyCheck: true }));
    await denied(kms().send(new GetKeyPolicyCommand({ KeyId: id })), rootArn, 'kms:GetKeyPolicy', arn, 'resource');
  });

  test('encryption-context conditions: kms:EncryptionContext:owner must equal ${aws:username}', async () => {
    const alice = await user('ec-alice', []);
    const keyPolicy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
        {
          Sid: 'Owner only',
          Effect: 'Allow',
          Principal: { AWS: alice.arn },
          Action: ['kms:Encrypt', 'kms:Decrypt'],
          Resource: '*',
          Condition: {
            StringEquals: { 'kms:EncryptionContext:owner': '${aws:username}' },
            'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['owner'] },
          },
        },
      ],
    });
    const k = await kms().send(new CreateKeyCommand({ Policy: keyPolicy }));
    const arn = k.KeyMetadata!.Arn!;
    // The account statement delegates to IAM, so a failed condition reads "no identity-based policy allows".
    const ct = await kms(alice).send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('hi'), EncryptionContext: { owner: 'ec-alice' } }));
    const pt = await kms(alice).send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob!, EncryptionContext: { owner: 'ec-alice' } }));
    assert.equal(Buffer.from(pt.Plaintext!).toString(), 'hi');
    await denied(
      kms(alice).send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('hi'), EncryptionContext: { owner: 'bob' } })),
      alice.arn,
      'kms:Encrypt',
      arn,
    );
    await denied(kms(alice).send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('hi') })), alice.arn, 'kms:Encrypt', arn);
    await denied(
      kms(alice).send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('hi'), EncryptionContext: { owner: 'ec-alice', extra: '1' } })),
      alice.arn,
      'kms:Encrypt',
      arn,
    );
  });
});

describe('administrators manage, never read: no response carries key material', () => {
  const signer = () => new SignatureV4({ credentials: ADMIN, region: REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });

  async function call(target: string, body: Record<string, unknown>): Promise<{ status: number; text: string }> {
    const url = new URL(server.endpoint);
    const payload = JSON.stringify(body);
    const signed = await signer().sign(
      new HttpRequest({
        method: 'POST',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
        body: payload,
      }),
    );
    const res = await fetch(server.endpoint, { method: 'POST', headers: signed.headers as Record<string, string>, body: payload });
    return { status: res.status, text: await res.text() };
  }

  /** Every encoding of `secret` a JSON response could carry: hex, or inside any base64 string. */
  function carries(text: string, secret: Buffer): boolean {
    const hex = secret.toString('hex');
    if (text.toLowerCase().includes(hex)) return true;
    for (const m of text.matchAll(/"([A-Za-z0-9+/=_-]{16,})"/g)) {
      const s = m[1]!;
      for (const decoded of [Buffer.from(s, 'base64'), Buffer.from(s, 'base64url')]) if (decoded.includes(secret)) return true;
    }
    return false;
  }

  test('every registered operation, successful or not', async () => {
    const created: Record<string, string> = {};
    for (const [name, body] of [
      ['sign', { KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }],
      ['p256', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }],
      ['sym', {}],
      ['hmac', { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }],
    ] as const) {
      const r = await call('TrentService.CreateKey', body);
      assert.equal(r.status, 200, r.text);
      created[name] = JSON.parse(r.text).KeyMetadata.KeyId;
    }
    // The plaintext material of each key, opened here only to look for it in responses.
    const secrets: Buffer[] = [];
    for (const id of Object.values(created)) {
      const row = await server.custodian.deps.store.db.selectFrom('kms_key_material').selectAll().where('key_id', '=', id).executeTakeFirstOrThrow();
      const opened = server.custodian.deps.root.open(new Uint8Array(row.sealed), sealingContext('kms/key-material/v1', id, row.version));
      secrets.push(Buffer.from(opened));
      opened.fill(0);
    }
    assert.equal(secrets.length, 4);
    const ct = JSON.parse((await call('TrentService.Encrypt', { KeyId: created.sym, Plaintext: Buffer.from('p').toString('base64') })).text)
      .CiphertextBlob as string;
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const d32 = createHash('sha256').update('x').digest('base64');
    const bodies: Record<string, Record<string, unknown>> = {
      Sign: { KeyId: created.sign, Message: d32, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' },
      Verify: { KeyId: created.sign, Message: d32, MessageType: 'DIGEST', Signature: b64('0'), SigningAlgorithm: 'ECDSA_SHA_256' },
      GetPublicKey: { KeyId: created.sign },
      Encrypt: { KeyId: created.sym, Plaintext: b64('p') },
      Decrypt: { CiphertextBlob: ct },
      ReEncrypt: { CiphertextBlob: ct, DestinationKeyId: created.sym },
      GenerateDataKey: { KeyId: created.sym, KeySpec: 'AES_256' },
      GenerateDataKeyWithoutPlaintext: { KeyId: created.sym, KeySpec: 'AES_256' },
      GenerateRandom: { NumberOfBytes: 32 },
      GenerateMac: { KeyId: created.hmac, Message: b64('m'), MacAlgorithm: 'HMAC_SHA_256' },
      VerifyMac: { KeyId: created.hmac, Message: b64('m'), Mac: b64('0'.repeat(32)), MacAlgorithm: 'HMAC_SHA_256' },
      ListKeys: {},
      ListAliases: {},
      CreateKey: { KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' },
      CreateAlias: { AliasName: 'alias/sweep', TargetKeyId: created.sign },
      UpdateAlias: { AliasName: 'alias/sweep', TargetKeyId: created.p256 },
      DeleteAlias: { AliasName: 'alias/sweep' },
      TagResource: { KeyId: created.sign, Tags: [{ TagKey: 'k', TagValue: 'v' }] },
      UntagResource: { KeyId: created.sign, TagKeys: ['k'] },
      PutKeyPolicy: { KeyId: created.p256, Policy: JSON.parse((await call('TrentService.GetKeyPolicy', { KeyId: created.p256 })).text).Policy },
      ScheduleKeyDeletion: { KeyId: created.p256, PendingWindowInDays: 7 },
      CancelKeyDeletion: { KeyId: created.p256 },
      EnableKeyRotation: { KeyId: created.sym },
      RotateKeyOnDemand: { KeyId: created.sym },
    };
    const seen: string[] = [];
    for (const name of [...operations.keys()]) {
      const r = await call(`TrentService.${name}`, bodies[name] ?? { KeyId: created.sign });
      seen.push(`${name}:${r.status}`);
      for (const s of secrets) assert.equal(carries(r.text, s), false, `${name} response carries key material`);
    }
    for (const name of [...approvalOperations.keys()]) {
      const r = await call(`SymbolonApprovals.${name}`, { KeyId: created.sign });
      for (const s of secrets) assert.equal(carries(r.text, s), false, `${name} response carries key material`);
    }
    // The sweep exercised the operations that touch material successfully.
    for (const op of ['Sign', 'GetPublicKey', 'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateMac', 'GenerateDataKey', 'DescribeKey', 'RotateKeyOnDemand']) {
      assert.ok(seen.includes(`${op}:200`), `${op} did not succeed: ${seen.join(' ')}`);
    }
    // The check itself finds material when it is there.
    assert.equal(carries(JSON.stringify({ X: secrets[0]!.toString('base64') }), secrets[0]!), true);
    assert.equal(carries(JSON.stringify({ X: Buffer.concat([Buffer.from([1, 2]), secrets[2]!]).toString('base64') }), secrets[2]!), true);
  });
});
