/**
 * Driving the wallet frame in a real Chromium (playwright-core) the way a user
 * does: open the example DApp, log in inside the frame with the email code
 * from the dev mailbox, answer the frame's prompts. Used by
 * test/frame.test.ts and test/frame-split.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type CDPSession, type Frame, type Locator, type Page } from 'playwright-core';
import { getAddress, type Address, type Hex } from 'viem';
import { spawnSync } from 'node:child_process';
import { startHardhatNode, type LocalChain } from './chain.js';
import { startExampleDapp, type ExampleDapp } from '../../src/server/frame.js';
import { findChromium } from './browser-test.js';
import { SKIP } from './browser-test.js';

/** SYMBOLON_CHROMIUM, else chromium on PATH (test/helpers/browser-test.ts skips the browser tests when there is none). */
export const CHROMIUM = findChromium() ?? process.env.SYMBOLON_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Why the browser tests are skipped here, or undefined to run them. Without
 * Chromium (a fresh clone on a machine without it) they are skipped, saying
 * so, and `npm test` still passes; CI installs Chromium and sets
 * SYMBOLON_REQUIRE_BROWSER=1 (.ci/run), so there a missing browser fails.
 */
export const browserSkip: string | undefined = SKIP;

/** A test that drives the browser: skipped (with the reason) when there is none. */
export function browserTest(name: string, fn: () => Promise<void>): void {
  test(name, browserSkip ? { skip: browserSkip } : {}, fn);
}

/**
 * Debian's chromium with the flags this sandbox needs, on a fresh user-data directory.
 * `thirdPartyStorage`: the profile allows third-party cookies and storage, as desktop Chrome does by
 * default (this headless build blocks them, and with them a cross-site frame's sessionStorage).
 */
export function launchChromium(userDataDir: string, options: { thirdPartyStorage?: boolean } = {}): Promise<BrowserContext> {
  if (options.thirdPartyStorage) {
    mkdirSync(join(userDataDir, 'Default'), { recursive: true });
    writeFileSync(join(userDataDir, 'Default', 'Preferences'), JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }));
  }
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-quic',
      '--disable-sync',
    ],
    viewport: { width: 1000, height: 760 },
  });
}

export class FrameDriver {
  constructor(
    readonly context: BrowserContext,
    /** The frame's URL (…/frame/). */
    readonly frameUrl: string,
    /** The wallet service (built-in issuer at /oidc, wallet API at /v1). */
    readonly walletUrl: string,
  ) {}

  /** The wallet frame inside a DApp page. */
  walletFrame(page: Page): Frame {
    const frame = page.frames().find((f) => f.url().startsWith(this.frameUrl));
    assert.ok(frame, 'the DApp page has the wallet frame');
    return frame;
  }

  /** Waits until `target` is visible; fails at once, saying what the user sees, when the DApp or the frame shows an error instead. */
  async expectShown(page: Page, target: Locator, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const dappError = page.locator('#error');
    for (;;) {
      if (await target.isVisible()) return;
      const frame = page.frames().find((f) => f.url().startsWith(this.frameUrl));
      const errors = [
        (await dappError.textContent()) ?? '',
        frame
          ? ((await frame
              .locator('#login-error')
              .textContent()
              .catch(() => '')) ?? '')
          : '',
      ].filter((t) => t.trim() !== '');
      if (errors.length > 0) assert.fail(`waiting for ${target}, the page shows: ${errors.join(' / ')}`);
      if (Date.now() > deadline)
        assert.fail(
          `waiting for ${target}: not shown in ${timeoutMs} ms (frame: ${
            frame
              ? await frame
                  .locator('main')
                  .innerText()
                  .catch(() => '?')
              : 'none'
          })`,
        );
      await page.waitForTimeout(100);
    }
  }

  async latestCode(email: string): Promise<string> {
    const r = await fetch(`${this.walletUrl}/oidc/dev/mailbox?email=${encodeURIComponent(email)}`);
    const { messages } = (await r.json()) as { messages: { code: string }[] };
    assert.ok(messages[0], `a code was sent to ${email}`);
    return messages[0].code;
  }

  /** The wallet frame once the page has created and loaded it (the provider adds it on demand). */
  async waitForFrame(page: Page, timeoutMs = 15_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = page.frames().find((f) => f.url().startsWith(this.frameUrl));
      if (frame) return frame;
      if (Date.now() > deadline) assert.fail(`the DApp page has no wallet frame after ${timeoutMs} ms`);
      await page.waitForTimeout(50);
    }
  }

  /** Logs in inside the frame: email, then the code from the (dev) mailbox. */
  async logIn(page: Page, email: string): Promise<void> {
    const frame = await this.waitForFrame(page);
    await frame.locator('#email').fill(email);
    await frame.locator('#send-code').click();
    await frame.locator('#code').waitFor({ state: 'visible' });
    await frame.locator('#code').fill(await this.latestCode(email));
    await frame.locator('#verify').click();
  }

  /** Opens the wallet's home page (the frame's URL) in `page` and logs in there with the email code; resolves once the home page shows. */
  async loginHome(page: Page, email: string): Promise<void> {
    await page.goto(this.frameUrl);
    await page.locator('#email').waitFor();
    await page.locator('#email').fill(email);
    await page.locator('#send-code').click();
    await page.locator('#code').waitFor({ state: 'visible' });
    await page.locator('#code').fill(await this.latestCode(email));
    await page.locator('#verify').click();
    await page.locator('#home').waitFor({ timeout: 60_000 });
  }

  async openDapp(origin: string): Promise<Page> {
    const page = await this.context.newPage();
    if (process.env.SYMBOLON_FRAME_DEBUG) {
      page.on('console', (m) => console.log(`[${origin} console] ${m.text()}`));
      page.on('pageerror', (e) => console.log(`[${origin} error] ${e.message}`));
    }
    await page.goto(`${origin}/`);
    await page.locator('#connect:not([disabled])').waitFor();
    return page;
  }

  /** Connect, log in in the frame, approve the connection; returns the address the DApp shows. */
  async connect(page: Page, email: string): Promise<Address> {
    await page.locator('#connect').click();
    await this.logIn(page, email);
    const frame = this.walletFrame(page);
    await this.expectShown(page, frame.locator('#prompt-title', { hasText: 'Connect to this site?' }), 60_000);
    await frame.locator('#approve').click();
    await this.expectShown(page, page.locator('#address', { hasText: /^0x[0-9a-fA-F]{40}$/ }));
    return getAddress((await page.locator('#address').textContent())!);
  }

  /** Waits for the frame's prompt, checks what it shows, and answers it (`beforeAnswer`, e.g. a screenshot, runs just before the click). */
  async answerPrompt(
    page: Page,
    expect: { title: string; shows: (string | RegExp)[] },
    answer: 'approve' | 'reject',
    beforeAnswer?: (frame: Frame) => Promise<void>,
  ): Promise<void> {
    const frame = this.walletFrame(page);
    await this.expectShown(page, frame.locator('#prompt-title', { hasText: expect.title }));
    const text = (await frame.locator('#prompt').innerText()).replace(/\s+/g, ' ');
    try {
      for (const s of expect.shows) {
        if (typeof s === 'string') assert.ok(text.includes(s), `the prompt shows ${s}: ${text}`);
        else assert.match(text, s);
      }
    } catch (e) {
      // Leave no prompt open behind a failure: the next request would queue behind it.
      await frame.locator('#reject').click();
      throw e;
    }
    if (beforeAnswer) await beforeAnswer(frame);
    await frame.locator(answer === 'approve' ? '#approve' : '#reject').click();
  }

  /** Fresh tokens for `email` (the access token for the wallet API, the ID token for STS and the signer), logged in through the built-in issuer's API (not the browser). */
  async tokensOf(email: string): Promise<{ accessToken: string; idToken: string }> {
    await fetch(`${this.walletUrl}/oidc/email/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) });
    const code = await this.latestCode(email);
    const r = await fetch(`${this.walletUrl}/oidc/email/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, code }),
    });
    const t = (await r.json()) as { access_token: string; id_token: string };
    return { accessToken: t.access_token, idToken: t.id_token };
  }

  /** A fresh access token for `email` (tokensOf). */
  async tokenOf(email: string): Promise<string> {
    return (await this.tokensOf(email)).accessToken;
  }

  /** The user's wallet as the wallet service reports it, through the API with the user's own token. */
  async walletOfUser(email: string): Promise<{ address: Address; custodyMode: string }> {
    const r = await fetch(`${this.walletUrl}/v1/wallets/me`, { headers: { authorization: `Bearer ${await this.tokenOf(email)}` } });
    assert.equal(r.status, 200);
    const w = (await r.json()) as { address: string; custodyMode: string };
    return { address: getAddress(w.address), custodyMode: w.custodyMode };
  }
}

/** A virtual authenticator (CTAP2, internal, resident keys, UV) on `page` through the DevTools WebAuthn domain; it serves every frame of that page. */
export async function virtualAuthenticator(
  context: BrowserContext,
  page: Page,
  options: { hasPrf?: boolean } = {},
): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      // The WebAuthn PRF extension (CTAP2 hmac-secret), when asked for.
      ...(options.hasPrf !== undefined ? { hasPrf: options.hasPrf } : {}),
    },
  });
  return { cdp, authenticatorId };
}

/** personal_sign of `text` from a DApp page through the frame's provider: the signature, or the provider error's code and message. */
export function dappPersonalSign(page: Page, account: Address, text: string): Promise<{ signature?: Hex; code?: number; message?: string }> {
  const hex = `0x${Buffer.from(text, 'utf8').toString('hex')}`;
  return page.evaluate(
    async ({ account, data }) => {
      try {
        return { signature: (await (window as any).symbolon.request({ method: 'personal_sign', params: [data, account] })) as `0x${string}` };
      } catch (e) {
        return { code: (e as { code: number }).code, message: (e as Error).message };
      }
    },
    { account, data: hex },
  );
}

/**
 * What the frame's step-up tests start before their wallet server: the frame built (`npm run build:web`), a local
 * chain, and the example DApp on another origin of the wallet's own site (localhost): this browser keeps
 * third-party storage from a frame of another site (launchChromium's `thirdPartyStorage` says more).
 */
export async function startSameSiteDapp(frameUrl: () => string, chainId: number, funderKey: string): Promise<{ node: LocalChain; dapp: ExampleDapp }> {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
  const node = await startHardhatNode(funderKey, chainId);
  const dapp = await startExampleDapp({
    host: 'localhost',
    port: 0,
    frameUrl,
    chains: [{ chainId, name: 'Local chain (Hardhat)', rpcUrl: node.url }],
  });
  return { node, dapp };
}
