/**
 * KmsSigner: an ethers v6 Signer whose key lives in a KMS (Symbolon's
 * custodian or AWS KMS). It behaves like ethers' own Wallet — same request
 * normalisation (ethers' Transaction), same hashes (hashMessage,
 * TypedDataEncoder, hashAuthorization), and the bytes a Wallet with the same
 * key would produce (legacy, EIP-2930 and EIP-1559 transactions are encoded
 * with viem's serializer, which is byte-identical and four times cheaper;
 * the rest with ethers') — except that each digest is signed by KMS and
 * made canonical here (strict DER, low-s, yParity by recovery against the
 * key's address). `v` follows the payload: EIP-155 for legacy transactions
 * with a chain id, yParity for typed transactions, 27/28 for messages.
 */
import {
  AbstractSigner,
  Signature,
  Transaction,
  TypedDataEncoder,
  copyRequest,
  getAddress,
  getBigInt,
  getBytes,
  hashAuthorization,
  hashMessage,
  resolveAddress,
  type AddressLike,
  type Authorization,
  type AuthorizationRequest,
  type Provider,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';
import { hexToBytes, keccak256, serializeTransaction, type Address, type Hex, type TransactionSerializable } from 'viem';
import { UnsignableError } from './errors.js';
import { assertTypedDataWithinLimits } from './typedDataLimits.js';
import { KmsKey, type KmsClientInput } from './kmsKey.js';
import type { CanonicalSignature, ParityFunction } from './canonicalSignature.js';
import type { RetryOptions } from './retry.js';

export interface KmsSignerOptions {
  /** A KMSClient, or its configuration. */
  client: KmsClientInput;
  /** Key id, key ARN, alias name or alias ARN of an ECC_SECG_P256K1 / SIGN_VERIFY key. */
  keyId: string;
  /** The provider for sendTransaction, nonces, fees and ENS (optional). */
  provider?: Provider | null;
  /** Backoff for ThrottlingException. */
  retry?: RetryOptions;
  /** yParity finder in place of noble's (default): e.g. `nativeParity` from `@symbolon/sdk/node`. */
  parity?: ParityFunction;
}

/** EIP-55 forms of hex addresses seen before: ethers' getAddress costs a keccak (about 20 µs) per call. */
const checksummed = new Map<string, string>();
const MAX_CHECKSUMMED = 4_096;
const HEX_ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * `target` resolved as ethers' resolveAddress does (hex → EIP-55, a bad mixed-case
 * checksum refused; anything else through the provider's ENS), with hex
 * addresses answered from a bounded cache of earlier results.
 */
async function resolveTarget(target: AddressLike, signer: KmsSigner): Promise<string> {
  if (typeof target !== 'string' || !HEX_ADDRESS.test(target)) return resolveAddress(target, signer);
  let out = checksummed.get(target);
  if (out === undefined) {
    out = getAddress(target); // throws on a bad checksum: nothing is cached then
    if (checksummed.size >= MAX_CHECKSUMMED) checksummed.delete(checksummed.keys().next().value!);
    checksummed.set(target, out);
  }
  return out;
}

function toEthersSignature(sig: CanonicalSignature): Signature {
  // ethers derives the EIP-155 v from the transaction's chain id itself; 27/28 here.
  return Signature.from({ r: sig.r, s: sig.s, v: 27 + sig.yParity });
}

/**
 * The viem form of an ethers-normalised legacy, EIP-2930 or EIP-1559
 * transaction (its `to` given apart, already checksummed), or undefined for the types ethers encodes itself here (blob and
 * EIP-7702 transactions, whose ethers and viem request shapes differ more).
 */
function viemSerializable(btx: Transaction, to: string | undefined): TransactionSerializable | undefined {
  // viem takes chain ids as numbers and refuses typed transactions on chain 0: leave those to ethers.
  if (btx.chainId > BigInt(Number.MAX_SAFE_INTEGER) || (btx.type !== 0 && btx.chainId === 0n)) return undefined;
  const common = {
    nonce: btx.nonce,
    gas: btx.gasLimit,
    value: btx.value,
    data: btx.data as Hex,
    ...(to ? { to: to as Address } : {}),
  };
  const accessList = (btx.accessList ?? []).map((e) => ({ address: e.address as Address, storageKeys: e.storageKeys as Hex[] }));
  switch (btx.type) {
    case 0:
      // A legacy transaction without a chain id is signed without EIP-155.
      return { type: 'legacy', ...common, gasPrice: btx.gasPrice ?? 0n, ...(btx.chainId !== 0n ? { chainId: Number(btx.chainId) } : {}) };
    case 1:
      return { type: 'eip2930', ...common, chainId: Number(btx.chainId), gasPrice: btx.gasPrice ?? 0n, accessList };
    case 2:
      return {
        type: 'eip1559',
        ...common,
        chainId: Number(btx.chainId),
        maxFeePerGas: btx.maxFeePerGas ?? 0n,
        maxPriorityFeePerGas: btx.maxPriorityFeePerGas ?? 0n,
        accessList,
      };
    default:
      return undefined;
  }
}

/** An ethers v6 Signer over one KMS key. */
export class KmsSigner extends AbstractSigner {
  readonly #key: KmsKey;

  /** @throws {TypeError} when keyId is empty. */
  constructor(options: KmsSignerOptions | { key: KmsKey; provider?: Provider | null }) {
    super(options.provider ?? null);
    this.#key =
      'key' in options
        ? options.key
        : new KmsKey({
            client: options.client,
            keyId: options.keyId,
            ...(options.retry ? { retry: options.retry } : {}),
            ...(options.parity ? { parity: options.parity } : {}),
          });
  }

  /** The KMS key id this signer signs with. */
  get keyId(): string {
    return this.#key.keyId;
  }

  /** The underlying KMS key (address cache, digest signing). */
  get kmsKey(): KmsKey {
    return this.#key;
  }

  /** A signer for the same key (sharing its cached public key) on another provider. */
  override connect(provider: Provider | null): KmsSigner {
    return new KmsSigner({ key: this.#key, provider });
  }

  /** The key's EIP-55 address (GetPublicKey once, then cached). */
  override async getAddress(): Promise<Address> {
    return this.#key.getAddress();
  }

  /**
   * Signs a transaction of any type ethers serializes (legacy with or without
   * EIP-155, EIP-2930, EIP-1559, EIP-4844, EIP-7702) and returns the signed bytes.
   * @throws {UnsignableError} when `from` is another address.
   * @throws {KmsSignatureError} when KMS returns a signature that is not by this key.
   */
  override async signTransaction(request: TransactionRequest): Promise<string> {
    const tx = copyRequest(request);
    const to = tx.to == null ? undefined : await resolveTarget(tx.to, this);
    const from = tx.from == null ? undefined : await resolveTarget(tx.from, this);
    const address = await this.getAddress();
    if (from !== undefined && from !== address) throw new UnsignableError('FROM_MISMATCH', 'Transaction "from" is not this signer\'s address.');
    delete tx.from;
    // Legacy, EIP-2930 and EIP-1559 go to viem's serializer with the `to` resolved above, so ethers'
    // Transaction normalises the rest without checksumming `to` a second time; other types keep it.
    const viemType = tx.type === 0 || tx.type === 1 || tx.type === 2;
    if (viemType) delete tx.to;
    else if (to !== undefined) tx.to = to;
    const btx = Transaction.from(tx as never);
    const fast = viemType ? viemSerializable(btx, to) : undefined;
    if (fast) {
      // Same bytes as ethers' own encoding (the differential tests check it), at a
      // quarter of the cost: ethers re-serialises twice through its Transaction object.
      const sig = await this.#key.signDigest(hexToBytes(keccak256(serializeTransaction(fast))));
      return serializeTransaction(fast, { r: sig.r, s: sig.s, yParity: sig.yParity, v: 27n + BigInt(sig.yParity) });
    }
    if (to !== undefined) btx.to = to;
    btx.signature = toEthersSignature(await this.#key.signDigest(getBytes(btx.unsignedHash)));
    return btx.serialized;
  }

  /**
   * Signs an EIP-191 personal message; returns r || s || v with v = 27 + yParity.
   * @throws {KmsSignatureError} when KMS returns a signature that is not by this key.
   */
  override async signMessage(message: string | Uint8Array): Promise<string> {
    return toEthersSignature(await this.#key.signDigest(getBytes(hashMessage(message)))).serialized;
  }

  /**
   * Signs EIP-712 typed data (v4); ENS names in it are resolved through the provider.
   * Returns r || s || v with v = 27 + yParity (no EIP-155: the chain id is in the domain).
   * @throws {UnsignableError} TYPED_DATA_LIMIT over the typed-data bounds (checked before hashing).
   * @throws {KmsSignatureError} when KMS returns a signature that is not by this key.
   */
  override async signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string> {
    // ethers infers the primary type; the bounds do not depend on which it is.
    assertTypedDataWithinLimits({ domain, types, primaryType: '', message: value });
    const populated = await TypedDataEncoder.resolveNames(domain, types, value, async (name) => {
      if (!this.provider) throw new UnsignableError('NO_PROVIDER', 'Resolving an ENS name in typed data needs a provider.');
      const resolved = await this.provider.resolveName(name);
      if (resolved == null) throw new UnsignableError('UNCONFIGURED_NAME', 'An ENS name in the typed data does not resolve.');
      return resolved;
    });
    const digest = TypedDataEncoder.hash(populated.domain, types, populated.value);
    return toEthersSignature(await this.#key.signDigest(getBytes(digest))).serialized;
  }

  /**
   * Signs an EIP-7702 authorization (nonce and chain id filled from the provider when absent).
   * @throws {KmsSignatureError} when KMS returns a signature that is not by this key.
   */
  override async authorize(request: AuthorizationRequest): Promise<Authorization> {
    const auth = await this.populateAuthorization({ ...request, address: await resolveAddress(request.address, this) });
    const signature = toEthersSignature(await this.#key.signDigest(getBytes(hashAuthorization(auth))));
    return { address: getAddress(auth.address as string), nonce: getBigInt(auth.nonce ?? 0), chainId: getBigInt(auth.chainId ?? 0), signature };
  }
}
