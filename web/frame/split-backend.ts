/**
 * The split custody mode behind the frame (docs/architecture.md "split"; issue 6,
 * docs/signer.md), over the SDK's device-side SplitWalletClient: the user's
 * token becomes STS session credentials; the first login creates the wallet
 * here, on the device — the key is generated and split in this origin, share A
 * goes straight to the custodian (Encrypt under the user's master key with
 * `{ sub, address }`, by the user's own session), share A's ciphertext and
 * share B go to the wallet service, and key and shares are wiped. Later
 * logins, on any device, only look the wallet up. Each signature is made by
 * the attested signer (`POST <signerUrl>/v1/sign` with the user's token),
 * which alone rebuilds the key; the frame never holds it again.
 *
 * The signer is another service, so what it returns is checked here before
 * the DApp gets it: a signature must recover to the wallet's address, and a
 * signed transaction must be exactly the transaction the user approved.
 */
import {
  getAddress,
  parseTransaction,
  recoverMessageAddress,
  recoverTransactionAddress,
  recoverTypedDataAddress,
  serializeTransaction,
  type Address,
  type Hex,
  type TransactionSerializable,
  type TypedDataDefinition,
} from 'viem';
import { SplitWalletClient, type SplitSignPayload, type SplitSignResult } from '../../packages/sdk/src/split/SplitWalletClient.js';
import { SplitError } from '../../packages/sdk/src/split/errors.js';
import type { PolicyRequest, WalletBackend, WalletSession } from './wallet-backend.js';
import type { PolicyNote } from './decode.js';
import { indexedDbDeviceKeys } from './device-keys.js';
import { evaluatePasskeyPrf } from './passkey-prf.js';
import { PASSKEY_PRF_INPUT } from '../../packages/sdk/src/split/deviceShare.js';

export interface SplitBackendOptions {
  walletApi: string;
  custodianUrl: string;
  region: string;
  /** The role devices assume with the user's token (AssumeRoleWithWebIdentity). */
  roleArn: string;
  /** The signer's base URL (POST /v1/sign); undefined when the wallet service names none. */
  signerUrl: string | undefined;
}

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The frame's own origin never sends cookies anywhere, nor caches an answer. */
const fetchOmittingCredentials: typeof fetch = (input, init) => fetch(input, { ...init, credentials: 'omit', cache: 'no-store' });

export class SplitBackend implements WalletBackend {
  readonly custodyMode = 'split' as const;
  readonly #options: SplitBackendOptions;
  #client: SplitWalletClient | undefined;
  #address: Address | undefined;

  constructor(options: SplitBackendOptions) {
    this.#options = options;
  }

  /**
   * Opens the user's split wallet, creating it on this device the first time.
   * @throws {SplitError} NO_SIGNER when no signer is configured, NOT_SPLIT when the user's wallet is of another mode;
   *   the SDK's SplitError, WalletApiError, StsError, and the custodian's errors.
   */
  async login(session: WalletSession): Promise<Address> {
    this.#client?.destroy();
    this.#client = undefined;
    this.#address = undefined;
    const signerUrl = this.#options.signerUrl;
    if (!signerUrl) throw new SplitError('NO_SIGNER', 'The wallet service names no signer for split wallets (SYMBOLON_FRAME_SIGNER_URL).');
    const client = new SplitWalletClient({
      walletUrl: this.#options.walletApi,
      custodianUrl: this.#options.custodianUrl,
      signerUrl,
      region: this.#options.region,
      roleArn: this.#options.roleArn,
      token: () => session.accessToken(),
      custodianToken: () => session.idToken(),
      fetch: fetchOmittingCredentials,
      deviceKeys: indexedDbDeviceKeys,
      // Where this profile's partition has no device key (a DApp of another site), a passkey wrap is opened with the passkey.
      passkeyPrf: evaluatePasskeyPrf,
    });
    this.#client = client;
    let address = await this.#existing(client);
    if (!address) {
      try {
        address = getAddress((await client.createWallet()).address);
      } catch (e) {
        // Another device or tab of the same user created it meanwhile: one wallet per user, so open that one.
        if (codeOf(e) !== 'WALLET_EXISTS' && codeOf(e) !== 'wallet_exists') throw e;
        address = await this.#existing(client);
        if (!address) throw e;
      }
    }
    // An operator asked for new shares (docs/signer.md, "Share rotation"): rotate now, with this user's token.
    await client.rotateIfRequired();
    this.#address = address;
    return address;
  }

  /**
   * Re-splits the wallet's key in the signer and commits the new shares
   * (SplitWalletClient.rotateShares): same address, next share generation.
   * @returns the new generation.
   */
  async rotateShares(): Promise<number> {
    const { client, address } = this.#opened();
    const rotated = await client.rotateShares();
    if (rotated.address !== address) throw new SplitError('SIGNER_MISMATCH', 'The rotation answered another address; nothing was used.');
    return rotated.generation;
  }

  /** Whether the wallet's shares include a third share on the owner's device (docs/signer.md, "A third share on the user's device"). */
  hasDeviceFactor(): Promise<boolean> {
    return this.#opened().client.hasDeviceFactor();
  }

  /**
   * Adds this device as a factor; resolves to the one-time recovery code. With `passkeys` (the owner's
   * credential ids), share C is also wrapped under the PRF output of the one the user picks, evaluated first:
   * an authenticator without PRF is refused (DEVICE_PRF_UNSUPPORTED) before anything changes.
   */
  async addDeviceFactor(passkeys?: Uint8Array[]): Promise<string> {
    const { client, address } = this.#opened();
    const prf = passkeys ? await evaluatePasskeyPrf({ allow: passkeys, input: PASSKEY_PRF_INPUT }) : undefined;
    try {
      const added = await client.addDeviceFactor(prf ? { passkeyPrf: prf } : {});
      if (added.address !== address) throw new SplitError('SIGNER_MISMATCH', 'The rotation answered another address; nothing was used.');
      return added.recoveryCode;
    } finally {
      prf?.output.fill(0);
    }
  }

  /**
   * Recovers the device share on this device with the code; resolves to the new one-time recovery code. With
   * `passkeys` (the owner's credential ids), the new share C is also wrapped under the PRF output of the one the
   * user picks, evaluated first, as addDeviceFactor does: an authenticator without PRF is refused
   * (DEVICE_PRF_UNSUPPORTED) before the code is used.
   */
  async recoverDeviceShare(code: string, passkeys?: Uint8Array[]): Promise<string> {
    const { client, address } = this.#opened();
    const prf = passkeys ? await evaluatePasskeyPrf({ allow: passkeys, input: PASSKEY_PRF_INPUT }) : undefined;
    try {
      const recovered = await client.recoverDeviceShare(code, prf ? { passkeyPrf: prf } : {});
      if (recovered.address !== address) throw new SplitError('SIGNER_MISMATCH', 'The rotation answered another address; nothing was used.');
      return recovered.recoveryCode;
    } finally {
      prf?.output.fill(0);
    }
  }

  /**
   * Wraps this device's share C under the PRF output of the passkey the user picks (of `passkeys`, the owner's
   * credential ids), evaluated first: an authenticator without PRF is refused (DEVICE_PRF_UNSUPPORTED) before
   * anything changes. For a device share added without a passkey; the device key and the recovery code are kept.
   */
  async wrapDeviceShareForPasskey(passkeys: Uint8Array[]): Promise<void> {
    const { client, address } = this.#opened();
    const prf = await evaluatePasskeyPrf({ allow: passkeys, input: PASSKEY_PRF_INPUT });
    try {
      const wrapped = await client.wrapDeviceShareForPasskey({ passkeyPrf: prf });
      if (wrapped.address !== address) throw new SplitError('SIGNER_MISMATCH', 'The rotation answered another address; nothing was used.');
    } finally {
      prf.output.fill(0);
    }
  }

  /** Goes back to two shares (needs this device's share). */
  async removeDeviceFactor(): Promise<void> {
    await this.#opened().client.removeDeviceFactor();
  }

  /**
   * The private key, sealed by the signer to a key pair made here for this one
   * export (SplitWalletClient.exportKey), opened here, given to `use` (which
   * shows it) and wiped after.
   * @throws {SplitError} the signer's code (reauthentication_required, export_disabled, …) or SIGNER_MISMATCH.
   */
  exportKey<T>(use: (privateKey: Uint8Array) => T): Promise<T> {
    return this.#opened().client.exportKey(use);
  }

  address(): Address {
    return this.#opened().address;
  }

  async signMessage(message: { raw: Hex }): Promise<Hex> {
    const { client, address } = this.#opened();
    const result = await client.sign({ type: 'message', message: { raw: message.raw } });
    const signature = expect(result, 'message').signature;
    await checkSigner(() => recoverMessageAddress({ message, signature }), address);
    return signature;
  }

  /**
   * The owner's signing policy's decision before approval (the signer's POST /v1/evaluate): "Allowed by <Sid>"
   * or "Refused by <Sid>: <why>". Undefined when the wallet has no policy.
   * @throws {SplitError} with the signer's code when it cannot say (the signature request decides anyway).
   */
  async previewPolicy(request: PolicyRequest): Promise<PolicyNote | undefined> {
    const { client } = this.#opened();
    const payload: SplitSignPayload =
      request.type === 'message'
        ? { type: 'message', message: { raw: request.raw } }
        : request.type === 'typedData'
          ? typedDataPayload(request.typedData)
          : { type: 'transaction', transaction: request.transaction as unknown as Record<string, unknown> };
    const preview = await client.previewSigningPolicy(payload);
    if (!preview) return undefined;
    if (preview.decision === 'allow') return { allowed: true, text: `Signing policy: allowed by ${preview.statement ?? ''}.` };
    // Approve stays possible: the frame then asks for the passkey and retries (./step-up-retry.ts).
    if (preview.mfaRequired === true) return { allowed: true, text: 'Signing policy: needs a second factor; you will confirm with your passkey.' };
    const by = preview.statement === undefined ? '' : ` by ${preview.statement}`;
    return { allowed: false, text: `Signing policy: refused${by}: ${preview.message}` };
  }

  /** The owner's signing policy as stored (undefined: none). */
  async signingPolicy(): Promise<string | undefined> {
    return this.#opened().client.signingPolicy();
  }

  /** Sets (null: removes) the owner's signing policy: a share rotation sealing it into share A. @returns the new generation. */
  async setSigningPolicy(policy: string | null): Promise<number> {
    const { client, address } = this.#opened();
    const rotated = await client.setSigningPolicy(policy);
    if (rotated.address !== address) throw new SplitError('SIGNER_MISMATCH', 'The rotation answered another address; nothing was used.');
    return rotated.generation;
  }

  async signTypedData(typedData: TypedDataDefinition): Promise<Hex> {
    const { client, address } = this.#opened();
    const payload = typedDataPayload(typedData);
    const signature = expect(await client.sign(payload), 'typedData').signature;
    await checkSigner(() => recoverTypedDataAddress({ ...typedData, signature } as Parameters<typeof recoverTypedDataAddress>[0]), address);
    return signature;
  }

  async signTransaction(transaction: TransactionSerializable): Promise<Hex> {
    const { client, address } = this.#opened();
    const signed = expect(
      await client.sign({ type: 'transaction', transaction: transaction as unknown as Record<string, unknown> }),
      'transaction',
    ).signedTransaction;
    // Exactly what the user approved: the same unsigned encoding, signed by this wallet.
    let same = false;
    try {
      const {
        r: _r,
        s: _s,
        v: _v,
        yParity: _y,
        ...unsigned
      } = parseTransaction(signed) as TransactionSerializable & { r?: Hex; s?: Hex; v?: bigint; yParity?: number };
      same = serializeTransaction(unsigned as TransactionSerializable) === serializeTransaction(transaction);
    } catch {
      same = false;
    }
    if (!same) throw new SplitError('SIGNER_MISMATCH', 'The signer returned another transaction than the one approved; it was not used.');
    await checkSigner(
      () => recoverTransactionAddress({ serializedTransaction: signed as Parameters<typeof recoverTransactionAddress>[0]['serializedTransaction'] }),
      address,
    );
    return signed;
  }

  /** The user's wallet if they have one: its address; undefined when they have none yet. @throws {SplitError} NOT_SPLIT. */
  async #existing(client: SplitWalletClient): Promise<Address | undefined> {
    const me = await client.envelope.me();
    if (!me.wallet) return undefined;
    if (me.wallet.custodyMode !== 'split') throw new SplitError('NOT_SPLIT', `Wallet ${me.wallet.address} is not a split wallet (${me.wallet.custodyMode}).`);
    return getAddress(me.wallet.address);
  }

  #opened(): { client: SplitWalletClient; address: Address } {
    if (!this.#client || !this.#address) throw new Error('The wallet is not open: log in first.');
    return { client: this.#client, address: this.#address };
  }
}

function typedDataPayload(typedData: TypedDataDefinition): SplitSignPayload {
  const t = typedData as unknown as {
    domain?: Record<string, unknown>;
    types: Record<string, unknown>;
    primaryType: string;
    message: Record<string, unknown>;
  };
  return { type: 'typedData', typedData: { types: t.types, primaryType: t.primaryType, message: t.message, ...(t.domain ? { domain: t.domain } : {}) } };
}

function expect<T extends SplitSignResult['type']>(result: SplitSignResult, type: T): Extract<SplitSignResult, { type: T }> {
  if (result?.type !== type) throw new SplitError('SIGNER_MISMATCH', `The signer answered a ${String(result?.type).slice(0, 20)} for a ${type} request.`);
  return result as Extract<SplitSignResult, { type: T }>;
}

/** A signature the signer made must recover to the wallet's own address. */
async function checkSigner(recover: () => Promise<Address>, address: Address): Promise<void> {
  let recovered: Address | undefined;
  try {
    recovered = await recover();
  } catch {
    recovered = undefined;
  }
  if (recovered === undefined || getAddress(recovered) !== address)
    throw new SplitError('SIGNER_MISMATCH', `The signer's signature does not recover to ${address}; it was not used.`);
}
