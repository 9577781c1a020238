/**
 * The wallet store's repositories and the wallet-service principal's
 * provisioning, on the store this run uses (SQLite, or PostgreSQL in a fresh
 * schema with DATABASE_URL): first writer wins on (issuer, sub), one wallet
 * per user and one recorded master key whatever the races, the table's CHECKs
 * refuse half-written or unknown-mode rows, bytes round-trip; a row is
 * taken over by another user id only from the user id it has, without a
 * wallet, and never onto a user id that has a row.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { dropPgSchema, openStore, type Store } from '../src/storage/database.js';
import {
  adoptWalletUser,
  findWalletUserById,
  findWalletUserByIdentity,
  findWalletUserByUid,
  insertWalletUserIfAbsent,
  listWalletUsersPage,
  setWalletUserUidIfUnset,
  setWalletUserMasterKeyIfUnset,
  updateWalletUserEmail,
  type WalletUserRow,
} from '../src/storage/wallet-users.repository.js';
import { getAddress } from 'viem';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { migrations } from '../src/storage/migrations/index.js';
import { countWalletsOfUser, findWalletByAddress, findWalletByUser, insertWalletIfAbsent, type WalletRow } from '../src/storage/wallets.repository.js';
import { deleteUserAccessKey, findUser, getUserPolicy, listUserAccessKeys, setAccessKeyStatus } from '../src/storage/iam.repository.js';
import { KeyRootOfTrust } from '../src/root/root-of-trust.js';
import { provisionWalletServicePrincipal, WALLET_SERVICE_POLICY, WALLET_SERVICE_USER, walletServiceIdentityPolicy } from '../src/wallet/wallet-principal.js';

const url = process.env.DATABASE_URL;
const schema = url ? `t_${randomBytes(6).toString('hex')}` : undefined;
let store: Store;

before(async () => {
  store = await openStore({ databaseUrl: url, sqliteFile: ':memory:', pgSchema: schema });
});
after(async () => {
  await store?.close();
  if (url && schema) await dropPgSchema(url, schema);
});

function user(extra: Partial<WalletUserRow> = {}): WalletUserRow {
  return {
    id: randomUUID(),
    issuer: 'https://issuer.example/',
    sub: `sub-${randomUUID()}`,
    email: null,
    createdAt: 1_700_000_000_000,
    masterKeyId: null,
    uid: null,
    masterKeyTemplate: null,
    contextSub: null,
    ...extra,
  };
}

/** The insert's answer when it stored or found the user's wallet (not an address conflict). */
async function stored(p: ReturnType<typeof insertWalletIfAbsent>): Promise<{ wallet: WalletRow; inserted: boolean }> {
  const r = await p;
  assert.ok(!('addressTaken' in r), 'not an address conflict');
  return r;
}

function envelope(userId: string, extra: Partial<WalletRow> = {}): WalletRow {
  return {
    id: randomUUID(),
    userId,
    // One owner per address: every test wallet gets its own.
    address: getAddress(`0x${randomBytes(20).toString('hex')}`),
    custodyMode: 'envelope',
    encryptedPrivateKey: new Uint8Array(randomBytes(60)),
    encryptedDataKey: new Uint8Array(randomBytes(189)),
    kmsKeyId: 'key-1',
    shareBSealed: null,
    createdAt: 1_700_000_000_123,
    idempotencyKey: null,
    shareGeneration: 0,
    rotationRequired: false,
    signingPolicy: null,
    deviceShare: null,
    ...extra,
  };
}

test('users by custodian user id: a row from before linked logins is stamped once; a uid keys one row; an insert naming a taken uid finds its row', async () => {
  const uid = `u-${randomBytes(16).toString('hex')}`;
  const legacy = user();
  await insertWalletUserIfAbsent(store.db, legacy);
  assert.equal(await findWalletUserByUid(store.db, uid), undefined);
  assert.equal(await setWalletUserUidIfUnset(store.db, legacy.id, uid), true);
  assert.equal((await findWalletUserByUid(store.db, uid))?.id, legacy.id);
  assert.equal(await setWalletUserUidIfUnset(store.db, legacy.id, uid), true, 'stamping the same uid again is a no-op');
  // Another row cannot take that uid, and a stamped row keeps its uid.
  const other = user();
  await insertWalletUserIfAbsent(store.db, other);
  assert.equal(await setWalletUserUidIfUnset(store.db, other.id, uid), false);
  assert.equal((await findWalletUserById(store.db, other.id))?.uid, null);
  assert.equal(await setWalletUserUidIfUnset(store.db, legacy.id, `u-${randomBytes(16).toString('hex')}`), false);
  assert.equal((await findWalletUserById(store.db, legacy.id))?.uid, uid);
  // A linked login's first request for the same uid, from another (issuer, sub): the uid's row answers.
  const racing = await insertWalletUserIfAbsent(store.db, user({ uid }));
  assert.equal(racing.inserted, false);
  assert.equal(racing.user.id, legacy.id);
  // Rows without a uid do not collide with each other (NULLs are distinct in the unique index).
  const a = await insertWalletUserIfAbsent(store.db, user());
  const b = await insertWalletUserIfAbsent(store.db, user());
  assert.ok(a.inserted && b.inserted);
  // Paging by id visits every row once.
  const seen: string[] = [];
  for (let after: string | undefined; ; ) {
    const page = await listWalletUsersPage(store.db, after, 2);
    if (page.length === 0) break;
    seen.push(...page.map((u) => u.id));
    after = page[page.length - 1]!.id;
  }
  assert.equal(new Set(seen).size, seen.length);
  for (const id of [legacy.id, other.id, a.user.id, b.user.id]) assert.ok(seen.includes(id));
});

test('users: one per (issuer, sub), first writer wins; the same sub of another issuer is another user', async () => {
  const first = user({ email: 'ada@example.com' });
  const a = await insertWalletUserIfAbsent(store.db, first);
  assert.equal(a.inserted, true);
  assert.deepEqual(a.user, first);
  const b = await insertWalletUserIfAbsent(store.db, user({ issuer: first.issuer, sub: first.sub }));
  assert.equal(b.inserted, false);
  assert.deepEqual(b.user, first);
  const other = await insertWalletUserIfAbsent(store.db, user({ issuer: 'https://other.example/', sub: first.sub }));
  assert.equal(other.inserted, true);
  assert.notEqual(other.user.id, first.id);
  assert.deepEqual(await findWalletUserByIdentity(store.db, first.issuer, first.sub), first);
  assert.equal(await findWalletUserByIdentity(store.db, first.issuer, 'nobody'), undefined);

  // Concurrent first sights: one row.
  const racer = user();
  const results = await Promise.all([1, 2, 3, 4].map(() => insertWalletUserIfAbsent(store.db, { ...racer, id: randomUUID() })));
  assert.equal(results.filter((r) => r.inserted).length, 1);
  assert.equal(new Set(results.map((r) => r.user.id)).size, 1);
});

test('users: a row is taken over only from its own user id, without a wallet, and not onto a user id that has a row', async () => {
  const uid = () => `u-${randomBytes(16).toString('hex')}`;
  const from = uid();
  const row = (await insertWalletUserIfAbsent(store.db, user({ uid: from, masterKeyId: 'old-key' }))).user;
  const to = { uid: uid(), masterKeyId: 'new-key', masterKeyTemplate: 3, contextSub: 'origin-sub' };
  assert.equal(await adoptWalletUser(store.db, row.id, uid(), to), false, 'another user id than the row has');
  // A user id with a row of its own: refused (the unique index), nothing changes.
  const taken = (await insertWalletUserIfAbsent(store.db, user({ uid: uid() }))).user;
  assert.equal(await adoptWalletUser(store.db, row.id, from, { ...to, uid: taken.uid! }), false);
  assert.deepEqual(await findWalletUserById(store.db, row.id), row);
  assert.equal(await adoptWalletUser(store.db, row.id, from, to), true);
  assert.deepEqual(await findWalletUserById(store.db, row.id), { ...row, uid: to.uid, masterKeyId: 'new-key', masterKeyTemplate: 3, contextSub: 'origin-sub' });
  // A row holding a wallet is never taken over.
  const holder = (await insertWalletUserIfAbsent(store.db, user({ uid: uid() }))).user;
  await stored(insertWalletIfAbsent(store.db, envelope(holder.id)));
  assert.equal(await adoptWalletUser(store.db, holder.id, holder.uid!, { ...to, uid: uid() }), false);
  assert.deepEqual(await findWalletUserById(store.db, holder.id), holder);
});

test('users: the master key is recorded once; email follows the issuer', async () => {
  const u = (await insertWalletUserIfAbsent(store.db, user())).user;
  assert.equal(await setWalletUserMasterKeyIfUnset(store.db, u.id, 'key-a'), true);
  assert.equal(await setWalletUserMasterKeyIfUnset(store.db, u.id, 'key-b'), false);
  assert.equal(await setWalletUserMasterKeyIfUnset(store.db, 'no-such-user', 'key-c'), false);
  await updateWalletUserEmail(store.db, u.id, 'new@example.com');
  assert.deepEqual(await findWalletUserById(store.db, u.id), { ...u, masterKeyId: 'key-a', email: 'new@example.com' });
});

test('wallets: one per user, bytes round-trip, racing inserts keep the first', async () => {
  const u = (await insertWalletUserIfAbsent(store.db, user())).user;
  const w = envelope(u.id, { idempotencyKey: 'idem-1' });
  const first = await stored(insertWalletIfAbsent(store.db, w));
  assert.equal(first.inserted, true);
  assert.deepEqual(first.wallet, w);
  assert.ok(first.wallet.encryptedPrivateKey instanceof Uint8Array);
  const second = await stored(insertWalletIfAbsent(store.db, envelope(u.id)));
  assert.equal(second.inserted, false);
  assert.deepEqual(second.wallet, w);
  assert.equal(await countWalletsOfUser(store.db, u.id), 1);

  const v = (await insertWalletUserIfAbsent(store.db, user())).user;
  const racers = await Promise.all([1, 2, 3, 4, 5].map(() => stored(insertWalletIfAbsent(store.db, envelope(v.id)))));
  assert.equal(racers.filter((r) => r.inserted).length, 1);
  assert.equal(await countWalletsOfUser(store.db, v.id), 1);
  assert.equal((await findWalletByUser(store.db, v.id))!.id, racers.find((r) => r.inserted)!.wallet.id);
});

test('wallets: one owner per address, whatever the races', async () => {
  const [a, b] = await Promise.all([user(), user()].map(async (x) => (await insertWalletUserIfAbsent(store.db, x)).user));
  const w = envelope(a!.id);
  assert.equal((await stored(insertWalletIfAbsent(store.db, w))).inserted, true);
  // Another user registering the same address stores nothing.
  assert.deepEqual(await insertWalletIfAbsent(store.db, envelope(b!.id, { address: w.address })), { addressTaken: true });
  assert.equal(await findWalletByUser(store.db, b!.id), undefined);
  assert.equal((await findWalletByAddress(store.db, w.address))!.userId, a!.id);
  // Racing users, one address: exactly one stores it.
  const racers = await Promise.all([user(), user(), user(), user()].map(async (x) => (await insertWalletUserIfAbsent(store.db, x)).user));
  const address = envelope('x').address;
  const results = await Promise.all(racers.map((r) => insertWalletIfAbsent(store.db, envelope(r.id, { address }))));
  assert.equal(results.filter((r) => 'inserted' in r && r.inserted).length, 1);
  assert.equal(results.filter((r) => 'addressTaken' in r).length, 3);
  const owner = await findWalletByAddress(store.db, address);
  assert.ok(racers.some((r) => r.id === owner!.userId));
});

test('migration to one owner per address: a store holding duplicates keeps the first registration, the rest move to wallets_displaced', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-wallet-migration-'));
  const schema2 = url ? `t_${randomBytes(6).toString('hex')}` : undefined;
  const open = () => openStore({ databaseUrl: url, sqliteFile: join(dir, 'symbolon.db'), pgSchema: schema2 });
  try {
    // A store as it was before the migration: its down() restores the plain index; forget it ran.
    let s = await open();
    // Migrations run in order: the ones after it are rolled back too (newest first), then all are forgotten.
    const names = Object.keys(migrations);
    const rolledBack = names.slice(names.indexOf('2026-12-07T0100-wallet-address-unique')).reverse();
    assert.equal(rolledBack.at(-1), '2026-12-07T0100-wallet-address-unique');
    for (const name of rolledBack) await migrations[name]!.down!(s.db as Kysely<any>);
    await s.db
      .deleteFrom('kysely_migration' as any)
      .where('name', 'in', rolledBack)
      .execute();
    const users = await Promise.all([user(), user(), user(), user()].map(async (x) => (await insertWalletUserIfAbsent(s.db, x)).user));
    const shared = envelope('x').address;
    const rows = [
      envelope(users[0]!.id, { address: shared, createdAt: 2_000, id: 'b' }),
      envelope(users[1]!.id, { address: shared, createdAt: 1_000, id: 'z' }), // the first registration
      envelope(users[2]!.id, { address: shared, createdAt: 2_000, id: 'a' }),
      envelope(users[3]!.id), // an address of its own
    ];
    for (const r of rows) assert.equal((await stored(insertWalletIfAbsent(s.db, r))).inserted, true);
    await s.close();

    s = await open();
    try {
      assert.equal((await findWalletByAddress(s.db, shared))!.id, 'z');
      assert.equal((await findWalletByUser(s.db, users[3]!.id))!.id, rows[3]!.id);
      for (const u of [users[0]!, users[2]!]) assert.equal(await findWalletByUser(s.db, u.id), undefined);
      const displaced = await sql<{ id: string; user_id: string; address: string }>`select id, user_id, address from wallets_displaced order by id`.execute(
        s.db,
      );
      assert.deepEqual(
        displaced.rows.map((r) => [r.id, r.user_id, r.address]),
        [
          ['a', users[2]!.id, shared],
          ['b', users[0]!.id, shared],
        ],
      );
      // And from now on the store itself refuses a second owner.
      assert.deepEqual(await insertWalletIfAbsent(s.db, envelope(users[0]!.id, { address: shared })), { addressTaken: true });
    } finally {
      await s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (url && schema2) await dropPgSchema(url, schema2);
  }
});

test('wallets: the store refuses an incomplete envelope, an unknown mode, an unknown user', async () => {
  const u = (await insertWalletUserIfAbsent(store.db, user())).user;
  for (const bad of [
    envelope(u.id, { encryptedPrivateKey: null }),
    envelope(u.id, { encryptedDataKey: null }),
    envelope(u.id, { kmsKeyId: null }),
    envelope(u.id, { custodyMode: 'paper' as WalletRow['custodyMode'] }),
    envelope('no-such-user'),
  ]) {
    await assert.rejects(insertWalletIfAbsent(store.db, bad));
  }
  assert.equal(await findWalletByUser(store.db, u.id), undefined);
  // Another mode may leave the envelope columns empty.
  const split = envelope(u.id, {
    custodyMode: 'split',
    encryptedPrivateKey: null,
    encryptedDataKey: null,
    kmsKeyId: null,
    shareBSealed: new Uint8Array(randomBytes(80)),
  });
  assert.deepEqual((await stored(insertWalletIfAbsent(store.db, split))).wallet, split);
});

test('the wallet service principal: provisioned once, one key under races, not re-created once deactivated', async () => {
  const root = new KeyRootOfTrust(new Uint8Array(randomBytes(32)), 'test root');
  const accountId = '111122223333';
  const at = 1_700_000_000_000;
  const racing = await Promise.all([1, 2, 3].map((i) => provisionWalletServicePrincipal({ store, root, accountId, now: at + i })));
  const first = racing[0]!;
  assert.equal(first.principalArn, `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}`);
  for (const r of racing) assert.deepEqual(r, first);
  assert.deepEqual(
    (await listUserAccessKeys(store.db, WALLET_SERVICE_USER)).map((k) => k.accessKeyId),
    [first.accessKeyId],
  );
  assert.equal((await findUser(store.db, WALLET_SERVICE_USER))!.arn, first.principalArn);
  assert.equal(await getUserPolicy(store.db, WALLET_SERVICE_USER, WALLET_SERVICE_POLICY), walletServiceIdentityPolicy());
  assert.deepEqual(await provisionWalletServicePrincipal({ store, root, accountId, now: at + 10 }), first);

  // An operator's deactivation stands: no credential, and no new key behind their back.
  await setAccessKeyStatus(store.db, WALLET_SERVICE_USER, first.accessKeyId, 'Inactive');
  assert.equal(await provisionWalletServicePrincipal({ store, root, accountId, now: at + 20 }), undefined);
  assert.equal((await listUserAccessKeys(store.db, WALLET_SERVICE_USER)).length, 1);
  // So does a deletion.
  await deleteUserAccessKey(store.db, WALLET_SERVICE_USER, first.accessKeyId);
  assert.equal(await provisionWalletServicePrincipal({ store, root, accountId, now: at + 30 }), undefined);
  assert.equal((await listUserAccessKeys(store.db, WALLET_SERVICE_USER)).length, 0);
});
