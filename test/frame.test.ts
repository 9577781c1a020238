/**
 * The wallet frame in a real browser (Debian's chromium through
 * playwright-core): a real wallet service (built-in issuer, wallet API,
 * custodian) serving /frame/, the example DApp on two other origins (two
 * ports) and one origin the frame does not allow, and Hardhat's EDR node as
 * the chain. The test plays the user: it types the email and the code from
 * the dev mailbox, and clicks Approve or Reject inside the frame; everything
 * the DApp gets, it gets through the EIP-1193 provider.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { test, before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Frame, Locator, Page } from 'playwright-core';
import { browserSkip, browserTest, FrameDriver, launchChromium } from './helpers/frame-browser.js';
import {
  createPublicClient,
  formatEther,
  getAddress,
  http,
  keccak256,
  parseEther,
  parseTransaction,
  recoverTransactionAddress,
  verifyMessage,
  type Address,
  type Hex,
} from 'viem';
import { Wallet, JsonRpcProvider, verifyTypedData } from 'ethers';
import { sql } from 'kysely';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, ADMIN, type TestServer } from './helpers/server.js';
import { startHardhatNode as startChain, type LocalChain } from './helpers/chain.js';
import { configFromEnv } from '../src/config.js';
import { startExampleDapp, type ExampleDapp } from '../src/server/frame.js';
import { parseDappMessage } from '../packages/sdk/src/browser/protocol.js';
import { fillTransaction } from '../packages/sdk/src/browser/fillTransaction.js';
import { personalSignParams, transactionParams, typedDataParams } from '../web/frame/requests.js';
import { describeMessage, describeTransaction } from '../web/frame/decode.js';
import { describeTypedData, permitKind, tokenAddresses } from '../web/frame/typed-data-view.js';
import { knownToken } from '../web/frame/tokens.js';
import { oneLine } from '../web/frame/pages-api.js';

const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ac'.repeat(32)}`;
const SCREENSHOTS = process.env.SYMBOLON_SCREENSHOTS_DIR;

type Node = LocalChain;
const startHardhatNode = () => startChain(FUNDER_KEY, CHAIN_ID);

let server: TestServer;
let node: Node;
let dappA: ExampleDapp;
let dappB: ExampleDapp;
let unlisted: ExampleDapp;
let context: BrowserContext;
let userDataDir: string;
let frameUrl = '';
const EMAIL = `frame-user-${Date.now()}@example.com`;

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
  node = await startHardhatNode();
  const chains = [{ chainId: CHAIN_ID, name: 'Local chain (Hardhat)', rpcUrl: node.url }];
  const dapp = (readyTimeoutMs?: number) =>
    startExampleDapp({ host: '127.0.0.1', port: 0, frameUrl: () => frameUrl, chains, ...(readyTimeoutMs ? { readyTimeoutMs } : {}) });
  [dappA, dappB, unlisted] = await Promise.all([dapp(), dapp(), dapp(3000)]);
  server = await startTestServer({
    env: {
      SYMBOLON_BUILTIN_ISSUER: '1',
      SYMBOLON_DEV_MAILBOX: '1',
      SYMBOLON_FRAME_ALLOWED_ORIGINS: `${dappA.origin},${dappB.origin}`,
      SYMBOLON_DAPP_PORT: 'off',
      SYMBOLON_CHAIN_RPC_URL: node.url,
    },
  });
  frameUrl = `${server.endpoint}/frame/`;
  if (browserSkip) return;
  userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  context = await launchChromium(userDataDir);
  driver = new FrameDriver(context, frameUrl, server.endpoint);
});

/** A fresh access token for `email` from the built-in issuer's API (no browser needed). */
const apiToken = (email: string): Promise<string> => new FrameDriver(context, frameUrl, server.endpoint).tokenOf(email);

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await Promise.all([dappA?.close(), dappB?.close(), unlisted?.close()]);
  await server?.close();
  await node?.close();
});

// The user's actions in the browser, shared with the other frame tests (test/helpers/frame-browser.ts).
let driver: FrameDriver;
const walletFrame = (page: Page): Frame => driver.walletFrame(page);
const expectShown = (page: Page, target: Locator, timeoutMs?: number): Promise<void> => driver.expectShown(page, target, timeoutMs);
const latestCode = (email: string): Promise<string> => driver.latestCode(email);
const logInInFrame = (page: Page, email: string): Promise<void> => driver.logIn(page, email);
const openDapp = (origin: string): Promise<Page> => driver.openDapp(origin);
const connect = (page: Page, email: string): Promise<Address> => driver.connect(page, email);
const walletOfUser = (email: string): Promise<{ address: Address; custodyMode: string }> => driver.walletOfUser(email);

let pageA: Page;
let address: Address;
/** The transaction the DApp sent (the home page lists it). */
let sentHash: Hex | undefined;

browserTest('a DApp on another origin connects and gets the address the wallet service reports for the user', async () => {
  pageA = await openDapp(dappA.origin);
  address = await connect(pageA, EMAIL);
  const reported = await walletOfUser(EMAIL);
  assert.equal(address, reported.address);
  assert.equal(reported.custodyMode, 'envelope');
  // The provider answers eth_accounts from the connection, without asking again.
  const accounts = (await pageA.evaluate(() => (window as any).symbolon.request({ method: 'eth_accounts' }))) as string[];
  assert.deepEqual(
    accounts.map((a) => getAddress(a)),
    [address],
  );
  // The page shows it is connected: no "Connect wallet" any more, a Disconnect instead.
  assert.equal(await pageA.locator('#connection').textContent(), 'Connected');
  assert.equal(await pageA.locator('#connect').isVisible(), false);
  assert.equal(await pageA.locator('#disconnect').isVisible(), true);
});

/** With SYMBOLON_SCREENSHOTS_DIR set (docs/images), saves what the user sees for the docs. */
async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name), fullPage });
}

/** Waits for the frame's prompt, checks what it shows, and answers it; with `shot`, saves the prompt as the user sees it first. */
function answerPrompt(page: Page, expect: { title: string; shows: (string | RegExp)[] }, answer: 'approve' | 'reject', shot?: string): Promise<void> {
  return driver.answerPrompt(
    page,
    expect,
    answer,
    shot
      ? async (frame) => {
          await frame.locator('#approve:not([disabled])').waitFor();
          await screenshot(page, shot);
        }
      : undefined,
  );
}

browserTest('personal_sign: the frame shows the message and the site; after Approve the signature verifies for the address', async () => {
  const message = `Sign in to the example DApp at ${Date.now()}`;
  await pageA.locator('#message').fill(message);
  await pageA.locator('#sign').click();
  await answerPrompt(pageA, { title: 'Sign a message', shows: [message, dappA.origin, address, `chain ${CHAIN_ID}`] }, 'approve', 'frame-approval.png');
  await expectShown(pageA, pageA.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }));
  const signature = (await pageA.locator('#signature').textContent()) as Hex;
  assert.equal(await verifyMessage({ address, message, signature }), true);
  assert.equal(getAddress((await pageA.locator('#recovered').textContent())!), address);
});

browserTest('eth_signTypedData_v4: the frame shows the domain and the message; the signature verifies with ethers', async () => {
  await pageA.locator('#sign-typed').click();
  await driver.answerPrompt(
    pageA,
    {
      title: 'Sign typed data',
      shows: [
        /Primary type Order Domain Example Exchange Chain Local chain \(Hardhat\) \(chain 31337\) Verifying contract 0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC/,
        /amount 0\.001 ETH/,
        /sell ETH/,
        /expiry 2030-03-17T17:46:40Z \(1900000000\)/,
      ],
    },
    'approve',
    async (frame) => {
      // The domain and the primary type come first; the raw JSON is there, collapsed until opened.
      assert.deepEqual((await frame.locator('#prompt-fields dt').allInnerTexts()).slice(0, 4), ['Primary type', 'Domain', 'Chain', 'Verifying contract']);
      assert.equal(await frame.locator('#prompt-raw-text').isVisible(), false);
      assert.doesNotMatch((await frame.locator('#prompt').innerText()).replace(/\s+/g, ' '), /1000000000000000/);
      await frame.locator('#prompt-raw-label').click();
      assert.match(await frame.locator('#prompt-raw-text').innerText(), /"sell": "ETH"[\s\S]*"amount": "1000000000000000"/);
    },
  );
  await expectShown(pageA, pageA.locator('#typed-signature', { hasText: /^0x[0-9a-f]{130}$/ }));
  const signature = (await pageA.locator('#typed-signature').textContent())!;
  const recovered = verifyTypedData(
    { name: 'Example Exchange', version: '1', chainId: CHAIN_ID, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
    {
      Order: [
        { name: 'maker', type: 'address' },
        { name: 'sell', type: 'string' },
        { name: 'amount', type: 'uint256' },
        { name: 'expiry', type: 'uint64' },
      ],
    },
    { maker: address, sell: 'ETH', amount: 10n ** 15n, expiry: 1_900_000_000n },
    signature,
  );
  assert.equal(recovered, address);
});

browserTest(
  "eth_signTypedData_v4 permits: token amounts in the token's units (decimals() read from the chain), Permit and unlimited allowances warned plainly",
  async () => {
    // A token on the local chain that answers decimals() = 6 and symbol() = "TKN" (hand-written runtime code).
    const token = getAddress('0x00000000000000000000000000000000000070cE');
    const code = `0x60003560e01c63313ce5671460425760206000526003602052${'7f544b4e' + '00'.repeat(29)}60405260606000f35b600660005260206000f3`;
    await fetch(node.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'hardhat_setCode', params: [token, code] }),
    });
    const spender = getAddress('0x000000000022D473030F116dDEE9F6B43aC78BA3');
    const permit2 = getAddress('0x000000000022D473030F116dDEE9F6B43aC78BA3');
    const ask = (typed: unknown) =>
      pageA.evaluate(
        ([account, data]) =>
          (window as any).symbolon.request({ method: 'eth_signTypedData_v4', params: [account, data] }).then(
            () => 0,
            (e: { code: number }) => e.code,
          ),
        [address, JSON.stringify(typed)] as const,
      );
    const eip712Domain = [
      { name: 'name', type: 'string' },
      { name: 'chainId', type: 'uint256' },
      { name: 'verifyingContract', type: 'address' },
    ];
    // Uniswap's Permit2 PermitSingle: 1234.56789 TKN to the spender.
    const single = ask({
      domain: { name: 'Permit2', chainId: CHAIN_ID, verifyingContract: permit2 },
      primaryType: 'PermitSingle',
      types: {
        EIP712Domain: eip712Domain,
        PermitSingle: [
          { name: 'details', type: 'PermitDetails' },
          { name: 'spender', type: 'address' },
          { name: 'sigDeadline', type: 'uint256' },
        ],
        PermitDetails: [
          { name: 'token', type: 'address' },
          { name: 'amount', type: 'uint160' },
          { name: 'expiration', type: 'uint48' },
          { name: 'nonce', type: 'uint48' },
        ],
      },
      message: { details: { token, amount: '1234567890', expiration: '1900000000', nonce: '0' }, spender, sigDeadline: '1900000000' },
    });
    await answerPrompt(
      pageA,
      {
        title: 'Sign typed data',
        shows: [
          /Primary type PermitSingle Domain Permit2/,
          /details\.amount 1234\.56789 TKN/,
          /This is a Permit2 token approval: signing it lets 0x000000000022D473030F116dDEE9F6B43aC78BA3 move/,
        ],
      },
      'reject',
      'frame-typed-data.png',
    );
    assert.equal(await single, 4001);
    // An EIP-2612 permit of the whole supply: 2^256 − 1, with a digit-exact amount nowhere lost.
    const unlimited = ask({
      domain: { name: 'Token', version: '1', chainId: CHAIN_ID, verifyingContract: token },
      primaryType: 'Permit',
      types: {
        EIP712Domain: [...eip712Domain.slice(0, 1), { name: 'version', type: 'string' }, ...eip712Domain.slice(1)],
        Permit: [
          { name: 'owner', type: 'address' },
          { name: 'spender', type: 'address' },
          { name: 'value', type: 'uint256' },
          { name: 'nonce', type: 'uint256' },
          { name: 'deadline', type: 'uint256' },
        ],
      },
      message: { owner: address, spender, value: (2n ** 256n - 1n).toString(), nonce: '0', deadline: '1900000000' },
    });
    await answerPrompt(
      pageA,
      {
        title: 'Sign typed data',
        shows: [
          /This is a token approval \(EIP-2612 permit\): signing it lets 0x000000000022D473030F116dDEE9F6B43aC78BA3 move your TKN/,
          /The amount value is unlimited/,
          /value Unlimited \(2\^256 − 1\)/,
        ],
      },
      'reject',
    );
    assert.equal(await unlimited, 4001);
  },
);

browserTest(
  'eth_sendTransaction: the frame shows recipient, value in ETH and chain; after Approve it is mined on the local chain, signed by the wallet',
  async () => {
    const provider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true });
    const funder = new Wallet(FUNDER_KEY, provider);
    await (await funder.sendTransaction({ to: address, value: parseEther('1') })).wait();
    provider.destroy();
    // The DApp follows the chain: the funds show up without the user doing anything.
    await expectShown(pageA, pageA.locator('#balance', { hasText: /^1 ETH$/ }), 8000);
    const to = getAddress('0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
    const chain = createPublicClient({ transport: http(node.url) });
    const before = await chain.getBalance({ address: to });
    await pageA.locator('#to').fill(to);
    await pageA.locator('#value').fill('0.01');
    // The raw transaction as the provider broadcasts it from the DApp page to the chain's RPC.
    const broadcast = pageA.waitForRequest((r) => r.url().startsWith(node.url) && (r.postData() ?? '').includes('eth_sendRawTransaction'));
    await pageA.locator('#send').click();
    await answerPrompt(
      pageA,
      { title: 'Send ETH', shows: [to, '0.01 ETH', `Local chain (Hardhat) (chain ${CHAIN_ID})`, dappA.origin, /Nonce\s*0/] },
      'approve',
      'frame-transaction.png',
    );
    const raw = (JSON.parse((await broadcast).postData()!) as { params: [Hex] }).params[0];
    await expectShown(pageA, pageA.locator('#tx-status', { hasText: /^success in block \d+$/ }));
    const hash = (await pageA.locator('#tx-hash').textContent()) as Hex;
    sentHash = hash;
    const tx = await chain.getTransaction({ hash });
    assert.equal(getAddress(tx.from), address);
    assert.equal(tx.to && getAddress(tx.to), to);
    assert.equal(tx.value, parseEther('0.01'));
    assert.equal(tx.chainId, CHAIN_ID);
    assert.equal(tx.type, 'eip1559');
    // The signature itself recovers to the wallet (not just the node's say-so).
    assert.equal(await recoverTransactionAddress({ serializedTransaction: raw as never }), address);
    assert.equal(parseTransaction(raw).type, 'eip1559');
    assert.equal(keccak256(raw), hash);
    assert.equal((await chain.getBalance({ address: to })) - before, parseEther('0.01'));
    // The DApp shows the balance after the transaction (funded with 1 ETH after connecting, less 0.01 and the fee).
    const balance = await chain.getBalance({ address });
    assert.ok(balance < parseEther('0.99') && balance > parseEther('0.98'));
    await expectShown(pageA, pageA.locator('#balance', { hasText: `${formatEther(balance)} ETH` }), 5000);
    await pageA.evaluate(() => window.scrollTo(0, 0));
    await screenshot(pageA, 'example-dapp.png', true);
  },
);

browserTest('Reject in the frame gives the DApp a 4001 user-rejected error, and nothing is signed', async () => {
  await pageA.locator('#signature').evaluate((e) => (e.textContent = '–'));
  await pageA.locator('#sign').click();
  await answerPrompt(pageA, { title: 'Sign a message', shows: [dappA.origin] }, 'reject');
  await pageA.locator('#error[data-code="4001"]').waitFor();
  assert.equal(await pageA.locator('#signature').textContent(), '–');
  await pageA.locator('#error').evaluate((e) => (e.textContent = ''));
  // The same through the provider directly: a ProviderRpcError shape with code 4001.
  const pending = pageA.evaluate(async (account) => {
    try {
      await (window as any).symbolon.request({ method: 'personal_sign', params: ['0x68656c6c6f', account] });
      return { code: 0, message: 'signed' };
    } catch (e) {
      return { code: (e as { code: number }).code, message: (e as Error).message, isError: e instanceof Error };
    }
  }, address);
  await answerPrompt(pageA, { title: 'Sign a message', shows: ['hello'] }, 'reject');
  assert.deepEqual(await pending, { code: 4001, message: 'The user rejected the request.', isError: true });
});

browserTest("the DApp's script cannot read the session: not in its cookies or storage, not through the frame's window", async () => {
  const frame = walletFrame(pageA);
  // What the frame holds (read by the test, which is privileged; the DApp is not).
  const session = JSON.parse((await frame.evaluate(() => sessionStorage.getItem('symbolon.session')))!) as { accessToken: string; refreshToken: string };
  assert.match(session.accessToken, /^eyJ/);
  const secrets = [session.accessToken, session.refreshToken, session.accessToken.split('.')[2]!];
  const seen = await pageA.evaluate(async () => {
    const dump: string[] = [document.cookie];
    for (let i = 0; i < localStorage.length; i++) dump.push(localStorage.key(i)!, localStorage.getItem(localStorage.key(i)!)!);
    for (let i = 0; i < sessionStorage.length; i++) dump.push(sessionStorage.key(i)!, sessionStorage.getItem(sessionStorage.key(i)!)!);
    const dbs = await indexedDB.databases();
    dump.push(JSON.stringify(dbs));
    const iframe = document.querySelector<HTMLIFrameElement>('iframe[data-symbolon-frame]')!;
    // No named functions in here: tsx would wrap them in a helper the page does not have.
    const reach: Record<string, string> = {};
    const win = iframe.contentWindow as Window;
    try {
      reach.document = `read: ${win.document.body.innerHTML}`;
    } catch (e) {
      reach.document = (e as Error).name;
    }
    try {
      reach.sessionStorage = `read: ${win.sessionStorage.getItem('symbolon.session')}`;
    } catch (e) {
      reach.sessionStorage = (e as Error).name;
    }
    try {
      reach.localStorage = `read: ${win.localStorage.length}`;
    } catch (e) {
      reach.localStorage = (e as Error).name;
    }
    try {
      reach.location = `read: ${win.location.href}`;
    } catch (e) {
      reach.location = (e as Error).name;
    }
    return { dump: dump.join('\n'), reach, cookie: document.cookie, dbs: dbs.length };
  });
  for (const s of secrets) assert.ok(!seen.dump.includes(s), 'no token in the DApp origin');
  assert.equal(seen.cookie, '');
  assert.equal(seen.dbs, 0);
  assert.deepEqual(seen.reach, { document: 'SecurityError', sessionStorage: 'SecurityError', localStorage: 'SecurityError', location: 'SecurityError' });
  // And the wallet service never set a cookie for the frame's origin either (cookies are shared by every port of a host).
  assert.deepEqual(await context.cookies(), []);
});

browserTest('an origin that is not allowed gets nothing: the frame does not load in its page (4900), and its messages to the frame are ignored', async () => {
  const pageC = await openDapp(unlisted.origin);
  await pageC.locator('#connect').click();
  await pageC.locator('#error[data-code="4900"]').waitFor({ timeout: 10_000 });
  // frame-ancestors: the browser refused to render the frame inside the unlisted origin.
  assert.equal(
    pageC.frames().some((f) => f.url().startsWith(frameUrl)),
    false,
  );

  // The unlisted page opens an allowed DApp and posts to the wallet frame inside it (a window it can reach).
  const popupOpened = context.waitForEvent('page');
  await pageC.evaluate((url) => void ((window as any).victim = window.open(url)), `${dappA.origin}/`);
  const victim = await popupOpened;
  await victim.locator('#connect:not([disabled])').waitFor();
  assert.deepEqual(await victim.evaluate(() => (window as any).symbolon.request({ method: 'eth_accounts' })), []);
  const request = (id: string) => ({
    protocol: 'symbolon-frame/1',
    kind: 'request',
    id,
    method: 'personal_sign',
    params: ['0x6869', '0x0000000000000000000000000000000000000001'],
    chainId: CHAIN_ID,
  });
  const answersToUnlisted = await pageC.evaluate(
    async (messages) => {
      const seen: unknown[] = [];
      window.addEventListener('message', (e) => seen.push(e.data));
      const frame = (window as any).victim.frames[0] as Window;
      for (const m of messages) frame.postMessage(m, '*');
      await new Promise((r) => setTimeout(r, 1500));
      return seen;
    },
    [
      { protocol: 'symbolon-frame/1', kind: 'hello' },
      request('from-unlisted-1'),
      { protocol: 'symbolon-frame/1', kind: 'request', id: 'from-unlisted-2', method: 'eth_requestAccounts', params: [], chainId: CHAIN_ID },
    ],
  );
  assert.deepEqual(answersToUnlisted, []);
  const victimFrame = walletFrame(victim);
  assert.equal(await victimFrame.locator('#prompt').isVisible(), false);
  assert.equal(await victimFrame.locator('#login').isVisible(), false);
  // Control: the very same request from the allowed page that embeds the frame is answered (4100: not connected yet).
  const answerToAllowed = await victim.evaluate(
    async ({ message, origin }) => {
      const iframe = document.querySelector<HTMLIFrameElement>('iframe[data-symbolon-frame]')!;
      return new Promise((resolve) => {
        window.addEventListener('message', (e) => {
          if (e.source === iframe.contentWindow && (e.data as { id?: string }).id === message.id) resolve(e.data);
        });
        iframe.contentWindow!.postMessage(message, origin);
      });
    },
    { message: request('from-allowed'), origin: new URL(frameUrl).origin },
  );
  assert.deepEqual((answerToAllowed as { error: { code: number } }).error.code, 4100);
  await victim.close();
  await pageC.close();
});

browserTest('a second DApp on another origin sees the same wallet address for the same user; provider errors carry EIP-1193 codes', async () => {
  const pageB = await openDapp(dappB.origin);
  const call = (method: string, params?: unknown[]) =>
    pageB.evaluate(
      async ({ method, params }) => {
        try {
          return { result: await (window as any).symbolon.request(params ? { method, params } : { method }) };
        } catch (e) {
          return { code: (e as { code: number }).code };
        }
      },
      { method, params },
    );
  assert.deepEqual(await call('eth_chainId'), { result: '0x7a69' });
  assert.deepEqual(await call('eth_accounts'), { result: [] });
  assert.deepEqual(await call('personal_sign', ['0x6869', address]), { code: 4100 });
  assert.deepEqual(await call('eth_sign', [address, `0x${'11'.repeat(32)}`]), { code: 4200 });
  assert.deepEqual(await call('wallet_switchEthereumChain', [{ chainId: '0x1' }]), { code: 4902 });
  assert.deepEqual(await call('wallet_switchEthereumChain', [{ chainId: '0x7a69' }]), { result: null });
  assert.match(String((await call('eth_blockNumber')).result), /^0x[0-9a-f]+$/);

  assert.equal(await connect(pageB, EMAIL), address);
  await pageB.close();
});

browserTest('Approve stays disabled while the DApp makes the frame translucent or shrinks it (clickjacking guard)', async () => {
  const frameEl = pageA.locator('iframe[data-symbolon-frame]');
  await frameEl.evaluate((e) => ((e as HTMLElement).style.opacity = '0.3'));
  const pending = pageA.evaluate(
    (account) => (window as any).symbolon.request({ method: 'personal_sign', params: ['0x636c69636b', account] }).catch((e: { code: number }) => e.code),
    address,
  );
  const frame = walletFrame(pageA);
  await frame.locator('#prompt-title', { hasText: 'Sign a message' }).waitFor();
  await pageA.waitForTimeout(1500);
  assert.equal(await frame.locator('#approve').isDisabled(), true);
  await frameEl.evaluate((e) => ((e as HTMLElement).style.opacity = '1'));
  await frame.locator('#approve:not([disabled])').waitFor({ timeout: 5000 });
  // Shrunk to the size of a button, the frame cannot show the request: Approve turns off again.
  const size = await frameEl.evaluate((e) => [(e as HTMLElement).style.width, (e as HTMLElement).style.height]);
  await frameEl.evaluate((e) => Object.assign((e as HTMLElement).style, { width: '160px', height: '120px' }));
  await frame.locator('#approve[disabled]').waitFor({ state: 'attached', timeout: 5000 });
  await pageA.waitForTimeout(1000);
  assert.equal(await frame.locator('#approve').isDisabled(), true);
  await frameEl.evaluate((e, [width, height]) => Object.assign((e as HTMLElement).style, { width, height }), size);
  await frame.locator('#approve:not([disabled])').waitFor({ timeout: 5000 });
  await frame.locator('#reject').click();
  assert.equal(await pending, 4001);
});

browserTest(
  'the user logs out from a prompt (the frame is hidden between requests): the site then has no account, and connecting asks to log in again',
  async () => {
    const frame = walletFrame(pageA);
    await pageA.evaluate(() => {
      const w = window as any;
      w.accountChanges = [];
      w.symbolon.on('accountsChanged', (a: string[]) => w.accountChanges.push(a));
    });
    const pending = pageA.evaluate(
      (account) =>
        (window as any).symbolon
          .request({ method: 'personal_sign', params: ['0x6c6f676f7574', account] })
          .catch((e: { code: number; message: string }) => ({ code: e.code, message: e.message })),
      address,
    );
    await expectShown(pageA, frame.locator('#prompt-title', { hasText: 'Sign a message' }));
    assert.equal(await frame.locator('#prompt-email').textContent(), EMAIL);
    // A real click on visible UI inside the frame (the DApp's script cannot reach it: see the SecurityError test above).
    await frame.locator('#prompt-logout').click();
    assert.deepEqual(await pending, { code: 4001, message: 'The user logged out.' });
    assert.deepEqual(await pageA.evaluate(() => (window as any).symbolon.request({ method: 'eth_accounts' })), []);
    assert.deepEqual(await pageA.evaluate(() => (window as any).accountChanges), [[]]);
    await expectShown(pageA, pageA.locator('#address', { hasText: 'not connected' }));
    const refused = await pageA.evaluate(
      (account) => (window as any).symbolon.request({ method: 'personal_sign', params: ['0x6e6f', account] }).catch((e: { code: number }) => e.code),
      address,
    );
    assert.equal(refused, 4100);

    // Connecting again asks to log in (no session is left), and Log out on the connect prompt switches account.
    const again = pageA.evaluate(() => (window as any).symbolon.request({ method: 'eth_requestAccounts' }));
    await expectShown(pageA, frame.locator('#email'));
    await logInInFrame(pageA, `frame-other-${Date.now()}@example.com`);
    await expectShown(pageA, frame.locator('#prompt-title', { hasText: 'Connect to this site?' }), 60_000);
    const other = getAddress((/0x[0-9a-fA-F]{40}/.exec(await frame.locator('#prompt').innerText()) ?? [''])[0]);
    assert.notEqual(other, address);
    await frame.locator('#prompt-logout').click();
    await expectShown(pageA, frame.locator('#email'));
    await logInInFrame(pageA, EMAIL);
    await expectShown(pageA, frame.locator('#prompt-title', { hasText: 'Connect to this site?' }), 60_000);
    await frame.locator('#approve').click();
    assert.deepEqual(
      ((await again) as string[]).map((a) => getAddress(a)),
      [address],
    );
  },
);

// The frame's checks on what a DApp page sends, run here in Node on the same modules the frame bundles:
// hostile or malformed input is refused with the JSON-RPC / EIP-1193 code a DApp would get.

browserTest(
  "/frame/ opened directly is the wallet's home page: address, balance, connected sites with Disconnect, activity signed through the frame, Log out",
  async () => {
    const home = await context.newPage();
    try {
      await home.goto(frameUrl);
      // The tab's own session: not logged in yet, so the login (nothing to cancel: no site asks).
      await home.locator('#email').waitFor();
      assert.equal(await home.locator('#login-cancel').isVisible(), false);
      await home.locator('#email').fill(EMAIL);
      await home.locator('#send-code').click();
      await home.locator('#code').waitFor({ state: 'visible' });
      await home.locator('#code').fill(await latestCode(EMAIL));
      await home.locator('#verify').click();
      await home.locator('#home').waitFor({ timeout: 30_000 });
      assert.equal(getAddress((await home.locator('#home-address').textContent())!), address);
      assert.equal(await home.locator('#home-email').textContent(), EMAIL);
      const balance = await createPublicClient({ transport: http(node.url) }).getBalance({ address });
      assert.ok(balance > 0n);
      assert.equal(await home.locator('#home-balance').textContent(), `${formatEther(balance)} ETH on Local chain (Hardhat)`);
      const sites = await home.locator('#home-sites li').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.origin));
      assert.deepEqual([...sites].sort(), [dappA.origin, dappB.origin].sort());
      const activity = (await home.locator('#home-activity').innerText()).replace(/\s+/g, ' ');
      assert.match(activity, /Signed a message \(\d+ bytes\)/);
      assert.ok(activity.includes('Signed typed data: Order for Example Exchange'), activity);
      assert.ok(
        activity.includes(
          `${dappA.origin} Send ETH: 0.01 ETH to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 on Local chain (Hardhat) (chain ${CHAIN_ID}) ${sentHash}`,
        ),
        activity,
      );
      // Rejected requests were not signed, so they are not listed: three signatures (two messages and the order) and the send, no more.
      assert.equal(await home.locator('#home-activity li[data-kind="sign_transaction"]').count(), 1);
      await screenshot(home, 'frame-home.png', true);

      // Disconnect the first DApp: gone from the list, and that site gets no account any more.
      await home.locator(`#home-sites li[data-origin="${dappA.origin}"] button.disconnect`).click();
      await home.locator(`#home-sites li[data-origin="${dappA.origin}"]`).waitFor({ state: 'detached' });
      assert.equal(await home.locator('#home-activity li').first().getAttribute('data-kind'), 'disconnect');
      assert.deepEqual(await pageA.evaluate(() => (window as any).symbolon.request({ method: 'eth_accounts' })), []);
      await expectShown(pageA, pageA.locator('#connection', { hasText: 'Not connected' }));
      const refused = await pageA.evaluate(
        (account) => (window as any).symbolon.request({ method: 'personal_sign', params: ['0x6869', account] }).catch((e: { code: number }) => e.code),
        address,
      );
      assert.equal(refused, 4100);
      assert.equal(await walletFrame(pageA).locator('#prompt').isVisible(), false, 'no prompt for a disconnected site');

      // Log out: the login again.
      await home.locator('#home-logout').click();
      await home.locator('#email').waitFor();
      assert.equal(await home.locator('#home').isVisible(), false);
    } finally {
      await home.close();
    }
  },
);

test('the frame refuses malformed protocol messages and signing parameters with -32602, another account with 4100', () => {
  const base = { protocol: 'symbolon-frame/1', kind: 'request', id: 'a-1', method: 'personal_sign', params: [], chainId: 1 };
  assert.ok(parseDappMessage(base));
  for (const bad of [
    null,
    'hello',
    [],
    { ...base, protocol: 'symbolon-frame/2' },
    { ...base, kind: 'respond' },
    { ...base, id: 'x'.repeat(65) },
    { ...base, id: 'a b' },
    { ...base, method: 'eth_sign' },
    { ...base, method: 'constructor' },
    { ...base, params: {} },
    { ...base, params: new Array(9).fill(0) },
    { ...base, chainId: 0 },
    { ...base, chainId: -1 },
    { ...base, chainId: 1.5 },
    { ...base, chainId: '1' },
  ])
    assert.equal(parseDappMessage(bad), undefined, JSON.stringify(bad));

  const me = getAddress('0x60EF8C63666947CeB7D64E3e2cEd597e49788110');
  const other = '0x0000000000000000000000000000000000000001';
  const code = (f: () => unknown) => {
    try {
      f();
      return 0;
    } catch (e) {
      return (e as { code: number }).code;
    }
  };
  assert.equal(personalSignParams(['0x6869', me.toLowerCase()], me), '0x6869');
  assert.equal(personalSignParams(['hi', me], me), '0x6869');
  assert.equal(
    code(() => personalSignParams(['0x686', me], me)),
    -32602,
  );
  assert.equal(
    code(() => personalSignParams(['0x6869', other], me)),
    4100,
  );
  assert.equal(
    code(() => personalSignParams([me, '0x6869'], me)),
    4100,
  );

  const typed = { types: { Mail: [{ name: 'n', type: 'uint8' }] }, primaryType: 'Mail', domain: { name: 'x', chainId: 1 }, message: { n: 7 } };
  assert.equal(typedDataParams([me, JSON.stringify(typed)], me).primaryType, 'Mail');
  assert.equal(
    code(() => typedDataParams([me, '{not json'], me)),
    -32602,
  );
  assert.equal(
    code(() => typedDataParams([me, { ...typed, message: { n: 300 } }], me)),
    -32602,
  );
  assert.equal(
    code(() => typedDataParams([me, { ...typed, primaryType: 'Missing' }], me)),
    -32602,
  );
  assert.equal(
    code(() => typedDataParams([other, typed], me)),
    4100,
  );

  const tx = {
    type: '0x2',
    chainId: '0x7a69',
    from: me,
    to: other,
    value: '0x1',
    data: '0x',
    nonce: '0x0',
    gas: '0x5208',
    maxFeePerGas: '0x2',
    maxPriorityFeePerGas: '0x1',
  };
  assert.equal(transactionParams([tx], me).serializable.type, 'eip1559');
  assert.equal(
    code(() => transactionParams([{ ...tx, from: other }], me)),
    4100,
  );
  for (const bad of [
    { ...tx, extra: 1 },
    { ...tx, value: '1' },
    { ...tx, value: '0x01' },
    { ...tx, nonce: undefined },
    { ...tx, gas: undefined },
    { ...tx, type: '0x3' },
    { ...tx, type: '0x4' },
    { ...tx, maxPriorityFeePerGas: '0x3' },
    { ...tx, gasPrice: '0x1' },
    { ...tx, data: '0x1' },
    { ...tx, to: '0x1234' },
    { ...tx, chainId: '0x0' },
    { ...tx, type: '0x0', maxFeePerGas: undefined, maxPriorityFeePerGas: undefined, gasPrice: '0x1', accessList: [] },
    { ...tx, accessList: [{ address: other, storageKeys: ['0x01'] }] },
  ])
    assert.equal(
      code(() => transactionParams([bad], me)),
      -32602,
      JSON.stringify(bad),
    );
});

test('the frame decodes what it shows: method selectors, unlimited approvals, chains, text and raw messages', () => {
  const me = getAddress('0x60EF8C63666947CeB7D64E3e2cEd597e49788110');
  const spender = '0x000000000000000000000000000000000000dEaD';
  const approveAll = `0x095ea7b3${spender.slice(2).toLowerCase().padStart(64, '0')}${'f'.repeat(64)}` as Hex;
  const view = {
    type: 'eip1559' as const,
    chainId: 1,
    to: me,
    value: 0n,
    data: approveAll,
    nonce: 3,
    gas: 50_000n,
    maxFeePerGas: 2n * 10n ** 9n,
    maxPriorityFeePerGas: 10n ** 9n,
  };
  const approve = describeTransaction('https://dapp.example', view, me, 31337, {});
  const shown = (p: { fields: { label: string; value: string; warn?: boolean }[] }, label: string) => p.fields.find((f) => f.label === label);
  assert.match(shown(approve, 'Contract method')!.value, /^approve\(address,uint256\) — selector 0x095ea7b3$/);
  assert.equal(shown(approve, 'Spender')!.value, spender);
  assert.deepEqual(shown(approve, 'Allowance (base units)'), { label: 'Allowance (base units)', value: 'Unlimited', warn: true });
  assert.equal(shown(approve, 'Chain')!.value, 'Ethereum (chain 1)');
  assert.equal(shown(approve, 'Chain')!.warn, true);
  assert.equal(approve.warnings.length, 2);
  const unknown = describeTransaction('https://dapp.example', { ...view, chainId: 31337, data: '0xdeadbeef00' }, me, 31337, { '31337': 'Devnet' });
  assert.equal(shown(unknown, 'Contract method')!.value, 'Unknown method — selector 0xdeadbeef');
  assert.equal(shown(unknown, 'Chain')!.value, 'Devnet (chain 31337)');
  const send = describeTransaction('https://dapp.example', { ...view, chainId: 31337, data: '0x', value: 1_500_000_000_000_000_000n }, me, 31337, {});
  assert.equal(send.title, 'Send ETH');
  assert.equal(shown(send, 'Value')!.value, '1.5 ETH');

  assert.deepEqual(describeMessage('https://dapp.example', '0x48656c6c6f', me, 'x').block, { label: 'Message', text: 'Hello' });
  const hashLike = describeMessage('https://dapp.example', `0x${'ab'.repeat(32)}`, me, 'x');
  assert.equal(hashLike.block!.label, 'Message (hex)');
  assert.equal(hashLike.warnings.length, 1);
  // Control characters (e.g. a right-to-left override hiding text) are shown as hex, not as text.
  assert.equal(describeMessage('https://dapp.example', '0x61e280ae62', me, 'x').block!.label, 'Message (hex)');
});

test('typed data is shown domain first, amounts in units without losing a digit, permits (EIP-2612, DAI, Permit2) and unlimited allowances warned', () => {
  const me = '0x00000000000000000000000000000000000000aa';
  const dai = '0x6B175474E89094C44Da98b954EedeAC495271d0F';
  const spender = '0x1111111111111111111111111111111111111111';
  const ctx = (tokens: [string, { symbol: string; decimals: number }][] = []) => ({
    origin: 'https://dapp.example',
    account: me,
    currentChainId: 1,
    chainLabel: (id: number) => `chain ${id}`,
    tokens: new Map(tokens),
  });
  const value = (p: { fields: { label: string; value: string; warn?: boolean }[] }, label: string) => p.fields.find((f) => f.label === label);
  // DAI's permit: holder/spender/nonce/expiry/allowed, allowed = true is an unlimited allowance; DAI is in the table of known tokens.
  const daiPermit = {
    domain: { name: 'Dai Stablecoin', version: '1', chainId: 1, verifyingContract: dai.toLowerCase() },
    primaryType: 'Permit',
    types: {
      Permit: [
        { name: 'holder', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'nonce', type: 'uint256' },
        { name: 'expiry', type: 'uint256' },
        { name: 'allowed', type: 'bool' },
      ],
    },
    message: { holder: me, spender, nonce: 0, expiry: 0, allowed: true },
  };
  assert.equal(permitKind(daiPermit), 'dai');
  assert.deepEqual(tokenAddresses(daiPermit), [dai.toLowerCase()]);
  assert.deepEqual(knownToken(1, dai), { symbol: 'DAI', decimals: 18 });
  const d = describeTypedData(daiPermit, ctx([[dai.toLowerCase(), knownToken(1, dai)!]]));
  assert.deepEqual(
    d.fields.slice(0, 4).map((f) => f.label),
    ['Primary type', 'Domain', 'Chain', 'Verifying contract'],
  );
  assert.equal(value(d, 'Verifying contract')!.value, dai, 'checksummed');
  assert.deepEqual(value(d, 'allowed'), { label: 'allowed', value: 'true (unlimited allowance)', warn: true, group: 'Message' });
  assert.equal(value(d, 'expiry')!.value, '0 (never)');
  assert.match(d.warnings[0]!, /DAI-style permit .* lets 0x1111111111111111111111111111111111111111 move your DAI/);
  assert.match(d.warnings[1]!, /unlimited/);
  assert.match(d.raw!.text, /"allowed": true/);

  // EIP-2612 with an amount that needs every digit: 123456789012.345678901234567891 DAI, exactly.
  const permit = {
    domain: { name: 'Dai', chainId: '0x1', verifyingContract: dai },
    primaryType: 'Permit',
    types: {
      Permit: [
        { name: 'owner', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
    },
    message: { owner: me, spender, value: '123456789012345678901234567891', nonce: '1', deadline: '1900000000' },
  };
  const p = describeTypedData(permit, ctx([[dai.toLowerCase(), { symbol: 'DAI', decimals: 18 }]]));
  assert.equal(value(p, 'value')!.value, '123456789012.345678901234567891 DAI');
  assert.equal(value(p, 'deadline')!.value, '2030-03-17T17:46:40Z (1900000000)');
  assert.equal(p.warnings.length, 1);
  // The token's decimals unknown: base units, never a guess.
  assert.equal(value(describeTypedData(permit, ctx()), 'value')!.value, "123456789012345678901234567891 (base units; the token's decimals are unknown)");
  // From 2^160 − 1 up (Permit2's maximum) an allowance is unlimited.
  const max160 = describeTypedData({ ...permit, message: { ...permit.message, value: (2n ** 160n - 1n).toString() } }, ctx());
  assert.deepEqual(value(max160, 'value'), { label: 'value', value: 'Unlimited (2^160 − 1)', warn: true, group: 'Message' });
  assert.equal(max160.warnings.length, 2);
  assert.equal(describeTypedData({ ...permit, message: { ...permit.message, value: (2n ** 160n - 2n).toString() } }, ctx()).warnings.length, 1);

  // Permit2's PermitBatch: each detail in its own token's units.
  const usdc = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
  const batch = {
    domain: { name: 'Permit2', chainId: 1, verifyingContract: '0x000000000022D473030F116dDEE9F6B43aC78BA3' },
    primaryType: 'PermitBatch',
    types: {
      PermitBatch: [
        { name: 'details', type: 'PermitDetails[]' },
        { name: 'spender', type: 'address' },
        { name: 'sigDeadline', type: 'uint256' },
      ],
      PermitDetails: [
        { name: 'token', type: 'address' },
        { name: 'amount', type: 'uint160' },
        { name: 'expiration', type: 'uint48' },
        { name: 'nonce', type: 'uint48' },
      ],
    },
    message: {
      details: [
        { token: usdc, amount: '2500000', expiration: 1, nonce: 0 },
        { token: dai, amount: (2n ** 160n - 1n).toString(), expiration: 1, nonce: 0 },
      ],
      spender,
      sigDeadline: 1,
    },
  };
  const b = describeTypedData(
    batch,
    ctx([
      [usdc.toLowerCase(), knownToken(1, usdc)!],
      [dai.toLowerCase(), knownToken(1, dai)!],
    ]),
  );
  assert.equal(value(b, 'details[0].amount')!.value, '2.5 USDC');
  assert.equal(value(b, 'details[1].amount')!.value, 'Unlimited (2^160 − 1)');
  assert.match(b.warnings.join('\n'), /Permit2 token approval[\s\S]*details\[1\]\.amount is unlimited/);
  // Nothing permit-like, no token: amounts in ETH, no warning; another chain is flagged.
  const order = describeTypedData(
    { domain: { chainId: 10 }, primaryType: 'Order', types: { Order: [{ name: 'amount', type: 'uint256' }] }, message: { amount: 1500000000000000000n } },
    ctx(),
  );
  assert.equal(value(order, 'amount')!.value, '1.5 ETH');
  assert.deepEqual(order.warnings, ['The data is for a different chain than the current one (chain 1).']);
});

test('activity lines the frame sends are what the wallet API takes: one line, no control characters, at most 200 characters', async () => {
  const token = await apiToken(`lines-${Date.now()}@example.com`);
  const post = (summary: string) =>
    fetch(`${server.endpoint}/v1/me/activity`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'sign_typed_data', site: dappA.origin, summary }),
    }).then((r) => r.status);
  const nasty = `Signed typed data: Order for Evil\nDomain\u0000\u007f${'x'.repeat(300)}`;
  assert.equal(await post(nasty), 400, 'the API refuses it as it is');
  assert.equal(oneLine(nasty).length, 200);
  assert.match(oneLine(nasty), /^Signed typed data: Order for Evil Domain xx+…$/);
  assert.equal(await post(oneLine(nasty)), 201);
  assert.equal(oneLine(' \n '), '—');
});

test("the provider fills a DApp's transaction from the chain's RPC (pending nonce, gas, EIP-1559 fees) and refuses what it cannot send", async () => {
  const from = getAddress(new Wallet(FUNDER_KEY).address);
  const to = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
  const chain = createPublicClient({ transport: http(node.url) });
  const filled = await fillTransaction({ to, value: '0x10' }, from, CHAIN_ID, node.url);
  assert.equal(filled.type, '0x2');
  assert.equal(filled.chainId, '0x7a69');
  assert.equal(BigInt(filled.nonce), BigInt(await chain.getTransactionCount({ address: from, blockTag: 'pending' })));
  assert.ok(BigInt(filled.gas) >= 21_000n);
  const block = await chain.getBlock();
  assert.equal(BigInt(filled.maxFeePerGas!), block.baseFeePerGas! * 2n + BigInt(filled.maxPriorityFeePerGas!));
  const legacy = await fillTransaction({ to, gasPrice: '0x3b9aca00', nonce: '0x7', gas: '0x5208' }, from, CHAIN_ID, undefined);
  assert.deepEqual(legacy, { type: '0x0', chainId: '0x7a69', from, to, value: '0x0', data: '0x', nonce: '0x7', gas: '0x5208', gasPrice: '0x3b9aca00' });
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 0,
      (e: { code: number }) => e.code,
    );
  assert.equal(await code(fillTransaction({ to, from: to }, from, CHAIN_ID, node.url)), 4100);
  assert.equal(await code(fillTransaction({ to, chainId: '0x1' }, from, CHAIN_ID, node.url)), -32602);
  assert.equal(await code(fillTransaction({ to }, from, CHAIN_ID, undefined)), -32602);
  assert.equal(await code(fillTransaction({ to, data: '0x12', input: '0x34' }, from, CHAIN_ID, node.url)), -32602);
  assert.equal(await code(fillTransaction({ value: '0x1' }, from, CHAIN_ID, node.url)), -32602);
  assert.equal(await code(fillTransaction({ to, blobVersionedHashes: [] }, from, CHAIN_ID, node.url)), -32602);
  assert.equal(await code(fillTransaction({ to }, from, CHAIN_ID, 'http://127.0.0.1:1')), 4901);
});

test('configuration: exact allowed origins only; the embedded default allows its example DApp; /frame/ carries frame-ancestors and no-store', async () => {
  const frame = (env: Record<string, string>, flags: Record<string, string> = {}) => configFromEnv(env, flags).frame;
  assert.deepEqual(frame({}, { port: '8080' }).allowedOrigins, ['http://127.0.0.1:8081', 'http://localhost:8081']);
  assert.equal(frame({}, { port: '8080' }).exampleDappPort, 8081);
  assert.equal(frame({}, { port: '0' }).exampleDappPort, undefined);
  assert.deepEqual(frame({ DATABASE_URL: 'postgres://x/y' }, { port: '8080' }), {
    ...frame({ DATABASE_URL: 'postgres://x/y' }, { port: '8080' }),
    allowedOrigins: [],
    exampleDappPort: undefined,
  });
  assert.equal(frame({ SYMBOLON_DAPP_PORT: 'off' }, { port: '8080' }).exampleDappPort, undefined);
  assert.deepEqual(frame({ SYMBOLON_FRAME_ALLOWED_ORIGINS: 'https://a.example, http://localhost:3000' }).allowedOrigins, [
    'https://a.example',
    'http://localhost:3000',
  ]);
  for (const bad of [
    '*',
    'https://*.example',
    'https://a.example/',
    'https://a.example/app',
    'a.example',
    'ftp://a.example',
    'https://a.example?x=1',
    'null',
  ]) {
    assert.throws(() => frame({ SYMBOLON_FRAME_ALLOWED_ORIGINS: bad }), RangeError, bad);
  }
  assert.throws(() => frame({ SYMBOLON_FRAME_CUSTODY: 'kms' }), RangeError);

  const page = await fetch(frameUrl);
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, new RegExp(`frame-ancestors ${dappA.origin} ${dappB.origin}(;|$)`));
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.equal(page.headers.get('cache-control'), 'no-store');
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  const config = (await (await fetch(`${frameUrl}config.json`)).json()) as { allowedOrigins: string[]; custodyMode: string; roleArn: string };
  assert.deepEqual(config.allowedOrigins, [dappA.origin, dappB.origin]);
  assert.equal(config.custodyMode, 'envelope');
  assert.match(config.roleArn, /^arn:aws:iam::\d{12}:role\/symbolon-wallet-users$/);
  assert.equal((await fetch(`${frameUrl}secret.txt`)).status, 404);
});

browserTest(
  'a wallet service that names a master key the provider could open: the frame creates no wallet, the DApp gets the error, nothing is encrypted under that key',
  async () => {
    // A key under the default key policy: the account's IAM policies decide, so the user's session could encrypt under it and the administrator decrypt.
    const admin = server.kms(ADMIN);
    const lax = (await admin.send(new CreateKeyCommand({ KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' }))).KeyMetadata!.KeyId!;
    admin.destroy();
    const email = 'lied-to@example.com';
    // The lie, in the browser: GET /v1/me answered by the wallet service with that key as the user's master key.
    const meUrl = `${server.endpoint}/v1/me`;
    let lies = 0;
    await context.route(meUrl, async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as Record<string, unknown>;
      lies++;
      await route.fulfill({ response, json: { ...body, masterKeyId: lax } });
    });
    const page = await openDapp(dappB.origin);
    try {
      await page.locator('#connect').click();
      await driver.logIn(page, email);
      await page.locator('#error', { hasText: 'MASTER_KEY_UNTRUSTED' }).waitFor({ timeout: 60_000 });
      assert.ok(lies >= 1, 'the frame read the lying answer');
      assert.doesNotMatch((await page.locator('#address').textContent()) ?? '', /0x[0-9a-fA-F]{40}/, 'the DApp got no account');
    } finally {
      await context.unroute(meUrl);
      await page.close();
    }
    await server.custodian.audit.flush();
    const db = server.custodian.deps.store.db;
    const encrypts = await sql<{
      n: number | string;
    }>`select count(*) as n from audit_events where operation = 'Encrypt' and key_arn like ${`%${lax}`}`.execute(db);
    assert.equal(Number(encrypts.rows[0]!.n), 0, 'nothing was encrypted under the lax key');
    const r = await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${await driver.tokenOf(email)}` } });
    assert.equal(r.status, 404, 'no wallet was stored');
  },
);
