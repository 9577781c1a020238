/**
 * `symbolon wallet ...` as an operator runs it: the real CLI in a child
 * process against a real custodian (credentials from the AWS_* variables, or
 * from the data directory's admin-credentials.json), with `--json` output
 * parsed as a script would, and a Hardhat EDR node for `send`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { JsonRpcProvider, Transaction, Wallet, parseEther, verifyMessage } from 'ethers';
import { startTestServer, ADMIN, REGION, STORE, type TestServer } from './helpers/server.js';
import { startHardhatNode } from './helpers/chain.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const FUNDER_KEY = `0x${'ad'.repeat(32)}`;

let server: TestServer;
let rpcUrl: string;
let closeNode: () => Promise<void>;

before(async () => {
  server = await startTestServer();
  const node = await startHardhatNode(FUNDER_KEY);
  rpcUrl = node.url;
  closeNode = () => node.close();
});
after(async () => {
  await closeNode?.();
  await server?.close();
});

const AWS_ENV = { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION };

async function wallet(args: string[], env: Record<string, string> = AWS_ENV): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/symbolon.js', 'wallet', ...args], {
      cwd: ROOT,
      env: { ...clean, ...env, NODE_NO_WARNINGS: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test(`wallet create, address, list, sign-message and sign-tx with --json (${STORE})`, async () => {
  const created = await wallet(['create', '--endpoint', server.endpoint, '--alias', 'treasury', '--tag', 'team=ops', '--description', 'cli test', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const { keyId, address, alias } = JSON.parse(created.stdout);
  assert.match(address, /^0x[0-9a-fA-F]{40}$/);
  assert.equal(alias, 'alias/treasury');

  const byAlias = JSON.parse((await wallet(['address', '--endpoint', server.endpoint, '--key', 'alias/treasury', '--json'])).stdout);
  assert.deepEqual(byAlias, { keyId: 'alias/treasury', address });
  const plain = await wallet(['address', '--endpoint', server.endpoint, '--key', keyId]);
  assert.equal(plain.stdout.trim(), address);

  const listed = JSON.parse((await wallet(['list', '--endpoint', server.endpoint, '--json'])).stdout);
  const entry = listed.wallets.find((w: { keyId: string }) => w.keyId === keyId);
  assert.deepEqual({ address: entry.address, aliases: entry.aliases, keyState: entry.keyState }, { address, aliases: ['alias/treasury'], keyState: 'Enabled' });

  const msg = JSON.parse((await wallet(['sign-message', '--endpoint', server.endpoint, '--key', keyId, '--message', 'hello from the CLI', '--json'])).stdout);
  assert.equal(verifyMessage('hello from the CLI', msg.signature), address);

  const tx = {
    type: 'eip1559',
    chainId: 1,
    nonce: 3,
    to: '0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
    value: '1000000000000000',
    gas: 21000,
    maxFeePerGas: '0x6fc23ac00',
    maxPriorityFeePerGas: '1000000000',
  };
  const file = join(server.dataDir, 'tx.json');
  writeFileSync(file, JSON.stringify(tx));
  const signed = JSON.parse((await wallet(['sign-tx', '--endpoint', server.endpoint, '--key', keyId, '--tx-file', file, '--json'])).stdout);
  const parsed = Transaction.from(signed.signedTransaction);
  assert.equal(parsed.from, address);
  assert.equal(signed.from, address);
  assert.equal(parsed.type, 2);
  assert.equal(parsed.nonce, 3);
  assert.equal(parsed.value, 10n ** 15n);
});

test('wallet send: fills nonce and fees from --rpc, broadcasts, waits for the receipt', async () => {
  const created = JSON.parse((await wallet(['create', '--endpoint', server.endpoint, '--json'])).stdout);
  const provider = new JsonRpcProvider(rpcUrl, 31337, { staticNetwork: true, cacheTimeout: -1 });
  try {
    await (await new Wallet(FUNDER_KEY, provider).sendTransaction({ to: created.address, value: parseEther('1') })).wait();
    const out = await wallet([
      'send',
      '--endpoint',
      server.endpoint,
      '--key',
      created.keyId,
      '--rpc',
      rpcUrl,
      '--tx',
      JSON.stringify({ to: '0x00000000000000000000000000000000000000aa', value: '12345' }),
      '--json',
    ]);
    assert.equal(out.code, 0, out.stderr);
    const sent = JSON.parse(out.stdout);
    assert.equal(sent.status, 1);
    assert.equal(sent.from, created.address);
    assert.equal(await provider.getBalance('0x00000000000000000000000000000000000000aa'), 12345n);
    assert.equal((await provider.getTransaction(sent.hash))!.from, created.address);
  } finally {
    provider.destroy();
  }
});

test("credentials from the data directory's admin-credentials.json when no AWS_* variables are set", async () => {
  writeFileSync(
    join(server.dataDir, 'admin-credentials.json'),
    JSON.stringify({ accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey, region: REGION }),
  );
  const out = await wallet(['create', '--endpoint', server.endpoint, '--data', server.dataDir, '--json'], {});
  assert.equal(out.code, 0, out.stderr);
  assert.match(JSON.parse(out.stdout).address, /^0x[0-9a-fA-F]{40}$/);
});

test('mistakes: usage errors exit 2, KMS refusals exit 1 with the AWS error name and no payload', async () => {
  const noKey = await wallet(['address', '--endpoint', server.endpoint]);
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /--key is required/);
  const badJson = await wallet(['sign-tx', '--endpoint', server.endpoint, '--key', 'alias/treasury', '--tx', '{nope']);
  assert.equal(badJson.code, 2);
  const unknown = await wallet(['address', '--endpoint', server.endpoint, '--key', 'alias/missing']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /NotFoundException/);
  const wrongSecret = await wallet(['list', '--endpoint', server.endpoint], { ...AWS_ENV, AWS_SECRET_ACCESS_KEY: 'wrong-secret-wrong-secret-wrong-secret' });
  assert.equal(wrongSecret.code, 1);
  assert.match(wrongSecret.stderr, /InvalidSignatureException/);
  assert.doesNotMatch(wrongSecret.stderr, /wrong-secret/);
  const badTag = await wallet(['create', '--endpoint', server.endpoint, '--tag', 'novalue']);
  assert.equal(badTag.code, 2);
});
