/**
 * `npm run bench:scale`: the custodian with many keys and with several
 * worker processes (issue #19, target 3). Two parts; both write
 * bench/results/ (`-postgres` in the name when DATABASE_URL is set) with the
 * core count, Node version and load average.
 *
 * Keys (default; `-- --keys N`, default 1,000,000, `-- --small N`, default
 * 1,000): two stores, one of N keys and one of the small count, each filled
 * in this process with secp256k1 keys as CreateKey stores them
 * (bench/lib/keys.ts insertBenchKeys, multi-row inserts; on SQLite kept in
 * BENCH_STORE_CACHE, default $TMPDIR/symbolon-bench-scale-stores, and reused
 * by later runs: 1,000,000 keys take 7–25 minutes to fill), then served by one
 * `symbolon serve --role kms --workers 1` each. Every Sign request names a
 * key drawn uniformly at random from ALL the store's keys (reservoir sample
 * of BENCH_SAMPLE, default 20,000, distinct pre-signed requests, cycled): on
 * the large store that is twice the key cache's 10,000 entries cycled in
 * order, so every request misses the cache and reads its key from the store;
 * on the small store every key is in the sample. Alternating rounds
 * (BENCH_ROUNDS, default 3, of BENCH_SECONDS, default 5) on the two servers;
 * printed: fill time, server start-up time, RSS idle and after the load,
 * Sign/s and server CPU per request of each, and the ratios (targets: rate
 * within 10 % of the small store's, RSS <= 250 MB). bench/results/scale.json.
 *
 * Miss (`-- --miss`, SQLite): the store read of one key-cache miss
 * (src/kms/key-records.ts findKeyForUse) in this process on the two cached
 * stores, each opened twice (with the page cache the store sets, and with
 * SQLite's default 2 MiB), alternating rounds, minimum and median CPU per
 * read and the system CPU's share; on a loaded machine the clearest view of
 * what the store's size adds to a Sign, kernel included.
 * bench/results/scale-miss.json.
 *
 * Instructions (`-- --instructions`, SQLite; needs valgrind): the keys part
 * counted instead of timed, so that it does not depend on what else the
 * machine runs (as `npm run bench:kms -- --instructions`,
 * bench/lib/instructions.ts): each server in turn under `valgrind
 * --tool=callgrind`, uncounted through start-up and BENCH_WARM (default
 * 2,000) Sign requests, then BENCH_SLICES (default 3) slices of BENCH_MEASURED
 * (default 200) requests, 4 connections x 2 pipelined, `callgrind_control
 * --dump` around each: instructions per Sign of all the server's threads and
 * of its main thread. Requests cycle through the same shuffled sample of the
 * store's keys as the keys part. The custodian's interval settings are
 * stretched by BENCH_SLOWDOWN (default 50, about callgrind's slowdown), but
 * for the key cache's TTL, which both servers run at 1 s unstretched: under
 * callgrind a key comes round again on the small store after `--small`
 * requests, tens of seconds, so there too every request misses the cache
 * (checked from the slices' pace and printed), and the two counts differ
 * by what the store's size adds. A third server on the small store with a
 * one-hour TTL, every request a cache hit, gives what a miss costs.
 * Instructions do not see the kernel (the page-cache reads of a 760 MB file
 * SQLite does through pread) nor memory stalls: BENCH_CACHE_SIM=1 adds
 * `--cache-sim=yes` and prints last-level cache misses per Sign (simulated,
 * user space only) beside them. BENCH_CALLGRIND_KEEP=DIR keeps the measured
 * dumps for callgrind_annotate; BENCH_SCALE_SERVERS (default
 * `large,small,small-hit`) picks the servers. bench/results/scale-instructions.json.
 *
 * Workers (`-- --workers`; over PostgreSQL, as the target says): one server
 * with `--workers 1` and one with `--workers 2`, each on a fresh store with
 * one secp256k1 key and one symmetric key; Sign and Decrypt in alternating
 * rounds; rates, the ratio (target >= 1.6), and CPU per request of each
 * worker process. The load generator should run on cores of its own:
 * BENCH_SERVER_CPUS and BENCH_LOAD_CPUS (`taskset -c` lists, e.g. `0,1` and
 * `2,3`) pin the servers and this process. On a 2-core machine there is no
 * separate budget to give: the CPU per request is then the evidence (if each
 * worker had a core, the ratio would be 2 x CPU per request with one worker /
 * CPU per request with two). PostgreSQL runs on the same machine and its CPU
 * is not counted. bench/results/scale-workers-postgres.json (scale-workers.json
 * on SQLite).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { configFromEnv } from '../src/config.js';
import { defaultKeyPolicy } from '../src/kms/policy/key-policy.js';
import { createCustodian } from '../src/server/custodian.js';
import { sql } from 'kysely';
import { dropPgSchema, openStore } from '../src/storage/database.js';
import { findKeyForUse } from '../src/kms/key-records.js';
import { insertBenchKeys } from './lib/keys.js';
import { callgrindRun, dumpInstructions, haveCallgrind, instrumentOn, SLOWDOWN, slowedTimers } from './lib/instructions.js';
import {
  BENCH_ADMIN,
  BENCH_REGION,
  makeSigner,
  runCount,
  runPipelined,
  signKmsRequest,
  startServer,
  type PreparedRequest,
  type ServerProcess,
} from './lib/load.js';
import { loadLine, treeCpuMs, treeRssMb, writeResult } from './lib/results.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DEPTH = Number(process.env.BENCH_DEPTH ?? 4);
const SAMPLE = Number(process.env.BENCH_SAMPLE ?? 20_000);
const DATABASE_URL = process.env.DATABASE_URL || undefined;
const SERVER_CPUS = process.env.BENCH_SERVER_CPUS;
// Filled SQLite stores are kept here and reused (a 1,000,000-key fill takes minutes); BENCH_STORE_CACHE=off fills afresh.
const STORE_CACHE = process.env.BENCH_STORE_CACHE ?? join(tmpdir(), 'symbolon-bench-scale-stores');
const suffix = DATABASE_URL ? '-postgres' : '';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sum = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const mb = (x: number) => `${x.toFixed(0)} MB`;

/** A store filled with `keys` keys, and a sample of their ids drawn uniformly (reservoir sampling). */
interface FilledStore {
  keys: number;
  dataDir: string;
  databaseUrl: string | undefined;
  sample: string[];
  fillSeconds: number;
  remove(): Promise<void>;
}

/**
 * A SQLite store of `keys` keys from BENCH_STORE_CACHE, filled on first use and
 * reused after (its sample beside it, written last: a store without one was
 * not finished and is filled again). The servers' audit records stay in it.
 */
async function cachedStore(keys: number): Promise<FilledStore> {
  const dir = join(STORE_CACHE, `keys-${keys}-sample-${SAMPLE}`);
  const sampleFile = join(dir, 'sample.json');
  const dataDir = join(dir, 'data');
  if (existsSync(sampleFile)) {
    const { sample, fillSeconds } = JSON.parse(readFileSync(sampleFile, 'utf8')) as { sample: string[]; fillSeconds: number };
    console.log(`  reusing ${dir}`);
    return { keys, dataDir, databaseUrl: undefined, sample, fillSeconds, remove: async () => {} };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(STORE_CACHE, { recursive: true });
  const filled = await fillStore(keys);
  mkdirSync(dir);
  renameSync(filled.dataDir, dataDir);
  writeFileSync(sampleFile, JSON.stringify({ sample: filled.sample, fillSeconds: filled.fillSeconds }));
  return { ...filled, dataDir, remove: async () => {} };
}

async function fillStore(keys: number): Promise<FilledStore> {
  const dataDir = mkdtempSync(join(DATABASE_URL || STORE_CACHE === 'off' ? tmpdir() : STORE_CACHE, 'symbolon-bench-scale-'));
  const pgSchema = DATABASE_URL ? `b_scale_${randomBytes(5).toString('hex')}` : undefined;
  const remove = async () => {
    if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const config = configFromEnv(
      {
        SYMBOLON_ADMIN_ACCESS_KEY_ID: BENCH_ADMIN.accessKeyId,
        SYMBOLON_ADMIN_SECRET_ACCESS_KEY: BENCH_ADMIN.secretAccessKey,
        SYMBOLON_REGION: BENCH_REGION,
        SYMBOLON_LOG_LEVEL: 'silent',
        SYMBOLON_DAPP_PORT: 'off',
        ...(DATABASE_URL ? { DATABASE_URL } : {}),
      },
      { data: dataDir, port: '0', role: 'kms' },
    );
    const started = Date.now();
    const custodian = await createCustodian({ config, logger: pino({ level: 'silent' }), ...(pgSchema ? { pgSchema } : {}), maintenanceIntervalMs: 3_600_000 });
    const sample: string[] = [];
    let seen = 0;
    const onKey = (id: string) => {
      if (seen < SAMPLE) sample.push(id);
      else {
        const j = Math.floor(Math.random() * (seen + 1));
        if (j < SAMPLE) sample[j] = id;
      }
      seen++;
    };
    try {
      const { store, root } = custodian.deps;
      const key = { accountId: custodian.accountId, region: config.region, policy: defaultKeyPolicy(custodian.accountId) };
      const PER_TRANSACTION = 20_000;
      for (let done = 0; done < keys; done += PER_TRANSACTION) {
        const n = Math.min(PER_TRANSACTION, keys - done);
        await store.db.transaction().execute((trx) => insertBenchKeys(trx, root, key, n, onKey));
        if (keys >= 100_000 && (done + n) % 100_000 === 0)
          process.stdout.write(`  filled ${done + n} of ${keys} keys (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
      }
    } finally {
      await custodian.close();
    }
    let databaseUrl: string | undefined;
    if (pgSchema && DATABASE_URL) {
      const u = new URL(DATABASE_URL);
      u.searchParams.set('options', `-c search_path=${pgSchema}`);
      databaseUrl = u.toString();
    }
    // Requests in random order, so consecutive ones do not follow the store's insertion order.
    for (let i = sample.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [sample[i], sample[j]] = [sample[j]!, sample[i]!];
    }
    return { keys, dataDir, databaseUrl, sample, fillSeconds: (Date.now() - started) / 1000, remove };
  } catch (e) {
    await remove();
    throw e;
  }
}

const DIGEST = Buffer.from(randomBytes(32)).toString('base64');

/** One pre-signed Sign request per sampled key. */
async function signRequests(port: number, keyIds: string[]): Promise<PreparedRequest[]> {
  const signer = makeSigner();
  const out: PreparedRequest[] = [];
  for (const keyId of keyIds)
    out.push(await signKmsRequest(port, 'Sign', { KeyId: keyId, Message: DIGEST, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }, signer));
  return out;
}

/** A closed-loop run with the CPU time of the server's process tree over it (µs per request, all processes). */
async function measured(server: ServerProcess, reqs: PreparedRequest[]) {
  const pid = server.child.pid!;
  const cpu0 = treeCpuMs(pid);
  const load = await runPipelined(server.port, reqs, CONNECTIONS, DEPTH, SECONDS);
  const cpu1 = treeCpuMs(pid);
  if (load.errors > 0) throw new Error(`${load.errors} errors (${load.firstError})`);
  const perProcessUs = [...cpu1].map(([p, ms]) => ((ms - (cpu0.get(p) ?? 0)) * 1000) / Math.max(1, load.requests));
  return { perSecond: load.perSecond, p99ms: load.p99ms, requests: load.requests, cpuUsPerRequest: perProcessUs.reduce((a, b) => a + b, 0), perProcessUs };
}

/** Sign over a store of `--keys` keys against one of `--small`, alternating rounds on two servers. */
async function keysPart(large: number, small: number): Promise<void> {
  const stores: FilledStore[] = [];
  const servers: Array<{
    store: FilledStore;
    server: ServerProcess;
    startMs: number;
    reqs: PreparedRequest[];
    idleRssMb: number;
    rounds: Awaited<ReturnType<typeof measured>>[];
  }> = [];
  try {
    for (const n of [small, large]) {
      console.log(`filling a store with ${n} keys…`);
      const store = DATABASE_URL || STORE_CACHE === 'off' ? await fillStore(n) : await cachedStore(n);
      stores.push(store);
      console.log(`  ${n} keys in ${store.fillSeconds.toFixed(1)} s`);
    }
    // Servers start and requests are signed only once every store is full: a SigV4 signature expires after 5 minutes.
    for (const store of stores) {
      const t0 = performance.now();
      const server = await startServer({ workers: '1', args: ['--role', 'kms'], store, ...(SERVER_CPUS ? { cpus: SERVER_CPUS } : {}) });
      const startMs = performance.now() - t0;
      // Idle RSS: after start-up, before any request (start-up must not load the keys).
      await new Promise((r) => setTimeout(r, 1000));
      const idleRssMb = sum(treeRssMb(server.child.pid!));
      const reqs = await signRequests(server.port, store.sample);
      servers.push({ store, server, startMs, reqs, idleRssMb, rounds: [] });
    }
    for (const s of servers) await runPipelined(s.server.port, s.reqs, CONNECTIONS, DEPTH, WARMUP);
    for (let round = 0; round < ROUNDS; round++)
      for (const s of round % 2 === 0 ? servers : [...servers].reverse()) s.rounds.push(await measured(s.server, s.reqs));
    const rows = servers.map((s) => ({
      keys: s.store.keys,
      fillSeconds: s.store.fillSeconds,
      serverStartMs: Math.round(s.startMs),
      distinctKeysRequested: s.reqs.length,
      idleRssMb: s.idleRssMb,
      loadedRssMb: sum(treeRssMb(s.server.child.pid!)),
      perSecond: median(s.rounds.map((r) => r.perSecond)),
      cpuUsPerRequest: median(s.rounds.map((r) => r.cpuUsPerRequest)),
      p99ms: median(s.rounds.map((r) => r.p99ms)),
      rounds: s.rounds.map((r) => ({ perSecond: Math.round(r.perSecond), cpuUsPerRequest: Math.round(r.cpuUsPerRequest), p99ms: r.p99ms })),
    }));
    const [few, many] = rows as [(typeof rows)[0], (typeof rows)[0]];
    const rateRatio = many.perSecond / few.perSecond;
    const cpuRatio = few.cpuUsPerRequest / many.cpuUsPerRequest;
    const rssMet = Math.max(many.idleRssMb, many.loadedRssMb) <= 250;
    console.log(
      `\nSign (secp256k1) by store size, one server process each (--workers 1), keys uniformly random over the store, ${ROUNDS} alternating rounds of ${SECONDS}s, ${CONNECTIONS * DEPTH} in flight, ${cpus().length} cores, ${DATABASE_URL ? 'PostgreSQL' : 'embedded SQLite'}`,
    );
    console.log(
      `${'keys'.padEnd(10)}${'fill s'.padEnd(9)}${'start ms'.padEnd(10)}${'RSS idle'.padEnd(10)}${'RSS load'.padEnd(10)}${'Sign/s'.padEnd(9)}${'CPU µs/req'.padEnd(12)}p99 ms`,
    );
    for (const r of rows)
      console.log(
        `${String(r.keys).padEnd(10)}${r.fillSeconds.toFixed(0).padEnd(9)}${String(r.serverStartMs).padEnd(10)}${mb(r.idleRssMb).padEnd(10)}${mb(r.loadedRssMb).padEnd(10)}${r.perSecond.toFixed(0).padEnd(9)}${r.cpuUsPerRequest.toFixed(0).padEnd(12)}${r.p99ms.toFixed(1)}`,
      );
    console.log(
      `rate ratio ${rateRatio.toFixed(3)} (target >= 0.90: ${rateRatio >= 0.9 ? 'met' : 'NOT met'}); CPU ratio (small store's CPU per request / large's) ${cpuRatio.toFixed(3)}`,
    );
    console.log(`RSS with ${many.keys} keys: idle ${mb(many.idleRssMb)}, after load ${mb(many.loadedRssMb)} (target <= 250 MB: ${rssMet ? 'met' : 'NOT met'})`);
    console.log(loadLine());
    writeResult(`scale${suffix}.json`, {
      part: 'keys',
      keySelection: `uniformly random over every key in the store (reservoir sample of ${SAMPLE} distinct keys, shuffled, cycled); key cache 10,000 entries, TTL SYMBOLON_KEY_CACHE_TTL_MS (default 1 s)`,
      loadGenerator: `bench/lib/load.ts runPipelined, ${CONNECTIONS} connections x ${DEPTH} pipelined`,
      serverCpus: SERVER_CPUS ?? 'any',
      seconds: SECONDS,
      rounds: ROUNDS,
      rows,
      rateRatio,
      cpuRatio,
      met: { rate: rateRatio >= 0.9, rss: rssMet },
    });
  } finally {
    for (const s of servers) await s.server.stop();
    for (const s of stores) await s.remove();
  }
}

/** Sign and Decrypt on --workers 1 against --workers 2, alternating rounds. */
async function workersPart(): Promise<void> {
  const servers: Array<{ workers: number; server: ServerProcess; sign: PreparedRequest[]; decrypt: PreparedRequest[] }> = [];
  const stores: FilledStore[] = [];
  try {
    for (const workers of [1, 2]) {
      // A store migrated in this process (as the keys part's): a fresh PostgreSQL schema named only by
      // the server's search_path can meet another schema's migration table on its first start.
      const store = await fillStore(0);
      stores.push(store);
      const server = await startServer({ workers: String(workers), args: ['--role', 'kms'], store, ...(SERVER_CPUS ? { cpus: SERVER_CPUS } : {}) });
      servers.push({ workers, server, sign: [], decrypt: [] });
      const kms = new KMSClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
      try {
        const signKey = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
        const encKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
        const signer = makeSigner();
        const s = servers.at(-1)!;
        for (let i = 0; i < 1024; i++)
          s.sign.push(
            await signKmsRequest(
              server.port,
              'Sign',
              { KeyId: signKey, Message: randomBytes(32).toString('base64'), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' },
              signer,
            ),
          );
        for (let i = 0; i < 64; i++) {
          const r = await kms.send(new GenerateDataKeyCommand({ KeyId: encKey, KeySpec: 'AES_256', EncryptionContext: { purpose: 'bench' } }));
          r.Plaintext?.fill(0);
          for (let j = 0; j < 16; j++)
            s.decrypt.push(
              await signKmsRequest(
                server.port,
                'Decrypt',
                { CiphertextBlob: Buffer.from(r.CiphertextBlob!).toString('base64'), EncryptionContext: { purpose: 'bench' } },
                signer,
              ),
            );
        }
      } finally {
        kms.destroy();
      }
    }
    const ops = ['Sign', 'Decrypt'] as const;
    const got = new Map<string, Awaited<ReturnType<typeof measured>>[]>();
    for (const op of ops) for (const s of servers) await runPipelined(s.server.port, op === 'Sign' ? s.sign : s.decrypt, CONNECTIONS, DEPTH, WARMUP);
    for (let round = 0; round < ROUNDS; round++)
      for (const op of ops)
        for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
          const k = `${op}/${s.workers}`;
          got.set(k, [...(got.get(k) ?? []), await measured(s.server, op === 'Sign' ? s.sign : s.decrypt)]);
        }
    console.log(
      `\n--workers 1 against --workers 2, ${ROUNDS} alternating rounds of ${SECONDS}s, ${CONNECTIONS * DEPTH} in flight, ${cpus().length} cores, servers on CPUs ${SERVER_CPUS ?? 'any'}, load generator on ${process.env.BENCH_LOAD_CPUS ?? 'any'}, ${DATABASE_URL ? 'PostgreSQL' : 'embedded SQLite'}`,
    );
    console.log(
      `${'operation'.padEnd(10)}${'1 worker/s'.padEnd(12)}${'2 workers/s'.padEnd(13)}${'ratio'.padEnd(8)}${'CPU µs/req 1'.padEnd(14)}${'CPU µs/req 2'.padEnd(14)}projected ratio`,
    );
    const rows = ops.map((op) => {
      const one = got.get(`${op}/1`)!;
      const two = got.get(`${op}/2`)!;
      const r1 = median(one.map((r) => r.perSecond));
      const r2 = median(two.map((r) => r.perSecond));
      const c1 = median(one.map((r) => r.cpuUsPerRequest));
      const c2 = median(two.map((r) => r.cpuUsPerRequest));
      // The share of requests each worker served, from its CPU time (the primary does no request work).
      const workerShares = two.map((r) => r.perProcessUs.filter((x) => x > 1).map((x) => Math.round(x)));
      return {
        operation: op,
        oneWorkerPerSecond: r1,
        twoWorkersPerSecond: r2,
        ratio: r2 / r1,
        cpuUsPerRequestOneWorker: c1,
        cpuUsPerRequestTwoWorkers: c2,
        projectedRatio: (2 * c1) / c2,
        twoWorkersCpuUsPerRequestByProcess: workerShares,
        met: r2 / r1 >= 1.6,
      };
    });
    for (const r of rows)
      console.log(
        `${r.operation.padEnd(10)}${r.oneWorkerPerSecond.toFixed(0).padEnd(12)}${r.twoWorkersPerSecond.toFixed(0).padEnd(13)}${r.ratio.toFixed(2).padEnd(8)}${r.cpuUsPerRequestOneWorker.toFixed(0).padEnd(14)}${r.cpuUsPerRequestTwoWorkers.toFixed(0).padEnd(14)}${r.projectedRatio.toFixed(2)}`,
      );
    console.log('ratio target >= 1.6; projected ratio: 2 x CPU per request with one worker / with two (each worker on a core of its own)');
    console.log(loadLine());
    writeResult(`scale-workers${suffix}.json`, {
      part: 'workers',
      serverCpus: SERVER_CPUS ?? 'any',
      loadGeneratorCpus: process.env.BENCH_LOAD_CPUS ?? 'any',
      loadGenerator: `bench/lib/load.ts runPipelined, ${CONNECTIONS} connections x ${DEPTH} pipelined`,
      seconds: SECONDS,
      rounds: ROUNDS,
      rows,
    });
  } finally {
    for (const s of servers) await s.server.stop();
    for (const s of stores) await s.remove();
  }
}

/** BENCH_CALLGRIND_KEEP=DIR keeps the measured dumps there (`<server>.<slice>.callgrind-TT`) for callgrind_annotate. */
const KEEP = process.env.BENCH_CALLGRIND_KEEP;

/** The key cache's TTL of the servers whose every request misses (ms, native, not stretched). */
const MISS_TTL_MS = 1000;

/** Events of callgrind dumps kept as `prefix`-TT (one file per thread), summed over the threads. */
function dumpEvents(dir: string, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of readdirSync(dir).filter((f) => f.startsWith(`${prefix}-`))) {
    const text = readFileSync(join(dir, f), 'utf8');
    const names = /^events:\s+(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/) ?? [];
    const totals = /^totals:\s+(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
    names.forEach((n, i) => (out[n] = (out[n] ?? 0) + (totals[i] ?? 0)));
  }
  return out;
}

/**
 * Instructions per Sign (callgrind) of one `symbolon serve --role kms` process on the large store and
 * on the small one, every request a key-cache miss, and on the small one with every request a hit;
 * one server at a time: warm-up uncounted, then slices counted between dumps.
 */
async function instructionsPart(large: number, small: number): Promise<void> {
  if (!haveCallgrind()) throw new Error('--instructions needs valgrind (callgrind_control) on the PATH');
  const warm = Number(process.env.BENCH_WARM ?? 2000);
  const measuredCount = Number(process.env.BENCH_MEASURED ?? 200);
  const slices = Number(process.env.BENCH_SLICES ?? 3);
  const cacheSim = process.env.BENCH_CACHE_SIM === '1';
  const [connections, depth] = [4, 2];
  const started = performance.now();
  const configs = [
    { name: 'large', keys: large, keyCacheTtlMs: MISS_TTL_MS },
    { name: 'small', keys: small, keyCacheTtlMs: MISS_TTL_MS },
    { name: 'small-hit', keys: small, keyCacheTtlMs: 3_600_000 },
  ].filter((c) => (process.env.BENCH_SCALE_SERVERS ?? 'large,small,small-hit').split(',').includes(c.name));
  const stores = new Map<number, FilledStore>();
  for (const c of configs) if (!stores.has(c.keys)) stores.set(c.keys, await cachedStore(c.keys));
  const rows: Array<{
    server: string;
    keys: number;
    distinctKeysRequested: number;
    keyCacheTtlMs: number;
    keyComesRoundAfterSeconds: number;
    everyRequestMisses: boolean;
    instructionsPerSign: number;
    mainThreadInstructionsPerSign: number;
    llMissesPerSign?: number;
    slices: Array<{ all: number; main: number; seconds: number; llMisses?: number }>;
  }> = [];
  for (const c of configs) {
    const store = stores.get(c.keys)!;
    const cg = callgrindRun();
    // The custodian's interval settings stretched as bench:kms --instructions does (each request carries its
    // native share), but for the key cache's TTL, which this part sets per server.
    const env = { ...slowedTimers(SLOWDOWN), SYMBOLON_KEY_CACHE_TTL_MS: String(c.keyCacheTtlMs) };
    const server = await startServer({
      workers: '1',
      args: ['--role', 'kms'],
      store,
      wrap: cacheSim ? [...cg.wrap, '--cache-sim=yes'] : cg.wrap,
      startTimeoutMs: 600_000,
      env,
    });
    try {
      const pid = server.child.pid!;
      // Signed just before each batch: under callgrind a run outlasts SigV4's 5 minutes.
      const run = async (n: number, offset: number) => {
        for (let done = 0; done < n; done += 1000) {
          const chunk = Math.min(1000, n - done);
          const ids = Array.from({ length: chunk }, (_, i) => store.sample[(offset + done + i) % store.sample.length]!);
          const r = await runCount(server.port, await signRequests(server.port, ids), chunk, connections, depth);
          if (r.errors > 0) throw new Error(`${c.name}: ${r.errors} errors (${r.firstError})`);
        }
      };
      await run(warm, 0); // uncounted
      await instrumentOn(pid, cg.dir);
      const all: number[] = [];
      const main: number[] = [];
      const llMisses: number[] = [];
      const seconds: number[] = [];
      for (let i = 0; i < slices; i++) {
        const t0 = performance.now();
        await run(measuredCount, warm + i * measuredCount);
        seconds.push((performance.now() - t0) / 1000);
        const keep = `slice${i + 1}`;
        const kept = KEEP ? join(KEEP, `${c.name}.${i + 1}.callgrind`) : cacheSim ? join(cg.dir, keep) : undefined;
        const ir = await dumpInstructions(pid, cg.dir, kept);
        all.push(ir.all / measuredCount);
        main.push(ir.main / measuredCount);
        if (cacheSim) {
          const ev = KEEP ? dumpEvents(KEEP, `${c.name}.${i + 1}.callgrind`) : dumpEvents(cg.dir, keep);
          llMisses.push(((ev.ILmr ?? 0) + (ev.DLmr ?? 0) + (ev.DLmw ?? 0)) / measuredCount);
        }
        console.log(
          `${c.name} (${c.keys} keys) slice ${i + 1}: ${(ir.all / measuredCount / 1e6).toFixed(3)} M instructions per Sign, main thread ${(ir.main / measuredCount / 1e6).toFixed(3)} M${cacheSim ? `, ${llMisses.at(-1)!.toFixed(0)} LL misses` : ''} (${seconds.at(-1)!.toFixed(1)} s)`,
        );
      }
      // A key comes round again after sample.length requests: a miss when that takes longer than the TTL.
      const revisitSeconds = (Math.min(...seconds) / measuredCount) * store.sample.length;
      rows.push({
        server: c.name,
        keys: c.keys,
        distinctKeysRequested: store.sample.length,
        keyCacheTtlMs: c.keyCacheTtlMs,
        keyComesRoundAfterSeconds: revisitSeconds,
        everyRequestMisses: store.sample.length > 10_000 || revisitSeconds * 1000 > c.keyCacheTtlMs,
        instructionsPerSign: median(all),
        mainThreadInstructionsPerSign: median(main),
        ...(cacheSim ? { llMissesPerSign: median(llMisses) } : {}),
        slices: all.map((x, i) => ({
          all: Math.round(x),
          main: Math.round(main[i]!),
          seconds: seconds[i]!,
          ...(cacheSim ? { llMisses: Math.round(llMisses[i]!) } : {}),
        })),
      });
    } finally {
      await server.stop();
      cg.cleanup();
    }
  }
  const M = (x: number) => `${(x / 1e6).toFixed(3)} M`;
  console.log(
    `\nSign (secp256k1, DIGEST) by store size, instructions per request (callgrind, all threads of one server process), ${warm} warm-up then ${slices} x ${measuredCount}, ${connections} connections x ${depth} pipelined, embedded SQLite`,
  );
  console.log(
    `${'server'.padEnd(11)}${'keys'.padEnd(9)}${'TTL ms'.padEnd(9)}${'misses'.padEnd(8)}${'all'.padEnd(10)}${'main'.padEnd(10)}${cacheSim ? 'LL misses' : ''}`,
  );
  for (const r of rows)
    console.log(
      `${r.server.padEnd(11)}${String(r.keys).padEnd(9)}${String(r.keyCacheTtlMs).padEnd(9)}${(r.everyRequestMisses ? 'every' : 'none').padEnd(8)}${M(r.instructionsPerSign).padEnd(10)}${M(r.mainThreadInstructionsPerSign).padEnd(10)}${r.llMissesPerSign !== undefined ? r.llMissesPerSign.toFixed(0) : ''}`,
    );
  const by = (name: string) => rows.find((r) => r.server === name);
  const [l, s, h] = [by('large'), by('small'), by('small-hit')];
  // Instructions per Sign are CPU per Sign: the rate ratio they project is the inverse of their ratio.
  const ratioMiss = l && s ? s.instructionsPerSign / l.instructionsPerSign : undefined;
  const ratioHit = l && h ? h.instructionsPerSign / l.instructionsPerSign : undefined;
  const ratioMissMain = l && s ? s.mainThreadInstructionsPerSign / l.mainThreadInstructionsPerSign : undefined;
  if (ratioMiss !== undefined)
    console.log(
      `projected rate ratio (small store's instructions per Sign / large's), both missing: ${ratioMiss.toFixed(3)} (main thread ${ratioMissMain!.toFixed(3)}; target >= 0.90: ${ratioMiss >= 0.9 ? 'met' : 'NOT met'}); the store's size adds ${M(l!.instructionsPerSign - s!.instructionsPerSign)}`,
    );
  if (ratioHit !== undefined)
    console.log(`against the small store with every request a hit: ${ratioHit.toFixed(3)} (target >= 0.90: ${ratioHit >= 0.9 ? 'met' : 'NOT met'})`);
  if (s && h) console.log(`a key-cache miss costs ${M(s.instructionsPerSign - h.instructionsPerSign)} (small store, miss against hit)`);
  if (rows.some((r) => !r.everyRequestMisses && r.keyCacheTtlMs === MISS_TTL_MS))
    console.log('WARNING: a key came round within the TTL: not every request missed');
  console.log(`${((performance.now() - started) / 1000).toFixed(0)} s; ${loadLine()}`);
  writeResult('scale-instructions.json', {
    part: 'instructions',
    method: `valgrind --tool=callgrind${cacheSim ? ' --cache-sim=yes' : ''}, callgrind_control --dump around each slice; server: symbolon serve --role kms --workers 1`,
    notCounted:
      'the kernel (SQLite reads the store file through pread: page-cache copies and syscalls) and memory stalls; llMissesPerSign (BENCH_CACHE_SIM=1) is the simulated last-level cache misses of user space',
    timersStretchedBy: SLOWDOWN,
    keySelection: "the keys part's shuffled sample of the store's keys, cycled in order from the warm-up on",
    warmUpRequests: warm,
    measuredRequestsPerSlice: measuredCount,
    slices,
    connections,
    depth,
    rows,
    projectedRateRatio: { bothMissing: ratioMiss, bothMissingMainThread: ratioMissMain, againstSmallHitting: ratioHit },
    target: 0.9,
  });
}

/**
 * What a key-cache miss costs the store, in this process: the one read of a key
 * not in the cache (findKeyForUse) on each cached store, alternating rounds;
 * the minimum CPU per read of each is the figure least moved by other jobs.
 */
async function missPart(large: number, small: number): Promise<void> {
  const N = Number(process.env.BENCH_MISS_READS ?? 3000);
  const opened = [];
  for (const n of [small, large]) {
    const filled = await cachedStore(n);
    // Each store twice: with the page cache the store opens with (src/storage/database.ts), and with SQLite's default.
    for (const pageCache of ['store', 'sqlite-default'] as const) {
      const store = await openStore({ sqliteFile: join(filled.dataDir, 'symbolon.db') });
      if (pageCache === 'sqlite-default') await sql`pragma cache_size = -2000`.execute(store.db);
      const { rows } = await sql<{ cache_size: number }>`pragma cache_size`.execute(store.db);
      opened.push({ keys: n, pageCacheKiB: -rows[0]!.cache_size, store, ids: filled.sample, at: 0, cpu: [] as number[], sys: [] as number[] });
    }
  }
  try {
    for (let round = 0; round < 2 * ROUNDS + 1; round++)
      for (const o of round % 2 === 0 ? opened : [...opened].reverse()) {
        const c0 = process.cpuUsage();
        for (let i = 0; i < N; i++) if (!(await findKeyForUse(o.store.db, o.ids[o.at++ % o.ids.length]!))) throw new Error('a sampled key is missing');
        const c = process.cpuUsage(c0);
        if (round > 0) {
          // round 0 warms up
          o.cpu.push((c.user + c.system) / N);
          o.sys.push(c.system / N);
        }
      }
    const rows = opened.map((o) => ({
      keys: o.keys,
      pageCacheKiB: o.pageCacheKiB,
      minCpuUsPerRead: Math.min(...o.cpu),
      medianCpuUsPerRead: median(o.cpu),
      medianSystemCpuUsPerRead: median(o.sys),
      rounds: o.cpu.map((x) => Math.round(x)),
    }));
    console.log(
      `\nOne key-cache miss's store read (findKeyForUse: key, material, signing policy), in-process, ${2 * ROUNDS} alternating rounds of ${N} reads; SQLite page cache as the store opens it and at SQLite's default`,
    );
    for (const r of rows)
      console.log(
        `${String(r.keys).padEnd(10)}${`${(r.pageCacheKiB / 1024).toFixed(1)} MiB cache`.padEnd(16)} min ${r.minCpuUsPerRead.toFixed(1)} µs, median ${r.medianCpuUsPerRead.toFixed(1)} µs of CPU per read (system ${r.medianSystemCpuUsPerRead.toFixed(1)} µs)`,
      );
    console.log(loadLine());
    writeResult('scale-miss.json', { part: 'miss', readsPerRound: N, rows });
  } finally {
    for (const o of opened) await o.store.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      keys: { type: 'string' },
      small: { type: 'string' },
      workers: { type: 'boolean' },
      miss: { type: 'boolean' },
      instructions: { type: 'boolean' },
    },
    strict: true,
  });
  if (process.env.BENCH_LOAD_CPUS) execFileSync('taskset', ['-cp', process.env.BENCH_LOAD_CPUS, String(process.pid)], { stdio: 'ignore' });
  if (values.workers) return workersPart();
  const large = Number(values.keys ?? 1_000_000);
  const small = Number(values.small ?? 1000);
  if (!Number.isInteger(large) || !Number.isInteger(small) || small < 1 || large <= small) throw new RangeError('--keys must be an integer above --small');
  if (values.miss) {
    if (DATABASE_URL || STORE_CACHE === 'off') throw new RangeError('--miss reads the cached SQLite stores (no DATABASE_URL, BENCH_STORE_CACHE not off)');
    return missPart(large, small);
  }
  if (values.instructions) {
    if (DATABASE_URL || STORE_CACHE === 'off')
      throw new RangeError('--instructions serves the cached SQLite stores (no DATABASE_URL, BENCH_STORE_CACHE not off)');
    return instructionsPart(large, small);
  }
  await keysPart(large, small);
}

await main();
