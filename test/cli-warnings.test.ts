/**
 * The CLI's output is its own on every tested Node (20, 22, 24): the real
 * `symbolon` (bin/symbolon.js, on the Node running the suite) with a user's
 * environment — no NODE_NO_WARNINGS, no AWS_* or SYMBOLON_* settings but
 * those given — prints no process warning (`(node:PID) …Warning`), no
 * library's "WARNING"/"warn" line, on stderr: `--help`, `--version`, `serve`
 * (all roles: the custodian, the wallet service and the forked signer, whose
 * stderr is the server's), then `admin`, `wallet` and `audit` commands
 * against it. The server runs on the suite's store (a database of its own on
 * PostgreSQL). A control run first shows the harness sees a process warning
 * the CLI's process emits.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ADMIN, REGION } from './helpers/server.js';
import { createPgDatabase } from './helpers/serve-process.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const PG_URL = process.env.DATABASE_URL;

/** A line that is a warning: Node's process warnings, and libraries' own (oidc-provider's "WARNING:", pino-style "warn"). */
const WARNING = /\(node:\d+\)|Warning\b|WARNING|\bwarn(ing)?\b/i;

/** The environment of a user's shell: this one without the suite's and the operator's settings. */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('AWS_') || k.startsWith('SYMBOLON_')) continue;
    if (['NODE_NO_WARNINGS', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'DATABASE_URL'].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

async function symbolon(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/symbolon.js', ...args], { cwd: ROOT, env: userEnv(env), timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function assertNoWarning(stderr: string, what: string): void {
  const lines = stderr.split('\n').filter((l) => WARNING.test(l));
  assert.deepEqual(lines, [], `${what} printed a warning on Node ${process.version}:\n${stderr}`);
}

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('the harness sees a process warning emitted in the CLI process (control)', async () => {
  const r = await symbolon(['--version'], { NODE_OPTIONS: `--import=data:text/javascript,process.emitWarning('control')` });
  assert.equal(r.code, 0, r.stderr);
  assert.throws(() => assertNoWarning(r.stderr, 'control'), /Warning: control/);
});

test(`no warning on stderr from --help, --version, serve, admin, wallet and audit (Node ${process.versions.node})`, async () => {
  for (const args of [['--help'], ['--version'], ['wallet', 'send', '--help']]) {
    const r = await symbolon(args, {});
    assert.equal(r.code, 0, r.stderr);
    assertNoWarning(r.stderr, `symbolon ${args.join(' ')}`);
  }

  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-cli-warnings-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const db = PG_URL ? await createPgDatabase(PG_URL) : undefined;
  if (db) cleanups.push(() => db.drop());
  const storeEnv: Record<string, string> = db ? { DATABASE_URL: db.url } : {};

  const server: ChildProcess = spawn(process.execPath, ['bin/symbolon.js', 'serve', '--role', 'all', '--port', '0', '--data', dataDir], {
    cwd: ROOT,
    env: userEnv({
      ...storeEnv,
      SYMBOLON_ADMIN_ACCESS_KEY_ID: ADMIN.accessKeyId,
      SYMBOLON_ADMIN_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      SYMBOLON_REGION: REGION,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let serverStderr = '';
  server.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  server.stderr!.on('data', (c: Buffer) => {
    serverStderr += c.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await exited;
    }
  });
  // Ready when the custodian listens and the signer has started (its start-up is where a forked child would warn).
  // No timer of ours: a signer that does not start makes serve exit (the platform's own start timeout).
  const endpoint = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const m = /listening on (http:\/\/[0-9.]+:\d+)/.exec(out);
      if (m && /signer ready/.test(out)) resolve(m[1]!);
    };
    server.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`symbolon serve exited (${code}): ${out.slice(-800)} ${serverStderr}`)));
  });

  const admin = { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION };
  const created = await symbolon(['wallet', 'create', '--json', '--endpoint', endpoint], admin);
  assert.equal(created.code, 0, created.stderr);
  assertNoWarning(created.stderr, 'symbolon wallet create');
  const { keyId } = JSON.parse(created.stdout) as { keyId: string };
  const commands: string[][] = [
    ['wallet', 'list', '--endpoint', endpoint],
    ['wallet', 'address', '--key', keyId, '--endpoint', endpoint],
    ['wallet', 'sign-message', '--key', keyId, '--message', 'hello', '--endpoint', endpoint],
    ['admin', 'create-user', '--name', 'warnings-test', '--endpoint', endpoint],
    ['admin', 'list-users', '--endpoint', endpoint],
    ['admin', 'approvals', 'list', '--endpoint', endpoint],
    ['audit', 'verify', '--data', dataDir],
    ['audit', 'tail', '--data', dataDir],
  ];
  for (const args of commands) {
    const r = await symbolon(args, { ...admin, ...storeEnv });
    assert.equal(r.code, 0, `symbolon ${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assertNoWarning(r.stderr, `symbolon ${args.join(' ')}`);
  }

  server.kill('SIGTERM');
  assert.equal(await exited, 0, serverStderr);
  assertNoWarning(serverStderr, 'symbolon serve (custodian, wallet service and signer)');
  // pino's JSON lines on stdout: none at warn level (40) or above from start to shutdown.
  const warnLines = out.split('\n').filter((l) => /"level":(4|5|6)0\b/.test(l));
  assert.deepEqual(warnLines, [], 'symbolon serve logged no warning');
});
