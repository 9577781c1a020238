/**
 * Creating and reading wallets. One wallet per user: the store's UNIQUE
 * user_id decides races; a repeated create with the same idempotency key and
 * the same content returns the stored wallet, anything else is 409
 * wallet_exists — never a second key. The wallet service never sees a whole
 * key: an envelope wallet arrives as two ciphertexts, made on the device; a
 * split wallet (issue 6, "Splitting") as share A's KMS ciphertext, which the
 * wallet service cannot open (it is denied the user's master key), and share
 * B, which it seals under the provider's key before storing. Either is one
 * INSERT: the record exists only once everything it needs is stored.
 *
 * Split columns: share A's ciphertext is kept in `encrypted_data_key` (like a
 * data key, a custodian CiphertextBlob under the user's master key, named by
 * `kms_key_id`); sealed share B in `share_b_sealed`.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../storage/database.js';
import { findWalletByUser, insertWalletIfAbsent, swapSplitShares, type DeviceShareRow, type WalletRow } from '../storage/wallets.repository.js';
import { recoverMessageAddress, type Hex } from 'viem';
import { rotationStatement } from '../signer/rotationStatement.js';
import { signingPolicySha256 } from '../signing-policy/signingPolicySha256.js';
import { equalConstantTime, wipe } from '../crypto/bytes.js';
import { sealingContext, type RootOfTrust } from '../root/root-of-trust.js';
import { WalletError } from './errors.js';
import type { WalletUser } from './users.js';

/** A validated request to create an envelope wallet. */
export interface EnvelopeWalletInput {
  custodyMode: 'envelope';
  /** EIP-55 checksummed. */
  address: string;
  encryptedPrivateKey: Uint8Array;
  encryptedDataKey: Uint8Array;
  idempotencyKey: string | undefined;
}

/** A validated request to create a split wallet. */
export interface SplitWalletInput {
  custodyMode: 'split';
  /** EIP-55 checksummed. */
  address: string;
  /** The custodian's CiphertextBlob of share A (context `{ sub, address }`); opaque here. */
  shareACiphertext: Uint8Array;
  /** 32 bytes; wiped by createSplitWallet. */
  shareB: Uint8Array;
  idempotencyKey: string | undefined;
}

/** The provider's key for share B: the wallet role's root of trust (a deployment gives the wallet role its own). */
export type ShareSealer = Pick<RootOfTrust, 'seal' | 'open'>;

type WalletInput = EnvelopeWalletInput | SplitWalletInput;

/**
 * Associated data of a sealed share B: the box opens only for this user's
 * wallet at this address, and — from the first rotation on — for this share
 * generation, so a sealed share B copied between generations does not open.
 */
export function shareBContext(userId: string, address: string, generation = 0): Uint8Array {
  return generation === 0 ? sealingContext('wallet/share-b/v1', userId, address) : sealingContext('wallet/share-b/v2', userId, address, String(generation));
}

/**
 * Opens a split wallet's share B. The caller wipes the result.
 * @throws {Error} when the row has no sealed share B; {SealedBoxError} when it does not open.
 */
export function openShareB(sealer: ShareSealer, wallet: WalletRow): Uint8Array {
  if (!wallet.shareBSealed) throw new Error(`split wallet ${wallet.id} has no share B`);
  return sealer.open(wallet.shareBSealed, shareBContext(wallet.userId, wallet.address, wallet.shareGeneration));
}

function sameBytes(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && equalConstantTime(a, b);
}

/** Same content as `input` (share B compared after opening the stored box). */
function sameContent(wallet: WalletRow, input: WalletInput, sealer: ShareSealer | undefined): boolean {
  if (input.custodyMode === 'envelope') {
    return sameBytes(wallet.encryptedPrivateKey, input.encryptedPrivateKey) && sameBytes(wallet.encryptedDataKey, input.encryptedDataKey);
  }
  if (!sealer || !sameBytes(wallet.encryptedDataKey, input.shareACiphertext)) return false;
  const stored = openShareB(sealer, wallet);
  try {
    return sameBytes(stored, input.shareB);
  } finally {
    wipe(stored);
  }
}

/** Is `wallet` what this request would have stored (a retry of the request that stored it)? */
function isRetryOf(wallet: WalletRow, input: WalletInput, sealer?: ShareSealer): boolean {
  return (
    input.idempotencyKey !== undefined &&
    wallet.idempotencyKey === input.idempotencyKey &&
    wallet.custodyMode === input.custodyMode &&
    wallet.address === input.address &&
    sameContent(wallet, input, sealer)
  );
}

function exists(wallet: WalletRow, input: WalletInput): WalletError {
  const why =
    input.idempotencyKey !== undefined && wallet.idempotencyKey === input.idempotencyKey
      ? 'a request with this idempotency key created it with different content'
      : 'one wallet per user';
  return new WalletError('wallet_exists', `This user already has a wallet (${why}); GET /v1/wallets/me returns it.`);
}

/** Whose wallet it is stays unsaid. */
function addressTaken(): WalletError {
  return new WalletError('address_taken', "This address is another user's wallet; an address has one owner.");
}

/**
 * Creates the user's envelope wallet.
 * @returns the wallet and whether this request created it (false: an idempotent retry).
 * @throws {WalletError} wallet_exists when the user has a wallet this request did not create; address_taken when the address is another user's wallet.
 */
export async function createEnvelopeWallet(
  deps: { store: Store; clock: () => number },
  user: WalletUser,
  input: EnvelopeWalletInput,
): Promise<{ wallet: WalletRow; created: boolean }> {
  const existing = await findWalletByUser(deps.store.db, user.id);
  if (existing) {
    if (isRetryOf(existing, input)) return { wallet: existing, created: false };
    throw exists(existing, input);
  }
  const stored = await insertWalletIfAbsent(deps.store.db, {
    id: randomUUID(),
    userId: user.id,
    address: input.address,
    custodyMode: 'envelope',
    encryptedPrivateKey: input.encryptedPrivateKey,
    encryptedDataKey: input.encryptedDataKey,
    // The data key was encrypted under the user's master key: the only key this wallet names.
    kmsKeyId: user.masterKeyId,
    shareBSealed: null,
    createdAt: deps.clock(),
    idempotencyKey: input.idempotencyKey ?? null,
  });
  if ('addressTaken' in stored) throw addressTaken();
  const { wallet, inserted } = stored;
  if (inserted) return { wallet, created: true };
  // Lost a race with a concurrent create of this user.
  if (isRetryOf(wallet, input)) return { wallet, created: false };
  throw exists(wallet, input);
}

/**
 * Creates the user's split wallet: share B sealed under the provider's key,
 * share A's ciphertext kept as it came, in one INSERT.
 * @returns the wallet and whether this request created it (false: an idempotent retry).
 * @throws {WalletError} wallet_exists when the user has a wallet this request did not create; address_taken when the address is another user's wallet.
 */
export async function createSplitWallet(
  deps: { store: Store; clock: () => number; sealer: ShareSealer },
  user: WalletUser,
  input: SplitWalletInput,
): Promise<{ wallet: WalletRow; created: boolean }> {
  try {
    const existing = await findWalletByUser(deps.store.db, user.id);
    if (existing) {
      if (isRetryOf(existing, input, deps.sealer)) return { wallet: existing, created: false };
      throw exists(existing, input);
    }
    const stored = await insertWalletIfAbsent(deps.store.db, {
      id: randomUUID(),
      userId: user.id,
      address: input.address,
      custodyMode: 'split',
      encryptedPrivateKey: null,
      encryptedDataKey: input.shareACiphertext,
      // Share A was encrypted under the user's master key: the key the signer's Decrypt names.
      kmsKeyId: user.masterKeyId,
      shareBSealed: deps.sealer.seal(input.shareB, shareBContext(user.id, input.address)),
      createdAt: deps.clock(),
      idempotencyKey: input.idempotencyKey ?? null,
    });
    if ('addressTaken' in stored) throw addressTaken();
    const { wallet, inserted } = stored;
    if (inserted) return { wallet, created: true };
    if (isRetryOf(wallet, input, deps.sealer)) return { wallet, created: false };
    throw exists(wallet, input);
  } finally {
    wipe(input.shareB);
  }
}

/**
 * The user's wallet.
 * @throws {WalletError} not_found when the user has none.
 */
export async function getWalletOfUser(deps: { store: Store }, user: WalletUser): Promise<WalletRow> {
  const wallet = await findWalletByUser(deps.store.db, user.id);
  if (!wallet) throw new WalletError('not_found', 'This user has no wallet yet; create one with POST /v1/wallets.');
  return wallet;
}

/** A validated rotation commit (POST /v1/wallets/me/shares). */
export interface ShareRotationInput {
  /** The generation the device read and the signer re-split (compare-and-set). */
  fromGeneration: number;
  /** The signer's new share A ciphertext (context `{ sub, address, generation: fromGeneration + 1 }`). */
  shareACiphertext: Uint8Array;
  /** 32 bytes; wiped by commitShareRotation. */
  shareB: Uint8Array;
  /** The signer's EIP-191 signature over rotationStatement() with the wallet's key. */
  proof: Hex;
  /** The owner's signing policy the new share A is sealed with (absent: none); the proof names its SHA-256. */
  signingPolicy?: string | undefined;
  /** The new generation's device share (the proof names its factor; absent: two shares). */
  deviceShare?: DeviceShareRow | undefined;
}

/**
 * Commits a share rotation: checks that the wallet's key signed this pair of
 * new shares (the signer made them together), then swaps share A's
 * ciphertext, sealed share B and the generation in one UPDATE that holds
 * only if the wallet is still at `fromGeneration`. The owner's signing
 * policy text goes with them: the proof names its SHA-256, so the text
 * stored is the one the new share A opens with (docs/signing-policy.md).
 * So does the device factor: the proof names `factor: device` when the
 * signer made three shares, so a three-share generation is never recorded
 * as a two-share one (its owner's device would not know to send share C),
 * nor the reverse. The wrapped copies of share C are stored as given: only
 * the owner's device and recovery code open them.
 * @returns the wallet as stored after the swap.
 * @throws {WalletError} not_found, invalid_request (not split, bad proof), generation_conflict.
 */
export async function commitShareRotation(deps: { store: Store; sealer: ShareSealer }, user: WalletUser, input: ShareRotationInput): Promise<WalletRow> {
  try {
    const wallet = await getWalletOfUser(deps, user);
    if (wallet.custodyMode !== 'split')
      throw new WalletError('invalid_request', `Only a split wallet has shares to rotate; this one is ${wallet.custodyMode}.`);
    if (wallet.shareGeneration !== input.fromGeneration)
      throw new WalletError(
        'generation_conflict',
        `The wallet's shares are at generation ${wallet.shareGeneration}, not ${input.fromGeneration}: another rotation committed first; read the wallet again.`,
      );
    const generation = input.fromGeneration + 1;
    const signingPolicy = input.signingPolicy ?? null;
    const statement = rotationStatement({
      address: wallet.address,
      generation,
      shareACiphertext: input.shareACiphertext,
      shareB: input.shareB,
      signingPolicySha256: signingPolicy === null ? undefined : signingPolicySha256(signingPolicy),
      factor: input.deviceShare?.factor,
    });
    let signer: string | undefined;
    try {
      signer = await recoverMessageAddress({ message: statement, signature: input.proof });
    } catch {
      signer = undefined;
    }
    if (signer !== wallet.address)
      throw new WalletError(
        'invalid_request',
        "body.proof is not the wallet key's signature over these shares, this signing policy and this factor: they were not made together by the signer.",
      );
    const swapped = await swapSplitShares(deps.store.db, {
      walletId: wallet.id,
      fromGeneration: input.fromGeneration,
      toGeneration: generation,
      shareACiphertext: input.shareACiphertext,
      shareBSealed: deps.sealer.seal(input.shareB, shareBContext(wallet.userId, wallet.address, generation)),
      signingPolicy,
      deviceShare: input.deviceShare ?? null,
    });
    if (!swapped) throw new WalletError('generation_conflict', 'Another rotation committed first; read the wallet again.');
    return await getWalletOfUser(deps, user);
  } finally {
    wipe(input.shareB);
  }
}
