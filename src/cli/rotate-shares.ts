/**
 * `symbolon operator rotate-shares (--all | --address 0x…)`: marks split
 * wallets for share rotation (docs/signer.md, "Share rotation"), e.g. after a
 * suspected compromise of the wallet store. An operator holds no user's
 * token, so it cannot — and must not — re-split anyone's key: it sets
 * `rotation_required` in the wallet store, and each owner's device rotates
 * at the owner's next login or signature, with the owner's token
 * (SplitWalletClient.rotateIfRequired). The operator never sees a share.
 * The store is DIR/symbolon.db, or DATABASE_URL (PostgreSQL) as for
 * `symbolon audit`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getAddress } from 'viem';
import { openStore } from '../storage/database.js';
import { markSplitRotationRequired } from '../storage/wallets.repository.js';

/**
 * @returns how many split wallets were marked.
 * @throws {RangeError} for a malformed address or a missing store.
 */
export async function markWalletsForRotation(options: {
  which: { all: true } | { address: string };
  dataDir: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
}): Promise<number> {
  let which = options.which;
  if ('address' in which) {
    try {
      which = { address: getAddress(which.address) };
    } catch {
      throw new RangeError('--address must be a 20-byte 0x address');
    }
  }
  const url = options.env.DATABASE_URL || undefined;
  const file = join(resolve(options.dataDir ?? options.env.SYMBOLON_DATA_DIR ?? './data'), 'symbolon.db');
  if (!url && !existsSync(file)) throw new RangeError(`no store at ${file} (use --data DIR, or set DATABASE_URL)`);
  const store = await openStore(url ? { databaseUrl: url } : { sqliteFile: file });
  try {
    return await markSplitRotationRequired(store.db, which);
  } finally {
    await store.close();
  }
}
