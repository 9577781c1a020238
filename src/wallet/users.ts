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
 * A new row records the subject the custodian tags every session of the
 * user with (`osub`) as its wallets' context sub, and the user's master key
 * names it as its pre-linking sub: every linked login may then use the
 * wallets, whichever login reached the wallet service first. A login that
 * left the user whose row it created finds that row only if its old user
 * was merged away (no login left at the custodian: the row is nobody
 * else's) and holds no wallet: it is handed to the login's user with a new
 * master key. Otherwise `login_moved`.
 *
 * A login's user id is reused for USER_ID_CACHE_MS only once its user holds
 * a wallet: a user holding nothing may lose its login to a merge at any
 * time (src/sts/merge-login.ts), so its logins ask the custodian each time.
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
  adoptWalletUser,
  insertWalletUserIfAbsent,
  setWalletUserUidIfUnset,
  setWalletUserMasterKeyIfUnset,
  updateWalletUserEmail,
  type WalletUserRow,
} from '../storage/wallet-users.repository.js';
import type { VerifiedIdentity } from './auth.js';
import { findWalletByUser } from '../storage/wallets.repository.js';
import type { MasterKeyCustodian } from './master-keys.js';
import type { CustodianUser } from './custodian-users.js';
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
/**
 * How long a login's user id is reused without asking the custodian again, once its user holds a wallet (an unlink
 * takes effect within it); a user holding nothing is asked about at every request.
 */
export const USER_ID_CACHE_MS = 60_000;
const USER_ID_CACHE_ENTRIES = 10_000;

type KeyedUser = Omit<WalletUser, 'login'>;

function withKey(u: WalletUserRow): KeyedUser | undefined {
  return u.masterKeyId === null ? undefined : { ...u, masterKeyId: u.masterKeyId };
}

/** The `sub` a user's wallets name as encryption context (docs/signer.md, "Linked logins"). */
export function contextSubOf(user: WalletUserRow): string {
  return user.contextSub ?? user.sub;
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
  const userIds = new Map<string, { user: CustodianUser; at: number }>();
  const cacheKey = (identity: VerifiedIdentity) => `${identity.issuer}\u0000${identity.sub}`;

  /**
   * The custodian's user of a login, and whether it came from the cache; undefined when the custodian has no linked
   * logins. Only users known to hold a wallet are cached (remember()).
   */
  async function userOf(identity: VerifiedIdentity): Promise<{ user: CustodianUser | undefined; cached: boolean }> {
    if (!masterKeys.userOf) return { user: undefined, cached: false };
    const hit = userIds.get(cacheKey(identity));
    if (hit && deps.clock() - hit.at < USER_ID_CACHE_MS) return { user: hit.user, cached: true };
    return { user: await masterKeys.userOf({ issuer: identity.issuer, sub: identity.sub }), cached: false };
  }

  /** Caches a login's user id, asked at `at`, once its user holds a wallet (a merge can no longer move the login away). */
  async function remember(identity: VerifiedIdentity, user: CustodianUser, rowId: string, at: number): Promise<void> {
    if (!(await findWalletByUser(store.db, rowId))) return;
    if (userIds.size >= USER_ID_CACHE_ENTRIES) userIds.clear();
    userIds.set(cacheKey(identity), { user, at });
  }

  /**
   * The row `legacy` that `identity` created for another user id, which no longer has this login: handed to the
   * login's user (`to`) only when its user was merged away (no login left at the custodian, so nobody else reaches
   * the row) and it holds no wallet; with a new master key, the old one having been retired by the merge.
   * @throws {WalletError} login_moved otherwise.
   */
  async function adoptMergedAway(identity: VerifiedIdentity, legacy: WalletUserRow & { uid: string }, to: CustodianUser): Promise<WalletUserRow> {
    if (await findWalletByUser(store.db, legacy.id)) throw loginMoved();
    // Undefined (a custodian that cannot tell) or logins left (an unlink): the row stays its user's.
    if ((await masterKeys.loginCountOf?.(legacy.uid)) !== 0) throw loginMoved();
    const contextSub = to.originSubject ?? identity.sub;
    const keyId = await masterKeys.create({ userId: legacy.id, issuer: legacy.issuer, sub: contextSub, uid: to.uid });
    if (await adoptWalletUser(store.db, legacy.id, legacy.uid, { uid: to.uid, masterKeyId: keyId, masterKeyTemplate: 3, contextSub })) {
      logger.info({ userId: legacy.id, keyId }, "wallet user of a merged-away user id taken over by its login's user");
      const adopted = await findWalletUserById(store.db, legacy.id);
      if (!adopted) throw new Error(`wallet user ${legacy.id} vanished after it was taken over`);
      return adopted;
    }
    await masterKeys.discard(keyId).catch((e: unknown) => {
      logger.warn({ userId: legacy.id, keyId, error: (e as Error).name }, 'unused master key could not be scheduled for deletion');
    });
    // Another request took it over, or the login's user got a row of its own, meanwhile.
    const now = await findWalletUserByUid(store.db, to.uid);
    if (now) return now;
    throw loginMoved();
  }

  /** The row of `user`: its own, or this login's row from before linked logins, stamped now, or one its old user left. */
  async function rowOfUid(identity: VerifiedIdentity, user: CustodianUser): Promise<WalletUserRow | undefined> {
    const { uid } = user;
    const own = await findWalletUserByUid(store.db, uid);
    if (own) return own;
    const legacy = await findWalletUserByIdentity(store.db, identity.issuer, identity.sub);
    if (!legacy) return undefined;
    if (legacy.uid !== null && legacy.uid !== uid) return adoptMergedAway(identity, { ...legacy, uid: legacy.uid }, user);
    if (await setWalletUserUidIfUnset(store.db, legacy.id, uid)) {
      logger.info({ userId: legacy.id }, 'wallet user keyed by the custodian user id');
      return { ...legacy, uid };
    }
    return findWalletUserByUid(store.db, uid);
  }

  async function ensureMasterKey(user: WalletUserRow): Promise<KeyedUser> {
    const keyId = await masterKeys.create({ userId: user.id, issuer: user.issuer, sub: contextSubOf(user), uid: user.uid ?? undefined });
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

  async function firstSight(identity: VerifiedIdentity, custodianUser: CustodianUser | undefined): Promise<KeyedUser> {
    const uid = custodianUser?.uid;
    let user = custodianUser ? await rowOfUid(identity, custodianUser) : await findWalletUserByIdentity(store.db, identity.issuer, identity.sub);
    if (!user) {
      const r = await insertWalletUserIfAbsent(store.db, {
        id: randomUUID(),
        issuer: identity.issuer,
        sub: identity.sub,
        email: identity.email ?? null,
        createdAt: deps.clock(),
        masterKeyId: null,
        uid: uid ?? null,
        // What STS tags every session of the user with as `osub`: the master key and the wallets name it.
        contextSub: custodianUser?.originSubject ?? null,
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
      const askedAt = deps.clock();
      const { user: custodianUser, cached } = await userOf(identity);
      const known = custodianUser ? await rowOfUid(identity, custodianUser) : await findWalletUserByIdentity(store.db, identity.issuer, identity.sub);
      let keyed = known && withKey(known);
      if (!keyed) {
        const key = custodianUser?.uid ?? cacheKey(identity);
        let pending = inFlight.get(key);
        if (!pending) {
          pending = firstSight(identity, custodianUser).finally(() => inFlight.delete(key));
          inFlight.set(key, pending);
        }
        keyed = await pending;
      }
      if (custodianUser && !cached) await remember(identity, custodianUser, keyed.id, askedAt);
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
