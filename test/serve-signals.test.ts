/**
 * An early SIGTERM (issue 12, item 7): `symbolon serve` handled signals only
 * once the forked signer had started, 0.5–10 s after it already listened; a
 * SIGTERM in between killed it outright, losing buffered audit events and the
 * final checkpoint. Here the real CLI process gets SIGTERM right after it
 * answers its first requests: it exits 0, every acknowledged request is in the
 * audit log, and `symbolon audit verify` finds every event under a signed
 * checkpoint. On the store this run uses (SQLite, or PostgreSQL in a database
 * of its own with DATABASE_URL).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { ADMIN, REGION } from './helpers/server.js';

const REPO = join(import.meta.dirname, '..');
const DATABASE_URL = process.env.DATABASE_URL;

function databaseUrlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

test('SIGTERM right after `symbolon serve` listens: a clean exit, every acknowledged request audited, a final checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-sigterm-'));
  // The CLI has no schema flag: on PostgreSQL a database of its own.
  const database = DATABASE_URL ? `t_sigterm_${randomBytes(6).toString('hex')}` : undefined;
  const admin = DATABASE_URL ? new pg.Client({ connectionString: DATABASE_URL }) : undefined;
  if (admin && database) {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    SYMBOLON_LOG_LEVEL: 'info',
    SYMBOLON_REGION: REGION,
    SYMBOLON_ADMIN_ACCESS_KEY_ID: ADMIN.accessKeyId,
    SYMBOLON_ADMIN_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
    // Buffered events stay in memory for up to a second: only the shutdown writes them.
    SYMBOLON_AUDIT_FLUSH_MS: '1000',
    ...(DATABASE_URL && database ? { DATABASE_URL: databaseUrlFor(DATABASE_URL, database) } : {}),
  };
  let kms: KMSClient | undefined;
  try {
    const child = spawn(process.execPath, [join(REPO, 'bin', 'symbolon.js'), 'serve', '--port', '0', '--data', dir], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const endpoint = await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const m = /Symbolon listening on (http:\/\/[^\s"]+)/.exec(output);
        if (m) resolve(m[1]!.replace(/ \(.*$/, ''));
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void exited.then(() => reject(new Error(`exited before listening:\n${output.slice(-2000)}`)));
    });
    kms = new KMSClient({ endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    const acknowledged = await Promise.all(Array.from({ length: 10 }, () => kms!.send(new CreateKeyCommand({})).then((r) => r.KeyMetadata!.KeyId!)));
    const signerStartedBefore = /Signer listening on/.test(output);
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    assert.equal(signal, null, `killed by ${signal}; output:\n${output.slice(-2000)}`);
    assert.equal(code, 0, output.slice(-2000));
    assert.match(output, /shutting down/);

    const cli = (args: string[]) =>
      spawnSync(process.execPath, [join(REPO, 'bin', 'symbolon.js'), 'audit', ...args, '--data', dir], { cwd: REPO, env, encoding: 'utf8' });
    const query = cli(['query', '--operation', 'CreateKey', '--json']);
    assert.equal(query.status, 0, query.stderr);
    const audited = query.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { keyArn: string | null; outcome: string });
    for (const keyId of acknowledged) {
      assert.ok(
        audited.some((e) => e.keyArn?.endsWith(`:key/${keyId}`) && e.outcome === 'allowed'),
        `CreateKey of ${keyId} is in the audit log`,
      );
    }
    const verify = cli(['verify', '--json']);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const report = JSON.parse(verify.stdout.trim().split('\n').pop()!) as { unsignedEvents: number };
    assert.equal(report.unsignedEvents, 0, 'the final checkpoint covers every event');
    console.log(`# SIGTERM ${signerStartedBefore ? 'after' : 'before'} the forked signer listened; ${acknowledged.length} acknowledged CreateKey, all audited`);
  } finally {
    kms?.destroy();
    if (admin && database) {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
