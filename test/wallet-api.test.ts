/**
 * The wallet API (src/wallet/) on a real listening server, on the store this
 * run uses (SQLite, or PostgreSQL with DATABASE_URL), with tokens from a small
 * OIDC issuer run here with jose on loopback and trusted through
 * SYMBOLON_OIDC_ISSUERS — the operator's path, through the identity module's
 * verifier. The custodian is reached by the wallet service over the KMS API,
 * as in production; the checks below use the AWS SDK as any client would.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { getAddress } from 'viem';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey as JoseKey } from 'jose';
import Fastify from 'fastify';
import {
  CreateKeyCommand,
  DecryptCommand,
  PutKeyPolicyCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  GetKeyPolicyCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
} from '@aws-sdk/client-kms';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { REGION, startTestServer, type TestServer } from './helpers/server.js';
import { masterKeyPolicy } from '../src/wallet/master-key-policy.js';
import { walletResponse, meResponse, createWalletBody } from '../src/wallet/schemas.js';
import { WALLET_ERROR_CODES, WalletError } from '../src/wallet/errors.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { countWalletsOfUser } from '../src/storage/wallets.repository.js';
import { ACTIVITY_KEPT, insertActivity } from '../src/storage/wallet-activity.repository.js';
import { provisionWalletServicePrincipal, WALLET_SERVICE_USER } from '../src/wallet/wallet-principal.js';
import type { KMSClient } from '@aws-sdk/client-kms';

const AUDIENCE = 'symbolon-wallet-test';

// ---- a tiny OIDC issuer (JWKS only) ----

interface TestIssuer {
  issuer: string;
  jwksUri: string;
  token(claims: { sub: string; email?: string; aud?: string; expIn?: number; iss?: string; key?: JoseKey }): Promise<string>;
  close(): Promise<void>;
}

async function startIssuer(): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-1', alg: 'ES256', use: 'sig' };
  const http: Server = createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const issuer = `${base}/issuer`;
  return {
    issuer,
    jwksUri: `${base}/jwks`,
    async token({ sub, email, aud = AUDIENCE, expIn = 600, iss = issuer, key = privateKey }) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT(email ? { email } : {})
        .setProtectedHeader({ alg: 'ES256', kid: 'test-1', typ: 'JWT' })
        .setIssuer(iss)
        .setAudience(aud)
        .setSubject(sub)
        .setIssuedAt(now - 5)
        .setExpirationTime(now + expIn)
        .sign(key);
    },
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
}

// ---- the server ----

let issuer: TestIssuer;
/** A second trusted issuer, whose subjects may collide with the first's. */
let issuer2: TestIssuer;
let server: TestServer;
/** The wallet service's own KMS client (its provisioned IAM user), and who it is. */
let walletKms: KMSClient;
let walletArn: string;

before(async () => {
  issuer = await startIssuer();
  issuer2 = await startIssuer();
  server = await startTestServer({
    env: {
      SYMBOLON_OIDC_ISSUERS: JSON.stringify(
        [issuer, issuer2].map((i) => ({ issuer: i.issuer, audiences: [AUDIENCE], jwksUri: i.jwksUri, algorithms: ['ES256'] })),
      ),
    },
  });
  const { deps, accountId } = server.custodian;
  // Provisioned at start; asking again returns the same credential.
  const own = (await provisionWalletServicePrincipal({ store: deps.store, root: deps.root, accountId, now: Date.now() }))!;
  walletKms = server.kms({ accessKeyId: own.accessKeyId, secretAccessKey: own.secretAccessKey });
  walletArn = own.principalArn;
});
after(async () => {
  await server?.close();
  await issuer?.close();
  await issuer2?.close();
});

interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

async function call(
  method: string,
  path: string,
  options: { token?: string; authorization?: string; json?: unknown; raw?: string; contentType?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization) headers.authorization = options.authorization;
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  }
  if (options.raw !== undefined) body = options.raw;
  if (options.contentType) headers['content-type'] = options.contentType;
  const res = await fetch(`${server.endpoint}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

const db = () => server.custodian.deps.store.db;
const newSub = () => `user-${randomUUID()}`;
const b64 = (n: number) => randomBytes(n).toString('base64');
/** A fresh key's address is not needed: the wallet service never sees the key; any valid address will do. */
const ADDRESS = '0x52908400098527886E0F7030069857D2E4169EE7';

/** A fresh checksummed address: an address has one owner, so each test wallet needs its own. */
const newAddress = () => getAddress(`0x${randomBytes(20).toString('hex')}`);

function envelopeBody(extra: Record<string, unknown> = {}) {
  return { custodyMode: 'envelope', address: newAddress(), encryptedPrivateKey: b64(60), encryptedDataKey: b64(189), ...extra };
}

async function userCount(sub: string): Promise<number> {
  const r = await db()
    .selectFrom('wallet_users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('sub', '=', sub)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

async function keyCount(): Promise<number> {
  let n = 0;
  let marker: string | undefined;
  do {
    const page = await server.kms().send(new ListKeysCommand({ Limit: 1000, ...(marker ? { Marker: marker } : {}) }));
    n += page.Keys?.length ?? 0;
    marker = page.NextMarker;
  } while (marker);
  return n;
}

function assertError(r: Reply, status: number, code: string): void {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.body), ['error'], r.text);
  assert.deepEqual(Object.keys(r.body.error).sort(), ['code', 'message']);
  assert.equal(r.body.error.code, code, r.text);
  assert.ok(WALLET_ERROR_CODES.includes(r.body.error.code));
  assert.ok(!/\n\s+at /.test(r.text), 'no stack trace');
}

// ---- users and master keys ----

test('first sight creates the user and their master key in the custodian, with the intended key policy', async () => {
  const sub = newSub();
  const token = await issuer.token({ sub, email: 'ada@example.com' });
  const keysBefore = await keyCount();

  const me = await call('GET', '/v1/me', { token });
  assert.equal(me.status, 200, me.text);
  assert.deepEqual(Object.keys(me.body).sort(), ['createdAt', 'email', 'id', 'issuer', 'masterKeyId', 'sub', 'userId', 'wallet']);
  assert.match(me.body.userId, /^u-[0-9a-f]{32}$/, "keyed by the custodian's user id");
  assert.equal(me.body.issuer, issuer.issuer);
  assert.equal(me.body.sub, sub);
  assert.equal(me.body.email, 'ada@example.com');
  assert.equal(me.body.wallet, null);
  assert.ok(!Number.isNaN(Date.parse(me.body.createdAt)));
  assert.equal(me.headers.get('cache-control'), 'no-store');

  assert.equal(walletArn, `arn:aws:iam::${server.custodian.accountId}:user/${WALLET_SERVICE_USER}`);
  const kms = walletKms;
  const described = await kms.send(new DescribeKeyCommand({ KeyId: me.body.masterKeyId }));
  assert.equal(described.KeyMetadata!.KeySpec, 'SYMMETRIC_DEFAULT');
  assert.equal(described.KeyMetadata!.KeyUsage, 'ENCRYPT_DECRYPT');
  assert.equal(described.KeyMetadata!.KeyState, 'Enabled');
  assert.equal(described.KeyMetadata!.Description, `Symbolon wallet master key of user ${me.body.id}`);
  const tags = await kms.send(new ListResourceTagsCommand({ KeyId: me.body.masterKeyId }));
  assert.deepEqual(tags.Tags, [{ TagKey: 'symbolon:wallet-user', TagValue: me.body.id }]);

  // The stored policy is exactly the builder's template 3, for this user id (the creating login's sub as the
  // device's context) and the wallet service's own IAM user.
  const policy = await kms.send(new GetKeyPolicyCommand({ KeyId: me.body.masterKeyId, PolicyName: 'default' }));
  const expected = masterKeyPolicy({ accountId: server.custodian.accountId, uid: me.body.userId, sub, walletServicePrincipalArn: walletArn });
  assert.deepEqual(JSON.parse(policy.Policy!), JSON.parse(expected));

  // Seen again: the same user and key, no new key.
  const again = await call('GET', '/v1/me', { token: await issuer.token({ sub, email: 'ada@example.com' }) });
  assert.equal(again.body.id, me.body.id);
  assert.equal(again.body.masterKeyId, me.body.masterKeyId);
  assert.equal(await keyCount(), keysBefore + 1);
  assert.equal(await userCount(sub), 1);
});

test('concurrent first requests of one identity make one user and one master key', async () => {
  const sub = newSub();
  const token = await issuer.token({ sub });
  const keysBefore = await keyCount();
  const replies = await Promise.all(Array.from({ length: 6 }, () => call('GET', '/v1/me', { token })));
  for (const r of replies) assert.equal(r.status, 200, r.text);
  assert.equal(new Set(replies.map((r) => r.body.id)).size, 1);
  assert.equal(new Set(replies.map((r) => r.body.masterKeyId)).size, 1);
  assert.equal(replies[0]!.body.email, null);
  assert.equal(await userCount(sub), 1);
  assert.equal(await keyCount(), keysBefore + 1);
});

test("only the user's own STS session decrypts their data key: not another user's, not the wallet service's, not the account root's", async () => {
  const sub = newSub();
  const token = await issuer.token({ sub });
  const me = await call('GET', '/v1/me', { token });
  assert.equal(me.status, 200, me.text);
  const { accountId } = server.custodian;
  const sts = new STSClient({ endpoint: server.endpoint, region: REGION, maxAttempts: 1 });
  const sessionKms = async (webToken: string, name: string) => {
    const out = await sts.send(
      new AssumeRoleWithWebIdentityCommand({ RoleArn: walletUsersRoleArn(accountId), RoleSessionName: name, WebIdentityToken: webToken }),
    );
    const c = out.Credentials!;
    return server.kms({ accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
  };
  try {
    // The device's half of the envelope: a data key from the custodian under the user's master key, context {sub}.
    const mine = await sessionKms(token, 'owner');
    const dataKey = await mine.send(new GenerateDataKeyCommand({ KeyId: me.body.masterKeyId, KeySpec: 'AES_256', EncryptionContext: { sub } }));
    const blob = dataKey.CiphertextBlob!;
    const again = await mine.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { sub } }));
    assert.deepEqual(Buffer.from(again.Plaintext!), Buffer.from(dataKey.Plaintext!));
    // The owner too, without the context the policy requires.
    await assert.rejects(mine.send(new DecryptCommand({ CiphertextBlob: blob })), (e: Error) => e.name === 'AccessDeniedException');

    const otherSub = newSub();
    const other = await sessionKms(await issuer.token({ sub: otherSub }), 'other');
    for (const [who, kms, context] of [
      ["another user, with the owner's context", other, { sub }],
      ['another user, with their own context', other, { sub: otherSub }],
      ['the wallet service', walletKms, { sub }],
      ['the account root', server.kms(), { sub }],
    ] as const) {
      await assert.rejects(
        kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })),
        (e: Error) => e.name === 'AccessDeniedException',
        who,
      );
    }
  } finally {
    sts.destroy();
  }
  // The wallet service may manage the key, but not change who may use it.
  await assert.rejects(
    walletKms.send(
      new PutKeyPolicyCommand({
        KeyId: me.body.masterKeyId,
        PolicyName: 'default',
        Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: walletArn }, Action: 'kms:*', Resource: '*' }] }),
        BypassPolicyLockoutSafetyCheck: true,
      }),
    ),
    (e: Error) => e.name === 'AccessDeniedException',
  );
  // Nor create keys of another kind with its credential (its identity policy allows symmetric encryption keys only).
  await assert.rejects(
    walletKms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' })),
    (e: Error) => e.name === 'AccessDeniedException',
  );
});

test("the same sub at another trusted issuer is another user, whose session cannot decrypt this user's data key", async () => {
  const sub = newSub();
  const first = await call('GET', '/v1/me', { token: await issuer.token({ sub }) });
  const second = await call('GET', '/v1/me', { token: await issuer2.token({ sub }) });
  assert.equal(first.status, 200, first.text);
  assert.equal(second.status, 200, second.text);
  assert.notEqual(second.body.id, first.body.id);
  assert.notEqual(second.body.masterKeyId, first.body.masterKeyId);
  assert.equal(second.body.issuer, issuer2.issuer);

  const body = envelopeBody();
  assert.equal((await call('POST', '/v1/wallets', { token: await issuer.token({ sub }), json: body })).status, 201);
  assertError(await call('GET', '/v1/wallets/me', { token: await issuer2.token({ sub }) }), 404, 'not_found');

  const sts = new STSClient({ endpoint: server.endpoint, region: REGION, maxAttempts: 1 });
  try {
    const session = async (webToken: string) => {
      const c = (
        await sts.send(
          new AssumeRoleWithWebIdentityCommand({
            RoleArn: walletUsersRoleArn(server.custodian.accountId),
            RoleSessionName: 'device',
            WebIdentityToken: webToken,
          }),
        )
      ).Credentials!;
      return server.kms({ accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
    };
    const owner = await session(await issuer.token({ sub }));
    const blob = (await owner.send(new GenerateDataKeyCommand({ KeyId: first.body.masterKeyId, KeySpec: 'AES_256', EncryptionContext: { sub } })))
      .CiphertextBlob!;
    // Same sub tag, same context, trusted issuer: still not this user.
    const namesake = await session(await issuer2.token({ sub }));
    await assert.rejects(
      namesake.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { sub } })),
      (e: Error) => e.name === 'AccessDeniedException',
    );
    // Nor can the namesake use the owner's key to make data keys the owner would later trust.
    await assert.rejects(
      namesake.send(new GenerateDataKeyCommand({ KeyId: first.body.masterKeyId, KeySpec: 'AES_256', EncryptionContext: { sub } })),
      (e: Error) => e.name === 'AccessDeniedException',
    );
  } finally {
    sts.destroy();
  }
});

// ---- wallets ----

test('create an envelope wallet, read it back as its owner; a second create never makes a second wallet', async () => {
  const sub = newSub();
  const token = await issuer.token({ sub });
  const body = envelopeBody({ address: ADDRESS.toLowerCase(), idempotencyKey: 'create-1' });

  const created = await call('POST', '/v1/wallets', { token, json: body });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(Object.keys(created.body).sort(), ['address', 'createdAt', 'custodyMode', 'id']);
  assert.equal(created.body.address, ADDRESS, 'stored and returned EIP-55 checksummed');
  assert.equal(created.body.custodyMode, 'envelope');

  const mine = await call('GET', '/v1/wallets/me', { token });
  assert.equal(mine.status, 200, mine.text);
  const me = await call('GET', '/v1/me', { token });
  assert.deepEqual(mine.body, {
    id: created.body.id,
    address: ADDRESS,
    custodyMode: 'envelope',
    createdAt: created.body.createdAt,
    envelope: {
      encryptedPrivateKey: body.encryptedPrivateKey,
      encryptedDataKey: body.encryptedDataKey,
      kmsKeyId: me.body.masterKeyId,
      encryptionContext: { sub },
    },
  });
  assert.deepEqual(me.body.wallet, { id: created.body.id, address: ADDRESS, custodyMode: 'envelope' });

  // A retry of the same request (same idempotency key and content): the stored wallet, 200.
  const retry = await call('POST', '/v1/wallets', { token, json: body });
  assert.equal(retry.status, 200, retry.text);
  assert.deepEqual(retry.body, created.body);
  // Anything else: 409 wallet_exists, and the stored wallet is untouched.
  for (const other of [
    envelopeBody(),
    { ...body, idempotencyKey: 'create-2' },
    { ...body, address: '0x8ba1f109551bD432803012645Ac136ddd64DBA72' },
    { ...body, encryptedDataKey: b64(189) },
  ]) {
    assertError(await call('POST', '/v1/wallets', { token, json: other }), 409, 'wallet_exists');
  }
  assert.equal(await countWalletsOfUser(db(), me.body.id), 1);
  assert.deepEqual((await call('GET', '/v1/wallets/me', { token })).body, mine.body);
});

test('an address has one owner: another user registering it gets 409 address_taken and nothing is stored', async () => {
  const owner = await issuer.token({ sub: newSub() });
  const body = envelopeBody();
  const created = await call('POST', '/v1/wallets', { token: owner, json: body });
  assert.equal(created.status, 201, created.text);
  // Another user (also at another issuer, in lower case): refused, without saying whose it is.
  for (const [token, address] of [
    [await issuer.token({ sub: newSub() }), body.address],
    [await issuer2.token({ sub: newSub() }), body.address.toLowerCase()],
  ] as const) {
    const r = await call('POST', '/v1/wallets', { token, json: envelopeBody({ address }) });
    assertError(r, 409, 'address_taken');
    assert.equal(r.body.error.message, "This address is another user's wallet; an address has one owner.");
    assertError(await call('GET', '/v1/wallets/me', { token }), 404, 'not_found');
  }
  const stored = await db().selectFrom('wallets').select(['id', 'user_id']).where('address', '=', body.address).execute();
  assert.deepEqual(
    stored.map((w) => w.id),
    [created.body.id],
  );
  // Racing users, one fresh address: one 201, the rest 409 address_taken.
  const address = newAddress();
  const tokens = await Promise.all([1, 2, 3, 4].map(() => issuer.token({ sub: newSub() })));
  const replies = await Promise.all(tokens.map((token) => call('POST', '/v1/wallets', { token, json: envelopeBody({ address }) })));
  assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409, 409, 409]);
  for (const r of replies.filter((r) => r.status === 409)) assertError(r, 409, 'address_taken');
});

test('concurrent creates for one user store exactly one wallet', async () => {
  const token = await issuer.token({ sub: newSub() });
  const replies = await Promise.all(Array.from({ length: 6 }, () => call('POST', '/v1/wallets', { token, json: envelopeBody() })));
  assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
  for (const r of replies.filter((r) => r.status === 409)) assertError(r, 409, 'wallet_exists');
  const me = await call('GET', '/v1/me', { token });
  assert.equal(await countWalletsOfUser(db(), me.body.id), 1);
  assert.equal(me.body.wallet.id, replies.find((r) => r.status === 201)!.body.id);
});

test("another user cannot read this user's ciphertexts", async () => {
  const owner = await issuer.token({ sub: newSub() });
  const body = envelopeBody();
  assert.equal((await call('POST', '/v1/wallets', { token: owner, json: body })).status, 201);

  const stranger = await issuer.token({ sub: newSub() });
  const theirs = await call('GET', '/v1/wallets/me', { token: stranger });
  assertError(theirs, 404, 'not_found');
  const me = await call('GET', '/v1/me', { token: stranger });
  assert.equal(me.body.wallet, null);
  for (const r of [theirs, me]) {
    assert.ok(!r.text.includes(body.encryptedPrivateKey) && !r.text.includes(body.encryptedDataKey));
  }
  // The same sub from another issuer is another user: no issuer is trusted for another's users.
  // (Covered by the verifier: a token naming an untrusted issuer is refused before any lookup.)
  assertError(await call('GET', '/v1/wallets/me', { token: await issuer.token({ sub: 'x', iss: 'https://evil.example' }) }), 401, 'untrusted_issuer');
});

// ---- tokens ----

test('missing, malformed, expired, forged, wrong-audience and untrusted tokens are 401 with stable codes and store nothing', async () => {
  const sub = newSub();
  const { privateKey: otherKey } = await generateKeyPair('ES256');
  const header = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${header({ alg: 'none', typ: 'JWT' })}.${header({ iss: issuer.issuer, aud: AUDIENCE, sub, exp: Math.floor(Date.now() / 1000) + 600 })}.`;
  const cases: Array<[string, { token?: string; authorization?: string }, string]> = [
    ['no Authorization header', {}, 'unauthorized'],
    ['Basic instead of Bearer', { authorization: 'Basic dXNlcjpwYXNz' }, 'unauthorized'],
    ['bearer without a token', { authorization: 'Bearer ' }, 'unauthorized'],
    ['bearer with a space in the token', { authorization: 'Bearer abc def' }, 'invalid_token'],
    ['not a JWT', { token: 'not-a-jwt' }, 'invalid_token'],
    ['expired', { token: await issuer.token({ sub, expIn: -3600 }) }, 'token_expired'],
    ['forged (another key, same kid)', { token: await issuer.token({ sub, key: otherKey }) }, 'invalid_token'],
    ['wrong audience', { token: await issuer.token({ sub, aud: 'some-other-client' }) }, 'wrong_audience'],
    ['untrusted issuer', { token: await issuer.token({ sub, iss: 'https://attacker.example' }) }, 'untrusted_issuer'],
    ['alg none', { token: unsigned }, 'invalid_token'],
  ];
  for (const [name, auth, code] of cases) {
    for (const [method, path, json] of [
      ['GET', '/v1/me', undefined],
      ['GET', '/v1/wallets/me', undefined],
      ['POST', '/v1/wallets', envelopeBody()],
    ] as const) {
      const r = await call(method, path, { ...auth, ...(json ? { json } : {}) });
      assertError(r, 401, code);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="symbolon"/, name);
    }
  }
  assert.equal(await userCount(sub), 0);
});

// ---- bodies ----

test('malformed bodies are 400 invalid_request (or 413/415) and store nothing, not even the user', async () => {
  const sub = newSub();
  const token = await issuer.token({ sub });
  const big = 'A'.repeat(70 * 1024);
  const cases: Array<[string, { json?: unknown; raw?: string; contentType?: string }, number, string]> = [
    ['not JSON', { raw: '{"custodyMode":', contentType: 'application/json' }, 400, 'invalid_request'],
    ['empty JSON body', { raw: '', contentType: 'application/json' }, 400, 'invalid_request'],
    ['no body', {}, 400, 'invalid_request'],
    ['an array', { json: [envelopeBody()] }, 400, 'invalid_request'],
    ['missing address', { json: { ...envelopeBody(), address: undefined } }, 400, 'invalid_request'],
    ['missing encryptedDataKey', { json: { ...envelopeBody(), encryptedDataKey: undefined } }, 400, 'invalid_request'],
    ['address too short', { json: envelopeBody({ address: '0x1234' }) }, 400, 'invalid_request'],
    ['address without 0x', { json: envelopeBody({ address: ADDRESS.slice(2) + '00' }) }, 400, 'invalid_request'],
    ['bad EIP-55 checksum', { json: envelopeBody({ address: '0x52908400098527886e0F7030069857D2E4169EE7' }) }, 400, 'invalid_request'],
    ['zero address', { json: envelopeBody({ address: '0x0000000000000000000000000000000000000000' }) }, 400, 'invalid_request'],
    ['address as a number', { json: envelopeBody({ address: 1234 }) }, 400, 'invalid_request'],
    ['not base64', { json: envelopeBody({ encryptedPrivateKey: '!'.repeat(80) }) }, 400, 'invalid_request'],
    [
      'base64url instead of base64',
      {
        json: envelopeBody({
          encryptedPrivateKey: randomBytes(60)
            .toString('base64url')
            .replace(/[A-Za-z0-9]/, '-'),
        }),
      },
      400,
      'invalid_request',
    ],
    [
      'non-canonical base64',
      { json: envelopeBody({ encryptedPrivateKey: Buffer.alloc(61, 7).toString('base64').replace(/w==$/, 'x==') }) },
      400,
      'invalid_request',
    ],
    ['private key box too short', { json: envelopeBody({ encryptedPrivateKey: b64(59) }) }, 400, 'invalid_request'],
    ['private key box too long', { json: envelopeBody({ encryptedPrivateKey: b64(1025) }) }, 400, 'invalid_request'],
    ['data key blob too short', { json: envelopeBody({ encryptedDataKey: b64(16) }) }, 400, 'invalid_request'],
    ['data key blob too long', { json: envelopeBody({ encryptedDataKey: b64(6145) }) }, 400, 'invalid_request'],
    ['unknown field', { json: envelopeBody({ shareB: b64(32) }) }, 400, 'invalid_request'],
    ['custody mode unknown', { json: envelopeBody({ custodyMode: 'paper' }) }, 400, 'invalid_request'],
    ['custody mode as an array', { json: envelopeBody({ custodyMode: ['envelope'] }) }, 400, 'invalid_request'],
    ['idempotency key with a space', { json: envelopeBody({ idempotencyKey: 'a b' }) }, 400, 'invalid_request'],
    ['idempotency key too long', { json: envelopeBody({ idempotencyKey: 'k'.repeat(129) }) }, 400, 'invalid_request'],
    ['split without its shares (envelope fields instead)', { json: envelopeBody({ custodyMode: 'split' }) }, 400, 'invalid_request'],
    ['kms (not offered here)', { json: { custodyMode: 'kms', address: ADDRESS } }, 400, 'unsupported_custody_mode'],
    ['text/plain', { raw: JSON.stringify(envelopeBody()), contentType: 'text/plain' }, 415, 'unsupported_media_type'],
    ['over 64 KiB', { json: envelopeBody({ encryptedDataKey: big }) }, 413, 'payload_too_large'],
  ];
  for (const [name, opts, status, code] of cases) {
    const r = await call('POST', '/v1/wallets', { token, ...opts });
    assert.equal(r.status, status, `${name}: ${r.text}`);
    assertError(r, status, code);
  }
  // The messages name fields, not values.
  const unknown = await call('POST', '/v1/wallets', { token, json: envelopeBody({ shareB: 'c2VjcmV0' }) });
  assert.match(unknown.body.error.message, /shareB/);
  assert.ok(!unknown.text.includes('c2VjcmV0'));
  assert.equal(await userCount(sub), 0, 'a refused request creates no user');

  // The same token with a good body works: the refusals were about the bodies.
  assert.equal((await call('POST', '/v1/wallets', { token, json: envelopeBody() })).status, 201);
});

test('unknown /v1 paths are 404 not_found in the API shape', async () => {
  assertError(await call('GET', '/v1/wallets/someone-else', { token: await issuer.token({ sub: newSub() }) }), 404, 'not_found');
  assertError(await call('DELETE', '/v1/wallets/me', { token: await issuer.token({ sub: newSub() }) }), 404, 'not_found');
});

// ---- the wallet's own pages: connected sites and activity ----

test('connected sites and activity: each user reads and changes only their own; disconnect removes the site; bad input is 400 and changes nothing', async () => {
  const alice = await issuer.token({ sub: newSub() });
  const bob = await issuer.token({ sub: newSub() });
  const A = 'http://127.0.0.1:8081';
  const B = 'https://dapp.example';
  assert.equal((await call('PUT', '/v1/me/sites', { token: alice, json: { origin: A } })).status, 200);
  const put = await call('PUT', '/v1/me/sites', { token: alice, json: { origin: B } });
  assert.equal(put.status, 200);
  assert.equal(put.body.origin, B);
  assert.match(put.body.connectedAt, /^\d{4}-\d\d-\d\dT/);
  const hash = `0x${'ab'.repeat(32)}`;
  assert.equal(
    (await call('POST', '/v1/me/activity', { token: alice, json: { kind: 'sign_message', site: A, summary: 'Sign a message: "hello"' } })).status,
    201,
  );
  const tx = await call('POST', '/v1/me/activity', { token: alice, json: { kind: 'sign_transaction', site: A, summary: 'Send ETH: 0.01 ETH', txHash: hash } });
  assert.equal(tx.status, 201);
  assert.deepEqual(Object.keys(tx.body).sort(), ['at', 'kind', 'site', 'summary', 'txHash']);

  assert.deepEqual((await call('GET', '/v1/me/sites', { token: alice })).body.sites.map((x: { origin: string }) => x.origin).sort(), [A, B].sort());
  const events = (await call('GET', '/v1/me/activity', { token: alice })).body.events as { kind: string; site: string; summary: string; txHash?: string }[];
  assert.deepEqual(
    events.map((e) => e.kind),
    ['sign_transaction', 'sign_message', 'connect', 'connect'],
  );
  assert.equal(events[0]!.txHash, hash);
  assert.equal((await call('GET', '/v1/me/activity?limit=1', { token: alice })).body.events.length, 1);

  // Bob sees none of it and cannot disconnect Alice's site.
  assert.deepEqual((await call('GET', '/v1/me/sites', { token: bob })).body, { sites: [] });
  assert.deepEqual((await call('GET', '/v1/me/activity', { token: bob })).body, { events: [] });
  assertError(await call('DELETE', `/v1/me/sites?origin=${encodeURIComponent(A)}`, { token: bob }), 404, 'not_found');
  assert.equal((await call('GET', '/v1/me/sites', { token: alice })).body.sites.length, 2);

  // Bad input: the API's error shape, and nothing changes.
  const before = JSON.stringify([
    (await call('GET', '/v1/me/sites', { token: alice })).body,
    (await call('GET', '/v1/me/activity?limit=50', { token: alice })).body,
  ]);
  for (const [method, path, json] of [
    ['PUT', '/v1/me/sites', { origin: 'https://dapp.example/app' }],
    ['PUT', '/v1/me/sites', { origin: 'javascript:alert(1)' }],
    ['PUT', '/v1/me/sites', { origin: A, extra: 1 }],
    ['POST', '/v1/me/activity', { kind: 'connect', site: A, summary: 'x' }],
    ['POST', '/v1/me/activity', { kind: 'sign_message', site: A, summary: 'two\nlines' }],
    ['POST', '/v1/me/activity', { kind: 'sign_message', site: A, summary: '' }],
    ['POST', '/v1/me/activity', { kind: 'sign_message', site: A, summary: 'x'.repeat(201) }],
    ['POST', '/v1/me/activity', { kind: 'sign_message', site: A, summary: 'x', txHash: hash }],
    ['POST', '/v1/me/activity', { kind: 'sign_transaction', site: A, summary: 'x', txHash: '0x12' }],
    ['GET', '/v1/me/activity?limit=0', undefined],
    ['GET', '/v1/me/activity?limit=51', undefined],
    ['DELETE', '/v1/me/sites', undefined],
    ['DELETE', `/v1/me/sites?origin=${encodeURIComponent(`${A}/x`)}`, undefined],
  ] as const) {
    const r = await call(method, path, { token: alice, ...(json ? { json } : {}) });
    assertError(r, 400, 'invalid_request');
    assert.doesNotMatch(r.text, /alert|two\\nlines|xxxxxxxxxx/, 'the message names fields, not values');
  }
  assertError(await call('GET', '/v1/me/sites'), 401, 'unauthorized');
  assertError(await call('POST', '/v1/me/activity', { json: { kind: 'sign_message', site: A, summary: 'x' } }), 401, 'unauthorized');
  assert.equal(
    JSON.stringify([(await call('GET', '/v1/me/sites', { token: alice })).body, (await call('GET', '/v1/me/activity?limit=50', { token: alice })).body]),
    before,
  );

  // Disconnect: the site is gone (and the disconnect is in the activity); a second time it is not connected.
  const gone = await call('DELETE', `/v1/me/sites?origin=${encodeURIComponent(A)}`, { token: alice });
  assert.deepEqual(gone.body, { origin: A, disconnected: true });
  assert.deepEqual(
    (await call('GET', '/v1/me/sites', { token: alice })).body.sites.map((x: { origin: string }) => x.origin),
    [B],
  );
  assert.equal((await call('GET', '/v1/me/activity?limit=1', { token: alice })).body.events[0].kind, 'disconnect');
  assertError(await call('DELETE', `/v1/me/sites?origin=${encodeURIComponent(A)}`, { token: alice }), 404, 'not_found');
});

test('the activity list keeps the newest 100 entries per user', async () => {
  const token = await issuer.token({ sub: newSub() });
  const user = (await call('GET', '/v1/me', { token })).body.id as string;
  const other = await issuer.token({ sub: newSub() });
  await call('POST', '/v1/me/activity', { token: other, json: { kind: 'sign_message', site: 'https://a.example', summary: 'the other user' } });
  for (let i = 0; i < 105; i++) {
    await insertActivity(db(), {
      id: randomUUID(),
      userId: user,
      at: 1_000 + i,
      kind: 'sign_message',
      site: 'https://a.example',
      summary: `#${i}`,
      txHash: null,
    });
  }
  const rows = await db().selectFrom('wallet_activity').select(['summary']).where('user_id', '=', user).orderBy('at', 'desc').execute();
  assert.equal(rows.length, ACTIVITY_KEPT);
  assert.equal(rows[0]!.summary, '#104');
  assert.equal(rows.at(-1)!.summary, '#5');
  assert.deepEqual(
    (await call('GET', '/v1/me/activity', { token: other })).body.events.map((e: { summary: string }) => e.summary),
    ['the other user'],
  );
});

// ---- response schemas ----

test("a wallet of another custody mode shows none of its row's secret columns", async () => {
  const token = await issuer.token({ sub: newSub() });
  const me = await call('GET', '/v1/me', { token });
  // A kms-mode row as a later issue will write it, with every optional column filled.
  await db()
    .insertInto('wallets')
    .values({
      id: randomUUID(),
      user_id: me.body.id,
      address: newAddress(),
      custody_mode: 'kms',
      encrypted_private_key: randomBytes(60),
      encrypted_data_key: randomBytes(189),
      kms_key_id: 'not-for-the-client',
      share_b_sealed: randomBytes(80),
      created_at: Date.now(),
      idempotency_key: 'idem',
    })
    .execute();
  const r = await call('GET', '/v1/wallets/me', { token });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['address', 'createdAt', 'custodyMode', 'id']);
  assert.equal(r.body.custodyMode, 'kms');
  assert.ok(!/not-for-the-client|idem|share|encrypted/i.test(r.text));
});

test('response schemas strip fields a handler would otherwise leak', async () => {
  const row = {
    id: 'w-1',
    userId: 'u-1',
    address: ADDRESS,
    custodyMode: 'split',
    createdAt: new Date(0).toISOString(),
    shareBSealed: 'c2hhcmUtYg==',
    encryptedPrivateKey: 'ZW5jcnlwdGVk',
    idempotencyKey: 'k',
    envelope: { encryptedPrivateKey: 'eA==', encryptedDataKey: 'eQ==', kmsKeyId: 'k', encryptionContext: { sub: 's', extra: 'leak' }, share: 'leak' },
  };
  const me = { id: 'u-1', issuer: 'i', sub: 's', email: null, masterKeyId: 'k', createdAt: row.createdAt, wallet: { ...row }, masterKeyPolicy: 'leak' };
  const app = Fastify();
  // The control: without a response schema, the row's columns go out as they are.
  app.get('/raw', async () => row);
  app.get('/wallet', { schema: { response: { 200: walletResponse } } }, async () => row);
  app.get('/me', { schema: { response: { 200: meResponse } } }, async () => me);
  try {
    const raw = await app.inject({ url: '/raw' });
    assert.ok(raw.body.includes('shareBSealed'), 'the control leaks');

    const wallet = (await app.inject({ url: '/wallet' })).json();
    assert.deepEqual(Object.keys(wallet).sort(), ['address', 'createdAt', 'custodyMode', 'envelope', 'id']);
    assert.deepEqual(Object.keys(wallet.envelope).sort(), ['encryptedDataKey', 'encryptedPrivateKey', 'encryptionContext', 'kmsKeyId']);
    assert.deepEqual(wallet.envelope.encryptionContext, { sub: 's' });

    const body = (await app.inject({ url: '/me' })).json();
    assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'email', 'id', 'issuer', 'masterKeyId', 'sub', 'wallet']);
    assert.deepEqual(body.wallet, { id: 'w-1', address: ADDRESS, custodyMode: 'split' });
    assert.equal(body.email, null);
  } finally {
    await app.close();
  }
});

// ---- OpenAPI ----

test('GET /v1/openapi.json describes the routes from their own schemas', async () => {
  const r = await call('GET', '/v1/openapi.json');
  assert.equal(r.status, 200, r.text);
  const doc = r.body;
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    '/v1/me',
    '/v1/me/activity',
    '/v1/me/sites',
    '/v1/openapi.json',
    '/v1/wallets',
    '/v1/wallets/me',
    '/v1/wallets/me/shares',
  ]);
  assert.deepEqual(Object.keys(doc.paths['/v1/me/sites']).sort(), ['delete', 'get', 'put']);
  assert.deepEqual(Object.keys(doc.paths['/v1/me/activity']).sort(), ['get', 'post']);
  const create = doc.paths['/v1/wallets'].post;
  assert.deepEqual(create.requestBody.content['application/json'].schema, JSON.parse(JSON.stringify(createWalletBody)));
  assert.deepEqual(create.responses['201'].content['application/json'].schema, JSON.parse(JSON.stringify(walletResponse)));
  assert.deepEqual(Object.keys(create.responses).sort(), ['200', '201', '4XX', '5XX']);
  assert.deepEqual(create.security, [{ bearer: [] }]);
  assert.deepEqual(doc.paths['/v1/me'].get.responses['200'].content['application/json'].schema, JSON.parse(JSON.stringify(meResponse)));
  assert.deepEqual(doc.paths['/v1/openapi.json'].get.security, []);
  assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
  assert.deepEqual(
    doc.paths['/v1/wallets/me'].get.responses['4XX'].content['application/json'].schema.properties.error.properties.code.enum,
    WALLET_ERROR_CODES,
  );
});

// ---- the custodian unavailable ----

test('custodian down at first sight: 503 custodian_unavailable, then the next request creates the key', async () => {
  let up = false;
  const created: string[] = [];
  const second = await startTestServer({
    env: { SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: issuer.issuer, audiences: [AUDIENCE], jwksUri: issuer.jwksUri }]) },
    wallet: {
      masterKeys: {
        async create({ userId }) {
          if (!up) throw new WalletError('custodian_unavailable', 'The key custodian is unavailable; try again later.');
          created.push(userId);
          return `key-of-${userId}`;
        },
        async discard() {},
        close() {},
      },
    },
  });
  try {
    const token = await issuer.token({ sub: newSub() });
    const get = () => fetch(`${second.endpoint}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    const down = await get();
    assert.equal(down.status, 503);
    assert.deepEqual((await down.json()).error.code, 'custodian_unavailable');
    const post = await fetch(`${second.endpoint}/v1/wallets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(envelopeBody()),
    });
    assert.equal(post.status, 503, 'no wallet without a master key');
    up = true;
    const me = await (await get()).json();
    assert.equal(me.masterKeyId, `key-of-${me.id}`);
    assert.deepEqual(created, [me.id]);
    assert.equal(me.wallet, null);
  } finally {
    await second.close();
  }
});
