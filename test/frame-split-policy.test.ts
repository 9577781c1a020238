/**
 * A split wallet's signing policy in the frame (issue #16; docs/frame.md,
 * docs/signing-policy.md "Split and envelope wallets"), in a real browser
 * (Debian's chromium through playwright-core): a real wallet service with
 * split custody and the signer forked by the server's own code, the example
 * DApp on another origin and Hardhat's EDR node, as in frame-split.test.ts.
 * A DApp connects (the first login creates the wallet); the owner saves a
 * policy on the wallet's home page (a share rotation sealing it into share
 * A); the DApp's next requests show the policy's decision on the approval
 * screen before Approve: "allowed by <Sid>", or "refused by <Sid>: …" with
 * Approve disabled. A DApp has no way to set the policy: the frame's DApp
 * protocol has no such method, and the signer answers CORS to the frame only.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { verifyTypedData, type Address, type Hex } from 'viem';
import { startSplitFrameStack, type SplitFrameStack } from './helpers/split-frame-stack.js';
import type { TestServer } from './helpers/server.js';
import { browserTest, browserSkip, type FrameDriver } from './helpers/frame-browser.js';
import type { ExampleDapp } from '../src/server/frame.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { findWalletByAddress } from '../src/storage/wallets.repository.js';

const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ac'.repeat(32)}`;
const EMAIL = `split-policy-frame-${Date.now()}@example.com`;

/** Orders on the example exchange only; messages explicitly refused. */
const POLICY = JSON.stringify(
  {
    Version: '2026-12-01',
    Statement: [
      { Sid: 'ExchangeOrders', Effect: 'Allow', Condition: { StringEquals: { 'eth:TypedDataDomainName': 'Example Exchange' } } },
      { Sid: 'NoMessages', Effect: 'Deny', Condition: { StringEquals: { 'eth:PayloadType': 'message' } } },
    ],
  },
  null,
  2,
);

let server: TestServer;
let signer: SignerProcess;
let dapp: ExampleDapp;
let context: BrowserContext;
let driver: FrameDriver;
let page: Page;
let address: Address;

let stack: SplitFrameStack | undefined;

before(async () => {
  stack = await startSplitFrameStack({ chain: { chainId: CHAIN_ID, funderKey: FUNDER_KEY } });
  ({ server, signer } = stack);
  dapp = stack.dapp!;
  if (browserSkip) return;
  [context, driver] = [stack.context!, stack.driver!];
});

after(async () => {
  await stack?.close();
});

browserTest('a DApp connects; the owner saves a signing policy on the home page, sealed into the next share generation', async () => {
  page = await driver.openDapp(dapp.origin);
  address = await driver.connect(page, EMAIL);

  const home = await context.newPage();
  try {
    await driver.loginHome(home, EMAIL);
    assert.equal(await home.locator('#home-policy-box').isVisible(), true);
    assert.equal(await home.locator('#home-policy').inputValue(), '', 'no policy yet');
    // Not JSON a policy can be: refused, nothing stored.
    await home.locator('#home-policy').fill('{"Version":"2026-12-01","Statement":[]}');
    await home.locator('#home-policy-save').click();
    await home.locator('#home-error', { hasText: /signing policy is invalid/i }).waitFor({ timeout: 30_000 });
    const db = server.custodian.deps.store.db;
    assert.equal((await findWalletByAddress(db, address))?.signingPolicy, null);

    await home.locator('#home-policy').fill(POLICY);
    await home.locator('#home-policy-save').click();
    await home.locator('#home-policy-status', { hasText: 'Signing policy saved' }).waitFor({ timeout: 30_000 });
    const stored = await findWalletByAddress(db, address);
    assert.equal(stored?.signingPolicy, POLICY);
    assert.equal(stored?.shareGeneration, 1);
  } finally {
    await home.close();
  }
});

browserTest('the approval screen says "refused by <Sid>" and keeps Approve disabled; nothing is signed', async () => {
  const pending = page.evaluate(async (account) => {
    try {
      await (window as any).symbolon.request({ method: 'personal_sign', params: ['0x6869', account] });
      return { code: 0 };
    } catch (e) {
      return { code: (e as { code: number }).code };
    }
  }, address);
  const frame = driver.walletFrame(page);
  await driver.expectShown(page, frame.locator('#prompt-policy', { hasText: 'refused by NoMessages' }));
  assert.match(await frame.locator('#prompt-policy').innerText(), /Signing policy: refused by NoMessages: Refused by signing policy statement NoMessages/);
  assert.equal(await frame.locator('#approve').isDisabled(), true);
  assert.match(await frame.locator('#prompt-guard').innerText(), /refuses this request/);
  // Approve cannot be clicked (disabled): the user can only reject.
  await frame.locator('#reject').click();
  assert.deepEqual(await pending, { code: 4001 });
});

browserTest('the approval screen says "allowed by <Sid>"; Approve signs, and the signature verifies', async () => {
  await page.locator('#sign-typed').click();
  await driver.answerPrompt(page, { title: 'Sign typed data', shows: ['Signing policy: allowed by ExchangeOrders.', 'Example Exchange'] }, 'approve');
  await driver.expectShown(page, page.locator('#typed-signature', { hasText: /^0x[0-9a-f]{130}$/ }));
  const signature = (await page.locator('#typed-signature').textContent()) as Hex;
  const valid = await verifyTypedData({
    address,
    domain: { name: 'Example Exchange', version: '1', chainId: CHAIN_ID, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
    types: {
      Order: [
        { name: 'maker', type: 'address' },
        { name: 'sell', type: 'string' },
        { name: 'amount', type: 'uint256' },
        { name: 'expiry', type: 'uint64' },
      ],
    },
    primaryType: 'Order',
    message: { maker: address, sell: 'ETH', amount: 10n ** 15n, expiry: 1_900_000_000n },
    signature,
  });
  assert.equal(valid, true);
});

browserTest('a DApp cannot set the policy: no frame method for it, and the signer refuses its origin', async () => {
  const result = await page.evaluate(async () => {
    try {
      await (window as any).symbolon.request({ method: 'wallet_setSigningPolicy', params: ['{}'] });
      return { code: 0 };
    } catch (e) {
      return { code: (e as { code: number }).code };
    }
  });
  assert.notEqual(result.code, 0);
  const preflight = await fetch(`${signer.url}/v1/rotate`, {
    method: 'OPTIONS',
    headers: { origin: dapp.origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
  assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  assert.equal((await findWalletByAddress(server.custodian.deps.store.db, address))?.signingPolicy, POLICY);
});
