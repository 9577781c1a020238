/**
 * An envelope wallet's key as the SDK's signers see a key: the same interface
 * as KmsKey (address, public key, canonical signatures of 32-byte digests), so
 * KmsSigner (ethers) and toKmsAccount (viem) sign with it unchanged. Each
 * signature: ask the custodian to Decrypt the data key with the user's session
 * credentials and the context `{ sub }`; open the sealed private key
 * (AES-256-GCM, bound to the address and owner); check that it derives the
 * wallet's address; sign (RFC 6979, low-s, with the recovery bit: noble);
 * wipe the data key and the private key in `finally`.
 *
 * Honest about memory: the key bytes are wiped, but noble turns the key into a
 * bigint for the arithmetic and WebCrypto keeps the data key in a CryptoKey;
 * neither can be wiped, only dropped.
 */
import { DecryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, getAddress, type Address, type Hex } from 'viem';
import { publicKeyToAddress } from 'viem/utils';
import { KmsKey, type KmsPublicKey } from '../kmsKey.js';
import type { CanonicalSignature } from '../canonicalSignature.js';
import { withThrottlingRetry, type RetryOptions } from '../retry.js';
import { openPrivateKey } from './envelopeAead.js';
import { EnvelopeError } from './errors.js';

/** What the device needs to open its key: the two ciphertexts and who it belongs to. */
export interface EnvelopeCiphertexts {
  /** The wallet's address (EIP-55). */
  address: Address;
  /** The token subject the envelope and the encryption context are bound to. */
  owner: string;
  encryptedPrivateKey: Uint8Array;
  encryptedDataKey: Uint8Array;
  /** The user's master key in the custodian. */
  kmsKeyId: string;
}

/** secp256k1 SubjectPublicKeyInfo prefix (RFC 5480: id-ecPublicKey, secp256k1) before the 65-byte point. */
const SPKI_PREFIX = Uint8Array.from([
  0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00,
]);

function wipe(...buffers: Array<Uint8Array | undefined>): void {
  for (const b of buffers) b?.fill(0);
}

/** The EIP-55 address of a secp256k1 public key (uncompressed SEC 1). */
export function addressOfPublicKey(uncompressed: Uint8Array): Address {
  return getAddress(publicKeyToAddress(bytesToHex(uncompressed)));
}

export class EnvelopeKey extends KmsKey {
  readonly #envelope: EnvelopeCiphertexts;
  readonly #kms: KMSClient;
  readonly #retry: RetryOptions;
  #publicKey: KmsPublicKey | undefined;

  /**
   * @param options.client the KMS client signed with the user's session credentials.
   * @throws {TypeError} when the master key id is empty.
   */
  constructor(options: { client: KMSClient; envelope: EnvelopeCiphertexts; retry?: RetryOptions }) {
    super({ client: options.client, keyId: options.envelope.kmsKeyId, ...(options.retry ? { retry: options.retry } : {}) });
    this.#kms = options.client;
    this.#envelope = { ...options.envelope, address: getAddress(options.envelope.address) };
    this.#retry = options.retry ?? {};
  }

  /** The user whose wallet this is (the token subject). */
  get owner(): string {
    return this.#envelope.owner;
  }

  /**
   * Runs `use` with the private key, then wipes it and the data key.
   * @throws {EnvelopeError} DECRYPT_FAILED, ADDRESS_MISMATCH; the custodian's errors as the AWS SDK raises them (AccessDeniedException, …).
   */
  async #withPrivateKey<T>(use: (privateKey: Uint8Array) => T): Promise<T> {
    const env = this.#envelope;
    const out = await withThrottlingRetry(
      () => this.#kms.send(new DecryptCommand({ CiphertextBlob: env.encryptedDataKey, KeyId: env.kmsKeyId, EncryptionContext: { sub: env.owner } })),
      this.#retry,
    );
    const dataKey = out.Plaintext;
    let privateKey: Uint8Array | undefined;
    try {
      if (!dataKey || dataKey.length !== 32)
        throw new EnvelopeError('DECRYPT_FAILED', `The custodian returned a data key of ${dataKey?.length ?? 0} bytes, not 32.`);
      privateKey = await openPrivateKey({ dataKey, sealed: env.encryptedPrivateKey, address: env.address, owner: env.owner });
      const derived = addressOfPublicKey(secp256k1.getPublicKey(privateKey, false));
      if (derived !== env.address) throw new EnvelopeError('ADDRESS_MISMATCH', `The opened key derives ${derived}, not the wallet's ${env.address}.`);
      return use(privateKey);
    } finally {
      wipe(dataKey, privateKey);
    }
  }

  /**
   * Exports the private key to the caller (docs/frame.md, "Export"): decrypted on
   * this device exactly as for a signature, handed to `use`, and wiped after.
   * Nothing leaves the device. Whoever reads it controls the wallet.
   * @throws as {@link signDigest}.
   */
  exportPrivateKey<T>(use: (privateKey: Uint8Array) => T): Promise<T> {
    return this.#withPrivateKey(use);
  }

  /** The wallet's address (from the wallet record; nothing is decrypted). */
  override async getAddress(): Promise<Address> {
    return this.#envelope.address;
  }

  /**
   * The address and public key (one Decrypt the first time, then cached).
   * @throws as {@link signDigest}.
   */
  override async getPublicKey(): Promise<KmsPublicKey> {
    if (!this.#publicKey) {
      const point = await this.#withPrivateKey((sk) => secp256k1.getPublicKey(sk, false));
      const spki = new Uint8Array(SPKI_PREFIX.length + point.length);
      spki.set(SPKI_PREFIX);
      spki.set(point, SPKI_PREFIX.length);
      this.#publicKey = { address: this.#envelope.address, publicKey: bytesToHex(point), spki, keyArn: undefined };
    }
    return this.#publicKey;
  }

  /**
   * Signs a 32-byte digest on the device.
   * @throws {RangeError} when `digest` is not 32 bytes.
   * @throws {EnvelopeError} DECRYPT_FAILED (ciphertexts altered, moved, or not this owner's), ADDRESS_MISMATCH.
   * @throws the custodian's refusals as the AWS SDK raises them (AccessDeniedException, ExpiredTokenException, …).
   */
  override async signDigest(digest: Uint8Array): Promise<CanonicalSignature> {
    if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new RangeError('digest must be 32 bytes');
    const sig = await this.#withPrivateKey((sk) => secp256k1.sign(digest, sk, { prehash: false, lowS: true, format: 'recovered' }));
    // noble's 'recovered' format: recovery byte, then r and s (32 bytes each).
    const yParity = sig[0] === 1 ? 1 : 0;
    return { r: bytesToHex(sig.subarray(1, 33)) as Hex, s: bytesToHex(sig.subarray(33, 65)) as Hex, yParity };
  }
}
