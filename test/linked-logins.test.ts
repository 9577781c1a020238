/**
 * Linked logins at the custodian (docs/identity.md, "Linked logins"), against
 * a real listening server with the real AWS SDK KMS client and the SDK's
 * fetch-based STS calls: an email login at the built-in issuer and a login at
 * an external issuer become one user (one `uid`); a template-3 master key
 * bound to that uid opens for either login, so losing one method and logging
 * in with the other decrypts the same data key. Refusals: a stale login
 * (either token), a login that belongs to another user, the wallet
 * service's view of a user (the built-in access token) as a linking
 * credential, unlinking the last method. A template-2 key migrated to
 * template 3 keeps its old ciphertexts openable, by the new login too.
 * Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateKeyCommand, DecryptCommand, GenerateDataKeyCommand, PutKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { emailLogin } from './helpers/email-login.js';
import { signedPost } from './helpers/aws-json.js';
import { staticIssuer, type StaticIssuer } from './helpers/static-issuer.js';
import { webIdentityKms } from './helpers/web-identity-kms.js';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { LINK_FRESHNESS_SECONDS } from '../src/sts/identity-links.js';
import { identityLinksOfUser } from '../src/storage/sts-identity-links.repository.js';
import { linkWebIdentity, listWebIdentityLinks, masterKeyPolicy, unlinkWebIdentity, verifyMasterKey, type OidcSession } from '../packages/sdk/src/index.js';

const AUDIENCE = 'symbolon-link-test';

describe('linked logins: one user, several login methods', () => {
  let server: TestServer;
  let idp: StaticIssuer;
  let builtin: string;
  let accountId: string;
  let walletArn: string;
  const clients: KMSClient[] = [];

  async function rejectsCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
    await assert.rejects(p, (e: any) => {
      assert.equal(e.code ?? e.name, code, `expected ${code}, got ${e.code ?? e.name}: ${e.message}`);
      if (message) assert.match(e.message, message);
      return true;
    });
  }

  /** A KMS client with the web-identity session of `token` (the wallet-users role). */
  async function kmsOf(token: string): Promise<KMSClient> {
    const kms = await webIdentityKms(server, token);
    clients.push(kms);
    return kms;
  }

  const endpoint = () => server.endpoint;

  const admin = () => server.kms();

  /** STS GetWebIdentityUser, signed (SigV4, service sts) with the administrator's credentials: the status and the XML. */
  async function getWebIdentityUser(issuer: string, subject: string): Promise<{ status: number; xml: string }> {
    const body = new URLSearchParams({ Action: 'GetWebIdentityUser', Version: '2011-06-15', Issuer: issuer, Subject: subject }).toString();
    const res = await signedPost({
      endpoint: server.endpoint,
      service: 'sts',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
    });
    return { status: res.status, xml: res.text };
  }

  before(async () => {
    idp = await staticIssuer(AUDIENCE);
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1', SYMBOLON_OIDC_ISSUERS: JSON.stringify([idp.config]) },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
    builtin = `${server.endpoint}/oidc`;
    accountId = server.custodian.accountId;
    walletArn = `arn:aws:iam::${accountId}:user/wallet-service`;
  });

  after(async () => {
    await server?.close();
  });

  test('a login keeps one user id; linking makes a second login that user, and its key opens for either', async () => {
    const alice: OidcSession = await emailLogin(builtin, 'alice@example.com');
    const email = await alice.idToken();
    const first = await listWebIdentityLinks({ endpoint: endpoint(), webIdentityToken: email });
    assert.match(first.userId, /^u-[0-9a-f]{32}$/);
    assert.deepEqual(first.identities, [{ issuer: builtin, subject: alice.sub }]);
    assert.equal((await listWebIdentityLinks({ endpoint: endpoint(), webIdentityToken: email })).userId, first.userId, 'stable across calls');

    // The user's template-3 master key, made by an administrator, and a data key under it with the email login.
    const policy = masterKeyPolicy({ accountId, uid: first.userId, walletServicePrincipalArn: walletArn });
    const created = await admin().send(new CreateKeyCommand({ Policy: policy, BypassPolicyLockoutSafetyCheck: true }));
    const keyId = created.KeyMetadata!.KeyId!;
    const emailKms = await kmsOf(email);
    const dataKey = await emailKms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { uid: first.userId } }));
    const checked = await verifyMasterKey(emailKms, keyId, { accountId, sub: alice.sub, issuer: builtin, uid: first.userId });
    assert.equal(checked.template, 3);
    await rejectsCode(verifyMasterKey(emailKms, keyId, { accountId, sub: alice.sub, issuer: builtin }), 'MASTER_KEY_UNTRUSTED', /user id/);
    await rejectsCode(
      verifyMasterKey(emailKms, keyId, { accountId, sub: alice.sub, issuer: builtin, uid: `u-${'0'.repeat(32)}` }),
      'MASTER_KEY_UNTRUSTED',
      /differs/,
    );

    // Before linking, the external login is somebody else: the key refuses it.
    const ext = await idp.mint({ sub: 'alice-at-idp' });
    await rejectsCode(
      (await kmsOf(ext)).send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob!, EncryptionContext: { uid: first.userId } })),
      'AccessDeniedException',
    );
    const before = await listWebIdentityLinks({ endpoint: endpoint(), webIdentityToken: ext });
    assert.notEqual(before.userId, first.userId);
    // That first sight gave the external login a user of its own; once that user's key protects data, linking it to alice is refused.
    const extKey = await admin().send(
      new CreateKeyCommand({
        Policy: masterKeyPolicy({ accountId, uid: before.userId, walletServicePrincipalArn: walletArn }),
        BypassPolicyLockoutSafetyCheck: true,
      }),
    );
    await (await kmsOf(ext)).send(
      new GenerateDataKeyCommand({ KeyId: extKey.KeyMetadata!.KeyId!, KeySpec: 'AES_256', EncryptionContext: { uid: before.userId } }),
    );
    await rejectsCode(linkWebIdentity({ endpoint: endpoint(), webIdentityToken: email, linkedWebIdentityToken: ext }), 'LoginInUse');

    // A login never seen before links; both tokens fresh.
    const ext2 = await idp.mint({ sub: 'alice-second' });
    const linked = await linkWebIdentity({ endpoint: endpoint(), webIdentityToken: email, linkedWebIdentityToken: ext2 });
    assert.equal(linked.userId, first.userId);
    assert.deepEqual(new Set(linked.identities.map((i) => `${i.issuer} ${i.subject}`)), new Set([`${builtin} ${alice.sub}`, `${idp.issuer} alice-second`]));
    // Linking again is a no-op with the same answer.
    assert.equal((await linkWebIdentity({ endpoint: endpoint(), webIdentityToken: email, linkedWebIdentityToken: ext2 })).identities.length, 2);

    // "Lost the email account": only the external login, a fresh session; the same data key opens.
    const extKms = await kmsOf(await idp.mint({ sub: 'alice-second' }));
    const opened = await extKms.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob!, EncryptionContext: { uid: first.userId } }));
    assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(dataKey.Plaintext!));
    assert.equal((await verifyMasterKey(extKms, keyId, { accountId, sub: 'alice-second', issuer: idp.issuer, uid: first.userId })).template, 3);
    // Another user's session still gets nothing.
    const bob = await emailLogin(builtin, 'bob@example.com');
    await rejectsCode(
      (await kmsOf(await bob.idToken())).send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob!, EncryptionContext: { uid: first.userId } })),
      'AccessDeniedException',
    );

    // Unlinking: the email login goes, the external one stays and still opens the key; the last one cannot go.
    const after1 = await unlinkWebIdentity({ endpoint: endpoint(), webIdentityToken: ext2, identity: { issuer: builtin, subject: alice.sub } });
    assert.deepEqual(after1.identities, [{ issuer: idp.issuer, subject: 'alice-second' }]);
    await rejectsCode(
      unlinkWebIdentity({ endpoint: endpoint(), webIdentityToken: ext2, identity: { issuer: idp.issuer, subject: 'alice-second' } }),
      'DeleteConflict',
      /last login/,
    );
    assert.equal((await identityLinksOfUser(server.custodian.deps.store.db, first.userId)).length, 1, 'the refusal changed nothing');
    // The unlinked email login comes back as a new user, whom the key refuses.
    const emailAgain = await alice.idToken();
    assert.notEqual((await listWebIdentityLinks({ endpoint: endpoint(), webIdentityToken: emailAgain })).userId, first.userId);
    await rejectsCode(
      (await kmsOf(emailAgain)).send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob!, EncryptionContext: { uid: first.userId } })),
      'AccessDeniedException',
    );
  });

  test('linking and unlinking need fresh logins: a token older than the bound is refused and nothing changes', async () => {
    const carol = await emailLogin(builtin, 'carol@example.com');
    const email = await carol.idToken();
    const now = Math.floor(Date.now() / 1000);
    const stale = await idp.mint({ sub: 'carol-ext' }, { iat: now - LINK_FRESHNESS_SECONDS - 30 });
    await rejectsCode(linkWebIdentity({ endpoint: endpoint(), webIdentityToken: email, linkedWebIdentityToken: stale }), 'InvalidIdentityToken', /seconds old/);
    // The stale token is the owner's side: refused too.
    const staleOwner = await idp.mint({ sub: 'carol-owner' }, { iat: now - LINK_FRESHNESS_SECONDS - 30 });
    const fresh = await idp.mint({ sub: 'carol-ext' });
    await rejectsCode(
      linkWebIdentity({ endpoint: endpoint(), webIdentityToken: staleOwner, linkedWebIdentityToken: fresh }),
      'InvalidIdentityToken',
      /seconds old/,
    );
    const carolUser = await listWebIdentityLinks({ endpoint: endpoint(), webIdentityToken: email });
    assert.equal(carolUser.identities.length, 1, 'no link was made');
    // A fresh pair links; then unlinking with a stale login of the user is refused.
    await linkWebIdentity({ endpoint: endpoint(), webIdentityToken: email, linkedWebIdentityToken: fresh });
    const staleMember = await idp.mint({ sub: 'carol-ext' }, { iat: now - LINK_FRESHNESS_SECONDS - 30 });
    await rejectsCode(
      unlinkWebIdentity({ endpoint: endpoint(), webIdentityToken: staleMember, identity: { issuer: builtin, subject: carol.sub } }),
      'InvalidIdentityToken',
    );
    assert.equal((await listWebIdentityLinks({ endpoint: endpoint(), webIdentityToken: email })).identities.length, 2);
    // A login that is not this user's cannot be unlinked through it.
    await rejectsCode(
      unlinkWebIdentity({ endpoint: endpoint(), webIdentityToken: email, identity: { issuer: idp.issuer, subject: 'someone-else' } }),
      'NoSuchEntity',
    );
  });

  test("the wallet service's view of a user links nothing: the built-in access token is refused, and the two tokens must differ", async () => {
    const dave = await emailLogin(builtin, 'dave@example.com');
    const attacker = await idp.mint({ sub: 'mallory' });
    // The wallet service sees every access token; STS takes only ID tokens from the built-in issuer.
    await rejectsCode(
      linkWebIdentity({ endpoint: endpoint(), webIdentityToken: await dave.token(), linkedWebIdentityToken: attacker }),
      'InvalidIdentityToken',
      /token use/,
    );
    await rejectsCode(
      linkWebIdentity({ endpoint: endpoint(), webIdentityToken: await dave.idToken(), linkedWebIdentityToken: await dave.idToken() }),
      'ValidationError',
    );
    const daveUser = await listWebIdentityLinks({ endpoint: endpoint(), webIdentityToken: await dave.idToken() });
    assert.deepEqual(daveUser.identities, [{ issuer: builtin, subject: dave.sub }]);
    // Without a link made by STS, a session of the attacker's login is not tagged with dave's uid: dave's key refuses it.
    const key = await admin().send(
      new CreateKeyCommand({
        Policy: masterKeyPolicy({ accountId, uid: daveUser.userId, walletServicePrincipalArn: walletArn }),
        BypassPolicyLockoutSafetyCheck: true,
      }),
    );
    const dk = await (await kmsOf(await dave.idToken())).send(
      new GenerateDataKeyCommand({ KeyId: key.KeyMetadata!.KeyId!, KeySpec: 'AES_256', EncryptionContext: { uid: daveUser.userId } }),
    );
    await rejectsCode(
      (await kmsOf(attacker)).send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob!, EncryptionContext: { uid: daveUser.userId } })),
      'AccessDeniedException',
    );
  });

  test('a template-2 key migrated to template 3 keeps its old ciphertexts, for every linked login', async () => {
    const erin = await emailLogin(builtin, 'erin@example.com');
    const email = await erin.idToken();
    const created = await admin().send(
      new CreateKeyCommand({
        Policy: masterKeyPolicy({ accountId, sub: erin.sub, issuer: builtin, walletServicePrincipalArn: walletArn }),
        BypassPolicyLockoutSafetyCheck: true,
      }),
    );
    const keyId = created.KeyMetadata!.KeyId!;
    const old = await (await kmsOf(email)).send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { sub: erin.sub } }));
    const { userId } = await linkWebIdentity({ endpoint: endpoint(), webIdentityToken: email, linkedWebIdentityToken: await idp.mint({ sub: 'erin-ext' }) });
    // The administrator learns the user id of the key's login from the custodian (signed; the root only).
    const asAdmin = await getWebIdentityUser(builtin, erin.sub);
    assert.equal(asAdmin.status, 200);
    assert.equal(/<UserId>([^<]+)<\/UserId>/.exec(asAdmin.xml)?.[1], userId);
    const anonymous = await fetch(server.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ Action: 'GetWebIdentityUser', Version: '2011-06-15', Issuer: builtin, Subject: erin.sub }).toString(),
    });
    assert.equal(anonymous.status, 403, 'unsigned: refused before any lookup');
    assert.doesNotMatch(await anonymous.text(), new RegExp(userId));
    const extToken = await idp.mint({ sub: 'erin-ext' });
    // Template 2 is bound to the email login: the linked login is refused until the key is migrated.
    await rejectsCode(
      (await kmsOf(extToken)).send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob!, EncryptionContext: { sub: erin.sub } })),
      'AccessDeniedException',
    );
    // Nobody may change a template-2 policy, the administrator included, except to its exact template-3 migration.
    const put = (policy: string) =>
      admin().send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy, BypassPolicyLockoutSafetyCheck: true }));
    const other = await listWebIdentityLinks({ endpoint: endpoint(), webIdentityToken: await idp.mint({ sub: 'mallory-2' }) });
    await rejectsCode(put(masterKeyPolicy({ accountId, uid: other.userId, sub: erin.sub, walletServicePrincipalArn: walletArn })), 'AccessDeniedException');
    await rejectsCode(put(masterKeyPolicy({ accountId, uid: userId, walletServicePrincipalArn: walletArn })), 'AccessDeniedException');
    await rejectsCode(
      put(masterKeyPolicy({ accountId, uid: userId, sub: erin.sub, walletServicePrincipalArn: `arn:aws:iam::${accountId}:root` })),
      'AccessDeniedException',
    );
    await admin().send(
      new PutKeyPolicyCommand({
        KeyId: keyId,
        PolicyName: 'default',
        Policy: masterKeyPolicy({ accountId, uid: userId, sub: erin.sub, walletServicePrincipalArn: walletArn }),
        BypassPolicyLockoutSafetyCheck: true,
      }),
    );
    for (const token of [extToken, await erin.idToken()]) {
      const kms = await kmsOf(token);
      const opened = await kms.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob!, EncryptionContext: { sub: erin.sub } }));
      assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(old.Plaintext!));
      const v = await verifyMasterKey(kms, keyId, { accountId, sub: 'ignored', issuer: idp.issuer, uid: userId });
      assert.deepEqual([v.template, v.legacySub], [3, erin.sub]);
    }
    // A login linked into a user that started elsewhere keeps its old key out of that user's reach.
    const hal = await emailLogin(builtin, 'hal@example.com');
    const halKey = (
      await admin().send(
        new CreateKeyCommand({
          Policy: masterKeyPolicy({ accountId, sub: 'hal-ext', issuer: idp.issuer, walletServicePrincipalArn: walletArn }),
          BypassPolicyLockoutSafetyCheck: true,
        }),
      )
    ).KeyMetadata!.KeyId!;
    const halUser = await linkWebIdentity({
      endpoint: endpoint(),
      webIdentityToken: await hal.idToken(),
      linkedWebIdentityToken: await idp.mint({ sub: 'hal-ext' }),
    });
    await rejectsCode(
      admin().send(
        new PutKeyPolicyCommand({
          KeyId: halKey,
          PolicyName: 'default',
          Policy: masterKeyPolicy({ accountId, uid: halUser.userId, sub: 'hal-ext', walletServicePrincipalArn: walletArn }),
          BypassPolicyLockoutSafetyCheck: true,
        }),
      ),
      'AccessDeniedException',
    );
    // The pre-linking context opens only the user's own: another user's session is refused.
    const frank = await emailLogin(builtin, 'frank@example.com');
    await rejectsCode(
      (await kmsOf(await frank.idToken())).send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob!, EncryptionContext: { sub: erin.sub } })),
      'AccessDeniedException',
    );
  });

  test('a template-1 key (its user cannot inspect it, so cannot create a wallet) is migrated to one the device accepts', async () => {
    const gina = await emailLogin(builtin, 'gina@example.com');
    const v2 = JSON.parse(masterKeyPolicy({ accountId, sub: gina.sub, issuer: builtin, walletServicePrincipalArn: walletArn }));
    const v1 = JSON.stringify({
      ...v2,
      Id: 'symbolon-wallet-master-key-1',
      Statement: v2.Statement.filter((st: { Sid: string }) => st.Sid !== 'AllowInspectionByTheUsersRoleSessions'),
    });
    const keyId = (await admin().send(new CreateKeyCommand({ Policy: v1, BypassPolicyLockoutSafetyCheck: true }))).KeyMetadata!.KeyId!;
    const kms = await kmsOf(await gina.idToken());
    await rejectsCode(verifyMasterKey(kms, keyId, { accountId, sub: gina.sub, issuer: builtin }), 'MASTER_KEY_UNVERIFIED');
    const uid = /<UserId>([^<]+)<\/UserId>/.exec((await getWebIdentityUser(builtin, gina.sub)).xml)![1]!;
    await admin().send(
      new PutKeyPolicyCommand({
        KeyId: keyId,
        PolicyName: 'default',
        Policy: masterKeyPolicy({ accountId, uid, sub: gina.sub, walletServicePrincipalArn: walletArn }),
        BypassPolicyLockoutSafetyCheck: true,
      }),
    );
    const v = await verifyMasterKey(await kmsOf(await gina.idToken()), keyId, { accountId, sub: gina.sub, issuer: builtin, uid });
    assert.deepEqual([v.template, v.legacySub], [3, gina.sub]);
  });

  test('bad input: missing parameters are a ValidationError in STS shape and change nothing', async () => {
    const res = await fetch(server.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ Action: 'LinkWebIdentity', Version: '2011-06-15', WebIdentityToken: 'x.y.z' }).toString(),
    });
    assert.equal(res.status, 400);
    const xml = await res.text();
    assert.match(xml, /<Code>ValidationError<\/Code>/);
    assert.match(xml, /linkedWebIdentityToken/);
  });

  test('GetWebIdentityUser is audited: the caller, what it asked and what it got; refusals and bad input too', async () => {
    const iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    try {
      await iam.send(new CreateUserCommand({ UserName: 'nosy' }));
      const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'nosy' }))).AccessKey!;
      const nosy = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
      const since = Date.now() - 1;
      const asked = await getWebIdentityUser(builtin, 'audit-subject');
      assert.equal(asked.status, 200);
      const uid = /<UserId>([^<]+)<\/UserId>/.exec(asked.xml)![1]!;
      const call = (params: Record<string, string>, credentials?: { accessKeyId: string; secretAccessKey: string }) =>
        signedPost({
          endpoint: server.endpoint,
          service: 'sts',
          headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
          body: new URLSearchParams({ Action: 'GetWebIdentityUser', Version: '2011-06-15', ...params }).toString(),
          ...(credentials ? { credentials } : {}),
        });
      assert.equal((await call({ UserId: uid })).status, 200);
      const refused = await call({ Issuer: builtin, Subject: 'audit-subject' }, nosy);
      assert.equal(refused.status, 403, 'a principal without sts:GetWebIdentityUser');
      assert.doesNotMatch(refused.text, new RegExp(uid));
      assert.equal((await call({ UserId: 'not-a-user-id' })).status, 400);
      await server.custodian.audit.flush();
      const events = await server.custodian.deps.store.db
        .selectFrom('audit_events')
        .select(['service', 'principal_arn', 'access_key_id', 'principal_tags', 'outcome', 'error_code'])
        .where('operation', '=', 'GetWebIdentityUser')
        .where('time', '>=', since)
        .orderBy('seq')
        .execute();
      const root = `arn:aws:iam::${accountId}:root`;
      assert.deepEqual(
        events.map((e) => [e.service, e.principal_arn, e.access_key_id, JSON.parse(e.principal_tags), e.outcome, e.error_code]),
        [
          ['sts', root, ADMIN.accessKeyId, { iss: builtin, sub: 'audit-subject', uid }, 'allowed', null],
          ['sts', root, ADMIN.accessKeyId, { userId: uid, logins: '1' }, 'allowed', null],
          ['sts', `arn:aws:iam::${accountId}:user/nosy`, nosy.accessKeyId, { iss: builtin, sub: 'audit-subject' }, 'denied', 'AccessDenied'],
          ['sts', root, ADMIN.accessKeyId, { userId: 'not-a-user-id' }, 'error', 'ValidationError'],
        ],
      );
    } finally {
      iam.destroy();
    }
  });
});
