/**
 * `symbolon serve` as a child process, the way an operator runs it: the real
 * CLI (bin/symbolon.js), its own data directory or PostgreSQL schema, the test
 * administrator credential; resolves once it logs its listening address.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ADMIN, REGION } from './server.js';

/**
 * How long a `symbolon serve` may take to print its listening line. Generous: test/multi-process.test.ts starts
 * three at once (one with two workers), which on a loaded 2-core machine took over 60 s.
 */
const START_TIMEOUT_MS = 150_000;

export interface ServeProcess {
  endpoint: string;
  child: ChildProcess;
  /** Output so far (stdout: pino's JSON lines). */
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * @param where.dataDir the data directory (SQLite store and root key file)
 * @param where.port the port (default 0: any free one)
 * @param where.databaseUrl PostgreSQL (with `?options=-c search_path=SCHEMA` for a schema of its own)
 * @param where.workers `--workers` (default: the flag is not given, one process)
 * @throws {Error} when the process exits or does not listen within 30 s.
 */
export async function startServeProcess(
  where: { dataDir: string; databaseUrl?: string | undefined; role?: 'all' | 'kms' | 'wallet' | 'signer'; port?: number; workers?: number },
  env: Record<string, string> = {},
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [
      'bin/symbolon.js',
      'serve',
      '--role',
      where.role ?? 'kms',
      '--port',
      String(where.port ?? 0),
      '--data',
      where.dataDir,
      ...(where.workers ? ['--workers', String(where.workers)] : []),
    ],
    {
      env: {
        ...process.env,
        NODE_NO_WARNINGS: '1',
        SYMBOLON_ADMIN_ACCESS_KEY_ID: ADMIN.accessKeyId,
        SYMBOLON_ADMIN_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
        SYMBOLON_REGION: REGION,
        SYMBOLON_LOG_LEVEL: 'info',
        DATABASE_URL: where.databaseUrl ?? '',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    // A server that does not start in time is killed, so that it cannot hold the test run open.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`symbolon serve did not start in ${START_TIMEOUT_MS / 1000} s: ${out.slice(0, 500)}`));
    }, START_TIMEOUT_MS);
    const onData = (): void => {
      // The role's own line: with --role all the forked signer logs its own "Signer listening on" too.
      const line = where.role === 'signer' ? /Signer listening on (http:\/\/[0-9.]+:\d+)/ : /Symbolon (?:wallet service )?listening on (http:\/\/[0-9.]+:\d+)/;
      const m = line.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`symbolon serve exited (${code}): ${out.slice(0, 500)}`));
    });
  });
  return {
    endpoint,
    child,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/**
 * A PostgreSQL database of its own for a server process, on the server of
 * `baseUrl`. (A schema given only as the connection's search_path is not
 * enough for a process's first start: Kysely's migrator can find another
 * schema's migration table in a shared database and skip creating its own.)
 * @throws {Error} when the database cannot be created.
 */
export async function createPgDatabase(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: baseUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
