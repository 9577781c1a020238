/**
 * The Shamir root (docs/root-of-trust.md "The Shamir root"), with the real
 * CLI (bin/symbolon.js) and real server processes on real sockets, on the
 * store this run uses (SQLite, or a PostgreSQL database of its own):
 *  - `operator init` prints N shares and records no share; a second init is refused;
 *  - `serve` with SYMBOLON_ROOT=shamir starts sealed: /health 503, KMS Sign
 *    through the AWS SDK DependencyTimeoutException (503), STS through the SDK
 *    ServiceUnavailable, the wallet API `{ error: { code: "sealed" } }`;
 *  - a share of another store, a duplicate, a mistyped share, and M shares one
 *    of which was altered are refused, naming the cause, and it stays sealed;
 *  - M-1 shares then the M-th unseal it; a key made before a restart signs after it;
 *  - `operator seal` needs the account root or symbolon:Seal, and seals;
 *  - no share ever appears in the server's output; `--workers 2` and a store
 *    without init are refused.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CreateKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ADMIN, REGION } from './helpers/server.js';
import { RootKeyError } from '../src/root/root-of-trust.js';
import { createShamirRoot } from '../src/root/shamir-root.js';
import { storeKeyAad } from '../src/root/store-key.js';

const DATABASE_URL = process.env.DATABASE_URL;
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A store of its own: a data directory, and with DATABASE_URL a PostgreSQL database of its own. */
async function freshStore(): Promise<{ dataDir: string; databaseUrl: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-shamir-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  if (!DATABASE_URL) return { dataDir, databaseUrl: '' };
  const name = `t_shamir_${randomBytes(5).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: DATABASE_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  cleanups.push(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  return { dataDir, databaseUrl: url.toString() };
}

/** The real CLI, asynchronously (a server child's output keeps draining meanwhile). */
function cli(
  args: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/symbolon.js', ...args], { env: { ...process.env, NODE_NO_WARNINGS: '1', ...options.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin.end(options.input ?? '');
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

interface Sealed {
  endpoint: string;
  child: ChildProcess;
  /** Everything the process wrote, stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

/** `symbolon serve` with SYMBOLON_ROOT=shamir; resolves when it listens (sealed), rejects when it exits first. */
async function serveShamir(
  store: { dataDir: string; databaseUrl: string },
  extra: string[] = [],
  role: 'all' | 'wallet' = 'all',
  env: Record<string, string> = {},
): Promise<Sealed> {
  const child = spawn(process.execPath, ['bin/symbolon.js', 'serve', '--role', role, '--port', '0', '--data', store.dataDir, ...extra], {
    env: {
      ...process.env,
      NODE_NO_WARNINGS: '1',
      SYMBOLON_ROOT: 'shamir',
      SYMBOLON_ADMIN_ACCESS_KEY_ID: ADMIN.accessKeyId,
      SYMBOLON_ADMIN_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      SYMBOLON_REGION: REGION,
      SYMBOLON_LOG_LEVEL: 'debug',
      SYMBOLON_DAPP_PORT: '0',
      SYMBOLON_SIGNER_PORT: '0',
      DATABASE_URL: store.databaseUrl,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out.slice(0, 800)}`)), 60_000);
    const onData = () => {
      const m = /Symbolon (?:wallet service )?listening on (http:\/\/[0-9.]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}): ${out.slice(0, 2000)}`));
    });
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  cleanups.push(stop);
  return { endpoint, child, output: () => out, stop };
}

function kms(endpoint: string, credentials = ADMIN): KMSClient {
  return new KMSClient({ endpoint, region: REGION, credentials, maxAttempts: 1 });
}

async function health(endpoint: string): Promise<{ status: number; body: { status?: string; sealed?: boolean; progress?: number; threshold?: number } }> {
  const res = await fetch(`${endpoint}/health`);
  return { status: res.status, body: (await res.json()) as { status?: string } };
}

async function postShare(
  endpoint: string,
  share: string,
): Promise<{ status: number; body: { sealed?: boolean; progress?: number; error?: { code: string; message: string } } }> {
  const res = await fetch(`${endpoint}/operator/unseal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ share }) });
  return { status: res.status, body: (await res.json()) as { sealed?: boolean } };
}

/** A share whose y bytes were changed and whose check digits were recomputed: passes every per-share check, rebuilds another key. */
function altered(share: string): string {
  const m = /^(symbolon-unseal-share-v1-[0-9a-f]{16}-)([0-9a-f]{66})-[0-9a-f]{8}$/.exec(share)!;
  const y = Buffer.from(m[2]!, 'hex');
  y[0]! ^= 0x01;
  const body = `${m[1]}${y.toString('hex')}`;
  return `${body}-${createHash('sha256').update(body).digest('hex').slice(0, 8)}`;
}

async function assertSealed(endpoint: string): Promise<void> {
  const h = await health(endpoint);
  assert.equal(h.status, 503, 'a sealed server is not healthy for a load balancer');
  assert.equal(h.body.status, 'sealed');
  await assert.rejects(
    kms(endpoint).send(new SignCommand({ KeyId: 'alias/any', Message: new Uint8Array(32), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
    (e: { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }) =>
      e.name === 'DependencyTimeoutException' && e.$metadata?.httpStatusCode === 503 && /sealed/.test(e.message ?? ''),
  );
}

test('Shamir root: init, sealed start, refused shares, unseal, restart, seal', { timeout: 600_000 }, async () => {
  const store = await freshStore();
  const initEnv = { DATABASE_URL: store.databaseUrl };

  // A store without init: serve refuses to start and says what to run.
  await assert.rejects(serveShamir(store), /run symbolon operator init --shares N --threshold M first/);

  const init = await cli(['operator', 'init', '--shares', '3', '--threshold', '2', '--data', store.dataDir], { env: initEnv });
  assert.equal(init.status, 0, init.stderr);
  const shares = init.stdout.trim().split('\n');
  assert.equal(shares.length, 3);
  for (const s of shares) assert.match(s, /^symbolon-unseal-share-v1-[0-9a-f]{16}-[0-9a-f]{66}-[0-9a-f]{8}$/);
  assert.match(init.stderr, /any 2 unseal the server/);
  const again = await cli(['operator', 'init', '--shares', '3', '--threshold', '2', '--data', store.dataDir], { env: initEnv });
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already has a store key/);
  assert.equal(again.stdout, '', 'a refused init prints no share');

  // Shares of another store's root.
  const other = await freshStore();
  const otherInit = await cli(['operator', 'init', '--shares', '2', '--threshold', '2', '--data', other.dataDir], { env: { DATABASE_URL: other.databaseUrl } });
  assert.equal(otherInit.status, 0, otherInit.stderr);
  const otherShares = otherInit.stdout.trim().split('\n');

  // --workers with the Shamir root: refused.
  await assert.rejects(serveShamir(store, ['--workers', '2']), /--workers must be 1/);

  let server = await serveShamir(store);
  await assertSealed(server.endpoint);
  // STS (query protocol) through the AWS SDK: AWS's ServiceUnavailable.
  await assert.rejects(
    new STSClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 }).send(new GetCallerIdentityCommand({})),
    (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => e.name === 'ServiceUnavailable' && e.$metadata?.httpStatusCode === 503,
  );
  // The wallet API: its own JSON shape, code "sealed".
  const wallet = await fetch(`${server.endpoint}/v1/wallets`, { headers: { authorization: 'Bearer x' } });
  assert.equal(wallet.status, 503);
  assert.equal(((await wallet.json()) as { error: { code: string } }).error.code, 'sealed');
  // Seal while sealed: nothing to do.
  assert.equal((await fetch(`${server.endpoint}/operator/seal`, { method: 'POST' })).status, 409);

  // Refused shares, each naming its cause; the server stays sealed.
  const wrongStore = await cli(['operator', 'unseal', '--endpoint', server.endpoint], { input: `${otherShares[0]}\n` });
  assert.equal(wrongStore.status, 1);
  assert.match(wrongStore.stderr, /another store's root.*\[wrong_store\]/);
  const mistyped = await postShare(server.endpoint, `${shares[0]!.slice(0, -1)}${shares[0]!.endsWith('0') ? '1' : '0'}`);
  assert.equal(mistyped.status, 400);
  assert.equal(mistyped.body.error?.code, 'malformed_share');
  assert.equal((await postShare(server.endpoint, shares[0]!)).body.progress, 1);
  const dup = await postShare(server.endpoint, shares[0]!);
  assert.equal(dup.body.error?.code, 'duplicate_share');
  assert.equal(dup.body.progress, 1, 'a refused share keeps the progress');
  const wrong = await postShare(server.endpoint, altered(shares[1]!));
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.error?.code, 'wrong_shares');
  assert.match(wrong.body.error!.message, /do not open this store.*progress was reset/);
  assert.equal(wrong.body.progress, 0);
  await assertSealed(server.endpoint);

  // M-1 shares: still sealed, "1 of 2"; the M-th: serves.
  const first = await cli(['operator', 'unseal', '--endpoint', server.endpoint], { input: `${shares[2]}\n` });
  assert.equal(first.status, 3, first.stderr);
  assert.match(first.stdout, /1 of 2 shares/);
  await assertSealed(server.endpoint);
  const second = await cli(['operator', 'unseal', '--endpoint', server.endpoint], { input: `${shares[0]}\n` });
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /unsealed/);
  assert.deepEqual(await health(server.endpoint), { status: 200, body: { status: 'ok' } });
  const { KeyMetadata } = await kms(server.endpoint).send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
  const keyId = KeyMetadata!.KeyId!;
  const sign = () =>
    kms(server.endpoint).send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32).fill(7), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
  assert.ok((await sign()).Signature);

  // A restart comes up sealed; unsealed again, the key made before signs.
  await server.stop();
  let log = server.output();
  server = await serveShamir(store);
  await assertSealed(server.endpoint);
  const both = await cli(['operator', 'unseal', '--endpoint', server.endpoint], { input: `${shares[1]}\n${shares[2]}\n` });
  assert.equal(both.status, 0, both.stderr);
  assert.ok((await sign()).Signature);

  // Seal: an unsigned request, and a user without symbolon:Seal, are refused.
  const unsigned = await fetch(`${server.endpoint}/operator/seal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(unsigned.status, 403);
  const iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  await iam.send(new CreateUserCommand({ UserName: 'sealer' }));
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'sealer' }));
  const sealerEnv = { AWS_ACCESS_KEY_ID: AccessKey!.AccessKeyId!, AWS_SECRET_ACCESS_KEY: AccessKey!.SecretAccessKey!, AWS_REGION: REGION };
  const denied = await cli(['operator', 'seal', '--endpoint', server.endpoint], { env: sealerEnv });
  assert.equal(denied.status, 1);
  assert.match(denied.stderr, /AccessDenied|not authorized/);
  assert.equal((await health(server.endpoint)).status, 200, 'a refused seal leaves it serving');
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'sealer',
      PolicyName: 'seal',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'symbolon:Seal', Resource: '*' }] }),
    }),
  );
  const sealed = await cli(['operator', 'seal', '--endpoint', server.endpoint], { env: sealerEnv });
  assert.equal(sealed.status, 0, sealed.stderr);
  await assertSealed(server.endpoint);
  // And back: the account root may seal too.
  assert.equal((await cli(['operator', 'unseal', '--endpoint', server.endpoint], { input: `${shares[0]}\n${shares[1]}\n` })).status, 0);
  assert.ok((await sign()).Signature);
  const byRoot = await cli(['operator', 'seal', '--endpoint', server.endpoint], {
    env: { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION },
  });
  assert.equal(byRoot.status, 0, byRoot.stderr);
  await assertSealed(server.endpoint);
  await server.stop();
  log += server.output();

  // No share, nor any share's y bytes, in anything the server wrote.
  assert.match(log, /unseal share refused/, 'the log was captured');
  for (const s of [...shares, ...otherShares, altered(shares[1]!)]) {
    assert.ok(!log.includes(s), 'a share appears in the server output');
    assert.ok(!log.includes(s.split('-')[5]!), "a share's bytes appear in the server output");
  }
});

test('Shamir root: another root key does not unwrap the store key (the shares do not open this store)', async () => {
  const a = await createShamirRoot(2, 2);
  const b = await createShamirRoot(2, 2);
  const binding = { installation: '00000000-0000-4000-8000-000000000000', version: 1, aad: storeKeyAad(1) };
  const storeKey = new Uint8Array(32).fill(9);
  const wrapped = await a.root.wrap(storeKey, binding);
  assert.deepEqual(await a.root.unwrap(wrapped, binding), storeKey);
  await assert.rejects(b.root.unwrap(wrapped, binding), (e) => e instanceof RootKeyError && /the shares do not open this store/.test(e.message));
  // Bound to the installation: the same root under another installation's row does not unwrap.
  await assert.rejects(a.root.unwrap(wrapped, { ...binding, installation: '00000000-0000-4000-8000-000000000001' }), RootKeyError);
  await a.root.close();
  await b.root.close();
});

test('Shamir root: the wallet role starts sealed, unseals, and cannot be sealed over HTTP (no IAM)', { timeout: 300_000 }, async () => {
  const store = await freshStore();
  const init = await cli(['operator', 'init', '--shares', '2', '--threshold', '2', '--data', store.dataDir], { env: { DATABASE_URL: store.databaseUrl } });
  assert.equal(init.status, 0, init.stderr);
  // The custodian is not reached until a wallet request needs it: an address nobody answers is enough here.
  const server = await serveShamir(store, [], 'wallet', {
    SYMBOLON_WALLET_KMS_ENDPOINT: 'http://127.0.0.1:9',
    SYMBOLON_WALLET_KMS_ACCESS_KEY_ID: 'AKIASHAMIRWALLET0001',
    SYMBOLON_WALLET_KMS_SECRET_ACCESS_KEY: 'shamir-wallet-secret-0123456789',
    SYMBOLON_WALLET_KMS_PRINCIPAL_ARN: 'arn:aws:iam::123456789012:user/wallet',
  });
  assert.equal((await health(server.endpoint)).status, 503);
  const sealedApi = await fetch(`${server.endpoint}/v1/wallets`);
  assert.equal(sealedApi.status, 503);
  assert.equal(((await sealedApi.json()) as { error: { code: string } }).error.code, 'sealed');
  const unseal = await cli(['operator', 'unseal', '--endpoint', server.endpoint], { input: init.stdout });
  assert.equal(unseal.status, 0, unseal.stderr);
  assert.deepEqual(await health(server.endpoint), { status: 200, body: { status: 'ok' } });
  // Served by the wallet app now: its own answer to a request without a token, not "sealed".
  const api = await fetch(`${server.endpoint}/v1/wallets`);
  assert.notEqual(((await api.json()) as { error: { code: string } }).error.code, 'sealed');
  const seal = await fetch(`${server.endpoint}/operator/seal`, { method: 'POST' });
  assert.equal(seal.status, 403);
  assert.equal(((await seal.json()) as { error: { code: string } }).error.code, 'seal_unavailable');
  await server.stop();
});
