/**
 * The custodian's cryptographic operations through a real listening server and
 * the real @aws-sdk/client-kms: GetPublicKey, Verify, Encrypt, Decrypt,
 * ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateRandom, GenerateMac and
 * VerifyMac, their happy paths and their AWS-shaped errors. Public keys and
 * signatures are checked by an independent implementation (node:crypto, i.e.
 * OpenSSL). Runs on SQLite, or on PostgreSQL when DATABASE_URL is set.
 *
 * Where AWS answers with an empty message (InvalidCiphertextException,
 * KMSInvalidSignatureException, KMSInvalidMacException), the AWS SDK shows the
 * message as "UnknownError": any text the server sent would appear instead.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateMacCommand,
  GenerateRandomCommand,
  GetPublicKeyCommand,
  ReEncryptCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
  type DataKeySpec,
  type KeySpec,
  type KMSClient,
  type KeyUsageType,
  type MacAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from './helpers/server.js';
import type { AuditEvent } from '../src/audit/event.js';
import type { Authorizer } from '../src/kms/context.js';
import { accessDenied } from '../src/aws/errors.js';
import { createMaterial, encrypt as keystoreEncrypt } from '../src/kms/keystore.js';
import * as repo from '../src/storage/keys.repository.js';
import { findKey, updateKey } from '../src/kms/key-records.js';
import { decodeEcdsaSignatureDer, encodeEcdsaSignatureDer } from '../src/crypto/der.js';

const EMPTY_MESSAGE = 'UnknownError';
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

interface AuthCall {
  action: string;
  keyId: string | undefined;
  conditions: Record<string, string | string[]>;
}

let server: TestServer;
let kms: KMSClient;
const audit: AuditEvent[] = [];
const authCalls: AuthCall[] = [];
const denied = new Set<string>();
const keys = { symA: '', symB: '', k1: '', p256: '', hmac: '' };
const arns = { symA: '', symB: '', k1: '', p256: '', hmac: '' };

const recordingAuthorizer: Authorizer = {
  async authorize({ action, key, conditions }) {
    authCalls.push({ action, keyId: key?.keyId, conditions });
    if (denied.has(action)) throw accessDenied(`denied ${action} by the test authorizer`);
  },
};

async function createKey(KeySpec: KeySpec, KeyUsage?: KeyUsageType): Promise<{ id: string; arn: string }> {
  const r = await kms.send(new CreateKeyCommand({ KeySpec, ...(KeyUsage ? { KeyUsage } : {}) }));
  return { id: r.KeyMetadata!.KeyId!, arn: r.KeyMetadata!.Arn! };
}

/** Asserts the call fails with AWS exception `name` and, when given, exactly `message`. */
async function rejectsWith(p: Promise<unknown>, name: string, message?: string): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.equal(e.name, name, `expected ${name}, got ${e.name}: ${e.message}`);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const bytes = (n: number, fill = 0x61) => new Uint8Array(n).fill(fill);

function blobVersion(blob: Uint8Array): number {
  return new DataView(blob.buffer, blob.byteOffset + 17, 4).getUint32(0);
}

function withVersion(blob: Uint8Array, version: number): Uint8Array {
  const copy = Uint8Array.from(blob);
  new DataView(copy.buffer).setUint32(17, version);
  return copy;
}

/** The same ECDSA signature with s replaced by n - s (valid for ECDSA, "high-s" when s was low). */
function flipS(der: Uint8Array, n: bigint): Uint8Array {
  const compact = decodeEcdsaSignatureDer(der);
  const s = BigInt('0x' + Buffer.from(compact.subarray(32)).toString('hex'));
  const flipped = Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex');
  const out = Uint8Array.from(compact);
  out.set(flipped, 32);
  return encodeEcdsaSignatureDer(out);
}

before(async () => {
  server = await startTestServer({
    audit: { record: (e) => void audit.push(e), recordDurable: async (e) => void audit.push(e), flush: async () => {} },
    authorizer: recordingAuthorizer,
    // Long enough that the rotation test can see a stale key record.
    env: { SYMBOLON_KEY_CACHE_TTL_MS: '60000' },
  });
  kms = server.kms();
  for (const [name, spec, usage] of [
    ['symA', 'SYMMETRIC_DEFAULT', undefined],
    ['symB', 'SYMMETRIC_DEFAULT', undefined],
    ['k1', 'ECC_SECG_P256K1', 'SIGN_VERIFY'],
    ['p256', 'ECC_NIST_P256', 'SIGN_VERIFY'],
    ['hmac', 'HMAC_256', 'GENERATE_VERIFY_MAC'],
  ] as const) {
    const k = await createKey(spec, usage);
    keys[name] = k.id;
    arns[name] = k.arn;
  }
});

after(async () => {
  await server?.close();
});

describe('GetPublicKey', () => {
  for (const [name, curve, n] of [
    ['k1', 'secp256k1', K1_N],
    ['p256', 'prime256v1', P256_N],
  ] as const) {
    test(`${name}: the SPKI parses in OpenSSL and verifies KMS signatures (RAW, DIGEST, high-s)`, async () => {
      const r = await kms.send(new GetPublicKeyCommand({ KeyId: keys[name] }));
      const { $metadata: _m, ...fields } = r;
      assert.deepEqual(Object.keys(fields).sort(), ['CustomerMasterKeySpec', 'KeyId', 'KeySpec', 'KeyUsage', 'PublicKey', 'SigningAlgorithms']);
      assert.equal(r.KeyId, arns[name]);
      assert.equal(r.KeySpec, name === 'k1' ? 'ECC_SECG_P256K1' : 'ECC_NIST_P256');
      assert.equal(r.CustomerMasterKeySpec, r.KeySpec);
      assert.equal(r.KeyUsage, 'SIGN_VERIFY');
      assert.deepEqual(r.SigningAlgorithms, ['ECDSA_SHA_256']);

      const publicKey = createPublicKey({ key: Buffer.from(r.PublicKey!), format: 'der', type: 'spki' });
      assert.equal(publicKey.asymmetricKeyType, 'ec');
      assert.equal(publicKey.asymmetricKeyDetails?.namedCurve, curve);
      // OpenSSL re-encodes it byte for byte: canonical DER with an uncompressed point.
      assert.deepEqual(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), r.PublicKey);

      const message = utf8(`independent check for ${name}`);
      const raw = await kms.send(new SignCommand({ KeyId: keys[name], Message: message, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
      assert.equal(nodeVerify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, raw.Signature!), true);
      assert.equal(nodeVerify('sha256', utf8('another message'), { key: publicKey, dsaEncoding: 'der' }, raw.Signature!), false);

      const digest = createHash('sha256').update(message).digest();
      const dig = await kms.send(new SignCommand({ KeyId: keys[name], Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
      assert.equal(nodeVerify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, dig.Signature!), true);

      // Verify accepts both s and n - s, as OpenSSL does.
      const flipped = flipS(raw.Signature!, n);
      assert.equal(nodeVerify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, flipped), true);
      for (const sig of [raw.Signature!, flipped]) {
        const v = await kms.send(new VerifyCommand({ KeyId: keys[name], Message: message, Signature: sig, SigningAlgorithm: 'ECDSA_SHA_256' }));
        assert.equal(v.SignatureValid, true);
        assert.equal(v.KeyId, arns[name]);
        assert.equal(v.SigningAlgorithm, 'ECDSA_SHA_256');
      }
    });
  }

  test('symmetric and HMAC keys have no public key: UnsupportedOperationException', async () => {
    await rejectsWith(
      kms.send(new GetPublicKeyCommand({ KeyId: keys.symA })),
      'UnsupportedOperationException',
      `${arns.symA} key usage is ENCRYPT_DECRYPT which is not valid for GetPublicKey.`,
    );
    await rejectsWith(
      kms.send(new GetPublicKeyCommand({ KeyId: keys.hmac })),
      'UnsupportedOperationException',
      `${arns.hmac} key usage is GENERATE_VERIFY_MAC which is not valid for GetPublicKey.`,
    );
  });

  test('an unknown key is NotFoundException', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    await rejectsWith(
      kms.send(new GetPublicKeyCommand({ KeyId: id })),
      'NotFoundException',
      `Key 'arn:aws:kms:us-east-1:${server.custodian.accountId}:key/${id}' does not exist`,
    );
  });
});

describe('Verify', () => {
  test('a signature over another message, or a malformed one, is KMSInvalidSignatureException', async () => {
    const message = utf8('signed');
    const { Signature } = await kms.send(new SignCommand({ KeyId: keys.k1, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }));
    await rejectsWith(
      kms.send(new VerifyCommand({ KeyId: keys.k1, Message: utf8('not signed'), Signature, SigningAlgorithm: 'ECDSA_SHA_256' })),
      'KMSInvalidSignatureException',
      EMPTY_MESSAGE,
    );
    const flippedByte = Uint8Array.from(Signature!);
    flippedByte[flippedByte.length - 1]! ^= 0x01;
    for (const bad of [flippedByte, Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01), bytes(70, 0xff)]) {
      await rejectsWith(
        kms.send(new VerifyCommand({ KeyId: keys.k1, Message: message, Signature: bad, SigningAlgorithm: 'ECDSA_SHA_256' })),
        'KMSInvalidSignatureException',
        EMPTY_MESSAGE,
      );
    }
    // A signature by another key does not verify either.
    await rejectsWith(
      kms.send(new VerifyCommand({ KeyId: keys.p256, Message: message, Signature, SigningAlgorithm: 'ECDSA_SHA_256' })),
      'KMSInvalidSignatureException',
      EMPTY_MESSAGE,
    );
  });

  test('DIGEST must be 32 bytes; RAW at most 4096 bytes', async () => {
    const digest = createHash('sha256').update('x').digest();
    const { Signature } = await kms.send(new SignCommand({ KeyId: keys.p256, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    const ok = await kms.send(new VerifyCommand({ KeyId: keys.p256, Message: digest, MessageType: 'DIGEST', Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.equal(ok.SignatureValid, true);
    await rejectsWith(
      kms.send(new VerifyCommand({ KeyId: keys.p256, Message: digest.subarray(0, 31), MessageType: 'DIGEST', Signature, SigningAlgorithm: 'ECDSA_SHA_256' })),
      'ValidationException',
      'Digest is invalid length for algorithm ECDSA_SHA_256.',
    );
    const big = bytes(4096);
    const signed = await kms.send(new SignCommand({ KeyId: keys.p256, Message: big, SigningAlgorithm: 'ECDSA_SHA_256' }));
    const v = await kms.send(new VerifyCommand({ KeyId: keys.p256, Message: big, Signature: signed.Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.equal(v.SignatureValid, true);
    await rejectsWith(
      kms.send(new VerifyCommand({ KeyId: keys.p256, Message: bytes(4097), Signature: signed.Signature, SigningAlgorithm: 'ECDSA_SHA_256' })),
      'ValidationException',
      "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096",
    );
    await rejectsWith(
      kms.send(new VerifyCommand({ KeyId: keys.p256, Message: big, Signature: bytes(6145), SigningAlgorithm: 'ECDSA_SHA_256' })),
      'ValidationException',
    );
  });

  test('wrong algorithm or key usage is InvalidKeyUsageException', async () => {
    const Signature = bytes(70);
    await rejectsWith(
      kms.send(new VerifyCommand({ KeyId: keys.k1, Message: utf8('m'), Signature, SigningAlgorithm: 'ECDSA_SHA_384' })),
      'InvalidKeyUsageException',
      'Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_SECG_P256K1.',
    );
    await rejectsWith(
      kms.send(new VerifyCommand({ KeyId: keys.symA, Message: utf8('m'), Signature, SigningAlgorithm: 'ECDSA_SHA_256' })),
      'InvalidKeyUsageException',
      `${arns.symA} key usage is ENCRYPT_DECRYPT which is not valid for Verify.`,
    );
  });

  test('the audit event records the signing algorithm and never the message', async () => {
    const message = utf8('audit-me-verify-payload');
    const { Signature } = await kms.send(new SignCommand({ KeyId: keys.k1, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }));
    const r = await kms.send(new VerifyCommand({ KeyId: keys.k1, Message: message, Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
    const event = audit.find((e) => e.requestId === r.$metadata.requestId);
    assert.ok(event, 'an audit event for the Verify request');
    assert.equal(event.operation, 'Verify');
    assert.equal(event.signingAlgorithm, 'ECDSA_SHA_256');
    assert.equal(event.keyArn, arns.k1);
    assert.doesNotMatch(JSON.stringify(event), /audit-me-verify-payload|YXVkaXQtbWUtdmVyaWZ5LXBheWxvYWQ/);
  });
});

describe('Encrypt and Decrypt', () => {
  test('round trip with and without KeyId, with a context in any order', async () => {
    const plaintext = utf8('the data key of a wallet');
    const EncryptionContext = { owner: 'user-1', purpose: 'wallet' };
    const enc = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: plaintext, EncryptionContext }));
    assert.equal(enc.KeyId, arns.symA);
    assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.notDeepEqual(enc.CiphertextBlob, plaintext);

    const withoutKeyId = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: 'wallet', owner: 'user-1' } }));
    assert.deepEqual(withoutKeyId.Plaintext, plaintext);
    assert.equal(withoutKeyId.KeyId, arns.symA);
    assert.equal(withoutKeyId.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    for (const KeyId of [keys.symA, arns.symA]) {
      const withKeyId = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId, EncryptionContext }));
      assert.deepEqual(withKeyId.Plaintext, plaintext);
    }

    // Two encryptions of the same plaintext differ (fresh salt and nonce).
    const again = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: plaintext, EncryptionContext }));
    assert.notDeepEqual(again.CiphertextBlob, enc.CiphertextBlob);
  });

  test('a wrong, missing or extra encryption context is InvalidCiphertextException', async () => {
    const EncryptionContext = { owner: 'user-1' };
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('secret'), EncryptionContext }));
    for (const ctx of [undefined, { owner: 'user-2' }, { Owner: 'user-1' }, { owner: 'user-1', extra: 'x' }, {}]) {
      await rejectsWith(
        kms.send(new DecryptCommand({ CiphertextBlob, ...(ctx ? { EncryptionContext: ctx } : {}) })),
        'InvalidCiphertextException',
        EMPTY_MESSAGE,
      );
    }
    // And a blob made without a context does not open with one.
    const plain = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('secret') }));
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: plain.CiphertextBlob, EncryptionContext })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: plain.CiphertextBlob }));
    assert.deepEqual(opened.Plaintext, utf8('secret'));
  });

  test('a tampered, truncated or foreign blob is InvalidCiphertextException', async () => {
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('secret') }));
    const blob = CiphertextBlob!;
    // Flip one byte in each region: format, key id, version, salt, nonce, body, tag.
    for (const i of [0, 5, 20, 30, 60, 70, blob.length - 1]) {
      const tampered = Uint8Array.from(blob);
      tampered[i]! ^= 0x01;
      await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: tampered })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    }
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: blob.subarray(0, 40) })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: blob.subarray(0, blob.length - 1) })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: bytes(200, 0x07) })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    // Our format naming a key this account does not have.
    const foreign = Uint8Array.from(blob);
    foreign.set(bytes(16, 0x42), 1);
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: foreign })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    // Versions that do not exist.
    for (const v of [0, 2, 99, 0xffffffff]) {
      await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: withVersion(blob, v) })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    }
  });

  test('a blob of key A with KeyId B is IncorrectKeyException; an unknown KeyId is NotFoundException', async () => {
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('secret') }));
    for (const KeyId of [keys.symB, keys.k1]) {
      await rejectsWith(
        kms.send(new DecryptCommand({ CiphertextBlob, KeyId })),
        'IncorrectKeyException',
        'The key ID in the request does not identify a CMK that can perform this operation.',
      );
    }
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob, KeyId: 'not-a-key' })), 'NotFoundException', "Invalid keyId 'not-a-key'");
  });

  test('Plaintext of 1 and 4096 bytes encrypts; 0 and 4097 are ValidationException', async () => {
    for (const n of [1, 4096]) {
      const pt = bytes(n, 0x5a);
      const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keys.symB, Plaintext: pt }));
      const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob }));
      assert.deepEqual(Plaintext, pt);
    }
    await rejectsWith(
      kms.send(new EncryptCommand({ KeyId: keys.symB, Plaintext: bytes(4097) })),
      'ValidationException',
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
    );
    await rejectsWith(
      kms.send(new EncryptCommand({ KeyId: keys.symB, Plaintext: new Uint8Array(0) })),
      'ValidationException',
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: bytes(6145) })), 'ValidationException');
  });

  test('wrong key usage and wrong algorithm are InvalidKeyUsageException', async () => {
    await rejectsWith(
      kms.send(new EncryptCommand({ KeyId: keys.k1, Plaintext: utf8('x') })),
      'InvalidKeyUsageException',
      `${arns.k1} key usage is SIGN_VERIFY which is not valid for Encrypt.`,
    );
    await rejectsWith(
      kms.send(new EncryptCommand({ KeyId: keys.hmac, Plaintext: utf8('x') })),
      'InvalidKeyUsageException',
      `${arns.hmac} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt.`,
    );
    await rejectsWith(
      kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })),
      'InvalidKeyUsageException',
      'Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.',
    );
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('x') }));
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })),
      'InvalidKeyUsageException',
      'Algorithm RSAES_OAEP_SHA_1 is incompatible with key spec SYMMETRIC_DEFAULT.',
    );
  });

  test('DryRun passes the checks and does not encrypt', async () => {
    await rejectsWith(
      kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('x'), DryRun: true })),
      'DryRunOperationException',
      'The request would have succeeded, but the DryRun option is set.',
    );
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: keys.k1, Plaintext: utf8('x'), DryRun: true })), 'InvalidKeyUsageException');
  });

  test('authorization: kms:Encrypt / kms:Decrypt with the context as condition keys; a denial decrypts nothing', async () => {
    const EncryptionContext = { owner: 'user-9' };
    authCalls.length = 0;
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('x'), EncryptionContext }));
    assert.deepEqual(
      authCalls.map((c) => [c.action, c.keyId]),
      [['kms:Encrypt', keys.symA]],
    );
    assert.deepEqual(authCalls[0]!.conditions['kms:EncryptionContextKeys'], ['owner']);
    assert.equal(authCalls[0]!.conditions['kms:EncryptionContext:owner'], 'user-9');
    assert.equal(authCalls[0]!.conditions['kms:EncryptionAlgorithm'], 'SYMMETRIC_DEFAULT');

    authCalls.length = 0;
    denied.add('kms:Decrypt');
    try {
      await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext })), 'AccessDeniedException');
    } finally {
      denied.delete('kms:Decrypt');
    }
    assert.deepEqual(
      authCalls.map((c) => [c.action, c.keyId]),
      [['kms:Decrypt', keys.symA]],
    );
    assert.equal(authCalls[0]!.conditions['kms:EncryptionContext:owner'], 'user-9');
  });

  test('audit events carry the context, never the plaintext', async () => {
    const secret = 'plaintext-that-must-not-be-audited';
    const EncryptionContext = { owner: 'user-audit' };
    const enc = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8(secret), EncryptionContext }));
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext }));
    const base64Secret = Buffer.from(secret).toString('base64');
    for (const [requestId, operation] of [
      [enc.$metadata.requestId, 'Encrypt'],
      [dec.$metadata.requestId, 'Decrypt'],
    ] as const) {
      const event = audit.find((e) => e.requestId === requestId);
      assert.ok(event, `an audit event for ${operation}`);
      assert.equal(event.operation, operation);
      assert.equal(event.keyArn, arns.symA);
      assert.deepEqual({ ...event.encryptionContext }, EncryptionContext);
      const text = JSON.stringify(event);
      assert.ok(!text.includes(secret) && !text.includes(base64Secret), 'no plaintext in the audit event');
    }
  });

  test('rotation: each blob opens with the material version it names, including one newer than a cached key record', async () => {
    const { id } = await createKey('SYMMETRIC_DEFAULT');
    const pt = utf8('made before rotation');
    const v1 = await kms.send(new EncryptCommand({ KeyId: id, Plaintext: pt }));
    assert.equal(blobVersion(v1.CiphertextBlob!), 1);

    // Another process rotates the key: new material version 2, written to the store.
    const { db } = server.custodian.deps.store;
    const { root } = server.custodian.deps;
    const created = createMaterial(root, 'SYMMETRIC_DEFAULT', id, 2);
    await repo.insertMaterial(db, { keyId: id, version: 2, sealed: created.sealed, publicKey: null, createdAt: Date.now(), rotationType: 'ON_DEMAND' });
    const record = await findKey(db, id);
    await updateKey(db, { ...record!, currentVersion: 2 });
    // ... and encrypts under version 2, while this process still caches version 1.
    const v2blob = keystoreEncrypt(root, id, 2, created.sealed, utf8('made by another process'), { k: 'v' });
    const fromOther = await kms.send(new DecryptCommand({ CiphertextBlob: v2blob, EncryptionContext: { k: 'v' } }));
    assert.deepEqual(fromOther.Plaintext, utf8('made by another process'));

    server.custodian.deps.keyCache.invalidate(id);
    const v2 = await kms.send(new EncryptCommand({ KeyId: id, Plaintext: pt }));
    assert.equal(blobVersion(v2.CiphertextBlob!), 2, 'new blobs use the current version');
    for (const blob of [v1.CiphertextBlob!, v2.CiphertextBlob!]) {
      const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob: blob }));
      assert.deepEqual(Plaintext, pt);
    }
    // A v1 blob relabelled as v2 (or v3, which does not exist) does not open.
    for (const v of [2, 3]) {
      await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: withVersion(v1.CiphertextBlob!, v) })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    }
  });
});

describe('ReEncrypt', () => {
  test('moves a blob from key A to key B with a new context, authorizing ReEncryptFrom and ReEncryptTo', async () => {
    const pt = utf8('share a');
    const src = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: pt, EncryptionContext: { from: 'a' } }));
    authCalls.length = 0;
    const re = await kms.send(
      new ReEncryptCommand({
        CiphertextBlob: src.CiphertextBlob,
        SourceEncryptionContext: { from: 'a' },
        DestinationKeyId: keys.symB,
        DestinationEncryptionContext: { to: 'b' },
      }),
    );
    assert.equal(re.SourceKeyId, arns.symA);
    assert.equal(re.KeyId, arns.symB);
    assert.equal(re.SourceEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.equal(re.DestinationEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.equal('Plaintext' in re, false);
    assert.deepEqual(
      authCalls.map((c) => [c.action, c.keyId, c.conditions['kms:ReEncryptOnSameKey']]),
      [
        ['kms:ReEncryptFrom', keys.symA, 'false'],
        ['kms:ReEncryptTo', keys.symB, 'false'],
      ],
    );

    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { to: 'b' } }));
    assert.deepEqual(opened.Plaintext, pt);
    assert.equal(opened.KeyId, arns.symB);
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { from: 'a' } })),
      'InvalidCiphertextException',
      EMPTY_MESSAGE,
    );
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, KeyId: keys.symA, EncryptionContext: { to: 'b' } })),
      'IncorrectKeyException',
    );

    // Re-encrypting onto the same key is allowed and says so to the policy.
    authCalls.length = 0;
    const same = await kms.send(new ReEncryptCommand({ CiphertextBlob: re.CiphertextBlob, SourceEncryptionContext: { to: 'b' }, DestinationKeyId: keys.symB }));
    assert.deepEqual(
      authCalls.map((c) => c.conditions['kms:ReEncryptOnSameKey']),
      ['true', 'true'],
    );
    assert.deepEqual((await kms.send(new DecryptCommand({ CiphertextBlob: same.CiphertextBlob }))).Plaintext, pt);
  });

  test('errors: wrong source context, wrong SourceKeyId, non-symmetric destination, tampered blob', async () => {
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keys.symA, Plaintext: utf8('x'), EncryptionContext: { a: '1' } }));
    await rejectsWith(kms.send(new ReEncryptCommand({ CiphertextBlob, DestinationKeyId: keys.symB })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    await rejectsWith(
      kms.send(new ReEncryptCommand({ CiphertextBlob, SourceEncryptionContext: { a: '1' }, SourceKeyId: keys.symB, DestinationKeyId: keys.symB })),
      'IncorrectKeyException',
      'The key ID in the request does not identify a CMK that can perform this operation.',
    );
    await rejectsWith(
      kms.send(new ReEncryptCommand({ CiphertextBlob, SourceEncryptionContext: { a: '1' }, DestinationKeyId: keys.k1 })),
      'InvalidKeyUsageException',
      `${arns.k1} key usage is SIGN_VERIFY which is not valid for ReEncrypt.`,
    );
    const tampered = Uint8Array.from(CiphertextBlob!);
    tampered[tampered.length - 2]! ^= 0x80;
    await rejectsWith(
      kms.send(new ReEncryptCommand({ CiphertextBlob: tampered, SourceEncryptionContext: { a: '1' }, DestinationKeyId: keys.symB })),
      'InvalidCiphertextException',
      EMPTY_MESSAGE,
    );
  });
});

describe('GenerateDataKey and GenerateDataKeyWithoutPlaintext', () => {
  test('the plaintext data key decrypts from its CiphertextBlob; lengths follow KeySpec and NumberOfBytes', async () => {
    for (const [req, len] of [
      [{ KeySpec: 'AES_256' as DataKeySpec }, 32],
      [{ KeySpec: 'AES_128' as DataKeySpec }, 16],
      [{ NumberOfBytes: 1 }, 1],
      [{ NumberOfBytes: 1024 }, 1024],
    ] as const) {
      const EncryptionContext = { wallet: '0xabc' };
      const r = await kms.send(new GenerateDataKeyCommand({ KeyId: keys.symA, EncryptionContext, ...req }));
      assert.equal(r.KeyId, arns.symA);
      assert.equal(r.Plaintext!.length, len);
      const opened = await kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext }));
      assert.deepEqual(opened.Plaintext, r.Plaintext);
      await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob })), 'InvalidCiphertextException', EMPTY_MESSAGE);
    }
    const a = await kms.send(new GenerateDataKeyCommand({ KeyId: keys.symA, KeySpec: 'AES_256' }));
    const b = await kms.send(new GenerateDataKeyCommand({ KeyId: keys.symA, KeySpec: 'AES_256' }));
    assert.notDeepEqual(a.Plaintext, b.Plaintext);
  });

  test('WithoutPlaintext returns only the blob, which decrypts to a key of the asked length', async () => {
    const r = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keys.symB, KeySpec: 'AES_128', EncryptionContext: { x: 'y' } }));
    const { $metadata: _m, ...fields } = r;
    assert.deepEqual(Object.keys(fields).sort(), ['CiphertextBlob', 'KeyId']);
    assert.equal(r.KeyId, arns.symB);
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext: { x: 'y' } }));
    assert.equal(opened.Plaintext!.length, 16);
  });

  test("exactly one of KeySpec or NumberOfBytes, within AWS's limits", async () => {
    for (const Command of [GenerateDataKeyCommand, GenerateDataKeyWithoutPlaintextCommand]) {
      await rejectsWith(kms.send(new Command({ KeyId: keys.symA })), 'ValidationException', 'Please specify either number of bytes or key spec.');
      await rejectsWith(
        kms.send(new Command({ KeyId: keys.symA, KeySpec: 'AES_256', NumberOfBytes: 32 })),
        'ValidationException',
        'Please specify either number of bytes or key spec.',
      );
      await rejectsWith(
        kms.send(new Command({ KeyId: keys.symA, NumberOfBytes: 0 })),
        'ValidationException',
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
      );
      await rejectsWith(
        kms.send(new Command({ KeyId: keys.symA, NumberOfBytes: 1025 })),
        'ValidationException',
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
      );
      await rejectsWith(
        kms.send(new Command({ KeyId: keys.symA, KeySpec: 'AES_512' as DataKeySpec })),
        'ValidationException',
        "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]",
      );
      await rejectsWith(
        kms.send(new Command({ KeyId: keys.p256, KeySpec: 'AES_256' })),
        'InvalidKeyUsageException',
        `${arns.p256} key usage is SIGN_VERIFY which is not valid for ${Command === GenerateDataKeyCommand ? 'GenerateDataKey' : 'GenerateDataKeyWithoutPlaintext'}.`,
      );
    }
  });

  test('the audit event carries the context and never the data key', async () => {
    const r = await kms.send(new GenerateDataKeyCommand({ KeyId: keys.symA, KeySpec: 'AES_256', EncryptionContext: { owner: 'u' } }));
    const event = audit.find((e) => e.requestId === r.$metadata.requestId);
    assert.ok(event);
    assert.deepEqual({ ...event.encryptionContext }, { owner: 'u' });
    const text = JSON.stringify(event);
    assert.ok(!text.includes(Buffer.from(r.Plaintext!).toString('base64')) && !text.includes(Buffer.from(r.Plaintext!).toString('hex')));
  });
});

describe('GenerateRandom', () => {
  test('1 and 1024 bytes; distinct each time; authorized with no key', async () => {
    authCalls.length = 0;
    for (const n of [1, 1024]) {
      const r = await kms.send(new GenerateRandomCommand({ NumberOfBytes: n }));
      assert.equal(r.Plaintext!.length, n);
    }
    assert.deepEqual(
      authCalls.map((c) => [c.action, c.keyId]),
      [
        ['kms:GenerateRandom', undefined],
        ['kms:GenerateRandom', undefined],
      ],
    );
    const a = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 }));
    const b = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 }));
    assert.notDeepEqual(a.Plaintext, b.Plaintext);
  });

  test("AWS's messages for a missing, zero or too large NumberOfBytes", async () => {
    await rejectsWith(kms.send(new GenerateRandomCommand({})), 'ValidationException', 'NumberOfBytes is required.');
    await rejectsWith(
      kms.send(new GenerateRandomCommand({ NumberOfBytes: 0 })),
      'ValidationException',
      "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    await rejectsWith(
      kms.send(new GenerateRandomCommand({ NumberOfBytes: 1025 })),
      'ValidationException',
      "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
    );
  });
});

describe('GenerateMac and VerifyMac', () => {
  test('HMAC-SHA-256 generates deterministically and verifies; a changed message or MAC is KMSInvalidMacException', async () => {
    const Message = utf8('mac me');
    const g = await kms.send(new GenerateMacCommand({ KeyId: keys.hmac, Message, MacAlgorithm: 'HMAC_SHA_256' }));
    assert.equal(g.KeyId, arns.hmac);
    assert.equal(g.MacAlgorithm, 'HMAC_SHA_256');
    assert.equal(g.Mac!.length, 32);
    const again = await kms.send(new GenerateMacCommand({ KeyId: keys.hmac, Message, MacAlgorithm: 'HMAC_SHA_256' }));
    assert.deepEqual(again.Mac, g.Mac);

    const v = await kms.send(new VerifyMacCommand({ KeyId: keys.hmac, Message, Mac: g.Mac, MacAlgorithm: 'HMAC_SHA_256' }));
    assert.equal(v.MacValid, true);
    assert.equal(v.KeyId, arns.hmac);
    assert.equal(v.MacAlgorithm, 'HMAC_SHA_256');

    const other = await createKey('HMAC_256', 'GENERATE_VERIFY_MAC');
    const otherMac = await kms.send(new GenerateMacCommand({ KeyId: other.id, Message, MacAlgorithm: 'HMAC_SHA_256' }));
    assert.notDeepEqual(otherMac.Mac, g.Mac, 'different keys give different MACs');

    const flipped = Uint8Array.from(g.Mac!);
    flipped[0]! ^= 0x01;
    for (const [msg, mac] of [
      [utf8('mac me!'), g.Mac!],
      [Message, flipped],
      [Message, g.Mac!.subarray(0, 31)],
      [Message, otherMac.Mac!],
    ] as const) {
      await rejectsWith(
        kms.send(new VerifyMacCommand({ KeyId: keys.hmac, Message: msg, Mac: mac, MacAlgorithm: 'HMAC_SHA_256' })),
        'KMSInvalidMacException',
        EMPTY_MESSAGE,
      );
    }
  });

  test('other algorithms, key usages and sizes', async () => {
    await rejectsWith(
      kms.send(new GenerateMacCommand({ KeyId: keys.hmac, Message: utf8('m'), MacAlgorithm: 'HMAC_SHA_512' })),
      'InvalidKeyUsageException',
      'Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.',
    );
    await rejectsWith(
      kms.send(new VerifyMacCommand({ KeyId: keys.hmac, Message: utf8('m'), Mac: bytes(32), MacAlgorithm: 'HMAC_SHA_512' })),
      'InvalidKeyUsageException',
      'Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.',
    );
    await assert.rejects(
      kms.send(new GenerateMacCommand({ KeyId: keys.hmac, Message: utf8('m'), MacAlgorithm: 'INVALID' as MacAlgorithmSpec })),
      (e: Error) => {
        assert.equal(e.name, 'ValidationException');
        // AWS lists the enum in its own (unsorted) order; the wording up to the list is AWS's.
        assert.ok(
          e.message.startsWith(
            "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [",
          ),
          e.message,
        );
        return true;
      },
    );
    await rejectsWith(
      kms.send(new GenerateMacCommand({ KeyId: keys.symA, Message: utf8('m'), MacAlgorithm: 'HMAC_SHA_256' })),
      'InvalidKeyUsageException',
      `${arns.symA} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.`,
    );
    await rejectsWith(
      kms.send(new VerifyMacCommand({ KeyId: keys.k1, Message: utf8('m'), Mac: bytes(32), MacAlgorithm: 'HMAC_SHA_256' })),
      'InvalidKeyUsageException',
      `${arns.k1} key usage is SIGN_VERIFY which is not valid for VerifyMac.`,
    );
    const big = bytes(4096);
    const g = await kms.send(new GenerateMacCommand({ KeyId: keys.hmac, Message: big, MacAlgorithm: 'HMAC_SHA_256' }));
    assert.equal((await kms.send(new VerifyMacCommand({ KeyId: keys.hmac, Message: big, Mac: g.Mac, MacAlgorithm: 'HMAC_SHA_256' }))).MacValid, true);
    const tooLong = "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096";
    await rejectsWith(
      kms.send(new GenerateMacCommand({ KeyId: keys.hmac, Message: bytes(4097), MacAlgorithm: 'HMAC_SHA_256' })),
      'ValidationException',
      tooLong,
    );
    await rejectsWith(
      kms.send(new VerifyMacCommand({ KeyId: keys.hmac, Message: bytes(4097), Mac: g.Mac!, MacAlgorithm: 'HMAC_SHA_256' })),
      'ValidationException',
      tooLong,
    );
  });
});
