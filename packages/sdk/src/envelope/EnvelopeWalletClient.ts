/**
 * The envelope custody mode on the device (docs/architecture.md, "envelope"; issue 5):
 * a wallet client that holds the user's OIDC token (from the built-in
 * issuer's email login, or any OIDC provider), exchanges it for STS session
 * credentials with AssumeRoleWithWebIdentity, and with them:
 *
 * - creates the user's one wallet: a secp256k1 key generated on the device
 *   (noble), sealed with AES-256-GCM under a fresh 256-bit data key
 *   (WebCrypto; associated data = address + owner), the data key encrypted by
 *   the custodian under the user's master key with the context `{ sub }`, both
 *   ciphertexts uploaded to the wallet service (`POST /v1/wallets`) — after the
 *   device has checked that the custodian gives the data key back;
 * - opens it on any device (`GET /v1/wallets/me`) as an ethers Signer
 *   (KmsSigner) and a viem account (toKmsAccount) over an EnvelopeKey, which
 *   decrypts, signs and wipes per signature.
 *
 * Neither service alone, nor both without the user's token, can open the key:
 * the wallet service holds only ciphertexts, the custodian only the master key,
 * and the master key's policy lets only this user's sessions use it.
 * Browser-safe: fetch, WebCrypto, noble; no Node-only API.
 */
import { DecryptCommand, EncryptCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Provider } from 'ethers';
import { getAddress, type Address, type LocalAccount } from 'viem';
import { KmsSigner } from '../KmsSigner.js';
import { toKmsAccount } from '../toKmsAccount.js';
import { withThrottlingRetry, type RetryOptions } from '../retry.js';
import { assumeRoleWithWebIdentity, type StsCredentials } from './assumeRoleWithWebIdentity.js';
import { base64ToBytes, bytesToBase64 } from './base64.js';
import { sealPrivateKey } from './envelopeAead.js';
import { addressOfPublicKey, EnvelopeKey } from './EnvelopeKey.js';
import { EnvelopeError } from './errors.js';
import type { OidcSession } from './emailLogin.js';
import { tokenSubject } from './tokenSubject.js';
import { roleAccountId, verifyMasterKey, type VerifiedMasterKey } from './verifyMasterKey.js';
import { WalletApi, type WalletMe, type WalletRecord } from './walletApi.js';
import { listWebIdentityLinks } from './webIdentityLinks.js';

/** Where the user's token comes from: a fixed token, a function returning a fresh one, or a built-in-issuer session. */
export type TokenSource = string | (() => Promise<string>) | (Pick<OidcSession, 'token'> & Partial<Pick<OidcSession, 'idToken'>>);

/**
 * The `sub` to bind new ciphertexts to under a verified master key: a template-3 key's pre-linking sub
 * (the creating login's; every linked login's session may use it), else the token's.
 */
export function contextSubOf(key: Pick<VerifiedMasterKey, 'template' | 'legacySub'>, tokenSub: string): string {
  return key.template === 3 && key.legacySub !== undefined ? key.legacySub : tokenSub;
}

/** A token from `source`: for a session, its access token (`token`) or, when it has one, its ID token (`idToken`). */
function fromSource(source: TokenSource, kind: 'token' | 'idToken'): Promise<string> {
  if (typeof source === 'string') return Promise.resolve(source);
  if (typeof source === 'function') return source();
  return kind === 'idToken' && source.idToken ? source.idToken() : source.token();
}

export interface EnvelopeWalletClientOptions {
  /** The wallet service's base URL (the API is under /v1). */
  walletUrl: string;
  /** The custodian's endpoint (KMS and STS). */
  custodianUrl: string;
  region: string;
  /** The role devices assume, e.g. `arn:aws:iam::ACCOUNT:role/symbolon-wallet-users`. */
  roleArn: string;
  /** The token the wallet API gets (the built-in issuer's access token). */
  token: TokenSource;
  /**
   * The token STS (AssumeRoleWithWebIdentity) and the signer get. Default:
   * the session's ID token when `token` is a built-in-issuer OidcSession,
   * else `token` itself (an external provider's one ID token serves both).
   */
  custodianToken?: TokenSource;
  /** RoleSessionName of the STS sessions (default `symbolon-device`). */
  roleSessionName?: string;
  /** Requested session length (default 3600 s; never longer than the token in Symbolon). */
  durationSeconds?: number;
  retry?: RetryOptions;
  fetch?: typeof fetch;
  /** More KMS client settings (timeouts, request handler); endpoint, region and credentials are set here. */
  kmsClientConfig?: Omit<KMSClientConfig, 'endpoint' | 'region' | 'credentials'>;
  now?: () => number;
}

/** Renew session credentials this long before they expire. */
const RENEW_MARGIN_MS = 60_000;

/** A viem local account over an envelope wallet. */
export type EnvelopeAccount = LocalAccount<'envelope'>;

function wipe(...buffers: Array<Uint8Array | undefined>): void {
  for (const b of buffers) b?.fill(0);
}

function randomId(): string {
  return bytesToBase64(crypto.getRandomValues(new Uint8Array(18))).replace(/[+/=]/g, 'x');
}

/** The user's wallet, opened on this device. */
export class EnvelopeWallet {
  readonly id: string;
  readonly address: Address;
  /** Signs by decrypt, sign, wipe (see EnvelopeKey). */
  readonly key: EnvelopeKey;

  constructor(options: { id: string; key: EnvelopeKey; address: Address }) {
    this.id = options.id;
    this.key = options.key;
    this.address = options.address;
  }

  /** An ethers v6 Signer (KmsSigner over the envelope key). */
  signer(provider: Provider | null = null): KmsSigner {
    return new KmsSigner({ key: this.key, provider });
  }

  /**
   * A viem local account (toKmsAccount over the envelope key); opens the key once for its public key.
   * @throws as {@link EnvelopeKey.signDigest}.
   */
  async account(): Promise<EnvelopeAccount> {
    const { keyId: _keyId, kmsKey: _kmsKey, ...account } = await toKmsAccount({ key: this.key });
    return { ...account, source: 'envelope' } as EnvelopeAccount;
  }
}

export class EnvelopeWalletClient {
  /** KMS client signed with the user's session credentials (renewed before they expire). */
  readonly kms: KMSClient;
  readonly #options: EnvelopeWalletClientOptions;
  readonly #api: WalletApi;
  readonly #now: () => number;
  #credentials: StsCredentials | undefined;
  #pending: Promise<StsCredentials> | undefined;

  /** @throws {TypeError} when a URL or the role ARN is missing. */
  constructor(options: EnvelopeWalletClientOptions) {
    if (!options.walletUrl || !options.custodianUrl || !options.roleArn) throw new TypeError('walletUrl, custodianUrl and roleArn are required');
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#api = new WalletApi(options.walletUrl, options.fetch ?? fetch);
    this.kms = new KMSClient({
      ...options.kmsClientConfig,
      endpoint: options.custodianUrl,
      region: options.region,
      credentials: async () => {
        const c = await this.credentials();
        return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: c.expiration };
      },
    });
  }

  /** The current token for the wallet API (refreshed by its source). */
  async token(): Promise<string> {
    return fromSource(this.#options.token, 'token');
  }

  /** The current token for STS and the signer (see EnvelopeWalletClientOptions.custodianToken). */
  async custodianToken(): Promise<string> {
    return fromSource(this.#options.custodianToken ?? this.#options.token, 'idToken');
  }

  /**
   * Session credentials for the user, from AssumeRoleWithWebIdentity (cached until a minute before they expire).
   * @throws {StsError} with STS's code (InvalidIdentityToken, ExpiredTokenException, AccessDenied, …).
   */
  async credentials(): Promise<StsCredentials> {
    const c = this.#credentials;
    if (c && c.expiration.getTime() - RENEW_MARGIN_MS > this.#now()) return c;
    this.#pending ??= (async () => {
      try {
        const fresh = await assumeRoleWithWebIdentity({
          endpoint: this.#options.custodianUrl,
          roleArn: this.#options.roleArn,
          roleSessionName: this.#options.roleSessionName ?? 'symbolon-device',
          webIdentityToken: await this.custodianToken(),
          ...(this.#options.durationSeconds !== undefined ? { durationSeconds: this.#options.durationSeconds } : {}),
          ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
        });
        this.#credentials = fresh;
        return fresh;
      } finally {
        this.#pending = undefined;
      }
    })();
    return this.#pending;
  }

  /**
   * The user as the wallet service knows them (created there on first sight).
   * @throws {WalletApiError}
   */
  async me(): Promise<WalletMe> {
    return this.#api.me(await this.token());
  }

  /**
   * Checks, with the user's own credentials, that `masterKeyId` (as the wallet
   * service named it) is this user's master key: verifyMasterKey.ts. Called
   * before anything is encrypted under it.
   * @throws {EnvelopeError} MASTER_KEY_UNTRUSTED, MASTER_KEY_UNVERIFIED, BAD_TOKEN (no `iss`), BAD_ROLE_ARN.
   */
  async verifyMasterKey(masterKeyId: string, token: string): Promise<VerifiedMasterKey> {
    const { sub, iss } = tokenSubject(token);
    if (iss === undefined) throw new EnvelopeError('BAD_TOKEN', 'The token has no issuer.');
    return verifyMasterKey(this.kms, masterKeyId, {
      accountId: roleAccountId(this.#options.roleArn),
      sub,
      issuer: iss,
      // A template-3 key: the user id from the custodian, asked with this user's own token (docs/sts.md, "Linked logins").
      userId: async () =>
        (
          await listWebIdentityLinks({
            endpoint: this.#options.custodianUrl,
            webIdentityToken: await this.custodianToken(),
            ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
          })
        ).userId,
    });
  }

  /**
   * The `sub` a wallet record's ciphertexts are bound to, accepted for this token: the token's own, or — for
   * a login linked to the owner later (docs/sts.md, "Linked logins") — the pre-linking sub of the user's
   * template-3 master key, as the custodian shows it to this user's own session (verifyMasterKey). The
   * wallet service's word alone is never enough.
   * @throws {EnvelopeError} OWNER_MISMATCH when the record names another sub; MASTER_KEY_UNTRUSTED / MASTER_KEY_UNVERIFIED.
   */
  async ownerSubject(recordSub: string, masterKeyId: string, token: string): Promise<string> {
    const { sub } = tokenSubject(token);
    if (recordSub === sub) return sub;
    const mismatch = (cause?: unknown) =>
      new EnvelopeError('OWNER_MISMATCH', "The wallet record names another owner than the token and the user's master key.", cause ? { cause } : undefined);
    let key: VerifiedMasterKey;
    try {
      key = await this.verifyMasterKey(masterKeyId, token);
    } catch (e) {
      // The record's key is not this user's (another user's key is refused to this session): the record names
      // another owner. A custodian that cannot be reached stays what it is.
      const denied = ['AccessDeniedException', 'NotFoundException'].includes(String((e as { cause?: { name?: unknown } }).cause?.name));
      if (e instanceof EnvelopeError && (e.code === 'MASTER_KEY_UNTRUSTED' || (e.code === 'MASTER_KEY_UNVERIFIED' && denied))) throw mismatch(e);
      throw e;
    }
    if (key.template === 3 && key.legacySub === recordSub) return recordSub;
    throw mismatch();
  }

  /**
   * Creates the user's envelope wallet on this device.
   * @throws {EnvelopeError} WALLET_EXISTS when the user has a wallet (open it with getWallet), OWNER_MISMATCH, ROUND_TRIP_FAILED,
   *   MASTER_KEY_UNTRUSTED / MASTER_KEY_UNVERIFIED when the master key the wallet service names is not shown to be the user's own.
   * @throws {WalletApiError|StsError} and the custodian's errors as the AWS SDK raises them.
   */
  async createWallet(): Promise<EnvelopeWallet> {
    const token = await this.token();
    const { sub } = tokenSubject(token);
    const me = await this.#api.me(token);
    if (me.sub !== sub) throw new EnvelopeError('OWNER_MISMATCH', 'The wallet service names another subject than the token.');
    if (me.wallet) throw new EnvelopeError('WALLET_EXISTS', `This user already has wallet ${me.wallet.address}; open it with getWallet().`);
    // A template-3 key names the sub its ciphertexts are bound to: the creating login's, which a linked login uses too.
    const owner = contextSubOf(await this.verifyMasterKey(me.masterKeyId, token), sub);
    const retry = this.#options.retry ?? {};

    const privateKey = secp256k1.utils.randomSecretKey();
    const dataKey = crypto.getRandomValues(new Uint8Array(32));
    let check: Uint8Array | undefined;
    let address: Address;
    let sealed: Uint8Array;
    let encryptedDataKey: Uint8Array;
    try {
      address = addressOfPublicKey(secp256k1.getPublicKey(privateKey, false));
      sealed = await sealPrivateKey({ dataKey, privateKey, address, owner });
      const enc = await withThrottlingRetry(
        () => this.kms.send(new EncryptCommand({ KeyId: me.masterKeyId, Plaintext: dataKey, EncryptionContext: { sub: owner } })),
        retry,
      );
      if (!enc.CiphertextBlob) throw new EnvelopeError('ROUND_TRIP_FAILED', 'The custodian returned no ciphertext for the data key.');
      encryptedDataKey = enc.CiphertextBlob;
      // A key whose data key cannot come back is a lost wallet: prove the way back before storing anything.
      const dec = await withThrottlingRetry(
        () => this.kms.send(new DecryptCommand({ CiphertextBlob: encryptedDataKey, KeyId: me.masterKeyId, EncryptionContext: { sub: owner } })),
        retry,
      );
      check = dec.Plaintext;
      let same = check?.length === 32 ? 0 : 1;
      for (let i = 0; i < 32; i++) same |= (check?.[i] ?? 0) ^ dataKey[i]!;
      if (same !== 0) throw new EnvelopeError('ROUND_TRIP_FAILED', 'The custodian did not give the data key back.');
    } finally {
      wipe(privateKey, dataKey, check);
    }

    const record = await this.#api.createWallet(token, {
      custodyMode: 'envelope',
      address,
      encryptedPrivateKey: bytesToBase64(sealed),
      encryptedDataKey: bytesToBase64(encryptedDataKey),
      idempotencyKey: randomId(),
    });
    return this.#open(record, owner, { encryptedPrivateKey: sealed, encryptedDataKey, kmsKeyId: me.masterKeyId });
  }

  /**
   * Opens the user's wallet (fetching its ciphertexts once; e.g. on a new device).
   * @throws {EnvelopeError} NO_WALLET, NOT_ENVELOPE, OWNER_MISMATCH.
   * @throws {WalletApiError}
   */
  async getWallet(): Promise<EnvelopeWallet> {
    const token = await this.token();
    // A malformed token is refused here (BAD_TOKEN), before the wallet service sees it.
    tokenSubject(token);
    let record: WalletRecord;
    try {
      record = await this.#api.myWallet(token);
    } catch (e) {
      if ((e as { code?: string }).code === 'not_found')
        throw new EnvelopeError('NO_WALLET', 'This user has no wallet yet; create one with createWallet().', { cause: e });
      throw e;
    }
    if (record.custodyMode !== 'envelope' || !record.envelope)
      throw new EnvelopeError('NOT_ENVELOPE', `Wallet ${record.address} is not an envelope wallet (${record.custodyMode}).`);
    // The device binds to the subject of its own token, or to the one the user's own master key names (a linked login).
    const owner = await this.ownerSubject(record.envelope.encryptionContext.sub, record.envelope.kmsKeyId, token);
    return this.#open(record, owner, {
      encryptedPrivateKey: base64ToBytes(record.envelope.encryptedPrivateKey, 'encryptedPrivateKey'),
      encryptedDataKey: base64ToBytes(record.envelope.encryptedDataKey, 'encryptedDataKey'),
      kmsKeyId: record.envelope.kmsKeyId,
    });
  }

  #open(record: WalletRecord, owner: string, c: { encryptedPrivateKey: Uint8Array; encryptedDataKey: Uint8Array; kmsKeyId: string }): EnvelopeWallet {
    const address = getAddress(record.address);
    const key = new EnvelopeKey({
      client: this.kms,
      envelope: { address, owner, ...c },
      ...(this.#options.retry ? { retry: this.#options.retry } : {}),
    });
    return new EnvelopeWallet({ id: record.id, key, address });
  }

  /** Releases the KMS client's connections. */
  destroy(): void {
    this.kms.destroy();
  }
}
