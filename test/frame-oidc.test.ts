/**
 * The wallet frame's login with an external OpenID Connect provider, in a
 * real browser (Debian's chromium through playwright-core): a real OpenID
 * Provider (panva's oidc-provider, test/helpers/oidc-provider.ts) on its own
 * loopback host and port, trusted by a real wallet service
 * (SYMBOLON_OIDC_ISSUERS) and offered by its frame
 * (SYMBOLON_FRAME_OIDC_PROVIDERS), and the example DApp on another origin.
 * The test plays the user: it picks the provider in the frame, signs in and
 * consents on the provider's pages in the popup, and approves in the frame.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { test, before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Frame, Locator, Page } from 'playwright-core';
import { browserSkip, browserTest, FrameDriver, launchChromium } from './helpers/frame-browser.js';
import { getAddress, verifyMessage, type Address, type Hex } from 'viem';
import { startTestServer, type TestServer } from './helpers/server.js';
import { startTestIdp, type TestIdp } from './helpers/oidc-provider.js';
import { configFromEnv } from '../src/config.js';
import { startExampleDapp, type ExampleDapp } from '../src/server/frame.js';
import { discoverFrameProvider, frameProviderDirectory, parseFrameOidcProviders } from '../src/server/frame-oidc-providers.js';
import { checkIdToken, pkceChallenge } from '../web/frame/oidc-login.js';
import { callbackFromQuery, parseCallbackMessage } from '../web/frame/oidc-message.js';

const CHAIN_ID = 31337;
const CLIENT_ID = 'symbolon-frame-test';
/** The IdP's login name: it becomes the token's sub. */
const LOGIN = `oidc-user-${Date.now()}`;

let server: TestServer;
let idp: TestIdp;
let dapp: ExampleDapp;
let context: BrowserContext;
let userDataDir: string;
let frameUrl = '';

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
  // Another loopback host than the wallet's: the IdP's cookies stay apart, as they would in a deployment.
  idp = await startTestIdp({ clientId: CLIENT_ID, host: '127.0.0.2' });
  // No chain is needed to connect and sign a message; the DApp's reads fail quietly ("chain not reachable").
  dapp = await startExampleDapp({
    host: '127.0.0.1',
    port: 0,
    frameUrl: () => frameUrl,
    chains: [{ chainId: CHAIN_ID, name: 'Local chain', rpcUrl: 'http://127.0.0.1:9' }],
  });
  server = await startTestServer({
    env: {
      SYMBOLON_BUILTIN_ISSUER: '1',
      SYMBOLON_DEV_MAILBOX: '1',
      SYMBOLON_FRAME_ALLOWED_ORIGINS: dapp.origin,
      SYMBOLON_DAPP_PORT: 'off',
      SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: idp.issuer, audiences: [CLIENT_ID], algorithms: ['ES256'] }]),
      SYMBOLON_FRAME_OIDC_PROVIDERS: JSON.stringify([{ id: 'test-idp', name: 'Test IdP', issuer: idp.issuer, clientId: CLIENT_ID }]),
    },
  });
  frameUrl = `${server.endpoint}/frame/`;
  await idp.start(`${server.endpoint}/frame/oidc-callback.html`);
  if (browserSkip) return;
  userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  context = await launchChromium(userDataDir);
  driver = new FrameDriver(context, frameUrl, server.endpoint);
  // Loopback only: the provider's development pages @import a web font from the internet.
  await context.route(
    (url) => !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname) && url.protocol !== 'about:',
    (route) => route.abort(),
  );
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await dapp?.close();
  await server?.close();
  await idp?.close();
});

// Shared browser helpers (test/helpers/frame-browser.ts).
let driver: FrameDriver;
const walletFrame = (page: Page): Frame => driver.walletFrame(page);
const expectShown = (page: Page, target: Locator, timeoutMs?: number): Promise<void> => driver.expectShown(page, target, timeoutMs);

/** Clicks the provider's button in the frame; returns the login popup and the authorization request it made. */
async function openProviderPopup(page: Page): Promise<{ popup: Page; authz: URL }> {
  // The DApp creates the frame on its first request.
  await page.waitForFunction((url) => Array.from(document.querySelectorAll('iframe')).some((f) => f.src.startsWith(url)), frameUrl);
  await page.waitForTimeout(200);
  const frame = walletFrame(page);
  const button = frame.locator('#login-providers button', { hasText: 'Continue with Test IdP' });
  await expectShown(page, button);
  const popupOpened = context.waitForEvent('page');
  const authzRequest = context.waitForEvent('request', { predicate: (r) => r.url().startsWith(`${idp.issuer}/auth?`), timeout: 10_000 });
  await button.click();
  const popup = await popupOpened;
  const authz = new URL((await authzRequest).url());
  return { popup, authz };
}

/** Plays the user on the provider's pages: sign in (any password), then consent; the popup closes itself. */
async function signInAtProvider(popup: Page, login: string): Promise<void> {
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

let page: Page;
let address: Address;

browserTest(
  'the frame logs in with the external provider in a popup (code + PKCE), creates the wallet, and the DApp gets the address the wallet service reports for that token',
  async () => {
    page = await context.newPage();
    await page.goto(`${dapp.origin}/`);
    await page.locator('#connect:not([disabled])').waitFor();
    // Everything the DApp's window receives by postMessage, to check that no code or token reaches it.
    await page.evaluate(() => {
      (window as any).received = [];
      window.addEventListener('message', (e) => (window as any).received.push(JSON.stringify(e.data)));
    });
    await page.locator('#connect').click();
    const { popup, authz } = await openProviderPopup(page);
    // The authorization request: a public client with PKCE S256, state and nonce, redirecting to the frame's callback.
    const codes: string[] = [];
    context.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.endsWith('/frame/oidc-callback.html') && u.searchParams.get('code')) codes.push(u.searchParams.get('code')!);
    });
    assert.ok(authz.pathname.length > 1);
    assert.equal(authz.searchParams.get('response_type'), 'code');
    assert.equal(authz.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(authz.searchParams.get('redirect_uri'), `${server.endpoint}/frame/oidc-callback.html`);
    assert.equal(authz.searchParams.get('code_challenge_method'), 'S256');
    assert.match(authz.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(authz.searchParams.get('state') ?? '', /^[A-Za-z0-9_-]{32}$/);
    assert.match(authz.searchParams.get('nonce') ?? '', /^[A-Za-z0-9_-]{32}$/);
    assert.equal(authz.searchParams.get('scope'), 'openid email');
    await signInAtProvider(popup, LOGIN);

    const frame = walletFrame(page);
    await expectShown(page, frame.locator('#prompt-title', { hasText: 'Connect to this site?' }));
    await frame.locator('#approve').click();
    await expectShown(page, page.locator('#address', { hasText: /^0x[0-9a-fA-F]{40}$/ }));
    address = getAddress((await page.locator('#address').textContent())!);

    // The code was exchanged once, at the token endpoint, with the PKCE verifier (the provider requires it).
    assert.equal(codes.length, 1);
    assert.deepEqual(
      idp.tokenRequests.map((r) => [r.grantType, r.code, r.ok]),
      [['authorization_code', codes[0], true]],
    );

    // The session's token is the provider's ID token (read here by the privileged test, not by the DApp).
    const stored = JSON.parse((await frame.evaluate(() => sessionStorage.getItem('symbolon.session')))!) as {
      accessToken: string;
      email: string;
      refreshToken?: string;
    };
    const claims = JSON.parse(Buffer.from(stored.accessToken.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    assert.equal(claims.iss, idp.issuer);
    assert.equal(claims.aud, CLIENT_ID);
    assert.equal(claims.sub, LOGIN);
    assert.equal(claims.nonce, authz.searchParams.get('nonce'));
    assert.equal(stored.email, `${LOGIN}@idp.example`);
    assert.equal(stored.refreshToken, undefined, 'no refresh token: the provider gave none');
    const me = await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${stored.accessToken}` } });
    assert.equal(me.status, 200);
    const wallet = (await me.json()) as { address: string; custodyMode: string };
    assert.equal(getAddress(wallet.address), address);
    assert.equal(wallet.custodyMode, 'envelope');

    // No code, no token ever reached the DApp's window; the popup is gone and left no cookie on the wallet's origin.
    const received = (await page.evaluate(() => (window as any).received)) as string[];
    for (const secret of [codes[0]!, stored.accessToken, stored.accessToken.split('.')[2]!])
      assert.ok(!received.some((m) => m.includes(secret)), 'the DApp received no code or token');
    assert.deepEqual(await context.cookies(server.endpoint), []);
    assert.deepEqual(await context.cookies(dapp.origin), []);
    await frame.locator('#account-email', { hasText: `${LOGIN}@idp.example` }).waitFor({ state: 'attached' });
  },
);

browserTest('personal_sign with the provider-backed session: the signature verifies for the address', async () => {
  const message = `Signed after an external login at ${Date.now()}`;
  await page.locator('#message').fill(message);
  await page.locator('#sign').click();
  const frame = walletFrame(page);
  await expectShown(page, frame.locator('#prompt-title', { hasText: 'Sign a message' }));
  assert.ok((await frame.locator('#prompt').innerText()).includes(message));
  await frame.locator('#approve').click();
  await expectShown(page, page.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }));
  const signature = (await page.locator('#signature').textContent()) as Hex;
  assert.equal(await verifyMessage({ address, message, signature }), true);
});

browserTest("the DApp's script cannot read the provider's token: not in its storage or cookies, not through the frame's window", async () => {
  const frame = walletFrame(page);
  const token = (JSON.parse((await frame.evaluate(() => sessionStorage.getItem('symbolon.session')))!) as { accessToken: string }).accessToken;
  const seen = await page.evaluate(async () => {
    const dump: string[] = [document.cookie];
    for (let i = 0; i < localStorage.length; i++) dump.push(localStorage.key(i)!, localStorage.getItem(localStorage.key(i)!)!);
    for (let i = 0; i < sessionStorage.length; i++) dump.push(sessionStorage.key(i)!, sessionStorage.getItem(sessionStorage.key(i)!)!);
    dump.push(JSON.stringify(await indexedDB.databases()));
    const win = document.querySelector<HTMLIFrameElement>('iframe[data-symbolon-frame]')!.contentWindow as Window;
    let reach: string;
    try {
      reach = `read: ${win.sessionStorage.getItem('symbolon.session')}`;
    } catch (e) {
      reach = (e as Error).name;
    }
    return { dump: dump.join('\n'), reach };
  });
  assert.ok(!seen.dump.includes(token) && !seen.dump.includes(token.split('.')[2]!), 'no token in the DApp origin');
  assert.equal(seen.reach, 'SecurityError');
});

browserTest(
  'a forged callback is ignored: one from another origin (even with the right state), and one from the wallet origin with a wrong state; no code is exchanged',
  async () => {
    const frame = walletFrame(page);
    // The account view (with Log out) sits in the frame while the DApp keeps the overlay hidden: press it directly.
    await frame.locator('#logout').dispatchEvent('click');
    await frame.locator('#status-text', { hasText: 'Logged out.' }).waitFor({ state: 'attached' });
    // Sign out at the provider too, so that its login page waits for the user (it would otherwise answer at once).
    await context.clearCookies({ domain: new URL(idp.issuer).hostname });
    const exchangesBefore = idp.tokenRequests.length;
    const pending = page.evaluate(() =>
      (window as any).symbolon.request({ method: 'eth_requestAccounts' }).then(
        (a: string[]) => a,
        (e: { code: number }) => e.code,
      ),
    );
    const { popup, authz } = await openProviderPopup(page);
    const state = authz.searchParams.get('state')!;

    // 1. The DApp (another origin) posts a well-formed callback with the real state to the frame: ignored.
    await page.evaluate(
      ({ state, origin }) => {
        const win = document.querySelector<HTMLIFrameElement>('iframe[data-symbolon-frame]')!.contentWindow!;
        win.postMessage({ protocol: 'symbolon-oidc-callback/1', state, code: 'forged-by-the-dapp' }, origin);
      },
      { state, origin: new URL(frameUrl).origin },
    );
    // 2. The popup lands on the real callback page with a wrong state: the page posts from the wallet's origin, the frame ignores it.
    await popup.locator('input[name="login"]').waitFor();
    const closed = popup.waitForEvent('close');
    // As a page at the provider would (a script navigation keeps window.opener; a typed URL would not).
    await popup.evaluate((url) => void (location.href = url), `${server.endpoint}/frame/oidc-callback.html?code=forged-wrong-state&state=${'x'.repeat(32)}`);
    await closed;
    await expectShownError(page, /closed before the login finished/);
    assert.equal(idp.tokenRequests.length, exchangesBefore, 'no code was sent to the token endpoint');
    assert.equal(await frame.locator('#login').isVisible(), true, 'still logged out');

    // The user tries again and the real login goes through, to the same wallet.
    await frame.locator('#login-error').evaluate((e) => (e.textContent = ''));
    await signInAtProvider((await openProviderPopup(page)).popup, LOGIN);
    await expectShown(page, frame.locator('#prompt-title', { hasText: 'Connect to this site?' }));
    await frame.locator('#approve').click();
    assert.deepEqual(
      ((await pending) as string[]).map((a) => getAddress(a)),
      [address],
    );
    assert.deepEqual(
      idp.tokenRequests.slice(exchangesBefore).map((r) => [r.grantType, r.ok]),
      [['authorization_code', true]],
    );
  },
);

browserTest(
  'the session survives a reload of the tab; once the ID token expires (the provider gave no refresh token) the session ends and the site sees no account',
  async () => {
    const accounts = async () => {
      await page.reload();
      await page.locator('#connect:not([disabled])').waitFor();
      return ((await page.evaluate(() => (window as any).symbolon.request({ method: 'eth_accounts' }))) as string[]).map((a) => getAddress(a));
    };
    assert.deepEqual(await accounts(), [address]);
    // Make the stored ID token's expiry pass (the token itself is unchanged; the frame must not use it past exp).
    await walletFrame(page).evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('symbolon.session')!) as { expiresAt: number };
      s.expiresAt = Date.now() - 1000;
      sessionStorage.setItem('symbolon.session', JSON.stringify(s));
    });
    assert.deepEqual(await accounts(), []);
    assert.equal(await walletFrame(page).evaluate(() => sessionStorage.getItem('symbolon.session')), null, 'the ended session is gone from the frame');
  },
);

/** Waits for the frame's login error to match. */
async function expectShownError(page: Page, pattern: RegExp): Promise<void> {
  const error = walletFrame(page).locator('#login-error');
  const deadline = Date.now() + 10_000;
  while (!pattern.test((await error.textContent()) ?? '')) {
    if (Date.now() > deadline) assert.fail(`the frame's login error is "${await error.textContent()}", not ${pattern}`);
    await page.waitForTimeout(100);
  }
}

test('configuration: the served frame names the provider and its discovered endpoints, its CSP allows only that token endpoint, and the callback page cannot be framed', async () => {
  const config = (await (await fetch(`${server.endpoint}/frame/config.json`)).json()) as { loginProviders: Record<string, string>[] };
  assert.deepEqual(config.loginProviders, [
    {
      id: 'test-idp',
      name: 'Test IdP',
      issuer: idp.issuer,
      clientId: CLIENT_ID,
      scope: 'openid email',
      authorizationEndpoint: `${idp.issuer}/auth`,
      tokenEndpoint: `${idp.issuer}/token`,
    },
  ]);
  const page = await fetch(`${server.endpoint}/frame/`);
  assert.match(
    page.headers.get('content-security-policy') ?? '',
    new RegExp(`connect-src 'self' ${server.endpoint} http://127\\.0\\.0\\.1:8545 ${idp.issuer.replace(/\./g, '\\.')};`),
  );
  const callback = await fetch(`${server.endpoint}/frame/oidc-callback.html?code=c&state=s`);
  assert.equal(callback.status, 200);
  assert.match(callback.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.match(callback.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.equal(callback.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(callback.headers.get('cache-control'), 'no-store');
});

test('configuration: the server refuses to start with a frame provider that is not a trusted issuer, or whose clientId is not an accepted audience', () => {
  const provider = { id: 'corp', name: 'Corp', issuer: 'https://login.corp.example', clientId: 'wallet-frame' };
  const env = (issuers: unknown[], providers: unknown = [provider]) => ({
    SYMBOLON_OIDC_ISSUERS: JSON.stringify(issuers),
    SYMBOLON_FRAME_OIDC_PROVIDERS: JSON.stringify(providers),
  });
  assert.throws(() => configFromEnv(env([]), { port: '0' }), /provider corp \(issuer https:\/\/login\.corp\.example\) is not a trusted issuer/);
  assert.throws(
    () => configFromEnv(env([{ issuer: 'https://login.corp.example', audiences: ['api'] }]), { port: '0' }),
    /does not accept the audience wallet-frame/,
  );
  const ok = configFromEnv(env([{ issuer: 'https://login.corp.example', audiences: ['api', 'wallet-frame'] }]), { port: '0' });
  assert.deepEqual(ok.frame.oidcProviders, [{ ...provider, scope: 'openid email' }]);
  // A custodian-only process serves no frame: the check is not its business.
  assert.doesNotThrow(() => configFromEnv(env([]), { port: '0', role: 'kms' }));
  for (const [bad, why] of [
    ['{', /not valid JSON/],
    ['{}', /must be a JSON array/],
    [JSON.stringify([{ ...provider, id: 'Corp!' }]), /\.id must be/],
    [JSON.stringify([{ ...provider, name: '' }]), /\.name must be/],
    [JSON.stringify([{ ...provider, issuer: 'http://login.corp.example' }]), /https URL \(plain http only on loopback\)/],
    [JSON.stringify([{ ...provider, clientId: 'a b' }]), /\.clientId must be/],
    [JSON.stringify([{ ...provider, scope: 'email' }]), /\.scope must be space-separated scopes including openid/],
    [JSON.stringify([{ ...provider, clientSecret: 'x' }]), /unknown field clientSecret/],
    [JSON.stringify([provider, provider]), /id corp is used twice/],
  ] as const)
    assert.throws(() => parseFrameOidcProviders(bad), why, bad);
});

test("discovery: the provider's endpoints come from its own document; a document naming another issuer, or none at all, leaves the provider out and says why", async () => {
  const base = { id: 'test-idp', name: 'Test IdP', clientId: CLIENT_ID, scope: 'openid email' };
  assert.deepEqual(await discoverFrameProvider({ ...base, issuer: idp.issuer }, { timeoutMs: 5000 }), {
    ...base,
    issuer: idp.issuer,
    authorizationEndpoint: `${idp.issuer}/auth`,
    tokenEndpoint: `${idp.issuer}/token`,
  });
  // Same server, but the configured issuer has a trailing slash: the document names another issuer (OIDC Discovery §4.3).
  await assert.rejects(discoverFrameProvider({ ...base, issuer: `${idp.issuer}/` }, { timeoutMs: 5000 }), /names another issuer/);
  const errors: string[] = [];
  const directory = frameProviderDirectory({
    providers: [
      { ...base, id: 'gone', issuer: 'http://127.0.0.1:9' },
      { ...base, issuer: idp.issuer },
    ],
    onError: (p, e) => errors.push(`${p.id}: ${e.message}`),
  });
  assert.deepEqual(
    (await directory()).map((p) => p.id),
    ['test-idp'],
  );
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /^gone: the discovery document of login provider gone .* could not be read/);
});

test('the frame-side checks: callback messages are parsed strictly, PKCE is RFC 7636 S256, and an ID token with the wrong iss, aud, azp, nonce or exp is refused', async () => {
  // BASE64URL(SHA256(verifier)), against Node's own implementation (the provider checks it for real in the tests above).
  for (const verifier of ['a'.repeat(43), randomBytes(32).toString('base64url'), randomBytes(96).toString('base64url')]) {
    assert.equal(await pkceChallenge(verifier), createHash('sha256').update(verifier).digest('base64url'));
  }
  const good = { protocol: 'symbolon-oidc-callback/1', state: 's', code: 'c' };
  assert.deepEqual(parseCallbackMessage(good), good);
  for (const bad of [
    null,
    'x',
    [],
    { ...good, protocol: 'symbolon-frame/1' },
    { ...good, state: '' },
    { ...good, code: 7 },
    { ...good, extra: 1 },
    { protocol: good.protocol, state: 's' },
    { ...good, error: 'access_denied' },
  ]) {
    assert.equal(parseCallbackMessage(bad), undefined, JSON.stringify(bad));
  }
  assert.deepEqual(callbackFromQuery('?code=abc&state=xyz&iss=https%3A%2F%2Fidp'), {
    protocol: 'symbolon-oidc-callback/1',
    state: 'xyz',
    code: 'abc',
    iss: 'https://idp',
  });
  assert.equal(callbackFromQuery('?code=abc'), undefined);

  const now = Date.now();
  const jwt = (claims: Record<string, unknown>) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
  const claims = { iss: 'https://idp', aud: 'frame', sub: 'u1', nonce: 'n', exp: Math.floor(now / 1000) + 600, email: 'a@b.example' };
  const expect = { issuer: 'https://idp', clientId: 'frame', nonce: 'n', now };
  assert.deepEqual(checkIdToken(jwt(claims), expect), { exp: claims.exp, sub: 'u1', email: 'a@b.example' });
  assert.equal(checkIdToken(jwt({ ...claims, email_verified: false }), expect).email, undefined);
  assert.equal(checkIdToken(jwt({ ...claims, aud: ['frame', 'other'], azp: 'frame' }), expect).sub, 'u1');
  for (const [bad, claim] of [
    [{ ...claims, iss: 'https://other' }, 'issuer'],
    [{ ...claims, aud: 'other' }, 'audience'],
    [{ ...claims, aud: ['frame', 'other'] }, 'authorized party'],
    [{ ...claims, nonce: 'm' }, 'nonce'],
    [{ ...claims, nonce: undefined }, 'nonce'],
    [{ ...claims, exp: Math.floor(now / 1000) - 1 }, 'expiry'],
    [{ ...claims, sub: '' }, 'subject'],
  ] as const)
    assert.throws(() => checkIdToken(jwt(bad), expect), new RegExp(`wrong ${claim}`), JSON.stringify(bad));
  assert.throws(() => checkIdToken('not-a-jwt', expect), /malformed ID token/);
});
