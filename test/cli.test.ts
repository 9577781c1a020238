/**
 * The `symbolon` command line as a user meets it (issue #14, "CLI"): the real
 * CLI in child processes against a real custodian and a real Hardhat node —
 * help for every command and subcommand, --version, no AWS SDK warning, one
 * endpoint rule, `wallet list` past keys hidden from the caller, `sign-tx`
 * refusing a transaction without a chain id, `send` naming insufficient funds
 * with the amounts, `audit query --key alias/NAME`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { Transaction } from 'ethers';
import { startTestServer, ADMIN, REGION, STORE, type TestServer } from './helpers/server.js';
import { startHardhatNode, type LocalChain } from './helpers/chain.js';
import { emailLogin } from './helpers/email-login.js';
import { KmsWalletManager } from '../packages/sdk/src/index.js';
import { dropPgSchema } from '../src/storage/database.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let server: TestServer;
let chain: LocalChain;

before(async () => {
  server = await startTestServer({ env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' } });
  chain = await startHardhatNode(`0x${'ad'.repeat(32)}`);
});
after(async () => {
  await chain?.close();
  await server?.close();
});

const ADMIN_ENV = { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION };

/** Tests whose subject does not touch the store run in the SQLite pass only (the PostgreSQL pass would repeat them). */
const STORE_INDEPENDENT = { skip: process.env.DATABASE_URL ? 'does not depend on the store: runs in the SQLite pass' : false };

/** Runs the real CLI as a user's shell would: no NODE_NO_WARNINGS, no AWS_* or SYMBOLON_* variables but those given. */
async function symbolon(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('SYMBOLON_') && k !== 'NODE_NO_WARNINGS' && k !== 'DATABASE_URL'),
  );
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/symbolon.js', ...args], { cwd: ROOT, env: { ...clean, ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Runs `jobs` two at a time (the machine has 2 cores). */
async function pairwise<T>(jobs: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < jobs.length; i += 2) out.push(...(await Promise.all(jobs.slice(i, i + 2).map((j) => j()))));
  return out;
}

test('--help and -h on every command and subcommand list its options and environment; --version prints the version', STORE_INDEPENDENT, async () => {
  const top = await symbolon(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /--endpoint aws/);
  const version = await symbolon(['--version']);
  assert.deepEqual([version.code, version.stdout], [0, `${VERSION}\n`]);

  const commands: string[][] = [['serve']];
  for (const group of ['wallet', 'admin', 'audit', 'policy']) {
    const help = await symbolon([group, '--help']);
    assert.equal(help.code, 0, `${group} --help: ${help.stderr}`);
    assert.match(help.stdout, /Environment:/, `${group} --help names the environment variables it reads`);
    // Every subcommand the group's help lists: the first word of each indented command line.
    const subs = new Set<string>();
    for (const line of help.stdout.split('\n')) {
      const m = /^ {2}(approvals )?([a-z][a-z-]+)(?: |$)/.exec(line);
      if (m && !line.startsWith('  --')) subs.add(m[1] ? `approvals ${m[2]}` : m[2]!);
    }
    assert.ok(subs.size >= 3, `${group} lists its commands (${[...subs].join(', ')})`);
    commands.push([group], ...[...subs].map((s) => [group, ...s.split(' ')]));
  }
  const results = await pairwise(
    commands.flatMap((c) => [
      () => symbolon([...c, '--help']).then((r) => ({ c, flag: '--help', r })),
      () => symbolon([...c, '-h']).then((r) => ({ c, flag: '-h', r })),
    ]),
  );
  for (const { c, flag, r } of results) {
    const name = `symbolon ${c.join(' ')} ${flag}`;
    assert.equal(r.code, 0, `${name}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: symbolon ${c.join(' ')}`), name);
    assert.match(r.stdout, /Environment/, `${name} lists the environment variables it reads`);
    assert.equal(r.stderr, '', name);
  }
  const walletHelp = results.find((x) => x.c.join(' ') === 'wallet' && x.flag === '--help')!.r.stdout;
  for (const v of ['SYMBOLON_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_REGION', 'SYMBOLON_DATA_DIR']) assert.ok(walletHelp.includes(v), `wallet --help names ${v}`);
  assert.match(walletHelp, /AWS is never the default/);
});

test("a CLI run prints the CLI's output only: no AWS SDK Node-version warning", STORE_INDEPENDENT, async () => {
  const out = await symbolon(['wallet', 'list', '--endpoint', server.endpoint], ADMIN_ENV);
  assert.equal(out.code, 0, out.stderr);
  assert.doesNotMatch(out.stderr, /NodeVersionSupportWarning|AWS SDK for JavaScript/);
  const admin = await symbolon(['admin', 'list-users', '--endpoint', server.endpoint], ADMIN_ENV);
  assert.equal(admin.code, 0, admin.stderr);
  assert.doesNotMatch(admin.stderr, /NodeVersionSupportWarning|AWS SDK for JavaScript/);
});

test('one endpoint rule: --endpoint, else SYMBOLON_ENDPOINT, else the local server; AWS only when asked', STORE_INDEPENDENT, async () => {
  // SYMBOLON_ENDPOINT is honoured by wallet as by admin (wallet went to AWS KMS before).
  const viaEnv = await symbolon(['wallet', 'create', '--json'], { ...ADMIN_ENV, SYMBOLON_ENDPOINT: server.endpoint });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  const { keyId } = JSON.parse(viaEnv.stdout);
  const described = await server.kms().send(new DescribeKeyCommand({ KeyId: keyId }));
  assert.equal(described.KeyMetadata!.KeySpec, 'ECC_SECG_P256K1');
  const adminViaEnv = await symbolon(['admin', 'list-users'], { ...ADMIN_ENV, SYMBOLON_ENDPOINT: server.endpoint });
  assert.equal(adminViaEnv.code, 0, adminViaEnv.stderr);
  // --endpoint wins over the variable.
  const flagWins = await symbolon(['wallet', 'address', '--key', keyId, '--endpoint', server.endpoint], {
    ...ADMIN_ENV,
    SYMBOLON_ENDPOINT: 'http://127.0.0.1:9',
  });
  assert.equal(flagWins.code, 0, flagWins.stderr);
  // Neither: the local server, never AWS.
  const neither = await symbolon(['wallet', 'list'], ADMIN_ENV);
  assert.doesNotMatch(neither.stderr, /amazonaws|UnrecognizedClient/);
  if (neither.code !== 0) assert.match(neither.stderr, /127\.0\.0\.1:8080|InvalidSignature|ECONNREFUSED/);
  const bad = await symbolon(['wallet', 'list', '--endpoint', 'kms.example'], ADMIN_ENV);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--endpoint must be an http:\/\/ or https:\/\/ URL, or aws/);
  const approvalsOnAws = await symbolon(['admin', 'approvals', 'list', '--endpoint', 'aws'], ADMIN_ENV);
  assert.equal(approvalsOnAws.code, 2);
  assert.match(approvalsOnAws.stderr, /approvals are Symbolon's own API/);
});

test(`wallet list and KmsWalletManager.listWallets() skip keys the caller may not describe (a user's master key) (${STORE})`, async () => {
  const session = await emailLogin(`${server.endpoint}/oidc`, 'list-user@example.com');
  const me = await fetch(`${server.endpoint}/v1/me`, { headers: { authorization: `Bearer ${await session.token()}` } });
  assert.equal(me.status, 200);
  const { masterKeyId } = (await me.json()) as { masterKeyId: string };
  // The master key hides itself from the administrator, as it must.
  await assert.rejects(server.kms().send(new DescribeKeyCommand({ KeyId: masterKeyId })), { name: 'AccessDeniedException' });
  const mine = await symbolon(['wallet', 'create', '--endpoint', server.endpoint, '--json'], ADMIN_ENV);
  const { keyId, address } = JSON.parse(mine.stdout);

  const listed = await symbolon(['wallet', 'list', '--endpoint', server.endpoint, '--json'], ADMIN_ENV);
  assert.equal(listed.code, 0, listed.stderr);
  const body = JSON.parse(listed.stdout) as { wallets: Array<{ keyId: string; address: string }>; skippedKeyIds: string[] };
  assert.equal(body.wallets.find((w) => w.keyId === keyId)?.address, address);
  assert.ok(!body.wallets.some((w) => w.keyId === masterKeyId));
  assert.ok(body.skippedKeyIds.includes(masterKeyId));
  const human = await symbolon(['wallet', 'list', '--endpoint', server.endpoint], ADMIN_ENV);
  assert.equal(human.code, 0, human.stderr);
  assert.ok(human.stdout.includes(address));
  assert.match(human.stderr, /not shown: their key policy does not let you describe them/);

  const skipped: string[] = [];
  const wallets = await new KmsWalletManager({ client: server.kms() }).listWallets({ onSkipped: (id) => skipped.push(id) });
  assert.ok(wallets.some((w) => w.keyId === keyId));
  assert.ok(skipped.includes(masterKeyId));
});

test(
  'wallet sign-tx refuses a transaction without a chain id (or typed with chain id 0) unless asked, and names missing and filled fields',
  STORE_INDEPENDENT,
  async () => {
    const { keyId } = JSON.parse((await symbolon(['wallet', 'create', '--endpoint', server.endpoint, '--json'], ADMIN_ENV)).stdout);
    const to = '0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a';
    const signTx = (tx: object, ...extra: string[]) =>
      symbolon(['wallet', 'sign-tx', '--endpoint', server.endpoint, '--key', keyId, '--tx', JSON.stringify(tx), '--json', ...extra], ADMIN_ENV);

    // Nothing but to and value, no --rpc: nothing is signed; the missing fields are named.
    const bare = await signTx({ to, value: '1' });
    assert.equal(bare.code, 2);
    assert.equal(bare.stdout, '');
    assert.match(bare.stderr, /no nonce, gasLimit, maxFeePerGas, maxPriorityFeePerGas: give them, or --rpc URL/);
    const full = { type: 2, to, value: '1', nonce: 0, gasLimit: 21000, maxFeePerGas: '1000000000', maxPriorityFeePerGas: '1' };
    const noChain = await signTx(full);
    assert.equal(noChain.code, 2);
    assert.match(noChain.stderr, /no chain id: signed, it is valid on every chain \(replayable\)/);
    assert.match(noChain.stderr, /--allow-no-chain-id/);
    const zero = await signTx({ ...full, chainId: 0 });
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /chain id 0: a typed transaction with chain id 0 is valid on no chain/);
    // Asked for explicitly: signed as given.
    const allowed = await signTx({ ...full, chainId: 0 }, '--allow-no-chain-id');
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(Transaction.from(JSON.parse(allowed.stdout).signedTransaction).chainId, 0n);
    const given = await signTx({ ...full, chainId: 5 });
    assert.equal(given.code, 0, given.stderr);
    assert.equal(Transaction.from(JSON.parse(given.stdout).signedTransaction).chainId, 5n);

    // With --rpc: the node's chain id and the rest are filled in, and said so.
    const filled = await signTx({ to, value: '1' }, '--rpc', chain.url);
    assert.equal(filled.code, 0, filled.stderr);
    const out = JSON.parse(filled.stdout);
    assert.equal(Transaction.from(out.signedTransaction).chainId, 31337n);
    assert.deepEqual([...out.filled].sort(), ['chainId', 'gasLimit', 'maxFeePerGas', 'maxPriorityFeePerGas', 'nonce', 'type']);
    const humanFilled = await symbolon(
      ['wallet', 'sign-tx', '--endpoint', server.endpoint, '--key', keyId, '--tx', JSON.stringify({ to, value: '1', chainId: 31337 }), '--rpc', chain.url],
      ADMIN_ENV,
    );
    assert.equal(humanFilled.code, 0, humanFilled.stderr);
    assert.match(humanFilled.stderr, /^filled in from --rpc: nonce, gasLimit, maxFeePerGas, maxPriorityFeePerGas, type\n$/);
  },
);

test('wallet send from an unfunded key says insufficient funds, with the amounts', STORE_INDEPENDENT, async () => {
  const { keyId, address } = JSON.parse((await symbolon(['wallet', 'create', '--endpoint', server.endpoint, '--json'], ADMIN_ENV)).stdout);
  const sent = await symbolon(
    [
      'wallet',
      'send',
      '--endpoint',
      server.endpoint,
      '--key',
      keyId,
      '--rpc',
      chain.url,
      '--tx',
      JSON.stringify({ to: '0x00000000000000000000000000000000000000aa', value: '1500000000000000000' }),
    ],
    ADMIN_ENV,
  );
  assert.equal(sent.code, 1);
  assert.doesNotMatch(sent.stderr, /coalesce/);
  assert.ok(sent.stderr.includes(`insufficient funds: the transaction needs value 1.5 ETH plus gas; ${address} holds 0 ETH`), sent.stderr);
});

test(`audit query --key alias/NAME finds the events of the key the alias names (${STORE})`, async () => {
  const pgSchema = process.env.DATABASE_URL ? `t_cli_${Date.now().toString(36)}` : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-cli-audit-'));
  const own = await startTestServer({ dataDir, ...(pgSchema ? { pgSchema, keepSchema: true } : {}) });
  try {
    const kms = own.kms();
    const key = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
    const keyId = key.KeyMetadata!.KeyId!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/audited', TargetKeyId: keyId }));
    await kms.send(new SignCommand({ KeyId: 'alias/audited', Message: new Uint8Array(32), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    await own.close(); // flushes the audit log
    const store = pgSchema ? { DATABASE_URL: process.env.DATABASE_URL! } : {};
    const where = pgSchema ? ['--schema', pgSchema] : ['--data', own.dataDir];
    const byAlias = await symbolon(['audit', 'query', ...where, '--key', 'alias/audited', '--json'], store);
    assert.equal(byAlias.code, 0, byAlias.stderr);
    const byId = await symbolon(['audit', 'query', ...where, '--key', keyId, '--json'], store);
    assert.ok(byId.stdout.length > 0);
    assert.equal(byAlias.stdout, byId.stdout);
    assert.deepEqual(
      byAlias.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).operation),
      ['CreateKey', 'CreateAlias', 'Sign'],
    );
    const human = await symbolon(['audit', 'query', ...where, '--key', `arn:aws:kms:${REGION}:${own.custodian.accountId}:alias/audited`], store);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stderr, new RegExp(`alias/audited is key ${keyId}`));
    assert.match(human.stdout, /Sign\s+allowed/);
    const missing = await symbolon(['audit', 'query', ...where, '--key', 'alias/nobody'], store);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no key has the alias alias\/nobody in this store/);
  } finally {
    if (pgSchema) await dropPgSchema(process.env.DATABASE_URL!, pgSchema);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
