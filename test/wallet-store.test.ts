/**
 * The wallet store's repositories and the wallet-service principal's
 * provisioning, on the store this run uses (SQLite, or PostgreSQL in a fresh
 * schema with DATABASE_URL): first writer wins on (issuer, sub), one wallet
 * per user and one recorded master key whatever the races, the table's CHECKs
 * refuse half-written or unknown-mode rows, bytes round-trip.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { dropPgSchema, openStore, type Store } from '../src/storage/database.js';
import {
  findWalletUserById,
  findWalletUserByIdentity,
  insertWalletUserIfAbsent,
  setWalletUserMasterKeyIfUnset,
  updateWalletUserEmail,
  type WalletUserRow,
} from '../src/storage/wallet-users.repository.js';
import { countWalletsOfUser, findWalletByUser, insertWalletIfAbsent, type WalletRow } from '../src/storage/wallets.repository.js';
import { deleteUserAccessKey, findUser, getUserPolicy, listUserAccessKeys, setAccessKeyStatus } from '../src/storage/iam.repository.js';
import { KeyRootOfTrust } from '../src/root/root-of-trust.js';
import {
  provisionWalletServicePrincipal,
  WALLET_SERVICE_POLICY,
  WALLET_SERVICE_USER,
  walletServiceIdentityPolicy,
} from '../src/wallet/wallet-principal.js';

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
  return { id: randomUUID(), issuer: 'https://issuer.example/', sub: `sub-${randomUUID()}`, email: null, createdAt: 1_700_000_000_000, masterKeyId: null, ...extra };
}

function envelope(userId: string, extra: Partial<WalletRow> = {}): WalletRow {
  return {
    id: randomUUID(),
    userId,
    address: '0x52908400098527886E0F7030069857D2E4169EE7',
    custodyMode: 'envelope',
    encryptedPrivateKey: new Uint8Array(randomBytes(60)),
    encryptedDataKey: new Uint8Array(randomBytes(189)),
    kmsKeyId: 'key-1',
    shareBSealed: null,
    createdAt: 1_700_000_000_123,
    idempotencyKey: null,
    ...extra,
  };
}

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
  const first = await insertWalletIfAbsent(store.db, w);
  assert.equal(first.inserted, true);
  assert.deepEqual(first.wallet, w);
  assert.ok(first.wallet.encryptedPrivateKey instanceof Uint8Array);
  const second = await insertWalletIfAbsent(store.db, envelope(u.id));
  assert.equal(second.inserted, false);
  assert.deepEqual(second.wallet, w);
  assert.equal(await countWalletsOfUser(store.db, u.id), 1);

  const v = (await insertWalletUserIfAbsent(store.db, user())).user;
  const racers = await Promise.all([1, 2, 3, 4, 5].map(() => insertWalletIfAbsent(store.db, envelope(v.id))));
  assert.equal(racers.filter((r) => r.inserted).length, 1);
  assert.equal(await countWalletsOfUser(store.db, v.id), 1);
  assert.equal((await findWalletByUser(store.db, v.id))!.id, racers.find((r) => r.inserted)!.wallet.id);
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
  const split = envelope(u.id, { custodyMode: 'split', encryptedPrivateKey: null, encryptedDataKey: null, kmsKeyId: null, shareBSealed: new Uint8Array(randomBytes(80)) });
  assert.deepEqual((await insertWalletIfAbsent(store.db, split)).wallet, split);
});

test('the wallet service principal: provisioned once, one key under races, not re-created once deactivated', async () => {
  const root = new KeyRootOfTrust(new Uint8Array(randomBytes(32)), 'test root');
  const accountId = '111122223333';
  const at = 1_700_000_000_000;
  const racing = await Promise.all([1, 2, 3].map((i) => provisionWalletServicePrincipal({ store, root, accountId, now: at + i })));
  const first = racing[0]!;
  assert.equal(first.principalArn, `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}`);
  for (const r of racing) assert.deepEqual(r, first);
  assert.deepEqual((await listUserAccessKeys(store.db, WALLET_SERVICE_USER)).map((k) => k.accessKeyId), [first.accessKeyId]);
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
