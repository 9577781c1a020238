/**
 * Load-generation helpers for the benchmarks: start a Symbolon server in its
 * own process, pre-sign real SigV4 requests, drive them over keep-alive HTTP
 * at a given concurrency or rate, and summarise throughput and latency.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export const BENCH_ADMIN = { accessKeyId: 'AKIASYMBOLONBENCH001', secretAccessKey: 'bench-secret-access-key-0123456789abcd' };
export const BENCH_REGION = 'us-east-1';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface ServerProcess {
  endpoint: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * With DATABASE_URL (PostgreSQL), each benchmark server gets a schema of its
 * own, created here and dropped after: the server's root key is new in every
 * run (a fresh data directory), and a store sealed under an earlier run's
 * root key would refuse to start. The URL carries the schema as the
 * connection's search_path (libpq's `options`).
 */
async function benchSchema(databaseUrl: string | undefined): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  if (!databaseUrl || !/^postgres(ql)?:/.test(databaseUrl)) return undefined;
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create schema ${schema}`);
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { url: url.toString(), drop: () => admin(`drop schema if exists ${schema} cascade`) };
}

/** How long a benchmark server may take to answer /health: generous, the machine is often loaded. */
export const SERVER_START_TIMEOUT_MS = 120_000;

export interface StartOptions {
  /** Environment over the benchmark defaults (admin credential, region, log level). */
  env?: Record<string, string>;
  /** `--workers` (default BENCH_WORKERS, else 2). */
  workers?: string;
  /** Extra arguments after `serve` (e.g. `--role kms`). */
  args?: string[];
  /**
   * A TypeScript entry point to run instead of `bin/symbolon.js serve` (a benchmark-only server,
   * bench/lib/*-server.ts); it gets `--port` and `--data` and must answer GET /health.
   */
  script?: string;
  /** Node options before the entry point (e.g. `--cpu-prof` to look inside the server). */
  nodeArgs?: string[];
  /**
   * An existing store to serve (a data directory, and a PostgreSQL URL naming its schema): the
   * caller filled it and removes it; by default each server gets a fresh one, removed on stop.
   */
  store?: { dataDir: string; databaseUrl?: string | undefined };
  /** CPUs the server may run on (`taskset -c`, e.g. `0` or `0,1`); default: any. */
  cpus?: string;
  /** A command the server runs under (e.g. `['valgrind', '--tool=callgrind', ...]`); it must exec node in the same process. */
  wrap?: string[];
  /** How long the server may take to answer /health (ms; default SERVER_START_TIMEOUT_MS). */
  startTimeoutMs?: number;
}

/** Starts `symbolon serve` (BENCH_WORKERS workers, default 2) with `env` over the benchmark defaults. */
export function startServerProcess(env: Record<string, string> = {}): Promise<ServerProcess> {
  return startServer({ env });
}

/**
 * Starts `symbolon serve` (or `options.script`) in a child process on the embedded store (or
 * DATABASE_URL if set, in a schema of its own) and waits until it answers /health.
 */
export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const env = options.env ?? {};
  const port = await freePort();
  const dataDir = options.store?.dataDir ?? mkdtempSync(join(tmpdir(), 'symbolon-bench-'));
  const owned = options.store === undefined;
  const schema = owned ? await benchSchema(env.DATABASE_URL ?? process.env.DATABASE_URL) : undefined;
  const argv = [
    // BENCH_SERVER_NODE_ARGS: Node/V8 flags for every server a benchmark starts (A/B runs of a launch flag).
    ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    ...(options.nodeArgs ?? []),
    ...(options.script
      ? ['--import', 'tsx', options.script, '--port', String(port), '--data', dataDir, ...(options.args ?? [])]
      : [
          'bin/symbolon.js',
          'serve',
          '--port',
          String(port),
          '--data',
          dataDir,
          '--workers',
          options.workers ?? process.env.BENCH_WORKERS ?? '2',
          ...(options.args ?? []),
        ]),
  ];
  const node = [...(options.wrap ?? []), process.execPath, ...argv];
  const [command, args] = options.cpus ? ['taskset', ['-c', options.cpus, ...node]] : [node[0]!, node.slice(1)];
  const child = spawn(command, args, {
    env: {
      ...process.env,
      SYMBOLON_ADMIN_ACCESS_KEY_ID: BENCH_ADMIN.accessKeyId,
      SYMBOLON_ADMIN_SECRET_ACCESS_KEY: BENCH_ADMIN.secretAccessKey,
      SYMBOLON_REGION: BENCH_REGION,
      SYMBOLON_LOG_LEVEL: 'warn',
      ...env,
      ...(schema ? { DATABASE_URL: schema.url } : {}),
      ...(options.store ? { DATABASE_URL: options.store.databaseUrl ?? '' } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const startTimeoutMs = options.startTimeoutMs ?? SERVER_START_TIMEOUT_MS;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${endpoint}/health`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      if (child.exitCode === null) child.kill('SIGKILL');
      if (owned) rmSync(dataDir, { recursive: true, force: true });
      await schema?.drop();
      throw new Error(`benchmark server did not start within ${startTimeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    port,
    child,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      if (owned) rmSync(dataDir, { recursive: true, force: true });
      await schema?.drop();
    },
  };
}

/**
 * CPU time (user + system, ms) a process has used so far, from /proc (Linux; clock
 * ticks of 10 ms, so measure over thousands of requests). Undefined where /proc is absent.
 */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

export interface PreparedRequest {
  /** Request path; `/` (the AWS endpoint) when absent. */
  path?: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** Signs one KMS JSON 1.1 request with SigV4, as the AWS SDK would. */
export async function signKmsRequest(port: number, target: string, payload: unknown, signer: SignatureV4): Promise<PreparedRequest> {
  const body = Buffer.from(JSON.stringify(payload));
  const req = new HttpRequest({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    path: '/',
    headers: {
      host: `127.0.0.1:${port}`,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `TrentService.${target}`,
      'content-length': String(body.length),
    },
    body,
  });
  const signed = (await signer.sign(req)) as HttpRequest;
  return { headers: signed.headers as Record<string, string>, body };
}

export function makeSigner(credentials = BENCH_ADMIN): SignatureV4 {
  return new SignatureV4({ credentials, region: BENCH_REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  firstError?: string;
  /** The answered requests' latencies, ms, sorted (runFixedRateRaw): to pool slices into one percentile. */
  sortedLatencies?: Float64Array;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summarise(lat: number[], errors: number, seconds: number, firstError: string | undefined, keepLatencies = false): LoadResult {
  const sorted = Float64Array.from(lat).sort();
  return {
    requests: lat.length,
    errors,
    seconds,
    perSecond: lat.length / seconds,
    p50ms: percentile(sorted, 50),
    p99ms: percentile(sorted, 99),
    ...(firstError ? { firstError } : {}),
    ...(keepLatencies ? { sortedLatencies: sorted } : {}),
  };
}

/** The p-th percentile of several slices' latencies together (each LoadResult from runFixedRateRaw). */
export function pooledPercentile(results: LoadResult[], p: number): number {
  const all = new Float64Array(results.reduce((n, r) => n + (r.sortedLatencies?.length ?? 0), 0));
  let at = 0;
  for (const r of results) {
    if (!r.sortedLatencies) throw new Error('pooledPercentile needs the latencies runFixedRateRaw keeps');
    all.set(r.sortedLatencies, at);
    at += r.sortedLatencies.length;
  }
  return percentile(all.sort(), p);
}

function sendOne(agent: http.Agent, port: number, r: PreparedRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: r.path ?? '/', headers: r.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Serialises a prepared request to HTTP/1.1 bytes once, so sending it costs the load generator nothing. */
function wire(r: PreparedRequest): Buffer {
  let head = `POST ${r.path ?? '/'} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(r.headers)) head += `${k}: ${v}\r\n`;
  head += 'connection: keep-alive\r\n\r\n';
  return Buffer.concat([Buffer.from(head), r.body]);
}

/**
 * Reads pipelined HTTP/1.1 responses off one socket and reports each one's
 * status in order. Minimal: Content-Length framed responses only (what the server sends).
 */
class ResponseReader {
  #buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onResponse: (status: number, body: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.#buf.subarray(0, end).toString('latin1');
      const m = /content-length:\s*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (this.#buf.length < end + 4 + len) return;
      const status = Number(head.slice(9, 12));
      const body = this.#buf.subarray(end + 4, end + 4 + len);
      this.#buf = this.#buf.subarray(end + 4 + len);
      this.onResponse(status, body);
    }
  }
}

/**
 * Closed-loop load over raw keep-alive sockets with HTTP/1.1 pipelining:
 * `connections` sockets each keep `depth` requests in flight, for `seconds`.
 * The generator only writes pre-serialised bytes and counts responses, so
 * nearly all CPU goes to the server (like wrk, but with no extra install).
 */
export async function runPipelined(port: number, requests: PreparedRequest[], connections: number, depth: number, seconds: number): Promise<LoadResult> {
  const wires = requests.map(wire);
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<void>((resolve, reject) => {
          const sent: number[] = [];
          let done = false;
          const socket: Socket = connect(port, '127.0.0.1');
          socket.setNoDelay(true);
          const sendOne = () => {
            sent.push(performance.now());
            socket.write(wires[next++ % wires.length]!);
          };
          const reader = new ResponseReader((status, body) => {
            const t0 = sent.shift()!;
            const now = performance.now();
            if (status === 200) lat.push(now - t0);
            else {
              errors++;
              firstError ??= `${status} ${body.toString('utf8').slice(0, 200)}`;
            }
            if (now < end) sendOne();
            else if (sent.length === 0 && !done) {
              done = true;
              socket.end();
              resolve();
            }
          });
          socket.on('data', (c: Buffer) => reader.push(c));
          socket.on('error', reject);
          socket.on('connect', () => {
            for (let i = 0; i < depth; i++) sendOne();
          });
        }),
    ),
  );
  return summarise(lat, errors, (performance.now() - start) / 1000, firstError);
}

/**
 * Exactly `count` requests (cycling through `requests`) over `connections` keep-alive sockets with
 * `depth` pipelined on each, as runPipelined but counted instead of timed: for measurements per
 * request that do not depend on how fast the server is (bench:kms --instructions).
 */
export async function runCount(port: number, requests: PreparedRequest[], count: number, connections: number, depth: number, offset = 0): Promise<LoadResult> {
  const wires = requests.map(wire);
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<void>((resolve, reject) => {
          const sent: number[] = [];
          const socket: Socket = connect(port, '127.0.0.1');
          socket.setNoDelay(true);
          const sendOne = () => {
            if (next >= count) return;
            sent.push(performance.now());
            socket.write(wires[(offset + next++) % wires.length]!);
          };
          const reader = new ResponseReader((status, body) => {
            const t0 = sent.shift()!;
            if (status === 200) lat.push(performance.now() - t0);
            else {
              errors++;
              firstError ??= `${status} ${body.toString('utf8').slice(0, 200)}`;
            }
            sendOne();
            if (sent.length === 0) {
              socket.end();
              resolve();
            }
          });
          socket.on('data', (c: Buffer) => reader.push(c));
          socket.on('error', reject);
          socket.on('connect', () => {
            for (let i = 0; i < depth; i++) sendOne();
            if (sent.length === 0) {
              socket.end();
              resolve();
            }
          });
        }),
    ),
  );
  return summarise(lat, errors, (performance.now() - start) / 1000, firstError);
}

/**
 * Open-loop load at a fixed arrival rate over raw keep-alive sockets (pre-serialised requests, as
 * runPipelined): request k is due at start + k/rate and goes out on the next of `connections` sockets
 * in turn (pipelined behind any still in flight there). Latency runs from when it was due, so a
 * server or generator falling behind shows in the percentiles instead of slowing the arrivals.
 */
export async function runFixedRateRaw(
  port: number,
  requests: PreparedRequest[],
  ratePerSecond: number,
  seconds: number,
  connections = 32,
  keepLatencies = false,
): Promise<LoadResult> {
  const wires = requests.map(wire);
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const total = Math.floor(ratePerSecond * seconds);
  let answered = 0;
  let allAnswered: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    allAnswered = resolve;
  });
  const sockets = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<{ socket: Socket; due: number[] }>((resolve, reject) => {
          const due: number[] = [];
          const socket = connect(port, '127.0.0.1');
          socket.setNoDelay(true);
          const reader = new ResponseReader((status, body) => {
            const t0 = due.shift()!;
            if (status === 200) lat.push(performance.now() - t0);
            else {
              errors++;
              firstError ??= `${status} ${body.toString('utf8').slice(0, 200)}`;
            }
            if (++answered === total) allAnswered();
          });
          socket.on('data', (c: Buffer) => reader.push(c));
          socket.on('error', (e) => {
            firstError ??= e.message;
            reject(e);
          });
          // A connection lost mid-run: what it still owed counts as errors, so the run still ends.
          socket.on('close', () => {
            while (due.length > 0) {
              due.shift();
              errors++;
              if (++answered === total) allAnswered();
            }
          });
          socket.on('connect', () => resolve({ socket, due }));
        }),
    ),
  );
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    const dueNow = Math.min(total, Math.floor(((now - start) / 1000) * ratePerSecond) + 1);
    while (sent < dueNow) {
      const s = sockets[sent % connections]!;
      s.due.push(start + (sent * 1000) / ratePerSecond);
      s.socket.write(wires[sent % wires.length]!);
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  if (total > 0) await finished;
  const elapsed = (performance.now() - start) / 1000;
  for (const s of sockets) s.socket.end();
  return summarise(lat, errors, elapsed, firstError, keepLatencies);
}

/** Closed-loop load: `concurrency` requests in flight for `seconds`, cycling through `requests`. */
export async function runClosedLoop(port: number, requests: PreparedRequest[], concurrency: number, seconds: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  async function worker() {
    while (performance.now() < end) {
      const r = requests[next++ % requests.length]!;
      const t0 = performance.now();
      const res = await sendOne(agent, port, r).catch((e: Error) => ({ status: 0, body: e.message }));
      if (res.status === 200) lat.push(performance.now() - t0);
      else {
        errors++;
        firstError ??= `${res.status} ${res.body.slice(0, 200)}`;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  return summarise(lat, errors, elapsed, firstError);
}

/** Open-loop load at a fixed arrival rate, for latency at a given throughput. */
export async function runFixedRate(port: number, requests: PreparedRequest[], ratePerSecond: number, seconds: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const total = Math.floor(ratePerSecond * seconds);
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  const tickMs = 5;
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * ratePerSecond));
    while (sent < due) {
      const r = requests[sent++ % requests.length]!;
      const t0 = performance.now();
      inflight.push(
        sendOne(agent, port, r).then(
          (res) => {
            if (res.status === 200) lat.push(performance.now() - t0);
            else {
              errors++;
              firstError ??= `${res.status} ${res.body.slice(0, 200)}`;
            }
          },
          () => {
            errors++;
          },
        ),
      );
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  return summarise(lat, errors, elapsed, firstError);
}

/** Runs `fn` in a loop for `seconds` and returns calls per second (the in-process ceiling). */
export function ceiling(fn: (i: number) => void, seconds = 1.5): number {
  for (let i = 0; i < 200; i++) fn(i);
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) fn(n++);
  }
  return n / ((performance.now() - start) / 1000);
}
