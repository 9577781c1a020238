/**
 * Creating and reading wallets. One wallet per user: the store's UNIQUE
 * user_id decides races; a repeated create with the same idempotency key and
 * the same content returns the stored wallet, anything else is 409
 * wallet_exists — never a second key. The wallet service never sees key
 * material: an envelope wallet arrives as two ciphertexts, made on the device.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../storage/database.js';
import { findWalletByUser, insertWalletIfAbsent, type WalletRow } from '../storage/wallets.repository.js';
import { equalConstantTime } from '../crypto/bytes.js';
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

function sameBytes(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && equalConstantTime(a, b);
}

/** Is `wallet` what this request would have stored (a retry of the request that stored it)? */
function isRetryOf(wallet: WalletRow, input: EnvelopeWalletInput): boolean {
  return (
    input.idempotencyKey !== undefined &&
    wallet.idempotencyKey === input.idempotencyKey &&
    wallet.custodyMode === input.custodyMode &&
    wallet.address === input.address &&
    sameBytes(wallet.encryptedPrivateKey, input.encryptedPrivateKey) &&
    sameBytes(wallet.encryptedDataKey, input.encryptedDataKey)
  );
}

function exists(wallet: WalletRow, input: EnvelopeWalletInput): WalletError {
  const why =
    input.idempotencyKey !== undefined && wallet.idempotencyKey === input.idempotencyKey
      ? 'a request with this idempotency key created it with different content'
      : 'one wallet per user';
  return new WalletError('wallet_exists', `This user already has a wallet (${why}); GET /v1/wallets/me returns it.`);
}

/**
 * Creates the user's envelope wallet.
 * @returns the wallet and whether this request created it (false: an idempotent retry).
 * @throws {WalletError} wallet_exists when the user has a wallet this request did not create.
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
  const { wallet, inserted } = await insertWalletIfAbsent(deps.store.db, {
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
  if (inserted) return { wallet, created: true };
  // Lost a race with a concurrent create of this user.
  if (isRetryOf(wallet, input)) return { wallet, created: false };
  throw exists(wallet, input);
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
