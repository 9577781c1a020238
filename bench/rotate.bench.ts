/**
 * `npm run bench:rotate`: store-key rotation (`symbolon operator
 * rotate-store-key`, src/cli/store-key-ops.ts) over BENCH_KEYS (default
 * 100,000) secp256k1 keys, with a custodian serving KMS Sign on the same
 * store the whole time:
 *  - re-sealed records per second in the command's first pass (batches of
 *    BENCH_BATCH, default 500, each its own transaction), against the
 *    ceiling: the same open + seal in memory, no database;
 *  - Sign latency (median, p99) from one sequential client before and during
 *    the rotation: re-sealing in short batches must not hold up the hot path.
 *    The rotation is the operator's command, a separate process, on the same
 *    machine (its CPU is the server's too).
 * Embedded SQLite unless DATABASE_URL is set. Results: bench/results/rotate.json
 * (rotate-postgres.json on PostgreSQL).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { configFromEnv } from '../src/config.js';
import { materialAad } from '../src/kms/keystore.js';
import { defaultKeyPolicy } from '../src/kms/policy/key-policy.js';
import { createCustodian } from '../src/server/custodian.js';
import { dropPgSchema } from '../src/storage/database.js';
import { insertBenchKey } from './lib/keys.js';
import { wipe } from '../src/crypto/bytes.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const DATABASE_URL = process.env.DATABASE_URL || undefined;
const ADMIN = { accessKeyId: 'AKIASYMBOLONBENCH001', secretAccessKey: 'bench-secret-access-key-0123456789' };

function stats(ms: number[]): { n: number; medianMs: number; p99Ms: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, medianMs: +s[Math.floor(s.length / 2)]!.toFixed(2), p99Ms: +s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!.toFixed(2) };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-bench-rotate-'));
  const pgSchema = DATABASE_URL ? `b_rotate_${randomBytes(5).toString('hex')}` : undefined;
  const config = configFromEnv(
    {
      SYMBOLON_ADMIN_ACCESS_KEY_ID: ADMIN.accessKeyId,
      SYMBOLON_ADMIN_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      SYMBOLON_LOG_LEVEL: 'silent',
      SYMBOLON_DAPP_PORT: 'off',
      ...(DATABASE_URL ? { DATABASE_URL } : {}),
    },
    { data: dataDir, port: '0', role: 'kms' },
  );
  const custodian = await createCustodian({
    config,
    logger: pino({ level: 'silent' }),
    ...(pgSchema ? { pgSchema } : {}),
    maintenanceIntervalMs: 3_600_000,
    storeKeyRefreshMs: 1000,
  });
  try {
    const { store, root } = custodian.deps;
    const policy = defaultKeyPolicy(custodian.accountId);
    const filling = Date.now();
    const sealedSample: Array<{ keyId: string; sealed: Uint8Array }> = [];
    for (let done = 0; done < KEYS; ) {
      const batch = Math.min(2000, KEYS - done);
      await store.db.transaction().execute(async (trx) => {
        for (let i = 0; i < batch; i++) {
          const { keyId, sealed } = await insertBenchKey(trx, root, { accountId: custodian.accountId, region: config.region, policy });
          if (sealedSample.length < 20_000) sealedSample.push({ keyId, sealed });
        }
      });
      done += batch;
    }
    const fillSeconds = (Date.now() - filling) / 1000;
    console.log(`filled ${KEYS} keys in ${fillSeconds.toFixed(1)} s`);

    // Ceiling: open + seal in memory, no database.
    const t0 = performance.now();
    for (const b of sealedSample) {
      const aad = materialAad(b.keyId, 1);
      const plain = root.open(b.sealed, aad);
      root.seal(plain, aad);
      wipe(plain);
    }
    const ceilingPerSecond = Math.round(sealedSample.length / ((performance.now() - t0) / 1000));

    await custodian.app.listen({ host: '127.0.0.1', port: 0 });
    const address = custodian.app.server.address();
    const endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const kms = new KMSClient({ endpoint, region: config.region, credentials: ADMIN, maxAttempts: 1 });
    const signKey = sealedSample[0]!.keyId;
    const signOnce = async (): Promise<number> => {
      const t = performance.now();
      await kms.send(new SignCommand({ KeyId: signKey, Message: new Uint8Array(32).fill(1), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
      return performance.now() - t;
    };
    const idle: number[] = [];
    const idleUntil = performance.now() + 5000;
    while (performance.now() < idleUntil) idle.push(await signOnce());

    const during: number[] = [];
    let errors = 0;
    let rotating = true;
    const load = (async () => {
      while (rotating) {
        try {
          during.push(await signOnce());
        } catch {
          errors++;
        }
      }
    })();
    // The operator's command, as a separate process (its first pass is what it re-seals with).
    const r0 = performance.now();
    const child = spawn(
      process.execPath,
      [
        'bin/symbolon.js',
        'operator',
        'rotate-store-key',
        '--data',
        dataDir,
        '--grace-seconds',
        '2',
        '--batch-size',
        String(BATCH),
        ...(pgSchema ? ['--schema', pgSchema] : []),
      ],
      { env: { ...process.env, NODE_NO_WARNINGS: '1', DATABASE_URL: DATABASE_URL ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    const wallSeconds = (performance.now() - r0) / 1000;
    rotating = false;
    await load;
    kms.destroy();
    const m = /Re-sealed (\d+) records \(first pass ([0-9.]+) s\)/.exec(out);
    if (code !== 0 || !m) throw new Error(`rotate-store-key failed (${code}): ${out.slice(0, 300)}`);
    const rotateSeconds = Number(m[2]);
    const resealPerSecond = Math.round(Number(m[1]) / rotateSeconds);
    const result = {
      date: new Date().toISOString(),
      store: DATABASE_URL ? 'postgres' : 'sqlite',
      cpus: cpus().length,
      keys: KEYS,
      batch: BATCH,
      fillSeconds,
      resealed: Number(m[1]),
      firstPassSeconds: rotateSeconds,
      commandWallSeconds: +wallSeconds.toFixed(2),
      graceSeconds: 2,
      resealPerSecond,
      ceilingPerSecond,
      ratio: +(resealPerSecond / ceilingPerSecond).toFixed(3),
      signIdle: stats(idle),
      signDuringRotation: stats(during),
      signErrorsDuringRotation: errors,
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/rotate${DATABASE_URL ? '-postgres' : ''}.json`, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await custodian.close();
    if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
