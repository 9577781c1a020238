/**
 * The split custody mode on the device (docs/architecture.md "split"; issue 6,
 * "Splitting"): a wallet client that reuses EnvelopeWalletClient's login,
 * STS session credentials and wallet-API calls, and
 *
 * - creates the user's one wallet: a secp256k1 key generated on the device
 *   (noble), share A = 32 bytes from crypto.getRandomValues, share B = key
 *   XOR share A; share A goes straight to the custodian, encrypted under the
 *   user's master key with the context `{ sub, address }` by the user's own
 *   STS session (the wallet provider never sees it in the clear); share A's
 *   ciphertext and share B go to the wallet service (`POST /v1/wallets`,
 *   custodyMode split), which seals share B under the provider's key; key and
 *   shares are wiped in `finally`;
 * - signs: calls the signer's `POST /v1/sign` with the user's token, share B
 *   and share A's ciphertext, and the signer rebuilds the key inside itself
 *   only (docs/signer.md). The wallet record with the shares comes from
 *   `GET /v1/wallets/me` once per client: a wallet does not change once
 *   created (one per user), so the client keeps the record. If the signer
 *   answers share_mismatch, share_ciphertext_invalid or share_generation_retired,
 *   the client drops the
 *   record, reads it again and retries once;
 * - sets the owner's signing policy (setSigningPolicy): a share rotation
 *   whose new share A the signer seals with the policy's SHA-256 in its
 *   encryption context, so the signer evaluates it on every signature and
 *   nobody without the owner's token can change or drop it
 *   (docs/signing-policy.md, "Split and envelope wallets");
 * - adds, recovers and removes the owner's device share (deviceShare.ts;
 *   docs/signer.md, "A third share on the user's device"): a rotation into
 *   three shares whose share C is wrapped by this device's non-extractable
 *   key and by a one-time recovery code; signing then unwraps share C and
 *   sends it to the signer with share A's ciphertext and share B.
 *
 * Browser-safe: fetch, WebCrypto's getRandomValues, noble; no Node-only API.
 */
import { EncryptCommand } from '@aws-sdk/client-kms';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { getAddress, type Address, type Hex } from 'viem';
import { withThrottlingRetry } from '../retry.js';
import { contextSubOf, EnvelopeWalletClient, type EnvelopeWalletClientOptions } from '../envelope/EnvelopeWalletClient.js';
import { addressOfPublicKey } from '../envelope/EnvelopeKey.js';
import { base64ToBytes, bytesToBase64 } from '../envelope/base64.js';
import { httpJson } from '../envelope/httpJson.js';
import { WalletApiError } from '../envelope/errors.js';
import { tokenSubject } from '../envelope/tokenSubject.js';
import { SplitError } from './errors.js';
import { generateExportKeyPair, openExportKey } from './keyExport.js';
import { assertTypedDataWithinLimits } from '../typedDataLimits.js';
import { UnsignableError } from '../errors.js';
import {
  createDeviceKey,
  deviceKeyIdOf,
  newRecoveryCode,
  PASSKEY_PRF_INPUT,
  passkeyCredentialIdOf,
  unwrapOnDevice,
  unwrapWithPasskey,
  unwrapWithRecoveryCode,
  wrapForDevice,
  wrapForPasskey,
  wrapForRecovery,
  type DeviceKeyStore,
  type PasskeyPrf,
  type PasskeyPrfResult,
} from './deviceShare.js';

export interface SplitWalletClientOptions extends EnvelopeWalletClientOptions {
  /** The signer's base URL (POST /v1/sign). */
  signerUrl: string;
  /** Where this device keeps its device keys (the device share; deviceShare.ts). Without it, a wallet with the device factor cannot be used here. */
  deviceKeys?: DeviceKeyStore;
  /**
   * Evaluates a passkey's PRF (deviceShare.ts, PasskeyPrf): a wallet whose share C is also wrapped under a
   * passkey is then usable where this device has no device key (another device, or the frame in a DApp of
   * another site, whose storage is partitioned).
   */
  passkeyPrf?: PasskeyPrf;
}

/** A split wallet as the wallet service returns it (no share). */
export interface SplitWalletRecord {
  id: string;
  address: Address;
  custodyMode: 'split';
  createdAt: string;
}

/**
 * What the signer signs, as JSON (docs/signer.md): quantities as numbers,
 * decimal strings, 0x-hex strings or bigints (sent as decimal strings).
 */
export type SplitSignPayload =
  | { type: 'transaction'; transaction: Record<string, unknown> }
  | { type: 'message'; message: string | { raw: Hex } }
  | {
      type: 'typedData';
      typedData: { domain?: Record<string, unknown>; types: Record<string, unknown>; primaryType: string; message: Record<string, unknown> };
    }
  | { type: 'authorization'; authorization: { address: Address; chainId: number | bigint; nonce: number | bigint } };

/** The signer's answer (POST /v1/sign). */
export type SplitSignResult =
  | { type: 'transaction'; signedTransaction: Hex; hash: Hex }
  | { type: 'message'; signature: Hex }
  | { type: 'typedData'; signature: Hex }
  | { type: 'authorization'; authorization: { address: Address; chainId: number; nonce: number; r: Hex; s: Hex; yParity: number } };

interface SplitShares {
  /** The share generation (absent from servers before share rotation: 0). */
  generation?: number;
  rotationRequired?: boolean;
  shareACiphertext: string;
  shareB: string;
  kmsKeyId: string;
  encryptionContext: { sub: string; address: string };
  /** The owner's signing policy share A is sealed with (absent: none). */
  signingPolicy?: string;
  /** `device`: the shares include share C on the owner's device, wrapped below. */
  factor?: 'device';
  shareCWrapped?: string;
  shareCRecoveryWrapped?: string;
  /** Share C wrapped under a key derived from a passkey's PRF output (absent: no passkey wrap). */
  shareCPasskeyWrapped?: string;
}

/** What a rotation did: the address, the new generation, and the new recovery code when the device share was (re)made — show it once. */
export interface RotationResult {
  address: Address;
  generation: number;
  /** Only when this rotation made a new share C: the one-time recovery code that unwraps it on a new device. */
  recoveryCode?: string;
}

/** The signer's answer to POST /v1/rotate. */
interface RotatedShares {
  shareACiphertext: string;
  shareB: string;
  proof: Hex;
  generation: number;
  factor?: 'device';
  shareC?: string;
}

/** The owner's signing policy's decision on a payload, before it is signed (the signer's POST /v1/evaluate). */
export interface SigningPolicyPreview {
  decision: 'allow' | 'deny' | 'pending';
  /** The deciding statement's Sid; absent for an implicit deny. */
  statement?: string;
  message: string;
  /** Refused now, allowed after a passkey step-up: the signature would be refused with `mfa_required` (absent from older signers). */
  mfaRequired?: boolean;
}

type WalletRecordWithShares = SplitWalletRecord & { split?: SplitShares };

/** The signer's refusals that a stale wallet record could explain: read the record again and retry once. */
const STALE_RECORD_CODES: ReadonlySet<string> = new Set(['share_mismatch', 'share_ciphertext_invalid', 'share_generation_retired']);

function wipe(...buffers: Array<Uint8Array | undefined>): void {
  for (const b of buffers) b?.fill(0);
}

function randomId(): string {
  return bytesToBase64(crypto.getRandomValues(new Uint8Array(18))).replace(/[+/=]/g, 'x');
}

/** JSON has no bigint: quantities go to the signer as decimal strings, which it accepts. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(10) : v));
}

export class SplitWalletClient {
  /** Login, STS credentials and the KMS client signed with them. */
  readonly envelope: EnvelopeWalletClient;
  readonly #options: SplitWalletClientOptions;
  readonly #walletBase: string;
  readonly #fetch: typeof fetch;
  /** The user's split wallet record as first read (the shares as the wallet service keeps them), with the token's sub. */
  #record: Promise<{ sub: string; record: WalletRecordWithShares }> | undefined;

  /** @throws {TypeError} when a URL or the role ARN is missing. */
  constructor(options: SplitWalletClientOptions) {
    if (!options.signerUrl) throw new TypeError('signerUrl is required');
    this.envelope = new EnvelopeWalletClient(options);
    this.#options = options;
    this.#walletBase = `${options.walletUrl.replace(/\/+$/, '')}/v1`;
    this.#fetch = options.fetch ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
  }

  /**
   * Creates the user's split wallet on this device. Retrying with the same
   * `idempotencyKey` after a failure returns the stored wallet only if the
   * same shares are sent again; a new call makes a new key.
   * @throws {SplitError} WALLET_EXISTS when the user has a wallet, OWNER_MISMATCH.
   * @throws {EnvelopeError} MASTER_KEY_UNTRUSTED / MASTER_KEY_UNVERIFIED when the master key the wallet service names is not shown to be the user's own.
   * @throws {WalletApiError|StsError} and the custodian's errors as the AWS SDK raises them.
   */
  async createWallet(options: { idempotencyKey?: string } = {}): Promise<SplitWalletRecord> {
    const token = await this.envelope.token();
    const { sub } = tokenSubject(token);
    const me = await this.envelope.me();
    if (me.sub !== sub) throw new SplitError('OWNER_MISMATCH', 'The wallet service names another subject than the token.');
    if (me.wallet) throw new SplitError('WALLET_EXISTS', `This user already has wallet ${me.wallet.address}.`);
    // Share A goes only under a key shown to be the user's own: a key the provider could open would give it share A beside share B.
    // Under a template-3 key, share A's context names the key's pre-linking sub, so every linked login opens it.
    const owner = contextSubOf(await this.envelope.verifyMasterKey(me.masterKeyId, token), sub);

    const key = secp256k1.utils.randomSecretKey();
    const shareA = crypto.getRandomValues(new Uint8Array(32));
    const shareB = new Uint8Array(32);
    try {
      for (let i = 0; i < 32; i++) shareB[i] = key[i]! ^ shareA[i]!;
      const address = addressOfPublicKey(secp256k1.getPublicKey(key, false));
      const enc = await withThrottlingRetry(
        () => this.envelope.kms.send(new EncryptCommand({ KeyId: me.masterKeyId, Plaintext: shareA, EncryptionContext: { sub: owner, address } })),
        this.#options.retry ?? {},
      );
      if (!enc.CiphertextBlob) throw new SplitError('ENCRYPT_FAILED', 'The custodian returned no ciphertext for share A.');
      const { body } = await httpJson<SplitWalletRecord>(this.#fetch, `${this.#walletBase}/wallets`, {
        method: 'POST',
        bearer: token,
        body: {
          custodyMode: 'split',
          address,
          shareACiphertext: bytesToBase64(enc.CiphertextBlob),
          shareB: bytesToBase64(shareB),
          idempotencyKey: options.idempotencyKey ?? randomId(),
        },
      });
      return { ...body, address: getAddress(body.address) };
    } finally {
      wipe(key, shareA, shareB);
    }
  }

  /**
   * Signs `payload` with the user's split wallet through the signer. The
   * wallet record is read once per client (`GET /v1/wallets/me`) and kept; on
   * the signer's share_mismatch, share_ciphertext_invalid or share_generation_retired it is read again
   * and the signature retried once. A record marked `rotationRequired` by an
   * operator is rotated first (rotateShares()).
   * @throws {SplitError} NO_WALLET, NOT_SPLIT, OWNER_MISMATCH, or the signer's code (share_mismatch, invalid_token, invalid_payload, …).
   * @throws {WalletApiError}
   */
  async sign(payload: SplitSignPayload): Promise<SplitSignResult> {
    if (payload.type === 'typedData') {
      // The signer's own bounds, checked here first: the same answer without a round trip.
      try {
        assertTypedDataWithinLimits(payload.typedData);
      } catch (e) {
        if (e instanceof UnsignableError) throw new SplitError('invalid_payload', e.shortMessage);
        throw e;
      }
    }
    const [token, custodianToken] = await Promise.all([this.envelope.token(), this.envelope.custodianToken()]);
    const { sub } = tokenSubject(token);
    const url = `${this.#options.signerUrl.replace(/\/+$/, '')}/v1/sign`;
    for (let attempt = 0; ; attempt++) {
      let { record, kept } = await this.#walletRecord(token, sub);
      if (record.split?.rotationRequired && (await this.#rotateRequired())) ({ record, kept } = await this.#walletRecord(token, sub));
      const json = await this.#sharesJson(record, { payload });
      try {
        // The signer gets the token STS takes (the ID token), never the wallet API's.
        return (await httpJson<SplitSignResult>(this.#fetch, url, { method: 'POST', bearer: custodianToken, json })).body;
      } catch (e) {
        if (!(e instanceof WalletApiError)) throw e;
        if (STALE_RECORD_CODES.has(e.code)) {
          // The record may be stale or damaged: forget it; read it again and retry, once.
          if (this.#record === kept) this.#record = undefined;
          if (attempt === 0) continue;
        }
        // The signer answers errors in the wallet API's shape; surface them as SplitErrors with its code.
        throw new SplitError(e.code, e.shortMessage, { status: e.status });
      }
    }
  }

  /**
   * Rotates the shares if an operator marked the wallet for rotation
   * (`split.rotationRequired`; docs/signer.md, "Share rotation"): what a
   * device calls at login. The operator never holds the owner's token, so
   * the owner's device does it.
   * @returns whether the shares were rotated (by this call or, meanwhile, another device).
   * @throws as rotateShares().
   */
  async rotateIfRequired(): Promise<boolean> {
    const token = await this.envelope.token();
    const { record } = await this.#walletRecord(token, tokenSubject(token).sub);
    return record.split?.rotationRequired ? this.#rotateRequired() : false;
  }

  async #rotateRequired(): Promise<boolean> {
    try {
      await this.rotateShares();
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      // This device lacks the device share's key (it is about to recover), or its passkey did not open the
      // share (cancelled, no PRF, another passkey): the rotation waits for a device or a ceremony that does.
      if (code === 'DEVICE_KEY_MISSING' || code === 'DEVICE_PRF_UNSUPPORTED' || code === 'PASSKEY_PRF_MISMATCH') return false;
      if ((e as { name?: unknown }).name === 'NotAllowedError') return false;
      // Another device of this owner rotated meanwhile: its shares are the ones to use.
      if (code !== 'generation_conflict') throw e;
    }
    return true;
  }

  /**
   * Rotates the wallet's shares (docs/signer.md, "Share rotation"): the signer
   * re-splits the key (`POST /v1/rotate` with the owner's token and the
   * current shares) and returns new shares of the next generation, signed
   * with the wallet's key; the wallet service commits them
   * (`POST /v1/wallets/me/shares`, a compare-and-set on the generation). The
   * address does not change; the old shares no longer pair with what the
   * wallet service serves, and once the new shares are in use (the client
   * activates them right after the commit, or the next signature does) the
   * custodian refuses the old generation's share A.
   * `signingPolicy` seals the new share A with this policy text (null: with
   * none); absent keeps the wallet's current one.
   * @returns the address and the new generation.
   * @throws {SplitError} NO_WALLET, NOT_SPLIT, OWNER_MISMATCH, or the signer's or wallet service's code (generation_conflict, share_mismatch, invalid_policy, …).
   */
  async rotateShares(options: { signingPolicy?: string | null } = {}): Promise<RotationResult> {
    return this.#rotate(options);
  }

  /**
   * Adds the device factor (docs/signer.md, "A third share on the user's
   * device"): a rotation in which the signer splits the key into three
   * shares; share C is wrapped by a new non-extractable device key kept in
   * `deviceKeys` and by a new recovery code, and the wallet store commits both
   * wrapped copies with the shares. Once the new generation is activated
   * (done here), the old two-share pair no longer signs. Show the recovery
   * code once, with the warning that losing both this device and the code
   * loses the wallet. With `passkeyPrf` (a passkey's PRF output for
   * PASSKEY_PRF_INPUT, evaluated by the caller beforehand; not wiped here),
   * share C is wrapped a third time under a key derived from it, so that
   * passkey unlocks it where this device key is not available (a client with
   * the `passkeyPrf` option).
   * @returns the rotation and the recovery code.
   * @throws {SplitError} NO_DEVICE_KEY_STORE, FACTOR_PRESENT, or as rotateShares().
   */
  async addDeviceFactor(options: { passkeyPrf?: PasskeyPrfResult } = {}): Promise<Required<RotationResult>> {
    const done = await this.#rotate({ factor: 'device', expectFactor: false, ...(options.passkeyPrf ? { passkeyPrf: options.passkeyPrf } : {}) });
    return done as Required<RotationResult>;
  }

  /**
   * Recovers the wallet on this device with the recovery code (the device
   * that held the device key is lost): share C is unwrapped with the code,
   * and the key is re-split at once into new shares with a new share C under
   * a new device key of this device and a new recovery code (the old code is
   * spent). Once activated (done here), the old device's share C and the old
   * code open nothing that signs.
   * @returns the rotation and the new recovery code (show it once).
   * @throws {SplitError} RECOVERY_CODE_WRONG when the code does not open the wallet's recovery copy; NO_FACTOR, or as rotateShares().
   * @throws {TypeError} when the code is not well-formed.
   */
  async recoverDeviceShare(recoveryCode: string, options: { passkeyPrf?: PasskeyPrfResult } = {}): Promise<Required<RotationResult>> {
    const token = await this.envelope.token();
    this.#record = undefined;
    const record = await this.#readWalletRecord(token, tokenSubject(token).sub);
    const split = record.split!;
    if (split.factor !== 'device' || !split.shareCRecoveryWrapped)
      throw new SplitError('NO_FACTOR', `Wallet ${record.address} has no device share to recover.`);
    const shareC = await unwrapWithRecoveryCode({
      recoveryCode,
      wrapped: base64ToBytes(split.shareCRecoveryWrapped, 'shareCRecoveryWrapped'),
      address: record.address,
    });
    if (!shareC) throw new SplitError('RECOVERY_CODE_WRONG', "This recovery code does not open the wallet's recovery copy of its device share.");
    try {
      return (await this.#rotate({
        factor: 'device',
        expectFactor: true,
        shareC,
        ...(options.passkeyPrf ? { passkeyPrf: options.passkeyPrf } : {}),
      })) as Required<RotationResult>;
    } finally {
      wipe(shareC);
    }
  }

  /**
   * Wraps the device share this device holds under a passkey's PRF output
   * too (docs/signer.md, "The passkey wrap"), for a wallet whose factor was
   * added without one: a plain rotation that keeps share C, unwrapped here
   * with this device's key, and commits a new passkey wrap of it in place of
   * the stored one (a wrap under another passkey is replaced). The device
   * key and the recovery code stay as they are.
   * `passkeyPrf`: the passkey's PRF output for PASSKEY_PRF_INPUT, evaluated
   * by the caller beforehand (not wiped here).
   * @throws {SplitError} NO_FACTOR, DEVICE_KEY_MISSING, DEVICE_KEY_MISMATCH, or as rotateShares().
   */
  async wrapDeviceShareForPasskey(options: { passkeyPrf: PasskeyPrfResult }): Promise<RotationResult> {
    const token = await this.envelope.token();
    this.#record = undefined;
    const record = await this.#readWalletRecord(token, tokenSubject(token).sub);
    const shareC = await this.#deviceShare(record);
    if (!shareC) throw new SplitError('NO_FACTOR', `Wallet ${record.address} has no device share.`);
    try {
      // The rotation reads the shares again; a C changed meanwhile (a recovery elsewhere) is refused by the signer.
      return await this.#rotate({ expectFactor: true, shareC, keptPasskeyPrf: options.passkeyPrf });
    } finally {
      wipe(shareC);
    }
  }

  /**
   * Removes the device factor: a rotation back to two shares (needs this
   * device's share C). The device key is deleted once the commit holds.
   * @throws {SplitError} NO_FACTOR, DEVICE_KEY_MISSING, DEVICE_KEY_MISMATCH, or as rotateShares().
   */
  async removeDeviceFactor(): Promise<RotationResult> {
    return this.#rotate({ factor: null, expectFactor: true });
  }

  /** Whether the wallet's shares include share C on the owner's device (a fresh read). */
  async hasDeviceFactor(): Promise<boolean> {
    const token = await this.envelope.token();
    this.#record = undefined;
    const { record } = await this.#walletRecord(token, tokenSubject(token).sub);
    return record.split?.factor === 'device';
  }

  /**
   * A signer request's JSON: the record's shares (address, share A's ciphertext, share B, master key,
   * generation, signing policy), then `fields`, then share C — unwrapped here with this device's key
   * (or `shareC` as given, which the caller wipes) and wiped once encoded.
   * @throws {SplitError} DEVICE_KEY_MISSING, DEVICE_KEY_MISMATCH.
   */
  async #sharesJson(record: WalletRecordWithShares, fields: Record<string, unknown>, shareC?: Uint8Array): Promise<string> {
    const split = record.split!;
    const c = shareC ?? (await this.#deviceShare(record));
    try {
      return toJson({
        address: record.address,
        shareB: split.shareB,
        shareACiphertext: split.shareACiphertext,
        keyId: split.kmsKeyId,
        // Share A's context names the wallet's sub; a linked login's token names another (docs/signer.md, "Linked logins").
        ...(split.encryptionContext?.sub ? { contextSub: split.encryptionContext.sub } : {}),
        ...(split.generation ? { generation: split.generation } : {}),
        ...(split.signingPolicy !== undefined ? { signingPolicy: split.signingPolicy } : {}),
        ...fields,
        ...(c ? { shareC: bytesToBase64(c) } : {}),
      });
    } finally {
      if (!shareC) wipe(c);
    }
  }

  /**
   * Share C of this wallet, unwrapped with this device's key (the caller wipes it); undefined for a two-share wallet.
   * @throws {SplitError} DEVICE_KEY_MISSING, DEVICE_KEY_MISMATCH.
   */
  async #deviceShare(record: WalletRecordWithShares): Promise<Uint8Array | undefined> {
    const split = record.split!;
    if (split.factor !== 'device') return undefined;
    const wrapped = split.shareCWrapped ? base64ToBytes(split.shareCWrapped, 'shareCWrapped') : undefined;
    const id = wrapped ? deviceKeyIdOf(wrapped) : undefined;
    const key = id && this.#options.deviceKeys ? await this.#options.deviceKeys.get(id) : undefined;
    // No device key here (another device, or the frame in another site's partition): the passkey wrap, if the wallet has one.
    if (!key && split.shareCPasskeyWrapped && this.#options.passkeyPrf) return this.#passkeyShare(record.address, split.shareCPasskeyWrapped);
    if (!wrapped || !key)
      throw new SplitError(
        'DEVICE_KEY_MISSING',
        `Wallet ${record.address} needs its device share, and this device does not hold the key that opens it: use the device that added it, or recover with the recovery code.`,
      );
    const shareC = await unwrapOnDevice({ deviceKey: key, wrapped, address: record.address });
    if (!shareC)
      throw new SplitError('DEVICE_KEY_MISMATCH', `This device's key does not open wallet ${record.address}'s device share (altered, or another wallet's).`);
    return shareC;
  }

  /**
   * Share C unwrapped with the passkey the wrap names: its PRF output is asked for (a passkey ceremony),
   * used once and wiped. The caller wipes the share.
   * @throws {SplitError} PASSKEY_PRF_MISMATCH when the output does not open the wrap; DEVICE_PRF_UNSUPPORTED and the ceremony's errors as passkeyPrf throws them.
   */
  async #passkeyShare(address: string, passkeyWrapped: string): Promise<Uint8Array> {
    const wrapped = base64ToBytes(passkeyWrapped, 'shareCPasskeyWrapped');
    const credentialId = passkeyCredentialIdOf(wrapped);
    if (!credentialId) throw new SplitError('PASSKEY_PRF_MISMATCH', `Wallet ${address}'s passkey wrap is not one this client reads.`);
    const prf = await this.#options.passkeyPrf!({ allow: [credentialId], input: PASSKEY_PRF_INPUT });
    try {
      const shareC = await unwrapWithPasskey({ prfOutput: prf.output, wrapped, address });
      if (!shareC) throw new SplitError('PASSKEY_PRF_MISMATCH', `This passkey does not open wallet ${address}'s device share (another passkey, or altered).`);
      return shareC;
    } finally {
      wipe(prf.output);
    }
  }

  /**
   * One rotation: the signer re-splits (`POST /v1/rotate`), the device wraps a
   * fresh share C if the signer made one, the wallet store commits
   * (compare-and-set), the new generation is activated. `factor`: `device`
   * makes a fresh share C (adding the factor, or replacing it in a
   * recovery), null removes it, absent keeps the wallet's.
   */
  async #rotate(options: {
    signingPolicy?: string | null;
    factor?: 'device' | null;
    /** Whether the wallet must (true) or must not (false) have the device factor now. */
    expectFactor?: boolean;
    /** Share C from the recovery code (recoverDeviceShare); not wiped here. */
    shareC?: Uint8Array;
    /** A fresh share C is also wrapped under this passkey's PRF output; not wiped here. */
    passkeyPrf?: PasskeyPrfResult;
    /** A kept share C (given as `shareC`) is wrapped again under this passkey's PRF output; not wiped here. */
    keptPasskeyPrf?: PasskeyPrfResult;
  }): Promise<RotationResult> {
    const [token, custodianToken] = await Promise.all([this.envelope.token(), this.envelope.custodianToken()]);
    const { sub } = tokenSubject(token);
    // Always the stored shares, never a kept copy: the rotation is a compare-and-set on their generation.
    this.#record = undefined;
    const record = await this.#readWalletRecord(token, sub);
    const split = record.split!;
    const hasFactor = split.factor === 'device';
    if (options.expectFactor === false && hasFactor) throw new SplitError('FACTOR_PRESENT', `Wallet ${record.address} already has a device share.`);
    if (options.expectFactor === true && !hasFactor) throw new SplitError('NO_FACTOR', `Wallet ${record.address} has no device share.`);
    if (options.factor === 'device' && !this.#options.deviceKeys)
      throw new SplitError('NO_DEVICE_KEY_STORE', 'This client has no deviceKeys store to keep a device key in.');
    const fromGeneration = split.generation ?? 0;
    const url = `${this.#options.signerUrl.replace(/\/+$/, '')}/v1/rotate`;
    const json = await this.#sharesJson(
      record,
      {
        generation: fromGeneration,
        ...(options.signingPolicy !== undefined ? { newSigningPolicy: options.signingPolicy } : {}),
        ...(options.factor !== undefined ? { newFactor: options.factor } : {}),
      },
      options.shareC,
    );
    const nextPolicy = options.signingPolicy === undefined ? split.signingPolicy : (options.signingPolicy ?? undefined);
    let rotated: RotatedShares;
    try {
      rotated = (await httpJson<RotatedShares>(this.#fetch, url, { method: 'POST', bearer: custodianToken, json })).body;
    } catch (e) {
      if (e instanceof WalletApiError) throw new SplitError(e.code, e.shortMessage, { status: e.status });
      throw e;
    }
    const oldKeyId = split.shareCWrapped ? deviceKeyIdOf(base64ToBytes(split.shareCWrapped, 'shareCWrapped')) : undefined;
    let deviceShare: { factor: 'device'; shareCWrapped: string; shareCRecoveryWrapped: string; shareCPasskeyWrapped?: string } | undefined;
    let newKeyId: string | undefined;
    let recoveryCode: string | undefined;
    if (rotated.factor === 'device' && rotated.shareC !== undefined) {
      // A fresh share C: a new device key (kept before the commit, so a commit that lands is never without it) and a new recovery code.
      const fresh = base64ToBytes(rotated.shareC, 'shareC');
      try {
        const deviceKey = await createDeviceKey();
        recoveryCode = newRecoveryCode();
        const [wrapped, recoveryWrapped, passkeyWrapped] = await Promise.all([
          wrapForDevice({ deviceKey, shareC: fresh, address: record.address }),
          wrapForRecovery({ recoveryCode, shareC: fresh, address: record.address }),
          options.passkeyPrf ? wrapForPasskey({ prf: options.passkeyPrf, shareC: fresh, address: record.address }) : undefined,
        ]);
        await this.#options.deviceKeys!.put(deviceKey.id, deviceKey.key);
        newKeyId = deviceKey.id;
        deviceShare = {
          factor: 'device',
          shareCWrapped: bytesToBase64(wrapped),
          shareCRecoveryWrapped: bytesToBase64(recoveryWrapped),
          ...(passkeyWrapped ? { shareCPasskeyWrapped: bytesToBase64(passkeyWrapped) } : {}),
        };
      } finally {
        wipe(fresh);
      }
    } else if (rotated.factor === 'device') {
      // Share C kept: the stored wraps still open it.
      if (!split.shareCWrapped || !split.shareCRecoveryWrapped)
        throw new SplitError('NO_FACTOR', 'The signer kept a device share the wallet record does not hold.');
      const passkeyWrapped =
        options.keptPasskeyPrf && options.shareC
          ? bytesToBase64(await wrapForPasskey({ prf: options.keptPasskeyPrf, shareC: options.shareC, address: record.address }))
          : split.shareCPasskeyWrapped;
      deviceShare = {
        factor: 'device',
        shareCWrapped: split.shareCWrapped,
        shareCRecoveryWrapped: split.shareCRecoveryWrapped,
        ...(passkeyWrapped ? { shareCPasskeyWrapped: passkeyWrapped } : {}),
      };
    }
    let committed = false;
    try {
      const { body } = await httpJson<WalletRecordWithShares>(this.#fetch, `${this.#walletBase}/wallets/me/shares`, {
        method: 'POST',
        bearer: token,
        body: {
          fromGeneration,
          shareACiphertext: rotated.shareACiphertext,
          shareB: rotated.shareB,
          proof: rotated.proof,
          ...(nextPolicy !== undefined ? { signingPolicy: nextPolicy } : {}),
          ...(deviceShare ?? {}),
        },
      });
      committed = true;
      const generation = body.split?.generation ?? rotated.generation;
      if (body.split) await this.#activate(body.address, body.split, custodianToken);
      // The old device key opens only a retired share now.
      if (oldKeyId && oldKeyId !== (deviceShare ? deviceKeyIdOf(base64ToBytes(deviceShare.shareCWrapped, 'shareCWrapped')) : undefined))
        await this.#options.deviceKeys?.delete(oldKeyId).catch(() => undefined);
      return { address: getAddress(body.address), generation, ...(recoveryCode ? { recoveryCode } : {}) };
    } finally {
      // A key for shares that were never committed opens nothing: drop it.
      if (!committed && newKeyId) await this.#options.deviceKeys?.delete(newKeyId).catch(() => undefined);
      this.#record = undefined;
    }
  }

  /**
   * Puts the just-committed generation in use (`POST /v1/activate`): the custodian then retires the
   * older ones (docs/signer.md, "Retiring old generations"). Best effort: the rotation is committed
   * already, and the next signature with these shares has the same effect.
   */
  async #activate(address: string, split: SplitShares, custodianToken: string): Promise<void> {
    const url = `${this.#options.signerUrl.replace(/\/+$/, '')}/v1/activate`;
    // Without this device's share (or with an error), the activation is skipped: the next signature activates.
    const json = await this.#sharesJson({ address: getAddress(address), split } as WalletRecordWithShares, { generation: split.generation ?? 0 }).catch(
      () => undefined,
    );
    if (json === undefined) return;
    await httpJson(this.#fetch, url, { method: 'POST', bearer: custodianToken, json }).catch(() => undefined);
  }

  /**
   * Attaches, changes or (null) removes the owner's signing policy: a share
   * rotation (rotateShares) whose new share A is sealed with the policy.
   * From then on the signer refuses every payload the policy does not allow.
   * @throws as rotateShares(); invalid_policy when the signer refuses the text.
   */
  async setSigningPolicy(policy: string | null): Promise<{ address: Address; generation: number }> {
    return this.rotateShares({ signingPolicy: policy });
  }

  /** The owner's signing policy as the wallet service stores it (a fresh read); undefined when there is none. */
  async signingPolicy(): Promise<string | undefined> {
    const token = await this.envelope.token();
    this.#record = undefined;
    const { record } = await this.#walletRecord(token, tokenSubject(token).sub);
    return record.split?.signingPolicy;
  }

  /**
   * What the owner's signing policy decides on `payload`, without signing
   * (the signer's `POST /v1/evaluate`): the frame shows it before approval.
   * Advice: the signature request is decided again by the signer. The
   * wallet record is read afresh (the policy may have changed on another
   * device since it was kept), and kept for the signature that follows.
   * @returns undefined when the wallet has no signing policy.
   * @throws {SplitError} with the signer's code (invalid_payload, invalid_token, …).
   */
  async previewSigningPolicy(payload: SplitSignPayload): Promise<SigningPolicyPreview | undefined> {
    const [token, custodianToken] = await Promise.all([this.envelope.token(), this.envelope.custodianToken()]);
    this.#record = undefined;
    const { record } = await this.#walletRecord(token, tokenSubject(token).sub);
    const policy = record.split?.signingPolicy;
    if (policy === undefined) return undefined;
    const url = `${this.#options.signerUrl.replace(/\/+$/, '')}/v1/evaluate`;
    try {
      return (
        await httpJson<SigningPolicyPreview>(this.#fetch, url, { method: 'POST', bearer: custodianToken, json: toJson({ payload, signingPolicy: policy }) })
      ).body;
    } catch (e) {
      if (e instanceof WalletApiError) throw new SplitError(e.code, e.shortMessage, { status: e.status });
      throw e;
    }
  }

  /**
   * Exports the wallet's private key to this device (docs/signer.md,
   * "Export"): a fresh HPKE key pair for this one export; the signer
   * (`POST /v1/export`, the owner's ID token, which must come from a login at
   * most 5 minutes old) seals the key to its public key; it is opened here,
   * checked against the wallet's address, handed to `use`, and wiped after.
   * The wallet service and the custodian see only ciphertext.
   * @throws {SplitError} NO_WALLET, NOT_SPLIT, OWNER_MISMATCH, SIGNER_MISMATCH (the answer does not open, or is another key),
   *   or the signer's code (reauthentication_required, export_disabled, release_refused, …).
   */
  async exportKey<T>(use: (privateKey: Uint8Array) => T | Promise<T>): Promise<T> {
    const [token, custodianToken] = await Promise.all([this.envelope.token(), this.envelope.custodianToken()]);
    const { sub } = tokenSubject(token);
    this.#record = undefined;
    const record = await this.#readWalletRecord(token, sub);
    const address = getAddress(record.address);
    const { keyPair, publicKey } = await generateExportKeyPair();
    const json = await this.#sharesJson(record, { address, publicKey: bytesToBase64(publicKey) });
    let sealed: { address: string; enc: string; ciphertext: string };
    try {
      const url = `${this.#options.signerUrl.replace(/\/+$/, '')}/v1/export`;
      sealed = (await httpJson<typeof sealed>(this.#fetch, url, { method: 'POST', bearer: custodianToken, json })).body;
    } catch (e) {
      if (e instanceof WalletApiError) throw new SplitError(e.code, e.shortMessage, { status: e.status });
      throw e;
    }
    let key: Uint8Array | undefined;
    try {
      try {
        key = await openExportKey({ keyPair, address, enc: base64ToBytes(sealed.enc, 'enc'), ciphertext: base64ToBytes(sealed.ciphertext, 'ciphertext') });
      } catch {
        throw new SplitError('SIGNER_MISMATCH', 'The exported key does not open on this device; nothing was shown.');
      }
      if (addressOfPublicKey(secp256k1.getPublicKey(key, false)) !== address)
        throw new SplitError('SIGNER_MISMATCH', `The exported key does not derive ${address}; nothing was shown.`);
      return await use(key);
    } finally {
      key?.fill(0);
    }
  }

  /**
   * The user's split wallet record: the one kept from an earlier read, or a
   * fresh `GET /v1/wallets/me`, kept only when it is a usable split wallet of
   * the token's subject (errors are not kept).
   */
  async #walletRecord(token: string, sub: string): Promise<{ record: WalletRecordWithShares; kept: Promise<unknown> }> {
    const kept = this.#record;
    if (kept) {
      // Concurrent signatures share one read.
      const k = await kept.catch(() => undefined);
      if (k && k.sub === sub) return { record: k.record, kept };
      if (this.#record === kept) this.#record = undefined;
    }
    const read = this.#readWalletRecord(token, sub).then((record) => ({ sub, record }));
    this.#record = read;
    read.catch(() => {
      if (this.#record === read) this.#record = undefined;
    });
    return { record: (await read).record, kept: read };
  }

  async #readWalletRecord(token: string, sub: string): Promise<WalletRecordWithShares> {
    let record: WalletRecordWithShares;
    try {
      record = (await httpJson<WalletRecordWithShares>(this.#fetch, `${this.#walletBase}/wallets/me`, { method: 'GET', bearer: token })).body;
    } catch (e) {
      if ((e as { code?: string }).code === 'not_found')
        throw new SplitError('NO_WALLET', 'This user has no wallet yet; create one with createWallet().', { cause: e });
      throw e;
    }
    const split = record.split;
    if (record.custodyMode !== 'split' || !split) throw new SplitError('NOT_SPLIT', `Wallet ${record.address} is not a split wallet (${record.custodyMode}).`);
    if (split.encryptionContext.sub !== sub) {
      // A linked login: the record's sub must be the one the user's own master key names (the custodian's word, not the wallet service's).
      try {
        await this.envelope.ownerSubject(split.encryptionContext.sub, split.kmsKeyId, token);
      } catch (e) {
        if ((e as { code?: unknown }).code === 'OWNER_MISMATCH')
          throw new SplitError('OWNER_MISMATCH', 'The wallet record names another owner than the token.');
        throw e;
      }
    }
    return record;
  }

  /** Releases the KMS client's connections. */
  destroy(): void {
    this.envelope.destroy();
  }
}
