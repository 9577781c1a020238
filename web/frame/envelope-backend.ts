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

/**
 * Whether the custodian refused for want of a second factor: AWS's plain
 * AccessDeniedException, marked by the custodian's `x-symbolon-step-up`
 * header when a passkey step-up would allow the same request
 * (docs/access-control.md "Step-up MFA"). Recognised by that header only.
 */
function stepUpWouldLift(e: unknown): boolean {
  const err = e as { name?: unknown; $response?: { headers?: Record<string, string | undefined> } } | null;
  return err?.name === 'AccessDeniedException' && err.$response?.headers?.['x-symbolon-step-up'] === 'mfa_required';
}

/** The custodian's refusal that a passkey step-up would lift, as the frame's step-up sees it (./step-up-retry.ts). */
export class MfaRequiredError extends Error {
  override name = 'MfaRequiredError';
  readonly code = 'mfa_required';
}

export class EnvelopeBackend implements WalletBackend {
  readonly custodyMode = 'envelope' as const;
  readonly #options: EnvelopeBackendOptions;
  #session: WalletSession | undefined;
  #client: EnvelopeWalletClient | undefined;
  #wallet: EnvelopeWallet | undefined;
  #address: Address | undefined;
  /** The viem account, made on the first Decrypt the custodian allows (it needs the public key). */
  #account: LocalAccount | undefined;
  /** A refusal a step-up would lift was seen: the next Decrypt takes new session credentials from the (stepped-up) tokens. */
  #renew = false;

  constructor(options: EnvelopeBackendOptions) {
    this.#options = options;
  }

  /**
   * Opens the user's wallet, creating it on this device the first time.
   * When the master key's policy wants a second factor for Decrypt and this
   * login has none, the address is the wallet record's until the first
   * signature (each Decrypt checks the opened key derives it before anything
   * is signed), and that signature asks for the step-up.
   * @throws the SDK's EnvelopeError, WalletApiError, StsError, and the custodian's errors.
   */
  async login(session: WalletSession): Promise<Address> {
    this.#session = session;
    const wallet = await this.#open();
    try {
      this.#account = await wallet.account();
    } catch (e) {
      if (!stepUpWouldLift(e)) throw e;
    }
    return wallet.address;
  }

  /** A new client (so new STS session credentials from the session's current tokens) and the user's wallet through it. */
  async #open(): Promise<EnvelopeWallet> {
    const session = this.#session!;
    this.#client?.destroy();
    this.#account = undefined;
    this.#wallet = undefined;
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
    // Reopened after a step-up: it must be the wallet the sites were given.
    if (this.#address !== undefined && wallet.address !== this.#address) throw new Error('The wallet service now names another wallet: log in again.');
    this.#address = wallet.address;
    this.#wallet = wallet;
    return wallet;
  }

  address(): Address {
    if (!this.#address) throw new Error('The wallet is not open: log in first.');
    return this.#address;
  }

  signMessage(message: { raw: Hex }): Promise<Hex> {
    return this.#signing((a) => a.signMessage({ message }));
  }

  signTypedData(typedData: TypedDataDefinition): Promise<Hex> {
    return this.#signing((a) => a.signTypedData(typedData));
  }

  signTransaction(transaction: TransactionSerializable): Promise<Hex> {
    return this.#signing((a) => a.signTransaction(transaction));
  }

  /**
   * The private key, decrypted on this device as for a signature, given to
   * `use` (which shows it) and wiped after; nothing is sent anywhere but the
   * custodian's Decrypt of the data key, as for every signature.
   * @throws as a signature's Decrypt.
   */
  exportKey<T>(use: (privateKey: Uint8Array) => T): Promise<T> {
    return this.#decrypting((w) => w.key.exportPrivateKey(use));
  }

  #signing<T>(sign: (account: LocalAccount) => Promise<T>): Promise<T> {
    return this.#decrypting(async (w) => {
      this.#account ??= await w.account();
      return sign(this.#account);
    });
  }

  /**
   * Runs `run` (which Decrypts) on the open wallet.
   * @throws {MfaRequiredError} when the custodian refused and a passkey step-up would allow it; the next call renews the credentials.
   */
  async #decrypting<T>(run: (wallet: EnvelopeWallet) => Promise<T>): Promise<T> {
    if (!this.#wallet && !this.#renew) throw new Error('The wallet is not open: log in first.');
    try {
      const wallet = this.#renew || !this.#wallet ? await this.#open() : this.#wallet;
      this.#renew = false;
      return await run(wallet);
    } catch (e) {
      if (!stepUpWouldLift(e)) throw e;
      this.#renew = true;
      throw new MfaRequiredError('The custodian allows this only with a second factor (mfa_required).');
    }
  }
}
