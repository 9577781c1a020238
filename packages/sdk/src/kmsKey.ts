/**
 * One secp256k1 KMS key as an Ethereum key: its address (from GetPublicKey,
 * fetched once and cached) and canonical signatures of 32-byte digests (from
 * Sign, ECDSA_SHA_256 over a DIGEST message). Shared by KmsSigner and
 * toKmsAccount; works against Symbolon's custodian and AWS KMS alike, over
 * the AWS SDK's KMSClient or anything with its `send` (e.g. the lean
 * createKmsHttpClient). yParity comes from noble by default, or from a
 * pluggable ParityFunction (libsecp256k1 via `@symbolon/sdk/node`).
 */
import { GetPublicKeyCommand, KMSClient, SignCommand, type KMSClientConfig } from '@aws-sdk/client-kms';
import { bytesToHex, type Address, type Hex } from 'viem';
import { publicKeyToAddress } from 'viem/utils';
import { canonicalSignature, type CanonicalSignature, type ParityFinder, type ParityFunction } from './canonicalSignature.js';
import { KmsKeyError, KmsSignatureError } from './errors.js';
import type { KmsHttpClient } from './kmsHttpClient.js';
import { RecoveryParity } from './recoveryParity.js';
import { withThrottlingRetry, type RetryOptions } from './retry.js';
import { pointFromSpki } from './spki.js';

/** A KMSClient, the lean createKmsHttpClient, or the configuration to make a KMSClient (region, endpoint, credentials, ...). */
export type KmsClientInput = KMSClient | KmsHttpClient | KMSClientConfig;

/**
 * Uses `client` if it is a client (anything with `send`), or builds a KMSClient
 * from a configuration — with `cacheMiddleware: true` unless the configuration
 * says otherwise: the AWS SDK then resolves each command's middleware stack
 * once instead of on every call (about a fifth of its CPU per Sign here).
 */
export function toKmsClient(client: KmsClientInput): KMSClient | KmsHttpClient {
  if (client instanceof KMSClient || typeof (client as { send?: unknown }).send === 'function') return client as KMSClient | KmsHttpClient;
  return new KMSClient({ cacheMiddleware: true, ...(client as KMSClientConfig) });
}

/** What GetPublicKey says about the key, decoded once. */
export interface KmsPublicKey {
  /** The key's Ethereum address (EIP-55). */
  address: Address;
  /** The uncompressed SEC 1 point, 0x04 || x || y, as hex. */
  publicKey: Hex;
  /** The DER SubjectPublicKeyInfo KMS returned. */
  spki: Uint8Array;
  /** The key's ARN as KMS reports it. */
  keyArn: string | undefined;
}

export interface KmsKeyOptions {
  client: KmsClientInput;
  /** Key id, key ARN, alias name (alias/...) or alias ARN. */
  keyId: string;
  retry?: RetryOptions;
  /**
   * Finds yParity per signature instead of noble's RecoveryParity (the
   * default, browser-safe) — e.g. `nativeParity` from `@symbolon/sdk/node`.
   */
  parity?: ParityFunction;
}

type Loaded = { info: KmsPublicKey; parity: ParityFinder };

/** A KMS signing key seen as an Ethereum key. */
export class KmsKey {
  /** The client it signs through: a KMSClient or the lean client (both have `send`). */
  readonly client: KMSClient | KmsHttpClient;
  readonly keyId: string;
  readonly #retry: RetryOptions;
  readonly #parity: ParityFunction | undefined;
  #publicKey: Promise<Loaded> | undefined;

  /** @throws {TypeError} when keyId is empty. */
  constructor({ client, keyId, retry = {}, parity }: KmsKeyOptions) {
    if (typeof keyId !== 'string' || keyId.length === 0) throw new TypeError('keyId must be a non-empty string');
    if (parity !== undefined && typeof parity !== 'function') throw new TypeError('parity must be a function');
    this.#parity = parity;
    this.client = toKmsClient(client);
    this.keyId = keyId;
    this.#retry = retry;
  }

  async #load(): Promise<Loaded> {
    const out = await withThrottlingRetry(() => (this.client as KmsHttpClient).send(new GetPublicKeyCommand({ KeyId: this.keyId })), this.#retry);
    if (out.KeySpec !== undefined && out.KeySpec !== 'ECC_SECG_P256K1') {
      throw new KmsKeyError('NOT_SECP256K1', `KMS key ${this.keyId} has key spec ${out.KeySpec}, not ECC_SECG_P256K1.`);
    }
    if (out.KeyUsage !== undefined && out.KeyUsage !== 'SIGN_VERIFY') {
      throw new KmsKeyError('NOT_SIGN_VERIFY', `KMS key ${this.keyId} has key usage ${out.KeyUsage}, not SIGN_VERIFY.`);
    }
    if (!out.PublicKey) throw new KmsKeyError('NO_PUBLIC_KEY', `GetPublicKey returned no public key for ${this.keyId}.`);
    const spki = out.PublicKey;
    const point = pointFromSpki(spki);
    let parity: RecoveryParity;
    try {
      parity = new RecoveryParity(point);
    } catch (cause) {
      throw new KmsKeyError('INVALID_PUBLIC_KEY', `Public key of ${this.keyId} is not a point on secp256k1.`, { cause });
    }
    const uncompressed = parity.uncompressed();
    const publicKey = bytesToHex(uncompressed);
    const custom = this.#parity;
    // The point is validated by noble above either way; a custom finder only replaces the per-signature work.
    const finder: ParityFinder = custom
      ? (sig, digest, hint) => (hint === undefined ? custom(sig, digest, uncompressed) : custom(sig, digest, uncompressed, hint))
      : parity;
    return { info: { address: publicKeyToAddress(publicKey), publicKey, spki, keyArn: out.KeyId }, parity: finder };
  }

  #cached(): Promise<Loaded> {
    if (!this.#publicKey) {
      const pending = this.#load();
      this.#publicKey = pending;
      // A failed fetch is not cached: the next call asks again.
      pending.catch(() => {
        if (this.#publicKey === pending) this.#publicKey = undefined;
      });
    }
    return this.#publicKey;
  }

  /**
   * The key's address and public key (GetPublicKey once, then cached).
   * @throws {KmsKeyError} when the key is not a secp256k1 signing key; KMS errors as the AWS SDK raises them.
   */
  async getPublicKey(): Promise<KmsPublicKey> {
    return (await this.#cached()).info;
  }

  /** The key's EIP-55 address. @throws as {@link getPublicKey}. */
  async getAddress(): Promise<Address> {
    return (await this.#cached()).info.address;
  }

  /**
   * Signs a 32-byte digest with KMS and returns the canonical Ethereum signature.
   * @throws {RangeError} when `digest` is not 32 bytes.
   * @throws {KmsSignatureError} when KMS returns a malformed signature or one not by this key.
   */
  async signDigest(digest: Uint8Array): Promise<CanonicalSignature> {
    if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new RangeError('digest must be 32 bytes');
    const [{ parity }, out] = await Promise.all([
      this.#cached(),
      withThrottlingRetry(
        () =>
          (this.client as KmsHttpClient).send(
            new SignCommand({ KeyId: this.keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
          ),
        this.#retry,
      ),
    ]);
    if (!out.Signature) throw new KmsSignatureError('NO_SIGNATURE', `Sign returned no signature for ${this.keyId}.`);
    // Symbolon's custodian reports the recovery id (through the lean client); it only orders the parity trials.
    const hint = (out as { $recoveryIdHint?: unknown }).$recoveryIdHint;
    return canonicalSignature(out.Signature, digest, parity, hint === 0 || hint === 1 ? hint : undefined);
  }
}
