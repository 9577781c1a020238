/**
 * The attestation document (COSE_Sign1 over a Nitro-shaped CBOR map, ES384),
 * the custodian's Recipient verifier (trusted platform keys, freshness,
 * attested sessions — a verified document reused inside its window costs a
 * hash lookup, outside it is refused — and the single-use mode, nonce reuse,
 * condition keys) and CiphertextForRecipient (CMS EnvelopedData,
 * RSAES-OAEP-SHA-256 + AES-256-CBC), with hostile inputs: wrong algorithm,
 * extra bytes, bad signatures, stale and future timestamps, wrong PCR
 * lengths, non-canonical CBOR, untrusted keys, replays. Signatures are
 * cross-checked with an independent implementation (@noble/curves p384) and
 * the CMS format with OpenSSL's `openssl cms`, in both directions.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, createHash, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'cborg';
import { p384 } from '@noble/curves/nist.js';
import { PlatformKey, parseTrustedKeys, encodeTrustedKey, PlatformKeyError } from '../src/attestation/platform-key.js';
import { signAttestationDocument } from '../src/attestation/signAttestationDocument.js';
import { TrustedPlatformKeys, verifyAttestationDocument } from '../src/attestation/verifyAttestationDocument.js';
import { decodeCoseSign1, sigStructure } from '../src/attestation/cose-sign1.js';
import { AttestationError, type AttestationErrorCode } from '../src/attestation/errors.js';
import { RecipientAttestation, IMAGE_SHA384_KEY } from '../src/attestation/recipient-attestation.js';
import { openForRecipient, openForRecipientAsync, RecipientOpenError, sealForRecipient } from '../src/attestation/cms-enveloped-data.js';

const NOW = 1_800_000_000_000;
const secret = PlatformKey.generateSecret();
const platform = PlatformKey.fromSecret(secret);
const other = PlatformKey.fromSecret(PlatformKey.generateSecret());
const trusted = new TrustedPlatformKeys([platform.spki]);
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaSpki = new Uint8Array(rsa.publicKey.export({ format: 'der', type: 'spki' }));
const pcr = (fill: number) => new Uint8Array(48).fill(fill);
const PCRS = new Map([
  [0, pcr(0xa0)],
  [1, pcr(0xa1)],
  [2, pcr(0xa2)],
]);

function doc(overrides: { timestamp?: number; nonce?: Uint8Array; publicKey?: Uint8Array; key?: PlatformKey } = {}): Uint8Array {
  return signAttestationDocument(overrides.key ?? platform, {
    pcrs: PCRS,
    moduleId: 'test-platform',
    publicKey: overrides.publicKey ?? rsaSpki,
    nonce: overrides.nonce ?? new Uint8Array(randomBytes(32)),
    timestamp: overrides.timestamp ?? NOW,
  });
}

/** A COSE_Sign1 over an arbitrary payload/header, signed by the trusted platform key (so only the named defect differs). */
function rawDoc(options: { payload?: Uint8Array; protectedHeader?: Uint8Array; unprotected?: unknown; payloadMap?: Map<string, unknown> }): Uint8Array {
  const protectedHeader = options.protectedHeader ?? encode(new Map([[1, -35]]));
  const payload = options.payload ?? encode(options.payloadMap ?? validPayloadMap());
  const signature = platform.sign(sigStructure(protectedHeader, payload));
  return encode([protectedHeader, options.unprotected ?? new Map(), payload, signature]);
}

function validPayloadMap(): Map<string, unknown> {
  return new Map<string, unknown>([
    ['module_id', 'test-platform'],
    ['digest', 'SHA384'],
    ['timestamp', NOW],
    ['pcrs', new Map(PCRS)],
    ['certificate', platform.spki],
    ['cabundle', [platform.spki]],
    ['public_key', rsaSpki],
    ['user_data', null],
    ['nonce', new Uint8Array(randomBytes(32))],
  ]);
}

function refused(fn: () => unknown, code: AttestationErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof AttestationError && e.code === code, `expected AttestationError ${code}`);
}

const verify = (bytes: Uint8Array, extra: { now?: number; expectedNonce?: Uint8Array } = {}) =>
  verifyAttestationDocument(bytes, { trusted, now: extra.now ?? NOW, expectedNonce: extra.expectedNonce });

describe('attestation document: format', () => {
  test('is an untagged COSE_Sign1 with protected header {1: -35}, like a Nitro document', () => {
    const bytes = doc();
    // 0x84: array(4); 0x44 a1 01 38 22: bstr(4) { 1: -35 }; 0xa0: empty map — the bytes every Nitro document starts with.
    assert.equal(Buffer.from(bytes.subarray(0, 7)).toString('hex'), '8444a1013822a0');
    const d = verify(bytes);
    assert.equal(d.moduleId, 'test-platform');
    assert.equal(d.digest, 'SHA384');
    assert.equal(d.timestamp, NOW);
    assert.deepEqual([...d.pcrs.keys()], [0, 1, 2]);
    assert.deepEqual(d.pcrs.get(0), pcr(0xa0));
    assert.deepEqual(d.publicKey, rsaSpki);
    assert.deepEqual(d.certificate, platform.spki);
    assert.equal(d.userData, undefined);
  });

  test('the ES384 signature verifies with an independent implementation (@noble/curves p384)', () => {
    const cose = decodeCoseSign1(doc());
    const point = p384.getPublicKey(secret, false);
    // ECDSA as COSE defines it accepts either s (no low-s rule), so noble is told so.
    assert.equal(p384.verify(cose.signature, cose.toBeSigned, point, { lowS: false }), true);
    const tampered = new Uint8Array(cose.toBeSigned);
    tampered[tampered.length - 1]! ^= 1;
    assert.equal(p384.verify(cose.signature, tampered, point, { lowS: false }), false);
  });

  test('the tagged form (#6.18) is accepted; another tag is not', () => {
    const bytes = doc();
    const tagged = new Uint8Array([0xd2, ...bytes]);
    assert.equal(verify(tagged).moduleId, 'test-platform');
    refused(() => verify(new Uint8Array([0xd3, ...bytes])), 'malformed');
  });

  test('the expected nonce must be the document nonce', () => {
    const nonce = new Uint8Array(randomBytes(32));
    const bytes = doc({ nonce });
    assert.deepEqual(verify(bytes, { expectedNonce: nonce }).nonce, nonce);
    refused(() => verify(bytes, { expectedNonce: new Uint8Array(randomBytes(32)) }), 'nonce_mismatch');
    refused(() => verify(rawDoc({ payloadMap: new Map([...validPayloadMap(), ['nonce', null]]) }), { expectedNonce: nonce }), 'nonce_mismatch');
  });
});

describe('attestation document: hostile inputs', () => {
  test('wrong algorithm in the protected header (ES256 -7, EdDSA -8, none)', () => {
    for (const alg of [-7, -8, -36, 0]) refused(() => verify(rawDoc({ protectedHeader: encode(new Map([[1, alg]])) })), 'unsupported_algorithm');
    refused(() => verify(rawDoc({ protectedHeader: encode(new Map([[1, 'ES384']])) })), 'unsupported_algorithm');
    refused(() => verify(rawDoc({ protectedHeader: encode(new Map()) })), 'malformed');
    refused(
      () =>
        verify(
          rawDoc({
            protectedHeader: encode(
              new Map<number, unknown>([
                [1, -35],
                [4, new Uint8Array(4)],
              ]),
            ),
          }),
        ),
      'malformed',
    );
    refused(() => verify(rawDoc({ protectedHeader: new Uint8Array([0xff]) })), 'malformed');
  });

  test('extra bytes after the COSE_Sign1, inside the payload, or a truncated document', () => {
    const bytes = doc();
    refused(() => verify(new Uint8Array([...bytes, 0x00])), 'malformed');
    refused(() => verify(bytes.subarray(0, bytes.length - 1)), 'malformed');
    refused(() => verify(rawDoc({ payload: new Uint8Array([...encode(validPayloadMap()), 0x00]) })), 'malformed');
    refused(() => verify(new Uint8Array(0)), 'malformed');
    refused(() => verify(new Uint8Array(40_000)), 'malformed');
  });

  test('a bad signature: any flipped bit in the signature, the payload or the protected header', () => {
    const bytes = doc();
    const sigFlip = new Uint8Array(bytes);
    sigFlip[sigFlip.length - 5]! ^= 0x01;
    refused(() => verify(sigFlip), 'bad_signature');
    // The timestamp sits inside the payload; changing it keeps the CBOR valid.
    const cose = decodeCoseSign1(bytes);
    const payloadMap = validPayloadMap();
    payloadMap.set('timestamp', NOW + 1);
    const swapped = encode([encode(new Map([[1, -35]])), new Map(), encode(payloadMap), cose.signature]);
    refused(() => verify(swapped), 'bad_signature');
    // A signature by another (untrusted) key over a document naming the trusted certificate.
    const forged = encode([encode(new Map([[1, -35]])), new Map(), cose.payload, other.sign(cose.toBeSigned)]);
    refused(() => verify(forged), 'bad_signature');
  });

  test('a document signed by a platform key that is not trusted', () => {
    refused(() => verify(doc({ key: other })), 'untrusted_platform');
    refused(() => verifyAttestationDocument(doc(), { trusted: new TrustedPlatformKeys([]), now: NOW }), 'untrusted_platform');
  });

  test('stale and future timestamps (at most 5 minutes old, 30 s ahead)', () => {
    assert.equal(verify(doc({ timestamp: NOW - 300_000 })).timestamp, NOW - 300_000);
    refused(() => verify(doc({ timestamp: NOW - 300_001 })), 'stale');
    refused(() => verify(doc({ timestamp: NOW - 3_600_000 })), 'stale');
    assert.equal(verify(doc({ timestamp: NOW + 30_000 })).timestamp, NOW + 30_000);
    refused(() => verify(doc({ timestamp: NOW + 30_001 })), 'stale');
  });

  test('wrong PCR lengths and indices', () => {
    for (const len of [0, 32, 47, 49, 64]) {
      const m = validPayloadMap();
      m.set('pcrs', new Map([[0, new Uint8Array(len)]]));
      refused(() => verify(rawDoc({ payloadMap: m })), 'malformed');
    }
    for (const pcrs of [new Map(), new Map([[32, pcr(1)]]), new Map([[-1, pcr(1)]]), new Map([['0', pcr(1)]]), [pcr(1)]]) {
      const m = validPayloadMap();
      m.set('pcrs', pcrs);
      refused(() => verify(rawDoc({ payloadMap: m })), 'malformed');
    }
  });

  test('wrong CBOR types, missing and unknown fields', () => {
    const cases: Array<[string, unknown]> = [
      ['module_id', ''],
      ['module_id', 7],
      ['digest', 'SHA256'],
      ['timestamp', 0],
      ['timestamp', -5],
      ['timestamp', '1800000000000'],
      ['timestamp', 1.5],
      ['certificate', new Uint8Array(0)],
      ['certificate', new Uint8Array(1025)],
      ['cabundle', []],
      ['cabundle', [new Uint8Array(0)]],
      ['public_key', 'key'],
      ['public_key', new Uint8Array(1025)],
      ['nonce', new Uint8Array(1025)],
      ['user_data', 5],
    ];
    for (const [field, value] of cases) {
      const m = validPayloadMap();
      m.set(field, value);
      refused(() => verify(rawDoc({ payloadMap: m })), 'malformed');
    }
    for (const field of ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle']) {
      const m = validPayloadMap();
      m.delete(field);
      refused(() => verify(rawDoc({ payloadMap: m })), 'malformed');
    }
    const extra = validPayloadMap();
    extra.set('pcr_extra', 1);
    refused(() => verify(rawDoc({ payloadMap: extra })), 'malformed');
    refused(() => verify(rawDoc({ payload: encode(['not', 'a', 'map']) })), 'malformed');
  });

  test('non-canonical CBOR: over-long integers, indefinite lengths, duplicate keys', () => {
    // timestamp as a 64-bit integer whose value fits in fewer bytes is fine (NOW needs 8 bytes); 'digest' length as 1-byte length prefix is not minimal.
    const good = encode(validPayloadMap());
    const nonMinimal = Buffer.from(good).toString('hex').replace('66646967657374', '7806646967657374'); // text(6) "digest" -> text(uint8 6)
    assert.notEqual(nonMinimal, Buffer.from(good).toString('hex'));
    refused(() => verify(rawDoc({ payload: new Uint8Array(Buffer.from(nonMinimal, 'hex')) })), 'malformed');
    // An indefinite-length outer array.
    const cose = decodeCoseSign1(doc());
    const indefinite = new Uint8Array([0x9f, ...encode(encode(new Map([[1, -35]]))), 0xa0, ...encode(cose.payload), ...encode(cose.signature), 0xff]);
    refused(() => verify(indefinite), 'malformed');
    // Duplicate map keys in the payload ("digest" twice).
    const dup =
      Buffer.from(good).toString('hex').replace(/^a9/, 'aa') + Buffer.from(encode('digest')).toString('hex') + Buffer.from(encode('SHA384')).toString('hex');
    refused(() => verify(rawDoc({ payload: new Uint8Array(Buffer.from(dup, 'hex')) })), 'malformed');
  });

  test('COSE structure: wrong item count, types, unprotected parameters, signature length', () => {
    const cose = decodeCoseSign1(doc());
    const ph = encode(new Map([[1, -35]]));
    refused(() => verify(encode([ph, new Map(), cose.payload])), 'malformed');
    refused(() => verify(encode([ph, new Map(), cose.payload, cose.signature, new Uint8Array(0)])), 'malformed');
    refused(() => verify(encode([ph, new Map(), 'payload', cose.signature])), 'malformed');
    refused(() => verify(encode(new Map([[1, 2]]))), 'malformed');
    refused(() => verify(rawDoc({ unprotected: new Map([[4, new Uint8Array(1)]]) })), 'malformed');
    refused(() => verify(encode([ph, new Map(), cose.payload, cose.signature.subarray(0, 64)])), 'malformed');
  });
});

describe('platform keys', () => {
  test('trusted-key configuration takes base64 DER SubjectPublicKeyInfo of P-384 keys only', () => {
    const list = parseTrustedKeys(`${encodeTrustedKey(platform.spki)}, ${encodeTrustedKey(other.spki)}`);
    assert.deepEqual(list, [platform.spki, other.spki]);
    assert.deepEqual(parseTrustedKeys(undefined), []);
    assert.throws(() => parseTrustedKeys('not base64!'), PlatformKeyError);
    assert.throws(() => parseTrustedKeys(Buffer.from(rsaSpki).toString('base64')), /entry 1 is not a P-384 public key/);
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    assert.throws(() => parseTrustedKeys(`${encodeTrustedKey(platform.spki)} ${p256}`), /entry 2 is not a P-384 public key/);
  });

  test('a platform key is rebuilt from its secret with the same public key', () => {
    assert.deepEqual(PlatformKey.fromSecret(secret).spki, platform.spki);
    assert.throws(() => PlatformKey.fromSecret(new Uint8Array(48)), RangeError);
    assert.throws(() => PlatformKey.fromSecret(new Uint8Array(32)), RangeError);
  });
});

describe('Recipient verification (custodian side)', () => {
  const verifier = () => new RecipientAttestation({ trustedKeys: [platform.spki] });

  test('gives the ImageSha384 and PCR condition keys in lower-case hex', () => {
    const r = verifier().accept(doc(), NOW);
    assert.equal(r.conditions[IMAGE_SHA384_KEY], 'a0'.repeat(48));
    assert.equal(r.conditions['kms:RecipientAttestation:PCR0'], 'a0'.repeat(48));
    assert.equal(r.conditions['kms:RecipientAttestation:PCR1'], 'a1'.repeat(48));
    assert.equal(r.conditions['kms:RecipientAttestation:PCR2'], 'a2'.repeat(48));
    // A document that states no purpose is a signature's release (src/attestation/release-purpose.ts).
    assert.equal(r.conditions['symbolon:SplitSharePurpose'], 'sign');
    assert.deepEqual(
      Object.keys(r.conditions).sort(),
      [
        IMAGE_SHA384_KEY,
        'kms:RecipientAttestation:PCR0',
        'kms:RecipientAttestation:PCR1',
        'kms:RecipientAttestation:PCR2',
        'symbolon:SplitSharePurpose',
      ].sort(),
    );
    assert.deepEqual(r.spki, rsaSpki);
    assert.equal(r.key.asymmetricKeyType, 'rsa');
  });

  test('inside its session a verified document is accepted again from a hash lookup, with the same result', () => {
    const v = verifier();
    assert.equal(v.sessionMs, 60_000);
    const d = doc();
    const first = v.accept(d, NOW);
    assert.deepEqual(v.stats, { verified: 1, sessionHits: 0 });
    const again = v.accept(d, NOW + 30_000);
    const last = v.accept(Uint8Array.from(d), NOW + 59_999); // the same bytes in another buffer
    assert.deepEqual(v.stats, { verified: 1, sessionHits: 2 }, 'no second verification');
    assert.equal(again, first);
    assert.equal(last, first);
    assert.ok(Object.isFrozen(first.conditions), 'a shared result cannot be altered by one release');
    assert.ok(Object.isFrozen(first));
    // Another document of the same session key and measurements is verified in full, and shares the result
    // object (a session entry holds a reference: memory per remembered document stays small).
    const next = v.accept(doc(), NOW + 1);
    assert.deepEqual(v.stats, { verified: 2, sessionHits: 2 });
    assert.equal(next, first);
    assert.notEqual(
      v.accept(
        doc({ publicKey: new Uint8Array(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' })) }),
        NOW + 2,
      ),
      first,
    );
  });

  test('the session is keyed by the exact bytes: one changed byte is another document, verified in full', () => {
    const v = verifier();
    const d = doc();
    v.accept(d, NOW);
    const flipped = Uint8Array.from(d);
    flipped[flipped.length - 1]! ^= 1;
    refused(() => v.accept(flipped, NOW + 1000), 'bad_signature');
    assert.deepEqual(v.stats, { verified: 1, sessionHits: 0 });
  });

  test('after its session (60 s from the first use) the same document is refused as stale', () => {
    const v = verifier();
    const d = doc();
    v.accept(d, NOW);
    refused(() => v.accept(d, NOW + 60_000), 'stale');
    refused(() => v.accept(d, NOW + 200_000), 'stale');
    assert.deepEqual(v.stats, { verified: 1, sessionHits: 0 });
  });

  test('the session never outlives the document: one first used at 4m50s is good for 10 s more', () => {
    const v = verifier();
    const d = doc({ timestamp: NOW - 290_000 });
    v.accept(d, NOW);
    v.accept(d, NOW + 9_999);
    refused(() => v.accept(d, NOW + 10_000), 'stale');
  });

  test('another document reusing a nonce already seen is refused as replayed, inside and after the session', () => {
    const v = verifier();
    const nonce = new Uint8Array(randomBytes(32));
    v.accept(doc({ nonce }), NOW);
    refused(() => v.accept(doc({ nonce, timestamp: NOW + 1 }), NOW + 1000), 'replayed');
    refused(() => v.accept(doc({ nonce, timestamp: NOW + 61_000 }), NOW + 61_000), 'replayed');
    // A fresh document is accepted.
    v.accept(doc(), NOW + 1000);
  });

  test('with sessionMs 0 (SYMBOLON_ATTESTATION_SESSION_SECONDS=0) a document is good for one release', () => {
    const v = new RecipientAttestation({ trustedKeys: [platform.spki], sessionMs: 0 });
    const nonce = new Uint8Array(randomBytes(32));
    const first = doc({ nonce });
    v.accept(first, NOW);
    refused(() => v.accept(first, NOW + 1), 'replayed');
    refused(() => v.accept(first, NOW + 1000), 'replayed');
    refused(() => v.accept(doc({ nonce, timestamp: NOW + 1 }), NOW + 1000), 'replayed');
    assert.deepEqual(v.stats, { verified: 1, sessionHits: 0 });
    v.accept(doc(), NOW + 1000);
    assert.throws(() => new RecipientAttestation({ trustedKeys: [], sessionMs: -1 }), RangeError);
  });

  test('a replayed document is also refused after its memory would have expired, as stale', () => {
    const v = verifier();
    const d = doc();
    v.accept(d, NOW);
    refused(() => v.accept(d, NOW + 330_001), 'stale');
  });

  test('the memory bound holds: beyond it new documents are refused, documents in their session still work', () => {
    const v = new RecipientAttestation({ trustedKeys: [platform.spki], maxRemembered: 2 });
    const a = doc();
    v.accept(a, NOW);
    v.accept(doc(), NOW);
    refused(() => v.accept(doc(), NOW), 'replayed');
    v.accept(a, NOW + 1);
  });

  test('the recipient key must be an RSA SubjectPublicKeyInfo', () => {
    const v = verifier();
    const ec = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }));
    refused(() => v.accept(doc({ publicKey: ec }), NOW), 'bad_public_key');
    refused(() => v.accept(doc({ publicKey: new Uint8Array([1, 2, 3]) }), NOW), 'bad_public_key');
    const small = new Uint8Array(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' }));
    refused(() => v.accept(doc({ publicKey: small }), NOW), 'bad_public_key');
    refused(() => v.accept(rawDoc({ payloadMap: new Map([...validPayloadMap(), ['public_key', null]]) }), NOW), 'bad_public_key');
  });

  test('refused documents are not remembered (a valid one can follow)', () => {
    const v = verifier();
    refused(() => v.accept(doc({ key: other }), NOW), 'untrusted_platform');
    const nonce = new Uint8Array(randomBytes(32));
    refused(() => v.accept(doc({ nonce, timestamp: NOW - 400_000 }), NOW), 'stale');
    v.accept(doc({ nonce }), NOW);
  });
});

describe('CiphertextForRecipient (CMS EnvelopedData)', () => {
  const share = new Uint8Array(randomBytes(32));
  const recipient = { key: rsa.publicKey, spki: rsaSpki };

  test('opens only with the recipient private key', () => {
    const cms = sealForRecipient(share, recipient);
    assert.deepEqual(openForRecipient(cms, rsa.privateKey, 32), share);
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    assert.throws(() => openForRecipient(cms, stranger, 32), RecipientOpenError);
    // Two releases of the same share differ (fresh content key and IV).
    assert.notDeepEqual(sealForRecipient(share, recipient), cms);
    // The share's bytes do not appear in the envelope.
    assert.equal(Buffer.from(cms).indexOf(Buffer.from(share)), -1);
  });

  test('every single-byte change is refused with the same error (no padding oracle)', () => {
    const cms = sealForRecipient(share, recipient);
    // The recipient identifier only names the key (KMS's own choice of identifier is not checked).
    const ski = Buffer.from(cms).indexOf(createHash('sha256').update(rsaSpki).digest());
    const messages = new Set<string>();
    for (let i = 0; i < cms.length; i++) {
      if (i >= ski && i < ski + 32) continue;
      const t = new Uint8Array(cms);
      t[i]! ^= 0x01;
      try {
        const opened = openForRecipient(t, rsa.privateKey, 32);
        // A flip in the IV or ciphertext may still decrypt, to a different share: never to the original.
        assert.notDeepEqual(opened, share, `byte ${i}`);
      } catch (e) {
        assert.ok(e instanceof RecipientOpenError, `byte ${i}`);
        messages.add((e as Error).message);
      }
    }
    assert.equal(messages.size, 1);
    assert.throws(() => openForRecipient(new Uint8Array([...cms, 0]), rsa.privateKey, 32), RecipientOpenError);
    assert.throws(() => openForRecipient(cms, rsa.privateKey, 16), RecipientOpenError);
  });

  test('openForRecipientAsync (WebCrypto RSA-OAEP on the thread pool) opens what the synchronous one opens, and refuses what it refuses', async () => {
    const pkcs8 = rsa.privateKey.export({ format: 'der', type: 'pkcs8' });
    const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
    const cms = sealForRecipient(share, recipient);
    assert.deepEqual(await openForRecipientAsync(cms, key, 32), share);
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' });
    const strangerKey = await webcrypto.subtle.importKey('pkcs8', stranger, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
    await assert.rejects(openForRecipientAsync(cms, strangerKey, 32), RecipientOpenError);
    // A key for another OAEP hash does not open it either (SHA-1 OAEP is another decryption).
    const sha1Key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSA-OAEP', hash: 'SHA-1' }, false, ['decrypt']);
    await assert.rejects(openForRecipientAsync(cms, sha1Key, 32), RecipientOpenError);
    // Every single-byte change: the async and sync openings agree (same share or the same single error).
    const ski = Buffer.from(cms).indexOf(createHash('sha256').update(rsaSpki).digest());
    for (let i = 0; i < cms.length; i++) {
      if (i >= ski && i < ski + 32) continue;
      const t = new Uint8Array(cms);
      t[i]! ^= 0x01;
      let sync: Uint8Array | Error;
      try {
        sync = openForRecipient(t, rsa.privateKey, 32);
      } catch (e) {
        sync = e as Error;
      }
      const async_ = await openForRecipientAsync(t, key, 32).catch((e: Error) => e);
      if (sync instanceof Uint8Array) assert.deepEqual(async_, sync, `byte ${i}`);
      else {
        assert.ok(async_ instanceof RecipientOpenError, `byte ${i}`);
        assert.equal(async_.message, sync.message);
      }
    }
    await assert.rejects(openForRecipientAsync(cms, key, 16), RecipientOpenError);
  });

  test("is true CMS: OpenSSL opens ours, and we open OpenSSL's (DER and indefinite-length BER)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'symbolon-cms-'));
    try {
      const keyFile = join(dir, 'key.pem');
      writeFileSync(keyFile, rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      writeFileSync(join(dir, 'ours.der'), sealForRecipient(share, recipient));
      const opened = execFileSync('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', join(dir, 'ours.der'), '-inkey', keyFile]);
      assert.deepEqual(new Uint8Array(opened), share);

      execFileSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-subj', '/CN=signer', '-days', '1', '-out', join(dir, 'cert.pem')]);
      writeFileSync(join(dir, 'share.bin'), share);
      for (const streaming of [[], ['-stream', '-indef']]) {
        const out = execFileSync('openssl', [
          'cms',
          '-encrypt',
          '-binary',
          '-aes-256-cbc',
          '-in',
          join(dir, 'share.bin'),
          '-recip',
          join(dir, 'cert.pem'),
          '-keyopt',
          'rsa_padding_mode:oaep',
          '-keyopt',
          'rsa_oaep_md:sha256',
          '-keyopt',
          'rsa_mgf1_md:sha256',
          '-outform',
          'DER',
          ...streaming,
        ]);
        assert.deepEqual(openForRecipient(new Uint8Array(out), rsa.privateKey, 32), share);
      }
      // OAEP with SHA-1 (OpenSSL's default) is not what KMS sends, and is refused.
      const sha1 = execFileSync('openssl', [
        'cms',
        '-encrypt',
        '-binary',
        '-aes-256-cbc',
        '-in',
        join(dir, 'share.bin'),
        '-recip',
        join(dir, 'cert.pem'),
        '-keyopt',
        'rsa_padding_mode:oaep',
        '-outform',
        'DER',
      ]);
      assert.throws(() => openForRecipient(new Uint8Array(sha1), rsa.privateKey, 32), RecipientOpenError);
      assert.equal(readFileSync(join(dir, 'share.bin')).length, 32);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the recipient key identifier is the SHA-256 of the SubjectPublicKeyInfo', () => {
    const cms = Buffer.from(sealForRecipient(share, recipient));
    assert.notEqual(cms.indexOf(createHash('sha256').update(rsaSpki).digest()), -1);
  });
});
