/**
 * SQL for wallets. One wallet per user is the table's UNIQUE(user_id), and one
 * owner per address its UNIQUE(address), so two racing creates cannot both
 * store a key or an address: the insert is ON CONFLICT DO NOTHING and the
 * caller reads back whichever wallet won. Ciphertexts and sealed
 * shares pass through as bytes; nothing here can open them.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Tables, WalletTable } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export type CustodyMode = 'envelope' | 'split' | 'kms';

export interface WalletRow {
  id: string;
  userId: string;
  /** EIP-55 checksummed. */
  address: string;
  custodyMode: CustodyMode;
  /** envelope: the device's AES-256-GCM box of the private key. */
  encryptedPrivateKey: Uint8Array | null;
  /** envelope: the custodian's CiphertextBlob of the data key. */
  encryptedDataKey: Uint8Array | null;
  /** envelope: the master key of the data key; kms: the signing key. */
  kmsKeyId: string | null;
  /** split: share B sealed under the provider's key. */
  shareBSealed: Uint8Array | null;
  createdAt: number;
  idempotencyKey: string | null;
  /** split: the generation of the stored shares (0: made at creation; a new wallet's is 0 when omitted). */
  shareGeneration: number;
  /** An operator asked for the shares to be rotated at the owner's next login. */
  rotationRequired: boolean;
  /** split: the owner's signing policy text share A is sealed with (null: none). */
  signingPolicy: string | null;
  /** split: the owner's device share of the stored generation (null: two shares). */
  deviceShare: DeviceShareRow | null;
}

/** A three-share generation's share C, as the owner's device wrapped it twice (the store cannot open either). */
export interface DeviceShareRow {
  factor: 'device';
  /** Share C wrapped by the owner's device key. */
  wrapped: Uint8Array;
  /** Share C wrapped under the key derived from the owner's recovery code. */
  recoveryWrapped: Uint8Array;
  /** Share C wrapped under a key derived from a passkey's PRF output (absent: none). */
  passkeyWrapped?: Uint8Array | undefined;
}

/** A wallet to store: a new wallet starts at generation 0, not marked for rotation, without a signing policy. */
export type NewWalletRow = Omit<WalletRow, 'shareGeneration' | 'rotationRequired' | 'signingPolicy' | 'deviceShare'> &
  Partial<Pick<WalletRow, 'shareGeneration' | 'rotationRequired'>>;

const MODES: ReadonlyMap<string, CustodyMode> = new Map([
  ['envelope', 'envelope'],
  ['split', 'split'],
  ['kms', 'kms'],
]);

function bytesOrNull(b: Uint8Array | null): Uint8Array | null {
  return b === null ? null : new Uint8Array(b);
}

function toRow(r: Selectable<WalletTable>): WalletRow {
  const custodyMode = MODES.get(r.custody_mode);
  // The CHECK constraint makes this unreachable; a row that breaks it is not served.
  if (!custodyMode) throw new Error(`wallet ${r.id} has an unknown custody mode`);
  return {
    id: r.id,
    userId: r.user_id,
    address: r.address,
    custodyMode,
    encryptedPrivateKey: bytesOrNull(r.encrypted_private_key),
    encryptedDataKey: bytesOrNull(r.encrypted_data_key),
    kmsKeyId: r.kms_key_id,
    shareBSealed: bytesOrNull(r.share_b_sealed),
    createdAt: Number(r.created_at),
    idempotencyKey: r.idempotency_key,
    shareGeneration: Number(r.share_generation),
    rotationRequired: Number(r.rotation_required) === 1,
    signingPolicy: r.signing_policy ?? null,
    deviceShare: deviceShareOf(r),
  };
}

function deviceShareOf(r: Selectable<WalletTable>): DeviceShareRow | null {
  if (r.share_factor === null || r.share_factor === undefined) return null;
  // Written only with both blobs (swapSplitShares); a row that breaks that is not served.
  if (r.share_factor !== 'device' || !r.wrapped_share_c_device || !r.wrapped_share_c_recovery) throw new Error(`wallet ${r.id} has an incomplete device share`);
  return {
    factor: 'device',
    wrapped: new Uint8Array(r.wrapped_share_c_device),
    recoveryWrapped: new Uint8Array(r.wrapped_share_c_recovery),
    ...(r.wrapped_share_c_passkey ? { passkeyWrapped: new Uint8Array(r.wrapped_share_c_passkey) } : {}),
  };
}

export async function findWalletByUser(db: Db, userId: string): Promise<WalletRow | undefined> {
  const r = await db.selectFrom('wallets').selectAll().where('user_id', '=', userId).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

/** The wallet registered at an address (EIP-55 checksummed, as stored), if any. */
export async function findWalletByAddress(db: Db, address: string): Promise<WalletRow | undefined> {
  const r = await db.selectFrom('wallets').selectAll().where('address', '=', address).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

/**
 * Stores the wallet unless its user already has one or its address is another user's.
 * @returns the user's wallet (this one, or the one stored first) and whether this one was stored;
 *   or `addressTaken` when the user has no wallet and the address is another user's wallet.
 * @throws {Error} when the row breaks a constraint other than the two UNIQUEs (e.g. an incomplete envelope).
 */
export async function insertWalletIfAbsent(db: Db, w: NewWalletRow): Promise<{ wallet: WalletRow; inserted: boolean } | { addressTaken: true }> {
  const result = await db
    .insertInto('wallets')
    .values({
      id: w.id,
      user_id: w.userId,
      address: w.address,
      custody_mode: w.custodyMode,
      encrypted_private_key: w.encryptedPrivateKey,
      encrypted_data_key: w.encryptedDataKey,
      kms_key_id: w.kmsKeyId,
      share_b_sealed: w.shareBSealed,
      created_at: w.createdAt,
      idempotency_key: w.idempotencyKey,
      // The columns' defaults (generation 0, not marked) unless said otherwise.
      ...(w.shareGeneration ? { share_generation: w.shareGeneration } : {}),
      ...(w.rotationRequired ? { rotation_required: 1 } : {}),
    })
    // Any UNIQUE: user_id (one wallet per user) or address (one owner per address).
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  const wallet = await findWalletByUser(db, w.userId);
  if (!wallet) return { addressTaken: true };
  return { wallet, inserted: Number(result.numInsertedOrUpdatedRows ?? 0n) > 0 && wallet.id === w.id };
}

export async function countWalletsOfUser(db: Db, userId: string): Promise<number> {
  const r = await db
    .selectFrom('wallets')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * A share rotation's commit: share A's ciphertext, sealed share B and the
 * generation change together, and only if the wallet is still at
 * `fromGeneration` (compare-and-set: of two concurrent rotations one wins,
 * the other changes nothing). Clears `rotation_required`. The device share
 * (factor and both wrapped copies of share C) is swapped with them: a
 * generation's factor is the one its shares were made with.
 * @returns whether this call swapped the shares.
 */
export async function swapSplitShares(
  db: Db,
  s: {
    walletId: string;
    fromGeneration: number;
    toGeneration: number;
    shareACiphertext: Uint8Array;
    shareBSealed: Uint8Array;
    /** The policy text the new share A is sealed with (null: none). */
    signingPolicy: string | null;
    /** The new generation's device share (null or absent: two shares). */
    deviceShare?: DeviceShareRow | null | undefined;
  },
): Promise<boolean> {
  const result = await db
    .updateTable('wallets')
    .set({
      encrypted_data_key: s.shareACiphertext,
      share_b_sealed: s.shareBSealed,
      share_generation: s.toGeneration,
      rotation_required: 0,
      signing_policy: s.signingPolicy,
      share_factor: s.deviceShare?.factor ?? null,
      wrapped_share_c_device: s.deviceShare?.wrapped ?? null,
      wrapped_share_c_recovery: s.deviceShare?.recoveryWrapped ?? null,
      wrapped_share_c_passkey: s.deviceShare?.passkeyWrapped ?? null,
    })
    .where('id', '=', s.walletId)
    .where('custody_mode', '=', 'split')
    .where('share_generation', '=', s.fromGeneration)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Marks split wallets for rotation at their owners' next login: every split
 * wallet, or the one at `address`.
 * @returns how many wallets were marked (already marked ones included).
 */
export async function markSplitRotationRequired(db: Db, which: { all: true } | { address: string }): Promise<number> {
  let q = db.updateTable('wallets').set({ rotation_required: 1 }).where('custody_mode', '=', 'split');
  if ('address' in which) q = q.where('address', '=', which.address);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows);
}
