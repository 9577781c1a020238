/**
 * The JSON-RPC signer's API tokens on each store: embedded SQLite always,
 * and PostgreSQL (a fresh schema) when DATABASE_URL is set. The repository
 * keeps only the SHA-256, one row per token, unique by hash; revocation is
 * a timestamp, once. RpcTokenAuthenticator turns a token into its user's
 * Caller, refuses unknown, malformed and revoked tokens and tokens of a
 * deleted user, and a revocation made by another process on the same store
 * takes effect once its cache entry expires (the clock is the test's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dropPgSchema, openStore, type Store } from '../src/storage/database.js';
import { findRpcToken, findRpcTokenByHash, insertRpcToken, listRpcTokens, revokeRpcToken, type RpcTokenRow } from '../src/storage/rpc-tokens.repository.js';
import { deleteUser, insertUser } from '../src/storage/iam.repository.js';
import { newRpcToken, RpcAuthError, RpcTokenAuthenticator, tokenSha256 } from '../src/rpc/tokens.js';

const ACCOUNT = '111122223333';
const stores: Array<{ name: string; open: () => Promise<{ store: Store; drop: () => Promise<void> }> }> = [
  { name: 'sqlite', open: async () => ({ store: await openStore({ sqliteFile: ':memory:' }), drop: async () => {} }) },
];
const url = process.env.DATABASE_URL;
if (url) {
  stores.push({
    name: 'postgres',
    open: async () => {
      const schema = `rpc16_${randomBytes(6).toString('hex')}`;
      return { store: await openStore({ databaseUrl: url, pgSchema: schema }), drop: () => dropPgSchema(url, schema) };
    },
  });
}

function row(extra: Partial<RpcTokenRow> = {}): RpcTokenRow & { token: string } {
  const { token, tokenId, sha256 } = newRpcToken();
  return {
    token,
    tokenId,
    tokenSha256: sha256,
    userName: 'alice',
    principalArn: `arn:aws:iam::${ACCOUNT}:user/alice`,
    createdBy: `arn:aws:iam::${ACCOUNT}:root`,
    createdAt: 1_700_000_000_000,
    revokedAt: null,
    ...extra,
  };
}

for (const { name, open } of stores) {
  test(`rpc_tokens: stored by hash only, listed, revoked once (${name})`, async () => {
    const { store, drop } = await open();
    try {
      const a = row();
      const b = row({ userName: 'bob', principalArn: `arn:aws:iam::${ACCOUNT}:user/bob`, createdAt: 1_700_000_000_001 });
      const { token: _ta, ...aRow } = a;
      const { token: _tb, ...bRow } = b;
      await insertRpcToken(store.db, aRow);
      await insertRpcToken(store.db, bRow);
      assert.deepEqual(await findRpcTokenByHash(store.db, tokenSha256(a.token)), aRow);
      assert.equal(await findRpcTokenByHash(store.db, tokenSha256(`${a.token}x`)), undefined);
      assert.deepEqual(
        (await listRpcTokens(store.db, undefined)).map((t) => t.tokenId),
        [a.tokenId, b.tokenId],
      );
      assert.deepEqual(
        (await listRpcTokens(store.db, 'bob')).map((t) => t.tokenId),
        [b.tokenId],
      );
      const dump = JSON.stringify(await listRpcTokens(store.db, undefined));
      assert.ok(!dump.includes(a.token.slice(7)) && !dump.includes(b.token.slice(7)), 'no token is stored');
      await assert.rejects(insertRpcToken(store.db, { ...bRow, tokenId: 'rpct-0000000000000000' }), 'one row per hash');
      assert.equal(await revokeRpcToken(store.db, a.tokenId, 1_700_000_000_500), true);
      assert.equal(await revokeRpcToken(store.db, a.tokenId, 1_700_000_000_600), false, 'revoked once');
      assert.equal((await findRpcToken(store.db, a.tokenId))?.revokedAt, 1_700_000_000_500);
      assert.equal(await revokeRpcToken(store.db, 'rpct-ffffffffffffffff', 1), false);
    } finally {
      await store.close();
      await drop();
    }
  });

  test(`RpcTokenAuthenticator: the user's Caller; unknown, revoked and orphaned tokens refused; another process's revocation after the TTL (${name})`, async () => {
    const { store, drop } = await open();
    try {
      await insertUser(store.db, { userName: 'alice', userId: 'AIDAALICE', path: '/', arn: `arn:aws:iam::${ACCOUNT}:user/alice`, createdAt: 1 }, [
        ['team', 'payments'],
      ]);
      const a = row();
      const { token, ...aRow } = a;
      await insertRpcToken(store.db, aRow);
      const tagsFor = async () => ({ team: 'payments' });
      const here = new RpcTokenAuthenticator({ store, accountId: ACCOUNT, tagsFor, ttlMs: 1000 });
      const elsewhere = new RpcTokenAuthenticator({ store, accountId: ACCOUNT, tagsFor, ttlMs: 1000 });
      const caller = await here.authenticate(`Bearer ${token}`, 10_000);
      assert.deepEqual(caller, { accountId: ACCOUNT, arn: aRow.principalArn, userName: 'alice', accessKeyId: a.tokenId, tags: { team: 'payments' } });
      await elsewhere.authenticate(`bearer ${token}`, 10_000);

      const reason = async (auth: RpcTokenAuthenticator, header: string | undefined, now: number) => {
        const e = await auth.authenticate(header, now).then(
          () => undefined,
          (err: unknown) => err,
        );
        assert.ok(e instanceof RpcAuthError, `refused: ${String(header).slice(0, 20)}`);
        assert.ok(!e.message.includes(token), 'never the token in a message');
        return e.reason;
      };
      assert.equal(await reason(here, undefined, 10_000), 'MissingToken');
      assert.equal(await reason(here, `Basic ${token}`, 10_000), 'MissingToken');
      assert.equal(await reason(here, 'Bearer symrpc_short', 10_000), 'UnknownToken');
      assert.equal(await reason(here, `Bearer ${newRpcToken().token}`, 10_000), 'UnknownToken');

      await revokeRpcToken(store.db, a.tokenId, 10_100);
      here.forget(a.tokenId);
      assert.equal(await reason(here, `Bearer ${token}`, 10_200), 'RevokedToken', 'at once where it was revoked');
      assert.equal((await elsewhere.authenticate(`Bearer ${token}`, 10_500)).accessKeyId, a.tokenId, 'another process: cached until the TTL');
      assert.equal(await reason(elsewhere, `Bearer ${token}`, 11_001), 'RevokedToken', 'and refused after it');

      const b = row();
      const { token: tokenB, ...bRow } = b;
      await insertRpcToken(store.db, bRow);
      await deleteUser(store.db, 'alice');
      assert.equal(await reason(here, `Bearer ${tokenB}`, 20_000), 'UnknownToken', "a deleted user's token is useless");
    } finally {
      await store.close();
      await drop();
    }
  });
}
