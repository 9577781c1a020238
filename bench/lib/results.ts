/**
 * What every benchmark result says about where it was measured (core count,
 * Node version, load average, store), writing bench/results/*.json, and a
 * server process tree's CPU time and resident memory from /proc (Linux; the
 * functions return undefined where /proc is absent).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { cpuMs } from './load.js';

/** The machine and store a result was measured on. */
export function machine() {
  return {
    date: new Date().toISOString(),
    cores: cpus().length,
    node: process.version,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    store: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
    // Node/V8 flags the servers ran with (bench/lib/load.ts startServer), when any.
    ...(process.env.BENCH_SERVER_NODE_ARGS ? { serverNodeArgs: process.env.BENCH_SERVER_NODE_ARGS } : {}),
  };
}

/** Writes bench/results/`file` with machine() first, and says so. */
export function writeResult(file: string, result: object): void {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/${file}`, JSON.stringify({ ...machine(), ...result }, null, 2) + '\n');
  console.log(`\nwritten: bench/results/${file}`);
}

/** The load average as printed under each table. */
export function loadLine(): string {
  return `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`;
}

/** Resident set size of one process (MB). */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** `pid` and its descendants (the workers of `symbolon serve --workers N`). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const p = out[i]!;
      for (const t of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/)) if (t) out.push(Number(t));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** CPU time (ms) of each process of the tree, by pid. */
export function treeCpuMs(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of processTree(pid)) {
    const ms = cpuMs(p);
    if (ms !== undefined) out.set(p, ms);
  }
  return out;
}

/** Resident memory of each process of the tree (MB), by pid. */
export function treeRssMb(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of processTree(pid)) {
    const mb = rssMb(p);
    if (mb !== undefined) out.set(p, mb);
  }
  return out;
}
