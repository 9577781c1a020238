/**
 * The wallet store's users: created on the first sight of a new (issuer, sub),
 * each with a master key of their own in the custodian. A user row is stored
 * first and its master key recorded by a conditional update, so concurrent
 * first requests — in this process (single-flight) or in others (the UNIQUE
 * (issuer, sub) and "set if unset") — end with one user and one recorded key;
 * a key that lost the race is scheduled for deletion. If the custodian is
 * down, the user exists without a key and the next request tries again.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../storage/database.js';
import {
  findWalletUserById,
  findWalletUserByIdentity,
  insertWalletUserIfAbsent,
  setWalletUserMasterKeyIfUnset,
  updateWalletUserEmail,
  type WalletUserRow,
} from '../storage/wallet-users.repository.js';
import type { VerifiedIdentity } from './auth.js';
import type { MasterKeyCustodian } from './master-keys.js';

/** A user whose master key exists. */
export interface WalletUser extends WalletUserRow {
  masterKeyId: string;
}

export interface UserDirectoryDeps {
  store: Store;
  masterKeys: MasterKeyCustodian;
  logger: Logger;
  clock: () => number;
}

export interface UserDirectory {
  /**
   * The user of a verified identity, created (with their master key) on first sight.
   * @throws {WalletError} custodian_unavailable when the master key cannot be created now.
   */
  resolve(identity: VerifiedIdentity): Promise<WalletUser>;
}

const MAX_EMAIL_LENGTH = 320;

function withKey(u: WalletUserRow): WalletUser | undefined {
  return u.masterKeyId === null ? undefined : { ...u, masterKeyId: u.masterKeyId };
}

/** Creates the directory. */
export function createUserDirectory(deps: UserDirectoryDeps): UserDirectory {
  const { store, masterKeys, logger } = deps;
  // One first-sight creation per identity at a time in this process.
  const inFlight = new Map<string, Promise<WalletUser>>();

  async function ensureMasterKey(user: WalletUserRow): Promise<WalletUser> {
    const keyId = await masterKeys.create({ userId: user.id, issuer: user.issuer, sub: user.sub });
    const recorded = await setWalletUserMasterKeyIfUnset(store.db, user.id, keyId);
    // Another process recorded its key first: this one was never handed out. (A start-up
    // cleanup may have recorded this very key: src/wallet/orphaned-master-keys.ts.)
    if (!recorded && (await findWalletUserById(store.db, user.id))?.masterKeyId !== keyId) {
      await masterKeys.discard(keyId).catch((e: unknown) => {
        logger.warn({ userId: user.id, keyId, error: (e as Error).name }, 'unused master key could not be scheduled for deletion');
      });
    } else {
      logger.info({ userId: user.id, keyId }, 'wallet user master key created');
    }
    const stored = await findWalletUserById(store.db, user.id);
    const ready = stored && withKey(stored);
    if (!ready) throw new Error(`wallet user ${user.id} has no master key after creating one`);
    return ready;
  }

  async function firstSight(identity: VerifiedIdentity): Promise<WalletUser> {
    let user = await findWalletUserByIdentity(store.db, identity.issuer, identity.sub);
    if (!user) {
      const r = await insertWalletUserIfAbsent(store.db, {
        id: randomUUID(),
        issuer: identity.issuer,
        sub: identity.sub,
        email: identity.email ?? null,
        createdAt: deps.clock(),
        masterKeyId: null,
      });
      user = r.user;
      if (r.inserted) logger.info({ userId: user.id }, 'wallet user created');
    }
    return withKey(user) ?? (await ensureMasterKey(user));
  }

  return {
    async resolve(verified) {
      // RFC 5321 §4.5.3.1: no deliverable address is longer; a longer claim is not stored.
      const email = verified.email !== undefined && verified.email.length <= MAX_EMAIL_LENGTH ? verified.email : undefined;
      const identity: VerifiedIdentity = { issuer: verified.issuer, sub: verified.sub, exp: verified.exp, ...(email !== undefined ? { email } : {}) };
      const known = await findWalletUserByIdentity(store.db, identity.issuer, identity.sub);
      let user = known && withKey(known);
      if (!user) {
        const key = `${identity.issuer}\u0000${identity.sub}`;
        let pending = inFlight.get(key);
        if (!pending) {
          pending = firstSight(identity).finally(() => inFlight.delete(key));
          inFlight.set(key, pending);
        }
        user = await pending;
      }
      // The provider may change a user's email; absent means "not asserted", not "removed".
      if (identity.email !== undefined && identity.email !== user.email) {
        await updateWalletUserEmail(store.db, user.id, identity.email);
        user = { ...user, email: identity.email };
      }
      return user;
    },
  };
}
