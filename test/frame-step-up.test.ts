/**
 * Step-up inside the frame embedded in a DApp page (docs/frame.md "Step-up"),
 * in a real browser (Debian's chromium through playwright-core) with
 * Chromium's virtual authenticator: a real wallet service with split custody
 * at SYMBOLON_PUBLIC_URL=http://localhost:<port> (WebAuthn needs a domain
 * name), the signer forked by the server's own code, and the example DApp on
 * another origin. The owner's signing policy allows messages only with a
 * second factor (aws:MultiFactorAuthPresent). A DApp asks for a signature:
 * without a passkey the frame says so and the DApp gets 4100; with one, the
 * signer refuses with `mfa_required`, the frame asks for the passkey inside
 * the iframe (the SDK delegates publickey-credentials-get to the frame's
 * origin), retries once, and the signature recovers to the wallet's address.
 * A retry refused again goes to the DApp as it is: one step-up, two sign
 * requests, no loop.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { decodeJwt } from 'jose';
import { recoverMessageAddress, type Address } from 'viem';
import type { TestServer } from './helpers/server.js';
import type { LocalChain } from './helpers/chain.js';
import { browserTest, browserSkip, dappPersonalSign, FrameDriver, launchChromium, startSameSiteDapp, virtualAuthenticator } from './helpers/frame-browser.js';
import type { ExampleDapp } from '../src/server/frame.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { findWalletByAddress } from '../src/storage/wallets.repository.js';
import { startSplitFrameServer } from './helpers/split-world.js';
import { freePort } from './helpers/free-port.js';

const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ac'.repeat(32)}`;
const EMAIL = `frame-step-up-${Date.now()}@example.com`;

/** Messages only, and only with a second factor. */
const POLICY = JSON.stringify({
  Version: '2026-12-01',
  Statement: [
    {
      Sid: 'MessagesWithPasskey',
      Effect: 'Allow',
      Condition: { StringEquals: { 'eth:PayloadType': 'message' }, Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
    },
  ],
});

let server: TestServer;
let signer: SignerProcess;
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
/** The frame's calls to the signer's POST /v1/sign, as the browser made them. */
const signRequests: string[] = [];

const withAuthenticator = (p: Page) => virtualAuthenticator(context, p);

const personalSign = (text: string) => dappPersonalSign(page, address, text);

before(async () => {
  ({ node, dapp } = await startSameSiteDapp(() => frameUrl, CHAIN_ID, FUNDER_KEY));
  const port = await freePort();
  base = `http://localhost:${port}`;
  ({ server, signer } = await startSplitFrameServer(
    (signerPort) => ({
      SYMBOLON_PUBLIC_URL: base,
      SYMBOLON_FRAME_ALLOWED_ORIGINS: dapp.origin,
      SYMBOLON_FRAME_SIGNER_URL: `http://127.0.0.1:${signerPort}`,
      SYMBOLON_CHAIN_RPC_URL: node.url,
    }),
    { port },
  ));
  frameUrl = `${base}/frame/`;
  if (browserSkip) return;
  userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  context = await launchChromium(userDataDir);
  driver = new FrameDriver(context, frameUrl, base);
  context.on('request', (r) => {
    if (r.method() === 'POST' && r.url() === `${signer.url}/v1/sign`) signRequests.push(r.url());
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await signer?.stop();
  await dapp?.close();
  await server?.close();
  await node?.close();
});

browserTest('a DApp connects; the owner saves a policy that wants a second factor for messages', async () => {
  page = await driver.openDapp(dapp.origin);
  dappAuthenticator = await withAuthenticator(page);
  address = await driver.connect(page, EMAIL);
  assert.equal(await page.locator('iframe[data-symbolon-frame]').getAttribute('allow'), `publickey-credentials-get ${new URL(base).origin}`);

  home = await context.newPage();
  homeAuthenticator = await withAuthenticator(home);
  await driver.loginHome(home, EMAIL);
  assert.equal(await home.locator('#home-address').textContent(), address);
  await home.locator('#home-policy').fill(POLICY);
  await home.locator('#home-policy-save').click();
  await home.locator('#home-policy-status', { hasText: 'Signing policy saved' }).waitFor({ timeout: 60_000 });
  assert.equal((await findWalletByAddress(server.custodian.deps.store.db, address))?.signingPolicy, POLICY);
});

browserTest('without a passkey: the frame says so, nothing is signed, and the DApp gets 4100 with the code', async () => {
  const before = signRequests.length;
  const pending = personalSign('needs a passkey');
  const frame = driver.walletFrame(page);
  await driver.expectShown(page, frame.locator('#prompt-policy', { hasText: 'needs a second factor' }), 60_000);
  // Approve stays possible (once the visibility guard arms it): the step-up comes after it.
  await frame.locator('#approve:not([disabled])').waitFor({ timeout: 15_000 });
  await frame.locator('#approve').click();
  await driver.expectShown(page, frame.locator('#stepup-error', { hasText: 'You have no passkey yet' }));
  assert.equal(await frame.locator('#stepup-go').isVisible(), false);
  await frame.locator('#stepup-cancel').click();
  const r = await pending;
  assert.equal(r.code, 4100);
  assert.match(r.message ?? '', /mfa_required, no_passkey/);
  assert.equal(signRequests.length - before, 1, 'one refused sign request, no retry');
});

browserTest(
  'with a passkey: the signer refuses (mfa_required), the frame steps up in the iframe, retries once, and the signature recovers to the wallet',
  async () => {
    // The owner adds a passkey on the wallet page; the DApp tab's authenticator holds the same credential (one device).
    await home.locator('#home-passkey-add').click();
    await home.locator('#home-passkey-status', { hasText: 'Passkey added' }).waitFor({ timeout: 30_000 });
    const [credential] = (await homeAuthenticator.cdp.send('WebAuthn.getCredentials', { authenticatorId: homeAuthenticator.authenticatorId })).credentials;
    assert.ok(credential);
    await dappAuthenticator.cdp.send('WebAuthn.addCredential', { authenticatorId: dappAuthenticator.authenticatorId, credential });

    const frame = driver.walletFrame(page);
    const tokensBefore = await frame.evaluate(() => JSON.parse(sessionStorage.getItem('symbolon.session') ?? '{}'));
    assert.ok(!(decodeJwt(tokensBefore.idToken).amr as string[] | undefined)?.includes('mfa'));
    const before = signRequests.length;
    const message = 'signed with a second factor';
    const pending = personalSign(message);
    await driver.expectShown(page, frame.locator('#prompt-policy', { hasText: 'needs a second factor' }), 60_000);
    await frame.locator('#approve').click();
    await driver.expectShown(page, frame.locator('#stepup-reason', { hasText: `${dapp.origin} asked for a signature` }));
    await frame.locator('#stepup-go').click();
    const r = await pending;
    assert.ok(r.signature, `signed: ${JSON.stringify(r)}`);
    assert.equal(await recoverMessageAddress({ message, signature: r.signature }), address);
    assert.equal(signRequests.length - before, 2, 'the refused request and one retry');
    const tokensAfter = await frame.evaluate(() => JSON.parse(sessionStorage.getItem('symbolon.session') ?? '{}'));
    assert.ok((decodeJwt(tokensAfter.idToken).amr as string[] | undefined)?.includes('mfa'), 'the frame session now holds the stepped-up tokens');
    const stored = (await dappAuthenticator.cdp.send('WebAuthn.getCredentials', { authenticatorId: dappAuthenticator.authenticatorId })).credentials[0]!;
    assert.ok(stored.signCount > credential.signCount, 'the assertion was made in the DApp page (the embedded frame)');

    await server.custodian.audit.flush();
    const stepUps = await server.custodian.deps.store.db
      .selectFrom('audit_events')
      .select(['outcome', 'error_code'])
      .where('service', '=', 'identity')
      .where('operation', '=', 'PasskeyStepUp')
      .execute();
    assert.deepEqual(stepUps, [{ outcome: 'allowed', error_code: null }]);
  },
);

browserTest('a retry refused again goes to the DApp as it is: no second step-up, no loop', async () => {
  // The frame's session already has `mfa`; make the signer's first answer mfa_required, and its second too.
  let answered = 0;
  await context.route(`${signer.url}/v1/sign`, async (route) => {
    if (route.request().method() !== 'POST') return route.fallback();
    answered += 1;
    await route.fulfill({
      status: 403,
      contentType: 'application/json',
      headers: { 'access-control-allow-origin': new URL(base).origin, vary: 'origin' },
      body: JSON.stringify({ error: { code: 'mfa_required', message: 'Refused: the signing policy requires a second factor.' } }),
    });
  });
  try {
    const frame = driver.walletFrame(page);
    const pending = personalSign('refused twice');
    await driver.expectShown(page, frame.locator('#prompt-title', { hasText: 'Sign' }), 60_000);
    await frame.locator('#approve').click();
    await driver.expectShown(page, frame.locator('#stepup-go'));
    await frame.locator('#stepup-go').click();
    const r = await pending;
    assert.equal(r.signature, undefined);
    assert.match(r.message ?? '', /mfa_required/);
    assert.equal(answered, 2, 'the request and one retry, no more');
  } finally {
    await context.unroute(`${signer.url}/v1/sign`);
  }
});

browserTest('the wallet page lists the passkey and removes it; the issuer has it no more and audits the removal', async () => {
  await home.reload();
  await home.locator('#home').waitFor({ timeout: 60_000 });
  await home.locator('#home-passkey-list li', { hasText: 'Added ' }).waitFor({ timeout: 30_000 });
  assert.equal(await home.locator('#home-passkey-list li').count(), 1);
  await home.locator('#home-passkey-remove-0').click();
  await home.locator('#home-passkey-count', { hasText: 'No passkey yet.' }).waitFor({ timeout: 30_000 });
  assert.equal(await home.locator('#home-error').textContent(), '');
  assert.equal(await home.locator('#home-passkey-list li').count(), 0);
  const sub = decodeJwt(JSON.parse((await home.evaluate(() => sessionStorage.getItem('symbolon.session'))) ?? '{}').idToken).sub!;
  const db = server.custodian.deps.store.db;
  assert.equal((await db.selectFrom('identity_passkeys').select('credential_id').where('sub', '=', sub).execute()).length, 0);
  await server.custodian.audit.flush();
  const removals = await db.selectFrom('audit_events').select(['outcome']).where('service', '=', 'identity').where('operation', '=', 'PasskeyRemove').execute();
  assert.deepEqual(removals, [{ outcome: 'allowed' }]);
});
