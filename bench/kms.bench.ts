/**
 * `npm run bench:kms`: the custodian under load over HTTP with real SigV4.
 * The server runs in its own process (`symbolon serve`, embedded SQLite unless
 * DATABASE_URL is set); this process pre-signs requests and drives them over
 * keep-alive connections. Each operation is printed beside its in-process
 * ceiling (the same keystore call in a loop) and the ratio; results go to
 * bench/results/kms.json. Both processes share the machine's cores.
 *
 * BENCH_ROOTS=file,pkcs11 compares roots of trust instead: one server per
 * root (pkcs11 on a SoftHSM2 token in a temporary directory), Sign driven at
 * each in alternating rounds (BENCH_ROUNDS, default 3) in the same run; the
 * median of each and the ratio to the file root's go to
 * bench/results/kms-roots.json (target: within 5 %, the hot path never
 * touches the root).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { createMaterial, decrypt, encrypt, signDigest } from '../src/kms/keystore.js';
import { KeyRootOfTrust } from '../src/root/root-of-trust.js';
import {
  BENCH_ADMIN,
  BENCH_REGION,
  ceiling,
  makeSigner,
  runPipelined,
  runFixedRate,
  signKmsRequest,
  startServerProcess,
  type LoadResult,
  type PreparedRequest,
} from './lib/load.js';
import { SKIP_WITHOUT_HSM, softHsm } from '../test/helpers/softhsm.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DEPTH = Number(process.env.BENCH_DEPTH ?? 4);
const CONCURRENCY = CONNECTIONS * DEPTH;

interface Row {
  operation: string;
  load: LoadResult;
  ceilingPerSecond: number;
  ratio: number;
  target: string;
  met: boolean;
}

/** BENCH_ROOTS: Sign on one server per root of trust, alternating rounds, in one run. */
async function compareRoots(roots: string[]): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const hsm = roots.includes('pkcs11') ? softHsm() : undefined;
  const servers: Array<{ root: string; server: Awaited<ReturnType<typeof startServerProcess>>; reqs: PreparedRequest[]; perSecond: number[] }> = [];
  const signer = makeSigner();
  try {
    if (hsm) {
      if (SKIP_WITHOUT_HSM) throw new Error(`BENCH_ROOTS=pkcs11: ${SKIP_WITHOUT_HSM}`);
      hsm.initToken('bench');
    }
    const digests = Array.from({ length: 1024 }, () => new Uint8Array(randomBytes(32)));
    for (const root of roots) {
      if (root !== 'file' && root !== 'pkcs11') throw new RangeError(`BENCH_ROOTS: unknown root ${root}`);
      const server = await startServerProcess(root === 'pkcs11' ? hsm!.env('bench') : {});
      const kms = new KMSClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
      const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
      kms.destroy();
      const reqs: PreparedRequest[] = [];
      for (let i = 0; i < 4096; i++) {
        const body = { KeyId: keyId, Message: Buffer.from(digests[i % 1024]!).toString('base64'), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' };
        reqs.push(await signKmsRequest(server.port, 'Sign', body, signer));
      }
      servers.push({ root, server, reqs, perSecond: [] });
    }
    for (const s of servers) await runPipelined(s.server.port, s.reqs, CONNECTIONS, DEPTH, 1); // warm up
    for (let round = 0; round < rounds; round++) {
      for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
        const load = await runPipelined(s.server.port, s.reqs, CONNECTIONS, DEPTH, SECONDS);
        if (load.errors > 0) throw new Error(`${s.root}: ${load.errors} errors (${load.firstError})`);
        s.perSecond.push(load.perSecond);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = median(servers.find((s) => s.root === 'file')?.perSecond ?? servers[0]!.perSecond);
    console.log(`\nSign (secp256k1, DIGEST) by root of trust, ${cpus().length} cores, ${rounds} alternating rounds of ${SECONDS}s, ${CONCURRENCY} in flight`);
    console.log(`store: ${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded SQLite'}\n`);
    const rows = servers.map((s) => ({
      root: s.root,
      rounds: s.perSecond.map((x) => Math.round(x)),
      median: Math.round(median(s.perSecond)),
      ratio: median(s.perSecond) / base,
    }));
    console.log(`${'root'.padEnd(8)}${'rounds (req/s)'.padEnd(40)}${'median'.padEnd(9)}${'vs file'.padEnd(9)}target       met`);
    for (const r of rows) {
      const met = Math.abs(r.ratio - 1) <= 0.05;
      console.log(
        `${r.root.padEnd(8)}${r.rounds.join(', ').padEnd(40)}${String(r.median).padEnd(9)}${r.ratio.toFixed(3).padEnd(9)}${'within 5 %'.padEnd(13)}${met ? 'yes' : 'NO'}`,
      );
    }
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/kms-roots.json',
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores: cpus().length,
          store: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
          seconds: SECONDS,
          concurrency: CONCURRENCY,
          rows,
        },
        null,
        2,
      ) + '\n',
    );
    console.log('\nwritten: bench/results/kms-roots.json');
  } finally {
    for (const s of servers) await s.server.stop();
    hsm?.cleanup();
  }
}

async function main() {
  if (process.env.BENCH_ROOTS) return compareRoots(process.env.BENCH_ROOTS.split(','));
  const server = await startServerProcess();
  const kms = new KMSClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
  const signer = makeSigner();
  const rows: Row[] = [];
  try {
    // In-process ceilings: the same keystore calls, no HTTP, no SigV4, no store.
    const root = new KeyRootOfTrust(new Uint8Array(randomBytes(32)), 'bench');
    const k1Id = randomUUID();
    const k1 = createMaterial(root, 'ECC_SECG_P256K1', k1Id, 1);
    const symId = randomUUID();
    const sym = createMaterial(root, 'SYMMETRIC_DEFAULT', symId, 1);
    const digests = Array.from({ length: 1024 }, () => new Uint8Array(randomBytes(32)));
    const ceilSign = ceiling((i) => signDigest(root, 'ECC_SECG_P256K1', k1Id, 1, k1.sealed, digests[i % 1024]!));
    const ceilGdk = ceiling(() => {
      const dk = new Uint8Array(randomBytes(32));
      encrypt(root, symId, 1, sym.sealed, dk, { purpose: 'bench' });
      dk.fill(0);
    });
    const blob = encrypt(root, symId, 1, sym.sealed, new Uint8Array(32), { purpose: 'bench' });
    const ceilDecrypt = ceiling(() => decrypt(root, symId, 1, sym.sealed, blob, { purpose: 'bench' }).fill(0));
    const ceilCreate = ceiling(() => createMaterial(root, 'ECC_SECG_P256K1', k1Id, 1));

    // Keys on the server.
    const signKey = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const encKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;

    async function presign(n: number, target: string, payload: (i: number) => unknown): Promise<PreparedRequest[]> {
      const out: PreparedRequest[] = [];
      for (let i = 0; i < n; i++) out.push(await signKmsRequest(server.port, target, payload(i), signer));
      return out;
    }
    const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

    const signReqs = await presign(4096, 'Sign', (i) => ({
      KeyId: signKey,
      Message: b64(digests[i % 1024]!),
      MessageType: 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
    }));
    const gdkReqs = await presign(1024, 'GenerateDataKey', () => ({ KeyId: encKey, KeySpec: 'AES_256', EncryptionContext: { purpose: 'bench' } }));
    const only = process.env.BENCH_ONLY;
    const blobs: Uint8Array[] = [];
    for (let i = 0; i < (only && !/Decrypt/.test(only) ? 0 : 64); i++) {
      const r = await kms.send(new GenerateDataKeyCommand({ KeyId: encKey, KeySpec: 'AES_256', EncryptionContext: { purpose: 'bench' } }));
      blobs.push(r.CiphertextBlob!);
      r.Plaintext?.fill(0);
    }
    const decReqs =
      blobs.length === 0
        ? []
        : await presign(1024, 'Decrypt', (i) => ({ CiphertextBlob: b64(blobs[i % blobs.length]!), EncryptionContext: { purpose: 'bench' } }));
    const createReqs = await presign(16, 'CreateKey', () => ({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));

    const plan: Array<[string, PreparedRequest[], number, string, (r: LoadResult) => boolean]> = [
      ['Sign (secp256k1, DIGEST)', signReqs, ceilSign, '>= 6000/s', (r) => r.perSecond >= 6000],
      ['GenerateDataKey', gdkReqs, ceilGdk, '>= 8000/s', (r) => r.perSecond >= 8000],
      ['Decrypt', decReqs, ceilDecrypt, '>= 8000/s', (r) => r.perSecond >= 8000],
      ['CreateKey (secp256k1)', createReqs, ceilCreate, '>= 1000/s', (r) => r.perSecond >= 1000],
    ];
    for (const [name, reqs, ceil, target, met] of plan) {
      if (only && !name.startsWith(only)) continue;
      // Warm up the server's JIT and caches.
      await runPipelined(server.port, reqs, CONNECTIONS, DEPTH, 1);
      const load = await runPipelined(server.port, reqs, CONNECTIONS, DEPTH, SECONDS);
      rows.push({ operation: name, load, ceilingPerSecond: ceil, ratio: load.perSecond / ceil, target, met: met(load) && load.errors === 0 });
    }
    const fixed = await runFixedRate(server.port, signReqs, 2000, SECONDS);
    rows.push({
      operation: 'Sign at 2,000/s (latency)',
      load: fixed,
      ceilingPerSecond: ceilSign,
      ratio: fixed.perSecond / ceilSign,
      target: 'p99 <= 15 ms',
      met: fixed.p99ms <= 15 && fixed.errors === 0,
    });

    const pad = (s: string, n: number) => s.padEnd(n);
    console.log(
      `\nSymbolon custodian over HTTP + SigV4, ${cpus().length} cores, server and load generator on this machine, ${SECONDS}s per run, ${CONNECTIONS} keep-alive connections x ${DEPTH} pipelined = ${CONCURRENCY} in flight`,
    );
    console.log(`store: ${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded SQLite'}\n`);
    console.log(
      pad('operation', 28) +
        pad('req/s', 10) +
        pad('p50 ms', 9) +
        pad('p99 ms', 9) +
        pad('errors', 8) +
        pad('ceiling/s', 12) +
        pad('ratio', 8) +
        pad('target', 16) +
        'met',
    );
    for (const r of rows) {
      console.log(
        pad(r.operation, 28) +
          pad(r.load.perSecond.toFixed(0), 10) +
          pad(r.load.p50ms.toFixed(2), 9) +
          pad(r.load.p99ms.toFixed(2), 9) +
          pad(String(r.load.errors), 8) +
          pad(r.ceilingPerSecond.toFixed(0), 12) +
          pad(r.ratio.toFixed(2), 8) +
          pad(r.target, 16) +
          (r.met ? 'yes' : 'NO'),
      );
      if (r.load.firstError) console.log(`  first error: ${r.load.firstError}`);
    }
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/kms.json',
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores: cpus().length,
          store: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
          seconds: SECONDS,
          concurrency: CONCURRENCY,
          rows,
        },
        null,
        2,
      ) + '\n',
    );
    console.log('\nwritten: bench/results/kms.json');
  } finally {
    kms.destroy();
    await server.stop();
  }
}

await main();
