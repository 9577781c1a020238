/**
 * The custodian's attested release through a real listening server and the
 * real @aws-sdk/client-kms: Decrypt with `Recipient` { KeyEncryptionAlgorithm,
 * AttestationDocument } answers CiphertextForRecipient (never Plaintext) that
 * only the attested private key opens; a key policy requiring
 * kms:RecipientAttestation:ImageSha384 (or a PCR) refuses another
 * measurement and a plain Decrypt; a verified document may be presented again
 * for its session (60 s; a hash lookup, counted) and is refused after it;
 * another document with a seen nonce, stale and untrusted documents are
 * refused in AWS's error shape; a captured document replayed with the owner's
 * credentials yields only ciphertext the replayer cannot open; with
 * SYMBOLON_ATTESTATION_SESSION_SECONDS=0 each document is good for one release; operations without Recipient support
 * still refuse it. Documents are signed here with the custodian's own
 * embedded platform key (and a stranger's), so each defect is the only one.
 * Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from './helpers/server.js';
import { PlatformKey, encodeTrustedKey } from '../src/attestation/platform-key.js';
import { signAttestationDocument } from '../src/attestation/signAttestationDocument.js';
import { openForRecipient, RecipientOpenError } from '../src/attestation/cms-enveloped-data.js';
import type { RecipientAttestation } from '../src/attestation/recipient-attestation.js';

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

  /** The custodian's clock runs `skew` ms ahead of this process (to end attested sessions without waiting). */
  let skew = 0;
  let verifier: RecipientAttestation;
  const doc = (o: { pcr0?: Uint8Array; timestamp?: number; key?: PlatformKey; publicKey?: Uint8Array; nonce?: Uint8Array } = {}) =>
    signAttestationDocument(o.key ?? platform, {
      moduleId: 'test',
      pcrs: new Map([
        [0, o.pcr0 ?? GOOD],
        [1, PCR1],
        [2, new Uint8Array(48)],
      ]),
      publicKey: o.publicKey ?? spki,
      nonce: o.nonce ?? new Uint8Array(randomBytes(32)),
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
    server = await startTestServer({ env: { SYMBOLON_ATTESTATION_TRUSTED_KEYS: encodeTrustedKey(configured.spki) }, clock: () => Date.now() + skew });
    kms = server.kms();
    verifier = server.custodian.deps.recipientAttestation!;
    assert.equal(verifier.sessionMs, 60_000, 'the default session');
    platform = server.custodian.platformKey;
    const root = `arn:aws:iam::${server.custodian.accountId}:root`;
    const requiring = (condition: Record<string, string>) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'Manage', Effect: 'Allow', Principal: { AWS: root }, NotAction: 'kms:Decrypt', Resource: '*' },
          {
            Sid: 'DecryptToTheSigner',
            Effect: 'Allow',
            Principal: { AWS: root },
            Action: 'kms:Decrypt',
            Resource: '*',
            Condition: { StringEqualsIgnoreCase: condition },
          },
        ],
      });
    openKeyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    attestedKeyId = (await kms.send(new CreateKeyCommand({ Policy: requiring({ 'kms:RecipientAttestation:ImageSha384': Buffer.from(GOOD).toString('hex') }) })))
      .KeyMetadata!.KeyId!;
    pcrKeyId = (
      await kms.send(new CreateKeyCommand({ Policy: requiring({ 'kms:RecipientAttestation:PCR1': Buffer.from(PCR1).toString('hex').toUpperCase() }) }))
    ).KeyMetadata!.KeyId!;
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

  test('a verified document is accepted again inside its session without being verified again', async () => {
    const d = doc();
    const before = verifier.stats;
    const first = await decrypt(openBlob, d);
    const second = await decrypt(openBlob, d);
    const third = await decrypt(attestedBlob, d);
    assert.deepEqual(verifier.stats, { verified: before.verified + 1, sessionHits: before.sessionHits + 2 });
    for (const out of [first, second, third]) {
      assert.equal(out.Plaintext, undefined);
      assert.deepEqual(openForRecipient(out.CiphertextForRecipient!, rsa.privateKey, 32), share);
    }
    // Every release is a new CMS envelope (fresh content key and IV).
    assert.notDeepEqual(first.CiphertextForRecipient, second.CiphertextForRecipient);
    // The key policy still decides on each release: the reused document's measurement is the policy's ...
    const changed = doc({ pcr0: CHANGED });
    await rejectsWith(decrypt(attestedBlob, changed), 'AccessDeniedException');
    await rejectsWith(decrypt(attestedBlob, changed), 'AccessDeniedException');
    // ... and the encryption context is checked on each.
    await rejectsWith(decrypt(openBlob, d, { EncryptionContext: { sub: 'mallory', address: context.address } }), 'InvalidCiphertextException');
  });

  test('after its session the same document is refused as stale; another document with a seen nonce as replayed', async () => {
    const nonce = new Uint8Array(randomBytes(32));
    const d = doc({ nonce });
    await decrypt(openBlob, d);
    await rejectsWith(decrypt(openBlob, doc({ nonce })), 'ValidationException', /not valid \(replayed\)/);
    skew = 61_000;
    try {
      await rejectsWith(decrypt(openBlob, d), 'ValidationException', /not valid \(stale\): The attested session of this document has ended/);
      await rejectsWith(decrypt(attestedBlob, d), 'ValidationException', /\(stale\)/);
      await rejectsWith(decrypt(openBlob, doc({ nonce, timestamp: Date.now() + skew })), 'ValidationException', /\(replayed\)/);
      // A fresh document works.
      const out = await decrypt(openBlob, doc({ timestamp: Date.now() + skew }));
      assert.deepEqual(openForRecipient(out.CiphertextForRecipient!, rsa.privateKey, 32), share);
    } finally {
      skew = 0;
    }
  });

  test("a captured document replayed with the owner's credentials yields only ciphertext the replayer cannot open", async () => {
    // The signer's release ...
    const captured = doc();
    await decrypt(attestedBlob, captured);
    // ... captured on the wire, replayed by someone who also holds the owner's credentials.
    const out = await decrypt(attestedBlob, captured);
    assert.equal(out.Plaintext, undefined);
    assert.equal(Buffer.from(out.CiphertextForRecipient!).indexOf(Buffer.from(share)), -1);
    const attackers = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.throws(() => openForRecipient(out.CiphertextForRecipient!, attackers.privateKey, 32), RecipientOpenError);
    // The replayer cannot put their own key in it: the signature breaks (or the platform is not trusted).
    const attackerSpki = new Uint8Array(attackers.publicKey.export({ format: 'der', type: 'spki' }));
    await rejectsWith(decrypt(attestedBlob, doc({ key: stranger, publicKey: attackerSpki })), 'ValidationException', /\(untrusted_platform\)/);
    // Without the owner's credentials the same document releases nothing.
    const strangerKms = server.kms({ accessKeyId: 'AKIAEXAMPLESTRANGER1', secretAccessKey: 'not-the-owners-secret-access-key-0000000' });
    await assert.rejects(
      strangerKms.send(
        new DecryptCommand({
          CiphertextBlob: attestedBlob,
          EncryptionContext: context,
          Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: captured },
        }),
      ),
      (e: any) => e.name === 'UnrecognizedClientException',
    );
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

  test("malformed Recipient fields are refused in AWS's shape and change nothing", async () => {
    const d = doc();
    await rejectsWith(
      kms.send(
        new DecryptCommand({
          CiphertextBlob: openBlob,
          EncryptionContext: context,
          Recipient: { KeyEncryptionAlgorithm: 'RSA_2048' as never, AttestationDocument: d },
        }),
      ),
      'ValidationException',
      /Member must satisfy enum value set: \[RSAES_OAEP_SHA_256\]/,
    );
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob: openBlob, EncryptionContext: context, Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' } })),
      'ValidationException',
      /must not be null/,
    );
    await rejectsWith(decrypt(openBlob, new Uint8Array([1, 2, 3])), 'ValidationException', /\(malformed\)/);
    const ec = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }));
    await rejectsWith(decrypt(openBlob, doc({ publicKey: ec })), 'ValidationException', /\(bad_public_key\)/);
    // The document refused for its enum was not consumed: it still works.
    const out = await decrypt(openBlob, d);
    assert.deepEqual(openForRecipient(out.CiphertextForRecipient!, rsa.privateKey, 32), share);
  });

  test('a wrong encryption context still fails as InvalidCiphertextException', async () => {
    await rejectsWith(
      kms.send(
        new DecryptCommand({
          CiphertextBlob: openBlob,
          EncryptionContext: { sub: 'mallory', address: context.address },
          Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: doc() },
        }),
      ),
      'InvalidCiphertextException',
    );
  });

  test('operations without Recipient support still refuse it rather than answer plaintext', async () => {
    await rejectsWith(
      kms.send(
        new GenerateDataKeyCommand({
          KeyId: openKeyId,
          KeySpec: 'AES_256',
          Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: doc() },
        }),
      ),
      'UnsupportedOperationException',
    );
  });
});

describe('KMS Decrypt with Recipient, SYMBOLON_ATTESTATION_SESSION_SECONDS=0 (single use)', () => {
  let server: TestServer;
  let kms: KMSClient;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = new Uint8Array(rsa.publicKey.export({ format: 'der', type: 'spki' }));
  const context = { sub: 'alice', address: '0x00000000000000000000000000000000000000a1' };

  before(async () => {
    server = await startTestServer({ env: { SYMBOLON_ATTESTATION_SESSION_SECONDS: '0' } });
    kms = server.kms();
  });

  after(async () => {
    await server?.close();
  });

  test('each document is good for one release: a second use is refused as replayed', async () => {
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const share = new Uint8Array(randomBytes(32));
    const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: share, EncryptionContext: context }))).CiphertextBlob!;
    const d = signAttestationDocument(server.custodian.platformKey, {
      moduleId: 'test',
      pcrs: new Map([[0, GOOD]]),
      publicKey: spki,
      nonce: new Uint8Array(randomBytes(32)),
    });
    const decrypt = () =>
      kms.send(
        new DecryptCommand({
          CiphertextBlob: blob,
          EncryptionContext: context,
          Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: d },
        }),
      );
    const out = await decrypt();
    assert.deepEqual(openForRecipient(out.CiphertextForRecipient!, rsa.privateKey, 32), share);
    await rejectsWith(decrypt(), 'ValidationException', /not valid \(replayed\): This attestation document was already used/);
    const v = server.custodian.deps.recipientAttestation!;
    assert.equal(v.sessionMs, 0);
    assert.deepEqual(v.stats, { verified: 1, sessionHits: 0 });
  });
});
