/**
 * A PostgreSQL outage while the custodian runs (issue 12, items 2 and 3), through
 * a real TCP proxy (node:net) between the server and PostgreSQL:
 *  - the connection drops (every socket reset, new ones refused): the server
 *    stays up, answers each protocol's retryable error in its own shape — KMS
 *    KMSInternalException (500), IAM and STS ServiceUnavailable (503, XML), wallet API
 *    503 JSON (custodian_unavailable here: a login whose user holds no wallet asks
 *    STS for its user id on every request, src/wallet/users.ts, and STS shares the
 *    database; store_unavailable when the wallet store fails first) — and serves
 *    again once the database is back;
 *  - the database blackholes (connections accepted, nothing forwarded, as when
 *    packets are dropped): requests fail within the timeout instead of hanging,
 *    and the service is back within 2 s of the database's return;
 *  - a 10 s outage under a modest bounded load ends with the server still
 *    running, only those errors during it, and service again within 2 s.
 * PostgreSQL only: the embedded SQLite store has no connection to lose.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { CreateKeyCommand, DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { AUDIT_NOT_DURABLE } from '../src/audit/event.js';

const DATABASE_URL = process.env.DATABASE_URL;
const SKIP = !DATABASE_URL && 'PostgreSQL only (set DATABASE_URL): the embedded SQLite store has no connection to lose';
/** The server's SYMBOLON_DB_TIMEOUT_MS here: connect, pool wait and statement. */
const DB_TIMEOUT_MS = 1000;

type Mode = 'forward' | 'blackhole' | 'drop';

/** A TCP proxy to PostgreSQL that can drop every connection or swallow every byte (held, as TCP retransmits, until the database returns). */
class FaultProxy {
  #mode: Mode = 'forward';
  readonly #pairs = new Set<{ client: net.Socket; upstream: net.Socket; held: Array<[net.Socket, Buffer]> }>();
  readonly #server: net.Server;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.#server = net.createServer((client) => this.#accept(client));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  #accept(client: net.Socket): void {
    if (this.#mode === 'drop') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const pair = { client, upstream, held: [] as Array<[net.Socket, Buffer]> };
    this.#pairs.add(pair);
    const relay = (to: net.Socket) => (chunk: Buffer) => {
      if (this.#mode === 'forward') to.write(chunk);
      else pair.held.push([to, chunk]);
    };
    client.on('data', relay(upstream));
    upstream.on('data', relay(client));
    const close = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  /** Resets every connection and refuses new ones. */
  drop(): void {
    this.#mode = 'drop';
    for (const p of this.#pairs) {
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Accepts connections but forwards nothing, either way. */
  blackhole(): void {
    this.#mode = 'blackhole';
  }

  /** The database is back: held bytes are delivered and everything flows again. */
  restore(): void {
    this.#mode = 'forward';
    for (const p of this.#pairs) {
      for (const [to, chunk] of p.held.splice(0)) if (!to.destroyed) to.write(chunk);
    }
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

let proxy: FaultProxy;
let server: TestServer;
let kms: KMSClient;
let iam: IAMClient;
/** STS signed with an access key the store does not know: authenticating it reads the store every time (no cache). */
let sts: STSClient;

before(async () => {
  if (SKIP) return;
  const url = new URL(DATABASE_URL!);
  proxy = new FaultProxy({ host: url.hostname, port: Number(url.port || 5432) });
  await proxy.listen();
  url.host = `127.0.0.1:${proxy.port}`;
  server = await startTestServer({
    env: { DATABASE_URL: url.toString(), SYMBOLON_DB_TIMEOUT_MS: String(DB_TIMEOUT_MS), SYMBOLON_KEY_CACHE_TTL_MS: '0' },
    // The wallet API's token check is not what is tested here: every token is user "outage".
    wallet: { verifier: { verify: async () => ({ issuer: 'https://issuer.example', sub: 'outage', exp: Math.floor(Date.now() / 1000) + 600 }) } },
  });
  kms = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1, requestHandler: { requestTimeout: 30_000 } });
  sts = new STSClient({
    endpoint: server.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'AKIAOUTAGEUNKNOWN000', secretAccessKey: 'unknown-secret-access-key-0123456789' },
    maxAttempts: 1,
  });
  iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1, requestHandler: { requestTimeout: 30_000 } });
});

after(async () => {
  if (SKIP) return;
  proxy.restore();
  kms?.destroy();
  iam?.destroy();
  sts?.destroy();
  await server?.close();
  await proxy?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One KMS CreateKey: 'ok', or the AWS error's name and message. */
async function createKey(): Promise<{ outcome: string; message?: string; status?: number; ms: number }> {
  const started = Date.now();
  try {
    await kms.send(new CreateKeyCommand({}));
    return { outcome: 'ok', ms: Date.now() - started };
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { outcome: err.name, message: err.message, status: err.$metadata?.httpStatusCode ?? 0, ms: Date.now() - started };
  }
}

async function wallet(): Promise<{ status: number; body: any }> {
  const r = await fetch(`${server.endpoint}/v1/me`, { headers: { authorization: 'Bearer any-token' }, signal: AbortSignal.timeout(30_000) });
  return { status: r.status, body: await r.json() };
}

/** Polls until a CreateKey succeeds; returns how long that took. */
async function timeToService(limitMs: number): Promise<number> {
  const since = Date.now();
  for (;;) {
    const r = await createKey();
    if (r.outcome === 'ok') return Date.now() - since;
    assert.ok(Date.now() - since < limitMs, `no service ${limitMs} ms after the database returned (last: ${r.outcome})`);
    await sleep(50);
  }
}

const RETRYABLE_MESSAGE = 'The key store is temporarily unavailable; retry the request.';

test('a dropped connection: the server stays up, answers each protocol in its own retryable shape, and recovers', { skip: SKIP }, async () => {
  assert.equal((await createKey()).outcome, 'ok');
  assert.equal((await wallet()).status, 200);
  await assert.rejects(sts.send(new GetCallerIdentityCommand({})), (e: any) => e.name === 'InvalidClientTokenId');

  proxy.drop();
  await sleep(200); // the pool's idle connections see the reset ('error' on an idle client)

  const k = await createKey();
  assert.deepEqual([k.outcome, k.status, k.message], ['KMSInternalException', 500, RETRYABLE_MESSAGE]);
  await assert.rejects(iam.send(new CreateUserCommand({ UserName: 'during-outage' })), (e: any) => {
    assert.equal(e.name, 'ServiceUnavailable');
    assert.equal(e.$metadata.httpStatusCode, 503);
    assert.equal(e.message, RETRYABLE_MESSAGE);
    return true;
  });
  await assert.rejects(sts.send(new GetCallerIdentityCommand({})), (e: any) => {
    assert.equal(e.name, 'ServiceUnavailable');
    assert.equal(e.$metadata.httpStatusCode, 503);
    assert.equal(e.message, RETRYABLE_MESSAGE);
    return true;
  });
  const w = await wallet();
  assert.equal(w.status, 503);
  // This login's user holds no wallet, so its user id is asked of STS (not cached) before the wallet store is read.
  assert.deepEqual(w.body, {
    error: { code: 'custodian_unavailable', message: "The key custodian could not tell the login's user id (CustodianUserIdError); try again later." },
  });
  assert.equal((await fetch(`${server.endpoint}/health`)).status, 200, 'the server is still up');

  proxy.restore();
  const ms = await timeToService(2000);
  assert.ok(ms < 2000, `service again after ${ms} ms`);
  assert.equal((await wallet()).status, 200);
  await iam.send(new CreateUserCommand({ UserName: 'after-outage' }));
});

test('a blackholed database: requests fail fast within the timeout instead of hanging, and service is back within 2 s', { skip: SKIP }, async () => {
  assert.equal((await createKey()).outcome, 'ok');
  proxy.blackhole();
  const results = await Promise.all([createKey(), createKey(), createKey()]);
  for (const r of results) {
    assert.deepEqual([r.outcome, r.message], ['KMSInternalException', RETRYABLE_MESSAGE]);
    // A connect or pool wait (1 s), or a statement (1 s + 0.5 s grace): bounded, never the whole outage.
    assert.ok(r.ms < 3 * DB_TIMEOUT_MS, `answered after ${r.ms} ms`);
  }
  const w = Date.now();
  const wr = await wallet();
  assert.equal(wr.status, 503);
  assert.equal(wr.body.error.code, 'custodian_unavailable');
  assert.ok(Date.now() - w < 3 * DB_TIMEOUT_MS);

  proxy.restore();
  const ms = await timeToService(2000);
  assert.ok(ms < 2000, `service again after ${ms} ms`);
});

test('a 10 s outage under load: the server keeps running, clear errors during it, service again within 2 s of the return', { skip: SKIP }, async () => {
  interface Sample {
    start: number;
    end: number;
    outcome: string;
    message?: string;
  }
  const samples: Sample[] = [];
  let running = true;
  const WORKERS = 4;
  const loops = Array.from({ length: WORKERS }, async () => {
    while (running) {
      const start = Date.now();
      const r = await createKey();
      samples.push({ start, end: Date.now(), outcome: r.outcome, ...(r.message ? { message: r.message } : {}) });
      if (r.outcome !== 'ok') await sleep(20);
      else {
        // A read as well, so the load is not only writes.
        await kms.send(new DescribeKeyCommand({ KeyId: 'alias/none' })).catch(() => undefined);
      }
    }
  });
  await sleep(1500);
  const outageStart = Date.now();
  proxy.blackhole();
  await sleep(5000);
  proxy.drop();
  await sleep(5000);
  proxy.restore();
  const back = Date.now();
  await sleep(3000);
  running = false;
  await Promise.all(loops);

  assert.equal((await fetch(`${server.endpoint}/health`)).status, 200, 'the server is still running');
  const before = samples.filter((s) => s.end < outageStart);
  const during = samples.filter((s) => s.start >= outageStart && s.end <= back);
  const firstOkAfter = samples
    .filter((s) => s.start >= back && s.outcome === 'ok')
    .map((s) => s.end)
    .sort((a, b) => a - b)[0];
  const settled = samples.filter((s) => s.start >= back + 2000);
  assert.ok(before.length > 0 && before.every((s) => s.outcome === 'ok'), 'all well before the outage');
  assert.ok(during.length >= WORKERS * 3, `a load during the outage (${during.length} requests)`);
  for (const s of samples.filter((x) => x.outcome !== 'ok')) {
    // A CreateKey that committed just as the store went away, but whose audit record could not be
    // made durable, answers AUDIT_NOT_DURABLE instead (src/audit/event.ts): retryable too.
    assert.ok(
      s.outcome === 'KMSInternalException' && (s.message === RETRYABLE_MESSAGE || s.message === AUDIT_NOT_DURABLE),
      `every failure is a retryable error: ${s.outcome}: ${s.message}`,
    );
    assert.ok(s.end - s.start < 3 * DB_TIMEOUT_MS, `a failure took ${s.end - s.start} ms`);
  }
  assert.ok(during.filter((s) => s.outcome !== 'ok').length >= during.length - WORKERS, 'the outage is seen');
  assert.ok(firstOkAfter !== undefined && firstOkAfter - back < 2000, `service again ${firstOkAfter! - back} ms after the database returned`);
  assert.ok(settled.length > 0 && settled.every((s) => s.outcome === 'ok'), 'all well 2 s after the return');
  const failures = samples.filter((s) => s.outcome !== 'ok').length;
  console.log(
    `# outage under load: ${samples.length} requests, ${failures} failed fast during the 10 s outage, first success ${firstOkAfter! - back} ms after the return, longest failure ${Math.max(...samples.filter((s) => s.outcome !== 'ok').map((s) => s.end - s.start))} ms`,
  );
});
