/**
 * Separate parties, separately rooted (README, "Production deployment"): the
 * custodian (`serve --role kms`), the wallet service (`serve --role wallet`)
 * and the signer (`serve --role signer`) as three `symbolon serve` processes,
 * each with its own data directory, its own root key (DIR/root.key, made by
 * each on first start) and — on PostgreSQL — its own database; the wallet
 * service reaches the custodian only over HTTP with IAM credentials of its
 * own; users' tokens come from an OIDC issuer none of the three operators
 * holds (test/helpers/signer-fixture.ts startIssuer: the users' provider).
 *
 * Shows, end to end, that a split wallet made by a device (@symbolon/sdk)
 * signs across the three, and seed 2's claims, each with an operator's whole
 * holding — every row of its store, every sealed box opened with its root key
 * the way an attacker with the key would (AES-GCM's counter-mode body
 * decrypted with the root's sealing key, ignoring the tag and the associated
 * data), and its credentials:
 *  (a) the wallet operator gets neither share A nor a signature;
 *  (b) the custodian operator does not get share B;
 *  (c) a DApp (a plain HTTP client without the owner's token) gets neither.
 * Runs on SQLite, and on PostgreSQL with DATABASE_URL (a database per party).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SignJWT, generateKeyPair } from 'jose';
import { recoverTransactionAddress, verifyMessage, type Hex } from 'viem';
import { CreateKeyCommand, DecryptCommand, KMSClient, PutKeyPolicyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { ADMIN, REGION } from './helpers/server.js';
import { createPgDatabase, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { AUDIENCE, postSign, signBody, startIssuer, type Issuer, type SplitWallet } from './helpers/signer-fixture.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { walletServiceIdentityPolicy, WALLET_SERVICE_POLICY, WALLET_SERVICE_USER } from '../src/wallet/wallet-principal.js';
import { encodeTrustedKey, loadOrCreatePlatformKeyFile } from '../src/attestation/platform-key.js';
import { measureSignerImage } from '../src/signer/measure.js';
import { loadFileRoot } from '../src/root/file-root.js';
import { decodeStoreKeyRecord, STORE_KEY_META, storeKeyAad } from '../src/root/store-key.js';
import { generatePrivateKey, getPublicKey } from '../src/crypto/secp256k1.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { SplitWalletClient } from '../packages/sdk/src/index.js';

const ACCOUNT_ID = '777788889999';
const PG_URL = process.env.DATABASE_URL || undefined;
const TX = {
  type: 'eip1559',
  chainId: 1,
  nonce: 0,
  to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  value: '1000',
  gas: 21000,
  maxFeePerGas: '30000000000',
  maxPriorityFeePerGas: '1000000000',
};

type Row = Record<string, unknown>;

/** Every row of every table of a store, as an operator with the database reads it. */
async function dumpStore(where: { dataDir: string; databaseUrl: string | undefined }): Promise<Map<string, Row[]>> {
  const tables = new Map<string, Row[]>();
  if (where.databaseUrl) {
    const client = new pg.Client({ connectionString: where.databaseUrl });
    await client.connect();
    try {
      const names = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
      );
      for (const { table_name } of names.rows) tables.set(table_name, (await client.query(`SELECT * FROM "${table_name}"`)).rows as Row[]);
    } finally {
      await client.end();
    }
  } else {
    const db = new Database(join(where.dataDir, 'symbolon.db'));
    try {
      const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
      for (const { name } of names) tables.set(name, db.prepare(`SELECT * FROM "${name}"`).all() as Row[]);
    } finally {
      db.close();
    }
  }
  return tables;
}

/** The sealing keys a root key file gives: the legacy one (format 0x01) and each store key's (format 0x02, by version). */
interface SealingKeys {
  legacy: Buffer;
  storeKeys: Map<number, Buffer>;
}

/**
 * The sealing keys of a party, from its root key file and its store's
 * store-key row (src/root/file-root.ts, src/root/store-key.ts): the root
 * unwraps each store key; each sealing key is HKDF-SHA256 of its key.
 */
async function sealingKeysOf(dataDir: string, tables: Map<string, Row[]>): Promise<SealingKeys> {
  const rootKey = Buffer.from(readFileSync(join(dataDir, 'root.key'), 'utf8').trim(), 'hex');
  assert.equal(rootKey.length, 32);
  const legacy = Buffer.from(hkdfSync('sha256', rootKey, new Uint8Array(0), 'symbolon/root/seal/v1', 32));
  const storeKeys = new Map<number, Buffer>();
  const row = tables.get('symbolon_meta')?.find((r) => r.name === STORE_KEY_META);
  assert.ok(row, 'the store has its store-key row');
  const record = decodeStoreKeyRecord(new Uint8Array(row.value as Uint8Array));
  const { root } = loadFileRoot({ dataDir, storeSealed: true });
  try {
    for (const k of record.keys) {
      const binding = { installation: record.installation, version: k.version, aad: storeKeyAad(k.version) };
      const storeKey = await root.unwrap(new Uint8Array(Buffer.from(k.wrapped, 'base64')), binding);
      storeKeys.set(k.version, Buffer.from(hkdfSync('sha256', storeKey, new Uint8Array(0), 'symbolon/store/seal/v2', 32)));
    }
  } finally {
    await root.close();
  }
  return { legacy, storeKeys };
}

/**
 * What a sealed box holds, to whoever has the sealing key: 0x01 || nonce(12) ||
 * ciphertext || tag(16) under the legacy key, or 0x02 || version(4) || nonce(12) ||
 * ciphertext || tag(16) under that store key; the ciphertext being AES-CTR from
 * counter 2 (GCM with a 96-bit nonce) — decrypted without checking the tag, so
 * without needing the box's associated data. Undefined for bytes that are not a box.
 */
function openWithoutAad(keys: SealingKeys, cell: Buffer): Buffer | undefined {
  let key: Buffer | undefined;
  let at: number;
  if (cell[0] === 0x01) [key, at] = [keys.legacy, 1];
  else if (cell[0] === 0x02 && cell.length >= 5) [key, at] = [keys.storeKeys.get(cell.readUInt32BE(1)), 5];
  else return undefined;
  if (!key || cell.length < at + 12 + 16) return undefined;
  const iv = Buffer.concat([cell.subarray(at, at + 12), Buffer.from([0, 0, 0, 2])]);
  const d = createDecipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([d.update(cell.subarray(at + 12, cell.length - 16)), d.final()]);
}

/** The forms a secret could take in a cell: raw bytes, hex, base64 (padded or not), base64url. */
function forms(secret: Uint8Array): { bytes: Buffer; texts: string[] } {
  const b = Buffer.from(secret);
  return { bytes: b, texts: [b.toString('hex'), b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')] };
}

/**
 * Where `secret` appears in the store: in a cell as it is, or inside a sealed
 * box opened with `sealingKey`. Returns `table.column (raw|opened)` entries.
 */
function findSecret(tables: Map<string, Row[]>, sealingKey: SealingKeys, secret: Uint8Array): string[] {
  const { bytes, texts } = forms(secret);
  const found: string[] = [];
  const inText = (s: string) => texts.some((t) => s.includes(t) || s.toLowerCase().includes(t));
  for (const [table, rows] of tables) {
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (value === null || value === undefined) continue;
        if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
          const cell = Buffer.from(value);
          if (cell.includes(bytes) || inText(cell.toString('latin1'))) found.push(`${table}.${column} (raw)`);
          const opened = openWithoutAad(sealingKey, cell);
          if (opened && (opened.includes(bytes) || inText(opened.toString('latin1')))) found.push(`${table}.${column} (opened)`);
        } else {
          const text = typeof value === 'string' ? value : JSON.stringify(value);
          if (inText(text)) found.push(`${table}.${column} (raw)`);
        }
      }
    }
  }
  return found;
}

describe('separate parties: wallet service, custodian and signer as three processes, each with its own root and store', () => {
  const dirs = { kms: '', wallet: '', signer: '' };
  const dbs: Array<{ url: string; drop(): Promise<void> }> = [];
  let databaseUrl: { kms: string | undefined; wallet: string | undefined } = { kms: undefined, wallet: undefined };
  let issuer: Issuer;
  let kms: ServeProcess;
  let wallet: ServeProcess;
  let signer: ServeProcess;
  let walletCreds: { accessKeyId: string; secretAccessKey: string };
  /** A split wallet made as a device makes one, whose shares the test keeps (a device wipes them). */
  let carol: SplitWallet;
  const clients: Array<{ destroy(): void }> = [];
  const imageSha384 = measureSignerImage().imageSha384;
  const roleArn = walletUsersRoleArn(ACCOUNT_ID);

  async function walletApi(method: 'GET' | 'POST', path: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${wallet.endpoint}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: await res.json() };
  }

  function kmsAs(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): KMSClient {
    const c = new KMSClient({ endpoint: kms.endpoint, region: REGION, credentials, maxAttempts: 1 });
    clients.push(c);
    return c;
  }

  /** The device's side of a split (docs/signer.md): share A encrypted by the owner's own session, share B to the wallet service. */
  async function deviceCreatesSplitWallet(sub: string): Promise<SplitWallet> {
    const token = await issuer.mint(sub);
    const me = await walletApi('GET', '/v1/me', token);
    assert.equal(me.status, 200, JSON.stringify(me.json));
    const keyId = me.json.masterKeyId as string;
    const privateKey = generatePrivateKey();
    const address = publicKeyToAddress(getPublicKey(privateKey));
    const shareA = new Uint8Array(randomBytes(32));
    const shareB = privateKey.map((b, i) => b ^ shareA[i]!);
    const sts = new STSClient({ endpoint: kms.endpoint, region: REGION, maxAttempts: 1 });
    clients.push(sts);
    const session = (await sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'device', WebIdentityToken: token })))
      .Credentials!;
    const owner = kmsAs({ accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! });
    const enc = await owner.send(new EncryptCommand({ KeyId: keyId, Plaintext: shareA, EncryptionContext: { sub, address } }));
    const created = await walletApi('POST', '/v1/wallets', token, {
      custodyMode: 'split',
      address,
      shareACiphertext: Buffer.from(enc.CiphertextBlob!).toString('base64'),
      shareB: Buffer.from(shareB).toString('base64'),
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    return { sub, address, keyId, privateKey, shareA, shareB, shareACiphertext: enc.CiphertextBlob! };
  }

  before(async () => {
    issuer = await startIssuer();
    for (const k of ['kms', 'wallet', 'signer'] as const) dirs[k] = mkdtempSync(join(tmpdir(), `symbolon-party-${k}-`));
    if (PG_URL) {
      const k = await createPgDatabase(PG_URL);
      dbs.push(k);
      const w = await createPgDatabase(PG_URL);
      dbs.push(w);
      databaseUrl = { kms: k.url, wallet: w.url };
    }
    const issuers = JSON.stringify([{ issuer: issuer.url, audiences: [AUDIENCE], algorithms: ['ES256'] }]);
    // The signer's operator makes its platform key and hands the custodian its public half.
    const { key: platformKey } = loadOrCreatePlatformKeyFile(join(dirs.signer, 'platform-attestation.key'));

    kms = await startServeProcess(
      { dataDir: dirs.kms, databaseUrl: databaseUrl.kms, role: 'kms' },
      {
        SYMBOLON_ACCOUNT_ID: ACCOUNT_ID,
        SYMBOLON_OIDC_ISSUERS: issuers,
        SYMBOLON_BUILTIN_ISSUER: '0',
        SYMBOLON_ATTESTATION_TRUSTED_KEYS: encodeTrustedKey(platformKey.spki),
        SYMBOLON_ATTESTATION_TRUST_EMBEDDED: '0',
      },
    );
    // The custodian's administrator gives the wallet service an IAM user of its own: create keys, never use them.
    const iam = new IAMClient({ endpoint: kms.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    clients.push(iam);
    await iam.send(new CreateUserCommand({ UserName: WALLET_SERVICE_USER }));
    await iam.send(
      new PutUserPolicyCommand({ UserName: WALLET_SERVICE_USER, PolicyName: WALLET_SERVICE_POLICY, PolicyDocument: walletServiceIdentityPolicy() }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: WALLET_SERVICE_USER }))).AccessKey!;
    walletCreds = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };

    const noAdmin = { SYMBOLON_ADMIN_ACCESS_KEY_ID: '', SYMBOLON_ADMIN_SECRET_ACCESS_KEY: '' };
    wallet = await startServeProcess(
      { dataDir: dirs.wallet, databaseUrl: databaseUrl.wallet, role: 'wallet' },
      {
        ...noAdmin,
        SYMBOLON_WALLET_KMS_ENDPOINT: kms.endpoint,
        SYMBOLON_WALLET_KMS_ACCESS_KEY_ID: walletCreds.accessKeyId,
        SYMBOLON_WALLET_KMS_SECRET_ACCESS_KEY: walletCreds.secretAccessKey,
        SYMBOLON_OIDC_ISSUERS: issuers,
        SYMBOLON_BUILTIN_ISSUER: '0',
        SYMBOLON_SIGNER_IMAGE_SHA384: imageSha384,
      },
    );
    signer = await startServeProcess(
      { dataDir: dirs.signer, role: 'signer' },
      { ...noAdmin, SYMBOLON_SIGNER_KMS_ENDPOINT: kms.endpoint, SYMBOLON_SIGNER_ROLE_ARN: roleArn, SYMBOLON_OIDC_ISSUERS: issuers },
    );
    carol = await deviceCreatesSplitWallet('carol');
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await Promise.all([signer?.stop(), wallet?.stop()]);
    await kms?.stop();
    await issuer?.close();
    for (const d of dbs) await d.drop();
    for (const d of Object.values(dirs)) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('three processes, three roots, three stores: no file or database is shared', () => {
    const [k, w] = [readFileSync(join(dirs.kms, 'root.key'), 'utf8'), readFileSync(join(dirs.wallet, 'root.key'), 'utf8')];
    assert.match(k.trim(), /^[0-9a-f]{64}$/);
    assert.match(w.trim(), /^[0-9a-f]{64}$/);
    assert.notEqual(k, w, 'the wallet service and the custodian have root keys of their own');
    assert.notEqual(databaseUrl.kms ?? dirs.kms, databaseUrl.wallet ?? dirs.wallet);
    // The signer has no store and no root key: only its platform key.
    assert.throws(() => readFileSync(join(dirs.signer, 'root.key')), { code: 'ENOENT' });
    assert.throws(() => readFileSync(join(dirs.signer, 'symbolon.db')), { code: 'ENOENT' });
    assert.ok(/wallet service ready/.test(wallet.output()) && /"role":"wallet"/.test(wallet.output()));
  });

  test('end to end: a device makes a split wallet with @symbolon/sdk and signs across the three processes', async () => {
    const device = new SplitWalletClient({
      walletUrl: wallet.endpoint,
      custodianUrl: kms.endpoint,
      signerUrl: signer.endpoint,
      region: REGION,
      roleArn,
      token: () => issuer.mint('alice'),
      kmsClientConfig: { maxAttempts: 1 },
    });
    clients.push(device);
    const created = await device.createWallet();
    const tx = await device.sign({ type: 'transaction', transaction: TX });
    assert.equal(tx.type, 'transaction');
    if (tx.type !== 'transaction') return;
    assert.equal(await recoverTransactionAddress({ serializedTransaction: tx.signedTransaction as `0x02${string}` }), created.address);
    // The hand-made wallet signs too, through the signer's HTTP API.
    const r = await postSign(signer.endpoint, signBody(carol, await issuer.mint('carol'), { type: 'message', message: 'three parties' }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(await verifyMessage({ address: carol.address as Hex, message: 'three parties', signature: r.json.signature }), true);
  });

  test("(a) the wallet operator's store, root key and credentials: no share A, no key, no signature", async () => {
    const store = await dumpStore({ dataDir: dirs.wallet, databaseUrl: databaseUrl.wallet });
    const sealing = await sealingKeysOf(dirs.wallet, store);
    // The scan sees what is there: share B, sealed under this root (opened, never raw), and share A's ciphertext.
    assert.deepEqual(findSecret(store, sealing, carol.shareB), ['wallets.share_b_sealed (opened)']);
    assert.ok(findSecret(store, sealing, carol.shareACiphertext).length > 0);
    // Share A and the private key are nowhere, opened or not.
    assert.deepEqual(findSecret(store, sealing, carol.shareA), []);
    assert.deepEqual(findSecret(store, sealing, carol.privateKey), []);
    // No KMS key and no credential of anyone lives in the wallet store.
    for (const t of ['kms_keys', 'kms_key_material', 'iam_access_keys']) assert.equal(store.get(t)?.length ?? 0, 0, `${t} is empty in the wallet store`);

    // Its credentials at the custodian: manage the master key, never use it or change who may.
    const asWallet = kmsAs(walletCreds);
    await assert.rejects(
      asWallet.send(new DecryptCommand({ CiphertextBlob: carol.shareACiphertext, EncryptionContext: { sub: carol.sub, address: carol.address } })),
      { name: 'AccessDeniedException' },
    );
    await assert.rejects(asWallet.send(new PutKeyPolicyCommand({ KeyId: carol.keyId, PolicyName: 'default', Policy: '{}' })), {
      name: 'AccessDeniedException',
    });
    // Nor make a signing key of its own (its identity policy allows symmetric keys only).
    await assert.rejects(asWallet.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' })), { name: 'AccessDeniedException' });

    // The signer wants the owner's token from the users' issuer: the wallet operator's own token is refused, by the signer and by STS.
    const { privateKey: forger } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'forged' })
      .setSubject(carol.sub)
      .setIssuer(issuer.url)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(forger);
    const signed = await postSign(signer.endpoint, signBody(carol, forged, { type: 'message', message: 'x' }));
    assert.equal(signed.status, 401);
    assert.equal(signed.json.error.code, 'invalid_token');
    const sts = new STSClient({ endpoint: kms.endpoint, region: REGION, maxAttempts: 1 });
    clients.push(sts);
    await assert.rejects(sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'w', WebIdentityToken: forged })));
    // And its AWS credentials are no token at all to the signer.
    const withCreds = await postSign(signer.endpoint, signBody(carol, walletCreds.secretAccessKey, { type: 'message', message: 'x' }));
    assert.equal(withCreds.status, 401);
  });

  test("(b) the custodian operator's store and root key: no share B, no key", async () => {
    const store = await dumpStore({ dataDir: dirs.kms, databaseUrl: databaseUrl.kms });
    const sealing = await sealingKeysOf(dirs.kms, store);
    // The scan opens this store's boxes: the administrator's secret is there, sealed.
    assert.ok(findSecret(store, sealing, Buffer.from(ADMIN.secretAccessKey)).some((w) => w.endsWith('(opened)')));
    assert.ok((store.get('kms_keys')?.length ?? 0) >= 2, "the users' master keys live here");
    assert.deepEqual(findSecret(store, sealing, carol.shareB), []);
    assert.deepEqual(findSecret(store, sealing, carol.privateKey), []);
    // Share B's box, taken from the wallet store, means nothing under the custodian's root.
    const walletStore = await dumpStore({ dataDir: dirs.wallet, databaseUrl: databaseUrl.wallet });
    const row = walletStore.get('wallets')!.find((r) => r.address === carol.address)!;
    const box = Buffer.from(row.share_b_sealed as Uint8Array);
    assert.ok(!openWithoutAad(sealing, box)!.equals(Buffer.from(carol.shareB)));
    assert.ok(openWithoutAad(await sealingKeysOf(dirs.wallet, walletStore), box)!.equals(Buffer.from(carol.shareB)));
    // Nor does the custodian's administrator read it from the wallet API: it takes the owner's token only.
    const asAdmin = await walletApi('GET', '/v1/wallets/me', ADMIN.secretAccessKey);
    assert.equal(asAdmin.status, 401);
  });

  test('(c) a DApp without the owner token gets neither share nor signature', async () => {
    const noToken = await walletApi('GET', '/v1/wallets/me', undefined);
    assert.equal(noToken.status, 401);
    assert.equal(noToken.json.error.code, 'unauthorized');
    // The wallet role serves no AWS endpoint: a KMS call there is the wallet API's JSON 404.
    const notHere = await walletApi('POST', '/', undefined, {});
    assert.equal(notHere.status, 404);
    assert.equal(notHere.json.error.code, 'not_found');
    // Another user's token reads that user's record, never carol's.
    const other = await walletApi('GET', '/v1/wallets/me', await issuer.mint('mallory'));
    assert.ok(!JSON.stringify(other.json).includes(Buffer.from(carol.shareB).toString('base64')));
    // The signer without a token, and with another user's token.
    const body = signBody(carol, '', { type: 'message', message: 'x' });
    delete body.token;
    const unsigned = await postSign(signer.endpoint, body);
    assert.equal(unsigned.status, 401);
    const notOwner = await postSign(signer.endpoint, signBody(carol, await issuer.mint('mallory'), { type: 'message', message: 'x' }));
    assert.notEqual(notOwner.status, 200);
    // The custodian without a signature.
    const res = await fetch(kms.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Decrypt' },
      body: JSON.stringify({ CiphertextBlob: Buffer.from(carol.shareACiphertext).toString('base64') }),
    });
    assert.equal(res.status, 403);
    assert.match(String(((await res.json()) as { __type?: string }).__type), /MissingAuthenticationToken/);
  });
});

describe('serve --role wallet refuses to start without a custodian of its own', () => {
  for (const [name, env, says] of [
    ['no custodian URL', {}, /SYMBOLON_WALLET_KMS_ENDPOINT/],
    ['no credentials', { SYMBOLON_WALLET_KMS_ENDPOINT: 'http://127.0.0.1:9' }, /SYMBOLON_WALLET_KMS_ACCESS_KEY_ID/],
  ] as const) {
    test(`${name}: exits non-zero, names the setting, writes nothing`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'symbolon-party-refused-'));
      try {
        const child = spawn(process.execPath, ['bin/symbolon.js', 'serve', '--role', 'wallet', '--port', '0', '--data', join(dir, 'data')], {
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_NO_WARNINGS: '1', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
        child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
        const code = await new Promise<number | null>((r) => child.once('exit', r));
        assert.notEqual(code, 0);
        assert.match(out, says);
        assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
        assert.throws(() => readFileSync(join(dir, 'data', 'root.key')), { code: 'ENOENT' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
