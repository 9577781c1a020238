/**
 * The SDK as an outside developer gets it: `npm pack` in packages/sdk (which
 * builds first, prepack), the tarball installed from a file into fresh
 * projects in the temporary directory (outside the repository, so nothing
 * resolves through the monorepo), with their other packages from the npm
 * registry (`--prefer-offline`: the local cache first). A running Symbolon
 * (test/helpers/server.ts) is the custodian and the wallet.
 *
 * - ESM: a Node script imports @symbolon/sdk/viem with viem and the AWS SDK
 *   installed but not ethers (an optional peer), and signs with a KMS key.
 * - CommonJS: a Node script `require`s @symbolon/sdk (require(esm): Node
 *   ≥ 20.19 / 22.12) and signs with KmsSigner.
 * - TypeScript: `tsc --noEmit` passes with moduleResolution bundler and
 *   nodenext, and the types are real (a wrong call is an error).
 * - Vite: an app using @symbolon/sdk/browser with viem, built with Vite,
 *   served on its own origin and run in Chromium: it connects to the wallet
 *   frame and signs a message. The bundle holds no ethers.
 *
 * Without the npm registry or Chromium the tests are skipped, saying why,
 * unless SYMBOLON_REQUIRE_BROWSER=1 (CI), where they fail instead.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { build } from 'esbuild';
import type { BrowserContext } from 'playwright-core';
import { getAddress, verifyMessage, type Address, type Hex } from 'viem';
import { toKmsAccount } from '@symbolon/sdk/viem';
import { ADMIN, REGION, startTestServer, type TestServer } from '../../../test/helpers/server.js';
import { BROWSER_MISSING } from '../../../test/helpers/browser-test.js';
import { FrameDriver, launchChromium } from '../../../test/helpers/frame-browser.js';

const run = promisify(execFile);
const SDK_DIR = join(import.meta.dirname, '..');
const REPO = join(SDK_DIR, '..', '..');
const REQUIRED = process.env.SYMBOLON_REQUIRE_BROWSER === '1';
// The versions the repository itself is tested with (package.json, package-lock.json).
const VERSIONS = { viem: '2.57.20', ethers: '6.17.0', kms: '3.1164.0', typescript: '5.9.3', vite: '8.4.0' };
const NETWORK_ERROR = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network/i;

let work = '';
let tarball = '';
let server: TestServer;
let keyId = '';
let keyAddress: Address;
/** Why the tests that need the npm registry are skipped, if they are. */
let offline: string | undefined;
const projects = { esm: '', cjs: '', vite: '' };

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** A fresh project: package.json, its files, then the tarball and `packages` installed from the registry (cache first). */
async function project(name: string, type: 'module' | 'commonjs', packages: string[], files: Record<string, string>): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFiles(dir, { 'package.json': JSON.stringify({ name, private: true, type }), ...files });
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--save-exact', tarball, ...packages], {
    cwd: dir,
    maxBuffer: 16 << 20,
  });
  return dir;
}

const skipOffline = (t: TestContext): boolean => {
  if (offline) t.skip(offline);
  return offline !== undefined;
};

before(async () => {
  // What is packed does not depend on the store: the tests run once, in the embedded-SQLite pass.
  if (process.env.DATABASE_URL) {
    offline = 'the packed SDK does not depend on the store; these tests run in the embedded-SQLite pass';
    return;
  }
  work = mkdtempSync(join(tmpdir(), 'symbolon-sdk-packed-'));
  // npm pack runs prepack (npm run build) first: the tarball holds what the build made now.
  const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: SDK_DIR, maxBuffer: 16 << 20 });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info!.filename);
  const files = info!.files.map((f) => f.path);
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/browser/index.js', 'dist/viem.d.ts', 'src/index.ts', 'package.json'])
    assert.ok(files.includes(f), `the tarball has ${f}`);
  assert.ok(!files.some((f) => f.startsWith('test/')), 'no tests in the tarball');

  server = await startTestServer();
  const created = await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
  keyId = created.KeyMetadata!.KeyId!;
  keyAddress = (await toKmsAccount({ client: server.kms(), keyId })).address;

  const { viem, ethers, kms, typescript, vite } = VERSIONS;
  try {
    [projects.esm, projects.cjs, projects.vite] = await Promise.all([
      // No ethers here: @symbolon/sdk/viem must not need it.
      project('node-esm', 'module', [`viem@${viem}`, `@aws-sdk/client-kms@${kms}`], { 'sign.mjs': ESM_SCRIPT }),
      project('node-cjs', 'commonjs', [`viem@${viem}`, `ethers@${ethers}`, `@aws-sdk/client-kms@${kms}`, `typescript@${typescript}`], {
        'sign.cjs': CJS_SCRIPT,
        ...TS_PROJECT,
      }),
      project('vite-app', 'module', [`viem@${viem}`, `vite@${vite}`], VITE_APP),
    ]);
  } catch (e) {
    const message = String((e as { stderr?: string }).stderr || (e as Error).message);
    if (REQUIRED || !NETWORK_ERROR.test(message)) throw e;
    offline = `the npm registry is unreachable (${message
      .split('\n')
      .find((l) => NETWORK_ERROR.test(l))
      ?.trim()}) — packed-SDK test skipped`;
  }
});

after(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const ESM_SCRIPT = `
import { createKmsHttpClient, toKmsAccount } from '@symbolon/sdk/viem';
import { nodeSigV4Hashes } from '@symbolon/sdk/node';
const [endpoint, region, accessKeyId, secretAccessKey, keyId] = process.argv.slice(2);
const client = createKmsHttpClient({ endpoint, region, credentials: { accessKeyId, secretAccessKey }, hashes: nodeSigV4Hashes });
const account = await toKmsAccount({ client, keyId });
console.log(JSON.stringify({ address: account.address, signature: await account.signMessage({ message: 'from an ESM project' }) }));
`;

const CJS_SCRIPT = `
const { KmsSigner } = require('@symbolon/sdk');
const [endpoint, region, accessKeyId, secretAccessKey, keyId] = process.argv.slice(2);
const signer = new KmsSigner({ client: { endpoint, region, credentials: { accessKeyId, secretAccessKey } }, keyId });
(async () => {
  console.log(JSON.stringify({ address: await signer.getAddress(), signature: await signer.signMessage('from a CommonJS project') }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const TS_SOURCE = `
import { KmsSigner, toKmsAccount, type KmsAccount } from '@symbolon/sdk';
import { createKmsHttpClient } from '@symbolon/sdk/viem';
import { SymbolonProvider, type EIP6963ProviderDetail } from '@symbolon/sdk/browser';
import { createNodeKmsClient } from '@symbolon/sdk/node';
import { masterKeyPolicy } from '@symbolon/sdk/master-key-policy';
import type { Address } from 'viem';

export async function address(): Promise<Address> {
  const client = createKmsHttpClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  const account: KmsAccount = await toKmsAccount({ client, keyId: 'alias/k' });
  return account.address;
}
export const signer = (): KmsSigner => new KmsSigner({ client: { region: 'us-east-1' }, keyId: 'alias/k' });
export const provider = (): SymbolonProvider => new SymbolonProvider({ frameUrl: 'https://wallet.example/frame/', chains: [{ chainId: 1 }] });
export type Detail = EIP6963ProviderDetail<SymbolonProvider>;
export const node = createNodeKmsClient;
export const policy = masterKeyPolicy;
// The types are the SDK's own, not any: a wrong argument is an error.
// @ts-expect-error keyId is a string
export const wrong = () => toKmsAccount({ client: { region: 'us-east-1' }, keyId: 42 });
`;

const tsconfig = (module: string, moduleResolution: string) =>
  JSON.stringify({
    compilerOptions: { target: 'ES2022', lib: ['ES2023', 'DOM'], module, moduleResolution, strict: true, noEmit: true, skipLibCheck: true, types: [] },
    files: ['main.ts'],
  });

const TS_PROJECT = {
  'main.ts': TS_SOURCE,
  'tsconfig.bundler.json': tsconfig('ESNext', 'Bundler'),
  'tsconfig.nodenext.json': tsconfig('NodeNext', 'NodeNext'),
};

/** A DApp built with Vite: SymbolonProvider from @symbolon/sdk/browser, viem for the rest; the frame URL comes in the query string. */
const VITE_APP = {
  'index.html': `<!doctype html>
<html><head><meta charset="utf-8"><title>Vite DApp</title></head>
<body>
  <button id="connect" disabled>Connect</button> <code id="address">not connected</code>
  <button id="sign" disabled>Sign</button> <code id="signature"></code>
  <p id="error"></p>
  <script type="module" src="/main.ts"></script>
</body></html>
`,
  'main.ts': `
import { SymbolonProvider } from '@symbolon/sdk/browser';
import { createWalletClient, custom, type Address } from 'viem';

const $ = (id: string) => document.getElementById(id)!;
// Where the wallet is: the test's server says (a real DApp has it in its configuration).
const frameUrl = await (await fetch('/frame-url')).text();
const provider = new SymbolonProvider({ frameUrl, chains: [{ chainId: 31337, name: 'Local' }] });
const wallet = createWalletClient({ transport: custom(provider) });
let account: Address | undefined;
const fail = (e: unknown) => { $('error').textContent = String((e as Error).message ?? e); };
$('connect').addEventListener('click', () => {
  wallet.requestAddresses().then(([a]) => { account = a; $('address').textContent = a!; ($('sign') as HTMLButtonElement).disabled = false; }, fail);
});
$('sign').addEventListener('click', () => {
  wallet.signMessage({ account: account!, message: 'from a Vite app' }).then((s) => { $('signature').textContent = s; }, fail);
});
($('connect') as HTMLButtonElement).disabled = false;
`,
  // Top-level await (the frame URL fetch) needs ES2022.
  'vite.config.js': `export default { logLevel: 'warn', build: { target: 'es2022', sourcemap: false } };\n`,
};

async function signIn(dir: string, script: string): Promise<{ address: Address; signature: Hex }> {
  const { stdout, stderr } = await run(process.execPath, [script, server.endpoint, REGION, ADMIN.accessKeyId, ADMIN.secretAccessKey, keyId], { cwd: dir });
  assert.equal(stderr, '', 'no warning on stderr');
  return JSON.parse(stdout) as { address: Address; signature: Hex };
}

test('a Node ESM project without ethers signs with @symbolon/sdk/viem from the tarball', async (t) => {
  if (skipOffline(t)) return;
  assert.throws(() => readFileSync(join(projects.esm, 'node_modules', 'ethers', 'package.json')), 'ethers is not installed (an optional peer)');
  const { address, signature } = await signIn(projects.esm, 'sign.mjs');
  assert.equal(getAddress(address), keyAddress);
  assert.ok(await verifyMessage({ address: keyAddress, message: 'from an ESM project', signature }));
});

test('a CommonJS project requires @symbolon/sdk and signs with KmsSigner', async (t) => {
  if (skipOffline(t)) return;
  const { address, signature } = await signIn(projects.cjs, 'sign.cjs');
  assert.equal(getAddress(address), keyAddress);
  assert.ok(await verifyMessage({ address: keyAddress, message: 'from a CommonJS project', signature }));
});

test('a TypeScript project type-checks against the packed types with moduleResolution bundler and nodenext', async (t) => {
  if (skipOffline(t)) return;
  for (const config of ['tsconfig.bundler.json', 'tsconfig.nodenext.json']) {
    const tsc = join(projects.cjs, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', config], { cwd: projects.cjs }).catch((e: { stdout: string }) =>
      assert.fail(`${config}: ${e.stdout}`),
    );
    assert.equal(result.stdout, '', config);
  }
});

/** Serves a built app's files on a loopback port of its own (its own origin), and the wallet frame's URL at /frame-url. */
async function serveStatic(root: string, frameUrl: () => string): Promise<{ origin: string; server: Server }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const http = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/frame-url') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(frameUrl());
    const file = join(root, path === '/' ? 'index.html' : path);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address() as { port: number };
  return { origin: `http://127.0.0.1:${address.port}`, server: http };
}

test('a Vite app with @symbolon/sdk/browser and viem builds without ethers, and connects and signs in Chromium', async (t) => {
  if (skipOffline(t)) return;
  await run(process.execPath, [join(projects.vite, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], { cwd: projects.vite });
  const assets = join(projects.vite, 'dist', 'assets');
  const js = readdirSync(assets).filter((f) => f.endsWith('.js'));
  const bundle = js.map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
  // (Assertions on the text, not matches: a failure must not print a megabyte of minified code.)
  assert.ok(bundle.includes('symbolon-frame/1'), 'the SDK (its frame protocol) is in the bundle');
  const unwanted = bundle.match(/ethers|@aws-sdk|undici|node:[a-z]/)?.[0];
  assert.equal(unwanted, undefined, 'no ethers, AWS SDK or Node module in a viem-only browser bundle');

  // The browser entry alone, as a bundler ships it (minified, gzip): reported, not asserted.
  const entry = await build({
    stdin: { contents: "export * from '@symbolon/sdk/browser';", resolveDir: projects.vite },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
  });
  const min = entry.outputFiles[0]!.contents;
  t.diagnostic(`@symbolon/sdk/browser: ${min.length} B minified, ${gzipSync(min).length} B gzip`);
  t.diagnostic(`Vite app (viem + SDK browser entry): ${Buffer.byteLength(bundle)} B minified, ${gzipSync(bundle).length} B gzip`);

  if (BROWSER_MISSING) {
    if (REQUIRED) assert.fail(`${BROWSER_MISSING} (SYMBOLON_REQUIRE_BROWSER=1: the browser tests must run)`);
    t.skip(`${BROWSER_MISSING} — the Chromium part of the Vite test skipped`);
    return;
  }
  const built = spawnSync(process.execPath, ['scripts/build-web.js'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(built.status, 0, `npm run build:web failed: ${built.stderr}`);
  let frameUrl = '';
  const app = await serveStatic(join(projects.vite, 'dist'), () => frameUrl);
  const wallet = await startTestServer({
    env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1', SYMBOLON_FRAME_ALLOWED_ORIGINS: app.origin, SYMBOLON_DAPP_PORT: 'off' },
  });
  const userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await launchChromium(userDataDir);
    frameUrl = `${wallet.endpoint}/frame/`;
    const driver = new FrameDriver(context, frameUrl, wallet.endpoint);
    const page = await driver.openDapp(app.origin);
    const email = `vite-${Date.now()}@example.com`;
    const address = await driver.connect(page, email);
    assert.equal(address, (await driver.walletOfUser(email)).address);
    await page.locator('#sign').click();
    await driver.answerPrompt(page, { title: 'Sign a message', shows: ['from a Vite app', app.origin] }, 'approve');
    await driver.expectShown(page, page.locator('#signature', { hasText: /^0x[0-9a-f]{130}$/ }));
    const signature = (await page.locator('#signature').textContent()) as Hex;
    assert.ok(await verifyMessage({ address, message: 'from a Vite app', signature }));
  } finally {
    await context?.close();
    rmSync(userDataDir, { recursive: true, force: true });
    await wallet.close();
    await new Promise((resolve) => app.server.close(resolve));
  }
});
