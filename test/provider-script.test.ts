/**
 * The provider script (src/server/provider-script.ts, web/provider/main.ts):
 * a plain HTML page on another origin with one `<script src=…/sdk/provider-<version>.js
 * integrity=…>` tag and a third-party EIP-6963 discovery library (mipd, from
 * the npm registry, served to the page as published) finds the wallet,
 * connects, signs a message and sends a transaction on a local chain
 * (Hardhat's EDR node), in Chromium. No bundler, no code of ours on the page.
 *
 * The routes (manifest, SRI hash, caching, CORS) are checked over HTTP
 * without a browser. Without Chromium or the npm registry the browser test is
 * skipped, saying why, unless SYMBOLON_REQUIRE_BROWSER=1 (CI): then it fails.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import type { BrowserContext } from 'playwright-core';
import { createPublicClient, getAddress, http, parseEther, verifyMessage, type Address, type Hex } from 'viem';
import { JsonRpcProvider, Wallet } from 'ethers';
import { startTestServer, type TestServer } from './helpers/server.js';
import { startHardhatNode, type LocalChain } from './helpers/chain.js';
import { BROWSER_MISSING } from './helpers/browser-test.js';
import { FrameDriver, launchChromium } from './helpers/frame-browser.js';

const run = promisify(execFile);
const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ac'.repeat(32)}`;
const MIPD = '0.0.7';
const REQUIRED = process.env.SYMBOLON_REQUIRE_BROWSER === '1';
const NETWORK_ERROR = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH/;
const VERSION = (JSON.parse(readFileSync('packages/sdk/package.json', 'utf8')) as { version: string }).version;

interface Manifest {
  version: string;
  url: string;
  integrity: string;
  scriptTag: string;
}

let server: TestServer;
let node: LocalChain;
let page: { origin: string; server: Server };
let work = '';
let manifest: Manifest;

/**
 * The DApp: a plain page. Its only code of ours is the script tag; the rest is
 * mipd and EIP-1193 calls on whatever provider mipd found for rdns
 * org.symbolon.wallet.
 */
function html(options: { integrity: string; windowEthereum?: boolean }): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Plain page</title>
<script src="${manifest.url}" integrity="${options.integrity}" crossorigin="anonymous" data-chain-id="${CHAIN_ID}"
  data-rpc-url="${node.url}" data-chain-name="Local chain (Hardhat)"${options.windowEthereum ? ' data-window-ethereum' : ''}
  onerror="document.title = 'script blocked'"></script>
</head><body>
<p>Wallets: <span id="wallets"></span></p>
<button id="connect" disabled>Connect</button> <code id="address">not connected</code>
<button id="sign">Sign</button> <code id="signature"></code>
<button id="send">Send 0.01 ETH</button> <code id="tx"></code>
<p id="error"></p>
<script type="module">
import { createStore } from '/mipd/dist/esm/index.js';
const $ = (id) => document.getElementById(id);
const fail = (e) => { $('error').textContent = e.message ?? String(e); };
let wallet;
let account;
const store = createStore();
const found = () => {
  $('wallets').textContent = store.getProviders().map((d) => d.info.name + ' (' + d.info.rdns + ')').join(', ');
  const detail = store.findProvider({ rdns: 'org.symbolon.wallet' });
  if (detail && !wallet) { wallet = detail.provider; $('connect').disabled = false; }
};
store.subscribe(found);
found();
$('connect').onclick = () => wallet.request({ method: 'eth_requestAccounts' }).then(([a]) => { account = a; $('address').textContent = a; }, fail);
const hex = (text) => '0x' + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, '0')).join('');
$('sign').onclick = () => wallet.request({ method: 'personal_sign', params: [hex('signed on a plain page'), account] }).then((s) => { $('signature').textContent = s; }, fail);
$('send').onclick = () => wallet
  .request({ method: 'eth_sendTransaction', params: [{ from: account, to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', value: '0x2386f26fc10000' }] })
  .then((h) => { $('tx').textContent = h; }, fail);
</script>
</body></html>
`;
}

/** The page's origin: '/' is the page, '/ethereum' the page asking for window.ethereum, '/tampered' one whose SRI hash is wrong; /mipd/ the installed package. */
async function startPage(): Promise<{ origin: string; server: Server }> {
  const http = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/' || path === '/ethereum' || path === '/tampered') {
      const integrity = path === '/tampered' ? `sha384-${createHash('sha384').update('something else').digest('base64')}` : manifest.integrity;
      return void res.writeHead(200, { 'content-type': 'text/html' }).end(html({ integrity, windowEthereum: path === '/ethereum' }));
    }
    if (path.startsWith('/mipd/')) {
      const file = normalize(join(work, 'node_modules', 'mipd', path.slice('/mipd/'.length)));
      if (file.startsWith(join(work, 'node_modules', 'mipd')) && extname(file) === '.js') {
        try {
          return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
        } catch {}
      }
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(http.address() as { port: number }).port}`, server: http };
}

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
  node = await startHardhatNode(FUNDER_KEY, CHAIN_ID);
  page = await startPage();
  server = await startTestServer({
    env: {
      SYMBOLON_BUILTIN_ISSUER: '1',
      SYMBOLON_DEV_MAILBOX: '1',
      SYMBOLON_FRAME_ALLOWED_ORIGINS: page.origin,
      SYMBOLON_DAPP_PORT: 'off',
      SYMBOLON_CHAIN_RPC_URL: node.url,
    },
  });
  manifest = (await (await fetch(`${server.endpoint}/sdk/provider.json`)).json()) as Manifest;
});

after(async () => {
  await server?.close();
  await node?.close();
  if (page) await new Promise((resolve) => page.server.close(resolve));
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the wallet serves its provider script, versioned and immutable, with its SRI hash in a manifest', async () => {
  assert.equal(manifest.version, VERSION);
  assert.equal(manifest.url, `${server.endpoint}/sdk/provider-${VERSION}.js`);
  const versioned = await fetch(manifest.url);
  assert.equal(versioned.status, 200);
  const body = new Uint8Array(await versioned.arrayBuffer());
  // The hash is the file's (the browser checks the same), and it is the file web/dist holds.
  assert.equal(manifest.integrity, `sha384-${createHash('sha384').update(body).digest('base64')}`);
  assert.deepEqual(body, new Uint8Array(readFileSync('web/dist/sdk/provider.js')));
  assert.equal(versioned.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(versioned.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  // Loaded cross-origin with crossorigin="anonymous" (SRI needs CORS).
  assert.equal(versioned.headers.get('access-control-allow-origin'), '*');
  assert.equal(versioned.headers.get('cross-origin-resource-policy'), 'cross-origin');
  assert.ok(manifest.scriptTag.includes(`integrity="${manifest.integrity}"`) && manifest.scriptTag.includes('crossorigin="anonymous"'));

  const latest = await fetch(`${server.endpoint}/sdk/provider.js`);
  assert.deepEqual(new Uint8Array(await latest.arrayBuffer()), body);
  assert.equal(latest.headers.get('cache-control'), 'public, max-age=300');
  assert.equal((await fetch(`${server.endpoint}/sdk/provider.js.map`)).status, 200);

  const other = await fetch(`${server.endpoint}/sdk/provider-0.0.1.js`);
  assert.equal(other.status, 404);
  assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'version_not_served');
  const nothing = await fetch(`${server.endpoint}/sdk/index.html`);
  assert.equal(nothing.status, 404);
  assert.equal(((await nothing.json()) as { error: { code: string } }).error.code, 'not_found');
});

test('a plain page with the script tag and mipd finds the wallet, connects, signs and sends on the local chain (Chromium)', async (t) => {
  if (BROWSER_MISSING) {
    if (REQUIRED) assert.fail(`${BROWSER_MISSING} (SYMBOLON_REQUIRE_BROWSER=1: the browser tests must run)`);
    return void t.skip(`${BROWSER_MISSING} — browser test skipped`);
  }
  // mipd as a page gets it from the registry: installed into a fresh directory outside the repository, served as published.
  work = mkdtempSync(join(tmpdir(), 'symbolon-mipd-'));
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'plain-page', private: true }));
  try {
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--save-exact', `mipd@${MIPD}`], { cwd: work });
  } catch (e) {
    const message = String((e as { stderr?: string }).stderr || (e as Error).message);
    if (REQUIRED || !NETWORK_ERROR.test(message)) throw e;
    return void t.skip(
      `the npm registry is unreachable (${message
        .split('\n')
        .find((l) => NETWORK_ERROR.test(l))
        ?.trim()}) — browser test skipped`,
    );
  }

  const userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await launchChromium(userDataDir);
    const driver = new FrameDriver(context, `${server.endpoint}/frame/`, server.endpoint);

    // A wrong SRI hash: the browser refuses the script, nothing is announced.
    const tampered = await context.newPage();
    await tampered.goto(`${page.origin}/tampered`);
    await tampered.waitForFunction(() => document.title === 'script blocked');
    assert.equal(await tampered.locator('#wallets').textContent(), '');
    await tampered.close();

    // The page that asks for window.ethereum gets it, besides the EIP-6963 announcement.
    const withEthereum = await context.newPage();
    await withEthereum.goto(`${page.origin}/ethereum`);
    await withEthereum.locator('#connect:not([disabled])').waitFor();
    assert.equal(await withEthereum.evaluate(() => typeof (window as unknown as { ethereum?: { request?: unknown } }).ethereum?.request), 'function');
    await withEthereum.close();

    const dapp = await driver.openDapp(page.origin);
    assert.equal(await dapp.locator('#wallets').textContent(), 'Symbolon (org.symbolon.wallet)');
    // Not asked for: the page's window.ethereum is left alone.
    assert.equal(await dapp.evaluate(() => 'ethereum' in window), false);
    const email = `script-tag-${Date.now()}@example.com`;
    const address = await driver.connect(dapp, email);
    assert.equal(address, (await driver.walletOfUser(email)).address);

    await dapp.locator('#sign').click();
    await driver.answerPrompt(dapp, { title: 'Sign a message', shows: ['signed on a plain page', page.origin] }, 'approve');
    await driver.expectShown(dapp, dapp.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }));
    const signature = (await dapp.locator('#signature').textContent()) as Hex;
    assert.ok(await verifyMessage({ address, message: 'signed on a plain page', signature }));

    const provider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true });
    await (await new Wallet(FUNDER_KEY, provider).sendTransaction({ to: address, value: parseEther('1') })).wait();
    provider.destroy();
    const to: Address = getAddress('0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
    await dapp.locator('#send').click();
    await driver.answerPrompt(dapp, { title: 'Send ETH', shows: [to, '0.01 ETH', `chain ${CHAIN_ID}`, page.origin] }, 'approve');
    await driver.expectShown(dapp, dapp.locator('#tx', { hasText: /^0x[0-9a-f]{64}$/ }));
    const chain = createPublicClient({ transport: http(node.url) });
    const receipt = await chain.waitForTransactionReceipt({ hash: (await dapp.locator('#tx').textContent()) as Hex });
    assert.equal(receipt.status, 'success');
    assert.equal(getAddress(receipt.from), address);
    assert.equal(receipt.to && getAddress(receipt.to), to);
  } finally {
    await context?.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
});
