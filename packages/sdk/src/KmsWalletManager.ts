/**
 * KmsWalletManager: Ethereum wallets whose keys live in a KMS (Symbolon's
 * custodian or AWS KMS). A wallet is one ECC_SECG_P256K1 / SIGN_VERIFY key;
 * its address comes from GetPublicKey. Balances and nonces come from an
 * ethers provider; getSigner returns a KmsSigner connected to it.
 */
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  ListAliasesCommand,
  ListKeysCommand,
  ScheduleKeyDeletionCommand,
  type KMSClient,
  type Tag,
} from '@aws-sdk/client-kms';
import { getAddress, isAddress, type Provider } from 'ethers';
import type { Address } from 'viem';
import { SymbolonSdkError } from './errors.js';
import { KmsKey, toKmsClient, type KmsClientInput } from './kmsKey.js';
import { KmsSigner } from './KmsSigner.js';
import { withThrottlingRetry, type RetryOptions } from './retry.js';

export interface KmsWalletManagerOptions {
  client: KmsClientInput;
  /** Needed for getBalance, getNonce and a signer that sends. */
  provider?: Provider | null;
  retry?: RetryOptions;
}

export interface CreateWalletOptions {
  /** An alias for the key: `alias/name` or just `name`. */
  alias?: string;
  /** Tags on the key, as a record or as KMS tag pairs. */
  tags?: Record<string, string> | Tag[];
  description?: string;
}

export interface KmsWallet {
  keyId: string;
  address: Address;
  /** The alias created with the wallet, if any. */
  alias?: string;
}

export interface KmsWalletListing {
  keyId: string;
  keyArn: string | undefined;
  /** Undefined when KMS does not give the key's public key (pending deletion; disabled, on AWS). */
  address: Address | undefined;
  keyState: string | undefined;
  aliases: string[];
  description: string | undefined;
}

export interface ListWalletsOptions {
  /** Told of each listed key that was skipped, and why (the KMS error name). */
  onSkipped?: (keyId: string, reason: 'AccessDeniedException' | 'NotFoundException') => void;
}

const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]{1,250}$/;

/** Creates and finds KMS-backed Ethereum wallets. */
export class KmsWalletManager {
  readonly client: KMSClient;
  readonly provider: Provider | null;
  readonly #retry: RetryOptions;
  readonly #keys = new Map<string, KmsKey>();

  constructor({ client, provider = null, retry = {} }: KmsWalletManagerOptions) {
    // Managing keys (CreateKey, ListKeys, …) needs a KMSClient; the lean client would refuse those commands with a TypeError.
    this.client = toKmsClient(client) as KMSClient;
    this.provider = provider;
    this.#retry = retry;
  }

  #key(keyId: string): KmsKey {
    let key = this.#keys.get(keyId);
    if (!key) {
      key = new KmsKey({ client: this.client, keyId, retry: this.#retry });
      this.#keys.set(keyId, key);
    }
    return key;
  }

  #send<T>(call: () => Promise<T>): Promise<T> {
    return withThrottlingRetry(call, this.#retry);
  }

  /**
   * Creates a secp256k1 signing key (and its alias) and returns its id and address.
   * If the alias cannot be created, the new key is scheduled for deletion (7 days) and the error is thrown.
   * @throws {SymbolonSdkError} on an invalid alias name; KMS errors as the AWS SDK raises them.
   */
  async createWallet(options: CreateWalletOptions = {}): Promise<KmsWallet> {
    const alias = options.alias === undefined ? undefined : options.alias.startsWith('alias/') ? options.alias : `alias/${options.alias}`;
    if (alias !== undefined && (!ALIAS_NAME.test(alias) || alias.startsWith('alias/aws/'))) {
      throw new SymbolonSdkError('INVALID_ALIAS', 'Alias must be alias/ followed by 1-250 of a-z A-Z 0-9 / _ -, and not start with alias/aws/.');
    }
    const tags: Tag[] | undefined = Array.isArray(options.tags)
      ? options.tags
      : options.tags
        ? Object.entries(options.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue }))
        : undefined;
    const created = await this.#send(() =>
      this.client.send(
        new CreateKeyCommand({
          KeySpec: 'ECC_SECG_P256K1',
          KeyUsage: 'SIGN_VERIFY',
          ...(options.description !== undefined ? { Description: options.description } : {}),
          ...(tags ? { Tags: tags } : {}),
        }),
      ),
    );
    const keyId = created.KeyMetadata?.KeyId;
    if (!keyId) throw new SymbolonSdkError('NO_KEY_ID', 'CreateKey returned no key id.');
    if (alias !== undefined) {
      try {
        await this.#send(() => this.client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId })));
      } catch (error) {
        await this.client.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 })).catch(() => undefined);
        throw error;
      }
    }
    const address = await this.#key(keyId).getAddress();
    return { keyId, address, ...(alias !== undefined ? { alias } : {}) };
  }

  /**
   * Every secp256k1 signing key the caller can list and describe, with its
   * address and aliases. A key whose policy does not let the caller describe
   * it (AccessDeniedException: e.g. a user's master key, hidden from the
   * administrator), or that is gone by the time it is described
   * (NotFoundException), is skipped and passed to `onSkipped`.
   * @throws KMS errors as the AWS SDK raises them (ListKeys, ListAliases, and any other DescribeKey error).
   */
  async listWallets(options: ListWalletsOptions = {}): Promise<KmsWalletListing[]> {
    const keyIds: string[] = [];
    let marker: string | undefined;
    do {
      const page = await this.#send(() => this.client.send(new ListKeysCommand({ Limit: 1000, ...(marker ? { Marker: marker } : {}) })));
      for (const k of page.Keys ?? []) if (k.KeyId) keyIds.push(k.KeyId);
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    const aliases = new Map<string, string[]>();
    marker = undefined;
    do {
      const page = await this.#send(() => this.client.send(new ListAliasesCommand({ Limit: 100, ...(marker ? { Marker: marker } : {}) })));
      for (const a of page.Aliases ?? []) {
        if (a.TargetKeyId && a.AliasName) aliases.set(a.TargetKeyId, [...(aliases.get(a.TargetKeyId) ?? []), a.AliasName]);
      }
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    const out: KmsWalletListing[] = [];
    for (const keyId of keyIds) {
      let m;
      try {
        ({ KeyMetadata: m } = await this.#send(() => this.client.send(new DescribeKeyCommand({ KeyId: keyId }))));
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== 'AccessDeniedException' && name !== 'NotFoundException') throw error;
        options.onSkipped?.(keyId, name);
        continue;
      }
      if (!m || m.KeySpec !== 'ECC_SECG_P256K1' || m.KeyUsage !== 'SIGN_VERIFY') continue;
      // AWS answers GetPublicKey for enabled keys only; a key pending deletion never answers.
      const address =
        m.KeyState === 'PendingDeletion'
          ? undefined
          : await this.#key(keyId)
              .getAddress()
              .catch(() => undefined);
      out.push({ keyId, keyArn: m.Arn, address, keyState: m.KeyState, aliases: aliases.get(keyId) ?? [], description: m.Description || undefined });
    }
    return out;
  }

  /** The address of a wallet's key (cached). @throws as KmsKey.getAddress. */
  async getAddress(keyId: string): Promise<Address> {
    return this.#key(keyId).getAddress();
  }

  async #resolve(keyIdOrAddress: string): Promise<string> {
    return isAddress(keyIdOrAddress) ? getAddress(keyIdOrAddress) : this.getAddress(keyIdOrAddress);
  }

  #requireProvider(): Provider {
    if (!this.provider) throw new SymbolonSdkError('NO_PROVIDER', 'This operation needs a provider (pass one to KmsWalletManager).');
    return this.provider;
  }

  /**
   * Balance in wei of a wallet (by key id) or any address.
   * @throws {SymbolonSdkError} without a provider.
   */
  async getBalance(keyIdOrAddress: string, blockTag: string | number = 'latest'): Promise<bigint> {
    const provider = this.#requireProvider();
    return provider.getBalance(await this.#resolve(keyIdOrAddress), blockTag);
  }

  /**
   * Next nonce of a wallet (by key id) or any address; `pending` counts the mempool.
   * @throws {SymbolonSdkError} without a provider.
   */
  async getNonce(keyIdOrAddress: string, blockTag: string | number = 'pending'): Promise<number> {
    const provider = this.#requireProvider();
    return provider.getTransactionCount(await this.#resolve(keyIdOrAddress), blockTag);
  }

  /** A KmsSigner for a wallet's key, connected to this manager's provider, sharing its cached address. */
  getSigner(keyId: string): KmsSigner {
    return new KmsSigner({ key: this.#key(keyId), provider: this.provider });
  }
}
