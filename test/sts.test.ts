/**
 * STS web identity federation and IAM roles against a real listening
 * custodian, with the real @aws-sdk/client-sts, client-iam and client-kms: a
 * tiny OIDC issuer on loopback (jose; discovery + JWKS) mints tokens; roles
 * trust it by `Principal.Federated` with `<provider>:aud|sub` conditions;
 * AssumeRoleWithWebIdentity returns `ASIA…` credentials whose session tags
 * (`sub`, `email`) key policies test as `aws:PrincipalTag/sub`. Attacks: another
 * user's session, an expired session, a tampered or unknown session token,
 * tokens from an untrusted issuer, for the wrong audience, expired, `alg:
 * none`, forged, a trust-policy `sub` mismatch, and session credentials
 * calling IAM. Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 *
 * `fromWebToken` is exercised through @aws-sdk/credential-provider-web-identity,
 * the package @aws-sdk/credential-providers re-exports it from (the latter is
 * not installed; the former is, as a dependency of the AWS SDK clients).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload, type CryptoKey as JoseKey } from 'jose';
import { STSClient, AssumeRoleWithWebIdentityCommand, GetCallerIdentityCommand, type AssumeRoleWithWebIdentityCommandOutput } from '@aws-sdk/client-sts';
import {
  IAMClient,
  CreateRoleCommand,
  GetRoleCommand,
  ListRolesCommand,
  DeleteRoleCommand,
  PutRolePolicyCommand,
  GetRolePolicyCommand,
  DeleteRolePolicyCommand,
  ListRolePoliciesCommand,
  ListUsersCommand,
} from '@aws-sdk/client-iam';
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, GenerateDataKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { fromWebToken } from '@aws-sdk/credential-provider-web-identity';
import { startTestServer, ADMIN, REGION, type TestServer } from './helpers/server.js';
import { revokeSessions } from '../src/sts/revoke-sessions.js';

const AUDIENCE = 'symbolon-sts-test';

/** A minimal OIDC issuer: discovery and JWKS over loopback HTTP, tokens signed with ES256. */
interface Issuer {
  url: string;
  key: JoseKey;
  kid: string;
  mint(claims: JWTPayload & { sub?: string }, options?: { exp?: number; aud?: string; key?: JoseKey; kid?: string }): Promise<string>;
  close(): Promise<void>;
}

async function startIssuer(): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = `k-${Math.random().toString(36).slice(2)}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  let url = '';
  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ['ES256'] }));
    } else if (req.url === '/jwks') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    key: privateKey,
    kid,
    async mint(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? kid })
        .setIssuer(url)
        .setAudience(options.aud ?? AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(options.exp ?? now + 3600)
        .sign(options.key ?? privateKey);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function providerOf(url: string): string {
  return url.replace(/^https?:\/\//, '');
}

function trustPolicy(issuer: string, conditions: Record<string, string>): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::${'ACCOUNT'}:oidc-provider/${providerOf(issuer)}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: { StringEquals: conditions },
      },
    ],
  });
}

const USE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'], Resource: '*' }],
});

/** A key alice's sessions may use, only with the context {sub: alice}; management stays with the account. */
function aliceKeyPolicy(accountId: string): string {
  const root = `arn:aws:iam::${accountId}:root`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Admin',
        Effect: 'Allow',
        Principal: { AWS: root },
        Action: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'],
        Resource: '*',
      },
      {
        Sid: 'AliceSessions',
        Effect: 'Allow',
        Principal: { AWS: root },
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: '*',
        Condition: { StringEquals: { 'aws:PrincipalTag/sub': 'alice', 'kms:EncryptionContext:sub': 'alice' } },
      },
    ],
  });
}

/** A key only sessions from `issuer` whose token had a verified email may use. */
function issuerAndEmailKeyPolicy(accountId: string, issuer: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: ['kms:DescribeKey', 'kms:PutKeyPolicy'], Resource: '*' },
      {
        Sid: 'Sessions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:role/web-users` },
        Action: 'kms:Encrypt',
        Resource: '*',
        Condition: { StringEquals: { 'aws:PrincipalTag/iss': issuer, 'aws:PrincipalTag/email': 'alice@example.com' } },
      },
    ],
  });
}

type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken: string };

function credsOf(out: AssumeRoleWithWebIdentityCommandOutput): Creds {
  const c = out.Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
}

async function rejectsWith(p: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.name, name, `expected ${name}, got ${e.name}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('STS: AssumeRoleWithWebIdentity and IAM roles', () => {
  let server: TestServer;
  let issuer: Issuer;
  let stranger: Issuer;
  let sts: STSClient;
  let iam: IAMClient;
  let kms: KMSClient;
  let accountId: string;
  let keyId: string;
  let webRoleArn: string;
  /** Added to the custodian's clock (and to clients' signing clocks) to move time forward. */
  let clockOffset = 0;
  const clients: Array<{ destroy(): void }> = [];

  const kmsAs = (creds: Creds, offset = 0) => {
    const c = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: creds, maxAttempts: 1, systemClockOffset: offset });
    clients.push(c);
    return c;
  };
  const iamAs = (creds: Creds | typeof ADMIN) => {
    const c = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: creds, maxAttempts: 1 });
    clients.push(c);
    return c;
  };
  const assume = (token: string, roleArn = webRoleArn, sessionName = 'web-session', extra: { DurationSeconds?: number } = {}) =>
    sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: sessionName, WebIdentityToken: token, ...extra }));

  before(async () => {
    issuer = await startIssuer();
    stranger = await startIssuer();
    server = await startTestServer({
      env: {
        SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: issuer.url, audiences: [AUDIENCE], algorithms: ['ES256'] }]),
        SYMBOLON_BUILTIN_ISSUER: '0',
      },
      clock: () => Date.now() + clockOffset,
    });
    accountId = server.custodian.accountId;
    sts = new STSClient({ endpoint: server.endpoint, region: REGION, maxAttempts: 1 });
    iam = iamAs(ADMIN);
    kms = server.kms();
    clients.push(sts);

    const provider = providerOf(issuer.url);
    const created = await iam.send(
      new CreateRoleCommand({
        RoleName: 'web-users',
        AssumeRolePolicyDocument: trustPolicy(issuer.url, { [`${provider}:aud`]: AUDIENCE }).replace('ACCOUNT', accountId),
        Description: 'Sessions of end users',
        MaxSessionDuration: 7200,
        Tags: [{ Key: 'purpose', Value: 'web' }],
      }),
    );
    webRoleArn = created.Role!.Arn!;
    await iam.send(new PutRolePolicyCommand({ RoleName: 'web-users', PolicyName: 'use-keys', PolicyDocument: USE_POLICY }));
    // A role only alice may assume.
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'alice-only',
        AssumeRolePolicyDocument: trustPolicy(issuer.url, { [`${provider}:aud`]: AUDIENCE, [`${provider}:sub`]: 'alice' }).replace('ACCOUNT', accountId),
      }),
    );
    const key = await kms.send(new CreateKeyCommand({ Policy: aliceKeyPolicy(accountId), BypassPolicyLockoutSafetyCheck: true }));
    keyId = key.KeyMetadata!.KeyId!;
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await server?.close();
    await issuer?.close();
    await stranger?.close();
  });

  test('CreateRole/GetRole/ListRoles answer in IAM shape; the trust policy comes back URL-encoded', async () => {
    const role = (await iam.send(new GetRoleCommand({ RoleName: 'WEB-USERS' }))).Role!;
    assert.equal(role.RoleName, 'web-users');
    assert.equal(role.Arn, `arn:aws:iam::${accountId}:role/web-users`);
    assert.match(role.RoleId!, /^AROA[A-Z2-7]{17}$/);
    assert.equal(role.MaxSessionDuration, 7200);
    assert.equal(role.Description, 'Sessions of end users');
    assert.deepEqual(role.Tags, [{ Key: 'purpose', Value: 'web' }]);
    assert.equal(JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument!)).Statement[0].Action, 'sts:AssumeRoleWithWebIdentity');
    const list = await iam.send(new ListRolesCommand({}));
    // symbolon-wallet-users is the role the custodian provisions for devices (src/iam/roles/wallet-users-role.ts).
    assert.deepEqual(list.Roles!.map((r) => r.RoleName).sort(), ['alice-only', 'symbolon-wallet-users', 'web-users']);
    assert.equal(list.IsTruncated, false);
    const page = await iam.send(new ListRolesCommand({ MaxItems: 1 }));
    assert.equal(page.Roles!.length, 1);
    assert.equal(page.IsTruncated, true);
    const rest = await iam.send(new ListRolesCommand({ Marker: page.Marker! }));
    assert.equal(rest.Roles!.length, 2);
    assert.equal(rest.IsTruncated, false);
    assert.deepEqual(
      [...page.Roles!, ...rest.Roles!].map((r) => r.RoleName),
      ['alice-only', 'symbolon-wallet-users', 'web-users'],
    );
    assert.deepEqual((await iam.send(new ListRolePoliciesCommand({ RoleName: 'web-users' }))).PolicyNames, ['use-keys']);
    const doc = (await iam.send(new GetRolePolicyCommand({ RoleName: 'web-users', PolicyName: 'use-keys' }))).PolicyDocument!;
    assert.deepEqual(JSON.parse(decodeURIComponent(doc)), JSON.parse(USE_POLICY));
  });

  test('IAM role errors carry IAM codes and change nothing', async () => {
    const provider = providerOf(issuer.url);
    await rejectsWith(
      iam.send(new CreateRoleCommand({ RoleName: 'Web-Users', AssumeRolePolicyDocument: trustPolicy(issuer.url, { [`${provider}:aud`]: AUDIENCE }) })),
      'EntityAlreadyExistsException',
      /Role with name Web-Users already exists/,
    );
    const withResource = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Federated: issuer.url }, Action: 'sts:AssumeRoleWithWebIdentity', Resource: '*' }],
    });
    await rejectsWith(
      iam.send(new CreateRoleCommand({ RoleName: 'bad', AssumeRolePolicyDocument: withResource })),
      'MalformedPolicyDocumentException',
      /Has prohibited field Resource/,
    );
    await rejectsWith(
      iam.send(new CreateRoleCommand({ RoleName: 'bad', AssumeRolePolicyDocument: '{not json' })),
      'MalformedPolicyDocumentException',
      /invalid Json/,
    );
    await rejectsWith(
      iam.send(new CreateRoleCommand({ RoleName: 'bad', AssumeRolePolicyDocument: trustPolicy(issuer.url, {}), MaxSessionDuration: 60 })),
      'ValidationError',
      /maxSessionDuration/,
    );
    await rejectsWith(
      iam.send(new CreateRoleCommand({ RoleName: 'bad name!', AssumeRolePolicyDocument: trustPolicy(issuer.url, {}) })),
      'ValidationError',
      /roleName/,
    );
    await rejectsWith(iam.send(new GetRoleCommand({ RoleName: 'nobody' })), 'NoSuchEntityException', /The role with name nobody cannot be found/);
    await rejectsWith(
      iam.send(
        new PutRolePolicyCommand({
          RoleName: 'web-users',
          PolicyName: 'p2',
          PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' }] }),
        }),
      ),
      'MalformedPolicyDocumentException',
    );
    await rejectsWith(
      iam.send(new GetRolePolicyCommand({ RoleName: 'web-users', PolicyName: 'none' })),
      'NoSuchEntityException',
      /The role policy with name none cannot be found/,
    );
    await rejectsWith(iam.send(new DeleteRoleCommand({ RoleName: 'web-users' })), 'DeleteConflictException', /must delete policies first/);
    assert.deepEqual((await iam.send(new ListRolesCommand({}))).Roles!.map((r) => r.RoleName).sort(), ['alice-only', 'symbolon-wallet-users', 'web-users']);
    assert.deepEqual((await iam.send(new ListRolePoliciesCommand({ RoleName: 'web-users' }))).PolicyNames, ['use-keys']);
  });

  test('AssumeRoleWithWebIdentity returns AWS-shaped temporary credentials bounded by the token', async () => {
    const token = await issuer.mint({ sub: 'alice', email: 'alice@example.com' });
    const before = Date.now();
    const out = await assume(token, webRoleArn, 'alice-phone');
    const c = out.Credentials!;
    assert.match(c.AccessKeyId!, /^ASIA[A-Z2-7]{16}$/);
    assert.equal(c.SecretAccessKey!.length, 40);
    assert.ok(c.SessionToken!.length >= 64);
    const ms = c.Expiration!.getTime() - before;
    assert.ok(ms > 3590_000 && ms <= 3600_000, `default duration is one hour, got ${ms} ms`);
    assert.equal(out.SubjectFromWebIdentityToken, 'alice');
    assert.equal(out.Provider, issuer.url);
    assert.equal(out.Audience, AUDIENCE);
    assert.equal(out.AssumedRoleUser!.Arn, `arn:aws:sts::${accountId}:assumed-role/web-users/alice-phone`);
    const role = (await iam.send(new GetRoleCommand({ RoleName: 'web-users' }))).Role!;
    assert.equal(out.AssumedRoleUser!.AssumedRoleId, `${role.RoleId}:alice-phone`);

    // The session ends when the token does, however long a duration is asked for.
    const exp = Math.floor(Date.now() / 1000) + 1200;
    const short = await assume(await issuer.mint({ sub: 'alice' }, { exp }), webRoleArn, 'alice-phone', { DurationSeconds: 7200 });
    assert.equal(short.Credentials!.Expiration!.getTime(), exp * 1000);

    // The store keeps the token only as a hash and the secret only sealed.
    const rows = await server.custodian.deps.store.db.selectFrom('sts_sessions').selectAll().execute();
    const dump = JSON.stringify(rows, (_k, v) => (v instanceof Uint8Array || (v && v.type === 'Buffer') ? Buffer.from(v.data ?? v).toString('latin1') : v));
    assert.ok(rows.length >= 2);
    assert.ok(!dump.includes(c.SessionToken!), 'session token stored in clear');
    assert.ok(!dump.includes(c.SecretAccessKey!), 'secret stored in clear');
  });

  test('the raw response is exactly AWS XML in the STS namespace', async () => {
    const token = await issuer.mint({ sub: 'alice' });
    const body = new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: webRoleArn,
      RoleSessionName: 'raw',
      WebIdentityToken: token,
    });
    const res = await fetch(server.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /xml/);
    const xml = await res.text();
    assert.match(
      xml,
      /^<AssumeRoleWithWebIdentityResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA[A-Z2-7]{16}<\/AccessKeyId><SecretAccessKey>[^<]{40}<\/SecretAccessKey><SessionToken>[^<]+<\/SessionToken><Expiration>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ<\/Expiration><\/Credentials><SubjectFromWebIdentityToken>alice<\/SubjectFromWebIdentityToken><AssumedRoleUser><AssumedRoleId>AROA[A-Z2-7]{17}:raw<\/AssumedRoleId><Arn>arn:aws:sts::\d{12}:assumed-role\/web-users\/raw<\/Arn><\/AssumedRoleUser><Provider>[^<]+<\/Provider><Audience>symbolon-sts-test<\/Audience><\/AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>[0-9a-f-]{36}<\/RequestId><\/ResponseMetadata><\/AssumeRoleWithWebIdentityResponse>$/,
    );
    const bad = await fetch(server.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: webRoleArn,
        RoleSessionName: 'raw',
        WebIdentityToken: 'x.y.z',
      }),
    });
    assert.equal(bad.status, 400);
    assert.match(
      await bad.text(),
      /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/"><Error><Type>Sender<\/Type><Code>InvalidIdentityToken<\/Code><Message>[^<]+<\/Message><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/,
    );
  });

  test("the session's tags reach key policies: alice's session uses her key, with her context only", async () => {
    const alice = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'alice', email: 'alice@example.com' }), webRoleArn, 'alice')));
    const ctx = { sub: 'alice' };
    const enc = await alice.send(new EncryptCommand({ KeyId: keyId, Plaintext: new TextEncoder().encode('data key'), EncryptionContext: ctx }));
    const dec = await alice.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: ctx }));
    assert.equal(new TextDecoder().decode(dec.Plaintext!), 'data key');
    const gdk = await alice.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: ctx }));
    assert.equal(gdk.Plaintext!.length, 32);
    await rejectsWith(
      alice.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'bob' } })),
      'AccessDeniedException',
    );
    await rejectsWith(alice.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! })), 'AccessDeniedException');
    // The role policy allows nothing else; the key policy's Admin statement needs an identity policy for sessions.
    await rejectsWith(alice.send(new DescribeKeyCommand({ KeyId: keyId })), 'AccessDeniedException', /assumed-role\/web-users\/alice/);

    const who = new STSClient({
      endpoint: server.endpoint,
      region: REGION,
      credentials: credsOf(await assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'alice')),
      maxAttempts: 1,
    });
    clients.push(who);
    const me = await who.send(new GetCallerIdentityCommand({}));
    assert.equal(me.Arn, `arn:aws:sts::${accountId}:assumed-role/web-users/alice`);
    assert.equal(me.Account, accountId);
    assert.match(me.UserId!, /^AROA[A-Z2-7]{17}:alice$/);
  });

  test('the iss and email session tags reach key policies too; a key policy may name the role directly', async () => {
    const keyId2 = (await kms.send(new CreateKeyCommand({ Policy: issuerAndEmailKeyPolicy(accountId, issuer.url), BypassPolicyLockoutSafetyCheck: true })))
      .KeyMetadata!.KeyId!;
    const withEmail = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'alice', email: 'alice@example.com' }), webRoleArn, 'alice')));
    await withEmail.send(new EncryptCommand({ KeyId: keyId2, Plaintext: new Uint8Array(8) }));
    const unverified = kmsAs(
      credsOf(await assume(await issuer.mint({ sub: 'alice', email: 'alice@example.com', email_verified: false }), webRoleArn, 'alice')),
    );
    await rejectsWith(unverified.send(new EncryptCommand({ KeyId: keyId2, Plaintext: new Uint8Array(8) })), 'AccessDeniedException');
    const noEmail = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'alice')));
    await rejectsWith(noEmail.send(new EncryptCommand({ KeyId: keyId2, Plaintext: new Uint8Array(8) })), 'AccessDeniedException');
  });

  test("another user's session is denied alice's key, whatever context it names", async () => {
    const alice = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'alice')));
    const enc = await alice.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32).fill(7), EncryptionContext: { sub: 'alice' } }));
    // Bob names his session "alice": the session name decides nothing, the sub tag does.
    const bob = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'bob' }), webRoleArn, 'alice')));
    await rejectsWith(
      bob.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: { sub: 'alice' } })),
      'AccessDeniedException',
      new RegExp(`User: arn:aws:sts::${accountId}:assumed-role/web-users/alice is not authorized to perform: kms:Decrypt`),
    );
    await rejectsWith(
      bob.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } })),
      'AccessDeniedException',
    );
  });

  test('role policies apply to sessions: without one the key policy delegation allows nothing', async () => {
    const alice = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'alice')));
    const enc = await alice.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32).fill(1), EncryptionContext: { sub: 'alice' } }));
    await iam.send(new DeleteRolePolicyCommand({ RoleName: 'web-users', PolicyName: 'use-keys' }));
    try {
      await rejectsWith(
        alice.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: { sub: 'alice' } })),
        'AccessDeniedException',
        /because no identity-based policy allows the kms:Decrypt action/,
      );
    } finally {
      await iam.send(new PutRolePolicyCommand({ RoleName: 'web-users', PolicyName: 'use-keys', PolicyDocument: USE_POLICY }));
    }
    const dec = await alice.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: { sub: 'alice' } }));
    assert.deepEqual([...dec.Plaintext!], new Array(32).fill(1));
  });

  test('an expired session is refused with ExpiredTokenException; a tampered or unknown one is not recognised', async () => {
    const creds = credsOf(await assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'alice', { DurationSeconds: 900 }));
    const ok = kmsAs(creds);
    await ok.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } }));

    const tampered = kmsAs({ ...creds, sessionToken: creds.sessionToken.slice(0, -4) + (creds.sessionToken.endsWith('AAAA') ? 'BBBB' : 'AAAA') });
    await rejectsWith(
      tampered.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } })),
      'UnrecognizedClientException',
      /The security token included in the request is invalid/,
    );
    const unknown = kmsAs({ ...creds, accessKeyId: 'ASIAAAAAAAAAAAAAAAAA' });
    await rejectsWith(
      unknown.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } })),
      'UnrecognizedClientException',
    );
    const withoutToken = kmsAs({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey } as Creds);
    await rejectsWith(
      withoutToken.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } })),
      'UnrecognizedClientException',
    );

    clockOffset = 16 * 60 * 1000;
    try {
      const late = kmsAs(creds, clockOffset);
      await rejectsWith(
        late.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } })),
        'ExpiredTokenException',
        /^The security token included in the request is expired$/,
      );
    } finally {
      clockOffset = 0;
    }
  });

  test('refused tokens: untrusted issuer, wrong audience, expired, alg none, forged, trust-policy sub mismatch, unknown role', async () => {
    await rejectsWith(
      assume(await stranger.mint({ sub: 'alice' })),
      'InvalidIdentityTokenException',
      new RegExp(`No OpenIDConnect provider found in your account for ${stranger.url}`),
    );
    await rejectsWith(assume(await issuer.mint({ sub: 'alice' }, { aud: 'someone-else' })), 'InvalidIdentityTokenException', /Incorrect token audience/);
    const past = Math.floor(Date.now() / 1000) - 3600;
    await rejectsWith(assume(await issuer.mint({ sub: 'alice' }, { exp: past })), 'ExpiredTokenException', /Token expired/);
    const none = new UnsecuredJWT({ sub: 'alice' }).setIssuer(issuer.url).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('1h').encode();
    await rejectsWith(assume(none), 'InvalidIdentityTokenException');
    // The stranger's key under the trusted issuer's name and key id.
    await rejectsWith(assume(await issuer.mint({ sub: 'alice' }, { key: stranger.key })), 'InvalidIdentityTokenException', /signature/);
    // A valid token whose payload was edited after signing.
    const good = await issuer.mint({ sub: 'bob' });
    const [h, , s] = good.split('.');
    const edited = `${h}.${Buffer.from(JSON.stringify({ iss: issuer.url, aud: AUDIENCE, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url')}.${s}`;
    await rejectsWith(assume(edited), 'InvalidIdentityTokenException');

    const aliceOnly = `arn:aws:iam::${accountId}:role/alice-only`;
    await rejectsWith(assume(await issuer.mint({ sub: 'bob' }), aliceOnly), 'AccessDenied', /^Not authorized to perform sts:AssumeRoleWithWebIdentity$/);
    const ok = await assume(await issuer.mint({ sub: 'alice' }), aliceOnly);
    assert.equal(ok.AssumedRoleUser!.Arn, `arn:aws:sts::${accountId}:assumed-role/alice-only/web-session`);
    await rejectsWith(assume(await issuer.mint({ sub: 'alice' }), `arn:aws:iam::${accountId}:role/no-such-role`), 'AccessDenied', /Not authorized/);
    await rejectsWith(assume(await issuer.mint({ sub: 'alice' }), `arn:aws:iam::999999999999:role/web-users`), 'AccessDenied');

    await rejectsWith(assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'x'), 'ValidationError', /roleSessionName/);
    await rejectsWith(assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'bad name'), 'ValidationError', /roleSessionName/);
    await rejectsWith(
      assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'ok', { DurationSeconds: 10800 }),
      'ValidationError',
      /exceeds the MaxSessionDuration set for this role/,
    );
    await rejectsWith(assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'ok', { DurationSeconds: 60 }), 'ValidationError', /durationSeconds/);
  });

  test('the fromWebToken credential provider works unchanged against the custodian', async () => {
    const token = await issuer.mint({ sub: 'alice' });
    const provider = fromWebToken({
      roleArn: webRoleArn,
      webIdentityToken: token,
      roleSessionName: 'provider',
      clientConfig: { endpoint: server.endpoint, region: REGION },
    });
    const client = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: provider, maxAttempts: 1 });
    clients.push(client);
    const enc = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32).fill(9), EncryptionContext: { sub: 'alice' } }));
    const dec = await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: { sub: 'alice' } }));
    assert.deepEqual([...dec.Plaintext!], new Array(32).fill(9));
    const resolved = await provider();
    assert.match(resolved.accessKeyId, /^ASIA/);
  });

  test('the provisioned symbolon-wallet-users role: any trusted token, keys only under its own sub', async () => {
    const arn = `arn:aws:iam::${accountId}:role/symbolon-wallet-users`;
    await rejectsWith(assume(await stranger.mint({ sub: 'alice' }), arn), 'InvalidIdentityTokenException');
    const session = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'alice' }), arn, 'alice')));
    const enc = await session.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32).fill(3), EncryptionContext: { sub: 'alice' } }));
    const dec = await session.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: { sub: 'alice' } }));
    assert.deepEqual([...dec.Plaintext!], new Array(32).fill(3));
    // An admin key with the default policy delegates to IAM: the role policy still demands the session's own sub.
    const open = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await session.send(new EncryptCommand({ KeyId: open, Plaintext: new Uint8Array(8), EncryptionContext: { sub: 'alice' } }));
    await rejectsWith(session.send(new EncryptCommand({ KeyId: open, Plaintext: new Uint8Array(8) })), 'AccessDeniedException');
    await rejectsWith(
      session.send(new EncryptCommand({ KeyId: open, Plaintext: new Uint8Array(8), EncryptionContext: { sub: 'bob' } })),
      'AccessDeniedException',
    );
  });

  test('session credentials cannot call IAM', async () => {
    const session = iamAs(credsOf(await assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'alice')));
    await rejectsWith(
      session.send(new CreateRoleCommand({ RoleName: 'escalate', AssumeRolePolicyDocument: trustPolicy(issuer.url, {}) })),
      'AccessDenied',
      new RegExp(
        `User: arn:aws:sts::${accountId}:assumed-role/web-users/alice is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::${accountId}:role/escalate`,
      ),
    );
    await rejectsWith(
      session.send(
        new PutRolePolicyCommand({
          RoleName: 'web-users',
          PolicyName: 'more',
          PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }),
        }),
      ),
      'AccessDenied',
    );
    await rejectsWith(session.send(new ListUsersCommand({})), 'AccessDenied');
    assert.deepEqual((await iam.send(new ListRolePoliciesCommand({ RoleName: 'web-users' }))).PolicyNames, ['use-keys']);
    await rejectsWith(iam.send(new GetRoleCommand({ RoleName: 'escalate' })), 'NoSuchEntityException');
  });

  test("revoking a user's sessions refuses their credentials at once; other users keep theirs", async () => {
    const alice = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'alice')));
    const carol = kmsAs(credsOf(await assume(await issuer.mint({ sub: 'carol' }), webRoleArn, 'carol')));
    const enc = () => new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } });
    await alice.send(enc());
    const n = await revokeSessions(
      { store: server.custodian.deps.store, authenticator: server.custodian.authenticator },
      { issuer: issuer.url, subject: 'alice' },
      Date.now(),
    );
    assert.ok(n >= 1);
    await rejectsWith(alice.send(enc()), 'UnrecognizedClientException', /The security token included in the request is invalid/);
    // Carol's session still authenticates (her key policy answer is a denial, not an unknown token).
    await rejectsWith(carol.send(enc()), 'AccessDeniedException');
    // A new token gets new credentials.
    await kmsAs(credsOf(await assume(await issuer.mint({ sub: 'alice' }), webRoleArn, 'alice'))).send(enc());
  });

  test("DeleteRole ends the role's sessions at once", async () => {
    const provider = providerOf(issuer.url);
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'short-lived',
        AssumeRolePolicyDocument: trustPolicy(issuer.url, { [`${provider}:aud`]: AUDIENCE }).replace('ACCOUNT', accountId),
      }),
    );
    await iam.send(new PutRolePolicyCommand({ RoleName: 'short-lived', PolicyName: 'use', PolicyDocument: USE_POLICY }));
    const creds = credsOf(await assume(await issuer.mint({ sub: 'alice' }), `arn:aws:iam::${accountId}:role/short-lived`, 'alice'));
    const c = kmsAs(creds);
    await c.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } }));
    await iam.send(new DeleteRolePolicyCommand({ RoleName: 'short-lived', PolicyName: 'use' }));
    await iam.send(new DeleteRoleCommand({ RoleName: 'short-lived' }));
    await rejectsWith(
      c.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32), EncryptionContext: { sub: 'alice' } })),
      'UnrecognizedClientException',
    );
    await rejectsWith(iam.send(new GetRoleCommand({ RoleName: 'short-lived' })), 'NoSuchEntityException');
  });
});
