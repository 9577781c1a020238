/**
 * Identity: the built-in issuer's email-code login over a real listening server
 * (dev mailbox and a loopback SMTP relay), refresh-token rotation and reuse
 * detection, rate and attempt limits, and the token verifier against hostile
 * tokens from keys minted here and a second "external" OIDC issuer served by
 * its own fastify instance. Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { checkTrustedIssuer } from '../src/identity/trusted-issuer.js';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import {
  SignJWT,
  UnsecuredJWT,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  type CryptoKey as JoseCryptoKey,
} from 'jose';
import { startTestServer, type TestServer } from './helpers/server.js';
import { createTokenVerifier, type TokenVerifier } from '../src/identity/token-verifier.js';
import { TokenError, type TokenErrorCode } from '../src/identity/errors.js';
import { loadTrustedIssuers, IssuerConfigError } from '../src/identity/issuers-config.js';
import { sendMail } from '../src/identity/issuer/smtp-client.js';
import { configFromEnv } from '../src/config.js';
import { sealingContext, SealedBoxError } from '../src/root/root-of-trust.js';
import { getMeta } from '../src/storage/meta.repository.js';

// ---------- helpers ----------

async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    if (typeof body === 'string') init.body = body;
    else {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, headers: res.headers };
}

async function readCode(server: TestServer, email: string): Promise<string> {
  const r = await call(server.endpoint, 'GET', `/oidc/dev/mailbox?email=${encodeURIComponent(email)}`);
  assert.equal(r.status, 200);
  const code = r.json.messages[0]?.code;
  assert.match(code, /^\d{6}$/);
  return code;
}

async function login(server: TestServer, email: string) {
  const s = await call(server.endpoint, 'POST', '/oidc/email/start', { email });
  assert.equal(s.status, 200, JSON.stringify(s.json));
  const code = await readCode(server, email);
  const v = await call(server.endpoint, 'POST', '/oidc/email/verify', { email, code });
  assert.equal(v.status, 200, JSON.stringify(v.json));
  return v.json as { access_token: string; refresh_token: string; id_token: string; token_type: string; expires_in: number };
}

async function refusedWith(p: Promise<unknown>, code: TokenErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TokenError, `expected TokenError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** Flips one bit in the middle of the token's signature. */
function flipSignatureByte(token: string): string {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s!, 'base64url');
  sig[Math.floor(sig.length / 2)]! ^= 0x01;
  return `${h}.${p}.${b64url(sig)}`;
}

/** A small OIDC issuer on loopback: discovery + JWKS, with keys the test rotates. */
class ExternalIssuer {
  app: FastifyInstance = Fastify();
  url = '';
  jwksFetches = 0;
  published: JWK[] = [];
  keys = new Map<string, { privateKey: JoseCryptoKey; alg: string }>();

  async start(): Promise<this> {
    this.app.get('/.well-known/openid-configuration', async () => ({ issuer: this.url, jwks_uri: `${this.url}/keys` }));
    this.app.get('/keys', async () => {
      this.jwksFetches++;
      return { keys: this.published };
    });
    // A discovery document that names another issuer: must not be trusted for this path.
    this.app.get('/liar/.well-known/openid-configuration', async () => ({ issuer: this.url, jwks_uri: `${this.url}/keys` }));
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    const a = this.app.server.address() as net.AddressInfo;
    this.url = `http://127.0.0.1:${a.port}`;
    return this;
  }

  async addKey(kid: string, alg: 'ES256' | 'RS256' | 'EdDSA', publish = true): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    this.keys.set(kid, { privateKey, alg });
    if (publish) this.published.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  }

  async mint(
    kid: string,
    claims: JWTPayload,
    opts: { iss?: string; aud?: string | string[]; expIn?: number; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const k = this.keys.get(kid)!;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ exp: now + (opts.expIn ?? 300), iat: now, ...claims })
      .setProtectedHeader({ alg: k.alg, kid, ...opts.header })
      .setIssuer(opts.iss ?? this.url)
      .setAudience(opts.aud ?? 'api://external')
      .setSubject((claims.sub as string | undefined) ?? 'ext-user-1')
      .sign(k.privateKey);
  }

  close(): Promise<void> {
    return this.app.close();
  }
}

/** A tiny SMTP server on loopback that records every message (RFC 5321 subset). */
class TestSmtpServer {
  server: net.Server;
  port = 0;
  messages: Array<{ from: string; to: string[]; data: string; auth?: string }> = [];
  refuseRecipient = false;

  constructor() {
    this.server = net.createServer((socket) => {
      let buf = '';
      let inData = false;
      let current: { from: string; to: string[]; data: string; auth?: string } = { from: '', to: [], data: '' };
      let auth: string | undefined;
      socket.write('220 test ESMTP\r\n');
      socket.on('data', (chunk) => {
        buf += chunk.toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\r\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (inData) {
            if (line === '.') {
              inData = false;
              this.messages.push({ ...current, ...(auth ? { auth } : {}) });
              current = { from: '', to: [], data: '' };
              socket.write('250 queued\r\n');
            } else current.data += line + '\r\n';
            continue;
          }
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === 'EHLO') socket.write('250-test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n');
          else if (verb === 'AUTH') {
            auth = Buffer.from(line.split(' ')[2] ?? '', 'base64').toString('utf8');
            socket.write('235 ok\r\n');
          } else if (verb === 'MAIL') {
            current.from = /<(.*)>/.exec(line)?.[1] ?? '';
            socket.write('250 ok\r\n');
          } else if (verb === 'RCPT') {
            if (this.refuseRecipient) socket.write('550 no such user\r\n');
            else {
              current.to.push(/<(.*)>/.exec(line)?.[1] ?? '');
              socket.write('250 ok\r\n');
            }
          } else if (verb === 'DATA') {
            inData = true;
            socket.write('354 go\r\n');
          } else if (verb === 'QUIT') {
            socket.end('221 bye\r\n');
          } else socket.write('502 not implemented\r\n');
        }
      });
      socket.on('error', () => undefined);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A pino logger whose lines are kept in memory. */
function memoryLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

// ---------- the main server: built-in issuer + an external issuer trusted by configuration ----------

let ext: ExternalIssuer;
let server: TestServer;
let issuerUrl: string;
let logs: string[];

before(async () => {
  ext = await new ExternalIssuer().start();
  await ext.addKey('ext-1', 'ES256');
  const mem = memoryLogger();
  logs = mem.lines;
  server = await startTestServer({
    logger: mem.logger,
    env: {
      SYMBOLON_BUILTIN_ISSUER: '1',
      SYMBOLON_DEV_MAILBOX: '1',
      SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: ext.url, audiences: ['api://external'] }]),
    },
  });
  issuerUrl = `${server.endpoint}/oidc`;
});

after(async () => {
  await server?.close();
  await ext?.close();
});

describe('built-in issuer: email code login', () => {
  test('discovery document and JWKS describe the issuer and publish only a public Ed25519 key', async () => {
    const d = await call(server.endpoint, 'GET', '/oidc/.well-known/openid-configuration');
    assert.equal(d.status, 200);
    assert.equal(d.json.issuer, issuerUrl);
    assert.equal(d.json.jwks_uri, `${issuerUrl}/jwks.json`);
    assert.equal(d.json.token_endpoint, `${issuerUrl}/token`);
    assert.deepEqual(d.json.id_token_signing_alg_values_supported, ['EdDSA']);
    const j = await call(server.endpoint, 'GET', '/oidc/jwks.json');
    assert.equal(j.status, 200);
    assert.equal(j.json.keys.length, 1);
    const k = j.json.keys[0];
    assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(k.kty, 'OKP');
    assert.equal(k.crv, 'Ed25519');
    assert.equal(k.d, undefined);
  });

  test('start → code from the dev mailbox → verify → tokens that verify through discovery over HTTP', async () => {
    const email = 'Alice@Example.com';
    const s = await call(server.endpoint, 'POST', '/oidc/email/start', { email });
    assert.equal(s.status, 200);
    assert.deepEqual(s.json, { status: 'sent', expires_in: 600 });
    const code = await readCode(server, 'alice@example.com');
    // Development mode: the code is also in the log.
    assert.ok(
      logs.some((l) => l.includes(code) && l.includes('development mode')),
      'code written to the log',
    );

    const v = await call(server.endpoint, 'POST', '/oidc/email/verify', { email: 'alice@example.com', code });
    assert.equal(v.status, 200);
    assert.equal(v.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(v.json).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'token_type']);
    assert.equal(v.json.token_type, 'Bearer');
    assert.ok(v.json.expires_in > 0 && v.json.expires_in <= 900);
    const header = decodeProtectedHeader(v.json.access_token);
    assert.equal(header.alg, 'EdDSA');

    // A verifier that knows only the issuer URL: discovery → jwks_uri → JWKS, all over real HTTP.
    const verifier = createTokenVerifier({ issuers: [{ issuer: issuerUrl, audiences: ['symbolon'] }] });
    const t = await verifier.verify(v.json.access_token);
    assert.equal(t.issuer, issuerUrl);
    assert.equal(t.aud, 'symbolon');
    assert.equal(t.email, 'alice@example.com');
    assert.notEqual(t.sub, 'alice@example.com');
    assert.ok(!t.sub.includes('alice'));
    assert.ok(t.exp - Math.floor(Date.now() / 1000) <= 900);
    assert.equal(t.claims.token_use, 'access');
    const idt = await verifier.verify(v.json.id_token);
    assert.equal(idt.sub, t.sub);
    assert.equal(idt.claims.token_use, 'id');

    // The server's own verifier trusts it as one configured issuer among others.
    const own = await server.custodian.identity.verifier('wallet').verify(v.json.access_token);
    assert.equal(own.sub, t.sub);
    // Each token for its own service: the access token for the wallet API, the ID token for STS and the signer.
    assert.equal((await server.custodian.identity.verifier('custodian').verify(v.json.id_token)).sub, t.sub);
    await refusedWith(server.custodian.identity.verifier('custodian').verify(v.json.access_token), 'wrong_token_use');
    await refusedWith(server.custodian.identity.verifier('wallet').verify(v.json.id_token), 'wrong_token_use');
    const builtin = (use: 'wallet' | 'custodian') => server.custodian.identity.trustedIssuers(use).find((i) => i.issuer === issuerUrl);
    assert.equal(builtin('wallet')?.tokenUse, 'access');
    assert.equal(builtin('custodian')?.tokenUse, 'id');
    // The same rule as configuration for an external issuer: checked strictly.
    assert.equal(
      checkTrustedIssuer({ issuer: 'https://idp.example', audience: 'a', jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AA' }] }, tokenUse: 'id' }).tokenUse,
      'id',
    );
    for (const bad of ['', 'has space', 7, 'x'.repeat(65)]) {
      assert.throws(
        () => checkTrustedIssuer({ issuer: 'https://idp.example', audience: 'a', jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AA' }] }, tokenUse: bad }),
        RangeError,
        String(bad),
      );
    }

    // sub is stable per email, and differs between emails.
    const again = await login(server, 'alice@example.com');
    assert.equal((await verifier.verify(again.access_token)).sub, t.sub);
    const bob = await login(server, 'bob@example.com');
    assert.notEqual((await verifier.verify(bob.access_token)).sub, t.sub);
  });

  test('refresh rotates; reusing an old refresh token revokes the whole family, not other logins', async () => {
    const first = await login(server, 'carol@example.com');
    const other = await login(server, 'carol@example.com');
    const form = (rt: string) =>
      call(server.endpoint, 'POST', '/oidc/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString(), {
        'content-type': 'application/x-www-form-urlencoded',
      });

    const r1 = await form(first.refresh_token);
    assert.equal(r1.status, 200, JSON.stringify(r1.json));
    assert.notEqual(r1.json.refresh_token, first.refresh_token);
    const verifier = server.custodian.identity.verifier('wallet');
    const sub = (await verifier.verify(first.access_token)).sub;
    assert.equal((await verifier.verify(r1.json.access_token)).sub, sub);

    // JSON bodies work too.
    const r2 = await call(server.endpoint, 'POST', '/oidc/token', { grant_type: 'refresh_token', refresh_token: r1.json.refresh_token });
    assert.equal(r2.status, 200);

    // The first token was rotated away: presenting it again is reuse.
    const reuse = await form(first.refresh_token);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.json.error.code, 'invalid_grant');
    // ...so the newest token of that family is dead too.
    const after = await form(r2.json.refresh_token);
    assert.equal(after.status, 400);
    assert.equal(after.json.error.code, 'invalid_grant');
    // Another login's family is untouched.
    const otherRefresh = await form(other.refresh_token);
    assert.equal(otherRefresh.status, 200);

    const junk = await form('not-a-real-refresh-token-at-all');
    assert.equal(junk.json.error.code, 'invalid_grant');
    const grant = await call(server.endpoint, 'POST', '/oidc/token', { grant_type: 'password', refresh_token: other.refresh_token });
    assert.equal(grant.status, 400);
    assert.equal(grant.json.error.code, 'unsupported_grant_type');
  });

  test('codes and refresh tokens are stored only as keyed hashes; the signing key only sealed', async () => {
    const email = 'dave@example.com';
    await call(server.endpoint, 'POST', '/oidc/email/start', { email });
    const code = await readCode(server, email);
    const tokens = (await call(server.endpoint, 'POST', '/oidc/email/verify', { email, code })).json;
    const db = server.custodian.deps.store.db;
    const dump = JSON.stringify(
      {
        codes: await db.selectFrom('identity_login_codes').selectAll().execute(),
        refresh: await db.selectFrom('identity_refresh_tokens').selectAll().execute(),
      },
      (_k, v) => (v instanceof Uint8Array || Buffer.isBuffer(v) ? Buffer.from(v).toString('hex') + '|' + Buffer.from(v).toString('latin1') : v),
    );
    assert.ok(!dump.includes(code), 'no plaintext code');
    assert.ok(!dump.includes(email), 'no plaintext email in the codes table');
    assert.ok(!dump.includes(tokens.refresh_token), 'no plaintext refresh token');
    assert.ok(!dump.includes(Buffer.from(tokens.refresh_token, 'base64url').toString('hex')), 'no refresh token bytes');

    const box = await getMeta(db, 'identity/issuer-key');
    assert.ok(box && box.length > 48);
    const root = server.custodian.deps.root;
    assert.throws(() => root.open(box!, sealingContext('identity/pepper/v1')), SealedBoxError);
    const pkcs8 = root.open(box!, sealingContext('identity/issuer-key/v1'));
    const publicJwk = createPublicKey(createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    pkcs8.fill(0);
    const published = (await call(server.endpoint, 'GET', '/oidc/jwks.json')).json.keys[0];
    assert.equal(publicJwk.x, published.x);
  });

  test('bad requests get JSON errors with stable codes', async () => {
    const bad = await call(server.endpoint, 'POST', '/oidc/email/start', { email: 'not an email' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'invalid_request');
    const missing = await call(server.endpoint, 'POST', '/oidc/email/verify', { email: 'x@example.com' });
    assert.equal(missing.json.error.code, 'invalid_request');
    const shortCode = await call(server.endpoint, 'POST', '/oidc/email/verify', { email: 'x@example.com', code: '12345' });
    assert.equal(shortCode.json.error.code, 'invalid_request');
    const noCode = await call(server.endpoint, 'POST', '/oidc/email/verify', { email: 'nobody@example.com', code: '123456' });
    assert.equal(noCode.status, 400);
    assert.equal(noCode.json.error.code, 'no_active_code');
    const notJson = await call(server.endpoint, 'POST', '/oidc/email/start', '{"email":', { 'content-type': 'application/json' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.error.code, 'invalid_request');
    const text = await call(server.endpoint, 'POST', '/oidc/email/start', 'x@example.com', { 'content-type': 'text/plain' });
    assert.equal(text.status, 415);
    assert.equal(text.json.error.code, 'unsupported_media_type');
    const big = await call(server.endpoint, 'POST', '/oidc/email/start', { email: 'a@b.co', pad: 'x'.repeat(20_000) });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'payload_too_large');
    const nf = await call(server.endpoint, 'GET', '/oidc/nothing-here');
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error.code, 'not_found');
    const repeated = await call(server.endpoint, 'POST', '/oidc/token', 'grant_type=refresh_token&refresh_token=a&refresh_token=b', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(repeated.status, 400);
    assert.equal(repeated.json.error.code, 'invalid_request');
  });

  test('wrong codes: each one is refused, the fifth locks the code, a new code works', async () => {
    const email = 'erin@example.com';
    await call(server.endpoint, 'POST', '/oidc/email/start', { email });
    const code = await readCode(server, email);
    const wrong = code === '000000' ? '000001' : '000000';
    for (let i = 1; i <= 4; i++) {
      const r = await call(server.endpoint, 'POST', '/oidc/email/verify', { email, code: wrong });
      assert.equal(r.status, 400);
      assert.equal(r.json.error.code, 'invalid_code');
      assert.match(r.json.error.message, new RegExp(`${5 - i} attempts left`));
    }
    const fifth = await call(server.endpoint, 'POST', '/oidc/email/verify', { email, code: wrong });
    assert.equal(fifth.json.error.code, 'too_many_attempts');
    // Locked: even the right code no longer works.
    const right = await call(server.endpoint, 'POST', '/oidc/email/verify', { email, code });
    assert.equal(right.status, 400);
    assert.equal(right.json.error.code, 'too_many_attempts');

    // A new code replaces it; the old code is not accepted for the new one.
    await call(server.endpoint, 'POST', '/oidc/email/start', { email });
    const fresh = await readCode(server, email);
    if (fresh !== code) {
      const old = await call(server.endpoint, 'POST', '/oidc/email/verify', { email, code });
      assert.equal(old.json.error.code, 'invalid_code');
    }
    const ok = await call(server.endpoint, 'POST', '/oidc/email/verify', { email, code: fresh });
    assert.equal(ok.status, 200);
    // Used once: the same code cannot be used again.
    const twice = await call(server.endpoint, 'POST', '/oidc/email/verify', { email, code: fresh });
    assert.equal(twice.json.error.code, 'no_active_code');
  });
});

describe('built-in issuer: rate limits and expiry (controlled clock)', () => {
  let rl: TestServer;
  let now = Date.now();
  before(async () => {
    rl = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
      clock: () => now,
      identity: { limits: { codesPerEmail: 3, codesPerIp: 5, windowMs: 15 * 60_000 } },
    });
  });
  after(async () => {
    await rl?.close();
  });

  test('per email: the 4th code in the window is refused with 429 rate_limited and Retry-After; allowed again after the window', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await call(rl.endpoint, 'POST', '/oidc/email/start', { email: 'frank@example.com' });
      assert.equal(r.status, 200);
      now += 60_000;
    }
    const r = await call(rl.endpoint, 'POST', '/oidc/email/start', { email: 'FRANK@example.com' });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'rate_limited');
    assert.equal(typeof r.json.error.message, 'string');
    // The oldest of the three was sent 3 minutes ago: free in 12 minutes.
    assert.equal(r.headers.get('retry-after'), String(12 * 60));
    now += 12 * 60_000 + 1000;
    const later = await call(rl.endpoint, 'POST', '/oidc/email/start', { email: 'frank@example.com' });
    assert.equal(later.status, 200);
  });

  test("auth_time is the login's: a refresh renews iat, not auth_time; a new login renews both (an export's step-up)", async () => {
    const loginAt = Math.floor(now / 1000);
    const first = await login(rl, 'gina@example.com');
    for (const t of [first.access_token, first.id_token]) {
      const c = decodeJwt(t);
      assert.equal(c.auth_time, loginAt);
      assert.equal(c.iat, loginAt);
    }
    now += 10 * 60_000;
    const r1 = await call(rl.endpoint, 'POST', '/oidc/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    assert.equal(r1.status, 200, JSON.stringify(r1.json));
    now += 60_000;
    const r2 = await call(rl.endpoint, 'POST', '/oidc/token', { grant_type: 'refresh_token', refresh_token: r1.json.refresh_token });
    const refreshed = decodeJwt(r2.json.id_token);
    assert.equal(refreshed.iat, loginAt + 11 * 60);
    assert.equal(refreshed.auth_time, loginAt, 'a refresh is not an authentication');
    const again = decodeJwt((await login(rl, 'gina@example.com')).id_token);
    assert.equal(again.auth_time, Math.floor(now / 1000));
  });

  test('per IP: codes to many emails from one address are limited', async () => {
    now += 16 * 60_000;
    for (let i = 0; i < 5; i++) {
      const r = await call(rl.endpoint, 'POST', '/oidc/email/start', { email: `user${i}@example.com` });
      assert.equal(r.status, 200, `request ${i}`);
    }
    const r = await call(rl.endpoint, 'POST', '/oidc/email/start', { email: 'user9@example.com' });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'rate_limited');
    assert.match(r.json.error.message, /from this address/);
  });

  test('an expired code is refused', async () => {
    now += 16 * 60_000;
    await call(rl.endpoint, 'POST', '/oidc/email/start', { email: 'gina@example.com' });
    const code = await readCode(rl, 'gina@example.com');
    now += 10 * 60_000 + 1;
    const r = await call(rl.endpoint, 'POST', '/oidc/email/verify', { email: 'gina@example.com', code });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'no_active_code');
  });
});

// ---------- the verifier against hostile tokens ----------

describe('token verifier refuses forged and invalid tokens', () => {
  let verifier: TokenVerifier;
  let builtinJwk: JWK;
  before(async () => {
    verifier = createTokenVerifier({
      issuers: [
        { issuer: ext.url, audiences: ['api://external'] },
        { issuer: issuerUrl, audiences: ['symbolon'] },
      ],
      jwksCooldownMs: 0,
      cacheSize: 0,
    });
    builtinJwk = (await call(server.endpoint, 'GET', '/oidc/jwks.json')).json.keys[0];
  });

  test('a valid external token verifies, with its claims', async () => {
    const t = await verifier.verify(await ext.mint('ext-1', { sub: 'ext-42', email: 'x@corp.example' }));
    assert.equal(t.issuer, ext.url);
    assert.equal(t.sub, 'ext-42');
    assert.equal(t.aud, 'api://external');
    assert.equal(t.email, 'x@corp.example');
    const unverified = await verifier.verify(await ext.mint('ext-1', { sub: 'ext-43', email: 'y@corp.example', email_verified: false }));
    assert.equal(unverified.email, undefined);
  });

  test('expired token → token_expired (also past the clock tolerance)', async () => {
    await refusedWith(verifier.verify(await ext.mint('ext-1', {}, { expIn: -120 })), 'token_expired');
    // Within the 60 s tolerance it is still accepted.
    await verifier.verify(await ext.mint('ext-1', {}, { expIn: -30 }));
  });

  test('token from an untrusted issuer → untrusted_issuer', async () => {
    const rogue = await new ExternalIssuer().start();
    try {
      await rogue.addKey('r1', 'ES256');
      await refusedWith(verifier.verify(await rogue.mint('r1', {}, { aud: 'api://external' })), 'untrusted_issuer');
      assert.equal(rogue.jwksFetches, 0, 'no key fetch for an untrusted issuer');
    } finally {
      await rogue.close();
    }
  });

  test('wrong audience → wrong_audience; a missing aud too', async () => {
    await refusedWith(verifier.verify(await ext.mint('ext-1', {}, { aud: 'api://other' })), 'wrong_audience');
    // A built-in token presented with the external issuer's audience config: built-in aud is "symbolon".
    const strict = createTokenVerifier({ issuers: [{ issuer: issuerUrl, audiences: ['someone-else'] }], cacheSize: 0 });
    const tokens = await login(server, 'henry@example.com');
    await refusedWith(strict.verify(tokens.access_token), 'wrong_audience');
    const k = ext.keys.get('ext-1')!;
    const noAud = await new SignJWT({ sub: 's', exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'ext-1' })
      .setIssuer(ext.url)
      .sign(k.privateKey);
    await refusedWith(verifier.verify(noAud), 'wrong_audience');
  });

  test('alg none → alg_not_allowed', async () => {
    const now = Math.floor(Date.now() / 1000);
    const none = new UnsecuredJWT({ sub: 'attacker', exp: now + 60, iat: now }).setIssuer(issuerUrl).setAudience('symbolon').encode();
    assert.equal(decodeProtectedHeader(none).alg, 'none');
    await refusedWith(verifier.verify(none), 'alg_not_allowed');
    await refusedWith(server.custodian.identity.verifier('wallet').verify(none), 'alg_not_allowed');
    // With a signature part appended, still refused.
    await refusedWith(verifier.verify(none + 'c2lnbmF0dXJl'), 'alg_not_allowed');
  });

  test("HS256 signed with the issuer's public key bytes as the HMAC secret → alg_not_allowed", async () => {
    const now = Math.floor(Date.now() / 1000);
    const secrets = [
      Buffer.from(builtinJwk.x!, 'base64url'),
      Buffer.from(JSON.stringify(builtinJwk)),
      Buffer.from(createPublicKey({ key: builtinJwk as any, format: 'jwk' }).export({ format: 'pem', type: 'spki' }) as string),
    ];
    for (const secret of secrets) {
      const forged = await new SignJWT({ sub: 'attacker', email: 'attacker@example.com' })
        .setProtectedHeader({ alg: 'HS256', kid: builtinJwk.kid! })
        .setIssuer(issuerUrl)
        .setAudience('symbolon')
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(new Uint8Array(secret));
      await refusedWith(verifier.verify(forged), 'alg_not_allowed');
      await refusedWith(server.custodian.identity.verifier('wallet').verify(forged), 'alg_not_allowed');
    }
  });

  test('forged signature (one flipped bit) and a tampered payload → bad_signature', async () => {
    const tokens = await login(server, 'ivy@example.com');
    await refusedWith(verifier.verify(flipSignatureByte(tokens.access_token)), 'bad_signature');
    await refusedWith(server.custodian.identity.verifier('wallet').verify(flipSignatureByte(tokens.access_token)), 'bad_signature');
    const [h, p, s] = tokens.access_token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8'));
    claims.sub = 'someone-else';
    await refusedWith(verifier.verify(`${h}.${b64url(Buffer.from(JSON.stringify(claims)))}.${s}`), 'bad_signature');
    await refusedWith(verifier.verify(flipSignatureByte(await ext.mint('ext-1', {}))), 'bad_signature');
    // An attacker's own Ed25519 key, claiming the built-in issuer's kid.
    const attacker = await generateKeyPair('EdDSA');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ sub: 'attacker' })
      .setProtectedHeader({ alg: 'EdDSA', kid: builtinJwk.kid! })
      .setIssuer(issuerUrl)
      .setAudience('symbolon')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(attacker.privateKey);
    await refusedWith(verifier.verify(forged), 'bad_signature');
    await refusedWith(server.custodian.identity.verifier('wallet').verify(forged), 'bad_signature');
  });

  test('an algorithm outside the issuer allowlist is refused before any key lookup', async () => {
    const only = createTokenVerifier({ issuers: [{ issuer: ext.url, audiences: ['api://external'], algorithms: ['RS256'] }], cacheSize: 0 });
    const before = ext.jwksFetches;
    await refusedWith(only.verify(await ext.mint('ext-1', {})), 'alg_not_allowed');
    assert.equal(ext.jwksFetches, before);
  });

  test('unknown kid → JWKS refetched, then unknown_key; a rotated-in key is picked up', async () => {
    await verifier.verify(await ext.mint('ext-1', {}));
    await ext.addKey('ghost', 'ES256', false);
    const before = ext.jwksFetches;
    await refusedWith(verifier.verify(await ext.mint('ghost', {})), 'unknown_key');
    assert.equal(ext.jwksFetches, before + 1, 'an unknown kid triggers one JWKS refetch');

    // Rotation: a second key appears in the JWKS; the verifier has the old set cached.
    await ext.addKey('ext-2', 'RS256');
    const t = await verifier.verify(await ext.mint('ext-2', { sub: 'rotated' }));
    assert.equal(t.sub, 'rotated');
    assert.equal(ext.jwksFetches, before + 2);
    // The old key still works, without another fetch.
    await verifier.verify(await ext.mint('ext-1', {}));
    assert.equal(ext.jwksFetches, before + 2);
    // The server's configured verifier (SYMBOLON_OIDC_ISSUERS) sees the rotated key too.
    const own = await server.custodian.identity.verifier('wallet').verify(await ext.mint('ext-2', { sub: 'rotated' }));
    assert.equal(own.issuer, ext.url);
  });

  test('nbf in the future → token_not_yet_valid; iat far in the future → token_not_yet_valid', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refusedWith(verifier.verify(await ext.mint('ext-1', { nbf: now + 600 })), 'token_not_yet_valid');
    await refusedWith(verifier.verify(await ext.mint('ext-1', { iat: now + 3600, exp: now + 7200 })), 'token_not_yet_valid');
    // Skew within the tolerance is fine.
    await verifier.verify(await ext.mint('ext-1', { nbf: now + 30, iat: now + 30 }));
  });

  test('malformed tokens → malformed_token; a token without exp or sub too', async () => {
    await refusedWith(verifier.verify('abc'), 'malformed_token');
    await refusedWith(verifier.verify('a.b.c.d.e'), 'malformed_token');
    await refusedWith(verifier.verify(''), 'malformed_token');
    await refusedWith(verifier.verify('x'.repeat(20_000)), 'malformed_token');
    await assert.rejects(verifier.verify(42 as unknown as string), TypeError);
    const k = ext.keys.get('ext-1')!;
    const noExp = await new SignJWT({ sub: 's' })
      .setProtectedHeader({ alg: 'ES256', kid: 'ext-1' })
      .setIssuer(ext.url)
      .setAudience('api://external')
      .sign(k.privateKey);
    await refusedWith(verifier.verify(noExp), 'malformed_token');
    const noSub = await new SignJWT({ exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'ext-1' })
      .setIssuer(ext.url)
      .setAudience('api://external')
      .sign(k.privateKey);
    await refusedWith(verifier.verify(noSub), 'malformed_token');
  });

  test('a discovery document naming another issuer is refused (issuer_unavailable)', async () => {
    const liar = createTokenVerifier({ issuers: [{ issuer: `${ext.url}/liar`, audiences: ['api://external'] }], cacheSize: 0 });
    await refusedWith(liar.verify(await ext.mint('ext-1', {}, { iss: `${ext.url}/liar` })), 'issuer_unavailable');
  });

  test('the cache returns a verified token again but never after its exp', async () => {
    let now = Date.now();
    const cached = createTokenVerifier({ issuers: [{ issuer: ext.url, audiences: ['api://external'] }], now: () => now, clockToleranceSec: 0 });
    const token = await ext.mint('ext-1', { sub: 'cached' }, { expIn: 100 });
    const a = await cached.verify(token);
    const b = await cached.verify(token);
    assert.equal(b, a, 'served from the cache');
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.claims));
    now += 101_000;
    await refusedWith(cached.verify(token), 'token_expired');
    // A flipped copy of a cached token is a different key: verified (and refused) in full.
    now = Date.now();
    await cached.verify(token);
    await refusedWith(cached.verify(flipSignatureByte(token)), 'bad_signature');
  });
});

// ---------- configuration ----------

describe('trusted issuer configuration', () => {
  test('from the environment and from a file; bad entries are refused with the field named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'symbolon-issuers-'));
    try {
      const file = join(dir, 'issuers.json');
      writeFileSync(file, JSON.stringify({ issuers: [{ issuer: 'https://example.auth0.com/', audience: 'https://api.example.com' }] }));
      const list = loadTrustedIssuers({
        json: JSON.stringify([{ issuer: 'https://accounts.google.com', audiences: ['123.apps.googleusercontent.com'], algorithms: ['RS256'] }]),
        file,
      });
      assert.deepEqual(
        list.map((i) => i.issuer),
        ['https://accounts.google.com', 'https://example.auth0.com/'],
      );
      assert.deepEqual(list[1]!.audiences, ['https://api.example.com']);
      assert.deepEqual(list[1]!.algorithms, ['RS256', 'ES256', 'EdDSA', 'PS256']);

      const refuse = (entry: unknown, pattern: RegExp) =>
        assert.throws(
          () => loadTrustedIssuers({ json: JSON.stringify([entry]) }),
          (e: unknown) => e instanceof IssuerConfigError && pattern.test(e.message),
        );
      refuse({ issuer: 'https://a.example', audiences: ['x'], algorithms: ['HS256'] }, /HMAC/);
      refuse({ issuer: 'https://a.example', audiences: ['x'], algorithms: ['none'] }, /none/);
      refuse({ issuer: 'https://a.example', audiences: [] }, /audiences/);
      refuse({ issuer: 'http://idp.example.com', audiences: ['x'] }, /https/);
      refuse({ issuer: 'https://a.example', audiences: ['x'], jwksUri: 'http://keys.example.com/jwks' }, /https/);
      refuse({ issuer: 'https://a.example', audiences: ['x'], jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, /symmetric/);
      refuse({ issuer: 'https://a.example', audiences: ['x'], jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' }] } }, /private/);
      refuse({ issuer: 'https://a.example', audiences: ['x'], surprise: 1 }, /unknown field/);
      assert.throws(() => loadTrustedIssuers({ json: '{not json' }), IssuerConfigError);
      assert.throws(() => loadTrustedIssuers({ file: join(dir, 'missing.json') }), IssuerConfigError);
      assert.throws(
        () =>
          loadTrustedIssuers({
            json: JSON.stringify([{ issuer: 'https://a.example', audience: 'x' }]),
            file: (writeFileSync(file, JSON.stringify([{ issuer: 'https://a.example', audience: 'y' }])), file),
          }),
        /twice/,
      );
      assert.throws(() => createTokenVerifier({ issuers: [{ issuer: 'https://a.example', audiences: ['x'], algorithms: ['HS512'] }] }), RangeError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('defaults: built-in issuer and dev mailbox on in the embedded mode on loopback, off with PostgreSQL unless asked', () => {
    const embedded = configFromEnv({}, { port: '8080' });
    assert.equal(embedded.identity.builtinIssuer, true);
    assert.equal(embedded.identity.devMailbox, true);
    assert.equal(embedded.identity.audience, 'symbolon');
    assert.equal(embedded.publicUrl, 'http://127.0.0.1:8080');
    const pg = configFromEnv({ DATABASE_URL: 'postgres://x@127.0.0.1/db' }, {});
    assert.equal(pg.identity.builtinIssuer, false);
    assert.equal(pg.identity.devMailbox, false);
    const off = configFromEnv({ SYMBOLON_BUILTIN_ISSUER: '0' }, {});
    assert.equal(off.identity.builtinIssuer, false);
    // Listening beyond loopback: no dev mailbox unless asked for explicitly.
    assert.equal(configFromEnv({}, { host: '0.0.0.0' }).identity.devMailbox, false);
    assert.equal(configFromEnv({ SYMBOLON_DEV_MAILBOX: '1' }, { host: '0.0.0.0' }).identity.devMailbox, true);
    assert.equal(configFromEnv({ SYMBOLON_DEV_MAILBOX: '0' }, {}).identity.devMailbox, false);
    const smtp = configFromEnv({ SYMBOLON_SMTP_URL: 'smtp://127.0.0.1:2525' }, {});
    assert.equal(smtp.identity.devMailbox, false);
    assert.equal(configFromEnv({ SYMBOLON_PUBLIC_URL: 'https://wallet.example.com/' }, {}).publicUrl, 'https://wallet.example.com');
    assert.equal(configFromEnv({}, { port: '0' }).publicUrl, undefined);
    assert.throws(() => configFromEnv({ SYMBOLON_PUBLIC_URL: 'ftp://x' }, {}), RangeError);
    assert.throws(() => configFromEnv({ SYMBOLON_BUILTIN_ISSUER: 'yes' }, {}), RangeError);
  });

  test('SYMBOLON_BUILTIN_ISSUER=0: no /oidc routes, and the verifier trusts only configured issuers', async () => {
    const off = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '0', SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: ext.url, audiences: ['api://external'] }]) },
    });
    try {
      assert.equal(off.custodian.identity.issuer, undefined);
      const r = await call(off.endpoint, 'GET', '/oidc/jwks.json');
      assert.equal(r.status, 404);
      const v = off.custodian.identity.verifier('wallet');
      assert.deepEqual(v.issuers, [ext.url]);
      const tokens = await login(server, 'jack@example.com');
      await refusedWith(v.verify(tokens.access_token), 'untrusted_issuer');
      assert.equal((await v.verify(await ext.mint('ext-1', { sub: 'e1' }))).sub, 'e1');
    } finally {
      await off.close();
    }
  });
});

// ---------- SMTP delivery ----------

describe('SMTP delivery', () => {
  let smtp: TestSmtpServer;
  let mailServer: TestServer;
  let mailLogs: string[];
  before(async () => {
    smtp = await new TestSmtpServer().start();
    const mem = memoryLogger();
    mailLogs = mem.lines;
    mailServer = await startTestServer({
      logger: mem.logger,
      env: {
        SYMBOLON_BUILTIN_ISSUER: '1',
        SYMBOLON_SMTP_URL: `smtp://mailer:s3cret@127.0.0.1:${smtp.port}`,
        SYMBOLON_SMTP_FROM: 'login@wallet.example.com',
      },
    });
  });
  after(async () => {
    await mailServer?.close();
    await smtp?.close();
  });

  test('the code arrives by SMTP (and not in the log, nor a dev mailbox); it logs in', async () => {
    const r = await call(mailServer.endpoint, 'POST', '/oidc/email/start', { email: 'kate@example.com' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(smtp.messages.length, 1);
    const m = smtp.messages[0]!;
    assert.equal(m.from, 'login@wallet.example.com');
    assert.deepEqual(m.to, ['kate@example.com']);
    assert.equal(m.auth, '\u0000mailer\u0000s3cret');
    assert.match(m.data, /^Subject: Your Symbolon sign-in code\r$/m);
    assert.match(m.data, /^To: <kate@example\.com>\r$/m);
    const code = /sign-in code is (\d{6})/.exec(m.data)?.[1];
    assert.ok(code);
    assert.ok(!mailLogs.some((l) => l.includes(code!)), 'the code is not logged when SMTP is configured');
    assert.equal((await call(mailServer.endpoint, 'GET', '/oidc/dev/mailbox?email=kate@example.com')).status, 404);
    const v = await call(mailServer.endpoint, 'POST', '/oidc/email/verify', { email: 'kate@example.com', code });
    assert.equal(v.status, 200);
    const t = await mailServer.custodian.identity.verifier('wallet').verify(v.json.access_token);
    assert.equal(t.email, 'kate@example.com');
  });

  test('a relay that refuses the recipient → 502 delivery_failed', async () => {
    smtp.refuseRecipient = true;
    try {
      const r = await call(mailServer.endpoint, 'POST', '/oidc/email/start', { email: 'liam@example.com' });
      assert.equal(r.status, 502);
      assert.equal(r.json.error.code, 'delivery_failed');
    } finally {
      smtp.refuseRecipient = false;
    }
  });

  test('sendMail dot-stuffs lines that start with "." and refuses header injection', async () => {
    await sendMail({
      url: `smtp://127.0.0.1:${smtp.port}`,
      message: { from: 'a@example.com', to: 'b@example.com', subject: 'dots', text: 'line one\n.hidden\n.\nend' },
    });
    const m = smtp.messages.at(-1)!;
    // What the server received is stuffed; un-stuffing restores the text.
    assert.match(m.data, /\r\n\.\.hidden\r\n\.\.\r\nend\r\n$/);
    await assert.rejects(
      sendMail({
        url: `smtp://127.0.0.1:${smtp.port}`,
        message: { from: 'a@example.com', to: 'b@example.com\r\nBcc: c@example.com', subject: 's', text: 't' },
      }),
      TypeError,
    );
    await assert.rejects(
      sendMail({
        url: `smtp://127.0.0.1:${smtp.port}`,
        message: { from: 'a@example.com', to: 'b@example.com', subject: 's\r\nBcc: c@example.com', text: 't' },
      }),
      TypeError,
    );
  });
});
