/**
 * The sealed channel of a split wallet's key export (docs/signer.md,
 * "Export"): HPKE, RFC 9180, base mode, with the suite
 * DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM (RFC 9180 §7:
 * KEM 0x0010, KDF 0x0001, AEAD 0x0002). The device generates a key pair for
 * one export and sends only its public key; the signer seals the 32-byte key
 * to it (sealExportKey); only the device opens it (openExportKey). `info`
 * binds the purpose and the wallet's address (exportInfo), so a sealed key
 * answered for another address or another protocol does not open.
 *
 * Why @hpke/core (pinned): it is the maintained, widely used RFC 9180
 * implementation for JavaScript (tested against the RFC's vectors), with no
 * dependency beyond @hpke/common, and this suite runs entirely on WebCrypto
 * (ECDH P-256, HKDF, AES-GCM), which both Chromium and Node 20 provide — no
 * curve or AEAD code of our own. (@hpke/core generates the pair extractable;
 * it lives in one page's memory for one export and is dropped after it.)
 * X25519/ChaCha20 would need extra modules in some browsers. Code both sides run (the signer and the frame), so it lives
 * in the SDK's sources, as packages/sdk/src/canonicalSignature.ts does.
 */
import { Aes256Gcm, CipherSuite, DhkemP256HkdfSha256, HkdfSha256 } from '@hpke/core';

/** An uncompressed P-256 point: 0x04 || X || Y. */
export const EXPORT_PUBLIC_KEY_BYTES = 65;
/** The private key's length: what an export carries. */
export const EXPORT_KEY_BYTES = 32;

const INFO_PREFIX = 'symbolon/split-key-export/v1 address=';

function suite(): CipherSuite {
  return new CipherSuite({ kem: new DhkemP256HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
}

/** HPKE `info`: the purpose and the wallet's EIP-55 address. */
export function exportInfo(address: string): Uint8Array {
  return new TextEncoder().encode(`${INFO_PREFIX}${address}`);
}

/** A key pair for one export, and its public key to send. */
export async function generateExportKeyPair(): Promise<{ keyPair: CryptoKeyPair; publicKey: Uint8Array }> {
  const s = suite();
  const keyPair = await s.kem.generateKeyPair();
  return { keyPair, publicKey: new Uint8Array(await s.kem.serializePublicKey(keyPair.publicKey)) };
}

/**
 * Seals `key` to the device's `publicKey` for `address` (the signer's side).
 * @throws {RangeError} when `publicKey` is not a 65-byte point or `key` not 32 bytes.
 * @throws from @hpke/core when the point is not on the curve.
 */
export async function sealExportKey(o: { publicKey: Uint8Array; address: string; key: Uint8Array }): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  if (o.publicKey.length !== EXPORT_PUBLIC_KEY_BYTES || o.publicKey[0] !== 0x04)
    throw new RangeError(`publicKey must be an uncompressed P-256 point (${EXPORT_PUBLIC_KEY_BYTES} bytes)`);
  if (o.key.length !== EXPORT_KEY_BYTES) throw new RangeError(`key must be ${EXPORT_KEY_BYTES} bytes`);
  const s = suite();
  const recipientPublicKey = await s.kem.deserializePublicKey(Uint8Array.from(o.publicKey).buffer);
  const sealed = await s.seal({ recipientPublicKey, info: exportInfo(o.address) }, o.key);
  return { enc: new Uint8Array(sealed.enc), ciphertext: new Uint8Array(sealed.ct) };
}

/**
 * Opens what the signer sealed (the device's side). The caller wipes the result.
 * @returns the 32-byte private key.
 * @throws {RangeError} when it does not open for this key pair and address, or is not 32 bytes.
 */
export async function openExportKey(o: { keyPair: CryptoKeyPair; address: string; enc: Uint8Array; ciphertext: Uint8Array }): Promise<Uint8Array> {
  let opened: ArrayBuffer;
  try {
    opened = await suite().open(
      { recipientKey: o.keyPair, enc: Uint8Array.from(o.enc).buffer, info: exportInfo(o.address) },
      Uint8Array.from(o.ciphertext).buffer,
    );
  } catch {
    throw new RangeError('the exported key does not open for this export (altered, or sealed for another address or key)');
  }
  const key = new Uint8Array(opened);
  if (key.length !== EXPORT_KEY_BYTES) {
    key.fill(0);
    throw new RangeError(`the exported key must be ${EXPORT_KEY_BYTES} bytes`);
  }
  return key;
}
