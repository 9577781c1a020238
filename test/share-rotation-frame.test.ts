/**
 * Share rotation from the wallet's home page (issue #18, item 1; docs/signer.md
 * "Share rotation"), in a real browser (Debian's chromium through
 * playwright-core): a real wallet service with split custody
 * (SYMBOLON_FRAME_CUSTODY_MODE=split) and the signer forked by the server's
 * own code, as in frame-split.test.ts. The user logs in on /frame/, the
 * first login creates the split wallet, and Rotate key shares re-splits the
 * key in the signer: the same address, the next generation in the store, the
 * browser's requests going to the signer's /v1/rotate and the wallet API's
 * /v1/wallets/me/shares only; afterwards a device of the same user signs with
 * the new shares and the old share B no longer pairs.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { test, before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import type { BrowserContext, Request } from 'playwright-core';
import { getAddress, verifyMessage, type Hex } from 'viem';
import { startSplitFrameStack, type SplitFrameStack } from './helpers/split-frame-stack.js';
import { REGION, type TestServer } from './helpers/server.js';
import { browserSkip, type FrameDriver } from './helpers/frame-browser.js';
import { emailLogin } from './helpers/email-login.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { findWalletByAddress } from '../src/storage/wallets.repository.js';
import { SplitWalletClient } from '../packages/sdk/src/index.js';

const EMAIL = `rotate-frame-${Date.now()}@example.com`;

let server: TestServer;
let signer: SignerProcess;
let context: BrowserContext;
let driver: FrameDriver;
const seen: Array<{ url: string; method: string }> = [];

let stack: SplitFrameStack | undefined;

before(async () => {
  stack = await startSplitFrameStack();
  ({ server, signer } = stack);
  if (browserSkip) return;
  [context, driver] = [stack.context!, stack.driver!];
  context.on('request', (r: Request) => seen.push({ url: r.url(), method: r.method() }));
});

after(async () => {
  await stack?.close();
});

test('Rotate key shares on the home page: same address, next generation, and the new shares sign', async () => {
  const home = await context.newPage();
  try {
    await driver.loginHome(home, EMAIL);
    assert.equal(await home.locator('#home-mode').textContent(), 'split');
    const address = getAddress((await home.locator('#home-address').textContent())!);
    const db = server.custodian.deps.store.db;
    const before = await findWalletByAddress(db, address);
    assert.equal(before?.shareGeneration, 0);

    assert.equal(await home.locator('#home-rotate-box').isVisible(), true);
    const from = seen.length;
    await home.locator('#home-rotate').click();
    await home.locator('#home-rotate-status', { hasText: 'generation 1' }).waitFor({ timeout: 30_000 });
    assert.equal(await home.locator('#home-error').textContent(), '');
    assert.equal(getAddress((await home.locator('#home-address').textContent())!), address);
    const after = await findWalletByAddress(db, address);
    assert.equal(after?.shareGeneration, 1);
    assert.notDeepEqual(after?.shareBSealed, before?.shareBSealed);
    assert.notDeepEqual(after?.encryptedDataKey, before?.encryptedDataKey);
    const posts = seen.slice(from).filter((r) => r.method === 'POST');
    assert.ok(
      posts.some((r) => r.url === `${signer.url}/v1/rotate`),
      'the frame asked the signer to re-split',
    );
    assert.ok(
      posts.some((r) => r.url === `${server.endpoint}/v1/wallets/me/shares`),
      'and committed at the wallet API',
    );

    // Again: generation 2.
    await home.locator('#home-rotate').click();
    await home.locator('#home-rotate-status', { hasText: 'generation 2' }).waitFor({ timeout: 30_000 });
    assert.equal((await findWalletByAddress(db, address))?.shareGeneration, 2);

    // Another device of the same user signs with the new shares.
    const session = await emailLogin(`${server.endpoint}/oidc`, EMAIL);
    const device = new SplitWalletClient({
      walletUrl: server.endpoint,
      custodianUrl: server.endpoint,
      signerUrl: signer.url,
      region: REGION,
      roleArn: walletUsersRoleArn(server.custodian.accountId),
      token: session,
      kmsClientConfig: { maxAttempts: 1 },
    });
    try {
      const msg = await device.sign({ type: 'message', message: 'rotated in the browser' });
      assert.ok(msg.type === 'message' && (await verifyMessage({ address: address as Hex, message: 'rotated in the browser', signature: msg.signature })));
    } finally {
      device.destroy();
    }
  } finally {
    await home.close();
  }
});
