/**
 * Managing passkeys in the built-in issuer, against a real listening server
 * (docs/identity.md "Passkeys"): removing one (after a fresh login or a
 * step-up; never another user's; never the last way to log in), the audit
 * record of every ceremony — registration, login, step-up, removal, and the
 * counter-regression (clone) warning — with no secret in it, and the rate
 * limits of the ceremony routes (429 with Retry-After, per address and per
 * user, in bounded memory). The authenticator is
 * test/helpers/soft-authenticator.ts. Runs on SQLite, and on PostgreSQL with
 * DATABASE_URL.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SoftAuthenticator } from './helpers/soft-authenticator.js';
import { CeremonyLimiter } from '../src/identity/issuer/ceremony-limiter.js';
import { loginMethodsAfterRemoval } from '../src/identity/issuer/builtin-issuer.js';
import { IssuerError } from '../src/identity/errors.js';

let server: TestServer;
let issuerUrl: string;
let origin: string;
let offsetMs = 0;

type Reply = { status: number; body: any; headers: Headers };
interface Tokens {
  access_token: string;
  id_token: string;
}

async function call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, bearer?: string, ip?: string): Promise<Reply> {
  const headers: Record<string, string> = { 'user-agent': 'passkey-management-test' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (ip) headers['x-forwarded-for'] = ip;
  const res = await fetch(`${issuerUrl}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function emailLogin(email: string): Promise<Tokens> {
  assert.equal((await call('POST', '/email/start', { email })).status, 200);
  const mail = await call('GET', `/dev/mailbox?email=${encodeURIComponent(email)}`);
  const r = await call('POST', '/email/verify', { email, code: mail.body.messages.at(-1).code });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function register(auth: SoftAuthenticator, tokens: Tokens): Promise<Reply> {
  const start = await call('POST', '/passkey/register/start', undefined, tokens.access_token);
  assert.equal(start.status, 200, JSON.stringify(start.body));
  return call('POST', '/passkey/register/finish', { challenge_id: start.body.challenge_id, response: auth.create(start.body.options) }, tokens.access_token);
}

async function passkeyLogin(auth: SoftAuthenticator, index = 0, knobs = {}): Promise<Reply> {
  const s = await call('POST', '/passkey/login/start');
  assert.equal(s.status, 200, JSON.stringify(s.body));
  return call('POST', '/passkey/login/finish', { challenge_id: s.body.challenge_id, response: auth.get(s.body.options, knobs, index) });
}

async function stepUp(auth: SoftAuthenticator, tokens: Tokens): Promise<Reply> {
  const s = await call('POST', '/passkey/step-up/start', undefined, tokens.access_token);
  if (s.status !== 200) return s;
  return call('POST', '/passkey/step-up/finish', { challenge_id: s.body.challenge_id, response: auth.get(s.body.options) }, tokens.access_token);
}

async function auditRows(sub: string): Promise<Array<Record<string, any>>> {
  await server.custodian.audit.flush();
  const rows = await server.custodian.deps.store.db.selectFrom('audit_events').selectAll().where('service', '=', 'identity').orderBy('seq').execute();
  return rows.filter((r) => JSON.parse(r.principal_tags)['symbolon:sub'] === sub);
}

const errorCode = (r: Reply) => r.body?.error?.code;

before(async () => {
  server = await startTestServer({
    env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
    clock: () => Date.now() + offsetMs,
    identity: { limits: { codesPerEmail: 50, codesPerIp: 500, passkeysPerIp: 1000, passkeysPerUser: 12 } },
  });
  issuerUrl = `${server.endpoint}/oidc`;
  origin = `http://localhost:${server.port}`;
});

after(async () => {
  await server?.close();
});

test('a passkey is removed only by its owner after a fresh authentication, and then logs in no more', async () => {
  const auth = new SoftAuthenticator({ origin, rpId: 'localhost' });
  const tokens = await emailLogin(`remove-${Date.now()}@example.com`);
  assert.equal((await register(auth, tokens)).status, 200);
  assert.equal((await register(auth, tokens)).status, 200);
  const listed = (await call('GET', '/passkeys', undefined, tokens.access_token)).body.passkeys;
  assert.equal(listed.length, 2);
  const [first, second] = listed.map((p: { credential_id: string }) => p.credential_id);

  // Someone else's token cannot remove it, nor learn that it exists (404 as for no passkey at all).
  const stranger = await emailLogin(`stranger-${Date.now()}@example.com`);
  const foreign = await call('DELETE', `/passkeys/${first}`, undefined, stranger.access_token);
  assert.deepEqual([foreign.status, errorCode(foreign)], [404, 'unknown_credential']);
  assert.deepEqual([(await call('DELETE', `/passkeys/${first}`)).status], [401]);
  const malformed = await call('DELETE', '/passkeys/not%20base64url', undefined, tokens.access_token);
  assert.deepEqual([malformed.status, errorCode(malformed)], [400, 'invalid_request']);

  // Eleven minutes on, the login is no longer fresh: refused; a step-up makes it fresh again.
  offsetMs = 11 * 60_000;
  try {
    const stale = await emailLoginlessRefresh(tokens);
    const refused = await call('DELETE', `/passkeys/${first}`, undefined, stale.access_token);
    assert.deepEqual([refused.status, errorCode(refused)], [403, 'fresh_login_required']);
    const stepped = await stepUp(auth, stale);
    assert.equal(stepped.status, 200, JSON.stringify(stepped.body));
    const removed = await call('DELETE', `/passkeys/${first}`, undefined, stepped.body.access_token);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
  } finally {
    offsetMs = 0;
  }
  const left = (await call('GET', '/passkeys', undefined, tokens.access_token)).body.passkeys;
  assert.deepEqual(
    left.map((p: { credential_id: string }) => p.credential_id),
    [second],
  );
  // The removed credential logs in no more; the other one still does.
  const gone = await passkeyLogin(auth, 0);
  assert.deepEqual([gone.status, errorCode(gone)], [400, 'unknown_credential']);
  assert.equal((await passkeyLogin(auth, 1)).status, 200);
  const again = await call('DELETE', `/passkeys/${first}`, undefined, tokens.access_token);
  assert.deepEqual([again.status, errorCode(again)], [404, 'unknown_credential']);
});

/** Tokens of the same login family (same auth_time) through the refresh grant: what a long-open page holds. */
async function emailLoginlessRefresh(tokens: Tokens & { refresh_token?: string }): Promise<Tokens> {
  const r = await call('POST', '/token', { grant_type: 'refresh_token', refresh_token: (tokens as { refresh_token: string }).refresh_token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

test('the last way to log in is never removed: the email code counts, and a user without one keeps their last passkey', () => {
  assert.equal(loginMethodsAfterRemoval({ email: 'a@example.com', passkeys: 1 }), 1);
  assert.equal(loginMethodsAfterRemoval({ email: undefined, passkeys: 2 }), 1);
  assert.equal(loginMethodsAfterRemoval({ email: undefined, passkeys: 1 }), 0);
});

test('registration, login, step-up, removal and a cloned counter are audited, with no secret in the record', async () => {
  const auth = new SoftAuthenticator({ origin, rpId: 'localhost' });
  const tokens = await emailLogin(`audited-${Date.now()}@example.com`);
  const sub = decodeJwt(tokens.id_token).sub!;
  const reg = await register(auth, tokens);
  assert.equal(reg.status, 200);
  const credentialId = reg.body.credential_id as string;
  const login = await passkeyLogin(auth);
  assert.equal(login.status, 200);
  // A clone: the same key signing with a counter the server has already seen.
  const cloned = await passkeyLogin(auth, 0, { counter: 1 });
  assert.deepEqual([cloned.status, errorCode(cloned)], [400, 'counter_not_increased']);
  const stepped = await stepUp(auth, tokens);
  assert.equal(stepped.status, 200);
  assert.equal((await register(auth, stepped.body)).status, 200);
  assert.equal((await call('DELETE', `/passkeys/${credentialId}`, undefined, stepped.body.access_token)).status, 204);

  const rows = await auditRows(sub);
  assert.deepEqual(
    rows.map((r) => [r.operation, r.outcome, r.error_code]),
    [
      ['PasskeyRegister', 'allowed', null],
      ['PasskeyLogin', 'allowed', null],
      ['PasskeyLogin', 'denied', 'counter_not_increased'],
      ['PasskeyStepUp', 'allowed', null],
      ['PasskeyRegister', 'allowed', null],
      ['PasskeyRemove', 'allowed', null],
    ],
  );
  assert.equal(JSON.parse(rows[0]!.encryption_context).credentialId, credentialId);
  assert.equal(JSON.parse(rows[5]!.encryption_context).credentialId, credentialId);
  assert.ok(rows.every((r) => r.user_agent === 'passkey-management-test' && r.source_ip.length > 0));
  // Nothing of the ceremonies' secrets or bearer values: no token, no challenge, no signature, no public key.
  const dump = JSON.stringify(rows);
  for (const secret of [tokens.access_token, tokens.id_token, stepped.body.access_token, stepped.body.refresh_token, login.body.refresh_token]) {
    assert.ok(!dump.includes(secret.slice(-24)), 'no token in the audit log');
  }
  assert.ok(!/challenge|signature|publicKey|clientData/i.test(dump));
});

test('the ceremony routes are rate limited per user and per address: 429, a stable code and Retry-After', async () => {
  const auth = new SoftAuthenticator({ origin, rpId: 'localhost' });
  const tokens = await emailLogin(`limited-${Date.now()}@example.com`);
  assert.equal((await register(auth, tokens)).status, 200); // 2 requests of this user's 12
  let last: Reply | undefined;
  for (let i = 0; i < 10; i++) {
    last = await call('POST', '/passkey/step-up/start', undefined, tokens.access_token);
    assert.equal(last.status, 200, `request ${i + 3} of 12`);
  }
  const over = await call('POST', '/passkey/step-up/start', undefined, tokens.access_token);
  assert.deepEqual([over.status, errorCode(over)], [429, 'rate_limited']);
  const retryAfter = Number(over.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 300, `Retry-After ${retryAfter}`);
  // The finish routes count too, and a passkey login counts against its user once the credential names them.
  const finish = await call(
    'POST',
    '/passkey/step-up/finish',
    { challenge_id: last!.body.challenge_id, response: auth.get(last!.body.options) },
    tokens.access_token,
  );
  assert.deepEqual([finish.status, errorCode(finish)], [429, 'rate_limited']);
  const login = await passkeyLogin(auth);
  assert.deepEqual([login.status, errorCode(login)], [429, 'rate_limited']);
  // Another user is not held back by this one.
  const other = await emailLogin(`unlimited-${Date.now()}@example.com`);
  assert.equal((await call('POST', '/passkey/register/start', undefined, other.access_token)).status, 200);
  // After the window, the user may try again.
  offsetMs = 5 * 60_000 + 1000;
  try {
    const later = await emailLogin(`limited-later-${Date.now()}@example.com`);
    assert.equal((await call('POST', '/passkey/register/start', undefined, later.access_token)).status, 200);
    assert.equal((await passkeyLogin(auth)).status, 200);
  } finally {
    offsetMs = 0;
  }
});

test('the limiter refuses per address with Retry-After, and its memory stays bounded', () => {
  const limiter = new CeremonyLimiter({ perIp: 3, perUser: 2, windowMs: 60_000, maxKeys: 100 });
  for (let i = 0; i < 3; i++) limiter.checkIp('203.0.113.7', 1000 + i);
  assert.throws(
    () => limiter.checkIp('203.0.113.7', 2000),
    (e: unknown) => e instanceof IssuerError && e.code === 'rate_limited' && e.status === 429 && e.retryAfterSec === 59,
  );
  limiter.checkIp('203.0.113.8', 2000);
  limiter.checkIp('203.0.113.7', 61_001);
  for (let i = 0; i < 10_000; i++) limiter.checkIp(`10.0.${i >> 8}.${i & 255}`, 70_000);
  for (let i = 0; i < 1000; i++) limiter.checkUser(`user-${i}`, 70_000);
  assert.deepEqual(limiter.sizes, { ip: 100, user: 100 });
  assert.throws(() => new CeremonyLimiter({ perIp: 0, perUser: 2, windowMs: 1, maxKeys: 1 }), RangeError);
});
