// AWS KMS fidelity (issue #14) through a real listening custodian and the real
// AWS SDK: UpdateKeyDescription, GenerateDataKeyPair(WithoutPlaintext), the
// HMAC_224/384/512 key specs and RotateKeyOnDemand's KeyId. Each expectation
// names its source: a LocalStack recording of AWS's answer
// (tests/aws/services/kms/test_kms.snapshot.json in LocalStack's repository),
// or, where none exists, the AWS KMS API Reference and botocore's KMS model.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateMacCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  UpdateKeyDescriptionCommand,
  VerifyMacCommand,
  type KMSClient,
  type KeyMetadata,
  type MacAlgorithmSpec,
  type DataKeyPairSpec,
} from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { computeAddress, Wallet } from 'ethers';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import * as repo from '../src/storage/keys.repository.js';
import { sealingContext } from '../src/root/root-of-trust.js';
import { PlatformKey } from '../src/attestation/platform-key.js';
import { signAttestationDocument } from '../src/attestation/signAttestationDocument.js';
import { RecipientAttestation } from '../src/attestation/recipient-attestation.js';
import { openForRecipient } from '../src/attestation/cms-enveloped-data.js';
import { callAwsJson } from './helpers/aws-json.js';

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
  return callAwsJson({ endpoint: server.endpoint, target, body });
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
    await rejects(
      kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'new' })),
      'KMSInvalidStateException',
      `${key.Arn} is pending deletion.`,
    );
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
      await rejects(
        stranger.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'nope' })),
        'AccessDeniedException',
        /kms:UpdateKeyDescription/,
      );
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
        await rejects(
          kms.send(new GenerateMacCommand({ KeyId: key.KeyId!, Message: message, MacAlgorithm: other as MacAlgorithmSpec })),
          'InvalidKeyUsageException',
          expected,
        );
        await rejects(
          kms.send(new VerifyMacCommand({ KeyId: key.KeyId!, Message: message, Mac: Mac!, MacAlgorithm: other as MacAlgorithmSpec })),
          'InvalidKeyUsageException',
          expected,
        );
      }
    }
  });
});

describe('GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext', () => {
  const context = { purpose: 'wallet', owner: 'user-1' };
  let wrapping: KeyMetadata;
  before(async () => {
    wrapping = await createKey({ Description: 'wraps data key pairs' });
  });

  /** The 32-byte private scalar of a DER PKCS #8 EC key (through node:crypto's own parser). */
  function scalar(pkcs8: Uint8Array): Buffer {
    const jwk = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
    return Buffer.from(jwk.d!, 'base64url');
  }

  /** Asserts the private and public keys are a pair on `curve`: sign with one, verify with the other. */
  function assertPair(pkcs8: Uint8Array, spki: Uint8Array, curve: string): void {
    const priv = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
    const pub = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    assert.equal(priv.asymmetricKeyType, 'ec');
    assert.equal(priv.asymmetricKeyDetails?.namedCurve, curve);
    assert.equal(pub.asymmetricKeyDetails?.namedCurve, curve);
    // Byte for byte the PKCS #8 (RFC 5208 / RFC 5915, public key included) that OpenSSL writes for this key.
    assert.deepEqual(priv.export({ format: 'der', type: 'pkcs8' }), Buffer.from(pkcs8));
    // The public key derived from the private key is the one returned.
    assert.deepEqual(createPublicKey(priv).export({ format: 'der', type: 'spki' }), Buffer.from(spki));
    const message = randomBytes(64);
    const signature = nodeSign('sha256', message, priv);
    assert.equal(nodeVerify('sha256', message, pub, signature), true);
    assert.equal(nodeVerify('sha256', Buffer.concat([message, Buffer.of(0)]), pub, signature), false);
  }

  // Source: AWS KMS API Reference, GenerateDataKeyPair (PrivateKeyPlaintext: PKCS #8 DER; PublicKey:
  // X.509 SubjectPublicKeyInfo DER; PrivateKeyCiphertextBlob opens with Decrypt under the same context;
  // KeyId is the key ARN; KeyPairSpec echoes the request).
  for (const [spec, curve] of [
    ['ECC_SECG_P256K1', 'secp256k1'],
    ['ECC_NIST_P256', 'prime256v1'],
  ] as const) {
    test(`${spec}: the pair matches, and Decrypt of the ciphertext gives the same PKCS #8`, async () => {
      const r = await kms.send(new GenerateDataKeyPairCommand({ KeyId: wrapping.KeyId!, KeyPairSpec: spec, EncryptionContext: context }));
      assert.equal(r.KeyId, wrapping.Arn);
      assert.equal(r.KeyPairSpec, spec);
      assertPair(r.PrivateKeyPlaintext!, r.PublicKey!, curve);
      assert.equal(r.CiphertextForRecipient, undefined);

      const opened = await kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob!, EncryptionContext: context }));
      assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(r.PrivateKeyPlaintext!));
      assert.equal(opened.KeyId, wrapping.Arn);
      // The encryption context is bound: without it, or with another, the blob does not open.
      await rejects(kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob! })), 'InvalidCiphertextException');
      await rejects(
        kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob!, EncryptionContext: { ...context, owner: 'user-2' } })),
        'InvalidCiphertextException',
      );

      // Two calls, two different pairs.
      const again = await kms.send(new GenerateDataKeyPairCommand({ KeyId: wrapping.KeyId!, KeyPairSpec: spec }));
      assert.notDeepEqual(Buffer.from(again.PublicKey!), Buffer.from(r.PublicKey!));
    });

    test(`${spec}: WithoutPlaintext returns no private key; Decrypt gives the PKCS #8 of the returned public key`, async () => {
      const r = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: wrapping.Arn!, KeyPairSpec: spec, EncryptionContext: context }));
      assert.deepEqual(
        Object.keys(r)
          .filter((k) => k !== '$metadata')
          .sort(),
        ['KeyId', 'KeyPairSpec', 'PrivateKeyCiphertextBlob', 'PublicKey'],
      );
      assert.equal(r.KeyId, wrapping.Arn);
      assert.equal(r.KeyPairSpec, spec);
      const opened = await kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob!, EncryptionContext: context }));
      assertPair(opened.Plaintext!, r.PublicKey!, curve);
    });
  }

  test('ECC_SECG_P256K1: the Ethereum address of the public key is the address of the private key', async () => {
    const r = await kms.send(new GenerateDataKeyPairCommand({ KeyId: wrapping.KeyId!, KeyPairSpec: 'ECC_SECG_P256K1' }));
    const point = Buffer.from(r.PublicKey!).subarray(-65);
    assert.equal(point[0], 0x04);
    const fromPublic = computeAddress(`0x${point.toString('hex')}`);
    const fromPrivate = new Wallet(`0x${scalar(r.PrivateKeyPlaintext!).toString('hex')}`).address;
    assert.equal(fromPublic, fromPrivate);
    assert.match(fromPublic, /^0x[0-9a-fA-F]{40}$/);
  });

  // Source: botocore's model (DataKeyPairSpec enum, in its order, for the ValidationException text;
  // KeyPairSpec required) and the AWS KMS API Reference (UnsupportedOperationException, InvalidKeyUsageException
  // for a key that is not a symmetric encryption key, DryRunOperationException).
  test('other specs, wrong keys and dry runs answer AWS exceptions and return no key', async () => {
    for (const spec of ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P384', 'ECC_NIST_P521', 'SM2', 'ECC_NIST_EDWARDS25519'] as DataKeyPairSpec[]) {
      const message = `KeyPairSpec ${spec} is not supported by this custodian. Supported: ECC_SECG_P256K1, ECC_NIST_P256.`;
      await rejects(kms.send(new GenerateDataKeyPairCommand({ KeyId: wrapping.KeyId!, KeyPairSpec: spec })), 'UnsupportedOperationException', message);
      await rejects(
        kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: wrapping.KeyId!, KeyPairSpec: spec })),
        'UnsupportedOperationException',
        message,
      );
    }
    const bogus = await call('TrentService.GenerateDataKeyPair', { KeyId: wrapping.KeyId, KeyPairSpec: 'ECC_FOO' });
    assert.equal(bogus.status, 400);
    assert.deepEqual(bogus.body, {
      __type: 'ValidationException',
      message:
        "1 validation error detected: Value 'ECC_FOO' at 'keyPairSpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SM2, ECC_NIST_EDWARDS25519]",
    });
    const noSpec = await call('TrentService.GenerateDataKeyPairWithoutPlaintext', { KeyId: wrapping.KeyId });
    assert.equal(noSpec.body.__type, 'ValidationException');

    const signing = await createKey({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' });
    await rejects(
      kms.send(new GenerateDataKeyPairCommand({ KeyId: signing.KeyId!, KeyPairSpec: 'ECC_SECG_P256K1' })),
      'InvalidKeyUsageException',
      `${signing.Arn} key usage is SIGN_VERIFY which is not valid for GenerateDataKeyPair.`,
    );
    await rejects(
      kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: 'alias/no-such-wrapping-key', KeyPairSpec: 'ECC_NIST_P256' })),
      'NotFoundException',
      `Alias arn:aws:kms:${REGION}:${server.custodian.accountId}:alias/no-such-wrapping-key is not found.`,
    );
    await rejects(
      kms.send(new GenerateDataKeyPairCommand({ KeyId: wrapping.KeyId!, KeyPairSpec: 'ECC_SECG_P256K1', DryRun: true })),
      'DryRunOperationException',
      'The request would have succeeded, but the DryRun option is set.',
    );
  });

  // Source: AWS KMS API Reference, GenerateDataKeyPair (Recipient: "the private key is encrypted under
  // the public key in the attestation document … PrivateKeyPlaintext field in the response is null").
  test('with Recipient, the private key comes only as CiphertextForRecipient, which the enclave key opens', async () => {
    const platform = PlatformKey.fromSecret(PlatformKey.generateSecret());
    server.custodian.deps.recipientAttestation = new RecipientAttestation({ trustedKeys: [platform.spki] });
    const enclave = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const document = signAttestationDocument(platform, {
      pcrs: new Map([[0, new Uint8Array(48).fill(0xa0)]]),
      moduleId: 'test-enclave',
      publicKey: new Uint8Array(enclave.publicKey.export({ format: 'der', type: 'spki' })),
      nonce: new Uint8Array(randomBytes(32)),
      timestamp: Date.now(),
    });
    const r = await kms.send(
      new GenerateDataKeyPairCommand({
        KeyId: wrapping.KeyId!,
        KeyPairSpec: 'ECC_SECG_P256K1',
        EncryptionContext: context,
        Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: document },
      }),
    );
    assert.equal(r.PrivateKeyPlaintext, undefined);
    const pkcs8 = openForRecipient(r.CiphertextForRecipient!, enclave.privateKey, 135);
    assertPair(pkcs8, r.PublicKey!, 'secp256k1');
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob!, EncryptionContext: context }));
    assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(pkcs8));
  });
});
