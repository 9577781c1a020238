/**
 * `npm run bench:kms -- --stages`: the CPU time of each stage of a KMS Sign,
 * measured in this process, one stage at a time, on the custodian as
 * `symbolon serve --role kms` creates it (embedded store or DATABASE_URL).
 * Each stage runs in a loop; its CPU time (process.cpuUsage: user + system,
 * every thread of this process) per call is the median of BENCH_STAGE_ROUNDS
 * rounds (default 5). A loop on one core is far less disturbed by other jobs
 * than a load test over HTTP, so these numbers hold on a loaded machine where
 * `--versus-bare` and `--ablate` rates do not. Each stage is measured:
 *
 *   signature        libsecp256k1 ecdsaSign of a 32-byte digest (all the bare route does besides HTTP)
 *   key open         opening the key's sealed material (AES-256-GCM under the store key) and wiping it
 *   SigV4            the request view SigV4 covers, Authorization parsed, credential found (cached), signature verified
 *   Sign operation   input checks, key lookup (key cache), key policy, key open, signature, DER encoding
 *   audit            one event recorded and written: chained, hashed, inserted in batches of 200
 *   metrics          one observation (request counter and latency histogram)
 *
 * and then inside a request, through fastify's inject() (no socket; light-my-request's own cost included):
 *
 *   request: bare       a route shaped as bench/lib/bare-server.ts's, without its signature
 *   request: signature  the same route with only the signature in its handler
 *   request: SigV4      ... with only SigV4
 *   request: operation  ... with only the Sign operation
 *   request: Sign       the custodian's whole Sign (SigV4, operation, audit, metrics)
 *
 * A stage costs more inside a request than in a loop: the request's other
 * work evicts its code and data from the caches between two calls (two to
 * three times more on this project's shared 2-core machine).
 *
 * Benchmark code only: never imported by src/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyReply, type LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import pino from 'pino';
import { configFromEnv } from '../../src/config.js';
import { createCustodian } from '../../src/server/custodian.js';
import { operations } from '../../src/kms/operations/registry.js';
import { Input } from '../../src/kms/input.js';
import { loadMaterial, resolveKey } from '../../src/kms/keys.js';
import { materialAad } from '../../src/kms/keystore.js';
import { keyArn } from '../../src/kms/model.js';
import { signDigest } from '../../src/crypto/secp256k1.js';
import type { AuditEvent } from '../../src/audit/event.js';
import type { SignedRequest } from '../../src/aws/sigv4.js';
import type { OperationContext } from '../../src/kms/context.js';
import { BENCH_ADMIN, BENCH_REGION, makeSigner, signKmsRequest, type PreparedRequest } from './load.js';

export interface StageRow {
  stage: string;
  cpuUsPerCall: number;
  rounds: number[];
}

const ROUNDS = Number(process.env.BENCH_STAGE_ROUNDS ?? 5);
/** A port number the pre-signed requests name in Host (nothing listens: requests go through inject()). */
const PORT = 4599;

async function cpuPerCall(n: number, f: (i: number) => unknown): Promise<number[]> {
  for (let i = 0; i < n; i++) await f(i); // warm up
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) await f(i);
    const used = process.cpuUsage(start);
    rounds.push((used.user + used.system) / n);
  }
  return rounds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The custodian as `symbolon serve --role kms` creates it, with one secp256k1 key and 1,024 pre-signed Sign requests for it. */
interface StagesCustodian {
  custodian: Awaited<ReturnType<typeof createCustodian>>;
  inject(r: PreparedRequest): Promise<LightMyRequestResponse>;
  keyId: string;
  requests: PreparedRequest[];
  /** Closes the custodian and removes its store (the data directory, or the PostgreSQL schema). */
  close(): Promise<void>;
}

async function openStagesCustodian(): Promise<StagesCustodian> {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-stages-'));
  // On PostgreSQL (DATABASE_URL), a schema of its own, created by the store and dropped after.
  const databaseUrl = process.env.DATABASE_URL;
  const pgSchema = databaseUrl && /^postgres(ql)?:/.test(databaseUrl) ? `bench_${randomBytes(6).toString('hex')}` : undefined;
  const dropSchema = async () => {
    if (!pgSchema) return;
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query(`drop schema if exists ${pgSchema} cascade`);
    } finally {
      await client.end();
    }
  };
  const env = {
    ...process.env,
    SYMBOLON_ADMIN_ACCESS_KEY_ID: BENCH_ADMIN.accessKeyId,
    SYMBOLON_ADMIN_SECRET_ACCESS_KEY: BENCH_ADMIN.secretAccessKey,
    SYMBOLON_REGION: BENCH_REGION,
  };
  const config = configFromEnv(env, { port: String(PORT), data: dataDir, role: 'kms' });
  config.allowedHosts = [`127.0.0.1:${PORT}`];
  const custodian = await createCustodian({ config, logger: pino({ level: 'warn' }), ...(pgSchema ? { pgSchema } : {}) }).catch(async (e: unknown) => {
    rmSync(dataDir, { recursive: true, force: true });
    await dropSchema();
    throw e;
  });
  const close = async () => {
    await custodian.close();
    rmSync(dataDir, { recursive: true, force: true });
    await dropSchema();
  };
  try {
    const app = custodian.app;
    await app.ready();
    const inject = (r: PreparedRequest) => app.inject({ method: 'POST', url: '/', headers: r.headers, payload: r.body });
    const signer = makeSigner();
    const created = await inject(await signKmsRequest(PORT, 'CreateKey', { KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }, signer));
    if (created.statusCode !== 200) throw new Error(`CreateKey answered ${created.statusCode}`);
    const keyId = (JSON.parse(created.body) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
    const requests: PreparedRequest[] = [];
    for (let i = 0; i < 1024; i++) {
      const payload = { KeyId: keyId, Message: randomBytes(32).toString('base64'), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' };
      requests.push(await signKmsRequest(PORT, 'Sign', payload, signer));
    }
    return { custodian, inject, keyId, requests, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Measures every stage; prints each as it completes. */
export async function measureStages(): Promise<StageRow[]> {
  const { custodian, inject, keyId, requests, close } = await openStagesCustodian();
  const rows: StageRow[] = [];
  const stage = async (name: string, n: number, f: (i: number) => unknown) => {
    const rounds = await cpuPerCall(n, f);
    const row = { stage: name, cpuUsPerCall: median(rounds), rounds };
    rows.push(row);
    console.log(`${name.padEnd(18)}${row.cpuUsPerCall.toFixed(1).padStart(7)} µs`);
  };
  try {
    const first = await inject(requests[0]!);
    if (first.statusCode !== 200) throw new Error(`Sign answered ${first.statusCode}`);

    // A fresh request view per call, as each request has its own (SigV4 indexes headers once per view).
    const pairs = requests.map((r) => Object.entries(r.headers).map(([k, v]) => [k, v] as const));
    const bodies = requests.map((r) => new Uint8Array(r.body));
    const view = (i: number): SignedRequest => ({ method: 'POST', path: '/', query: {}, rawHeaders: pairs[i % 1024]!, body: bodies[i % 1024]! });
    const host = `127.0.0.1:${PORT}`;
    const caller = await custodian.authenticator.authenticate(view(0), 'kms', Date.now(), host);
    const ctx = (): OperationContext => ({
      deps: custodian.deps,
      caller,
      info: { requestId: 'bench', sourceIp: '127.0.0.1', userAgent: 'bench', now: Date.now() },
      audit: {},
    });
    const parsed = requests.map((r) => JSON.parse(r.body.toString('utf8')) as unknown);
    const key = await resolveKey(ctx(), keyId);
    const material = await loadMaterial(ctx(), key);
    const aad = materialAad(key.keyId, material.version);
    const sk = new Uint8Array(randomBytes(32));
    const digests = requests.map((_, i) => new Uint8Array(randomBytes(32)).fill(i & 0xff, 0, 1));
    const signOp = operations.get('Sign')!;
    const arn = keyArn(key);
    const event = (i: number): AuditEvent => ({
      time: Date.now(),
      requestId: `bench-${i}`,
      service: 'kms',
      operation: 'Sign',
      principalArn: caller.arn,
      principalTags: { ...caller.tags },
      accessKeyId: caller.accessKeyId,
      sourceIp: '127.0.0.1',
      userAgent: String(requests[0]!.headers['user-agent'] ?? 'bench'),
      keyArn: arn,
      encryptionContext: null,
      signingAlgorithm: 'ECDSA_SHA_256',
      outcome: 'allowed',
      errorCode: null,
    });
    const audit = custodian.audit as typeof custodian.audit & { flush?: () => Promise<void> };

    // In a loop: each stage alone, warm caches.
    await stage('signature', 4000, (i) => signDigest(digests[i % 1024]!, sk));
    await stage('key open', 20000, () => custodian.deps.root.open(material.sealed, aad).fill(0));
    await stage('SigV4', 8000, (i) => custodian.authenticator.authenticate(view(i), 'kms', Date.now(), host));
    await stage('Sign operation', 4000, (i) => signOp.handle(new Input(parsed[i % 1024]), ctx()));
    await stage('audit', 8000, async (i) => {
      audit.record(event(i));
      if (i % 200 === 199) await audit.flush?.();
    });
    await stage('metrics', 50000, (i) => custodian.metrics.observe('Sign', 'ok', 0.001 + (i % 7) * 0.001, caller, arn));

    // In a request: the bare route through inject(), alone and with one stage inside its handler, and the
    // custodian's whole Sign. A stage costs more here than in a loop (the request's other work evicts its code and data).
    const bare = Fastify({ logger: false });
    bare.removeAllContentTypeParsers();
    bare.addContentTypeParser('application/x-amz-json-1.1', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    let n = 0;
    const answer = (reply: FastifyReply, text: string) => reply.code(200).header('content-type', 'application/x-amz-json-1.1').send(text);
    bare.post('/', async (req, reply) => {
      const input = JSON.parse((req.body as Buffer).toString('utf8')) as { KeyId: string };
      return answer(reply, JSON.stringify({ KeyId: input.KeyId, Signature: 'MEUCIQ', SigningAlgorithm: 'ECDSA_SHA_256' }));
    });
    bare.post('/signature', async (_req, reply) => answer(reply, String(signDigest(digests[n++ % 1024]!, sk).recovery)));
    bare.post('/sigv4', async (_req, reply) => answer(reply, (await custodian.authenticator.authenticate(view(n++), 'kms', Date.now(), host)).arn));
    bare.post('/operation', async (_req, reply) => answer(reply, JSON.stringify(await signOp.handle(new Input(parsed[n++ % 1024]), ctx()))));
    await bare.ready();
    const injectBare = (path: string) => (i: number) =>
      bare.inject({ method: 'POST', url: path, headers: requests[i % 1024]!.headers, payload: requests[i % 1024]!.body });
    await stage('request: bare', 3000, injectBare('/'));
    await stage('request: signature', 3000, injectBare('/signature'));
    await stage('request: SigV4', 3000, injectBare('/sigv4'));
    await stage('request: operation', 3000, injectBare('/operation'));
    await stage('request: Sign', 3000, (i) => inject(requests[i % 1024]!));
    await bare.close();
    return rows;
  } finally {
    await close();
  }
}

export interface AuditGrowthRow {
  /** Events in the audit table when the row was measured. */
  events: number;
  /** CPU per event of appending (record, then batches of 500 written: chained, hashed, inserted), µs. */
  auditUsPerEvent: number;
  /** CPU per whole Sign through inject(), 64 in flight (SigV4, operation, durable audit record, metrics), µs: the median of 3 rounds. */
  signUsPerRequest: number;
}

/**
 * `npm run bench:kms -- --audit-growth`: does a Sign cost more as the audit
 * table grows (issue #19's sustained drift)? The table is filled by
 * `step` events at a time up to `step * steps`; at each size, the CPU of
 * appending 20,000 events and of 3 rounds of 4,096 whole Signs through
 * inject(), 64 at a time (no socket: no other process's scheduling in the number).
 */
export async function measureAuditGrowth(step: number, steps: number): Promise<AuditGrowthRow[]> {
  const { custodian, inject, keyId, requests, close } = await openStagesCustodian();
  const audit = custodian.audit as typeof custodian.audit & { flush(): Promise<void> };
  const event = (i: number): AuditEvent => ({
    time: Date.now(),
    requestId: `bench-${i}`,
    service: 'kms',
    operation: 'Sign',
    principalArn: `arn:aws:iam::000000000000:user/bench`,
    principalTags: {},
    accessKeyId: BENCH_ADMIN.accessKeyId,
    sourceIp: '127.0.0.1',
    userAgent: 'bench',
    keyArn: `arn:aws:kms:${BENCH_REGION}:000000000000:key/${keyId}`,
    encryptionContext: null,
    signingAlgorithm: 'ECDSA_SHA_256',
    outcome: 'allowed',
    errorCode: null,
  });
  const append = async (n: number, from: number) => {
    for (let i = 0; i < n; i++) {
      audit.record(event(from + i));
      if (i % 500 === 499) await audit.flush();
    }
    await audit.flush();
  };
  const rows: AuditGrowthRow[] = [];
  let events = 0;
  try {
    for (let s = 0; s <= steps; s++) {
      const signs: number[] = [];
      for (let r = 0; r < 3; r++) {
        const start = process.cpuUsage();
        // 64 at a time, as the HTTP benchmarks keep in flight: their records share a group commit.
        for (let i = 0; i < 4096; i += 64) {
          const answers = await Promise.all(requests.slice(i % 1024, (i % 1024) + 64).map((r) => inject(r)));
          if (answers.some((a) => a.statusCode !== 200)) throw new Error('a Sign was refused');
        }
        const used = process.cpuUsage(start);
        signs.push((used.user + used.system) / 4096);
      }
      events += 3 * 4096;
      const start = process.cpuUsage();
      await append(20_000, events);
      const used = process.cpuUsage(start);
      events += 20_000;
      const row = { events, auditUsPerEvent: (used.user + used.system) / 20_000, signUsPerRequest: median(signs) };
      rows.push(row);
      console.log(
        `${String(row.events).padStart(9)} events  audit ${row.auditUsPerEvent.toFixed(1).padStart(5)} µs/event  Sign ${row.signUsPerRequest.toFixed(0).padStart(4)} µs`,
      );
      if (s < steps) {
        await append(step - 32_288, events);
        events += step - 32_288;
      }
    }
    return rows;
  } finally {
    await close();
  }
}
