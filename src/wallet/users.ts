/**
 * The wallet store's users: one per custodian user id (`uid`, docs/sts.md,
 * "Linked logins"), so every login the custodian links to a user reaches the
 * same row, master key and wallet. The wallet service only reads which user a
 * verified login is (STS GetWebIdentityUser with its own credentials,
 * src/wallet/custodian-users.ts); it cannot link or unlink. A row made before
 * linked logins (keyed by the (issuer, sub) that created it) is stamped with
 * its login's uid on that login's next request. With a custodian that has no
 * linked logins, users stay keyed by (issuer, sub).
 *
 * A user row is stored first and its master key recorded by a conditional
 * update, so concurrent first requests — in this process (single-flight) or
 * in others (the UNIQUE uid and (issuer, sub), and "set if unset") — end with
 * one user and one recorded key; a key that lost the race is scheduled for
 * deletion. If the custodian is down, the user exists without a key and the
 * next request tries again.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../storage/database.js';
import {
  findWalletUserById,
  findWalletUserByIdentity,
  findWalletUserByUid,
  insertWalletUserIfAbsent,
  setWalletUserUidIfUnset,
  setWalletUserMasterKeyIfUnset,
  updateWalletUserEmail,
  type WalletUserRow,
} from '../storage/wallet-users.repository.js';
import type { VerifiedIdentity } from './auth.js';
import type { MasterKeyCustodian } from './master-keys.js';
import { WalletError } from './errors.js';

/** A user whose master key exists, as reached by one login. */
export interface WalletUser extends WalletUserRow {
  masterKeyId: string;
  /** The verified login of this request (one of the user's linked logins; `issuer`/`sub` name the one that created the row). */
  login: { issuer: string; sub: string };
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
/** How long a login's user id is reused without asking the custodian again (an unlink takes effect within it). */
export const USER_ID_CACHE_MS = 60_000;
const USER_ID_CACHE_ENTRIES = 10_000;

type KeyedUser = Omit<WalletUser, 'login'>;

function withKey(u: WalletUserRow): KeyedUser | undefined {
  return u.masterKeyId === null ? undefined : { ...u, masterKeyId: u.masterKeyId };
}

function loginMoved(): WalletError {
  return new WalletError(
    'login_moved',
    'This login was unlinked from the user whose wallet it created and now belongs to another user; log in with a method linked to the wallet.',
  );
}

/** Creates the directory. */
export function createUserDirectory(deps: UserDirectoryDeps): UserDirectory {
  const { store, masterKeys, logger } = deps;
  // One first-sight creation per identity at a time in this process.
  const inFlight = new Map<string, Promise<KeyedUser>>();
  const userIds = new Map<string, { uid: string | undefined; at: number }>();

  /** The custodian's uid of a login (cached USER_ID_CACHE_MS); undefined when the custodian has no linked logins. */
  async function userIdOf(identity: VerifiedIdentity): Promise<string | undefined> {
    if (!masterKeys.userIdOf) return undefined;
    const key = `${identity.issuer}\u0000${identity.sub}`;
    const now = deps.clock();
    const hit = userIds.get(key);
    if (hit && now - hit.at < USER_ID_CACHE_MS) return hit.uid;
    const uid = await masterKeys.userIdOf({ issuer: identity.issuer, sub: identity.sub });
    if (userIds.size >= USER_ID_CACHE_ENTRIES) userIds.clear();
    userIds.set(key, { uid, at: now });
    return uid;
  }

  /** The row of `uid`: its own, or this login's row from before linked logins, stamped now. */
  async function rowOfUid(identity: VerifiedIdentity, uid: string): Promise<WalletUserRow | undefined> {
    const own = await findWalletUserByUid(store.db, uid);
    if (own) return own;
    const legacy = await findWalletUserByIdentity(store.db, identity.issuer, identity.sub);
    if (!legacy) return undefined;
    if (legacy.uid !== null && legacy.uid !== uid) throw loginMoved();
    if (await setWalletUserUidIfUnset(store.db, legacy.id, uid)) {
      logger.info({ userId: legacy.id }, 'wallet user keyed by the custodian user id');
      return { ...legacy, uid };
    }
    return findWalletUserByUid(store.db, uid);
  }

  async function ensureMasterKey(user: WalletUserRow): Promise<KeyedUser> {
    const keyId = await masterKeys.create({ userId: user.id, issuer: user.issuer, sub: user.sub, uid: user.uid ?? undefined });
    const recorded = await setWalletUserMasterKeyIfUnset(store.db, user.id, keyId, user.uid !== null ? 3 : undefined);
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

  async function firstSight(identity: VerifiedIdentity, uid: string | undefined): Promise<KeyedUser> {
    let user = uid !== undefined ? await rowOfUid(identity, uid) : await findWalletUserByIdentity(store.db, identity.issuer, identity.sub);
    if (!user) {
      const r = await insertWalletUserIfAbsent(store.db, {
        id: randomUUID(),
        issuer: identity.issuer,
        sub: identity.sub,
        email: identity.email ?? null,
        createdAt: deps.clock(),
        masterKeyId: null,
        uid: uid ?? null,
      });
      user = r.user;
      // (issuer, sub) holds a row of another user: the login was unlinked from it.
      if (uid !== undefined && user.uid !== uid) throw loginMoved();
      if (r.inserted) logger.info({ userId: user.id }, 'wallet user created');
    }
    return withKey(user) ?? (await ensureMasterKey(user));
  }

  return {
    async resolve(verified) {
      // RFC 5321 §4.5.3.1: no deliverable address is longer; a longer claim is not stored.
      const email = verified.email !== undefined && verified.email.length <= MAX_EMAIL_LENGTH ? verified.email : undefined;
      const identity: VerifiedIdentity = { issuer: verified.issuer, sub: verified.sub, exp: verified.exp, ...(email !== undefined ? { email } : {}) };
      const uid = await userIdOf(identity);
      const known = uid !== undefined ? await rowOfUid(identity, uid) : await findWalletUserByIdentity(store.db, identity.issuer, identity.sub);
      let keyed = known && withKey(known);
      if (!keyed) {
        const key = uid ?? `${identity.issuer}\u0000${identity.sub}`;
        let pending = inFlight.get(key);
        if (!pending) {
          pending = firstSight(identity, uid).finally(() => inFlight.delete(key));
          inFlight.set(key, pending);
        }
        keyed = await pending;
      }
      let user: WalletUser = { ...keyed, login: { issuer: identity.issuer, sub: identity.sub } };
      // The provider may change a user's email; absent means "not asserted", not "removed".
      if (identity.email !== undefined && identity.email !== user.email) {
        await updateWalletUserEmail(store.db, user.id, identity.email);
        user = { ...user, email: identity.email };
      }
      return user;
    },
  };
}
