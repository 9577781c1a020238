/**
 * The device share in the wallet frame (issue #18, item 3; docs/frame.md,
 * "The device share"), in a real browser (Debian's chromium through
 * playwright-core): a real wallet service with split custody, the signer
 * forked by the server's own code, the example DApp on another origin. On
 * the first profile the owner adds the device as a factor on the wallet page
 * (the warning acknowledged, the recovery code shown once) and a DApp's
 * personal_sign is signed with the three shares. Then the profile is gone: a
 * fresh profile logs in, cannot sign, recovers with the code, and signs with
 * the same address; the first profile's share C no longer signs. Every
 * request of both browsers is captured: no share C crosses the wire in
 * plaintext except to the signer, and the key never does.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { test, before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { getAddress, verifyMessage, type Address, type Hex } from 'viem';
import type { TestServer } from './helpers/server.js';
import { startSplitFrameServer } from './helpers/split-world.js';
import { FrameDriver, launchChromium } from './helpers/frame-browser.js';
import { startExampleDapp, type ExampleDapp } from '../src/server/frame.js';
import type { SignerProcess } from '../src/signer/platform.js';

const EMAIL = `device-share-${Date.now()}@example.com`;
const CHAIN_ID = 31337;

interface Seen {
  url: string;
  method: string;
  body: Buffer;
}

let server: TestServer;
let signer: SignerProcess;
let dapp: ExampleDapp;
const profiles: Array<{ context: BrowserContext; dir: string }> = [];
let frameUrl = '';
const seen: Seen[] = [];

async function profile(): Promise<{ context: BrowserContext; driver: FrameDriver }> {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  const context = await launchChromium(dir);
  profiles.push({ context, dir });
  context.on('request', (r: Request) => seen.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
  return { context, driver: new FrameDriver(context, frameUrl, server.endpoint) };
}

async function homeLogin(context: BrowserContext, driver: FrameDriver): Promise<Page> {
  const home = await context.newPage();
  await driver.loginHome(home, EMAIL);
  await home.locator('#home-device-box').waitFor({ state: 'visible', timeout: 30_000 });
  return home;
}

/** personal_sign from the DApp, approved in the frame; the signature the DApp shows. */
async function dappSign(page: Page, driver: FrameDriver, message: string): Promise<Hex> {
  await page.locator('#message').fill(message);
  await page.locator('#sign').click();
  await driver.answerPrompt(page, { title: 'Sign a message', shows: [message] }, 'approve');
  await driver.expectShown(page, page.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }), 60_000);
  return (await page.locator('#signature').textContent()) as Hex;
}

function signerShareCs(): string[] {
  return seen
    .filter((r) => r.method === 'POST' && r.url.startsWith(`${signer.url}/v1/`))
    .map((r) => (JSON.parse(r.body.toString('utf8') || '{}') as { shareC?: string }).shareC)
    .filter((c): c is string => typeof c === 'string');
}

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
  dapp = await startExampleDapp({
    host: '127.0.0.1',
    port: 0,
    frameUrl: () => frameUrl,
    // personal_sign needs no chain; the DApp's configuration wants one.
    chains: [{ chainId: CHAIN_ID, name: 'Local chain (unused)', rpcUrl: 'http://127.0.0.1:9' }],
  });
  ({ server, signer } = await startSplitFrameServer({ SYMBOLON_FRAME_ALLOWED_ORIGINS: dapp.origin }));
  frameUrl = `${server.endpoint}/frame/`;
});

after(async () => {
  for (const p of profiles) {
    await p.context.close();
    rmSync(p.dir, { recursive: true, force: true });
  }
  await signer?.stop();
  await dapp?.close();
  await server?.close();
});

test('add the device share, sign; lose the profile, recover with the code, sign with the same address; the old share C is dead', async () => {
  // The first device: the wallet is created, then the device added as a factor.
  const first = await profile();
  const home = await homeLogin(first.context, first.driver);
  const address = getAddress((await home.locator('#home-address').textContent())!) as Address;
  assert.match((await home.locator('#home-device-state').textContent()) ?? '', /two shares/);
  assert.equal(await home.locator('#home-device-add').isDisabled(), true, 'the warning comes first');
  assert.match((await home.locator('#home-device-add-box').innerText()) ?? '', /lost for good/);
  await home.locator('#home-device-ack').check();
  await home.locator('#home-device-add').click();
  await home.locator('#home-device-code', { hasText: /^([A-Z2-7]{4}-){6}[A-Z2-7]{2}$/ }).waitFor({ timeout: 60_000 });
  const code = (await home.locator('#home-device-code').textContent())!;
  assert.equal(await home.locator('#home-error').textContent(), '');
  assert.match((await home.locator('#home-device-state').textContent()) ?? '', /has a device share/);
  const wallet = (await (
    await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${await first.driver.tokenOf(EMAIL)}` } })
  ).json()) as {
    split: { factor?: string };
  };
  assert.equal(wallet.split.factor, 'device');

  const page = await first.driver.openDapp(dapp.origin);
  assert.equal(await first.driver.connect(page, EMAIL), address);
  const signed = await dappSign(page, first.driver, 'signed with three shares');
  assert.ok(await verifyMessage({ address, message: 'signed with three shares', signature: signed }));
  const oldShareCs = signerShareCs();
  assert.ok(oldShareCs.length > 0, 'the frame sent share C to the signer');
  const oldShareC = oldShareCs.at(-1)!;

  // The device is lost: a fresh profile logs in; it has no device key and cannot sign.
  const second = await profile();
  const newHome = await homeLogin(second.context, second.driver);
  assert.equal(getAddress((await newHome.locator('#home-address').textContent())!), address);
  await newHome.locator('#home-device-recover-code').fill('AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AA');
  await newHome.locator('#home-device-recover').click();
  await newHome.locator('#home-error', { hasText: /recovery code does not open/ }).waitFor({ timeout: 30_000 });
  await newHome.locator('#home-device-recover-code').fill(code.toLowerCase());
  await newHome.locator('#home-device-recover').click();
  await newHome.locator('#home-device-status', { hasText: /old device and the old code no longer work/ }).waitFor({ timeout: 60_000 });
  const newCode = (await newHome.locator('#home-device-code').textContent())!;
  assert.match(newCode, /^([A-Z2-7]{4}-){6}[A-Z2-7]{2}$/);
  assert.notEqual(newCode, code);

  const newPage = await second.driver.openDapp(dapp.origin);
  assert.equal(await second.driver.connect(newPage, EMAIL), address);
  const again = await dappSign(newPage, second.driver, 'signed after recovery');
  assert.ok(await verifyMessage({ address, message: 'signed after recovery', signature: again }));

  // The old profile's share C, with the shares now stored, signs nothing.
  const { idToken, accessToken } = await second.driver.tokensOf(EMAIL);
  const now = (await (await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${accessToken}` } })).json()) as {
    split: { shareACiphertext: string; shareB: string; kmsKeyId: string; generation: number };
  };
  const stale = await fetch(`${signer.url}/v1/sign`, {
    method: 'POST',
    headers: { authorization: `Bearer ${idToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      payload: { type: 'message', message: 'old device' },
      address,
      shareACiphertext: now.split.shareACiphertext,
      shareB: now.split.shareB,
      keyId: now.split.kmsKeyId,
      generation: now.split.generation,
      shareC: oldShareC,
    }),
  });
  assert.equal(stale.status, 422);
  assert.equal(((await stale.json()) as { error: { code: string } }).error.code, 'share_mismatch');

  // The key: share A as the frame gave it to the custodian's Encrypt at creation, XOR share B as it uploaded it.
  const encrypt = seen.find((r) => r.method === 'POST' && r.url === `${server.endpoint}/` && r.body.toString('utf8').includes('"Plaintext"'));
  const create = seen.find((r) => r.method === 'POST' && r.url === `${server.endpoint}/v1/wallets`);
  assert.ok(encrypt && create, 'the creation was captured');
  const shareA = Buffer.from((JSON.parse(encrypt.body.toString('utf8')) as { Plaintext: string }).Plaintext, 'base64');
  const shareB0 = Buffer.from((JSON.parse(create.body.toString('utf8')) as { shareB: string }).shareB, 'base64');
  const key = Buffer.from(shareA.map((a, i) => a ^ shareB0[i]!));
  for (const r of seen) {
    const text = r.body.toString('latin1') + r.url;
    for (const e of [key.toString('hex'), key.toString('base64'), key.toString('base64url')])
      assert.ok(!text.toLowerCase().includes(e.toLowerCase()) && !r.body.includes(key), `the key in a request to ${r.url}`);
  }

  // The wire: share C only ever goes to the signer; neither share C nor the wrapped blobs' contents elsewhere in plaintext.
  const shareCs = new Set(signerShareCs());
  assert.ok(shareCs.size >= 2, 'both devices sent their share C to the signer');
  for (const r of seen) {
    if (r.url.startsWith(`${signer.url}/`)) continue;
    const text = r.body.toString('latin1') + r.url;
    for (const c of shareCs) {
      const hex = Buffer.from(c, 'base64').toString('hex');
      assert.ok(!text.includes(c) && !text.toLowerCase().includes(hex), `share C in a request to ${r.url}`);
    }
  }
  // The recovery code never leaves the browser.
  for (const r of seen) {
    const text = r.body.toString('utf8') + r.url;
    for (const c of [code, newCode]) assert.ok(!text.includes(c) && !text.includes(c.replaceAll('-', '')), `a recovery code in a request to ${r.url}`);
  }
});
