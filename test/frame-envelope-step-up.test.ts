/**
 * Step-up for an envelope wallet inside the frame embedded in a DApp page
 * (docs/frame.md "Step-up"), in a real browser (Debian's chromium through
 * playwright-core) with Chromium's virtual authenticator: a real wallet
 * service (built-in issuer, wallet API, custodian) at
 * SYMBOLON_PUBLIC_URL=http://localhost:<port> (WebAuthn needs a domain name),
 * the example DApp on another origin. The user's master key policy is then
 * changed to deny Decrypt to their sessions without a second factor
 * (aws:MultiFactorAuthPresent). The custodian answers AWS's plain
 * AccessDeniedException, marked `x-symbolon-step-up: mfa_required` since a
 * step-up would allow it (docs/access-control.md "Step-up MFA"); the frame
 * then asks for the passkey inside the iframe and retries once with new
 * session credentials. Without a passkey the DApp gets 4100 and mfa_required.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { decodeJwt } from 'jose';
import { getAddress, recoverMessageAddress, type Address } from 'viem';
import { startTestServer, type TestServer } from './helpers/server.js';
import type { LocalChain } from './helpers/chain.js';
import { browserTest, browserSkip, dappPersonalSign, FrameDriver, launchChromium, startSameSiteDapp, virtualAuthenticator } from './helpers/frame-browser.js';
import type { ExampleDapp } from '../src/server/frame.js';
import { findWalletByAddress } from '../src/storage/wallets.repository.js';
import { setKeyPolicy } from '../src/storage/iam-quorum.repository.js';
import { freePort } from './helpers/free-port.js';
import { eventually } from './helpers/eventually.js';

const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ac'.repeat(32)}`;
const EMAIL = `frame-envelope-step-up-${Date.now()}@example.com`;

let server: TestServer;
let node: LocalChain;
let dapp: ExampleDapp;
let context: BrowserContext;
let userDataDir: string;
let driver: FrameDriver;
let base = '';
let frameUrl = '';
let page: Page;
let home: Page;
let address: Address;
let homeAuthenticator: { cdp: CDPSession; authenticatorId: string };
let dappAuthenticator: { cdp: CDPSession; authenticatorId: string };
/** The custodian's answers to the browser's KMS Decrypt calls, in order. */
const decrypts: Array<{ status: number; stepUp: string | undefined }> = [];

const personalSign = (text: string) => dappPersonalSign(page, address, text);

before(async () => {
  ({ node, dapp } = await startSameSiteDapp(() => frameUrl, CHAIN_ID, FUNDER_KEY));
  const port = await freePort();
  base = `http://localhost:${port}`;
  server = await startTestServer({
    port,
    env: {
      SYMBOLON_PUBLIC_URL: base,
      SYMBOLON_BUILTIN_ISSUER: '1',
      SYMBOLON_DEV_MAILBOX: '1',
      SYMBOLON_FRAME_ALLOWED_ORIGINS: dapp.origin,
      SYMBOLON_DAPP_PORT: 'off',
      SYMBOLON_CHAIN_RPC_URL: node.url,
    },
  });
  frameUrl = `${base}/frame/`;
  if (browserSkip) return;
  userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  context = await launchChromium(userDataDir);
  driver = new FrameDriver(context, frameUrl, base);
  context.on('response', async (r) => {
    const req = r.request();
    if (req.method() === 'POST' && (await req.headerValue('x-amz-target')) === 'TrentService.Decrypt')
      decrypts.push({ status: r.status(), stepUp: await r.headerValue('x-symbolon-step-up').then((v) => v ?? undefined) });
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await dapp?.close();
  await server?.close();
  await node?.close();
});

browserTest('a DApp connects to an envelope wallet; then the master key policy wants a second factor for Decrypt', async () => {
  page = await driver.openDapp(dapp.origin);
  dappAuthenticator = await virtualAuthenticator(context, page);
  address = await driver.connect(page, EMAIL);
  assert.equal((await driver.walletOfUser(EMAIL)).custodyMode, 'envelope');

  home = await context.newPage();
  homeAuthenticator = await virtualAuthenticator(context, home);
  await home.goto(frameUrl);
  await home.locator('#email').waitFor();
  await home.locator('#email').fill(EMAIL);
  await home.locator('#send-code').click();
  await home.locator('#code').waitFor({ state: 'visible' });
  await home.locator('#code').fill(await driver.latestCode(EMAIL));
  await home.locator('#verify').click();
  await home.locator('#home').waitFor({ timeout: 60_000 });

  // Whoever may change the key's policy (the account's quorum, docs/access-control.md) adds a Deny without MFA.
  const db = server.custodian.deps.store.db;
  const keyId = (await findWalletByAddress(db, address))!.kmsKeyId!.split('/').pop()!;
  const { policy } = await db.selectFrom('kms_keys').select('policy').where('key_id', '=', keyId).executeTakeFirstOrThrow();
  const doc = JSON.parse(policy) as { Statement: object[] };
  doc.Statement.push({
    Sid: 'DecryptOnlyWithSecondFactor',
    Effect: 'Deny',
    Principal: '*',
    Action: 'kms:Decrypt',
    Resource: '*',
    Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'false' } },
  });
  assert.ok(await setKeyPolicy(db, keyId, JSON.stringify(doc), policy));
  // The custodian's key cache (SYMBOLON_KEY_CACHE_TTL_MS, 1 s by default) sees it after this.
  await new Promise((r) => setTimeout(r, 1_500));
});

browserTest('without a passkey: the Decrypt is refused (mfa_required), the frame says so, and the DApp gets 4100 with the code', async () => {
  const before = decrypts.length;
  const pending = personalSign('needs a passkey');
  const frame = driver.walletFrame(page);
  await driver.expectShown(page, frame.locator('#prompt-title', { hasText: 'Sign' }), 60_000);
  await frame.locator('#approve:not([disabled])').waitFor({ timeout: 15_000 });
  await frame.locator('#approve').click();
  await driver.expectShown(page, frame.locator('#stepup-error', { hasText: 'You have no passkey yet' }));
  await frame.locator('#stepup-cancel').click();
  const r = await pending;
  assert.equal(r.code, 4100);
  assert.match(r.message ?? '', /mfa_required, no_passkey/);
  await eventually('the refused Decrypt is recorded', () => decrypts.length > before, 30_000);
  assert.deepEqual(decrypts.slice(before), [{ status: 400, stepUp: 'mfa_required' }], 'one refused Decrypt, no retry');
});

browserTest(
  'with a passkey, after a reload (a login that cannot open the key): the frame steps up in the iframe, retries once, and the signature recovers to the wallet',
  async () => {
    await home.locator('#home-passkey-add').click();
    await home.locator('#home-passkey-status', { hasText: 'Passkey added' }).waitFor({ timeout: 30_000 });
    const [credential] = (await homeAuthenticator.cdp.send('WebAuthn.getCredentials', { authenticatorId: homeAuthenticator.authenticatorId })).credentials;
    assert.ok(credential);
    await dappAuthenticator.cdp.send('WebAuthn.addCredential', { authenticatorId: dappAuthenticator.authenticatorId, credential });

    // A new frame: its login's Decrypt (for the public key) is refused now, and it still gives the site the wallet's address.
    const beforeReload = decrypts.length;
    await page.reload();
    await page.locator('#connect:not([disabled])').waitFor();
    const accounts = (await page.evaluate(() => (window as any).symbolon.request({ method: 'eth_accounts' }))) as string[];
    assert.deepEqual(
      accounts.map((a) => getAddress(a)),
      [address],
    );
    // The response listener records a Decrypt asynchronously (two CDP reads), so each check below waits for it first.
    await eventually("the new login's Decrypt is answered", () => decrypts.length > beforeReload, 30_000);
    assert.deepEqual(decrypts.slice(beforeReload), [{ status: 400, stepUp: 'mfa_required' }]);
    const frame = driver.walletFrame(page);
    const tokensBefore = await frame.evaluate(() => JSON.parse(sessionStorage.getItem('symbolon.session') ?? '{}'));
    assert.ok(!(decodeJwt(tokensBefore.idToken).amr as string[] | undefined)?.includes('mfa'));

    const before = decrypts.length;
    const message = 'signed with a second factor';
    const pending = personalSign(message);
    await driver.expectShown(page, frame.locator('#prompt-title', { hasText: 'Sign' }), 60_000);
    await frame.locator('#approve:not([disabled])').waitFor({ timeout: 15_000 });
    await frame.locator('#approve').click();
    await driver.expectShown(page, frame.locator('#stepup-reason', { hasText: `${dapp.origin} asked for a signature` }));
    await frame.locator('#stepup-go').click();
    const r = await pending;
    assert.ok(r.signature, `signed: ${JSON.stringify(r)}`);
    assert.equal(await recoverMessageAddress({ message, signature: r.signature }), address);
    // The refused Decrypt; then, with session credentials from the stepped-up token, the public key and the signature.
    await eventually('three Decrypts are recorded', () => decrypts.length >= before + 3, 30_000);
    assert.deepEqual(decrypts.slice(before), [
      { status: 400, stepUp: 'mfa_required' },
      { status: 200, stepUp: undefined },
      { status: 200, stepUp: undefined },
    ]);
    const tokensAfter = await frame.evaluate(() => JSON.parse(sessionStorage.getItem('symbolon.session') ?? '{}'));
    assert.ok((decodeJwt(tokensAfter.idToken).amr as string[] | undefined)?.includes('mfa'), 'the frame session now holds the stepped-up tokens');
    const stored = (await dappAuthenticator.cdp.send('WebAuthn.getCredentials', { authenticatorId: dappAuthenticator.authenticatorId })).credentials[0]!;
    assert.ok(stored.signCount > credential.signCount, 'the assertion was made in the DApp page (the embedded frame)');

    // The next signature needs no step-up: the session's credentials have MFA now.
    const again = personalSign('once more');
    await driver.expectShown(page, frame.locator('#prompt-title', { hasText: 'Sign' }), 60_000);
    await frame.locator('#approve:not([disabled])').waitFor({ timeout: 15_000 });
    await frame.locator('#approve').click();
    const r2 = await again;
    assert.ok(r2.signature, `signed: ${JSON.stringify(r2)}`);
    assert.equal(await recoverMessageAddress({ message: 'once more', signature: r2.signature }), address);

    await server.custodian.audit.flush();
    const stepUps = await server.custodian.deps.store.db
      .selectFrom('audit_events')
      .select(['outcome'])
      .where('service', '=', 'identity')
      .where('operation', '=', 'PasskeyStepUp')
      .execute();
    assert.deepEqual(stepUps, [{ outcome: 'allowed' }]);
  },
);
