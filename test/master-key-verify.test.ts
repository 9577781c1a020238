/**
 * The device checks the master key the wallet service names before it
 * encrypts a data key (envelope) or share A (split) under it
 * (packages/sdk/src/envelope/verifyMasterKey.ts). The attack: a wallet
 * service that lies in GET /v1/me, naming a key whose policy lets the
 * provider decrypt, would receive at wallet creation a ciphertext it can open
 * — and it already stores the other half. Here a real server, real STS
 * sessions of real users, and keys made by an administrator standing in for
 * a malicious provider; the wallet service's answer is rewritten in the
 * device's fetch. Each refusal is checked to happen before anything is
 * encrypted (no Encrypt in the audit log under that key, no wallet stored),
 * and the lax key is shown to be a real threat (the user's session could
 * encrypt under it and the administrator could then decrypt). Also: the
 * wallet-users role's policy upgrade for stores provisioned before.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateKeyCommand, DecryptCommand, DisableKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { sql } from 'kysely';
import { emailLogin } from './helpers/email-login.js';
import { startTestServer, ADMIN, REGION, type TestServer } from './helpers/server.js';
import {
  walletUsersRoleArn,
  walletUsersRolePolicy,
  walletUsersRolePolicyV1,
  walletUsersRolePolicyV2,
  provisionWalletUsersRole,
  WALLET_USERS_ROLE,
  WALLET_USERS_POLICY,
} from '../src/iam/roles/wallet-users-role.js';
import { openStore } from '../src/storage/database.js';
import { getRolePolicy, putRolePolicy } from '../src/storage/iam-roles.repository.js';
import {
  EnvelopeWalletClient,
  EnvelopeError,
  SplitWalletClient,
  assumeRoleWithWebIdentity,
  masterKeyPolicy,
  type OidcSession,
} from '../packages/sdk/src/index.js';

describe('the device checks the master key the wallet service names', () => {
  let server: TestServer;
  let issuerUrl: string;
  let accountId: string;
  let admin: KMSClient;
  const clients: Array<{ destroy(): void }> = [];

  const login = (email: string): Promise<OidcSession> => emailLogin(issuerUrl, email);

  /** A fetch that rewrites masterKeyId in the wallet service's GET /v1/me answer: the lying wallet service. */
  function lyingFetch(keyId: () => string | undefined): typeof fetch {
    return async (input, init) => {
      const r = await fetch(input, init);
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const replacement = keyId();
      if (!url.endsWith('/v1/me') || replacement === undefined || !r.ok) return r;
      const body = (await r.json()) as Record<string, unknown>;
      return new Response(JSON.stringify({ ...body, masterKeyId: replacement }), { status: r.status, headers: r.headers });
    };
  }

  function envelopeDevice(session: OidcSession, keyId: () => string | undefined = () => undefined): EnvelopeWalletClient {
    const c = new EnvelopeWalletClient({
      walletUrl: server.endpoint,
      custodianUrl: server.endpoint,
      region: REGION,
      roleArn: walletUsersRoleArn(accountId),
      token: session,
      kmsClientConfig: { maxAttempts: 1 },
      fetch: lyingFetch(keyId),
    });
    clients.push(c);
    return c;
  }

  async function keyWithPolicy(policy: string | undefined): Promise<string> {
    const out = await admin.send(
      new CreateKeyCommand({
        KeySpec: 'SYMMETRIC_DEFAULT',
        KeyUsage: 'ENCRYPT_DECRYPT',
        ...(policy ? { Policy: policy, BypassPolicyLockoutSafetyCheck: true } : {}),
      }),
    );
    return out.KeyMetadata!.KeyId!;
  }

  /** How many Encrypt calls the audit log holds under `keyId`. */
  async function encryptsUnder(keyId: string): Promise<number> {
    await server.custodian.audit.flush();
    const rows = await sql<{ n: number | string }>`select count(*) as n from audit_events where operation = 'Encrypt' and key_arn like ${`%${keyId}`}`.execute(
      server.custodian.deps.store.db,
    );
    return Number(rows.rows[0]!.n);
  }

  let alice: OidcSession;
  let bob: OidcSession;
  let walletServiceArn: string;

  before(async () => {
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
    issuerUrl = `${server.endpoint}/oidc`;
    accountId = server.custodian.accountId;
    admin = server.kms(ADMIN);
    clients.push(admin);
    alice = await login('alice@example.com');
    bob = await login('bob@example.com');
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await server?.close();
  });

  test("the wallet service's own master key passes, and the check returns the principal its policy names", async () => {
    const device = envelopeDevice(alice);
    const me = await device.me();
    const verified = await device.verifyMasterKey(me.masterKeyId, await alice.token());
    assert.match(verified.keyArn, new RegExp(`^arn:aws:kms:${REGION}:${accountId}:key/`));
    assert.match(verified.walletServicePrincipalArn, new RegExp(`^arn:aws:iam::${accountId}:`));
    walletServiceArn = verified.walletServicePrincipalArn;
  });

  test('a key whose policy lets the provider decrypt is refused before anything is encrypted under it (and it was a real threat)', async () => {
    const lax = await keyWithPolicy(undefined); // the default key policy: the account's IAM policies decide
    // The threat is real: the user's own session may encrypt under it with their context, and the provider then decrypts.
    const creds = await assumeRoleWithWebIdentity({
      endpoint: server.endpoint,
      roleArn: walletUsersRoleArn(accountId),
      roleSessionName: 'threat',
      webIdentityToken: await alice.idToken(),
    });
    const aliceKms = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: creds, maxAttempts: 1 });
    clients.push(aliceKms);
    const sub = (await envelopeDevice(alice).me()).sub;
    const probe = await aliceKms.send(new EncryptCommand({ KeyId: lax, Plaintext: new Uint8Array(32).fill(9), EncryptionContext: { sub } }));
    const opened = await admin.send(new DecryptCommand({ CiphertextBlob: probe.CiphertextBlob!, EncryptionContext: { sub } }));
    assert.deepEqual(opened.Plaintext, new Uint8Array(32).fill(9));
    const before = await encryptsUnder(lax);
    assert.equal(before, 1);

    const device = envelopeDevice(alice, () => lax);
    await assert.rejects(device.createWallet(), (e: unknown) => e instanceof EnvelopeError && e.code === 'MASTER_KEY_UNTRUSTED' && /policy/.test(e.message));
    assert.equal(await encryptsUnder(lax), before, 'nothing more was encrypted under the lax key');
    assert.equal((await envelopeDevice(alice).me()).wallet, null, 'no wallet was stored');

    const split = new SplitWalletClient({
      walletUrl: server.endpoint,
      custodianUrl: server.endpoint,
      region: REGION,
      roleArn: walletUsersRoleArn(accountId),
      token: alice,
      signerUrl: 'http://127.0.0.1:9',
      kmsClientConfig: { maxAttempts: 1 },
      fetch: lyingFetch(() => lax),
    });
    clients.push(split.envelope);
    await assert.rejects(split.createWallet(), (e: unknown) => e instanceof EnvelopeError && e.code === 'MASTER_KEY_UNTRUSTED');
    assert.equal(await encryptsUnder(lax), before, 'share A was not encrypted under the lax key either');
  });

  test("the template with one statement changed (the provider's Deny dropped, an Allow for it added) is refused", async () => {
    const sub = (await envelopeDevice(alice).me()).sub;
    const iss = issuerUrl;
    const canonical = JSON.parse(masterKeyPolicy({ accountId, sub, issuer: iss, walletServicePrincipalArn: walletServiceArn })) as {
      Statement: Array<{ Sid: string }>;
    };
    const tampered = {
      ...canonical,
      Statement: [
        ...canonical.Statement.filter(
          (s) => s.Sid !== 'DenyUseByTheWalletService' && s.Sid !== 'DenyUseByAnyoneButTheUser' && s.Sid !== 'DenyUseWithoutTheUsersContext',
        ),
        { Sid: 'AllowUseByTheWalletService', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:Decrypt', Resource: '*' },
      ],
    };
    const key = await keyWithPolicy(JSON.stringify(tampered));
    const before = await encryptsUnder(key);
    await assert.rejects(envelopeDevice(alice, () => key).createWallet(), (e: unknown) => e instanceof EnvelopeError && e.code === 'MASTER_KEY_UNTRUSTED');
    assert.equal(await encryptsUnder(key), before);
  });

  test("another user's genuine master key is refused (the user cannot even inspect it)", async () => {
    const bobKey = (await envelopeDevice(bob).me()).masterKeyId;
    await assert.rejects(
      envelopeDevice(alice, () => bobKey).createWallet(),
      (e: unknown) => e instanceof EnvelopeError && e.code === 'MASTER_KEY_UNVERIFIED' && /cannot be inspected/.test(e.message),
    );
    assert.equal(await encryptsUnder(bobKey), 0);
  });

  test('the template for this user, exactly, but with the issuer left out (a sub of another issuer would match) is refused', async () => {
    const sub = (await envelopeDevice(alice).me()).sub;
    const noIssuer = await keyWithPolicy(masterKeyPolicy({ accountId, sub, walletServicePrincipalArn: walletServiceArn }));
    await assert.rejects(
      envelopeDevice(alice, () => noIssuer).createWallet(),
      (e: unknown) => e instanceof EnvelopeError && (e.code === 'MASTER_KEY_UNTRUSTED' || e.code === 'MASTER_KEY_UNVERIFIED'),
    );
    assert.equal(await encryptsUnder(noIssuer), 0);
  });

  test('a genuine template key that is disabled is refused; the same template, enabled, under another wallet-service principal, passes the check', async () => {
    const sub = (await envelopeDevice(alice).me()).sub;
    const otherPrincipal = `arn:aws:iam::${accountId}:user/some-other-wallet-service`;
    const good = await keyWithPolicy(masterKeyPolicy({ accountId, sub, issuer: issuerUrl, walletServicePrincipalArn: otherPrincipal }));
    const device = envelopeDevice(alice);
    const verified = await device.verifyMasterKey(good, await alice.token());
    assert.equal(verified.walletServicePrincipalArn, otherPrincipal);
    assert.equal(verified.signerImageSha384, undefined);
    const pinned = 'ab'.repeat(48);
    const pinnedKey = await keyWithPolicy(
      masterKeyPolicy({ accountId, sub, issuer: issuerUrl, walletServicePrincipalArn: otherPrincipal, signerImageSha384: pinned }),
    );
    assert.equal((await device.verifyMasterKey(pinnedKey, await alice.token())).signerImageSha384, pinned);

    const disabled = await keyWithPolicy(masterKeyPolicy({ accountId, sub, issuer: issuerUrl, walletServicePrincipalArn: `arn:aws:iam::${accountId}:root` }));
    await admin.send(new DisableKeyCommand({ KeyId: disabled }));
    await assert.rejects(
      device.verifyMasterKey(disabled, await alice.token()),
      (e: unknown) => e instanceof EnvelopeError && e.code === 'MASTER_KEY_UNTRUSTED' && /Disabled/.test(e.message),
    );
  });

  test('the same policy reformatted (indented, members reordered) passes; one changed string inside it does not', async () => {
    const sub = (await envelopeDevice(alice).me()).sub;
    const doc = JSON.parse(masterKeyPolicy({ accountId, sub, issuer: issuerUrl, walletServicePrincipalArn: walletServiceArn }));
    const reorder = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reorder)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.keys(v)
                .reverse()
                .map((k) => [k, reorder((v as Record<string, unknown>)[k])]),
            )
          : v;
    const device = envelopeDevice(alice);
    const token = await alice.token();
    const reformatted = await keyWithPolicy(JSON.stringify(reorder(doc), null, 2));
    assert.equal((await device.verifyMasterKey(reformatted, token)).walletServicePrincipalArn, walletServiceArn);
    // One string changed: the user's sub in the Deny that keeps everyone else out now names another subject.
    const changed = JSON.parse(JSON.stringify(doc));
    changed.Statement.find((s: { Sid: string }) => s.Sid === 'DenyUseByAnyoneButTheUser').Condition.StringNotEquals['aws:PrincipalTag/sub'] = `${sub}x`;
    const altered = await keyWithPolicy(JSON.stringify(changed, null, 2));
    await assert.rejects(device.verifyMasterKey(altered, token), (e: unknown) => e instanceof EnvelopeError && e.code === 'MASTER_KEY_UNTRUSTED');
  });

  test('with the genuine key, wallet creation still works end to end', async () => {
    const wallet = await envelopeDevice(alice).createWallet();
    assert.match(wallet.address, /^0x[0-9a-fA-F]{40}$/);
  });
});

test("the wallet-users role: a store provisioned with the first policy is upgraded once; an operator's own edit is left alone", async () => {
  const accountId = '111122223333';
  for (const edited of [false, true]) {
    const store = await openStore({ sqliteFile: ':memory:' });
    try {
      const now = Date.now();
      assert.equal(await provisionWalletUsersRole({ store, accountId, now }), true);
      assert.equal(await getRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY), walletUsersRolePolicy(accountId));
      // As a store provisioned before the upgrade existed: the first policy, no upgrade mark.
      const old = edited ? JSON.stringify({ Version: '2012-10-17', Statement: [] }) : walletUsersRolePolicyV1(accountId);
      await putRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY, old, now);
      await sql`delete from symbolon_meta where name in ('sts_wallet_users_role_v2', 'sts_wallet_users_role_v3')`.execute(store.db);
      assert.equal(await provisionWalletUsersRole({ store, accountId, now }), false);
      assert.equal(await getRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY), edited ? old : walletUsersRolePolicy(accountId));
      // Once: a later change by the operator is not overridden at the next start.
      await putRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY, walletUsersRolePolicyV1(accountId), now);
      await provisionWalletUsersRole({ store, accountId, now });
      assert.equal(await getRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY), walletUsersRolePolicyV1(accountId));
      // A store on the second policy (before linked logins) gets the third once; the first is not taken for it then.
      await putRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY, walletUsersRolePolicyV2(accountId), now);
      await sql`delete from symbolon_meta where name = 'sts_wallet_users_role_v3'`.execute(store.db);
      await provisionWalletUsersRole({ store, accountId, now });
      assert.equal(await getRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY), walletUsersRolePolicy(accountId));
      await putRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY, walletUsersRolePolicyV1(accountId), now);
      await sql`delete from symbolon_meta where name = 'sts_wallet_users_role_v3'`.execute(store.db);
      await provisionWalletUsersRole({ store, accountId, now });
      assert.equal(await getRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY), walletUsersRolePolicyV1(accountId));
    } finally {
      await store.close();
    }
  }
});
