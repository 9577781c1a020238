/**
 * Passkeys and step-up in the wallet frame, in a real browser (Debian's
 * chromium through playwright-core) with Chromium's virtual authenticator
 * (the DevTools WebAuthn domain: a CTAP2 platform authenticator with
 * resident keys and user verification). A real wallet service serves
 * /frame/ at SYMBOLON_PUBLIC_URL=http://localhost:<port> (WebAuthn needs a
 * domain name). The user logs in with an email code, adds a passkey on the
 * home page, logs out, and logs in with the passkey alone: the same wallet
 * address, and the authenticator's signature counter rises and is stored.
 * Step-up from the home page gives an ID token whose amr holds `mfa`, and a
 * key policy that requires MFA refuses the email-only token's STS session and
 * allows the stepped-up one (AWS SDK). Chromium-made assertions that are
 * replayed, made on another origin, or sent with another challenge are
 * refused with stable codes.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { test, before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { decodeJwt } from 'jose';
import { STSClient, AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import { CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { startTestServer, REGION, type TestServer } from './helpers/server.js';
import { browserSkip, FrameDriver, launchChromium, virtualAuthenticator } from './helpers/frame-browser.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { listPasskeys } from '../src/storage/passkeys.repository.js';
import { freePort } from './helpers/free-port.js';

const EMAIL = `passkey-frame-${Date.now()}@example.com`;

let server: TestServer;
let context: BrowserContext;
let userDataDir: string;
let driver: FrameDriver;
let base = '';
let elsewhere: http.Server;
let elsewhereUrl = '';

const withAuthenticator = (page: Page) => virtualAuthenticator(context, page);

async function emailLogin(page: Page): Promise<void> {
  await page.locator('#email').waitFor();
  await page.locator('#email').fill(EMAIL);
  await page.locator('#send-code').click();
  await page.locator('#code').waitFor({ state: 'visible' });
  await page.locator('#code').fill(await driver.latestCode(EMAIL));
  await page.locator('#verify').click();
  await page.locator('#home').waitFor({ timeout: 60_000 });
}

/** The frame session's tokens, read from the wallet origin's sessionStorage. */
async function sessionTokens(page: Page): Promise<{ idToken: string; accessToken: string }> {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('symbolon.session') ?? '{}'));
}

/**
 * navigator.credentials.get() in `page` for a login challenge from the server; the response as JSON.
 * Source text, not a function: the test runner's transpiler would add helpers the page does not have.
 */
const ASSERT_SOURCE = `async (o) => {
  const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const cred = await navigator.credentials.get({
    publicKey: { challenge: bytes(o.challenge), rpId: o.rpId, userVerification: 'required', allowCredentials: [] },
  });
  return cred.toJSON();
}`;

async function assertIn(page: Page, options: { challenge: string; rpId: string }): Promise<unknown> {
  return page.evaluate(`(${ASSERT_SOURCE})(${JSON.stringify(options)})`);
}

async function issuer(path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}/oidc${path}`, {
    method: 'POST',
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: await r.json() };
}

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
  const port = await freePort();
  base = `http://localhost:${port}`;
  server = await startTestServer({
    port,
    env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1', SYMBOLON_PUBLIC_URL: base, SYMBOLON_DAPP_PORT: 'off' },
    identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
  });
  // Another origin with the same registrable name: what a phishing page on another port would be.
  elsewhere = http.createServer((_req, res) => res.end('<!doctype html><title>elsewhere</title>'));
  await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
  elsewhereUrl = `http://localhost:${(elsewhere.address() as AddressInfo).port}/`;
  if (browserSkip) return;
  userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  context = await launchChromium(userDataDir);
  driver = new FrameDriver(context, `${base}/frame/`, base);
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await new Promise<void>((r) => (elsewhere ? elsewhere.close(() => r()) : r()));
  await server?.close();
});

test('passkeys in the frame: add after an email login, log in with it alone to the same wallet, step up to MFA; the Chromium refusals', async () => {
  const page = await context.newPage();
  const { cdp, authenticatorId } = await withAuthenticator(page);
  const db = server.custodian.deps.store.db;
  try {
    await page.goto(`${base}/frame/`);
    await emailLogin(page);
    const address = await page.locator('#home-address').textContent();
    assert.match(address ?? '', /^0x[0-9a-fA-F]{40}$/);
    assert.equal(await page.locator('#home-login-methods').textContent(), 'email code');
    assert.equal(await page.locator('#home-passkey-count').textContent(), 'No passkey yet.');
    const emailOnly = await sessionTokens(page);

    // Add a passkey.
    await page.locator('#home-passkey-add').click();
    await page.locator('#home-passkey-status', { hasText: 'Passkey added' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#home-error').textContent(), '');
    const created = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    assert.equal(created.length, 1);
    assert.equal(created[0]!.isResidentCredential, true);
    assert.equal(created[0]!.rpId, 'localhost');
    const sub = decodeJwt(emailOnly.idToken).sub!;
    const stored = await listPasskeys(db, sub);
    assert.equal(stored.length, 1, 'stored for the same user');
    assert.equal(stored[0]!.credentialId, created[0]!.credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));

    // Log out; log in with the passkey alone: the same wallet.
    await page.locator('#home-logout').click();
    await page.locator('#login-passkey').waitFor({ state: 'visible' });
    await page.locator('#login-passkey').click();
    await page.locator('#home').waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#home-address').textContent(), address);
    assert.equal(await page.locator('#home-login-methods').textContent(), 'passkey (two factors)');
    const passkeyLogin = await sessionTokens(page);
    assert.equal(decodeJwt(passkeyLogin.idToken).sub, sub);
    const afterLogin = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!;
    assert.ok(afterLogin.signCount > created[0]!.signCount, 'the authenticator counted the login');
    assert.equal((await listPasskeys(db, sub))[0]!.counter, afterLogin.signCount, 'the server stored its counter');

    // An email login, then Confirm with passkey: the step-up screen, then two factors.
    await page.locator('#home-logout').click();
    await emailLogin(page);
    await page.locator('#home-passkey-confirm').click();
    await page.locator('#stepup').waitFor({ state: 'visible' });
    await page.locator('#stepup-go').click();
    await page.locator('#home-login-methods', { hasText: 'email code + passkey (two factors)' }).waitFor({ timeout: 30_000 });
    const stepped = await sessionTokens(page);
    assert.deepEqual(decodeJwt(stepped.idToken).amr, ['otp', 'hwk', 'user', 'mfa']);
    assert.equal(decodeJwt(stepped.idToken).sub, sub);

    // A key policy that requires MFA: the email-only session is refused, the stepped-up one allowed.
    const kms = server.kms();
    const accountId = server.custodian.accountId;
    const roleArn = walletUsersRoleArn(accountId);
    const key = (
      await kms.send(
        new CreateKeyCommand({
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              // Management only: `kms:*` for the account would delegate Encrypt to the role's own policy.
              {
                Sid: 'Admin',
                Effect: 'Allow',
                Principal: { AWS: `arn:aws:iam::${accountId}:root` },
                Action: ['kms:DescribeKey', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'],
                Resource: '*',
              },
              {
                Sid: 'OnlyWithMfa',
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
    const sts = new STSClient({ endpoint: server.endpoint, region: REGION, maxAttempts: 1 });
    try {
      const encryptAs = async (idToken: string) => {
        const c = (await sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'user', WebIdentityToken: idToken }))).Credentials!;
        const client = server.kms({ accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
        return client.send(new EncryptCommand({ KeyId: key, Plaintext: new Uint8Array([7]), EncryptionContext: { sub } }));
      };
      await assert.rejects(encryptAs(emailOnly.idToken), (e: any) => e.name === 'AccessDeniedException');
      assert.ok((await encryptAs(stepped.idToken)).CiphertextBlob);
    } finally {
      sts.destroy();
    }

    // Assertions Chromium makes, refused: replayed, made on another origin, sent with another challenge.
    const rpId = 'localhost';
    const s1 = (await issuer('/passkey/login/start')).body;
    const good = await assertIn(page, { challenge: s1.options.challenge, rpId });
    assert.equal((await issuer('/passkey/login/finish', { challenge_id: s1.challenge_id, response: good })).status, 200);
    const replay = await issuer('/passkey/login/finish', { challenge_id: s1.challenge_id, response: good });
    assert.deepEqual([replay.status, replay.body.error.code], [400, 'invalid_challenge']);

    const a = (await issuer('/passkey/login/start')).body;
    const b = (await issuer('/passkey/login/start')).body;
    const forA = await assertIn(page, { challenge: a.options.challenge, rpId });
    const swapped = await issuer('/passkey/login/finish', { challenge_id: b.challenge_id, response: forA });
    assert.deepEqual([swapped.status, swapped.body.error.code], [400, 'challenge_mismatch']);

    // The same passkey on another origin's page (its authenticator holds a copy of the credential).
    const other = await context.newPage();
    try {
      const o = await withAuthenticator(other);
      const cred = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!;
      await o.cdp.send('WebAuthn.addCredential', { authenticatorId: o.authenticatorId, credential: { ...cred, signCount: cred.signCount + 10 } });
      await other.goto(elsewhereUrl);
      const s2 = (await issuer('/passkey/login/start')).body;
      const phished = await assertIn(other, { challenge: s2.options.challenge, rpId });
      const refused = await issuer('/passkey/login/finish', { challenge_id: s2.challenge_id, response: phished });
      assert.deepEqual([refused.status, refused.body.error.code], [400, 'origin_mismatch']);
    } finally {
      await other.close();
    }
    const counter = (await listPasskeys(db, sub))[0]!.counter;
    const final = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!;
    assert.ok(counter <= final.signCount, 'no refused assertion advanced the stored counter past the real authenticator');
  } finally {
    await page.close();
  }
});
