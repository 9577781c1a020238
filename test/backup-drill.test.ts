/**
 * The disaster-recovery drill (docs/backup.md "Drill"), with real parts:
 * `symbolon serve --role all` processes (custodian, wallet API, forked
 * signer), the real AWS SDK, an OIDC issuer whose tokens the wallets' owners
 * hold, and the real CLI (`bin/symbolon.js backup …`, `audit verify`).
 *
 * For SQLite → PostgreSQL and PostgreSQL → SQLite: create KMS signing keys,
 * an IAM user with an inline policy and an access key, an envelope wallet and
 * a split wallet; back up while the server runs; stop it and destroy the
 * store; restore into a fresh store of the other dialect with the same root
 * key; start a server on it. Then every key signs, verifying under the public
 * key it had; the IAM user's access key still signs under its policy; both
 * wallets sign with their addresses; `symbolon audit verify` passes and the
 * chain has moved on past the head the backup signed.
 *
 * PostgreSQL is the test server (DATABASE_URL, else 127.0.0.1:5432/test).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { verifyMessage, type Hex } from 'viem';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ADMIN, REGION } from './helpers/server.js';
import { createPgDatabase, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { AUDIENCE, startIssuer, type Issuer } from './helpers/signer-fixture.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { EnvelopeWalletClient, SplitWalletClient } from '../packages/sdk/src/index.js';
import { parseBackup } from '../src/storage/backup.js';

const run = promisify(execFile);
const PG_BASE = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const ACCOUNT_ID = '555566667777';
const ROOT = randomBytes(32).toString('hex');
const MESSAGE = new TextEncoder().encode('drill: the same key after restore');

type Dialect = 'sqlite' | 'postgres';

interface Place {
  dir: string;
  databaseUrl: string | undefined;
  drop(): Promise<void>;
}

async function place(dialect: Dialect, cleanups: Array<() => Promise<void>>): Promise<Place> {
  const dir = mkdtempSync(join(tmpdir(), `symbolon-drill-${dialect}-`));
  let drop = async (): Promise<void> => undefined;
  let databaseUrl: string | undefined;
  if (dialect === 'postgres') {
    const db = await createPgDatabase(PG_BASE);
    databaseUrl = db.url;
    drop = db.drop;
  }
  const p = { dir, databaseUrl, drop: async () => (await drop(), rmSync(dir, { recursive: true, force: true })) };
  cleanups.push(p.drop);
  return p;
}

/** The real CLI; resolves with the exit code and output (never throws on a non-zero exit). */
async function symbolon(args: string[], p: Place): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['bin/symbolon.js', ...args, '--data', p.dir], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_NO_WARNINGS: '1', SYMBOLON_ROOT_KEY: ROOT, DATABASE_URL: p.databaseUrl ?? '' },
      maxBuffer: 1 << 24,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

function serverEnv(issuer: Issuer): Record<string, string> {
  return {
    SYMBOLON_ROOT_KEY: ROOT,
    SYMBOLON_ACCOUNT_ID: ACCOUNT_ID,
    SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: issuer.url, audiences: [AUDIENCE], algorithms: ['ES256'] }]),
    SYMBOLON_BUILTIN_ISSUER: '0',
    SYMBOLON_DAPP_PORT: 'off',
    SYMBOLON_AUDIT_CHECKPOINT_EVENTS: '25',
  };
}

async function signerUrl(server: ServeProcess): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const m = /Signer listening on (http:\/\/[0-9.]+:\d+)/.exec(server.output());
    if (m) return m[1]!;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the signer did not start: ${server.output().slice(-2000)}`);
}

function walletClients(endpoint: string, signer: string, issuer: Issuer, sub: string) {
  const options = {
    walletUrl: endpoint,
    custodianUrl: endpoint,
    region: REGION,
    roleArn: walletUsersRoleArn(ACCOUNT_ID),
    token: () => issuer.mint(sub),
    kmsClientConfig: { maxAttempts: 1 },
  };
  return { envelope: new EnvelopeWalletClient(options), split: new SplitWalletClient({ ...options, signerUrl: signer }) };
}

/** What the drill made before the backup, to check after the restore. */
interface Made {
  keys: Array<{ keyId: string; publicKey: Uint8Array }>;
  app: { accessKeyId: string; secretAccessKey: string };
  envelopeAddress: string;
  splitAddress: string;
}

async function populate(server: ServeProcess, issuer: Issuer): Promise<Made> {
  const kms = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  const iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  const signer = await signerUrl(server);
  const erin = walletClients(server.endpoint, signer, issuer, 'erin');
  const sam = walletClients(server.endpoint, signer, issuer, 'sam');
  try {
    const keys: Made['keys'] = [];
    for (let i = 0; i < 3; i++) {
      const k = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: `drill ${i}` }));
      const pub = await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyMetadata!.KeyId! }));
      keys.push({ keyId: k.KeyMetadata!.KeyId!, publicKey: pub.PublicKey! });
    }
    await iam.send(new CreateUserCommand({ UserName: 'drill-app', Tags: [{ Key: 'Environment', Value: 'production' }] }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'drill-app',
        PolicyName: 'sign',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Sign', 'kms:GetPublicKey'], Resource: '*' }] }),
      }),
    );
    const ak = (await iam.send(new CreateAccessKeyCommand({ UserName: 'drill-app' }))).AccessKey!;
    const envelopeWallet = await erin.envelope.createWallet();
    const splitWallet = await sam.split.createWallet();
    return {
      keys,
      app: { accessKeyId: ak.AccessKeyId!, secretAccessKey: ak.SecretAccessKey! },
      envelopeAddress: envelopeWallet.address,
      splitAddress: splitWallet.address,
    };
  } finally {
    kms.destroy();
    iam.destroy();
    for (const c of [erin, sam]) c.split.destroy();
  }
}

async function checkEverythingSigns(server: ServeProcess, issuer: Issuer, made: Made): Promise<void> {
  const app = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: made.app, maxAttempts: 1 });
  const signer = await signerUrl(server);
  const erin = walletClients(server.endpoint, signer, issuer, 'erin');
  const sam = walletClients(server.endpoint, signer, issuer, 'sam');
  try {
    // Every key signs, by the IAM user's restored access key and policy, and verifies under the public key it had.
    for (const k of made.keys) {
      const pub = await app.send(new GetPublicKeyCommand({ KeyId: k.keyId }));
      assert.deepEqual(Buffer.from(pub.PublicKey!), Buffer.from(k.publicKey));
      const s = await app.send(new SignCommand({ KeyId: k.keyId, Message: MESSAGE, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
      const key = createPublicKey({ key: Buffer.from(k.publicKey), format: 'der', type: 'spki' });
      assert.equal(verifySignature('sha256', MESSAGE, key, Buffer.from(s.Signature!)), true, `key ${k.keyId}`);
    }
    // The envelope wallet: the device opens its data key through the restored master key, and signs as its address.
    const wallet = await erin.envelope.getWallet();
    assert.equal(wallet.address, made.envelopeAddress);
    const account = await wallet.account();
    const envelopeSig = await account.signMessage({ message: 'drill envelope' });
    assert.equal(await verifyMessage({ address: made.envelopeAddress as Hex, message: 'drill envelope', signature: envelopeSig }), true);
    // The split wallet: share B unsealed from the restored store, share A through the restored master key, signed by the signer.
    const r = await sam.split.sign({ type: 'message', message: 'drill split' });
    assert.ok(r.type === 'message');
    assert.equal(await verifyMessage({ address: made.splitAddress as Hex, message: 'drill split', signature: r.signature }), true);
  } finally {
    app.destroy();
    for (const c of [erin, sam]) c.split.destroy();
  }
}

for (const [from, to] of [
  ['sqlite', 'postgres'],
  ['postgres', 'sqlite'],
] as Array<[Dialect, Dialect]>) {
  describe(`disaster-recovery drill: ${from} -> ${to}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    const servers: ServeProcess[] = [];
    let issuer: Issuer;

    before(async () => {
      issuer = await startIssuer();
    });

    after(async () => {
      for (const s of servers) await s.stop();
      await issuer?.close();
      for (const c of cleanups) await c();
    });

    test('back up a running server, lose the store, restore into the other dialect: everything signs, the audit chain verifies and continues', async () => {
      const source = await place(from, cleanups);
      const a = await startServeProcess({ dataDir: source.dir, databaseUrl: source.databaseUrl, role: 'all' }, serverEnv(issuer));
      servers.push(a);
      const made = await populate(a, issuer);

      const backupFile = join(mkdtempSync(join(tmpdir(), 'symbolon-drill-file-')), 'drill.jsonl');
      cleanups.push(async () => rmSync(join(backupFile, '..'), { recursive: true, force: true }));
      const created = await symbolon(['backup', 'create', '--out', backupFile], source);
      assert.equal(created.code, 0, created.stderr);
      assert.equal((await symbolon(['backup', 'verify', backupFile], source)).code, 0);
      const manifest = parseBackup(readFileSync(backupFile)).manifest;
      assert.equal(manifest.sourceDialect, from);

      // Disaster: the server stops and its store is gone (the root key is kept, here in SYMBOLON_ROOT_KEY).
      assert.equal(await a.stop(), 0);
      await source.drop();

      const target = await place(to, cleanups);
      const restored = await symbolon(['backup', 'restore', backupFile], target);
      assert.equal(restored.code, 0, restored.stderr);
      const b = await startServeProcess({ dataDir: target.dir, databaseUrl: target.databaseUrl, role: 'all' }, serverEnv(issuer));
      servers.push(b);
      await checkEverythingSigns(b, issuer, made);
      assert.equal(await b.stop(), 0);

      const audit = await symbolon(['audit', 'verify', '--json'], target);
      assert.equal(audit.code, 0, audit.stdout + audit.stderr);
      const report = JSON.parse(audit.stdout) as { ok: boolean; head: { seq: number }; keys: Array<{ publicKey: string }> };
      assert.equal(report.ok, true);
      // The chain continued past the head the backup signed, under the same checkpoint key.
      assert.ok(report.head.seq > manifest.auditHead.seq, `${report.head.seq} > ${manifest.auditHead.seq}`);
      assert.deepEqual(
        report.keys.map((k) => k.publicKey),
        [manifest.signingKey.publicKey],
      );
    });
  });
}
