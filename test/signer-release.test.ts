/**
 * The custodian's attested release through a real listening server and the
 * real @aws-sdk/client-kms: Decrypt with `Recipient` { KeyEncryptionAlgorithm,
 * AttestationDocument } answers CiphertextForRecipient (never Plaintext) that
 * only the attested private key opens; a key policy requiring
 * kms:RecipientAttestation:ImageSha384 (or a PCR) refuses another
 * measurement and a plain Decrypt; replayed, stale and untrusted documents
 * are refused in AWS's error shape; operations without Recipient support
 * still refuse it. Documents are signed here with the custodian's own
 * embedded platform key (and a stranger's), so each defect is the only one.
 * Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from './helpers/server.js';
import { PlatformKey, encodeTrustedKey } from '../src/signer/attestation/platform-key.js';
import { signAttestationDocument } from '../src/signer/attestation/signAttestationDocument.js';
import { openForRecipient, RecipientOpenError } from '../src/signer/attestation/cms-enveloped-data.js';

const GOOD = new Uint8Array(48).fill(0x11);
const CHANGED = new Uint8Array(48).fill(0x22);
const PCR1 = new Uint8Array(48).fill(0x33);

async function rejectsWith(p: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.name, name, `expected ${name}, got ${e.name}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('KMS Decrypt with Recipient (attested release)', () => {
  let server: TestServer;
  let kms: KMSClient;
  let platform: PlatformKey;
  const stranger = PlatformKey.fromSecret(PlatformKey.generateSecret());
  /** A platform key trusted through SYMBOLON_ATTESTATION_TRUSTED_KEYS rather than the embedded one. */
  const configured = PlatformKey.fromSecret(PlatformKey.generateSecret());
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = new Uint8Array(rsa.publicKey.export({ format: 'der', type: 'spki' }));
  const share = new Uint8Array(randomBytes(32));
  let openKeyId: string;
  let attestedKeyId: string;
  let pcrKeyId: string;
  let openBlob: Uint8Array;
  let attestedBlob: Uint8Array;
  let pcrBlob: Uint8Array;
  const context = { sub: 'alice', address: '0x00000000000000000000000000000000000000a1' };

  const doc = (o: { pcr0?: Uint8Array; timestamp?: number; key?: PlatformKey; publicKey?: Uint8Array } = {}) =>
    signAttestationDocument(o.key ?? platform, {
      moduleId: 'test',
      pcrs: new Map([
        [0, o.pcr0 ?? GOOD],
        [1, PCR1],
        [2, new Uint8Array(48)],
      ]),
      publicKey: o.publicKey ?? spki,
      nonce: new Uint8Array(randomBytes(32)),
      timestamp: o.timestamp ?? Date.now(),
    });
  const decrypt = (blob: Uint8Array, document?: Uint8Array, extra: Record<string, unknown> = {}) =>
    kms.send(
      new DecryptCommand({
        CiphertextBlob: blob,
        EncryptionContext: context,
        ...(document ? { Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: document } } : {}),
        ...extra,
      }),
    );

  before(async () => {
    server = await startTestServer({ env: { SYMBOLON_ATTESTATION_TRUSTED_KEYS: encodeTrustedKey(configured.spki) } });
    kms = server.kms();
    platform = server.custodian.platformKey;
    const root = `arn:aws:iam::${server.custodian.accountId}:root`;
    const requiring = (condition: Record<string, string>) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'Manage', Effect: 'Allow', Principal: { AWS: root }, NotAction: 'kms:Decrypt', Resource: '*' },
          { Sid: 'DecryptToTheSigner', Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringEqualsIgnoreCase: condition } },
        ],
      });
    openKeyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    attestedKeyId = (await kms.send(new CreateKeyCommand({ Policy: requiring({ 'kms:RecipientAttestation:ImageSha384': Buffer.from(GOOD).toString('hex') }) }))).KeyMetadata!.KeyId!;
    pcrKeyId = (await kms.send(new CreateKeyCommand({ Policy: requiring({ 'kms:RecipientAttestation:PCR1': Buffer.from(PCR1).toString('hex').toUpperCase() }) }))).KeyMetadata!.KeyId!;
    const enc = async (KeyId: string) => (await kms.send(new EncryptCommand({ KeyId, Plaintext: share, EncryptionContext: context }))).CiphertextBlob!;
    openBlob = await enc(openKeyId);
    attestedBlob = await enc(attestedKeyId);
    pcrBlob = await enc(pcrKeyId);
  });

  after(async () => {
    await server?.close();
  });

  test('answers CiphertextForRecipient and no Plaintext; only the attested private key opens it', async () => {
    const out = await decrypt(openBlob, doc());
    assert.equal(out.Plaintext, undefined);
    assert.ok(out.CiphertextForRecipient && out.CiphertextForRecipient.length > 256);
    assert.match(out.KeyId!, new RegExp(`key/${openKeyId}$`));
    assert.equal(out.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.equal(Buffer.from(out.CiphertextForRecipient).indexOf(Buffer.from(share)), -1);
    assert.deepEqual(openForRecipient(out.CiphertextForRecipient, rsa.privateKey, 32), share);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    assert.throws(() => openForRecipient(out.CiphertextForRecipient!, other, 32), RecipientOpenError);
    // Without Recipient, the same key still answers Plaintext (existing behaviour is kept).
    assert.deepEqual((await decrypt(openBlob)).Plaintext, share);
  });

  test('a key policy requiring ImageSha384 releases to that measurement only, and never in plaintext', async () => {
    const ok = await decrypt(attestedBlob, doc({ pcr0: GOOD }));
    assert.deepEqual(openForRecipient(ok.CiphertextForRecipient!, rsa.privateKey, 32), share);
    await rejectsWith(decrypt(attestedBlob, doc({ pcr0: CHANGED })), 'AccessDeniedException', /is not authorized to perform: kms:Decrypt/);
    await rejectsWith(decrypt(attestedBlob), 'AccessDeniedException');
  });

  test('kms:RecipientAttestation:PCR<n> works the same way (case-insensitive hex)', async () => {
    const ok = await decrypt(pcrBlob, doc());
    assert.deepEqual(openForRecipient(ok.CiphertextForRecipient!, rsa.privateKey, 32), share);
    await rejectsWith(decrypt(pcrBlob), 'AccessDeniedException');
  });

  test('a replayed document is refused, even to the same caller for the same ciphertext', async () => {
    const d = doc();
    await decrypt(openBlob, d);
    await rejectsWith(decrypt(openBlob, d), 'ValidationException', /not valid \(replayed\)/);
    await rejectsWith(decrypt(attestedBlob, d), 'ValidationException', /\(replayed\)/);
  });

  test('a stale (or future-dated) document is refused', async () => {
    await rejectsWith(decrypt(openBlob, doc({ timestamp: Date.now() - 6 * 60_000 })), 'ValidationException', /\(stale\)/);
    await rejectsWith(decrypt(openBlob, doc({ timestamp: Date.now() + 5 * 60_000 })), 'ValidationException', /\(stale\)/);
  });

  test('a document from an untrusted platform key is refused; a configured trusted key is accepted', async () => {
    await rejectsWith(decrypt(openBlob, doc({ key: stranger })), 'ValidationException', /\(untrusted_platform\)/);
    const out = await decrypt(attestedBlob, doc({ key: configured }));
    assert.deepEqual(openForRecipient(out.CiphertextForRecipient!, rsa.privateKey, 32), share);
  });

  test('malformed Recipient fields are refused in AWS\'s shape and change nothing', async () => {
    const d = doc();
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob: openBlob, EncryptionContext: context, Recipient: { KeyEncryptionAlgorithm: 'RSA_2048' as never, AttestationDocument: d } })),
      'ValidationException',
      /Member must satisfy enum value set: \[RSAES_OAEP_SHA_256\]/,
    );
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: openBlob, EncryptionContext: context, Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' } })), 'ValidationException', /must not be null/);
    await rejectsWith(decrypt(openBlob, new Uint8Array([1, 2, 3])), 'ValidationException', /\(malformed\)/);
    const ec = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }));
    await rejectsWith(decrypt(openBlob, doc({ publicKey: ec })), 'ValidationException', /\(bad_public_key\)/);
    // The document refused for its enum was not consumed: it still works.
    const out = await decrypt(openBlob, d);
    assert.deepEqual(openForRecipient(out.CiphertextForRecipient!, rsa.privateKey, 32), share);
  });

  test('a wrong encryption context still fails as InvalidCiphertextException', async () => {
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob: openBlob, EncryptionContext: { sub: 'mallory', address: context.address }, Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: doc() } })),
      'InvalidCiphertextException',
    );
  });

  test('operations without Recipient support still refuse it rather than answer plaintext', async () => {
    await rejectsWith(
      kms.send(new GenerateDataKeyCommand({ KeyId: openKeyId, KeySpec: 'AES_256', Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: doc() } })),
      'UnsupportedOperationException',
    );
  });
});
