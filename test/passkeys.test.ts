/**
 * Passkeys in the built-in issuer and step-up MFA in policies, against a real
 * listening server (docs/identity.md "Passkeys", docs/access-control.md
 * "Step-up MFA"). The authenticator is test/helpers/soft-authenticator.ts:
 * real P-256 credentials, real CBOR attestation objects and real assertion
 * signatures, with knobs for what an attacker or a broken authenticator
 * sends (Chromium's virtual authenticator drives the same ceremonies in
 * test/frame-passkeys.test.ts). Proves: tokens carry amr/acr/auth_time and a
 * refresh keeps them; adding a passkey needs a fresh login; a passkey alone
 * logs in as the same `sub`; the counter rises and is stored; replayed, wrong-
 * origin, wrong-RP, wrong-challenge, unverified, cloned-counter, unknown and
 * expired ceremonies are refused with stable codes and change nothing; a
 * step-up yields `mfa`; and a key policy, an identity policy and a signing
 * policy that require MFA refuse an email-only STS session and allow a
 * stepped-up one (AWS SDK). Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { STSClient, AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import { IAMClient, CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { callAwsJson } from './helpers/aws-json.js';
import { SoftAuthenticator } from './helpers/soft-authenticator.js';

let server: TestServer;
let issuerUrl: string;
let origin: string;
let offsetMs = 0;
const clients: Array<{ destroy(): void }> = [];

type Reply = { status: number; body: any };

async function call(method: 'GET' | 'POST', path: string, body?: unknown, bearer?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const res = await fetch(`${issuerUrl}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: await res.json() };
}

interface Tokens {
  access_token: string;
  id_token: string;
  refresh_token: string;
}

async function emailLogin(email: string): Promise<Tokens> {
  assert.equal((await call('POST', '/email/start', { email })).status, 200);
  const mail = await call('GET', `/dev/mailbox?email=${encodeURIComponent(email)}`);
  const r = await call('POST', '/email/verify', { email, code: mail.body.messages[0].code });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function register(auth: SoftAuthenticator, tokens: Tokens): Promise<Reply> {
  const start = await call('POST', '/passkey/register/start', undefined, tokens.access_token);
  assert.equal(start.status, 200, JSON.stringify(start.body));
  return call('POST', '/passkey/register/finish', { challenge_id: start.body.challenge_id, response: auth.create(start.body.options) }, tokens.access_token);
}

async function loginStart(): Promise<{ challenge_id: string; options: any }> {
  const r = await call('POST', '/passkey/login/start');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function passkeyLogin(auth: SoftAuthenticator, index = 0): Promise<Reply> {
  const s = await loginStart();
  return call('POST', '/passkey/login/finish', { challenge_id: s.challenge_id, response: auth.get(s.options, {}, index) });
}

async function stepUp(auth: SoftAuthenticator, tokens: Tokens): Promise<Reply> {
  const s = await call('POST', '/passkey/step-up/start', undefined, tokens.access_token);
  if (s.status !== 200) return s;
  return call('POST', '/passkey/step-up/finish', { challenge_id: s.body.challenge_id, response: auth.get(s.body.options) }, tokens.access_token);
}

const claims = (jwt: string) => decodeJwt(jwt) as Record<string, any>;
const errorCode = (r: Reply) => r.body?.error?.code;

before(async () => {
  server = await startTestServer({
    env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
    clock: () => Date.now() + offsetMs,
  });
  issuerUrl = `${server.endpoint}/oidc`;
  // The default public URL is http://127.0.0.1:<port>: WebAuthn's RP is `localhost` at that port.
  origin = `http://localhost:${server.port}`;
});

after(async () => {
  for (const c of clients) c.destroy();
  await server?.close();
});

test('tokens say how the user logged in; a refresh keeps the login’s amr and auth_time', async () => {
  const t = await emailLogin('amr@example.com');
  for (const jwt of [t.access_token, t.id_token]) {
    const c = claims(jwt);
    assert.deepEqual(c.amr, ['otp']);
    assert.equal(c.acr, 'urn:symbolon:acr:email-otp');
    assert.ok(Math.abs(c.auth_time - Date.now() / 1000) < 30);
  }
  const loginTime = claims(t.access_token).auth_time;
  offsetMs = 120_000;
  try {
    const r = await call('POST', '/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token });
    assert.equal(r.status, 200);
    const c = claims(r.body.access_token);
    assert.ok(c.iat >= loginTime + 110, 'a new token');
    assert.equal(c.auth_time, loginTime, 'a refresh is not a login');
    assert.deepEqual(c.amr, ['otp']);
  } finally {
    offsetMs = 0;
  }
  const doc = await call('GET', '/.well-known/openid-configuration');
  assert.ok(doc.body.claims_supported.includes('amr'));
  assert.deepEqual(doc.body.acr_values_supported, ['phr', 'urn:symbolon:acr:email-otp']);
});

test('adding a passkey needs this issuer’s access token from a fresh login', async () => {
  const auth = new SoftAuthenticator({ origin: '', rpId: 'localhost' });
  const none = await call('POST', '/passkey/register/start');
  assert.deepEqual([none.status, errorCode(none)], [401, 'login_required']);
  const t = await emailLogin('fresh@example.com');
  const idToken = await call('POST', '/passkey/register/start', undefined, t.id_token);
  assert.deepEqual([idToken.status, errorCode(idToken)], [401, 'login_required'], 'the ID token is not for this');
  const forged = await call('POST', '/passkey/register/start', undefined, `${t.access_token.slice(0, -4)}AAAA`);
  assert.deepEqual([forged.status, errorCode(forged)], [401, 'login_required']);
  offsetMs = 11 * 60_000;
  try {
    const stale = await call('POST', '/passkey/register/start', undefined, t.access_token);
    assert.deepEqual([stale.status, errorCode(stale)], [403, 'fresh_login_required']);
  } finally {
    offsetMs = 0;
  }
  const list = await call('GET', '/passkeys', undefined, t.access_token);
  assert.deepEqual(list.body.passkeys, [], 'nothing was added');
  assert.equal(auth.credentials.length, 0);
});

test('a passkey added after an email login logs in alone as the same sub; its counter rises and is stored', async () => {
  const t = await emailLogin('alice@example.com');
  const sub = claims(t.access_token).sub;
  const auth = new SoftAuthenticator({ origin, rpId: 'localhost' });
  const reg = await register(auth, t);
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  assert.deepEqual(
    { counter: reg.body.counter, be: reg.body.backup_eligible, bs: reg.body.backed_up, last: reg.body.last_used_at },
    { counter: 0, be: false, bs: false, last: null },
  );

  const login = await passkeyLogin(auth);
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const c = claims(login.body.id_token);
  assert.equal(c.sub, sub, 'the same user as the email login');
  assert.equal(c.email, 'alice@example.com');
  assert.deepEqual(c.amr, ['hwk', 'user', 'mfa']);
  assert.equal(c.acr, 'phr');
  assert.equal((await passkeyLogin(auth)).status, 200);

  const list = await call('GET', '/passkeys', undefined, login.body.access_token);
  assert.equal(list.body.passkeys.length, 1);
  assert.equal(list.body.passkeys[0].counter, 2);
  assert.ok(list.body.passkeys[0].last_used_at >= reg.body.created_at);

  // A refresh of the passkey login keeps its amr.
  const r = await call('POST', '/token', { grant_type: 'refresh_token', refresh_token: login.body.refresh_token });
  assert.deepEqual(claims(r.body.access_token).amr, ['hwk', 'user', 'mfa']);

  // The same credential cannot be registered twice.
  const again = await call('POST', '/passkey/register/start', undefined, t.access_token);
  assert.deepEqual(
    again.body.options.excludeCredentials.map((x: { id: string }) => x.id),
    [reg.body.credential_id],
  );
});

test('a synced passkey (backup eligible, backed up) is recorded so and says swk', async () => {
  const t = await emailLogin('synced@example.com');
  const auth = new SoftAuthenticator({ origin, rpId: 'localhost', backupEligible: true });
  const reg = await register(auth, t);
  assert.deepEqual([reg.body.backup_eligible, reg.body.backed_up], [true, true]);
  const login = await passkeyLogin(auth);
  assert.deepEqual(claims(login.body.access_token).amr, ['swk', 'user', 'mfa']);
});

test('replayed, wrong-origin, wrong-RP, wrong-challenge, unverified, cloned, unknown and expired ceremonies are refused and change nothing', async () => {
  const t = await emailLogin('bob@example.com');
  const auth = new SoftAuthenticator({ origin, rpId: 'localhost' });
  assert.equal((await register(auth, t)).status, 200);
  const ok = await passkeyLogin(auth);
  assert.equal(ok.status, 200);
  const counter = async () => (await call('GET', '/passkeys', undefined, t.access_token)).body.passkeys[0].counter;
  assert.equal(await counter(), 1);

  const finish = (challengeId: string, response: unknown) => call('POST', '/passkey/login/finish', { challenge_id: challengeId, response });
  const cases: Array<[string, () => Promise<Reply>, string]> = [
    [
      'replay',
      async () => {
        const s = await loginStart();
        const response = auth.get(s.options);
        assert.equal((await finish(s.challenge_id, response)).status, 200);
        return finish(s.challenge_id, response);
      },
      'invalid_challenge',
    ],
    [
      'another origin',
      async () => await loginStart().then((s) => finish(s.challenge_id, auth.get(s.options, { origin: 'http://localhost:1' }))),
      'origin_mismatch',
    ],
    ['another RP ID', async () => loginStart().then((s) => finish(s.challenge_id, auth.get(s.options, { rpId: 'evil.example' }))), 'rp_id_mismatch'],
    [
      'another challenge',
      async () => {
        const a = await loginStart();
        const b = await loginStart();
        return finish(b.challenge_id, auth.get(a.options));
      },
      'challenge_mismatch',
    ],
    ['no user verification', async () => loginStart().then((s) => finish(s.challenge_id, auth.get(s.options, { userVerified: false }))), 'user_not_verified'],
    [
      'a cloned key’s stale counter',
      async () => loginStart().then((s) => finish(s.challenge_id, auth.get(s.options, { counter: 1 }))),
      'counter_not_increased',
    ],
    [
      'a passkey never registered',
      async () => {
        const stranger = new SoftAuthenticator({ origin, rpId: 'localhost' });
        stranger.create({ challenge: 'x', user: { id: 'eA' } });
        return loginStart().then((s) => finish(s.challenge_id, stranger.get(s.options)));
      },
      'unknown_credential',
    ],
    ['an unknown challenge id', async () => loginStart().then((s) => finish('not-a-challenge', auth.get(s.options))), 'invalid_challenge'],
    [
      'a registration challenge used to log in',
      async () => {
        const s = await call('POST', '/passkey/register/start', undefined, t.access_token);
        return finish(s.body.challenge_id, auth.get(s.body.options));
      },
      'invalid_challenge',
    ],
    [
      'an expired challenge',
      async () => {
        const s = await loginStart();
        offsetMs = 6 * 60_000;
        try {
          return await finish(s.challenge_id, auth.get(s.options));
        } finally {
          offsetMs = 0;
        }
      },
      'invalid_challenge',
    ],
  ];
  for (const [name, run, code] of cases) {
    const before = await counter();
    const r = await run();
    assert.deepEqual([r.status, errorCode(r)], [400, code], `${name}: ${JSON.stringify(r.body)}`);
    assert.ok(!('access_token' in r.body), name);
    // The replay case logged in once before its refused second try.
    assert.equal(await counter(), name === 'replay' ? before + 1 : before, `${name}: the stored counter did not move`);
  }

  // Registration refusals: another origin, no user verification; nothing is stored.
  for (const [knobs, code] of [
    [{ origin: 'http://localhost:1' }, 'origin_mismatch'],
    [{ userVerified: false }, 'user_not_verified'],
  ] as const) {
    const s = await call('POST', '/passkey/register/start', undefined, t.access_token);
    const r = await call(
      'POST',
      '/passkey/register/finish',
      { challenge_id: s.body.challenge_id, response: auth.create(s.body.options, knobs) },
      t.access_token,
    );
    assert.deepEqual([r.status, errorCode(r)], [400, code]);
  }
  assert.equal((await call('GET', '/passkeys', undefined, t.access_token)).body.passkeys.length, 1);
});

test('step-up: an email login plus a passkey gives otp+hwk+user+mfa and a fresh auth_time; only the user’s own passkey counts', async () => {
  const alice = new SoftAuthenticator({ origin, rpId: 'localhost' });
  const t0 = await emailLogin('carol@example.com');
  assert.equal((await register(alice, t0)).status, 200);
  offsetMs = 60_000;
  try {
    const t = await emailLogin('carol@example.com');
    const up = await stepUp(alice, t);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    const c = claims(up.body.id_token);
    assert.deepEqual(c.amr, ['otp', 'hwk', 'user', 'mfa']);
    assert.equal(c.acr, 'phr');
    assert.equal(c.sub, claims(t.id_token).sub);
    assert.ok(c.auth_time >= claims(t.id_token).auth_time);
  } finally {
    offsetMs = 0;
  }
  // Dave has no passkey: step-up says so; Dave cannot step up with Carol's.
  const dave = await emailLogin('dave@example.com');
  const none = await call('POST', '/passkey/step-up/start', undefined, dave.access_token);
  assert.deepEqual([none.status, errorCode(none)], [400, 'no_passkey']);
  const daveKey = new SoftAuthenticator({ origin, rpId: 'localhost' });
  assert.equal((await register(daveKey, dave)).status, 200);
  const s = await call('POST', '/passkey/step-up/start', undefined, dave.access_token);
  const r = await call('POST', '/passkey/step-up/finish', { challenge_id: s.body.challenge_id, response: alice.get(s.body.options) }, dave.access_token);
  assert.deepEqual([r.status, errorCode(r)], [400, 'unknown_credential']);
  const noBearer = await call('POST', '/passkey/step-up/start');
  assert.deepEqual([noBearer.status, errorCode(noBearer)], [401, 'login_required']);
});

test('key, identity and signing policies that require MFA refuse an email-only session and allow a stepped-up one', async () => {
  const accountId = server.custodian.accountId;
  const sts = new STSClient({ endpoint: server.endpoint, region: REGION, maxAttempts: 1 });
  const iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  clients.push(sts, iam);
  const kms = server.kms();
  const provider = issuerUrl.replace(/^https?:\/\//, '');
  const roleArn = (
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'mfa-users',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Federated: `arn:aws:iam::${accountId}:oidc-provider/${provider}` },
              Action: 'sts:AssumeRoleWithWebIdentity',
              Condition: { StringEquals: { [`${provider}:aud`]: 'symbolon' } },
            },
          ],
        }),
      }),
    )
  ).Role!.Arn!;
  const root = `arn:aws:iam::${accountId}:root`;
  const admin = { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:*', Resource: '*' };
  // K1: the key policy demands MFA.
  const k1 = (
    await kms.send(
      new CreateKeyCommand({
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            admin,
            {
              Sid: 'MfaSessions',
              Effect: 'Allow',
              Principal: { AWS: roleArn },
              Action: 'kms:Encrypt',
              Resource: '*',
              Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
            },
          ],
        }),
      }),
    )
  ).KeyMetadata!.Arn!;
  // K2: the default key policy delegates to IAM; the role policy demands MFA at most 5 minutes old and a passkey.
  const k2 = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  // K3: an Ethereum key whose signing policy demands MFA.
  const k3 = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: 'mfa-users',
      PolicyName: 'keys',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'kms:Encrypt',
            Resource: k2,
            Condition: {
              NumericLessThanEquals: { 'aws:MultiFactorAuthAge': '300' },
              'ForAnyValue:StringEquals': { 'symbolon:AuthMethods': ['hwk', 'swk'] },
            },
          },
          { Effect: 'Allow', Action: 'kms:Sign', Resource: k3 },
        ],
      }),
    }),
  );
  const put = await callAwsJson({
    endpoint: server.endpoint,
    target: 'SymbolonSigning.PutSigningPolicy',
    body: {
      KeyId: k3,
      Policy: JSON.stringify({
        Version: '2026-12-01',
        Statement: [{ Sid: 'OnlyWithMfa', Effect: 'Allow', Condition: { Bool: { 'aws:MultiFactorAuthPresent': true } } }],
      }),
    },
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));

  const passkey = new SoftAuthenticator({ origin, rpId: 'localhost' });
  const email = await emailLogin('erin@example.com');
  assert.equal((await register(passkey, email)).status, 200);
  const stepped = await stepUp(passkey, email);
  assert.equal(stepped.status, 200);

  const session = async (idToken: string) => {
    const out = await sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'erin', WebIdentityToken: idToken }));
    const c = out.Credentials!;
    const creds = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
    const client: KMSClient = server.kms(creds);
    return { creds, kms: client };
  };
  const plain = await session(email.id_token);
  const mfa = await session(stepped.body.id_token);
  const encrypt = (s: { kms: KMSClient }, keyId: string) => s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1, 2, 3]) }));
  const signPayload = (s: { creds: { accessKeyId: string; secretAccessKey: string; sessionToken: string } }) =>
    callAwsJson({
      endpoint: server.endpoint,
      target: 'SymbolonSigning.SignPayload',
      credentials: s.creds,
      body: { KeyId: k3, Payload: { type: 'message', message: 'withdraw' } },
      signingDate: new Date(Date.now() + offsetMs),
    });
  const denied = (name: string) => (e: any) => {
    assert.equal(e.name, 'AccessDeniedException', `${name}: ${e.name} ${e.message}`);
    return true;
  };

  // A refusal a step-up would lift says so in a header (docs/access-control.md "Step-up MFA"); the body stays AWS's.
  const liftable = (name: string, expected: boolean) => (e: any) => {
    denied(name)(e);
    assert.equal(e.$response?.headers?.['x-symbolon-step-up'], expected ? 'mfa_required' : undefined, `${name}: step-up header`);
    return true;
  };

  // Key policy.
  await assert.rejects(encrypt(plain, k1), liftable('K1 without MFA', true));
  const k1Ciphertext = (await encrypt(mfa, k1)).CiphertextBlob!;
  assert.ok(k1Ciphertext);
  // Identity (role) policy.
  await assert.rejects(encrypt(plain, k2), liftable('K2 without MFA', true));
  assert.ok((await encrypt(mfa, k2)).CiphertextBlob);
  // Nothing allows Decrypt on K1, MFA or not: a plain refusal, for either session.
  const decryptK1 = (s: { kms: KMSClient }) => s.kms.send(new DecryptCommand({ CiphertextBlob: k1Ciphertext, KeyId: k1 }));
  await assert.rejects(decryptK1(plain), liftable('K1 Decrypt without MFA', false));
  await assert.rejects(decryptK1(mfa), liftable('K1 Decrypt with MFA', false));
  // Neither an unauthenticated caller nor an access key (no login to step up) is ever told.
  const forged = server.kms({ ...plain.creds, secretAccessKey: 'not-the-secret-access-key-0123456789abcd' });
  clients.push(forged);
  await assert.rejects(encrypt({ kms: forged }, k1), (e: any) => {
    assert.notEqual(e.name, 'AccessDeniedException');
    assert.equal(e.$response?.headers?.['x-symbolon-step-up'], undefined);
    return true;
  });
  // Signing policy.
  const refused = await signPayload(plain);
  assert.equal(refused.body.__type, 'AccessDeniedException', JSON.stringify(refused.body));
  assert.match(String(refused.body.message), /not authorized to sign this payload/);
  const signed = await signPayload(mfa);
  assert.equal(signed.status, 200, JSON.stringify(signed.body));
  assert.match(String(signed.body.Signed), /^0x[0-9a-f]{130}$/);

  // Six minutes later the MFA is older than the role policy's 300 seconds; the key policy (no age) still allows.
  offsetMs = 6 * 60_000;
  try {
    // One client per call: the SDK re-learns its clock offset from each response's Date header.
    const later = () => {
      const c = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: mfa.creds, maxAttempts: 1, systemClockOffset: offsetMs });
      clients.push(c);
      return c;
    };
    // A fresh step-up would lift it (auth_time now).
    await assert.rejects(later().send(new EncryptCommand({ KeyId: k2, Plaintext: new Uint8Array([1]) })), liftable('K2 with stale MFA', true));
    assert.ok((await later().send(new EncryptCommand({ KeyId: k1, Plaintext: new Uint8Array([1]) }))).CiphertextBlob);
  } finally {
    offsetMs = 0;
  }
});
