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
    wrap: ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--quiet', `--callgrind-out-file=${join(dir, 'cg.%p.out')}`],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Starts counting in `pid` (started with callgrindRun's wrap); the next dump counts from here. */
export async function instrumentOn(pid: number, dir: string): Promise<void> {
  execFileSync('callgrind_control', ['--instr=on', String(pid)], { stdio: 'ignore', timeout: 120_000 });
  await dumpInstructions(pid, dir);
}

/**
 * Asks callgrind in `pid` to dump its counters (which zeroes them) and
 * returns the instructions executed since its start or its last dump. With
 * `keepAs`, the dump file is moved there (BENCH_CALLGRIND_KEEP: for
 * callgrind_annotate), else removed.
 */
export async function dumpInstructions(pid: number, dir: string, keepAs?: string): Promise<number> {
  const before = new Set(readdirSync(dir));
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore', timeout: 120_000 });
  const deadline = Date.now() + 120_000;
  for (;;) {
    const file = readdirSync(dir).find((f) => !before.has(f) && /\.out\.\d+$/.test(f));
    if (file) {
      const path = join(dir, file);
      const m = /^totals:\s+(\d+)/m.exec(readFileSync(path, 'utf8'));
      if (m) {
        if (keepAs) {
          mkdirSync(join(keepAs, '..'), { recursive: true });
          renameSync(path, keepAs);
        } else rmSync(path);
        return Number(m[1]);
      }
    }
    if (Date.now() > deadline) throw new Error(`callgrind in process ${pid} wrote no dump`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
