/**
 * The envelope custody mode behind the frame (docs/architecture.md "envelope"; issue 5),
 * over the SDK's device-side EnvelopeWalletClient: the user's token becomes
 * STS session credentials; the first login creates the wallet here, on the
 * device (key generated and sealed in this origin, the data key encrypted by
 * the custodian under the user's master key); later logins, on any device,
 * open it; each signature decrypts the data key, opens the key, signs and
 * wipes. Key material exists only inside the SDK's EnvelopeKey, in the
 * frame's origin, for the length of one signature.
 */
import type { Address, Hex, LocalAccount, TransactionSerializable, TypedDataDefinition } from 'viem';
import { EnvelopeWalletClient, type EnvelopeWallet } from '../../packages/sdk/src/envelope/EnvelopeWalletClient.js';
import type { WalletBackend, WalletSession } from './wallet-backend.js';

export interface EnvelopeBackendOptions {
  walletApi: string;
  custodianUrl: string;
  region: string;
  /** The role devices assume with the user's token (AssumeRoleWithWebIdentity). */
  roleArn: string;
}

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

export class EnvelopeBackend implements WalletBackend {
  readonly custodyMode = 'envelope' as const;
  readonly #options: EnvelopeBackendOptions;
  #client: EnvelopeWalletClient | undefined;
  #account: LocalAccount | undefined;
  #wallet: EnvelopeWallet | undefined;

  constructor(options: EnvelopeBackendOptions) {
    this.#options = options;
  }

  /**
   * Opens the user's wallet, creating it on this device the first time.
   * @throws the SDK's EnvelopeError, WalletApiError, StsError, and the custodian's errors.
   */
  async login(session: WalletSession): Promise<Address> {
    this.#client?.destroy();
    const client = new EnvelopeWalletClient({
      walletUrl: this.#options.walletApi,
      custodianUrl: this.#options.custodianUrl,
      region: this.#options.region,
      roleArn: this.#options.roleArn,
      token: () => session.accessToken(),
      custodianToken: () => session.idToken(),
    });
    this.#client = client;
    let wallet: EnvelopeWallet;
    try {
      wallet = await client.getWallet();
    } catch (e) {
      if (codeOf(e) !== 'NO_WALLET') throw e;
      try {
        wallet = await client.createWallet();
      } catch (e2) {
        // Another device or tab of the same user created it meanwhile: one wallet per user, so open that one.
        if (codeOf(e2) !== 'WALLET_EXISTS' && codeOf(e2) !== 'wallet_exists') throw e2;
        wallet = await client.getWallet();
      }
    }
    this.#wallet = wallet;
    this.#account = await wallet.account();
    return this.#account.address;
  }

  address(): Address {
    return this.#opened().address;
  }

  signMessage(message: { raw: Hex }): Promise<Hex> {
    return this.#opened().signMessage({ message });
  }

  signTypedData(typedData: TypedDataDefinition): Promise<Hex> {
    return this.#opened().signTypedData(typedData);
  }

  signTransaction(transaction: TransactionSerializable): Promise<Hex> {
    return this.#opened().signTransaction(transaction);
  }

  /**
   * The private key, decrypted on this device as for a signature, given to
   * `use` (which shows it) and wiped after; nothing is sent anywhere but the
   * custodian's Decrypt of the data key, as for every signature.
   * @throws as a signature's Decrypt.
   */
  exportKey<T>(use: (privateKey: Uint8Array) => T): Promise<T> {
    this.#opened();
    return this.#wallet!.key.exportPrivateKey(use);
  }

  #opened(): LocalAccount {
    if (!this.#account) throw new Error('The wallet is not open: log in first.');
    return this.#account;
  }
}
