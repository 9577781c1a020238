/**
 * The built-in issuer of a `--role wallet` deployment (src/server/wallet-role.ts)
 * gets what the all-in-one server gives it: the role's own audit log for its
 * passkey events, and the frame's allowed DApp origins
 * (SYMBOLON_FRAME_ALLOWED_ORIGINS) as the top origins a step-up made in the
 * embedded frame may name. A real custodian (in process) and a real wallet
 * role with its own store and root, listening at http://localhost:<port>
 * (WebAuthn's RP is `localhost`); passkey ceremonies from a software
 * authenticator (test/helpers/soft-authenticator.ts). Runs on SQLite, and on
 * PostgreSQL with DATABASE_URL (a schema of its own for the wallet role).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { decodeJwt } from 'jose';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { freePort } from './helpers/free-port.js';
import { SoftAuthenticator } from './helpers/soft-authenticator.js';
import { configFromEnv } from '../src/config.js';
import { dropPgSchema } from '../src/storage/database.js';
import { createWalletServer, type WalletServer } from '../src/server/wallet-role.js';
import { walletServiceIdentityPolicy, WALLET_SERVICE_POLICY, WALLET_SERVICE_USER } from '../src/wallet/wallet-principal.js';

const DAPP = 'https://dapp.example';
const OTHER = 'https://phish.example';

let custodian: TestServer;
let wallet: WalletServer;
let dataDir: string;
let pgSchema: string | undefined;
let issuerUrl = '';
let origin = '';

type Reply = { status: number; body: any };

async function call(path: string, body?: unknown, bearer?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const res = await fetch(`${issuerUrl}${path}`, {
    method: body === undefined && path.startsWith('/dev/') ? 'GET' : 'POST',
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  // The custodian alone (`--role kms`), as beside a separate wallet role.
  custodian = await startTestServer({ env: { SYMBOLON_ROLE: 'kms' } });
  const iam = new IAMClient({ endpoint: custodian.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  let key;
  try {
    await iam.send(new CreateUserCommand({ UserName: WALLET_SERVICE_USER }));
    await iam.send(
      new PutUserPolicyCommand({ UserName: WALLET_SERVICE_USER, PolicyName: WALLET_SERVICE_POLICY, PolicyDocument: walletServiceIdentityPolicy() }),
    );
    key = (await iam.send(new CreateAccessKeyCommand({ UserName: WALLET_SERVICE_USER }))).AccessKey!;
  } finally {
    iam.destroy();
  }
  const port = await freePort();
  origin = `http://localhost:${port}`;
  dataDir = mkdtempSync(join(tmpdir(), 'symbolon-wallet-role-'));
  const env = {
    SYMBOLON_ROLE: 'wallet',
    SYMBOLON_REGION: REGION,
    SYMBOLON_LOG_LEVEL: process.env.SYMBOLON_TEST_LOG_LEVEL ?? 'silent',
    SYMBOLON_PUBLIC_URL: origin,
    SYMBOLON_BUILTIN_ISSUER: '1',
    SYMBOLON_DEV_MAILBOX: '1',
    SYMBOLON_FRAME_ALLOWED_ORIGINS: DAPP,
    SYMBOLON_WALLET_KMS_ENDPOINT: custodian.endpoint,
    SYMBOLON_WALLET_KMS_ACCESS_KEY_ID: key.AccessKeyId!,
    SYMBOLON_WALLET_KMS_SECRET_ACCESS_KEY: key.SecretAccessKey!,
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
  };
  const config = configFromEnv(env, { data: dataDir, port: '0' });
  pgSchema = config.databaseUrl ? `t_${randomBytes(6).toString('hex')}` : undefined;
  wallet = await createWalletServer({ config, logger: pino({ level: config.logLevel }), ...(pgSchema ? { pgSchema } : {}) });
  await wallet.app.listen({ host: '127.0.0.1', port });
  issuerUrl = `${origin}/oidc`;
});

after(async () => {
  await wallet?.close();
  await custodian?.close();
  if (pgSchema && process.env.DATABASE_URL) await dropPgSchema(process.env.DATABASE_URL, pgSchema);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('--role wallet: passkey events are audited in the role’s own log; a step-up in the frame embedded in an allowed DApp is accepted', async () => {
  const email = `wallet-role-${Date.now()}@example.com`;
  assert.equal((await call('/email/start', { email })).status, 200);
  const mail = await call(`/dev/mailbox?email=${encodeURIComponent(email)}`);
  const login = await call('/email/verify', { email, code: mail.body.messages[0].code });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const tokens = login.body as { access_token: string; id_token: string };

  const passkey = new SoftAuthenticator({ origin, rpId: 'localhost' });
  const reg = await call('/passkey/register/start', undefined, tokens.access_token);
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  const added = await call(
    '/passkey/register/finish',
    { challenge_id: reg.body.challenge_id, response: passkey.create(reg.body.options) },
    tokens.access_token,
  );
  assert.equal(added.status, 200, JSON.stringify(added.body));

  const stepUp = async (topOrigin: string): Promise<Reply> => {
    const s = await call('/passkey/step-up/start', undefined, tokens.access_token);
    assert.equal(s.status, 200, JSON.stringify(s.body));
    return call('/passkey/step-up/finish', { challenge_id: s.body.challenge_id, response: passkey.get(s.body.options, { topOrigin }) }, tokens.access_token);
  };
  // The frame embedded in a page of an origin SYMBOLON_FRAME_ALLOWED_ORIGINS does not list: refused.
  const phished = await stepUp(OTHER);
  assert.deepEqual([phished.status, phished.body.error?.code], [400, 'origin_mismatch']);
  // Embedded in the allowed DApp: tokens with `mfa`.
  const stepped = await stepUp(DAPP);
  assert.equal(stepped.status, 200, JSON.stringify(stepped.body));
  assert.ok((decodeJwt(stepped.body.id_token).amr as string[]).includes('mfa'));

  await wallet.audit.flush();
  const events = await wallet.store.db
    .selectFrom('audit_events')
    .select(['operation', 'outcome', 'error_code'])
    .where('service', '=', 'identity')
    .orderBy('seq')
    .execute();
  assert.deepEqual(events, [
    { operation: 'PasskeyRegister', outcome: 'allowed', error_code: null },
    { operation: 'PasskeyStepUp', outcome: 'denied', error_code: 'origin_mismatch' },
    { operation: 'PasskeyStepUp', outcome: 'allowed', error_code: null },
  ]);
});
