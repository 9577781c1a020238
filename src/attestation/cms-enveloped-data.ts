/**
 * CiphertextForRecipient, exactly as AWS KMS returns it to a Nitro enclave: a
 * CMS ContentInfo holding EnvelopedData (RFC 5652 §6) with one
 * KeyTransRecipientInfo whose content-encryption key is wrapped with
 * RSAES-OAEP, SHA-256 and MGF1-SHA-256 (RFC 8017 §7.1, identifiers from RFC
 * 4055), and the content encrypted with AES-256-CBC and PKCS#7 padding (RFC
 * 3565). That is the format aws-nitro-enclaves-sdk-c and the AWS Nitro
 * samples parse, so a real Nitro-aware client can open what this custodian
 * sends, and this signer can open what AWS KMS sends.
 *
 *   ContentInfo { id-envelopedData, [0] EnvelopedData {
 *     version 2,
 *     recipientInfos SET { KeyTransRecipientInfo {
 *       version 2, rid [0] subjectKeyIdentifier (SHA-256 of the recipient's SPKI),
 *       keyEncryptionAlgorithm id-RSAES-OAEP { [0] sha256, [1] mgf1(sha256) },
 *       encryptedKey OCTET STRING } },
 *     encryptedContentInfo { id-data, aes256-CBC { iv }, [0] IMPLICIT ciphertext } } }
 *
 * Encoding is DER. Decoding accepts BER as well (indefinite lengths,
 * constructed OCTET STRINGs), since RFC 5652 content is BER and AWS documents
 * its output as BER.
 *
 * CBC carries no integrity of its own: the opener here never reports padding
 * separately from any other failure (see openForRecipient), and the signer's
 * address check catches any altered share.
 */
import { createCipheriv, createDecipheriv, createHash, privateDecrypt, publicEncrypt, constants, randomFillSync, webcrypto, type KeyObject } from 'node:crypto';
import { asBytes, concatBytes, equalConstantTime, wipe } from '../crypto/bytes.js';

/** The content could not be opened; deliberately says nothing about why. */
export class RecipientOpenError extends Error {
  override name = 'RecipientOpenError';
  constructor() {
    super('CiphertextForRecipient could not be opened with this recipient key');
  }
}

const OID = {
  envelopedData: [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03], // 1.2.840.113549.1.7.3
  data: [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01], // 1.2.840.113549.1.7.1
  rsaesOaep: [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07], // 1.2.840.113549.1.1.7
  mgf1: [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08], // 1.2.840.113549.1.1.8
  sha256: [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01], // 2.16.840.1.101.3.4.2.1
  aes256Cbc: [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a], // 2.16.840.1.101.3.4.1.42
} as const;

// ---- DER writing ----

function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = concatBytes(...parts);
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return concatBytes(Uint8Array.of(tag, ...len), body);
}
const seq = (...p: Uint8Array[]) => tlv(0x30, ...p);
const bytes = (b: readonly number[]) => Uint8Array.from(b);
const int = (v: number) => tlv(0x02, Uint8Array.of(v));

/** AlgorithmIdentifier of RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 4055 §4.1; sha256 parameters absent). */
const OAEP_SHA256 = seq(bytes(OID.rsaesOaep), seq(tlv(0xa0, seq(bytes(OID.sha256))), tlv(0xa1, seq(bytes(OID.mgf1), seq(bytes(OID.sha256))))));

/** The subject key identifier this module puts in `rid`: SHA-256 of the recipient's DER SubjectPublicKeyInfo. */
export function recipientKeyIdentifier(spki: Uint8Array): Uint8Array {
  return asBytes(createHash('sha256').update(spki).digest());
}

/**
 * Encrypts `plaintext` to an RSA public key as CMS EnvelopedData (DER). The
 * content-encryption key is wiped before returning.
 * @throws {TypeError} when `recipient` is not an RSA public key.
 */
export function sealForRecipient(plaintext: Uint8Array, recipient: { key: KeyObject; spki: Uint8Array }): Uint8Array {
  if (recipient.key.type !== 'public' || recipient.key.asymmetricKeyType !== 'rsa') throw new TypeError('recipient key must be an RSA public key');
  // The content-encryption key and the IV from one CSPRNG call, into memory this function wipes.
  const random = randomFillSync(new Uint8Array(48));
  const cek = random.subarray(0, 32);
  const iv = random.subarray(32, 48);
  try {
    const cipher = createCipheriv('aes-256-cbc', cek, iv);
    const content = concatBytes(asBytes(cipher.update(plaintext)), asBytes(cipher.final()));
    const wrapped = asBytes(publicEncrypt({ key: recipient.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek));
    const ktri = seq(ktriPrefix(recipient.spki), tlv(0x04, wrapped));
    const eci = seq(bytes(OID.data), seq(bytes(OID.aes256Cbc), tlv(0x04, iv)), tlv(0x80, content));
    return seq(bytes(OID.envelopedData), tlv(0xa0, seq(int(2), tlv(0x31, ktri), eci)));
  } finally {
    wipe(random);
  }
}

/**
 * KeyTransRecipientInfo up to its encryptedKey: version 2, rid = [0] subjectKeyIdentifier (SHA-256 of the
 * SPKI), RSAES-OAEP-SHA256. A session's recipient is sealed to for many releases with the same SPKI object
 * (the custodian's attested-session cache hands it out): computed once per such object.
 */
function ktriPrefix(spki: Uint8Array): Uint8Array {
  let prefix = ktriPrefixes.get(spki);
  if (!prefix) {
    prefix = concatBytes(int(2), tlv(0x80, recipientKeyIdentifier(spki)), OAEP_SHA256);
    ktriPrefixes.set(spki, prefix);
  }
  return prefix;
}
const ktriPrefixes = new WeakMap<Uint8Array, Uint8Array>();

// ---- BER reading ----

interface Node {
  tag: number;
  constructed: boolean;
  /** Primitive content, or undefined for constructed nodes. */
  value: Uint8Array | undefined;
  children: Node[];
}

class BerError extends Error {}

/** Nesting deeper than CMS ever goes is refused (a stack-exhaustion guard). */
const MAX_DEPTH = 12;

function readNode(buf: Uint8Array, pos: number, depth: number): { node: Node; end: number } {
  if (depth > MAX_DEPTH) throw new BerError('too deep');
  if (pos + 2 > buf.length) throw new BerError('truncated');
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new BerError('high tag numbers are not used in CMS');
  const constructed = (tag & 0x20) !== 0;
  let p = pos + 1;
  const first = buf[p++]!;
  if (first === 0x80) {
    // Indefinite length (BER only): children until the end-of-contents octets 00 00.
    if (!constructed) throw new BerError('indefinite length on a primitive');
    const children: Node[] = [];
    for (;;) {
      if (p + 2 > buf.length) throw new BerError('truncated');
      if (buf[p] === 0 && buf[p + 1] === 0) return { node: { tag, constructed, value: undefined, children }, end: p + 2 };
      const r = readNode(buf, p, depth + 1);
      children.push(r.node);
      p = r.end;
    }
  }
  let len: number;
  if (first < 0x80) len = first;
  else {
    const n = first & 0x7f;
    if (n > 3 || p + n > buf.length) throw new BerError('length too large');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  const end = p + len;
  if (end > buf.length) throw new BerError('truncated');
  if (!constructed) return { node: { tag, constructed, value: buf.subarray(p, end), children: [] }, end };
  const children: Node[] = [];
  while (p < end) {
    const r = readNode(buf, p, depth + 1);
    if (r.end > end) throw new BerError('child overruns its parent');
    children.push(r.node);
    p = r.end;
  }
  return { node: { tag, constructed, value: undefined, children }, end };
}

function expect(node: Node | undefined, tag: number): Node {
  if (!node || node.tag !== tag) throw new BerError('unexpected structure');
  return node;
}

/** OCTET STRING content, primitive or (BER) constructed from primitive segments; `tag` may be implicit. */
function octets(node: Node): Uint8Array {
  if (!node.constructed) return node.value!;
  return concatBytes(...node.children.map((c) => octets(expect(c, 0x04))));
}

function intValue(node: Node): number {
  const v = node.value!;
  if (v.length !== 1) throw new BerError('unexpected integer');
  return v[0]!;
}

/** RFC 4055 §2.1: SHA-2 parameters are absent, though some encoders send NULL. */
function nullOrAbsent(node: Node | undefined): boolean {
  return node === undefined || (node.tag === 0x05 && node.value!.length === 0);
}

function isOid(node: Node | undefined, oid: readonly number[]): boolean {
  return !!node && node.tag === 0x06 && equalBytes(node.value!, Uint8Array.from(oid.slice(2)));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function checkOaepSha256(alg: Node): void {
  if (!isOid(alg.children[0], OID.rsaesOaep)) throw new BerError('key encryption is not RSAES-OAEP');
  const params = expect(alg.children[1], 0x30);
  const hash = expect(expect(params.children[0], 0xa0).children[0], 0x30);
  const mgf = expect(expect(params.children[1], 0xa1).children[0], 0x30);
  if (!isOid(hash.children[0], OID.sha256) || !nullOrAbsent(hash.children[1])) throw new BerError('OAEP hash is not SHA-256');
  const mgfHash = expect(mgf.children[1], 0x30);
  if (!isOid(mgf.children[0], OID.mgf1) || !isOid(mgfHash.children[0], OID.sha256) || !nullOrAbsent(mgfHash.children[1])) {
    throw new BerError('OAEP mask is not MGF1-SHA-256');
  }
  // A pSourceAlgorithm other than the empty default label would need a label we do not have.
  if (params.children.length > 2) throw new BerError('OAEP label is not supported');
}

interface ParsedEnvelope {
  wrappedKey: Uint8Array;
  iv: Uint8Array;
  content: Uint8Array;
}

function parseEnvelope(cms: Uint8Array): ParsedEnvelope {
  const { node: contentInfo, end } = readNode(cms, 0, 0);
  if (end !== cms.length) throw new BerError('trailing bytes');
  expect(contentInfo, 0x30);
  if (!isOid(contentInfo.children[0], OID.envelopedData)) throw new BerError('not EnvelopedData');
  const env = expect(expect(contentInfo.children[1], 0xa0).children[0], 0x30);
  let i = 0;
  const version = intValue(expect(env.children[i++], 0x02));
  if (version !== 0 && version !== 2) throw new BerError('EnvelopedData version must be 0 or 2 for key transport');
  if (env.children[i]?.tag === 0xa0) i++; // originatorInfo (unused by KMS)
  const recipients = expect(env.children[i++], 0x31).children;
  const eci = expect(env.children[i++], 0x30);
  // Only key-transport recipients (a SEQUENCE); KMS sends exactly one.
  const ktri = recipients.find((r) => r.tag === 0x30);
  if (!ktri || recipients.length !== 1) throw new BerError('expected one KeyTransRecipientInfo');
  // RFC 5652 §6.2.1: version 0 names the key by issuerAndSerialNumber (a SEQUENCE), version 2 by subjectKeyIdentifier ([0]).
  const ktriVersion = intValue(expect(ktri.children[0], 0x02));
  const ridTag = ktri.children[1]?.tag;
  if (!((ktriVersion === 0 && ridTag === 0x30) || (ktriVersion === 2 && ridTag === 0x80)) || ktri.children.length !== 4) {
    throw new BerError('KeyTransRecipientInfo version and recipient identifier disagree');
  }
  const alg = expect(ktri.children[2], 0x30);
  checkOaepSha256(alg);
  const wrappedKey = octets(expect(ktri.children[3], 0x04));
  if (!isOid(eci.children[0], OID.data)) throw new BerError('content is not id-data');
  const cea = expect(eci.children[1], 0x30);
  if (!isOid(cea.children[0], OID.aes256Cbc)) throw new BerError('content encryption is not AES-256-CBC');
  const iv = octets(expect(cea.children[1], 0x04));
  const encrypted = eci.children[2];
  if (!encrypted || (encrypted.tag !== 0x80 && encrypted.tag !== 0xa0)) throw new BerError('no encrypted content');
  const content = encrypted.constructed ? concatBytes(...encrypted.children.map((c) => octets(expect(c, 0x04)))) : encrypted.value!;
  if (iv.length !== 16 || content.length === 0 || content.length % 16 !== 0) throw new BerError('bad CBC sizes');
  return { wrappedKey, iv, content };
}

/**
 * Opens CMS EnvelopedData made for `privateKey` and returns the plaintext,
 * which must be exactly `length` bytes. Every failure — not CMS, wrong key,
 * RSA-OAEP decoding, CBC padding, wrong length — is the same
 * RecipientOpenError, and padding is checked without an early exit, so an
 * active attacker learns nothing from which step failed. The caller wipes the
 * result.
 * @throws {RecipientOpenError}
 */
export function openForRecipient(cms: Uint8Array, privateKey: KeyObject, length: number): Uint8Array {
  let cek: Uint8Array | undefined;
  try {
    const env = parseForOpening(cms, length);
    cek = asBytes(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, env.wrappedKey));
    return decryptContent(env, cek, length);
  } catch {
    throw new RecipientOpenError();
  } finally {
    wipe(cek);
  }
}

/**
 * openForRecipient with the RSA-OAEP private-key operation — most of the
 * opening's CPU — on libuv's thread pool (WebCrypto RSA-OAEP, SHA-256 and
 * MGF1-SHA-256: the same decryption), so the calling thread is free for other
 * requests meanwhile. `decryptKey`: the recipient's private key as a
 * non-extractable RSA-OAEP/SHA-256 CryptoKey. Same single error as
 * openForRecipient; the caller wipes the result.
 * @throws {RecipientOpenError}
 */
export async function openForRecipientAsync(cms: Uint8Array, decryptKey: CryptoKey, length: number): Promise<Uint8Array> {
  let cek: Uint8Array | undefined;
  try {
    const env = parseForOpening(cms, length);
    cek = new Uint8Array(await webcrypto.subtle.decrypt({ name: 'RSA-OAEP' }, decryptKey, env.wrappedKey));
    return decryptContent(env, cek, length);
  } catch {
    throw new RecipientOpenError();
  } finally {
    wipe(cek);
  }
}

function parseForOpening(cms: Uint8Array, length: number): { wrappedKey: Uint8Array; iv: Uint8Array; content: Uint8Array } {
  const env = parseEnvelope(cms);
  if (env.content.length !== (Math.floor(length / 16) + 1) * 16) throw new BerError('unexpected content length');
  return env;
}

/** AES-256-CBC with `cek`, PKCS#7 padding checked in constant time; returns exactly `length` bytes. */
function decryptContent(env: { iv: Uint8Array; content: Uint8Array }, cek: Uint8Array, length: number): Uint8Array {
  let padded: Uint8Array | undefined;
  try {
    if (cek.length !== 32) throw new BerError('content-encryption key is not 256 bits');
    const decipher = createDecipheriv('aes-256-cbc', cek, env.iv);
    decipher.setAutoPadding(false);
    const head = asBytes(decipher.update(env.content));
    const tail = asBytes(decipher.final());
    padded = concatBytes(head, tail);
    wipe(head, tail);
    const pad = padded.length - length;
    // PKCS#7: `pad` bytes of value `pad`; compared in constant time.
    if (!equalConstantTime(padded.subarray(length), new Uint8Array(pad).fill(pad))) throw new BerError('padding');
    return padded.slice(0, length);
  } finally {
    wipe(padded);
  }
}
