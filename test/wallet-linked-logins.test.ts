/**
 * Linked logins at the wallet service (docs/wallet-api.md, "Users and linked
 * logins"), against a real listening server, the real AWS SDK and the wallet
 * service's own credentials: a new user's master key is template 3 (bound to
 * the custodian's user id); a login linked at the custodian reaches the same
 * wallet user and opens the data keys the first login made, a login not
 * linked reaches neither. A login unlinked from the user whose row it made
 * is refused that row (login_moved) while that user has logins. A user from
 * before linked logins (row keyed by
 * (issuer, sub), template-2 key) is stamped with its user id at its next
 * request; `migrateMasterKeys` (symbolon operator migrate-master-keys) moves
 * the key to template 3, after which a login linked later opens its old
 * ciphertexts; a second run changes nothing. Only the root and the wallet
 * service's principal may read user ids (with the user's `osub`, or a user
 * id's logins). Runs on SQLite, and on PostgreSQL
 * with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { CreateKeyCommand, DecryptCommand, GenerateDataKeyCommand, GetKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { webIdentityKms } from './helpers/web-identity-kms.js';
import { ADMIN, REGION, STORE, startTestServer, type TestServer } from './helpers/server.js';
import { operatorCommand } from '../src/cli/operator.js';
import { staticIssuer, type StaticIssuer } from './helpers/static-issuer.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { findWalletUserById, insertWalletUserIfAbsent } from '../src/storage/wallet-users.repository.js';
import { countWebIdentityUserLogins, CustodianUserIdError, getWebIdentityUser, getWebIdentityUserOf } from '../src/wallet/custodian-users.js';
import { migrateMasterKeys } from '../src/wallet/migrate-master-keys.js';
import { WALLET_SERVICE_USER } from '../src/wallet/wallet-principal.js';
import {
  assumeRoleWithWebIdentity,
  linkWebIdentity,
  listWebIdentityLinks,
  masterKeyPolicy,
  unlinkWebIdentity,
  verifyMasterKey,
} from '../packages/sdk/src/index.js';
import { EnvelopeWalletClient } from '../packages/sdk/src/envelope/EnvelopeWalletClient.js';
import { verifyMessage } from 'ethers';
import { MASTER_KEY_POLICY_ID_V3 } from '../packages/sdk/src/envelope/masterKeyPolicy.js';

const AUDIENCE = 'symbolon-wallet-link-test';

describe('wallet users by the custodian user id', () => {
  let server: TestServer;
  let idp: StaticIssuer;
  let accountId: string;
  const clients: KMSClient[] = [];
  const sub = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;

  async function me(token: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${server.endpoint}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  }

  async function kmsOf(token: string): Promise<KMSClient> {
    const kms = await webIdentityKms(server, token);
    clients.push(kms);
    return kms;
  }

  /** The key's policy as the user's own session reads it (the account root may not). */
  const policyOf = async (keyId: string, token: string) =>
    JSON.parse((await (await kmsOf(token)).send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!);
  const rootCaller = () => ({ endpoint: server.endpoint, region: REGION, credentials: ADMIN });

  before(async () => {
    idp = await staticIssuer(AUDIENCE);
    server = await startTestServer({ env: { SYMBOLON_OIDC_ISSUERS: JSON.stringify([idp.config]) } });
    accountId = server.custodian.accountId;
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await server?.close();
  });

  test('a new user gets a template-3 key; a linked login is the same wallet user and opens its data key; an unlinked one neither', async () => {
    const a = sub('dora');
    const first = await me(await idp.mint({ sub: a }));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const uid = (await listWebIdentityLinks({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: a }) })).userId;
    assert.equal(first.body.userId, uid, "the row is keyed by the custodian's user id");
    const policy = await policyOf(first.body.masterKeyId, await idp.mint({ sub: a }));
    assert.equal(policy.Id, MASTER_KEY_POLICY_ID_V3);
    const walletArn = `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}`;
    assert.deepEqual(policy, JSON.parse(masterKeyPolicy({ accountId, uid, sub: a, walletServicePrincipalArn: walletArn })));

    // The device checks the key with its own session, the user id asked of the custodian with its own token.
    const tokenA = await idp.mint({ sub: a });
    const kmsA = await kmsOf(tokenA);
    let asked = 0;
    const checked = await verifyMasterKey(kmsA, first.body.masterKeyId, {
      accountId,
      sub: a,
      issuer: idp.issuer,
      userId: async () => {
        asked++;
        return (await listWebIdentityLinks({ endpoint: server.endpoint, webIdentityToken: tokenA })).userId;
      },
    });
    assert.equal(checked.template, 3);
    assert.equal(asked, 1);
    // The device's context stays `{ sub }` of the creating login (docs/wallet-api.md).
    const dataKey = await kmsA.send(new GenerateDataKeyCommand({ KeyId: first.body.masterKeyId, KeySpec: 'AES_256', EncryptionContext: { sub: a } }));

    // A second login, never seen, linked with both logins fresh.
    const b = sub('dora-second');
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: a }), linkedWebIdentityToken: await idp.mint({ sub: b }) });
    const second = await me(await idp.mint({ sub: b }));
    assert.equal(second.status, 200);
    assert.equal(second.body.id, first.body.id, 'the same wallet user');
    assert.equal(second.body.masterKeyId, first.body.masterKeyId);
    assert.equal(second.body.sub, b, "/v1/me names the request's login");
    assert.equal(second.body.userId, uid);
    const opened = await (await kmsOf(await idp.mint({ sub: b }))).send(
      new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob!, EncryptionContext: { sub: a } }),
    );
    assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(dataKey.Plaintext!));

    // A login nobody linked: another user, and the key refuses it.
    const c = sub('mallory');
    const stranger = await me(await idp.mint({ sub: c }));
    assert.notEqual(stranger.body.id, first.body.id);
    await assert.rejects(
      (await kmsOf(await idp.mint({ sub: c }))).send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob!, EncryptionContext: { sub: a } })),
      (e: any) => e.name === 'AccessDeniedException',
    );
  });

  test("the envelope client opens a wallet another login created only when the custodian links that login to the token's user", async () => {
    const clientOf = (login: string, fetchOverride?: typeof fetch) => {
      const c = new EnvelopeWalletClient({
        walletUrl: server.endpoint,
        custodianUrl: server.endpoint,
        region: REGION,
        roleArn: walletUsersRoleArn(accountId),
        token: () => idp.mint({ sub: login }),
        kmsClientConfig: { maxAttempts: 1 },
        ...(fetchOverride ? { fetch: fetchOverride } : {}),
      });
      clients.push(c.kms);
      return c;
    };
    const a = sub('owen');
    const created = await clientOf(a).createWallet();
    const b = sub('owen-second');
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: a }), linkedWebIdentityToken: await idp.mint({ sub: b }) });
    // The linked login opens the record (its context names a) and signs for the same address.
    const opened = await clientOf(b).getWallet();
    assert.equal(opened.address, created.address);
    const signature = await opened.signer().signMessage('from the linked login');
    assert.equal(verifyMessage('from the linked login', signature), created.address);

    // A login nobody linked, handed a's record by a lying wallet service: refused before any Decrypt.
    const record = await (await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${await idp.mint({ sub: a })}` } })).text();
    const lying: typeof fetch = async (input, init) =>
      String(input instanceof Request ? input.url : input).endsWith('/v1/wallets/me')
        ? new Response(record, { status: 200, headers: { 'content-type': 'application/json' } })
        : fetch(input, init);
    await assert.rejects(clientOf(sub('mallory'), lying).getWallet(), (e: any) => e.code === 'OWNER_MISMATCH');
  });

  test('a login unlinked from the user whose row it made is refused that row (login_moved), even an empty one, while its user has logins', async () => {
    const a = sub('nina');
    const b = sub('nina-second');
    const first = await me(await idp.mint({ sub: a }));
    assert.equal(first.status, 200);
    assert.equal(first.body.wallet, null);
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: a }), linkedWebIdentityToken: await idp.mint({ sub: b }) });
    assert.equal((await me(await idp.mint({ sub: b }))).body.id, first.body.id);
    await unlinkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: b }), identity: { issuer: idp.issuer, subject: a } });
    // Login a is a new user at the custodian; its old row stays with the user that still has login b.
    const moved = await me(await idp.mint({ sub: a }));
    assert.equal(moved.status, 409, JSON.stringify(moved.body));
    assert.equal(moved.body.error.code, 'login_moved');
    const still = await me(await idp.mint({ sub: b }));
    assert.equal(still.body.id, first.body.id);
    assert.equal(still.body.masterKeyId, first.body.masterKeyId);
    assert.equal(still.body.userId, first.body.userId);
  });

  test('a user from before linked logins: stamped at the next request; the migration moves the template-2 key; a linked login opens old ciphertexts; a rerun changes nothing', async () => {
    const db = server.custodian.deps.store.db;
    const l = sub('lena');
    const walletArn = `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}`;
    // As the wallet service made it before: a template-2 key and a row keyed by (issuer, sub).
    const created = await server.kms().send(
      new CreateKeyCommand({
        Policy: masterKeyPolicy({ accountId, sub: l, issuer: idp.issuer, walletServicePrincipalArn: walletArn }),
        BypassPolicyLockoutSafetyCheck: true,
      }),
    );
    const keyId = created.KeyMetadata!.KeyId!;
    const row = (
      await insertWalletUserIfAbsent(db, { id: randomUUID(), issuer: idp.issuer, sub: l, email: null, createdAt: Date.now(), masterKeyId: keyId, uid: null })
    ).user;
    const old = await (await kmsOf(await idp.mint({ sub: l }))).send(
      new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { sub: l } }),
    );

    // Its next request reaches its row and stamps the user id; the template-2 key still serves that login.
    const back = await me(await idp.mint({ sub: l }));
    assert.equal(back.body.id, row.id);
    assert.match(back.body.userId, /^u-[0-9a-f]{32}$/);
    assert.equal((await findWalletUserById(db, row.id))?.uid, back.body.userId);
    assert.equal((await policyOf(keyId, await idp.mint({ sub: l }))).Id, 'symbolon-wallet-master-key-2');

    const lines: string[] = [];
    const run = (walletServicePrincipalArn = walletArn) =>
      migrateMasterKeys({
        store: server.custodian.deps.store,
        kms: server.kms(),
        accountId,
        walletServicePrincipalArn,
        userIdOf: (login) => getWebIdentityUser(rootCaller(), login),
        log: (line) => lines.push(line),
        pageSize: 3,
      });
    // Told another wallet-service principal than the key names: the custodian refuses, nothing changes.
    const wrong = await run(`arn:aws:iam::${accountId}:user/someone-else`);
    assert.equal(wrong.failed, 1, lines.join('\n'));
    assert.equal(wrong.migrated, 0);
    assert.ok(lines.some((line) => line.includes(keyId) && line.includes('refused')));
    assert.equal((await policyOf(keyId, await idp.mint({ sub: l }))).Id, 'symbolon-wallet-master-key-2');
    lines.length = 0;

    const counts = await run();
    assert.equal(counts.failed, 0, lines.join('\n'));
    assert.equal(counts.migrated, 1, JSON.stringify(counts));
    assert.equal(counts.users, counts.migrated + counts.alreadyTemplate3 + counts.withoutKey);
    assert.ok(lines.some((line) => line.includes(keyId)));
    assert.ok(
      lines.every((line) => !line.includes(l)),
      'no subject in the log',
    );
    const migrated = await policyOf(keyId, await idp.mint({ sub: l }));
    assert.equal(migrated.Id, MASTER_KEY_POLICY_ID_V3);
    assert.deepEqual(migrated, JSON.parse(masterKeyPolicy({ accountId, uid: back.body.userId, sub: l, walletServicePrincipalArn: walletArn })));

    const again = await run();
    assert.equal(again.migrated, 0, 'idempotent');
    assert.equal(again.failed, 0);
    assert.equal(again.alreadyTemplate3, counts.alreadyTemplate3 + counts.migrated);

    // Now a login linked to lena opens what her first login encrypted, and reaches her row.
    const m = sub('lena-phone');
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: l }), linkedWebIdentityToken: await idp.mint({ sub: m }) });
    const phone = await me(await idp.mint({ sub: m }));
    assert.equal(phone.body.id, row.id);
    assert.equal(phone.body.masterKeyId, keyId);
    const opened = await (await kmsOf(await idp.mint({ sub: m }))).send(
      new DecryptCommand({ CiphertextBlob: old.CiphertextBlob!, EncryptionContext: { sub: l } }),
    );
    assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(old.Plaintext!));
  });

  test('symbolon operator migrate-master-keys: counts as JSON, exit 0; credentials other than the root are refused', {
    skip: STORE === 'postgres' && 'the test server keeps PostgreSQL data in a schema of its own',
  }, async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = (env: Record<string, string>) => ({
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => err.push(t) },
      env: { ...env, DATABASE_URL: '' },
    });
    const root = { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION };
    const code = await operatorCommand(['migrate-master-keys', '--endpoint', server.endpoint, '--data', server.dataDir, '--json'], io(root));
    assert.equal(code, 0, err.join(''));
    const counts = JSON.parse(out.join(''));
    assert.equal(counts.failed, 0);
    assert.equal(counts.migrated, 0, 'the earlier tests left every key template 3');
    assert.ok(counts.alreadyTemplate3 >= 3, out.join(''));

    const c = await assumeRoleWithWebIdentity({
      endpoint: server.endpoint,
      roleArn: walletUsersRoleArn(accountId),
      roleSessionName: 'device',
      webIdentityToken: await idp.mint({ sub: sub('eve') }),
    });
    err.length = 0;
    const refused = await operatorCommand(
      ['migrate-master-keys', '--endpoint', server.endpoint, '--data', server.dataDir],
      io({ AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, AWS_SESSION_TOKEN: c.sessionToken, AWS_REGION: REGION }),
    );
    assert.equal(refused, 2);
    assert.match(err.join(''), /not the account root/);
  });

  test('user ids are read by the root and the wallet service principal only', async () => {
    const login = { issuer: idp.issuer, subject: sub('ivy') };
    const uid = await getWebIdentityUser(rootCaller(), login);
    assert.match(uid, /^u-[0-9a-f]{32}$/);
    // With the subject STS tags the user's sessions `osub` with; a linked login's is the first login's.
    const linked = sub('ivy-second');
    await linkWebIdentity({
      endpoint: server.endpoint,
      webIdentityToken: await idp.mint({ sub: login.subject }),
      linkedWebIdentityToken: await idp.mint({ sub: linked }),
    });
    assert.deepEqual(await getWebIdentityUserOf(rootCaller(), { issuer: idp.issuer, subject: linked }), { uid, originSubject: login.subject });
    // A user id's logins: none for one nobody has, nothing created; UserId with Issuer is refused.
    assert.equal(await countWebIdentityUserLogins(rootCaller(), uid), 2);
    assert.equal(await countWebIdentityUserLogins(rootCaller(), `u-${randomBytes(16).toString('hex')}`), 0);
    await assert.rejects(
      countWebIdentityUserLogins(rootCaller(), 'u-NOTHEX'),
      (e: unknown) => e instanceof CustodianUserIdError && e.code === 'ValidationError',
    );
    // A session of the wallet-users role (any signed-in user) may not.
    const c = await assumeRoleWithWebIdentity({
      endpoint: server.endpoint,
      roleArn: walletUsersRoleArn(accountId),
      roleSessionName: 'device',
      webIdentityToken: await idp.mint({ sub: sub('eve') }),
    });
    const userSession = {
      endpoint: server.endpoint,
      region: REGION,
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken },
    };
    await assert.rejects(
      getWebIdentityUser(userSession, login),
      (e: unknown) => e instanceof CustodianUserIdError && e.code === 'AccessDenied' && !e.message.includes(uid),
    );
    await assert.rejects(countWebIdentityUserLogins(userSession, uid), (e: unknown) => e instanceof CustodianUserIdError && e.code === 'AccessDenied');
  });
});
