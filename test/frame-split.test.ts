/**
 * The wallet frame with split custody (issue 7 on issue 6), in a real browser
 * (Debian's chromium through playwright-core): a real wallet service (built-in
 * issuer, wallet API, custodian, STS) configured with
 * SYMBOLON_FRAME_CUSTODY_MODE=split, the signer forked by the server's own
 * code as `serve --role all` does (startSignerChild: the custodian's platform
 * key, the symbolon-wallet-users role, CORS for the frame's origin), the
 * example DApp on another origin, and Hardhat's EDR node as the chain.
 *
 * The test plays the user in the frame (email code, Approve/Reject) and
 * records every request the browser makes, to check that share A goes to the
 * custodian's Encrypt and nowhere else: the wallet service sees share B and
 * share A's ciphertext, never share A. Runs on SQLite, and on PostgreSQL with
 * DATABASE_URL.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { test, before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import type { BrowserContext, Page, Request } from 'playwright-core';
import {
  bytesToHex,
  createPublicClient,
  getAddress,
  http,
  keccak256,
  parseEther,
  recoverTransactionAddress,
  verifyMessage,
  verifyTypedData,
  type Address,
  type Hex,
} from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { Wallet, JsonRpcProvider } from 'ethers';
import { startSplitFrameStack, type SplitFrameStack } from './helpers/split-frame-stack.js';
import { REGION, type TestServer } from './helpers/server.js';
import type { LocalChain } from './helpers/chain.js';
import { browserSkip, browserTest, type FrameDriver } from './helpers/frame-browser.js';
import { configFromEnv } from '../src/config.js';
import { signerSettingsFromEnv } from '../src/signer/settings.js';
import type { ExampleDapp } from '../src/server/frame.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { EnvelopeWalletClient } from '../packages/sdk/src/index.js';

const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ac'.repeat(32)}`;
const EMAIL = `split-frame-${Date.now()}@example.com`;
const ENVELOPE_EMAIL = `envelope-in-split-frame-${Date.now()}@example.com`;

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  frameUrl: string;
}

let server: TestServer;
let signer: SignerProcess;
let node: LocalChain;
let dapp: ExampleDapp;
let context: BrowserContext;
let driver: FrameDriver;
let frameUrl = '';
/** Every request the browser made, with its body. */
const seen: Seen[] = [];

let stack: SplitFrameStack | undefined;

before(async () => {
  stack = await startSplitFrameStack({ chain: { chainId: CHAIN_ID, funderKey: FUNDER_KEY } });
  ({ server, signer, frameUrl } = stack);
  [node, dapp] = [stack.node!, stack.dapp!];
  if (browserSkip) return;
  [context, driver] = [stack.context!, stack.driver!];
  context.on('request', (r: Request) => {
    seen.push({ url: r.url(), method: r.method(), headers: r.headers(), body: r.postDataBuffer() ?? Buffer.alloc(0), frameUrl: r.frame().url() });
  });
});

after(async () => {
  await stack?.close();
});

/** Every encoding in which a 32-byte secret could travel in a request. */
function encodings(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes);
  return [b.toString('hex'), b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url'), JSON.stringify(Array.from(b))];
}

function carries(r: Seen, secret: Uint8Array): boolean {
  const text = r.body.toString('latin1');
  return (
    r.body.includes(Buffer.from(secret)) || encodings(secret).some((e) => text.includes(e) || r.url.includes(e) || text.toLowerCase().includes(e.toLowerCase()))
  );
}

/** The frame's custodian Encrypt calls (KMS JSON protocol at the custodian's root). */
function encrypts(): Seen[] {
  return seen.filter(
    (r) =>
      r.method === 'POST' &&
      r.url === `${server.endpoint}/` &&
      (r.headers['x-amz-target'] === 'TrentService.Encrypt' || r.body.toString('utf8').includes('"Plaintext"')),
  );
}

function signRequests(): Seen[] {
  return seen.filter((r) => r.method === 'POST' && r.url === `${signer.url}/v1/sign`);
}

let page: Page;
let address: Address;
let shareA: Uint8Array;
let privateKey: Uint8Array;

test("the frame's configuration names the signer; its CSP lets the frame reach it", async () => {
  const config = (await (await fetch(`${frameUrl}config.json`)).json()) as { custodyMode: string; signerUrl: string };
  assert.equal(config.custodyMode, 'split');
  assert.equal(config.signerUrl, signer.url);
  const csp = (await fetch(frameUrl)).headers.get('content-security-policy') ?? '';
  assert.match(csp, new RegExp(`connect-src 'self' ${server.endpoint} ${new URL(node.url).origin} ${signer.url}(;|$)`));
});

browserTest('a DApp on another origin connects; the first login creates a split wallet in the frame, with the address the wallet service reports', async () => {
  page = await driver.openDapp(dapp.origin);
  address = await driver.connect(page, EMAIL);
  const reported = await driver.walletOfUser(EMAIL);
  assert.deepEqual(reported, { address, custodyMode: 'split' });

  // What the device sent: share A to the custodian's Encrypt, share B and share A's ciphertext to the wallet service.
  const enc = encrypts();
  assert.equal(enc.length, 1, 'one Encrypt of share A');
  assert.ok(enc[0]!.frameUrl.startsWith(frameUrl), 'sent by the frame, not the DApp page');
  const encBody = JSON.parse(enc[0]!.body.toString('utf8')) as { Plaintext: string; EncryptionContext: Record<string, string> };
  assert.deepEqual(encBody.EncryptionContext, { sub: encBody.EncryptionContext.sub, address });
  shareA = new Uint8Array(Buffer.from(encBody.Plaintext, 'base64'));
  assert.equal(shareA.length, 32);
  const creates = seen.filter((r) => r.method === 'POST' && r.url === `${server.endpoint}/v1/wallets`);
  assert.equal(creates.length, 1);
  const createBody = JSON.parse(creates[0]!.body.toString('utf8')) as { custodyMode: string; address: string; shareB: string; shareACiphertext: string };
  assert.equal(createBody.custodyMode, 'split');
  const shareB = new Uint8Array(Buffer.from(createBody.shareB, 'base64'));
  // Share A as captured is the real one: A XOR B is the wallet's key.
  privateKey = shareA.map((a, i) => a ^ shareB[i]!);
  assert.equal(privateKeyToAddress(bytesToHex(privateKey)), address);
  assert.ok(!Buffer.from(shareA).equals(Buffer.from(privateKey)), 'share A is not the key');
});

browserTest('personal_sign: approved in the frame, signed by the signer, verifies with viem', async () => {
  const before = signRequests().length;
  const message = `Split custody says hello at ${Date.now()}`;
  await page.locator('#message').fill(message);
  await page.locator('#sign').click();
  await driver.answerPrompt(page, { title: 'Sign a message', shows: [message, dapp.origin, address, `chain ${CHAIN_ID}`] }, 'approve');
  await driver.expectShown(page, page.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }));
  const signature = (await page.locator('#signature').textContent()) as Hex;
  assert.equal(await verifyMessage({ address, message, signature }), true);
  // The signature came from the signer, called from the frame with the user's token.
  const calls = signRequests().slice(before);
  assert.equal(calls.length, 1);
  assert.ok(calls[0]!.frameUrl.startsWith(frameUrl));
  assert.match(calls[0]!.headers.authorization ?? '', /^Bearer eyJ/);
});

browserTest('eth_signTypedData_v4: approved in the frame, the signature verifies with viem', async () => {
  await page.locator('#sign-typed').click();
  await driver.answerPrompt(page, { title: 'Sign typed data', shows: ['Example Exchange', 'Order', `chain ${CHAIN_ID}`] }, 'approve');
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

browserTest('eth_sendTransaction: approved in the frame, signed through the signer, mined on the local chain from the wallet', async () => {
  const provider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true });
  const funder = new Wallet(FUNDER_KEY, provider);
  await (await funder.sendTransaction({ to: address, value: parseEther('1') })).wait();
  provider.destroy();
  const to = getAddress('0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
  const chain = createPublicClient({ transport: http(node.url) });
  const balanceBefore = await chain.getBalance({ address: to });
  await page.locator('#to').fill(to);
  await page.locator('#value').fill('0.01');
  const broadcast = page.waitForRequest((r) => r.url().startsWith(node.url) && (r.postData() ?? '').includes('eth_sendRawTransaction'));
  await page.locator('#send').click();
  await driver.answerPrompt(page, { title: 'Send ETH', shows: [to, '0.01 ETH', `chain ${CHAIN_ID}`, /Nonce\s*0/] }, 'approve');
  const raw = (JSON.parse((await broadcast).postData()!) as { params: [Hex] }).params[0];
  await driver.expectShown(page, page.locator('#tx-status', { hasText: /^success in block \d+$/ }));
  const hash = (await page.locator('#tx-hash').textContent()) as Hex;
  const tx = await chain.getTransaction({ hash });
  assert.equal(getAddress(tx.from), address);
  assert.equal(tx.value, parseEther('0.01'));
  assert.equal(tx.type, 'eip1559');
  assert.equal(await recoverTransactionAddress({ serializedTransaction: raw as never }), address);
  assert.equal(keccak256(raw), hash);
  assert.equal((await chain.getBalance({ address: to })) - balanceBefore, parseEther('0.01'));
});

browserTest('Reject in the frame gives 4001, and nothing reaches the signer', async () => {
  const before = signRequests().length;
  const pending = page.evaluate(async (account) => {
    try {
      await (window as any).symbolon.request({ method: 'personal_sign', params: ['0x6e6f', account] });
      return { code: 0 };
    } catch (e) {
      return { code: (e as { code: number }).code, message: (e as Error).message };
    }
  }, address);
  await driver.answerPrompt(page, { title: 'Sign a message', shows: [dapp.origin] }, 'reject');
  assert.deepEqual(await pending, { code: 4001, message: 'The user rejected the request.' });
  assert.equal(signRequests().length, before);
});

browserTest("the signer answers CORS for the frame's origin only: the DApp's page cannot call it", async () => {
  const frameOrigin = new URL(frameUrl).origin;
  const preflight = (origin: string) =>
    fetch(`${signer.url}/v1/sign`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
  const ok = await preflight(frameOrigin);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), frameOrigin);
  assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const other = await preflight(dapp.origin);
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  const post = await fetch(`${signer.url}/v1/sign`, { method: 'POST', headers: { origin: dapp.origin, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(post.headers.get('access-control-allow-origin'), null);
  // In the browser: the DApp's own script is refused by CORS before anything is sent.
  const before = signRequests().length;
  const result = await page.evaluate(async (url) => {
    try {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: '{}' });
      return `status ${r.status}`;
    } catch (e) {
      return (e as Error).name;
    }
  }, `${signer.url}/v1/sign`);
  assert.equal(result, 'TypeError');
  assert.equal(signRequests().length, before);
});

browserTest('a user whose wallet is an envelope wallet keeps it in a split frame: same address, signed in the frame without the signer', async () => {
  const tokens = await driver.tokensOf(ENVELOPE_EMAIL);
  const device = new EnvelopeWalletClient({
    walletUrl: server.endpoint,
    custodianUrl: server.endpoint,
    region: REGION,
    roleArn: walletUsersRoleArn(server.custodian.accountId),
    token: tokens.accessToken,
    custodianToken: tokens.idToken,
    kmsClientConfig: { maxAttempts: 1 },
  });
  let envelopeAddress: Address;
  try {
    envelopeAddress = getAddress((await device.createWallet()).address);
  } finally {
    device.destroy();
  }
  const other = await driver.openDapp(dapp.origin);
  try {
    assert.equal(await driver.connect(other, ENVELOPE_EMAIL), envelopeAddress);
    assert.equal((await driver.walletOfUser(ENVELOPE_EMAIL)).custodyMode, 'envelope');
    const before = signRequests().length;
    await other.locator('#message').fill('envelope still');
    await other.locator('#sign').click();
    await driver.answerPrompt(other, { title: 'Sign a message', shows: ['envelope still'] }, 'approve');
    await driver.expectShown(other, other.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }));
    const signature = (await other.locator('#signature').textContent()) as Hex;
    assert.equal(await verifyMessage({ address: envelopeAddress, message: 'envelope still', signature }), true);
    assert.equal(signRequests().length, before, 'an envelope wallet signs in the frame');
  } finally {
    await other.close();
  }
});

browserTest(
  "over the whole session, share A went to the custodian's Encrypt only: never to the wallet service or the signer; the key went nowhere",
  async () => {
    assert.ok(shareA && privateKey, 'the split wallet was created');
    const enc = encrypts();
    assert.equal(enc.length, 1);
    const toWallet = seen.filter((r) => r !== enc[0] && r.url.startsWith(`${server.endpoint}/`));
    // The checks below look at real traffic: the wallet API, the issuer, STS, the custodian and the signer were all called.
    for (const path of ['/v1/me', '/v1/wallets', '/v1/wallets/me', '/oidc/email/verify', '/frame/config.json']) {
      assert.ok(
        toWallet.some((r) => new URL(r.url).pathname === path),
        `the frame called ${path}`,
      );
    }
    assert.ok(signRequests().length >= 3);
    // Control: the check finds share A where it is (the Encrypt), and share B's upload carries what it should.
    assert.equal(carries(enc[0]!, shareA), true);
    for (const r of seen) {
      assert.equal(carries(r, privateKey), false, `the key in ${r.method} ${r.url}`);
      if (r === enc[0]) continue;
      assert.equal(carries(r, shareA), false, `share A in ${r.method} ${r.url}`);
    }
  },
);

test('configuration: SYMBOLON_FRAME_CUSTODY_MODE and the signer URL the frame is given', () => {
  const frame = (env: Record<string, string>, flags: Record<string, string> = {}) => configFromEnv(env, flags).frame;
  assert.equal(frame({}, { port: '8080' }).custodyMode, 'envelope');
  assert.equal(frame({ SYMBOLON_FRAME_CUSTODY_MODE: 'split' }, { port: '8080' }).custodyMode, 'split');
  assert.equal(frame({ SYMBOLON_FRAME_CUSTODY: 'split' }, { port: '8080' }).custodyMode, 'split');
  assert.throws(() => frame({ SYMBOLON_FRAME_CUSTODY_MODE: 'kms' }, { port: '8080' }), /SYMBOLON_FRAME_CUSTODY_MODE must be envelope or split/);
  assert.throws(() => frame({ SYMBOLON_FRAME_CUSTODY_MODE: 'split', SYMBOLON_FRAME_CUSTODY: 'envelope' }, { port: '8080' }), RangeError);
  // --role all: the forked signer's URL (port + 2, or SYMBOLON_SIGNER_HOST/_PORT).
  assert.equal(frame({}, { port: '8080' }).signerUrl, 'http://127.0.0.1:8082');
  assert.equal(frame({}, { port: '8080', host: '0.0.0.0' }).signerUrl, 'http://localhost:8082');
  assert.equal(frame({ SYMBOLON_SIGNER_PORT: '9100' }, { port: '0' }).signerUrl, 'http://127.0.0.1:9100');
  assert.equal(frame({}, { port: '0' }).signerUrl, undefined);
  assert.equal(frame({}, { port: '8080', role: 'kms' }).signerUrl, undefined);
  assert.equal(frame({ SYMBOLON_FRAME_SIGNER_URL: 'https://signer.example.com/' }, { port: '8080' }).signerUrl, 'https://signer.example.com');
  // Behind a public URL the forked signer's local address means nothing to a browser: name it, or split is refused.
  assert.equal(frame({ SYMBOLON_PUBLIC_URL: 'https://wallet.example.com' }, { port: '8080' }).signerUrl, undefined);
  assert.throws(
    () => frame({ SYMBOLON_PUBLIC_URL: 'https://wallet.example.com', SYMBOLON_FRAME_CUSTODY_MODE: 'split' }, { port: '8080' }),
    /SYMBOLON_FRAME_SIGNER_URL/,
  );
  for (const bad of ['signer.example.com', 'ftp://signer.example.com', 'https://signer.example.com/?x=1', 'https://u:p@signer.example.com']) {
    assert.throws(() => frame({ SYMBOLON_FRAME_SIGNER_URL: bad }, { port: '8080' }), /SYMBOLON_FRAME_SIGNER_URL/, bad);
  }
  // A signer of its own (--role signer) is told the frame's origin; --role all adds the server's own.
  assert.deepEqual(signerSettingsFromEnv({}).corsOrigins, []);
  assert.deepEqual(signerSettingsFromEnv({ SYMBOLON_SIGNER_CORS_ORIGINS: 'https://wallet.example.com, http://127.0.0.1:8080' }).corsOrigins, [
    'https://wallet.example.com',
    'http://127.0.0.1:8080',
  ]);
  for (const bad of ['*', 'https://*.example.com', 'https://wallet.example.com/', 'https://wallet.example.com/frame', 'wallet.example.com', 'null']) {
    assert.throws(() => signerSettingsFromEnv({ SYMBOLON_SIGNER_CORS_ORIGINS: bad }), /SYMBOLON_SIGNER_CORS_ORIGINS/, bad);
  }
});
