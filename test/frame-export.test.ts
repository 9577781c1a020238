/**
 * Export private key from the wallet's home page (issue #18, item 6;
 * docs/frame.md and docs/signer.md, "Export"), in a real browser (Debian's
 * chromium through playwright-core): a real wallet service with split custody
 * and the signer forked by the server's own code (as frame-split.test.ts),
 * Hardhat's EDR node as the chain, and the example DApp on another origin, connected to the same user in
 * another tab while the export happens.
 *
 * For a split wallet and for an envelope wallet, the user confirms the
 * warning, logs in again (the step-up), and sees the key on the page: it
 * derives the wallet's address. Every request and response of the browser
 * (wallet API, issuer, STS, custodian, signer) is captured with its body, and
 * every message either window of the DApp page received is recorded: none
 * carries the key in hex (either case, with or without 0x) or base64 (std or
 * url). The split export went through the signer's /v1/export and the
 * custodian audited its release as an export; the envelope export never
 * called the signer. The activity list shows each export. Cancelling the
 * step-up exports nothing. Runs on SQLite,
 * and on PostgreSQL with DATABASE_URL.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { test, before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import type { BrowserContext, Page, Request, Response } from 'playwright-core';
import { getAddress, hexToBytes, type Address, type Hex } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { startSplitFrameStack, type SplitFrameStack } from './helpers/split-frame-stack.js';
import { REGION, type TestServer } from './helpers/server.js';
import { browserSkip, type FrameDriver } from './helpers/frame-browser.js';
import type { ExampleDapp } from '../src/server/frame.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { EnvelopeWalletClient } from '../packages/sdk/src/index.js';

const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ac'.repeat(32)}`;
const SPLIT_EMAIL = `export-split-${Date.now()}@example.com`;
const ENVELOPE_EMAIL = `export-envelope-${Date.now()}@example.com`;

interface Traffic {
  kind: 'request' | 'response' | 'message';
  url: string;
  method: string;
  body: Buffer;
}

let server: TestServer;
let signer: SignerProcess;
let dapp: ExampleDapp;
let context: BrowserContext;
let driver: FrameDriver;
let frameUrl = '';
const traffic: Traffic[] = [];
const pendingBodies: Promise<void>[] = [];

let stack: SplitFrameStack | undefined;

before(async () => {
  stack = await startSplitFrameStack({ chain: { chainId: CHAIN_ID, funderKey: FUNDER_KEY } });
  ({ server, signer, frameUrl } = stack);
  dapp = stack.dapp!;
  if (browserSkip) return;
  [context, driver] = [stack.context!, stack.driver!];
  context.on('request', (r: Request) => traffic.push({ kind: 'request', url: r.url(), method: r.method(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
  context.on('response', (r: Response) => {
    pendingBodies.push(
      r.body().then(
        (body) => void traffic.push({ kind: 'response', url: r.url(), method: r.request().method(), body }),
        // Redirects and aborted loads have no body to read; their URL is still checked.
        () => void traffic.push({ kind: 'response', url: r.url(), method: r.request().method(), body: Buffer.alloc(0) }),
      ),
    );
  });
  // Every message any window of any page receives (the DApp page and its wallet frame included).
  await context.exposeBinding('__recordMessage', ({ frame }, origin: string, data: string) => {
    traffic.push({ kind: 'message', url: `${frame.url()} <- ${origin}`, method: 'message', body: Buffer.from(data) });
  });
  await context.addInitScript(() => {
    window.addEventListener(
      'message',
      (e) => {
        let text: string;
        try {
          text = JSON.stringify(e.data);
        } catch {
          text = String(e.data);
        }
        void (window as unknown as { __recordMessage(o: string, d: string): Promise<void> }).__recordMessage(e.origin, text ?? '');
      },
      true,
    );
  });
});

after(async () => {
  await stack?.close();
});

/** Every encoding in which a 32-byte key could travel. */
function encodings(key: Uint8Array): string[] {
  const b = Buffer.from(key);
  const hex = b.toString('hex');
  return [hex, hex.toUpperCase(), b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')];
}

function carries(t: Traffic, key: Uint8Array): boolean {
  const text = t.body.toString('latin1');
  return t.body.includes(Buffer.from(key)) || encodings(key).some((e) => text.includes(e) || t.url.includes(e) || text.toLowerCase().includes(e.toLowerCase()));
}

/** Logs in on the login screen showing in `page` (email code from the dev mailbox). */
async function logInOn(page: Page, email: string): Promise<void> {
  await page.locator('#email').waitFor({ state: 'visible' });
  await page.locator('#email').fill(email);
  await page.locator('#send-code').click();
  await page.locator('#code').waitFor({ state: 'visible' });
  await page.locator('#code').fill(await driver.latestCode(email));
  await page.locator('#verify').click();
}

async function openHome(email: string): Promise<Page> {
  const home = await context.newPage();
  // The confirmation before an export: accepted, as the user would.
  home.on('dialog', (d) => void d.accept());
  await home.goto(frameUrl);
  await logInOn(home, email);
  await home.locator('#home').waitFor({ timeout: 60_000 });
  return home;
}

/** Export private key, with the step-up login; returns the key the page shows. */
async function exportOn(home: Page, email: string): Promise<Uint8Array> {
  await home.locator('#home-export').click();
  await home.locator('#login-intro', { hasText: 'Log in again' }).waitFor({ timeout: 30_000 });
  await logInOn(home, email);
  const shown = home.locator('#home-export-key', { hasText: /^0x[0-9a-f]{64}$/ });
  await shown.waitFor({ timeout: 60_000 });
  assert.equal(await home.locator('#home-error').textContent(), '');
  assert.match((await home.locator('#home-export-result').innerText()).replace(/\s+/g, ' '), /Anyone with this key controls your funds.*cannot undo/);
  const key = hexToBytes((await shown.textContent()) as Hex);
  // The activity list shows the export; the key stays on the page while it does.
  await home.locator('#home-activity li[data-kind="export_key"]', { hasText: 'Exported the private key' }).waitFor({ timeout: 30_000 });
  assert.equal(await home.locator('#home-export-key').textContent(), `0x${Buffer.from(key).toString('hex')}`);
  return key;
}

async function assertNowhere(key: Uint8Array, label: string): Promise<void> {
  await Promise.all(pendingBodies);
  // Control: the scan looks at real traffic of every kind.
  for (const kind of ['request', 'response', 'message'] as const)
    assert.ok(
      traffic.some((t) => t.kind === kind && t.body.length > 0),
      `${kind}s were captured`,
    );
  // Control: the scan finds the key where it is, in each encoding.
  for (const e of encodings(key)) assert.equal(carries({ kind: 'message', url: '', method: '', body: Buffer.from(JSON.stringify({ e })) }, key), true);
  for (const t of traffic) assert.equal(carries(t, key), false, `${label}: the key in a ${t.kind} ${t.method} ${t.url}`);
}

test('a split wallet: the signer seals the key to the page, which alone shows it; no traffic or DApp message carries it; audited as an export', async () => {
  // The same user connected to a DApp in another tab, during the export.
  const dappPage = await driver.openDapp(dapp.origin);
  const address = await driver.connect(dappPage, SPLIT_EMAIL);
  const home = await openHome(SPLIT_EMAIL);
  try {
    assert.equal(await home.locator('#home-mode').textContent(), 'split');
    assert.equal(getAddress((await home.locator('#home-address').textContent())!), address);
    const from = traffic.length;
    const key = await exportOn(home, SPLIT_EMAIL);
    assert.equal(privateKeyToAddress(`0x${Buffer.from(key).toString('hex')}`), address);
    const exports = traffic.slice(from).filter((t) => t.kind === 'request' && t.url === `${signer.url}/v1/export`);
    assert.equal(exports.length, 1, 'one call to the signer');
    const request = JSON.parse(exports[0]!.body.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(
      Object.keys(request).sort(),
      // contextSub: the sub of share A's context (the creating login's; docs/signer.md, "Linked logins"), not a secret.
      ['address', 'contextSub', 'generation', 'keyId', 'publicKey', 'shareACiphertext', 'shareB'].filter((k) => k in request).sort(),
    );
    assert.equal(Buffer.from(String(request.publicKey), 'base64').length, 65);

    await server.custodian.audit.flush();
    const audited = await server.custodian.deps.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('operation', '=', 'Decrypt')
      .where('release_purpose', '=', 'export')
      .execute();
    assert.equal(audited.length, 1);
    assert.equal(audited[0]!.outcome, 'allowed');
    assert.equal(JSON.parse(audited[0]!.encryption_context!).address, address);

    await assertNowhere(key, 'split');
    key.fill(0);
    await home.locator('#home-export-hide').click();
    assert.equal(await home.locator('#home-export-key').textContent(), '');
    assert.equal(await home.locator('#home-export-result').isVisible(), false);
  } finally {
    await home.close();
    await dappPage.close();
  }
});

test('an envelope wallet: decrypted on the device and shown; the signer is not called; no traffic carries the key', async () => {
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
  let address: Address;
  try {
    address = getAddress((await device.createWallet()).address);
  } finally {
    device.destroy();
  }
  const home = await openHome(ENVELOPE_EMAIL);
  try {
    assert.equal(await home.locator('#home-mode').textContent(), 'envelope');
    const from = traffic.length;
    const key = await exportOn(home, ENVELOPE_EMAIL);
    assert.equal(privateKeyToAddress(`0x${Buffer.from(key).toString('hex')}`), address);
    assert.equal(
      traffic.slice(from).some((t) => t.url.startsWith(signer.url)),
      false,
      'an envelope export never calls the signer',
    );
    await assertNowhere(key, 'envelope');
    key.fill(0);
  } finally {
    await home.close();
  }
});

test('cancelling the step-up exports nothing', async () => {
  const home = await openHome(SPLIT_EMAIL);
  try {
    const from = traffic.length;
    await home.locator('#home-export').click();
    await home.locator('#login-intro', { hasText: 'Log in again' }).waitFor({ timeout: 30_000 });
    await home.locator('#login-cancel').click();
    await home.locator('#home-export-status', { hasText: 'Export cancelled.' }).waitFor({ timeout: 30_000 });
    assert.equal(await home.locator('#home-export-result').isVisible(), false);
    assert.equal(
      traffic.slice(from).some((t) => t.url === `${signer.url}/v1/export`),
      false,
    );
  } finally {
    await home.close();
  }
});
