/**
 * `npm run bench:kms`: the custodian under load over HTTP with real SigV4.
 * The server runs in its own process (`symbolon serve`, embedded SQLite unless
 * DATABASE_URL is set); this process pre-signs requests and drives them over
 * keep-alive connections. Each operation is printed beside its in-process
 * ceiling (the same keystore call in a loop) and the ratio; results go to
 * bench/results/kms.json. Both processes share the machine's cores.
 *
 * First, Sign against its yardstick (issue #19): one `symbolon serve --role kms
 * --workers 1` process and a bare fastify route doing one libsecp256k1 sign
 * (bench/lib/bare-server.ts), the same load generator, BENCH_ROUNDS (default
 * 3) alternating rounds in one run; each round's rates, the server processes'
 * CPU per request (from /proc), the ratio, and the median ratio (target
 * >= 0.75) and CPU ratio; then p99 at half the custodian's saturation rate,
 * its best round (target <= 15 ms).
 * `-- --versus-bare` runs only that part.
 *
 * `-- --ablate` finds where a Sign's CPU goes: a benchmark-only build of the
 * endpoint (bench/lib/kms-server.ts) with one component off at a time (SigV4,
 * policy, audit, metrics), server CPU per request of each beside the full
 * build's; bench/results/kms-cpu.json.
 *
 * `-- --stages` measures each stage of a Sign in this process, one at a
 * time in a loop (bench/lib/kms-stages.ts: signature, key open, SigV4, the
 * Sign operation, audit, metrics, the whole request and a bare route through
 * inject()): CPU per call, steady on a loaded machine where rates are not;
 * bench/results/kms-stages.json.
 *
 * `-- --sustained SECONDS` holds Sign at 50 % of its measured peak (one
 * process) for SECONDS in slices of 10 s, after one uncounted settling slice
 * at that rate (the peak measurement leaves RSS and the JIT where saturation
 * put them): errors (with the first error's text), p99 of all the requests
 * of the first and of the last tenth of the slices (pooled), RSS and server
 * CPU per request as means over those slices, each slice printed as it ends
 * with this process's own event-loop delay (the generator's stalls read as
 * the server's latency);
 * bench/results/kms-sustained.json (targets: no errors, p99 at the end within
 * 20 % of the start, RSS within 10 %; BENCH_RESULT names another file,
 * BENCH_RATE fixes the rate instead of half the peak).
 * Each slice also gives the server's own stalls from its /metrics: event-loop
 * delay p99 and max over the slice, GC pause time by kind and pauses of
 * 10 ms or more, steadier on a loaded machine than the end-to-end p99. Fixed rates are driven
 * open-loop over raw keep-alive sockets (runFixedRateRaw), latency from when
 * each request was due.
 *
 * `-- --audit-growth EVENTS` asks whether a Sign costs more as the audit
 * table grows: in this process (bench/lib/kms-stages.ts), the CPU per
 * appended event and per whole Sign (inject(), no socket) at table sizes
 * from 0 to EVENTS in five steps; bench/results/kms-audit-growth.json.
 *
 * `-- --instructions` counts instead of timing (issue #19 item 1 on a
 * shared machine): the same one-process `symbolon serve --role kms` and the
 * bare route, each in turn under `valgrind --tool=callgrind` (counting
 * off through start-up and BENCH_WARM, default 2,000, Sign requests to warm
 * up, then on), then BENCH_SLICES (default 3)
 * slices of BENCH_MEASURED (default 200) requests, 4 connections x 2
 * pipelined; `callgrind_control --dump` around each slice gives the server's
 * instructions per request, of all its threads and of its main thread alone
 * (without V8's concurrent compiler and marking threads, the steadier
 * figure), the median slice of each and the ratios bare/Symbolon (target
 * >= 0.75, as the throughput ratio);
 * bench/results/kms-instructions.json. The custodian's time-driven
 * settings (audit flush interval, key-cache TTL, checkpoint interval) are
 * stretched by BENCH_SLOWDOWN (default 50, about callgrind's slowdown) so
 * that each request carries its native share of per-interval work.
 * BENCH_CALLGRIND_KEEP=DIR keeps the
 * measured dumps for callgrind_annotate; BENCH_SERVERS=symbolon counts only
 * the custodian. A few minutes; needs valgrind.
 *
 * `-- --instructions --ablate` counts the ablation builds the same way: the
 * benchmark build of the endpoint (bench/lib/kms-server.ts) whole and with
 * each component off in turn (SigV4, policy, audit, metrics; BENCH_BUILDS,
 * e.g. `full,audit`, picks some), one server after another under callgrind;
 * each component's instructions per Sign (all threads and main thread) are
 * the full build's median minus its build's;
 * bench/results/kms-instructions-ablate.json. Each build is warmed and
 * counted separately, so a component smaller than the slices' spread (JIT
 * and GC: ±10 % at 3 x 200 after 2,000) needs more (BENCH_WARM,
 * BENCH_SLICES, BENCH_MEASURED).
 *
 * Every result file carries the core count, Node version and load average.
 *
 * BENCH_ROOTS=file,pkcs11 compares roots of trust instead: one server per
 * root (pkcs11 on a SoftHSM2 token in a temporary directory), Sign driven at
 * each in alternating rounds (BENCH_ROUNDS, default 3) in the same run; the
 * median of each and the ratio to the file root's go to
 * bench/results/kms-roots.json (target: within 5 %, the hot path never
 * touches the root).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { createMaterial, decrypt, encrypt, signDigest } from '../src/kms/keystore.js';
import { KeyRootOfTrust } from '../src/root/root-of-trust.js';
import { auditSettingsFromEnv } from '../src/audit/settings.js';
import {
  BENCH_ADMIN,
  BENCH_REGION,
  ceiling,
  cpuMs,
  makeSigner,
  runCount,
  runPipelined,
  pooledPercentile,
  runFixedRateRaw,
  signKmsRequest,
  startServer,
  type LoadResult,
  type PreparedRequest,
  type ServerProcess,
  type StartOptions,
} from './lib/load.js';
import { measureAuditGrowth, measureStages } from './lib/kms-stages.js';
import { COMPONENTS } from './lib/kms-components.js';
import { loadLine, rssMb, writeResult } from './lib/results.js';
import { SKIP_WITHOUT_HSM, softHsm } from '../test/helpers/softhsm.js';
import { callgrindRun, dumpInstructions, haveCallgrind, instrumentOn, SLOWDOWN, slowedTimers } from './lib/instructions.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DEPTH = Number(process.env.BENCH_DEPTH ?? 4);
const CONCURRENCY = CONNECTIONS * DEPTH;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Seconds of load before measuring (BENCH_WARMUP): the first seconds run cold code, worse on a loaded machine. */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);

interface Row {
  operation: string;
  load: LoadResult;
  ceilingPerSecond: number;
  ratio: number;
  target: string;
  met: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const DIGESTS = Array.from({ length: 1024 }, () => new Uint8Array(randomBytes(32)));

/** A Sign request body for digest `i` (the same bodies go to the bare route). */
function signBody(keyId: string, i: number) {
  return { KeyId: keyId, Message: b64(DIGESTS[i % DIGESTS.length]!), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' };
}

async function presign(port: number, n: number, target: string, payload: (i: number) => unknown): Promise<PreparedRequest[]> {
  const signer = makeSigner();
  const out: PreparedRequest[] = [];
  for (let i = 0; i < n; i++) out.push(await signKmsRequest(port, target, payload(i), signer));
  return out;
}

/** A started server with one secp256k1 signing key and 4,096 pre-signed Sign requests for it. */
interface SignServer {
  server: ServerProcess;
  keyId: string;
  signReqs: PreparedRequest[];
  kms: KMSClient;
  stop(): Promise<void>;
}

/** Starts a server (symbolon serve, or a benchmark build), creates a signing key and pre-signs Sign requests. */
async function startSignServer(options: StartOptions): Promise<SignServer> {
  const server = await startServer(options);
  const kms = new KMSClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
  try {
    const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const signReqs = await presign(server.port, 4096, 'Sign', (i) => signBody(keyId, i));
    return {
      server,
      keyId,
      signReqs,
      kms,
      async stop() {
        kms.destroy();
        await server.stop();
      },
    };
  } catch (e) {
    kms.destroy();
    await server.stop();
    throw e;
  }
}

/** A closed-loop run with the server process's CPU time over it. */
async function measured(
  server: ServerProcess,
  reqs: PreparedRequest[],
  seconds = SECONDS,
): Promise<LoadResult & { serverCpuUsPerRequest: number | undefined }> {
  const pid = server.child.pid!;
  const cpu0 = cpuMs(pid);
  const load = await runPipelined(server.port, reqs, CONNECTIONS, DEPTH, seconds);
  const cpu1 = cpuMs(pid);
  if (load.errors > 0) throw new Error(`${load.errors} errors (${load.firstError})`);
  const serverCpuUsPerRequest = cpu0 !== undefined && cpu1 !== undefined && load.requests > 0 ? ((cpu1 - cpu0) * 1000) / load.requests : undefined;
  return { ...load, serverCpuUsPerRequest };
}

const us = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(0));

/** Sign on one custodian process against a bare fastify + libsecp256k1 route, alternating rounds in one run. */
async function versusBare(): Promise<Record<string, unknown>> {
  const bare = await startServer({ script: 'bench/lib/bare-server.ts' });
  let sym: SignServer | undefined;
  try {
    sym = await startSignServer({ workers: '1', args: ['--role', 'kms'] });
    const bareReqs = sym.signReqs.map((r) => ({ ...r }));
    await runPipelined(bare.port, bareReqs, CONNECTIONS, DEPTH, WARMUP); // warm up
    await runPipelined(sym.server.port, sym.signReqs, CONNECTIONS, DEPTH, WARMUP);
    const rounds: Array<{ bare: number; symbolon: number; ratio: number; bareCpuUs: number | undefined; symbolonCpuUs: number | undefined }> = [];
    console.log(`\nSign (secp256k1, DIGEST), one process each, ${CONCURRENCY} in flight, ${ROUNDS} alternating rounds of ${SECONDS}s, ${cpus().length} cores`);
    console.log(`${'round'.padEnd(7)}${'bare/s'.padEnd(9)}${'Symbolon/s'.padEnd(12)}${'ratio'.padEnd(8)}${'CPU µs/req bare'.padEnd(17)}Symbolon`);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['bare', 'sym'] as const) : (['sym', 'bare'] as const);
      const got: Record<string, Awaited<ReturnType<typeof measured>>> = {};
      for (const which of order) got[which] = which === 'bare' ? await measured(bare, bareReqs) : await measured(sym.server, sym.signReqs);
      const r = {
        bare: Math.round(got.bare!.perSecond),
        symbolon: Math.round(got.sym!.perSecond),
        ratio: got.sym!.perSecond / got.bare!.perSecond,
        bareCpuUs: got.bare!.serverCpuUsPerRequest,
        symbolonCpuUs: got.sym!.serverCpuUsPerRequest,
      };
      rounds.push(r);
      console.log(
        `${String(round + 1).padEnd(7)}${String(r.bare).padEnd(9)}${String(r.symbolon).padEnd(12)}${r.ratio.toFixed(2).padEnd(8)}${us(r.bareCpuUs).padEnd(17)}${us(r.symbolonCpuUs)}`,
      );
    }
    const ratio = median(rounds.map((r) => r.ratio));
    // Server CPU per request, bare over Symbolon: what the ratio would be if each server had a core to itself.
    const cpuRatios = rounds.filter((r) => r.bareCpuUs && r.symbolonCpuUs).map((r) => r.bareCpuUs! / r.symbolonCpuUs!);
    const cpuRatio = cpuRatios.length ? median(cpuRatios) : undefined;
    // The saturation rate: the best round (a busy machine only ever lowers it).
    const peak = Math.max(...rounds.map((r) => r.symbolon));
    const half = Math.round(peak / 2);
    const atHalf = await runFixedRateRaw(sym.server.port, sym.signReqs, half, SECONDS);
    console.log(`median ratio ${ratio.toFixed(2)} (target >= 0.75: ${ratio >= 0.75 ? 'met' : 'NOT met'})`);
    if (cpuRatio !== undefined) console.log(`median CPU ratio (bare CPU per request / Symbolon's) ${cpuRatio.toFixed(2)}`);
    console.log(
      `Sign at ${half}/s (half the best round): p50 ${atHalf.p50ms.toFixed(2)} ms, p99 ${atHalf.p99ms.toFixed(2)} ms, ${atHalf.errors} errors (target p99 <= 15 ms: ${atHalf.p99ms <= 15 && atHalf.errors === 0 ? 'met' : 'NOT met'})`,
    );
    console.log(loadLine());
    return {
      loadGenerator: `bench/lib/load.ts runPipelined, ${CONNECTIONS} connections x ${DEPTH} pipelined`,
      seconds: SECONDS,
      rounds,
      medianRatio: ratio,
      medianCpuRatio: cpuRatio,
      ratioTarget: 0.75,
      ratioMet: ratio >= 0.75,
      atHalfPeak: { rate: half, ...atHalf, target: 'p99 <= 15 ms', met: atHalf.p99ms <= 15 && atHalf.errors === 0 },
    };
  } finally {
    await sym?.stop();
    await bare.stop();
  }
}

/** Server CPU per Sign with one component of the endpoint switched off at a time (bench/lib/kms-server.ts). */
async function ablate(): Promise<void> {
  const builds = ['', ...COMPONENTS];
  const servers: Array<{ off: string; s: SignServer; cpu: number[]; perSecond: number[] }> = [];
  try {
    for (const off of builds) {
      const s = await startSignServer({ script: 'bench/lib/kms-server.ts', env: off ? { BENCH_DISABLE: off } : {} });
      await runPipelined(s.server.port, s.signReqs, CONNECTIONS, DEPTH, WARMUP); // warm up
      servers.push({ off, s, cpu: [], perSecond: [] });
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const x of round % 2 === 0 ? servers : [...servers].reverse()) {
        const r = await measured(x.s.server, x.s.signReqs);
        x.cpu.push(r.serverCpuUsPerRequest ?? NaN);
        x.perSecond.push(r.perSecond);
      }
    }
    const full = median(servers[0]!.cpu);
    console.log(`\nSign: server CPU per request by build, one process, ${ROUNDS} alternating rounds of ${SECONDS}s, ${CONCURRENCY} in flight`);
    console.log(`${'build'.padEnd(16)}${'req/s'.padEnd(9)}${'CPU µs/req'.padEnd(12)}saved by switching it off`);
    const rows = servers.map((x) => {
      const cpu = median(x.cpu);
      return { build: x.off ? `no ${x.off}` : 'full', perSecond: Math.round(median(x.perSecond)), cpuUsPerRequest: cpu, rounds: x.cpu, savedUs: full - cpu };
    });
    for (const r of rows)
      console.log(
        `${r.build.padEnd(16)}${String(r.perSecond).padEnd(9)}${r.cpuUsPerRequest.toFixed(0).padEnd(12)}${r.build === 'full' ? '' : r.savedUs.toFixed(0)}`,
      );
    console.log(loadLine());
    writeResult('kms-cpu.json', { seconds: SECONDS, rounds: ROUNDS, concurrency: CONCURRENCY, rows });
  } finally {
    for (const x of servers) await x.s.stop();
  }
}

/**
 * Sign held at 50 % of its peak (one process) for `total` seconds, in slices of 10 s (fewer when short):
 * errors over all, p99 and RSS of the first and the last tenth of the run.
 */
/** The server's own view of a slice, from two scrapes of its /metrics (prom-client's process metrics). */
interface ServerStalls {
  /** Event-loop delay over the slice (monitorEventLoopDelay, reset by each scrape): p99 and max, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** GC pause time over the slice by kind (major, minor, incremental, weakcb), ms, and pauses of 10 ms or more. */
  gcMs: Record<string, number>;
  gcPausesOver10ms: number;
}

/** One scrape of /metrics: the samples sustained() reads, by name and labels. */
async function scrapeStalls(endpoint: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('symbolon_nodejs_eventloop_lag_') && !line.startsWith('symbolon_nodejs_gc_duration_seconds')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** What happened between two scrapes (the event-loop figures are the second scrape's: it resets them). */
function stallsBetween(before: Map<string, number>, after: Map<string, number>): ServerStalls {
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const gcMs: Record<string, number> = {};
  let gcPausesOver10ms = 0;
  for (const name of after.keys()) {
    const sum = /^symbolon_nodejs_gc_duration_seconds_sum\{kind="(\w+)"\}$/.exec(name);
    if (sum) gcMs[sum[1]!] = delta(name) * 1000;
    const bucket = /^symbolon_nodejs_gc_duration_seconds_bucket\{le="0.01",kind="(\w+)"\}$/.exec(name);
    if (bucket) gcPausesOver10ms += delta(`symbolon_nodejs_gc_duration_seconds_count{kind="${bucket[1]}"}`) - delta(name);
  }
  return {
    loopDelayP99Ms: (after.get('symbolon_nodejs_eventloop_lag_p99_seconds') ?? Number.NaN) * 1000,
    loopDelayMaxMs: (after.get('symbolon_nodejs_eventloop_lag_max_seconds') ?? Number.NaN) * 1000,
    gcMs,
    gcPausesOver10ms,
  };
}

async function sustained(total: number): Promise<void> {
  if (!Number.isFinite(total) || total < 10) throw new RangeError('--sustained needs a duration of at least 10 seconds');
  const s = await startSignServer({ workers: '1', args: ['--role', 'kms'] });
  try {
    const pid = s.server.child.pid!;
    await runPipelined(s.server.port, s.signReqs, CONNECTIONS, DEPTH, WARMUP); // warm up
    const peak = await measured(s.server, s.signReqs);
    // BENCH_RATE fixes the rate (A/B runs of two builds or settings at the same load); else half the measured peak.
    const rate = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : Math.round(peak.perSecond / 2);
    if (!Number.isFinite(rate) || rate <= 0) throw new RangeError('BENCH_RATE must be a positive number of requests per second');
    const slice = Math.min(10, total / 6);
    const slices: Array<
      {
        at: number;
        requests: number;
        errors: number;
        firstError?: string;
        p50ms: number;
        p99ms: number;
        rssMb: number | undefined;
        serverCpuUsPerRequest: number | undefined;
        loadAverage1m: number;
        generatorLoopMaxMs: number;
      } & ServerStalls
    > = [];
    console.log(
      `\nSign sustained at ${rate}/s (${process.env.BENCH_RATE ? 'BENCH_RATE' : '50 %'} of the peak ${peak.perSecond.toFixed(0)}/s, one process) for ${total}s in slices of ${slice}s`,
    );
    // One uncounted slice at the rate first: the peak measurement leaves the server's heap (RSS) and JIT
    // where saturation put them, so the first counted slice would compare the run against the peak.
    const settle = await runFixedRateRaw(s.server.port, s.signReqs, rate, slice);
    console.log(`  settling slice (not counted): p99 ${settle.p99ms.toFixed(2)} ms, errors ${settle.errors}, RSS ${rssMb(pid)?.toFixed(1) ?? 'n/a'} MB`);
    // This process's own event-loop delay per slice: the generator stalling delays the requests it
    // sends and the answers it times (latency runs from when each was due), which reads as the server's tail.
    const generatorLoop = monitorEventLoopDelay({ resolution: 1 });
    generatorLoop.enable();
    const latencies: LoadResult[] = [];
    const started = performance.now();
    let scraped = await scrapeStalls(s.server.endpoint); // resets the event-loop histogram: slices start clean
    // SigV4 signatures are valid for 5 minutes (X-Amz-Date): the requests are signed again every 2,
    // between slices, or a run longer than 5 minutes measures the server refusing expired ones.
    let signReqs = s.signReqs;
    let signedAt = performance.now();
    while ((performance.now() - started) / 1000 < total - slice / 2) {
      if (performance.now() - signedAt > 120_000) {
        signReqs = await presign(s.server.port, 4096, 'Sign', (i) => signBody(s.keyId, i));
        signedAt = performance.now();
      }
      const cpu0 = cpuMs(pid);
      generatorLoop.reset();
      const r = await runFixedRateRaw(s.server.port, signReqs, rate, slice, undefined, true);
      const cpu1 = cpuMs(pid);
      const generatorLoopMaxMs = generatorLoop.max / 1e6;
      latencies.push(r);
      const scrape = await scrapeStalls(s.server.endpoint);
      const stalls = stallsBetween(scraped, scrape);
      scraped = scrape;
      const row = {
        at: Math.round((performance.now() - started) / 1000),
        requests: r.requests,
        errors: r.errors,
        ...(r.firstError ? { firstError: r.firstError } : {}),
        p50ms: r.p50ms,
        p99ms: r.p99ms,
        rssMb: rssMb(pid),
        // Server CPU per answered request: on a loaded machine the steadier sign of drift than latency.
        serverCpuUsPerRequest: cpu0 !== undefined && cpu1 !== undefined && r.requests > 0 ? ((cpu1 - cpu0) * 1000) / r.requests : undefined,
        // Other jobs on the machine raise both CPU per request and the tail: each slice says how busy it was.
        loadAverage1m: loadavg()[0]!,
        // The server's own stalls, far less sensitive to other jobs than the end-to-end p99.
        ...stalls,
        generatorLoopMaxMs,
      };
      slices.push(row);
      console.log(
        `  ${String(row.at).padStart(5)}s  ${r.perSecond.toFixed(0)}/s  p99 ${r.p99ms.toFixed(2)} ms  errors ${r.errors}  RSS ${row.rssMb?.toFixed(1) ?? 'n/a'} MB  CPU ${us(row.serverCpuUsPerRequest)} µs/req  load ${row.loadAverage1m.toFixed(1)}  loop p99 ${row.loopDelayP99Ms.toFixed(1)} max ${row.loopDelayMaxMs.toFixed(1)} ms  GC ${Object.entries(
          row.gcMs,
        )
          .filter(([, v]) => v > 0)
          .map(([k, v]) => `${k} ${v.toFixed(0)}`)
          .join(' ')} ms (${row.gcPausesOver10ms} ≥ 10 ms)  generator loop max ${generatorLoopMaxMs.toFixed(1)} ms`,
      );
      if (r.firstError) console.log(`         first error: ${r.firstError}`);
    }
    // Start and end: the means over the first and the last tenth of the slices (one slice at least).
    const tenth = Math.max(1, Math.round(slices.length / 10));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const meanOf = (xs: Array<number | undefined>) => (xs.every((x) => x !== undefined && Number.isFinite(x)) ? mean(xs as number[]) : undefined);
    const first = slices.slice(0, tenth);
    const last = slices.slice(-tenth);
    generatorLoop.disable();
    // p99 of all the requests of the first and of the last tenth, pooled (not a mean of slice p99s, which
    // follows the worst slice); the mean and the median of the slices' p99s beside it.
    const p99Start = pooledPercentile(latencies.slice(0, tenth), 99);
    const p99End = pooledPercentile(latencies.slice(-tenth), 99);
    const p99StartMean = mean(first.map((x) => x.p99ms));
    const p99EndMean = mean(last.map((x) => x.p99ms));
    const p99StartMedian = median(first.map((x) => x.p99ms));
    const p99EndMedian = median(last.map((x) => x.p99ms));
    const loadStart = mean(first.map((x) => x.loadAverage1m));
    const loadEnd = mean(last.map((x) => x.loadAverage1m));
    const rssStart = meanOf(first.map((x) => x.rssMb));
    const rssEnd = meanOf(last.map((x) => x.rssMb));
    const cpuStart = meanOf(first.map((x) => x.serverCpuUsPerRequest));
    const cpuEnd = meanOf(last.map((x) => x.serverCpuUsPerRequest));
    const errors = slices.reduce((a, x) => a + x.errors, 0);
    const firstError = slices.find((x) => x.firstError)?.firstError;
    // A slice with no answered request has no p99 (NaN): never "met".
    const p99Met = Number.isFinite(p99Start) && Number.isFinite(p99End) && p99End <= p99Start * 1.2;
    const rssMet = rssStart !== undefined && rssEnd !== undefined && Math.abs(rssEnd - rssStart) <= rssStart * 0.1;
    console.log(`errors ${errors} (target 0: ${errors === 0 ? 'met' : 'NOT met'})${firstError ? `; first: ${firstError}` : ''}`);
    console.log(`p99 start ${p99Start.toFixed(2)} ms, end ${p99End.toFixed(2)} ms (target end within 20 % of start: ${p99Met ? 'met' : 'NOT met'})`);
    console.log(
      `slice p99s, mean start ${p99StartMean.toFixed(2)} ms, end ${p99EndMean.toFixed(2)} ms; median start ${p99StartMedian.toFixed(2)} ms, end ${p99EndMedian.toFixed(2)} ms; load average start ${loadStart.toFixed(1)}, end ${loadEnd.toFixed(1)}`,
    );
    console.log(`RSS start ${rssStart?.toFixed(1)} MB, end ${rssEnd?.toFixed(1)} MB (target within 10 %: ${rssMet ? 'met' : 'NOT met'})`);
    console.log(`server CPU per request start ${us(cpuStart)} µs, end ${us(cpuEnd)} µs (start and end: means over the first and the last ${tenth} slice(s))`);
    console.log(loadLine());
    const loopMax = Math.max(...slices.map((x) => x.loopDelayMaxMs));
    const loopP99Median = median(slices.map((x) => x.loopDelayP99Ms));
    const gcPauses = slices.reduce((a, x) => a + x.gcPausesOver10ms, 0);
    console.log(
      `server event-loop delay: median slice p99 ${loopP99Median.toFixed(1)} ms, worst max ${loopMax.toFixed(1)} ms; GC pauses of 10 ms or more: ${gcPauses}`,
    );
    // As the server read them (it inherits this environment).
    const audit = auditSettingsFromEnv(process.env);
    writeResult(process.env.BENCH_RESULT ?? 'kms-sustained.json', {
      sqliteCheckpoints: process.env.SYMBOLON_SQLITE_CHECKPOINTS || 'inline',
      // The audit log's batching, which sets how long buffered events live (docs/audit.md, "Buffered events and the garbage collector").
      auditFlushMs: audit.flushIntervalMs,
      auditBatchSize: audit.batchSize,
      loopDelayP99MedianMs: loopP99Median,
      loopDelayMaxMs: loopMax,
      gcPausesOver10ms: gcPauses,
      seconds: total,
      sliceSeconds: slice,
      peakPerSecond: peak.perSecond,
      rate,
      errors,
      ...(firstError ? { firstError } : {}),
      p99StartMs: p99Start,
      p99EndMs: p99End,
      p99StartMeanMs: p99StartMean,
      p99EndMeanMs: p99EndMean,
      p99StartMedianMs: p99StartMedian,
      p99EndMedianMs: p99EndMedian,
      loadAverageStart: loadStart,
      loadAverageEnd: loadEnd,
      rssStartMb: rssStart,
      rssEndMb: rssEnd,
      serverCpuUsPerRequestStart: cpuStart,
      serverCpuUsPerRequestEnd: cpuEnd,
      startEndSlices: tenth,
      p99Method: 'p99 of all requests of the first and of the last tenth of the slices, pooled; one uncounted settling slice before them',
      generatorLoopMaxMs: Math.max(...slices.map((x) => x.generatorLoopMaxMs)),
      met: { errors: errors === 0, p99: p99Met, rss: rssMet },
      slices,
    });
  } finally {
    await s.stop();
  }
}

interface Counts {
  /** Instructions per Sign of each slice, all the server's threads. */
  all: number[];
  /** Instructions per Sign of each slice, the main thread alone. */
  main: number[];
}

/** The callgrind settings of an --instructions run (BENCH_WARM, BENCH_MEASURED, BENCH_SLICES). */
const CG = {
  warm: Number(process.env.BENCH_WARM ?? 2000),
  measured: Number(process.env.BENCH_MEASURED ?? 200),
  slices: Number(process.env.BENCH_SLICES ?? 3),
  connections: 4,
  depth: 2,
};

/**
 * Counts one server under callgrind: started with `options` (plus callgrind's wrap and the stretched
 * timers), BENCH_WARM uncounted Sign requests, then BENCH_SLICES slices of BENCH_MEASURED, each between
 * two dumps. `label` names the server in the output and in BENCH_CALLGRIND_KEEP's files.
 */
async function countServer(label: string, options: StartOptions, bare = false): Promise<Counts> {
  const { warm, measured: n0, slices, connections, depth } = CG;
  const keep = process.env.BENCH_CALLGRIND_KEEP;
  const cg = callgrindRun();
  const opts: StartOptions = { ...options, wrap: cg.wrap, startTimeoutMs: 600_000, env: { ...slowedTimers(SLOWDOWN), ...options.env } };
  const out: Counts = { all: [], main: [] };
  let stop: () => Promise<void> = async () => {};
  try {
    let port: number;
    let pid: number;
    let keyId: string;
    if (bare) {
      const server = await startServer(opts);
      stop = () => server.stop();
      [port, pid, keyId] = [server.port, server.child.pid!, randomUUID()];
    } else {
      const sym = await startSignServer(opts);
      stop = () => sym.stop();
      [port, pid, keyId] = [sym.server.port, sym.server.child.pid!, sym.keyId];
    }
    // Signed just before each batch: under callgrind on a busy machine a run can outlast SigV4's 5 minutes.
    const run = async (n: number, offset: number) => {
      for (let done = 0; done < n; done += 1000) {
        const chunk = Math.min(1000, n - done);
        const reqs = await presign(port, chunk, 'Sign', (i) => signBody(keyId, offset + done + i));
        const r = await runCount(port, reqs, chunk, connections, depth);
        if (r.errors > 0) throw new Error(`${label}: ${r.errors} errors (${r.firstError})`);
      }
    };
    await run(warm, 0); // uncounted
    await instrumentOn(pid, cg.dir);
    for (let i = 0; i < slices; i++) {
      await run(n0, warm + i * n0);
      const ir = await dumpInstructions(pid, cg.dir, keep ? `${keep}/${label.replace(/\W+/g, '-')}.${i + 1}.callgrind` : undefined);
      out.all.push(ir.all / n0);
      out.main.push(ir.main / n0);
      console.log(`${label} slice ${i + 1}: ${(ir.all / n0 / 1e6).toFixed(3)} M instructions per Sign, main thread ${(ir.main / n0 / 1e6).toFixed(3)} M`);
    }
  } finally {
    await stop();
    cg.cleanup();
  }
  return out;
}

const CG_METHOD = 'valgrind --tool=callgrind, callgrind_control --dump around each slice';
const cgSettings = () => ({
  timersStretchedBy: SLOWDOWN,
  warmUpRequests: CG.warm,
  measuredRequestsPerSlice: CG.measured,
  slices: CG.slices,
  connections: CG.connections,
  depth: CG.depth,
});

/**
 * Instructions per Sign (callgrind) of one `symbolon serve --role kms` process and of the bare route,
 * one server at a time, each under callgrind: warm-up, then slices counted between dumps.
 */
async function instructions(): Promise<void> {
  if (!haveCallgrind()) throw new Error('--instructions needs valgrind (callgrind_control) on the PATH');
  const { warm, measured: measuredCount, slices, connections, depth } = CG;
  const started = performance.now();
  const perRequest: Record<'bare' | 'symbolon', number[]> = { bare: [], symbolon: [] };
  const mainPerRequest: Record<'bare' | 'symbolon', number[]> = { bare: [], symbolon: [] };
  // BENCH_SERVERS=symbolon measures only one of them (while changing the custodian: the bare route's count does not move).
  const which0 = (process.env.BENCH_SERVERS ?? 'bare,symbolon').split(',') as Array<'bare' | 'symbolon'>;
  for (const which of which0) {
    const c =
      which === 'bare'
        ? await countServer('bare', { script: 'bench/lib/bare-server.ts' }, true)
        : await countServer('symbolon', { workers: '1', args: ['--role', 'kms'] });
    perRequest[which] = c.all;
    mainPerRequest[which] = c.main;
  }
  const bare = perRequest.bare.length ? median(perRequest.bare) : undefined;
  const symbolon = perRequest.symbolon.length ? median(perRequest.symbolon) : undefined;
  const ratio = bare !== undefined && symbolon !== undefined ? bare / symbolon : undefined;
  // The main thread alone: without V8's concurrent compiler and marking threads, whose share of a slice varies most.
  const bareMain = mainPerRequest.bare.length ? median(mainPerRequest.bare) : undefined;
  const symbolonMain = mainPerRequest.symbolon.length ? median(mainPerRequest.symbolon) : undefined;
  const mainRatio = bareMain !== undefined && symbolonMain !== undefined ? bareMain / symbolonMain : undefined;
  const m = (x: number | undefined) => (x === undefined ? 'not measured' : `${(x / 1e6).toFixed(3)} M`);
  console.log(
    `\nSign (secp256k1, DIGEST), instructions per request (callgrind, all threads of the server), ${warm} warm-up then ${slices} x ${measuredCount}, ${connections} connections x ${depth} pipelined`,
  );
  console.log(`bare ${m(bare)}, Symbolon ${m(symbolon)}${ratio !== undefined ? ` (beyond bare ${m(symbolon! - bare!)})` : ''}`);
  if (ratio !== undefined) console.log(`ratio bare/Symbolon ${ratio.toFixed(3)} (target >= 0.75: ${ratio >= 0.75 ? 'met' : 'NOT met'})`);
  console.log(`main thread only: bare ${m(bareMain)}, Symbolon ${m(symbolonMain)}${mainRatio !== undefined ? `, ratio ${mainRatio.toFixed(3)}` : ''}`);
  console.log(`${((performance.now() - started) / 1000).toFixed(0)} s`);
  writeResult('kms-instructions.json', {
    method: `${CG_METHOD}; server: symbolon serve --role kms --workers 1 / bench/lib/bare-server.ts`,
    ...cgSettings(),
    instructionsPerRequest: { bare: perRequest.bare, symbolon: perRequest.symbolon },
    mainThreadInstructionsPerRequest: { bare: mainPerRequest.bare, symbolon: mainPerRequest.symbolon },
    medianMainThread: { bare: bareMain, symbolon: symbolonMain, ratio: mainRatio },
    medianInstructionsPerRequest: { bare, symbolon, beyondBare: ratio !== undefined ? symbolon! - bare! : undefined },
    ratio,
    ratioTarget: 0.75,
    ratioMet: ratio !== undefined ? ratio >= 0.75 : undefined,
  });
}

/**
 * `--instructions --ablate`: instructions per Sign (callgrind) of the benchmark build of the endpoint
 * (bench/lib/kms-server.ts), whole and with one component off at a time, one server after another;
 * each component's share is the full build's median minus its build's, in all threads and in the main
 * thread. bench/results/kms-instructions-ablate.json.
 */
async function instructionsAblate(): Promise<void> {
  if (!haveCallgrind()) throw new Error('--instructions needs valgrind (callgrind_control) on the PATH');
  const started = performance.now();
  const only = process.env.BENCH_BUILDS?.split(',');
  const builds = ['', ...COMPONENTS].filter((b) => !only || only.includes(b || 'full'));
  const counted: Array<{ build: string; c: Counts }> = [];
  for (const off of builds) {
    const build = off ? `no ${off}` : 'full';
    counted.push({ build, c: await countServer(build, { script: 'bench/lib/kms-server.ts', env: off ? { BENCH_DISABLE: off } : {} }) });
  }
  const full = counted.find((x) => x.build === 'full');
  const fullAll = full ? median(full.c.all) : undefined;
  const fullMain = full ? median(full.c.main) : undefined;
  const rows = counted.map(({ build, c }) => {
    const all = median(c.all);
    const main = median(c.main);
    return {
      build,
      instructionsPerRequest: c.all,
      mainThreadInstructionsPerRequest: c.main,
      median: all,
      medianMainThread: main,
      ...(build !== 'full' && fullAll !== undefined && fullMain !== undefined ? { saved: fullAll - all, savedMainThread: fullMain - main } : {}),
    };
  });
  const m = (x: number | undefined) => (x === undefined ? '' : `${(x / 1e6).toFixed(3)} M`);
  console.log(`\nSign, instructions per request by build (callgrind), ${CG.warm} warm-up then ${CG.slices} x ${CG.measured}`);
  console.log(`${'build'.padEnd(14)}${'all threads'.padEnd(14)}${'main thread'.padEnd(14)}${'saved (all)'.padEnd(14)}saved (main)`);
  for (const r of rows)
    console.log(`${r.build.padEnd(14)}${m(r.median).padEnd(14)}${m(r.medianMainThread).padEnd(14)}${m(r.saved).padEnd(14)}${m(r.savedMainThread)}`);
  console.log(`${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(loadLine());
  writeResult('kms-instructions-ablate.json', { method: `${CG_METHOD}; server: bench/lib/kms-server.ts (BENCH_DISABLE per build)`, ...cgSettings(), rows });
}

/** BENCH_ROOTS: Sign on one server per root of trust, alternating rounds, in one run. */
async function compareRoots(roots: string[]): Promise<void> {
  const rounds = ROUNDS;
  const hsm = roots.includes('pkcs11') ? softHsm() : undefined;
  const servers: Array<{ root: string; s: SignServer; perSecond: number[] }> = [];
  try {
    if (hsm) {
      if (SKIP_WITHOUT_HSM) throw new Error(`BENCH_ROOTS=pkcs11: ${SKIP_WITHOUT_HSM}`);
      hsm.initToken('bench');
    }
    for (const root of roots) {
      if (root !== 'file' && root !== 'pkcs11') throw new RangeError(`BENCH_ROOTS: unknown root ${root}`);
      servers.push({ root, s: await startSignServer({ env: root === 'pkcs11' ? hsm!.env('bench') : {} }), perSecond: [] });
    }
    for (const s of servers) await runPipelined(s.s.server.port, s.s.signReqs, CONNECTIONS, DEPTH, WARMUP); // warm up
    for (let round = 0; round < rounds; round++) {
      for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
        const load = await runPipelined(s.s.server.port, s.s.signReqs, CONNECTIONS, DEPTH, SECONDS);
        if (load.errors > 0) throw new Error(`${s.root}: ${load.errors} errors (${load.firstError})`);
        s.perSecond.push(load.perSecond);
      }
    }
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
    writeResult('kms-roots.json', { seconds: SECONDS, concurrency: CONCURRENCY, rows });
  } finally {
    for (const s of servers) await s.s.stop();
    hsm?.cleanup();
  }
}

/** CPU per appended audit event and per Sign as the audit table grows, in this process (bench/lib/kms-stages.ts). */
async function auditGrowth(total: number): Promise<void> {
  if (!Number.isInteger(total) || total < 200_000) throw new RangeError('--audit-growth needs at least 200000 events');
  const steps = 5;
  console.log(`\nAudit table growth to ${total} events in ${steps} steps (CPU in this process, ${cpus().length} cores)`);
  const rows = await measureAuditGrowth(Math.round(total / steps), steps);
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  console.log(
    `audit ${first.auditUsPerEvent.toFixed(1)} -> ${last.auditUsPerEvent.toFixed(1)} µs/event, Sign ${first.signUsPerRequest.toFixed(0)} -> ${last.signUsPerRequest.toFixed(0)} µs from ${first.events} to ${last.events} events`,
  );
  console.log(loadLine());
  writeResult('kms-audit-growth.json', { events: total, steps, rows });
}

/** CPU per call of each stage of a Sign, in this process (bench/lib/kms-stages.ts). */
async function stages(): Promise<void> {
  console.log(`\nSign by stage, in process, CPU per call (median of rounds), ${cpus().length} cores`);
  const rows = await measureStages();
  const cpu = (name: string) => rows.find((r) => r.stage === name)?.cpuUsPerCall ?? Number.NaN;
  const inLoop = {
    signature: cpu('signature'),
    sigv4: cpu('SigV4'),
    operationOutsideSignature: cpu('Sign operation') - cpu('signature'),
    audit: cpu('audit'),
    metrics: cpu('metrics'),
  };
  const base = cpu('request: bare');
  const inRequest = {
    signature: cpu('request: signature') - base,
    sigv4: cpu('request: SigV4') - base,
    operation: cpu('request: operation') - base,
    wholeSignBeyondBare: cpu('request: Sign') - base,
  };
  const f = (x: number) => x.toFixed(1);
  console.log(
    `in a loop: signature ${f(inLoop.signature)}, SigV4 ${f(inLoop.sigv4)}, operation outside the signature ${f(inLoop.operationOutsideSignature)}, audit ${f(inLoop.audit)}, metrics ${f(inLoop.metrics)} µs`,
  );
  console.log(
    `in a request (beyond the bare route's ${f(base)} µs): signature ${f(inRequest.signature)}, SigV4 ${f(inRequest.sigv4)}, operation ${f(inRequest.operation)}, the whole Sign ${f(inRequest.wholeSignBeyondBare)} µs`,
  );
  console.log(loadLine());
  writeResult('kms-stages.json', { rounds: Number(process.env.BENCH_STAGE_ROUNDS ?? 5), rows, inLoopUs: inLoop, inRequestUs: inRequest });
}

async function main() {
  const { values } = parseArgs({
    options: {
      'versus-bare': { type: 'boolean' },
      ablate: { type: 'boolean' },
      stages: { type: 'boolean' },
      sustained: { type: 'string' },
      'audit-growth': { type: 'string' },
      instructions: { type: 'boolean' },
    },
    strict: true,
  });
  if (process.env.BENCH_ROOTS) return compareRoots(process.env.BENCH_ROOTS.split(','));
  if (values.instructions) return values.ablate ? instructionsAblate() : instructions();
  if (values.ablate) return ablate();
  if (values.stages) return stages();
  if (values['audit-growth'] !== undefined) return auditGrowth(Number(values['audit-growth']));
  if (values.sustained !== undefined) return sustained(Number(values.sustained));
  const vsBare = await versusBare();
  if (values['versus-bare']) {
    writeResult('kms-versus-bare.json', { concurrency: CONCURRENCY, ...vsBare });
    return;
  }
  const s = await startSignServer({});
  const { server, kms } = s;
  const rows: Row[] = [];
  try {
    // In-process ceilings: the same keystore calls, no HTTP, no SigV4, no store.
    const root = new KeyRootOfTrust(new Uint8Array(randomBytes(32)), 'bench');
    const k1Id = randomUUID();
    const k1 = createMaterial(root, 'ECC_SECG_P256K1', k1Id, 1);
    const symId = randomUUID();
    const sym = createMaterial(root, 'SYMMETRIC_DEFAULT', symId, 1);
    const ceilSign = ceiling((i) => signDigest(root, 'ECC_SECG_P256K1', k1Id, 1, k1.sealed, DIGESTS[i % 1024]!));
    const ceilGdk = ceiling(() => {
      const dk = new Uint8Array(randomBytes(32));
      encrypt(root, symId, 1, sym.sealed, dk, { purpose: 'bench' });
      dk.fill(0);
    });
    const blob = encrypt(root, symId, 1, sym.sealed, new Uint8Array(32), { purpose: 'bench' });
    const ceilDecrypt = ceiling(() => decrypt(root, symId, 1, sym.sealed, blob, { purpose: 'bench' }).fill(0));
    const ceilCreate = ceiling(() => createMaterial(root, 'ECC_SECG_P256K1', k1Id, 1));

    // Keys on the server.
    const encKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;

    const signReqs = s.signReqs;
    const gdkReqs = await presign(server.port, 1024, 'GenerateDataKey', () => ({ KeyId: encKey, KeySpec: 'AES_256', EncryptionContext: { purpose: 'bench' } }));
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
        : await presign(server.port, 1024, 'Decrypt', (i) => ({ CiphertextBlob: b64(blobs[i % blobs.length]!), EncryptionContext: { purpose: 'bench' } }));
    const createReqs = await presign(server.port, 16, 'CreateKey', () => ({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));

    const plan: Array<[string, PreparedRequest[], number, string, (r: LoadResult) => boolean]> = [
      ['Sign (secp256k1, DIGEST)', signReqs, ceilSign, '>= 6000/s', (r) => r.perSecond >= 6000],
      ['GenerateDataKey', gdkReqs, ceilGdk, '>= 8000/s', (r) => r.perSecond >= 8000],
      ['Decrypt', decReqs, ceilDecrypt, '>= 8000/s', (r) => r.perSecond >= 8000],
      ['CreateKey (secp256k1)', createReqs, ceilCreate, '>= 1000/s', (r) => r.perSecond >= 1000],
    ];
    for (const [name, reqs, ceil, target, met] of plan) {
      if (only && !name.startsWith(only)) continue;
      // Warm up the server's JIT and caches.
      await runPipelined(server.port, reqs, CONNECTIONS, DEPTH, WARMUP);
      const load = await runPipelined(server.port, reqs, CONNECTIONS, DEPTH, SECONDS);
      rows.push({ operation: name, load, ceilingPerSecond: ceil, ratio: load.perSecond / ceil, target, met: met(load) && load.errors === 0 });
    }
    const fixed = await runFixedRateRaw(server.port, signReqs, 2000, SECONDS);
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
    writeResult('kms.json', { workers: Number(process.env.BENCH_WORKERS ?? 2), seconds: SECONDS, concurrency: CONCURRENCY, versusBare: vsBare, rows });
  } finally {
    await s.stop();
  }
}

await main();
