/**
 * Linked logins on the wallet page (docs/frame.md, "Linked logins"), in a
 * real browser (Debian's chromium through playwright-core): a real wallet
 * service (built-in issuer, custodian, STS) that trusts a real OpenID
 * Provider (panva's oidc-provider, test/helpers/oidc-provider.ts) offered by
 * its frame, and the example DApp on another origin. The user logs in by
 * email code on the wallet page, which creates the wallet, and links the
 * provider's login there (the provider's login made fresh in a popup, STS
 * LinkWebIdentity). Then the email account is "lost": in a fresh browser
 * profile the user logs in inside a DApp's frame with the provider only, and
 * gets the same address, and a message signed through the frame recovers to
 * it. A user's only login cannot be unlinked (STS DeleteConflict, shown with
 * its code); a linked one can, and the page lists what STS holds.
 *
 * `linkAndRecover(world)` runs the whole story against one wallet service,
 * for an envelope and for a split-custody service (share A released to the
 * linked login's session by the user id the custodian tags it with).
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Frame, Page } from 'playwright-core';
import { getAddress, verifyMessage, type Address, type Hex } from 'viem';
import { browserTest, FrameDriver, launchChromium } from './helpers/frame-browser.js';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { startSplitFrameServer } from './helpers/split-world.js';
import { startTestIdp, type TestIdp } from './helpers/oidc-provider.js';
import { startExampleDapp, type ExampleDapp } from '../src/server/frame.js';
import { identityLinksOfUser } from '../src/storage/sts-identity-links.repository.js';
import { getWebIdentityUser } from '../src/wallet/custodian-users.js';

const CHAIN_ID = 31337;
const CLIENT_ID = 'symbolon-frame-link-test';
const PROVIDER = 'Test IdP';

/** One wallet service with the provider and the DApp, and what to stop. */
interface World {
  server: TestServer;
  idp: TestIdp;
  dapp: ExampleDapp;
  frameUrl: string;
  /** The custody mode new wallets get. */
  mode: 'envelope' | 'split';
}

const stops: Array<() => Promise<void> | void> = [];

before(() => {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
});

after(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** A wallet service in `mode` trusting a fresh provider, and the DApp (no chain: a message signature needs none). */
async function world(mode: World['mode']): Promise<World> {
  let frameUrl = '';
  // Another loopback host than the wallet's: the provider's cookies stay apart, as in a deployment.
  const idp = await startTestIdp({ clientId: CLIENT_ID, host: '127.0.0.2' });
  stops.push(() => idp.close());
  const dapp = await startExampleDapp({
    host: '127.0.0.1',
    port: 0,
    frameUrl: () => frameUrl,
    chains: [{ chainId: CHAIN_ID, name: 'Local chain', rpcUrl: 'http://127.0.0.1:9' }],
  });
  stops.push(() => dapp.close());
  const env = {
    SYMBOLON_FRAME_ALLOWED_ORIGINS: dapp.origin,
    SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: idp.issuer, audiences: [CLIENT_ID], algorithms: ['ES256'] }]),
    SYMBOLON_FRAME_OIDC_PROVIDERS: JSON.stringify([{ id: 'test-idp', name: PROVIDER, issuer: idp.issuer, clientId: CLIENT_ID }]),
  };
  let server: TestServer;
  if (mode === 'split') {
    // The signer forked by the server's own code, as `serve --role all` does.
    const split = await startSplitFrameServer(env);
    server = split.server;
    stops.push(() => split.signer.stop());
  } else {
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1', SYMBOLON_FRAME_CUSTODY_MODE: mode, SYMBOLON_DAPP_PORT: 'off', ...env },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
  }
  stops.push(() => server.close());
  frameUrl = `${server.endpoint}/frame/`;
  await idp.start(`${server.endpoint}/frame/oidc-callback.html`);
  return { server, idp, dapp, frameUrl, mode };
}

/** Chromium on a fresh user-data directory (a new device), loopback only: the provider's pages @import a web font. */
async function profile(w: World): Promise<{ context: BrowserContext; driver: FrameDriver }> {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  const context = await launchChromium(dir);
  stops.push(async () => {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await context.route(
    (url) => !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname) && url.protocol !== 'about:',
    (route) => route.abort(),
  );
  return { context, driver: new FrameDriver(context, w.frameUrl, w.server.endpoint) };
}

/** Clicks "Continue with Test IdP" in `frame` and plays the user on the provider's pages in the popup (any password, then consent). */
async function continueWithProvider(context: BrowserContext, frame: Frame | Page, login: string): Promise<void> {
  const button = frame.locator('#login-providers button', { hasText: `Continue with ${PROVIDER}` });
  await button.waitFor({ timeout: 30_000 });
  const opened = context.waitForEvent('page');
  await button.click();
  const popup = await opened;
  const closed = popup.waitForEvent('close', { timeout: 30_000 });
  const loginField = popup.locator('input[name="login"]');
  const consent = popup.locator('button[type="submit"]', { hasText: /continue/i });
  await Promise.race([loginField.waitFor(), consent.waitFor(), closed]);
  if (!popup.isClosed() && (await loginField.isVisible())) {
    await loginField.fill(login);
    await popup.locator('input[name="password"]').fill('any password');
    await popup.locator('button[type="submit"]').click();
    await Promise.race([consent.waitFor(), closed]);
  }
  if (!popup.isClosed() && (await consent.isVisible().catch(() => false))) await consent.click();
  await closed;
}

/** The labels the wallet page lists under Linked logins. */
async function listedLogins(home: Page): Promise<string[]> {
  return (await home.locator('#home-links li').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

/**
 * Email login on the wallet page (creates the wallet), link the provider's login there, then on a fresh profile
 * the provider alone in a DApp's frame: the same address, and a signature that recovers to it. Returns the home page.
 */
async function linkAndRecover(w: World, tag: string): Promise<{ home: Page; address: Address; login: string }> {
  const email = `linked-${tag}-${Date.now()}@example.com`;
  const login = `linked-${tag}-${Date.now()}`;
  const first = await profile(w);
  const home = await first.context.newPage();
  await first.driver.loginHome(home, email);
  await home.locator('#home-address', { hasText: /^0x[0-9a-fA-F]{40}$/ }).waitFor({ timeout: 60_000 });
  const address = getAddress((await home.locator('#home-address').textContent())!);
  assert.equal(await home.locator('#home-mode').textContent(), w.mode);
  await home.locator('#home-links li').first().waitFor({ timeout: 30_000 });
  assert.deepEqual(await listedLogins(home), [`Email code or passkey: ${email} (this login) Unlink`]);

  // Link the provider's login: the login screen for the second method, the provider in a popup, back to the page.
  await home.locator('#home-link-add').click();
  await home.locator('#login-intro', { hasText: 'login to link' }).waitFor();
  await continueWithProvider(first.context, home, login);
  await home.locator('#home-link-status', { hasText: 'Login linked' }).waitFor({ timeout: 30_000 });
  assert.equal(await home.locator('#home-error').textContent(), '');
  const listed = await listedLogins(home);
  assert.equal(listed.length, 2, listed.join(' / '));
  assert.ok(listed.includes(`${PROVIDER}: ${login} Unlink`), listed.join(' / '));
  // The page's session is still the email login's; no token is on the page.
  assert.equal(await home.locator('#home-email').textContent(), email);
  assert.doesNotMatch(await home.locator('main').innerText(), /eyJ[A-Za-z0-9_-]{10,}/);
  // STS holds the link: the provider's login is the email login's user at the custodian.
  const caller = { endpoint: w.server.endpoint, region: REGION, credentials: ADMIN };
  const uid = await getWebIdentityUser(caller, { issuer: w.idp.issuer, subject: login });
  const links = await identityLinksOfUser(w.server.custodian.deps.store.db, uid);
  assert.deepEqual(links.map((l) => l.issuer).sort(), [`${w.server.endpoint}/oidc`, w.idp.issuer].sort());

  // The email account is lost: a new device, the provider only, inside a DApp's frame.
  const second = await profile(w);
  const page = await second.driver.openDapp(w.dapp.origin);
  await page.locator('#connect').click();
  const frame = await second.driver.waitForFrame(page);
  await page.waitForTimeout(200);
  await continueWithProvider(second.context, frame, login);
  await second.driver.expectShown(page, second.driver.walletFrame(page).locator('#prompt-title', { hasText: 'Connect to this site?' }), 60_000);
  await second.driver.walletFrame(page).locator('#approve').click();
  await second.driver.expectShown(page, page.locator('#address', { hasText: /^0x[0-9a-fA-F]{40}$/ }), 60_000);
  assert.equal(getAddress((await page.locator('#address').textContent())!), address, 'the linked login opens the same wallet');
  const message = `Signed with a linked login at ${Date.now()}`;
  await page.locator('#message').fill(message);
  await page.locator('#sign').click();
  await second.driver.answerPrompt(page, { title: 'Sign a message', shows: [message] }, 'approve');
  await second.driver.expectShown(page, page.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }), 60_000);
  const signature = (await page.locator('#signature').textContent()) as Hex;
  assert.ok(await verifyMessage({ address, message, signature }), 'the signature recovers to the wallet');
  return { home, address, login };
}

let envelope: World | undefined;
let linked: { home: Page; address: Address; login: string } | undefined;

browserTest('envelope wallet: link a provider on the wallet page; the provider alone, on a new device, opens and signs with the same address', async () => {
  envelope = await world('envelope');
  linked = await linkAndRecover(envelope, 'env');
});

browserTest("the wallet page unlinks a linked login; a user's only login is refused with DeleteConflict", async () => {
  assert.ok(envelope && linked, 'the previous test linked a login');
  const { home, login } = linked;
  const listed = await listedLogins(home);
  const i = listed.findIndex((l) => l.startsWith(`${PROVIDER}: ${login}`));
  assert.ok(i >= 0, listed.join(' / '));
  // Five minutes later on this page's clock, the email login is too old for STS: the page asks for it again first.
  await home.clock.setSystemTime(Date.now() + 5 * 60_000);
  await home.locator(`#home-link-unlink-${i}`).click();
  await home.locator('#login-intro', { hasText: 'Log in again (as you are now)' }).waitFor({ timeout: 30_000 });
  const email = (await home.locator('#home-email').textContent())!;
  await home.locator('#email').fill(email);
  await home.locator('#send-code').click();
  await home.locator('#code').waitFor({ state: 'visible' });
  await home.locator('#code').fill(await new FrameDriver(home.context(), envelope.frameUrl, envelope.server.endpoint).latestCode(email));
  await home.locator('#verify').click();
  await home.locator('#home-link-status', { hasText: 'Login unlinked' }).waitFor({ timeout: 30_000 });
  assert.equal(await home.locator('#home-error').textContent(), '');
  assert.equal((await listedLogins(home)).length, 1);

  // Now the email login is the only one: refused by STS, said with its code, nothing changed.
  await home.locator('#home-link-unlink-0').click();
  await home.locator('#home-error', { hasText: 'DeleteConflict' }).waitFor({ timeout: 30_000 });
  assert.match((await home.locator('#home-error').textContent())!, /only login/);
  assert.equal((await listedLogins(home)).length, 1);
  await home.reload();
  await home.locator('#home-links li').first().waitFor({ timeout: 60_000 });
  assert.equal((await listedLogins(home)).length, 1, 'the refusal changed nothing');
});

browserTest('split wallet: link a provider on the wallet page; the provider alone, on a new device, signs with the same address', async () => {
  // Share A keeps the creating login's sub as its context; the custodian releases it to any session of the key's user id.
  await linkAndRecover(await world('split'), 'split');
});
