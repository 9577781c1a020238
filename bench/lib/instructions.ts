/**
 * Instructions per request of a server process, counted by valgrind's
 * callgrind (bench:kms --instructions): the server runs under
 * `valgrind --tool=callgrind`, and `callgrind_control --dump` between two
 * batches of requests writes the instructions executed since the previous
 * dump (every thread of the process: the event loop, V8's compiler and GC
 * threads, libuv's pool). Unlike time or CPU per request, the count does
 * not depend on what else the machine runs: a figure to compare across runs
 * on a shared machine. Linux with valgrind installed; benchmark code only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, renameSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether valgrind and callgrind_control can be run. */
export function haveCallgrind(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['-h'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A directory for one server's callgrind output and the command prefix that runs it under callgrind. */
export function callgrindRun(): { dir: string; wrap: string[]; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-callgrind-'));
  return {
    dir,
    // Not counting until instrumentOn (start-up and warm-up run several times faster uncounted).
    // One dump file per thread: the main thread's count leaves out V8's concurrent compiler and marking threads.
    wrap: ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', '--quiet', `--callgrind-out-file=${join(dir, 'cg.%p.out')}`],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Starts counting in `pid` (started with callgrindRun's wrap); the next dump counts from here. */
export async function instrumentOn(pid: number, dir: string): Promise<void> {
  execFileSync('callgrind_control', ['--instr=on', String(pid)], { stdio: 'ignore', timeout: 120_000 });
  await dumpInstructions(pid, dir);
}

/** Instructions counted in one dump: all the process's threads, and its main thread (the event loop) alone. */
export interface Counted {
  all: number;
  main: number;
}

/**
 * Asks callgrind in `pid` to dump its counters (which zeroes them) and
 * returns the instructions executed since its start or its last dump, in
 * all threads and in the main thread. With `keepAs`, the dump files are
 * moved there (`keepAs`-TT per thread; BENCH_CALLGRIND_KEEP: for
 * callgrind_annotate), else removed.
 */
export async function dumpInstructions(pid: number, dir: string, keepAs?: string): Promise<Counted> {
  const before = new Set(readdirSync(dir));
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore', timeout: 120_000 });
  const deadline = Date.now() + 120_000;
  for (;;) {
    const files = readdirSync(dir).filter((f) => !before.has(f) && /\.out\.\d+-\d+$/.test(f));
    const totals = files.map((f) => /^totals:\s+(\d+)/m.exec(readFileSync(join(dir, f), 'utf8')));
    if (files.length > 0 && totals.every((m) => m !== null)) {
      let all = 0;
      let main = 0;
      files.forEach((f, i) => {
        const n = Number(totals[i]![1]);
        all += n;
        if (f.endsWith('-01')) main = n;
        if (keepAs) {
          mkdirSync(join(keepAs, '..'), { recursive: true });
          renameSync(join(dir, f), `${keepAs}${f.slice(f.lastIndexOf('-'))}`);
        } else rmSync(join(dir, f));
      });
      return { all, main };
    }
    if (Date.now() > deadline) throw new Error(`callgrind in process ${pid} wrote no dump`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** How many times slower a server runs under callgrind than natively (about; BENCH_SLOWDOWN). */
export const SLOWDOWN = Number(process.env.BENCH_SLOWDOWN ?? 50);

/**
 * The custodian's time-driven settings stretched by `factor`: under callgrind a second holds that many
 * times fewer requests, so without this each request would carry that many times more of the work
 * done per interval (an audit batch per 50 ms flush, a key-cache refill per 1 s TTL, a checkpoint per
 * 300 s) than in a native run.
 */
export function slowedTimers(factor: number): Record<string, string> {
  return {
    SYMBOLON_AUDIT_FLUSH_MS: String(50 * factor),
    SYMBOLON_KEY_CACHE_TTL_MS: String(1000 * factor),
    SYMBOLON_AUDIT_CHECKPOINT_SECONDS: String(300 * factor),
  };
}
