/**
 * The device share's passkey wrap in the wallet frame (docs/frame.md, "The
 * device share"; docs/signer.md, "The passkey wrap"), in a real browser
 * (Debian's chromium through playwright-core) with Chromium's virtual
 * authenticator: a real wallet service with split custody at
 * SYMBOLON_PUBLIC_URL=http://localhost:<port> (WebAuthn needs a domain name),
 * the signer forked by the server's own code, and the example DApp on
 * http://127.0.0.1:<port>, another *site*, so the frame embedded there gets
 * storage partitioned away from the wallet page's and has no device key.
 *
 * The owner adds a passkey whose authenticator has no PRF: adding the device
 * share with it is refused (DEVICE_PRF_UNSUPPORTED) and nothing changes. With
 * a PRF passkey the factor is added, share C wrapped also under the
 * passkey's PRF output; the cross-site DApp's personal_sign is then signed
 * (the frame evaluates the PRF in the iframe, unwraps C, sends it to the
 * signer) and recovers to the wallet's address. Every request is captured:
 * share C goes only to the signer; the PRF output, the key derived from it,
 * the wallet key and the recovery code never leave the browser.
 */
// Skipped, saying why, on a machine without Chromium (test/helpers/browser-test.ts).
import { before, after } from './helpers/browser-test.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { getAddress, verifyMessage, type Address, type Hex } from 'viem';
import type { TestServer } from './helpers/server.js';
import { startSplitFrameServer } from './helpers/split-world.js';
import { freePort } from './helpers/free-port.js';
import { browserTest, browserSkip, FrameDriver, launchChromium, virtualAuthenticator } from './helpers/frame-browser.js';
import { startExampleDapp, type ExampleDapp } from '../src/server/frame.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { PASSKEY_PRF_INPUT, passkeyCredentialIdOf, unwrapWithPasskey } from '../packages/sdk/src/split/deviceShare.js';

const EMAIL = `device-share-prf-${Date.now()}@example.com`;
const CHAIN_ID = 31337;

interface Seen {
  url: string;
  method: string;
  body: Buffer;
}

let server: TestServer;
let signer: SignerProcess;
let dapp: ExampleDapp;
let context: BrowserContext;
let userDataDir: string;
let driver: FrameDriver;
let base = '';
let frameUrl = '';
let tab: Page;
let address: Address;
let recoveryCode = '';
/** The PRF authenticator of the profile that recovered the share (the third test), and its passkey's id. */
let recoveredWith: { auth: Awaited<ReturnType<typeof virtualAuthenticator>>; credentialId: string } | undefined;
const seen: Seen[] = [];

interface WalletJson {
  address: string;
  split: {
    factor?: string;
    generation: number;
    shareCWrapped?: string;
    shareCRecoveryWrapped?: string;
    shareCPasskeyWrapped?: string;
    shareACiphertext: string;
    shareB: string;
  };
}

async function walletJson(): Promise<WalletJson> {
  const r = await fetch(`${base}/v1/wallets/me`, { headers: { authorization: `Bearer ${await driver.tokenOf(EMAIL)}` } });
  assert.equal(r.status, 200);
  return (await r.json()) as WalletJson;
}

function signerShareCs(): string[] {
  return seen
    .filter((r) => r.method === 'POST' && r.url.startsWith(`${signer.url}/v1/`))
    .map((r) => (JSON.parse(r.body.toString('utf8') || '{}') as { shareC?: string }).shareC)
    .filter((c): c is string => typeof c === 'string');
}

/** The forms a secret could take on the wire. */
function encodings(b: Uint8Array): string[] {
  const x = Buffer.from(b);
  return [x.toString('hex'), x.toString('base64'), x.toString('base64url')];
}

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
  // The DApp on 127.0.0.1, the wallet on localhost: two sites, so the embedded frame's storage is partitioned.
  dapp = await startExampleDapp({
    host: '127.0.0.1',
    port: 0,
    frameUrl: () => frameUrl,
    // personal_sign needs no chain; the DApp's configuration wants one.
    chains: [{ chainId: CHAIN_ID, name: 'Local chain (unused)', rpcUrl: 'http://127.0.0.1:9' }],
  });
  const port = await freePort();
  base = `http://localhost:${port}`;
  ({ server, signer } = await startSplitFrameServer(
    (signerPort) => ({
      SYMBOLON_PUBLIC_URL: base,
      SYMBOLON_FRAME_ALLOWED_ORIGINS: dapp.origin,
      SYMBOLON_FRAME_SIGNER_URL: `http://127.0.0.1:${signerPort}`,
    }),
    { port },
  ));
  frameUrl = `${base}/frame/`;
  if (browserSkip) return;
  userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  // Third-party storage allowed, as desktop Chrome's default: the frame in the DApp keeps its login (partitioned).
  context = await launchChromium(userDataDir, { thirdPartyStorage: true });
  driver = new FrameDriver(context, frameUrl, base);
  context.on('request', (r: Request) => seen.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await signer?.stop();
  await dapp?.close();
  await server?.close();
});

/** Connect from the DApp in `tab`: a login in the frame if it asks for one, then Approve; the address the DApp shows. */
async function connect(): Promise<Address> {
  await tab.locator('#connect').click();
  const frame = await driver.waitForFrame(tab);
  const login = frame.locator('#email');
  const prompt = frame.locator('#prompt-title', { hasText: 'Connect to this site?' });
  // The frame may still hold the session of an earlier login in this tab's partition, and the site's connection.
  const connected = tab.locator('#address', { hasText: /^0x[0-9a-fA-F]{40}$/ });
  const deadline = Date.now() + 60_000;
  while (!(await login.isVisible()) && !(await prompt.isVisible())) {
    if (await connected.isVisible()) return getAddress((await connected.textContent())!);
    assert.ok(Date.now() < deadline, 'the frame shows the login or the connect prompt');
    await tab.waitForTimeout(100);
  }
  if (await login.isVisible()) await driver.logIn(tab, EMAIL);
  await driver.expectShown(tab, prompt, 60_000);
  await frame.locator('#approve').click();
  await driver.expectShown(tab, tab.locator('#address', { hasText: /^0x[0-9a-fA-F]{40}$/ }));
  return getAddress((await tab.locator('#address').textContent())!);
}

async function addPasskey(): Promise<void> {
  await tab.locator('#home-passkey-add').click();
  await tab.locator('#home-passkey-status', { hasText: 'Passkey added' }).waitFor({ timeout: 30_000 });
}

browserTest('a passkey without PRF: adding the device share with it is refused with DEVICE_PRF_UNSUPPORTED, and nothing changes', async () => {
  tab = await context.newPage();
  const plain = await virtualAuthenticator(context, tab, { hasPrf: false });
  try {
    await refusedWithoutPrf();
  } finally {
    // One internal authenticator per tab: the PRF one replaces it.
    await plain.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: plain.authenticatorId });
  }
});

/** A login by email code on the wallet page in `tab`, up to its device-share box; the address it shows. */
async function logInOnWalletPage(): Promise<Address> {
  await tab.goto(frameUrl);
  await tab.locator('#email').waitFor();
  await tab.locator('#email').fill(EMAIL);
  await tab.locator('#send-code').click();
  await tab.locator('#code').waitFor({ state: 'visible' });
  await tab.locator('#code').fill(await driver.latestCode(EMAIL));
  await tab.locator('#verify').click();
  await tab.locator('#home').waitFor({ timeout: 60_000 });
  await tab.locator('#home-device-box').waitFor({ state: 'visible', timeout: 30_000 });
  return getAddress((await tab.locator('#home-address').textContent())!) as Address;
}

/**
 * Empties the device-key store the wallet frame embedded in `tab` sees. A browser that partitions storage by
 * top-level site gives that frame an empty one. This Chromium build, with third-party storage allowed, does not
 * partition it (measured: the frame sees the wallet page's key), so the test empties it; resolves to what is left.
 */
async function emptyFrameDeviceKeys(): Promise<number> {
  return driver.walletFrame(tab).evaluate(
    () =>
      new Promise<number>((resolve, reject) => {
        const r = indexedDB.open('symbolon-device-keys', 1);
        r.onupgradeneeded = () => r.result.createObjectStore('keys');
        r.onerror = () => reject(r.error);
        r.onsuccess = () => {
          const tx = r.result.transaction('keys', 'readwrite');
          tx.objectStore('keys').clear();
          tx.oncomplete = () => {
            const count = r.result.transaction('keys').objectStore('keys').count();
            count.onsuccess = () => resolve(count.result);
          };
        };
      }),
  );
}

/** The PRF output of passkey `credentialId` (base64) for the device share's input, as the authenticator computes it, asked on the wallet's own page. */
async function prfOutputOf(credentialId: string): Promise<Uint8Array> {
  await tab.goto(frameUrl);
  return new Uint8Array(
    await tab.evaluate(
      async ({ id, input }) => {
        const cred = (await navigator.credentials.get({
          publicKey: {
            challenge: crypto.getRandomValues(new Uint8Array(32)),
            allowCredentials: [{ type: 'public-key', id: Uint8Array.from(atob(id), (c) => c.charCodeAt(0)) }],
            userVerification: 'required',
            extensions: { prf: { eval: { first: new Uint8Array(input) } } },
          },
        })) as PublicKeyCredential;
        return Array.from(new Uint8Array(cred.getClientExtensionResults().prf!.results!.first as ArrayBuffer));
      },
      { id: credentialId, input: Array.from(PASSKEY_PRF_INPUT) },
    ),
  );
}

/** The key derived from a PRF output (HKDF-SHA-256, docs/signer.md "The passkey wrap"), as raw bytes. */
async function derivedKeyOf(prfOutput: Uint8Array): Promise<Uint8Array> {
  const label = 'symbolon/share-c/passkey/v1';
  return new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: new TextEncoder().encode(label), info: new TextEncoder().encode(`${label}\n${address.toLowerCase()}`) },
      await crypto.subtle.importKey('raw', prfOutput as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveBits']),
      256,
    ),
  );
}

/** The wire: share C only to the signer; `secrets` (PRF outputs, derived keys) and the recovery codes in no request. */
function assertWire(secrets: Uint8Array[], codes: string[]): void {
  const shareCs = new Set(signerShareCs());
  for (const r of seen) {
    const text = r.body.toString('latin1') + r.url;
    const lower = text.toLowerCase();
    for (const secret of secrets) {
      for (const e of encodings(secret)) assert.ok(!text.includes(e) && !lower.includes(e.toLowerCase()), `a PRF secret in a request to ${r.url}`);
      assert.ok(!r.body.includes(Buffer.from(secret)), `raw PRF bytes in a request to ${r.url}`);
    }
    for (const code of codes) assert.ok(!text.includes(code) && !text.includes(code.replaceAll('-', '')), `a recovery code in a request to ${r.url}`);
    if (r.url.startsWith(`${signer.url}/`)) continue;
    for (const c of shareCs) {
      const hex = Buffer.from(c, 'base64').toString('hex');
      assert.ok(!text.includes(c) && !lower.includes(hex), `share C in a request to ${r.url}`);
    }
  }
}

/** Signs `message` from the example DApp in `tab` (connected), approving in the frame; asserts it recovers to the wallet address. */
async function signFromDapp(message: string): Promise<void> {
  await tab.locator('#message').fill(message);
  await tab.locator('#sign').click();
  await driver.answerPrompt(tab, { title: 'Sign a message', shows: [message] }, 'approve');
  await driver.expectShown(tab, tab.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }), 60_000);
  const signature = (await tab.locator('#signature').textContent()) as Hex;
  assert.ok(await verifyMessage({ address, message, signature }), 'the signature recovers to the wallet address');
}

/**
 * From the DApp of another site in `tab`, whose frame holds no device key: connects, signs `message` with the
 * passkey-wrapped share, and checks that the passkey was used in the embedded frame, that C went to the signer,
 * and that the passkey's PRF output opens the stored `wrapped` to exactly the C the signer received.
 * @returns the PRF output (for the wire check).
 */
async function signCrossSiteWithPasskey(
  prfAuth: Awaited<ReturnType<typeof virtualAuthenticator>>,
  credentialId: string,
  wrapped: Uint8Array,
  message: string,
): Promise<Uint8Array> {
  await tab.goto(`${dapp.origin}/`);
  await tab.locator('#connect:not([disabled])').waitFor();
  assert.equal(await connect(), address);
  assert.equal(await emptyFrameDeviceKeys(), 0, 'the frame in the DApp holds no device key');
  const counter = async () => (await prfAuth.cdp.send('WebAuthn.getCredentials', { authenticatorId: prfAuth.authenticatorId })).credentials[0]!.signCount;
  const signCount = await counter();
  const sharesBefore = signerShareCs().length;
  await signFromDapp(message);
  assert.ok((await counter()) > signCount, 'the passkey was used in the embedded frame');
  const sent = signerShareCs().slice(sharesBefore);
  assert.ok(sent.length > 0, 'the frame sent share C to the signer');
  // The PRF output as the authenticator computes it: it opens the stored wrap to the C the signer got.
  const prfOutput = await prfOutputOf(credentialId);
  const shareC = await unwrapWithPasskey({ prfOutput, wrapped, address });
  assert.ok(shareC, 'the PRF output opens the stored wrap');
  try {
    assert.equal(Buffer.from(shareC).toString('base64'), sent.at(-1), 'and it is the share C the signer received');
  } finally {
    shareC.fill(0);
  }
  return prfOutput;
}

async function refusedWithoutPrf(): Promise<void> {
  address = await logInOnWalletPage();
  // No passkey yet: nothing to wrap share C under, so the passkey buttons are not offered.
  assert.equal(await tab.locator('#home-device-add-passkey').isVisible(), false, 'no passkey: no passkey button');
  await addPasskey();

  assert.equal(await tab.locator('#home-device-add-passkey').isVisible(), true, 'a passkey added: the button shows');
  assert.equal(await tab.locator('#home-device-add-passkey').isDisabled(), true, 'the warning comes first');
  await tab.locator('#home-device-ack').check();
  const rotationsBefore = seen.filter((r) => r.url === `${signer.url}/v1/rotate`).length;
  await tab.locator('#home-device-add-passkey').click();
  await tab
    .locator('#home-error', { hasText: 'DEVICE_PRF_UNSUPPORTED' })
    .waitFor({ timeout: 30_000 })
    .catch(async (e: unknown) => {
      assert.fail(`${e}: the page shows "${await tab.locator('#home-error').textContent()}" / "${await tab.locator('#home-device-status').textContent()}"`);
    });
  assert.match((await tab.locator('#home-error').textContent()) ?? '', /no PRF extension/);
  assert.equal(seen.filter((r) => r.url === `${signer.url}/v1/rotate`).length, rotationsBefore, 'refused before any rotation');
  assert.equal((await walletJson()).split.factor, undefined, 'still two shares');
}

browserTest('a PRF passkey: the device share is added, and a DApp of another site signs with it; C only to the signer', async () => {
  const prfAuth = await virtualAuthenticator(context, tab, { hasPrf: true });
  await tab.reload();
  await tab.locator('#home-device-box').waitFor({ state: 'visible', timeout: 60_000 });
  await addPasskey();
  const [credential] = (await prfAuth.cdp.send('WebAuthn.getCredentials', { authenticatorId: prfAuth.authenticatorId })).credentials;
  assert.ok(credential, 'the PRF authenticator holds the new passkey');

  await tab.locator('#home-device-ack').check();
  await tab.locator('#home-device-add-passkey').click();
  await tab.locator('#home-device-code', { hasText: /^([A-Z2-7]{4}-){6}[A-Z2-7]{2}$/ }).waitFor({ timeout: 60_000 });
  recoveryCode = (await tab.locator('#home-device-code').textContent())!;
  assert.equal(await tab.locator('#home-error').textContent(), '');
  const stored = await walletJson();
  assert.equal(stored.split.factor, 'device');
  assert.ok(stored.split.shareCPasskeyWrapped, 'the wallet store holds the passkey wrap');
  const wrapped = new Uint8Array(Buffer.from(stored.split.shareCPasskeyWrapped, 'base64'));
  assert.equal(Buffer.from(passkeyCredentialIdOf(wrapped)!).toString('base64'), credential.credentialId, 'the wrap names the PRF passkey');

  // The DApp on another site, in the same tab (the same authenticator): its frame's partition has no device key.
  const prfOutput = await signCrossSiteWithPasskey(prfAuth, credential.credentialId, wrapped, 'signed cross-site with the passkey-wrapped share');
  assert.equal(prfOutput.length, 32);
  assertWire([prfOutput, await derivedKeyOf(prfOutput)], [recoveryCode]);

  // The key: share A as the frame gave it to the custodian's Encrypt at creation, XOR share B as it uploaded it.
  const encrypt = seen.find((r) => r.method === 'POST' && r.url === `${base}/` && r.body.toString('utf8').includes('"Plaintext"'));
  const create = seen.find((r) => r.method === 'POST' && r.url === `${base}/v1/wallets`);
  assert.ok(encrypt && create, 'the creation was captured');
  const shareA = Buffer.from((JSON.parse(encrypt.body.toString('utf8')) as { Plaintext: string }).Plaintext, 'base64');
  const shareB0 = Buffer.from((JSON.parse(create.body.toString('utf8')) as { shareB: string }).shareB, 'base64');
  const key = Buffer.from(shareA.map((a, i) => a ^ shareB0[i]!));
  for (const r of seen) {
    const text = (r.body.toString('latin1') + r.url).toLowerCase();
    for (const e of encodings(key)) assert.ok(!text.includes(e.toLowerCase()) && !r.body.includes(key), `the key in a request to ${r.url}`);
  }
});

browserTest(
  'the device lost: a fresh profile recovers the share with the code and a PRF passkey (a passkey without PRF refused first), and a DApp of another site signs with it',
  async () => {
    assert.ok(recoveryCode, 'the test before added the device share');
    const lost = await walletJson();
    // Lose the device: the browser profile with the device key and its passkeys is gone; a new one logs in by email code.
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
    userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
    context = await launchChromium(userDataDir, { thirdPartyStorage: true });
    driver = new FrameDriver(context, frameUrl, base);
    context.on('request', (r: Request) => seen.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
    tab = await context.newPage();

    // First a passkey without PRF: Recover with it is refused before the code is used, and nothing changes.
    const plain = await virtualAuthenticator(context, tab, { hasPrf: false });
    try {
      assert.equal(await logInOnWalletPage(), address);
      await addPasskey();
      await tab.locator('#home-device-recover-code').fill(recoveryCode);
      const rotationsBefore = seen.filter((r) => r.url === `${signer.url}/v1/rotate`).length;
      await tab.locator('#home-device-recover-passkey').click();
      await tab
        .locator('#home-error', { hasText: 'DEVICE_PRF_UNSUPPORTED' })
        .waitFor({ timeout: 30_000 })
        .catch(async (e: unknown) => {
          assert.fail(`${e}: the page shows "${await tab.locator('#home-error').textContent()}" / "${await tab.locator('#home-device-status').textContent()}"`);
        });
      assert.equal(seen.filter((r) => r.url === `${signer.url}/v1/rotate`).length, rotationsBefore, 'refused before any rotation');
      const unchanged = await walletJson();
      assert.deepEqual(unchanged.split, lost.split, 'the stored shares are unchanged');
    } finally {
      await plain.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: plain.authenticatorId });
    }

    // Then a PRF passkey on this device: Recover, unlocked by it too.
    const prfAuth = await virtualAuthenticator(context, tab, { hasPrf: true });
    await tab.reload();
    await tab.locator('#home-device-box').waitFor({ state: 'visible', timeout: 60_000 });
    await addPasskey();
    const [credential] = (await prfAuth.cdp.send('WebAuthn.getCredentials', { authenticatorId: prfAuth.authenticatorId })).credentials;
    assert.ok(credential, 'the PRF authenticator holds the new passkey');
    await tab.locator('#home-device-recover-code').fill(recoveryCode);
    await tab.locator('#home-device-recover-passkey').click();
    await tab.locator('#home-device-status', { hasText: 'This device now holds the share' }).waitFor({ timeout: 60_000 });
    const newCode = (await tab.locator('#home-device-code').textContent())!;
    assert.match(newCode, /^([A-Z2-7]{4}-){6}[A-Z2-7]{2}$/);
    assert.notEqual(newCode, recoveryCode);
    assert.equal(await tab.locator('#home-error').textContent(), '');
    const stored = await walletJson();
    assert.equal(stored.split.factor, 'device');
    assert.ok(stored.split.shareCPasskeyWrapped, 'the wallet store holds a passkey wrap');
    assert.notEqual(stored.split.shareCPasskeyWrapped, lost.split.shareCPasskeyWrapped, 'a new wrap, of the new share C');
    const wrapped = new Uint8Array(Buffer.from(stored.split.shareCPasskeyWrapped, 'base64'));
    assert.equal(Buffer.from(passkeyCredentialIdOf(wrapped)!).toString('base64'), credential.credentialId, "the wrap names this device's PRF passkey");

    // A DApp of another site, its frame with no device key: it signs with the passkey-wrapped share.
    const prfOutput = await signCrossSiteWithPasskey(
      prfAuth,
      credential.credentialId,
      wrapped,
      'signed cross-site after the recovery, with the passkey-wrapped share',
    );
    assertWire([prfOutput, await derivedKeyOf(prfOutput)], [recoveryCode, newCode]);
    recoveredWith = { auth: prfAuth, credentialId: credential.credentialId };
  },
);

browserTest('a device share added without a passkey: Unlock it with a passkey too wraps it later, and a DApp of another site signs with it', async () => {
  assert.ok(recoveredWith, 'the test before left a profile with a PRF passkey');
  // Back to two shares (the passkey opens C: the cross-site check above emptied the device keys), then the factor without a passkey.
  await tab.goto(frameUrl);
  await tab.locator('#home-device-remove').click();
  await tab.locator('#home-device-status', { hasText: 'back to two shares' }).waitFor({ timeout: 60_000 });
  await tab.locator('#home-device-ack').check();
  await tab.locator('#home-device-add').click();
  await tab.locator('#home-device-code', { hasText: /^([A-Z2-7]{4}-){6}[A-Z2-7]{2}$/ }).waitFor({ timeout: 60_000 });
  const code = (await tab.locator('#home-device-code').textContent())!;
  const before = await walletJson();
  assert.equal(before.split.factor, 'device');
  assert.equal(before.split.shareCPasskeyWrapped, undefined, 'added without a passkey: no passkey wrap');

  await tab.locator('#home-device-wrap-passkey').click();
  await tab.locator('#home-device-status', { hasText: 'Your passkey now unlocks the device share too' }).waitFor({ timeout: 60_000 });
  assert.equal(await tab.locator('#home-error').textContent(), '');
  const after = await walletJson();
  assert.equal(after.split.generation, before.split.generation + 1, 'one rotation');
  assert.equal(after.split.shareCWrapped, before.split.shareCWrapped, 'the device key still opens C');
  assert.equal(after.split.shareCRecoveryWrapped, before.split.shareCRecoveryWrapped, 'the recovery code still opens C');
  assert.ok(after.split.shareCPasskeyWrapped, 'the wallet store holds the passkey wrap');
  const wrapped = new Uint8Array(Buffer.from(after.split.shareCPasskeyWrapped, 'base64'));
  assert.equal(Buffer.from(passkeyCredentialIdOf(wrapped)!).toString('base64'), recoveredWith.credentialId, 'the wrap names the PRF passkey');

  const prfOutput = await signCrossSiteWithPasskey(
    recoveredWith.auth,
    recoveredWith.credentialId,
    wrapped,
    'signed cross-site with a passkey wrap added later',
  );
  assertWire([prfOutput, await derivedKeyOf(prfOutput)], [code]);
});
