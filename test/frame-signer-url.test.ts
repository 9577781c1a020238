/**
 * `symbolon serve --port 0` with split custody in the frame, as a real
 * process: the forked signer's port is picked when it listens, after the
 * configuration was read, so the server learns the signer's URL then and
 * serves it in the frame's config.json and in the frame page's connect-src.
 * The URL answers /health, and the signer answers CORS for the frame's
 * origin. Runs on SQLite, and on PostgreSQL with DATABASE_URL (in a database
 * of its own: the CLI has no schema flag).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { ADMIN, REGION } from './helpers/server.js';
import { REPOSITORY_ROOT } from '../src/signer/measure.js';
import { configFromEnv } from '../src/config.js';
import { createFrame } from '../src/server/frame.js';

let child: ChildProcess;
const lines: string[] = [];
let dir: string;
const pgDatabase = process.env.DATABASE_URL ? `t_frame_signer_${randomBytes(6).toString('hex')}` : undefined;

function databaseUrlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function pgAdmin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The first log line matching `re`, parsed (pino JSON). */
function waitFor(re: RegExp, ms = 90_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const poll = () => {
      const line = lines.find((l) => re.test(l));
      if (line) return resolve(JSON.parse(line) as Record<string, unknown>);
      if (child.exitCode !== null) return reject(new Error(`the server exited (${child.exitCode}) before ${re}:\n${lines.join('\n').slice(-3000)}`));
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${re}:\n${lines.join('\n').slice(-3000)}`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
  dir = mkdtempSync(join(tmpdir(), 'symbolon-frame-signer-url-'));
  if (pgDatabase) await pgAdmin(`CREATE DATABASE ${pgDatabase}`);
  child = spawn(process.execPath, ['bin/symbolon.js', 'serve', '--port', '0', '--data', dir], {
    cwd: REPOSITORY_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      SYMBOLON_LOG_LEVEL: 'info',
      SYMBOLON_ADMIN_ACCESS_KEY_ID: ADMIN.accessKeyId,
      SYMBOLON_ADMIN_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      SYMBOLON_REGION: REGION,
      SYMBOLON_FRAME_CUSTODY_MODE: 'split',
      SYMBOLON_FRAME_ALLOWED_ORIGINS: 'http://127.0.0.1:9',
      ...(pgDatabase ? { DATABASE_URL: databaseUrlFor(process.env.DATABASE_URL!, pgDatabase) } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onData = (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  if (pgDatabase) await pgAdmin(`DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('with --port 0 the frame is given the forked signer once it listens: config.json and connect-src name it, and it answers /health and CORS for the frame', async () => {
  const endpoint = String((await waitFor(/Symbolon listening on/)).endpoint);
  const launched = await waitFor(/signer launched/);
  await waitFor(/Signer listening on/);
  const signerUrl = `http://127.0.0.1:${launched.port as number}`;
  assert.notEqual(launched.port, 0);

  // The server names it right after the signer reports listening: allow it a moment, not more.
  type FrameConfig = { custodyMode: string; signerUrl: string | null };
  const frameConfig = async () => (await (await fetch(`${endpoint}/frame/config.json`)).json()) as FrameConfig;
  let config = await frameConfig();
  for (let i = 0; i < 40 && config.signerUrl === null; i++) {
    await new Promise((r) => setTimeout(r, 50));
    config = await frameConfig();
  }
  assert.equal(config.custodyMode, 'split');
  assert.equal(config.signerUrl, signerUrl);
  assert.equal((await waitFor(/The wallet frame calls the signer/, 1000)).signer, signerUrl);
  const page = await fetch(`${endpoint}/frame/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', new RegExp(`connect-src 'self' ${endpoint} http://127.0.0.1:8545 ${signerUrl}(;|$)`));

  const health = await fetch(`${config.signerUrl}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  // The frame (the wallet's origin) may call it from the browser.
  const preflight = await fetch(`${config.signerUrl}/v1/sign`, {
    method: 'OPTIONS',
    headers: { origin: endpoint, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
  assert.equal(preflight.headers.get('access-control-allow-origin'), endpoint);
});

test('useSignerUrl takes an http(s) origin only; a configured signer URL is served until then', () => {
  const settings = configFromEnv({ SYMBOLON_FRAME_SIGNER_URL: 'https://signer.example.com' }, { port: '8080' }).frame;
  const frame = createFrame({
    settings,
    publicUrl: () => 'http://127.0.0.1:8080',
    region: REGION,
    accountId: '111122223333',
    logger: pino({ level: 'silent' }),
  });
  assert.equal(frame.signerUrl, 'https://signer.example.com');
  for (const bad of ['signer', 'ftp://127.0.0.1:9', 'http://127.0.0.1:9/path', 'http://127.0.0.1:9/?x=1', 'http://u:p@127.0.0.1:9']) {
    assert.throws(() => frame.useSignerUrl(bad), RangeError, bad);
  }
  assert.equal(frame.signerUrl, 'https://signer.example.com');
  frame.useSignerUrl('http://127.0.0.1:9100');
  assert.equal(frame.signerUrl, 'http://127.0.0.1:9100');
});
