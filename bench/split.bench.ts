/**
 * `npm run bench:split`: end-to-end split-key signatures on this machine,
 * every role included. `symbolon serve --role all` runs in its own process
 * (custodian with STS and KMS, embedded SQLite unless DATABASE_URL is set)
 * and forks the signer as a child process, measured and attested by it; this
 * process is the load generator and the OIDC issuer. Each request is
 * POST /v1/sign of an EIP-1559 transaction for one of BENCH_OWNERS owners:
 * the signer verifies the token, takes its attested session's document
 * (one per 60 s from its platform, docs/signer.md "Sessions and cost"), has
 * the custodian Decrypt share A with Recipient (SigV4, key policy with
 * ImageSha384, CMS to the session key; the document is verified once per
 * session, then found by its hash), rebuilds and checks the key, signs and
 * wipes. STS credentials are cached per token, as in steady state. The
 * custodian's SYMBOLON_ATTESTATION_SESSION_SECONDS is passed through, so
 * `SYMBOLON_ATTESTATION_SESSION_SECONDS=0 npm run bench:split` measures the
 * single-use mode (a fresh document per release).
 *
 * The load generator (this process) writes pre-serialised requests on raw
 * keep-alive sockets (closedLoop, fixedRate below): its CPU competes with the
 * server and the signer for the same cores, and node:http's client cost
 * ≈0.22 ms per request of it.
 *
 * Printed: throughput with BENCH_CONCURRENCY requests in flight; p50/p99 at a
 * fixed rate (BENCH_RATE, else 1,000/s when the closed loop reached 1,000/s,
 * else half of what it reached — printed and recorded); the in-process
 * ceiling (the same cryptography for one signature in a loop on one core:
 * session-hit lookup, AES-GCM open, RSA-OAEP + AES-CBC seal, signer RSA-OAEP
 * open, secp256k1 sign with address check and recovery, transaction
 * encoding; and the single-use variant with a platform ES384 sign and a
 * custodian ES384 verify per signature) and the targets (>= 2,000 tx/s;
 * p99 <= 50 ms at 1,000/s; issue #19: >= 0.6 x the ceiling on all cores);
 * CPU per signature of each process, with the kernel's (system) share; and
 * the HTTP floor (httpFloor below: the two hops with nothing behind them),
 * which bounds the ratio any split signature over HTTP can reach on this
 * machine. Results go to bench/results/split.json.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { connect, type Socket } from 'node:net';
import { Agent } from 'undici';
import {
  BENCH_ADMIN,
  BENCH_REGION,
  ceiling,
  cpuMs as processCpuMs,
  freePort,
  runPipelined,
  startServer,
  startServerProcess,
  type LoadResult,
  type PreparedRequest,
} from './lib/load.js';
import { AUDIENCE, ROLE_NAME, createOwnersRole, createSplitWallet, signBody, startIssuer } from '../test/helpers/signer-fixture.js';
import { measureSignerImage, SIGNER_ENTRY } from '../src/signer/measure.js';
import { PlatformKey } from '../src/attestation/platform-key.js';
import { signAttestationDocument } from '../src/attestation/signAttestationDocument.js';
import { RecipientAttestation } from '../src/attestation/recipient-attestation.js';
import { TrustedPlatformKeys, verifyAttestationDocument } from '../src/attestation/verifyAttestationDocument.js';
import { openForRecipient, sealForRecipient } from '../src/attestation/cms-enveloped-data.js';
import { aeadOpen, aeadSeal } from '../src/crypto/aead.js';
import { generatePrivateKey, getPublicKey, signDigest } from '../src/crypto/secp256k1.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { signPreparedTransaction } from '../src/eth/signTransaction.js';
import { prepareTransaction } from '../src/eth/hashTransaction.js';
import { keccak256 } from 'viem';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const OWNERS = Number(process.env.BENCH_OWNERS ?? 32);
/** The fixed rate: BENCH_RATE if set; else chosen from the closed loop's throughput (see fixedRateFor). */
const RATE_ENV = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;
const TARGET_RATE = 1000;
const SESSION_SECONDS = process.env.SYMBOLON_ATTESTATION_SESSION_SECONDS ?? '60';

/** 1,000/s (the issue's latency target) when the closed loop reached it; else about half of what it reached. */
function fixedRateFor(maxPerSecond: number): { rate: number; why: string } {
  if (RATE_ENV !== undefined) return { rate: RATE_ENV, why: 'BENCH_RATE' };
  if (maxPerSecond >= TARGET_RATE) return { rate: TARGET_RATE, why: `the target rate (max ${maxPerSecond.toFixed(0)}/s >= ${TARGET_RATE}/s)` };
  const half = Math.max(10, Math.round(maxPerSecond / 2 / 10) * 10);
  return { rate: half, why: `about half of the max throughput (${maxPerSecond.toFixed(0)}/s < ${TARGET_RATE}/s)` };
}
const ACCOUNT_ID = '111122223333';

/** The cryptography of one split signature, in process on one core, step by step (calls/s each, and all together). */
async function cryptoCeiling(): Promise<{ perSecond: number; cpuMsPerSignature: number; perSecondSingleUse: number; steps: Record<string, number> }> {
  const platform = PlatformKey.fromSecret(PlatformKey.generateSecret());
  const verifier = new RecipientAttestation({ trustedKeys: [platform.spki], maxRemembered: 10_000_000 });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = new Uint8Array(rsa.publicKey.export({ format: 'der', type: 'spki' }));
  const pcrs = new Map([
    [0, new Uint8Array(48)],
    [1, new Uint8Array(48)],
    [2, new Uint8Array(48)],
  ]);
  const wrapKey = new Uint8Array(randomBytes(32));
  const key = generatePrivateKey();
  const address = publicKeyToAddress(getPublicKey(key));
  const shareA = new Uint8Array(randomBytes(32));
  const shareB = key.map((b, i) => b ^ shareA[i]!);
  const box = aeadSeal(wrapKey, shareA, new Uint8Array(16));
  const tx = {
    type: 'eip1559',
    chainId: 31337,
    nonce: 1,
    to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    value: 1n,
    gas: 21000n,
    maxFeePerGas: 2n * 10n ** 9n,
    maxPriorityFeePerGas: 10n ** 9n,
  } as const;
  const doc = () => signAttestationDocument(platform, { pcrs, moduleId: 'bench', publicKey: spki, nonce: new Uint8Array(randomBytes(32)) });
  const oneDoc = doc();
  const trusted = new TrustedPlatformKeys([platform.spki]);
  const cms = sealForRecipient(shareA, { key: rsa.publicKey, spki });
  // What the signer does: the transaction serialized and hashed once (parsePayload), libsecp256k1's recovery id
  // as the hint (one recovery + keccak to check it), the signed transaction's hash for the response.
  const signTx = async () => {
    const k = shareA.map((b, i) => b ^ shareB[i]!);
    if (publicKeyToAddress(getPublicKey(k)) !== address) throw new Error('mismatch');
    const signed = await signPreparedTransaction({ prepared: prepareTransaction(tx), signer: async (d) => signDigest(d, k), address });
    keccak256(signed);
    k.fill(0);
  };
  // signPreparedTransaction is async only in name (its digest signer resolves at once); one await per call is the honest cost.
  const asyncRate = async (fn: () => Promise<void>, seconds = 1) => {
    for (let i = 0; i < 100; i++) await fn();
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      await fn();
      n++;
    }
    return n / ((performance.now() - start) / 1000);
  };
  const sessionVerifier = new RecipientAttestation({ trustedKeys: [platform.spki] });
  sessionVerifier.accept(oneDoc, Date.now());
  const steps: Record<string, number> = {
    'platform: ES384 document (once per session)': ceiling(() => doc(), 1),
    'custodian: document checks + ES384 verify (once per session)': ceiling(() => verifyAttestationDocument(oneDoc, { trusted, now: Date.now() }), 1),
    'custodian: session hit (SHA-256 lookup)': ceiling(() => sessionVerifier.accept(oneDoc, Date.now()), 1),
    'custodian: AES-256-GCM open of share A': ceiling(() => aeadOpen(wrapKey, box, new Uint8Array(16)).fill(0), 1),
    'custodian: CMS seal (RSA-OAEP + AES-CBC)': ceiling(() => sealForRecipient(shareA, { key: rsa.publicKey, spki }), 1),
    'signer: CMS open (RSA-OAEP decrypt)': ceiling(() => openForRecipient(cms, rsa.privateKey, 32).fill(0), 1),
    'signer: XOR, address check, EIP-1559 sign + tx hash': await asyncRate(signTx),
  };
  const release = async (d: Uint8Array, v: RecipientAttestation) => {
    const r = v.accept(d, Date.now());
    aeadOpen(wrapKey, box, new Uint8Array(16)).fill(0);
    const c = sealForRecipient(shareA, { key: r.key, spki: r.spki });
    openForRecipient(c, rsa.privateKey, 32).fill(0);
    await signTx();
  };
  // With attested sessions: the document is verified once, then found by its hash.
  const cpu0 = process.cpuUsage();
  let releases = 0;
  const all = await asyncRate(async () => {
    await release(oneDoc, sessionVerifier);
    releases++;
  }, 2);
  const cpu = process.cpuUsage(cpu0);
  // CPU time per signature (the rate above is per wall-clock second, which other work on the machine lowers).
  const cpuMsPerSignature = (cpu.user + cpu.system) / 1000 / releases;
  // Single use (SYMBOLON_ATTESTATION_SESSION_SECONDS=0): a document signed and verified per signature.
  const singleUse = await asyncRate(() => release(doc(), verifier), 1);
  return { perSecond: all, cpuMsPerSignature, perSecondSingleUse: singleUse, steps };
}

/**
 * The CPU of the two HTTP hops of a split signature with nothing behind them
 * (µs per request): a bare fastify route (bench/lib/bare-server.ts `POST
 * /noop`: parse the JSON body, answer a fixed one) driven once by this load
 * generator (the device -> signer hop: the server side is the signer's
 * inbound HTTP, the generator's side is the load generator's share) and once
 * by an undici dispatcher with a collecting handler as the signer's Decrypt
 * client uses (the signer -> custodian hop), with bodies of the sizes the
 * real hops carry. What any split signature costs over its cryptography
 * before SigV4, policy, audit, store or JSON work is done.
 */
async function httpFloor(
  signBodyBytes: number,
  seconds: number,
): Promise<{ inboundServerUs: number; loadGeneratorUs: number; outboundClientUs: number; outboundServerUs: number }> {
  const bare = await startServer({ script: 'bench/lib/bare-server.ts' });
  const pid = bare.child.pid!;
  const agent = new Agent({ connections: CONCURRENCY });
  try {
    const noop = (bytes: number, replyBytes: number): PreparedRequest => {
      const body = Buffer.from(JSON.stringify({ p: 'x'.repeat(Math.max(0, bytes - 8)) }));
      return {
        path: '/noop',
        headers: {
          host: `127.0.0.1:${bare.port}`,
          'content-type': 'application/x-amz-json-1.1',
          'content-length': String(body.length),
          'x-reply-bytes': String(replyBytes),
        },
        body,
      };
    };
    // Device -> signer: the sign request in, a signed transaction (about 250 bytes of JSON) out.
    const inbound = noop(signBodyBytes, 250);
    await closedLoop(bare.port, [inbound], CONCURRENCY, 0.5);
    let server0 = processCpuMs(pid)!;
    let gen0 = process.cpuUsage();
    const a = await closedLoop(bare.port, [inbound], CONCURRENCY, seconds);
    const genA = process.cpuUsage(gen0);
    const inboundServerUs = ((processCpuMs(pid)! - server0) * 1000) / a.requests;
    // Signer -> custodian: a Decrypt body with the attestation document (about 2,000 bytes) out, CiphertextForRecipient (about 700) back.
    const outbound = noop(2000, 700);
    const one = () =>
      new Promise<void>((resolve, reject) => {
        const chunks: Buffer[] = [];
        agent.dispatch(
          { origin: `http://127.0.0.1:${bare.port}`, path: '/noop', method: 'POST', headers: outbound.headers, body: outbound.body },
          {
            onRequestStart() {},
            onResponseStart() {},
            onResponseData(_c, chunk) {
              chunks.push(chunk);
            },
            onResponseEnd() {
              JSON.parse(Buffer.concat(chunks).toString('utf8'));
              resolve();
            },
            onResponseError(_c, e) {
              reject(e);
            },
          },
        );
      });
    const drive = async (ms: number) => {
      let n = 0;
      const end = performance.now() + ms;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (performance.now() < end) {
            await one();
            n++;
          }
        }),
      );
      return n;
    };
    await drive(500);
    server0 = processCpuMs(pid)!;
    gen0 = process.cpuUsage();
    const n = await drive(seconds * 1000);
    const client = process.cpuUsage(gen0);
    return {
      inboundServerUs,
      loadGeneratorUs: (genA.user + genA.system) / a.requests,
      outboundClientUs: (client.user + client.system) / n,
      outboundServerUs: ((processCpuMs(pid)! - server0) * 1000) / n,
    };
  } finally {
    await agent.close();
    await bare.stop();
  }
}

/**
 * The load generator's own CPU competes with the server and the signer for
 * this machine's cores, so it writes pre-serialised requests on raw
 * keep-alive sockets and reads Content-Length-framed responses (no node:http
 * client: ≈0.22 ms of generator CPU per request with it, a fraction without).
 * Closed loop: `concurrency` connections, one request in flight on each.
 */
function closedLoop(port: number, requests: PreparedRequest[], concurrency: number, seconds: number): Promise<LoadResult> {
  return runPipelined(port, requests, concurrency, 1, seconds);
}

function wire(r: PreparedRequest): Buffer {
  let head = `POST ${r.path ?? '/'} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(r.headers)) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(`${head}connection: keep-alive\r\n\r\n`), r.body]);
}

/** One keep-alive connection with at most one request in flight; calls back with each response's status and body. */
class Connection {
  readonly socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #pending: ((status: number, body: Buffer) => void) | undefined;
  constructor(port: number, onClose: (c: Connection) => void) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.#push(chunk));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      const p = this.#pending;
      this.#pending = undefined;
      p?.(0, Buffer.from('connection closed'));
      onClose(this);
    });
  }
  send(bytes: Buffer, done: (status: number, body: Buffer) => void): void {
    this.#pending = done;
    this.socket.write(bytes);
  }
  #push(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.#buf.subarray(0, end).toString('latin1');
    const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.#buf.length < end + 4 + len) return;
    const body = this.#buf.subarray(end + 4, end + 4 + len);
    this.#buf = this.#buf.subarray(end + 4 + len);
    const p = this.#pending;
    this.#pending = undefined;
    p?.(Number(head.slice(9, 12)), body);
  }
}

/**
 * Open loop at a fixed arrival rate (for latency at a given throughput): each
 * request goes out when due on an idle keep-alive connection (a new one when
 * none is idle, its connect counted in that request's latency); latency is
 * from when the request was due.
 */
async function fixedRate(port: number, requests: PreparedRequest[], ratePerSecond: number, seconds: number): Promise<LoadResult> {
  const wires = requests.map(wire);
  const idle: Connection[] = [];
  const all = new Set<Connection>();
  const open = () => {
    const c = new Connection(port, (gone) => {
      all.delete(gone);
      const i = idle.indexOf(gone);
      if (i >= 0) idle.splice(i, 1);
    });
    all.add(c);
    return c;
  };
  for (let i = 0; i < 64; i++) idle.push(open());
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const total = Math.floor(ratePerSecond * seconds);
  let sent = 0;
  let finished = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * ratePerSecond));
      while (sent < due) {
        const dueAt = start + (sent / ratePerSecond) * 1000;
        const bytes = wires[sent++ % wires.length]!;
        const c = idle.pop() ?? open();
        c.send(bytes, (status, body) => {
          if (status === 200) lat.push(performance.now() - dueAt);
          else {
            errors++;
            firstError ??= `${status} ${body.toString('utf8').slice(0, 200)}`;
          }
          if (status !== 0) idle.push(c);
          if (++finished === total) resolve();
        });
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsed = (performance.now() - start) / 1000;
  for (const c of all) c.socket.destroy();
  const sorted = Float64Array.from(lat).sort();
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);
  return {
    requests: lat.length,
    errors,
    seconds: elapsed,
    perSecond: lat.length / elapsed,
    p50ms: at(50),
    p99ms: at(99),
    ...(firstError ? { firstError } : {}),
  };
}

/** CPU time (ms) a process has used so far, user and system (kernel: sockets, syscalls), from /proc (Linux; clock ticks of 10 ms). */
function cpuMs(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
}

/** The signer: the server's child process running the signer image's entry point (the web build may leave esbuild's service beside it). */
function childOf(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  const signers = children.filter((c) => readFileSync(`/proc/${c}/cmdline`, 'utf8').includes(SIGNER_ENTRY));
  if (signers.length !== 1) throw new Error(`expected the server to have one signer child, found ${signers.length} (of ${children.length} children)`);
  return signers[0]!;
}

async function waitFor(url: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function row(name: string, r: LoadResult): string {
  return `${name.padEnd(34)} ${r.perSecond.toFixed(0).padStart(7)}/s  p50 ${r.p50ms.toFixed(1).padStart(6)} ms  p99 ${r.p99ms.toFixed(1).padStart(6)} ms  (${r.requests} ok, ${r.errors} errors${r.firstError ? `: ${r.firstError}` : ''})`;
}

async function main() {
  const cores = availableParallelism();
  const issuer = await startIssuer();
  const signerPort = await freePort();
  const roleArn = `arn:aws:iam::${ACCOUNT_ID}:role/${ROLE_NAME}`;
  // One server process (the signer is its child): the cluster's workers do not fork signers.
  process.env.BENCH_WORKERS = '1';
  // A server that does not start (e.g. a DATABASE_URL whose store was sealed under another root key) ends the
  // benchmark with its error, rather than leaving it waiting on the issuer's open server.
  const server = await startServerProcess({
    SYMBOLON_ACCOUNT_ID: ACCOUNT_ID,
    SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: issuer.url, audiences: [AUDIENCE], algorithms: ['ES256'] }]),
    SYMBOLON_BUILTIN_ISSUER: '0',
    SYMBOLON_SIGNER_PORT: String(signerPort),
    SYMBOLON_SIGNER_ROLE_ARN: roleArn,
  }).catch(async (e: unknown) => {
    await issuer.close();
    throw e;
  });
  const iam = new IAMClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN, maxAttempts: 1 });
  const admin = new KMSClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN, maxAttempts: 1 });
  try {
    await waitFor(`http://127.0.0.1:${signerPort}/health`);
    await createOwnersRole(iam, ACCOUNT_ID, issuer.url);
    const imageSha384 = measureSignerImage().imageSha384;
    const requests: PreparedRequest[] = [];
    for (let i = 0; i < OWNERS; i++) {
      const sub = `owner-${i}`;
      const token = await issuer.mint(sub);
      const wallet = await createSplitWallet({ endpoint: server.endpoint, admin, accountId: ACCOUNT_ID, issuer: issuer.url, roleArn, sub, token, imageSha384 });
      const tx = {
        type: 'eip1559',
        chainId: 31337,
        nonce: i,
        to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        value: '1000000000000000',
        gas: 21000,
        maxFeePerGas: '2000000000',
        maxPriorityFeePerGas: '1000000000',
      };
      const body = Buffer.from(JSON.stringify(signBody(wallet, token, { type: 'transaction', transaction: tx })));
      requests.push({
        path: '/v1/sign',
        headers: { host: `127.0.0.1:${signerPort}`, 'content-type': 'application/json', 'content-length': String(body.length) },
        body,
      });
      wallet.privateKey.fill(0);
    }
    const first = await closedLoop(signerPort, requests, 1, 0.5);
    if (first.errors) throw new Error(`the signer refused the benchmark's requests: ${first.firstError}`);
    await closedLoop(signerPort, requests, CONCURRENCY, 1); // warm-up

    const serverPid = server.child.pid!;
    const signerPid = childOf(serverPid);
    const cpu0 = { server: cpuMs(serverPid), signer: cpuMs(signerPid), load: process.cpuUsage() };
    const max = await closedLoop(signerPort, requests, CONCURRENCY, SECONDS);
    const loadUsage = process.cpuUsage(cpu0.load);
    // CPU per signature in each process: independent of how busy the rest of the machine is.
    const [server1, signer1] = [cpuMs(serverPid), cpuMs(signerPid)];
    const cpuPerSignature = {
      serverMs: (server1.user + server1.system - cpu0.server.user - cpu0.server.system) / max.requests,
      signerMs: (signer1.user + signer1.system - cpu0.signer.user - cpu0.signer.system) / max.requests,
      /** Of the above, the kernel's share (system CPU: loopback TCP, syscalls). */
      serverSystemMs: (server1.system - cpu0.server.system) / max.requests,
      signerSystemMs: (signer1.system - cpu0.signer.system) / max.requests,
      loadGeneratorMs: (loadUsage.user + loadUsage.system) / 1000 / max.requests,
    };
    const { rate: RATE, why: rateWhy } = fixedRateFor(max.perSecond);
    const atRate = await fixedRate(signerPort, requests, RATE, SECONDS);
    const ceil = await cryptoCeiling();
    const floor = await httpFloor(requests[0]!.body.length, Math.min(SECONDS, 3));

    console.log(
      `\nbench:split — ${cores} cores, store ${process.env.DATABASE_URL ? 'postgresql' : 'sqlite'}, ${OWNERS} owners, ${SECONDS} s per run, attested sessions ${SESSION_SECONDS === '0' ? 'off (a fresh document per release)' : `of ${SESSION_SECONDS} s`}`,
    );
    console.log(row(`max (${CONCURRENCY} in flight)`, max));
    console.log(row(`at ${RATE}/s (open loop)`, atRate));
    console.log(`    fixed rate ${RATE}/s: ${rateWhy}`);
    console.log(
      `${'ceiling: crypto of one signature'.padEnd(34)} ${ceil.perSecond.toFixed(0).padStart(7)}/s on one core (x${cores} cores = ${(ceil.perSecond * cores).toFixed(0)}/s), no HTTP, SigV4, policy or store`,
    );
    console.log(
      `${'  same, single-use documents'.padEnd(34)} ${ceil.perSecondSingleUse.toFixed(0).padStart(7)}/s on one core (a platform ES384 sign and a custodian ES384 verify per signature)`,
    );
    for (const [step, perSecond] of Object.entries(ceil.steps))
      console.log(`    ${step.padEnd(44)} ${perSecond.toFixed(0).padStart(7)}/s  (${(1000 / perSecond).toFixed(3)} ms)`);
    const cpuTotal = cpuPerSignature.serverMs + cpuPerSignature.signerMs + cpuPerSignature.loadGeneratorMs;
    console.log(
      `CPU per signature (max run): server (custodian + platform) ${cpuPerSignature.serverMs.toFixed(2)} ms (system ${cpuPerSignature.serverSystemMs.toFixed(2)}), signer ${cpuPerSignature.signerMs.toFixed(2)} ms (system ${cpuPerSignature.signerSystemMs.toFixed(2)}), load generator ${cpuPerSignature.loadGeneratorMs.toFixed(2)} ms = ${cpuTotal.toFixed(2)} ms -> at most ${((cores * 1000) / cpuTotal).toFixed(0)}/s on ${cores} idle cores`,
    );
    console.log(
      `machine load average while measuring: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (other work on the machine takes its share)`,
    );
    // What 2,000/s leaves per signature on these cores, against what the cryptography alone takes.
    const budgetMs = (cores * 1000) / 2000;
    const cryptoMs = 1000 / ceil.perSecond;
    console.log(
      `CPU budget of the 2,000/s target on ${cores} cores: ${budgetMs.toFixed(2)} ms per signature, every process included; the cryptography alone takes ${cryptoMs.toFixed(2)} ms (${((cryptoMs / budgetMs) * 100).toFixed(0)}% of it)` +
        (cryptoMs >= budgetMs
          ? ' -> beyond this machine even with no HTTP, SigV4, policy or store'
          : `, leaving ${(budgetMs - cryptoMs).toFixed(2)} ms for HTTP, SigV4, policy, store and the load generator (used now: ${(cpuTotal - cryptoMs).toFixed(2)} ms)`),
    );
    // The floor: the cryptography plus two HTTP hops that do nothing else, every process's CPU counted.
    const floorMs = (floor.inboundServerUs + floor.loadGeneratorUs + floor.outboundClientUs + floor.outboundServerUs) / 1000;
    const ceilingPerSecond = ceil.perSecond * cores;
    const ratio = max.perSecond / ceilingPerSecond;
    // Both in CPU time (the ceiling's rate is per wall-clock second, the floor's per CPU second): the bound as a ratio.
    const floorBoundRatio = ceil.cpuMsPerSignature / (ceil.cpuMsPerSignature + floorMs);
    const floorBoundPerSecond = ceilingPerSecond * floorBoundRatio;
    console.log(
      `HTTP floor, two bare hops (bench/lib/bare-server.ts /noop): signer in ${floor.inboundServerUs.toFixed(0)} µs + load generator ${floor.loadGeneratorUs.toFixed(0)} µs + signer out (undici) ${floor.outboundClientUs.toFixed(0)} µs + custodian in ${floor.outboundServerUs.toFixed(0)} µs = ${(floorMs * 1000).toFixed(0)} µs per signature`,
    );
    console.log(
      `    cryptography (${ceil.cpuMsPerSignature.toFixed(2)} ms of CPU) + that floor = ${(ceil.cpuMsPerSignature + floorMs).toFixed(2)} ms -> at most ${floorBoundRatio.toFixed(2)} x the ceiling (${floorBoundPerSecond.toFixed(0)}/s) before any SigV4, policy, audit, store or JSON work`,
    );
    console.log(`ratio to the ${cores}-core crypto ceiling: ${ratio.toFixed(2)} (issue #19 target >= 0.6: ${ratio >= 0.6 ? 'met' : 'NOT met'})`);
    const metThroughput = max.perSecond >= 2000 && max.errors === 0;
    const metLatency = RATE >= TARGET_RATE && atRate.p99ms <= 50 && atRate.errors === 0 && atRate.perSecond >= RATE * 0.95;
    console.log(
      `target >= 2,000 EIP-1559 tx/s: ${metThroughput ? 'met' : 'NOT met'} (ratio to the ${cores}-core crypto ceiling ${(max.perSecond / (ceil.perSecond * cores)).toFixed(2)})`,
    );
    console.log(
      `target p99 <= 50 ms at ${TARGET_RATE}/s: ${metLatency ? 'met' : RATE < TARGET_RATE ? `NOT met (not measurable: ${TARGET_RATE}/s is beyond the max throughput; p99 at ${RATE}/s is ${atRate.p99ms.toFixed(1)} ms)` : 'NOT met'}\n`,
    );

    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/split.json',
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores,
          node: process.version,
          store: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
          seconds: SECONDS,
          owners: OWNERS,
          concurrency: CONCURRENCY,
          attestationSessionSeconds: Number(SESSION_SECONDS),
          max,
          cpuPerSignature,
          loadAverage: loadavg(),
          atRate: { rate: RATE, rateChosenBy: rateWhy, ...atRate },
          ceiling: {
            perSecondOneCore: ceil.perSecond,
            cpuMsPerSignature: ceil.cpuMsPerSignature,
            perSecondOneCoreSingleUse: ceil.perSecondSingleUse,
            steps: ceil.steps,
          },
          targets: { throughput: '>= 2000/s', latency: `p99 <= 50 ms at ${TARGET_RATE}/s`, metThroughput, metLatency },
          cpuBudget: { targetMsPerSignature: budgetMs, cryptoMsPerSignature: cryptoMs, measuredMsPerSignature: cpuTotal },
          ratioToCeiling: { ratio, target: 0.6, met: ratio >= 0.6 },
          httpFloor: { ...floor, msPerSignature: floorMs, boundPerSecond: floorBoundPerSecond, boundRatio: floorBoundRatio },
        },
        null,
        2,
      ) + '\n',
    );
  } finally {
    iam.destroy();
    admin.destroy();
    await server.stop();
    await issuer.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
