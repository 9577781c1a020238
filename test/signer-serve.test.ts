/**
 * `symbolon serve` as an operator runs it, real processes end to end:
 *  - `--role all`: the server forks the signer as a child process (another
 *    pid, measured at launch, its ImageSha384 logged), the signer signs a
 *    split-wallet transaction through the server's STS (the provisioned
 *    symbolon-wallet-users role, nothing configured) and KMS with the
 *    embedded platform key trusted by default, and stopping the server stops
 *    the signer;
 *  - `--role signer`: a platform process with a 0600 key file that logs the
 *    key the custodian must trust, and its forked signer.
 * Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KMSClient } from '@aws-sdk/client-kms';
import { Transaction } from 'ethers';
import { ADMIN, REGION } from './helpers/server.js';
import { AUDIENCE, createSplitWallet, postSign, signBody, startIssuer, type Issuer } from './helpers/signer-fixture.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { measureSignerImage, REPOSITORY_ROOT } from '../src/signer/measure.js';
import { parseTrustedKeys } from '../src/attestation/platform-key.js';
import pg from 'pg';
import { freePort } from './helpers/free-port.js';

const ACCOUNT_ID = '444455556666';

interface Served {
  child: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<number | null>;
}

function serve(args: string[], env: Record<string, string>): Served {
  const child = spawn(process.execPath, ['bin/symbolon.js', 'serve', ...args], {
    cwd: REPOSITORY_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', SYMBOLON_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const onData = (chunk: Buffer) => {
    for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) {
      lines.push(l);
      for (const w of [...waiters])
        if (w.re.test(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    lines,
    waitFor(re, ms = 90_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; output:\n${lines.join('\n').slice(-3000)}`)), ms);
        waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        child.once('exit', (code) => reject(new Error(`exited (${code}) before ${re}; output:\n${lines.join('\n').slice(-3000)}`)));
      });
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function databaseUrlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

describe('symbolon serve --role all: the signer is a forked child of the server', () => {
  let dir: string;
  let issuer: Issuer;
  let server: Served;
  let port: number;
  let signerPort: number;
  const pgDatabase = process.env.DATABASE_URL ? `t_signer_${randomBytes(6).toString('hex')}` : undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'symbolon-serve-signer-'));
    issuer = await startIssuer();
    port = await freePort();
    signerPort = await freePort();
    if (pgDatabase && process.env.DATABASE_URL) {
      // A database of its own: the CLI has no schema flag, and a schema named only through
      // search_path would let the migrator see other runs' migration tables.
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`CREATE DATABASE ${pgDatabase}`);
      await client.end();
    }
    server = serve(['--port', String(port), '--data', dir], {
      SYMBOLON_ACCOUNT_ID: ACCOUNT_ID,
      SYMBOLON_ADMIN_ACCESS_KEY_ID: ADMIN.accessKeyId,
      SYMBOLON_ADMIN_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      SYMBOLON_REGION: REGION,
      SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: issuer.url, audiences: [AUDIENCE], algorithms: ['ES256'] }]),
      SYMBOLON_BUILTIN_ISSUER: '0',
      SYMBOLON_SIGNER_PORT: String(signerPort),
      ...(pgDatabase && process.env.DATABASE_URL ? { DATABASE_URL: databaseUrlFor(process.env.DATABASE_URL, pgDatabase) } : {}),
    });
    await server.waitFor(/Signer listening on/);
  });

  after(async () => {
    await server?.stop();
    await issuer?.close();
    if (pgDatabase && process.env.DATABASE_URL) {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`);
      await client.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('the signer runs in another process, with the measurement of this checkout', async () => {
    const line = await server.waitFor(/signer launched/);
    const launched = JSON.parse(line) as { pid: number; port: number; imageSha384: string };
    assert.notEqual(launched.pid, server.child.pid);
    assert.equal(launched.port, signerPort);
    assert.equal(launched.imageSha384, measureSignerImage().imageSha384);
    // Its parent is the server: the process tree is server -> signer.
    const status = readFileSync(`/proc/${launched.pid}/status`, 'utf8');
    assert.equal(Number(/PPid:\s+(\d+)/.exec(status)![1]), server.child.pid);
    const health = await fetch(`http://127.0.0.1:${signerPort}/health`);
    assert.deepEqual(await health.json(), { status: 'ok' });
  });

  test('a split wallet signs through the served signer (the default symbolon-wallet-users role, embedded platform key)', async () => {
    const endpoint = `http://127.0.0.1:${port}`;
    const admin = new KMSClient({ endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    try {
      // The device and the signer assume the same provisioned role with the owner's token; nothing is configured for it.
      const roleArn = walletUsersRoleArn(ACCOUNT_ID);
      const token = await issuer.mint('dora');
      const wallet = await createSplitWallet({
        endpoint,
        admin,
        accountId: ACCOUNT_ID,
        issuer: issuer.url,
        roleArn,
        sub: 'dora',
        token,
        imageSha384: measureSignerImage().imageSha384,
      });
      const tx = {
        type: 'eip1559',
        chainId: 31337,
        nonce: 0,
        to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        value: '1',
        gas: 21000,
        maxFeePerGas: '2000000000',
        maxPriorityFeePerGas: '1000000000',
      };
      const r = await postSign(`http://127.0.0.1:${signerPort}`, signBody(wallet, token, { type: 'transaction', transaction: tx }));
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(Transaction.from(r.json.signedTransaction).from, wallet.address);
    } finally {
      admin.destroy();
    }
  });

  test('stopping the server stops the signer', async () => {
    const launched = JSON.parse(await server.waitFor(/signer launched/)) as { pid: number };
    assert.equal(alive(launched.pid), true);
    assert.equal(await server.stop(), 0);
    for (let i = 0; i < 50 && alive(launched.pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(launched.pid), false);
  });
});

describe('symbolon serve --role signer: the platform alone, with its key file', () => {
  test('creates a 0600 platform key, logs the key to trust, forks the signer, and stops it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symbolon-role-signer-'));
    const port = await freePort();
    const served = serve(['--role', 'signer', '--port', String(port), '--data', dir], {
      SYMBOLON_SIGNER_KMS_ENDPOINT: 'http://127.0.0.1:9',
      SYMBOLON_SIGNER_ACCESS_KEY_ID: 'AKIASIGNERSTATIC0001',
      SYMBOLON_SIGNER_SECRET_ACCESS_KEY: 'signer-static-secret-0123456789',
    });
    try {
      const keyLine = JSON.parse(await served.waitFor(/platform key loaded/)) as { trustedKey: string; created: boolean; keyFile: string };
      assert.equal(keyLine.created, true);
      assert.equal(statSync(keyLine.keyFile).mode & 0o777, 0o600);
      assert.equal(parseTrustedKeys(keyLine.trustedKey).length, 1);
      await served.waitFor(/Signer listening on/);
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/health`)).json(), { status: 'ok' });
      // Without trusted issuers every request is refused by the signer itself; the static secret is never logged.
      const r = await postSign(`http://127.0.0.1:${port}`, {
        payload: { type: 'message', message: 'x' },
        address: `0x${'11'.repeat(20)}`,
        shareB: Buffer.alloc(32).toString('base64'),
        shareACiphertext: Buffer.alloc(64).toString('base64'),
        token: 'a.b.c',
      });
      assert.equal(r.status, 401);
      assert.ok(!served.lines.some((l) => l.includes('signer-static-secret')));
      const launched = JSON.parse(await served.waitFor(/signer launched/)) as { pid: number };
      assert.equal(await served.stop(), 0);
      for (let i = 0; i < 50 && alive(launched.pid); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(alive(launched.pid), false);
    } finally {
      await served.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses to start without the custodian URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symbolon-role-signer-'));
    const served = serve(['--role', 'signer', '--port', '0', '--data', dir], {});
    try {
      assert.notEqual(await new Promise((r) => served.child.once('exit', r)), 0);
      assert.ok(
        served.lines.some((l) => l.includes('SYMBOLON_SIGNER_KMS_ENDPOINT')),
        served.lines.join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
