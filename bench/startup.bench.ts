/**
 * `npm run bench:startup`: how long a custodian takes from nothing to ready
 * (createCustodian: open the store, open the root, unwrap the store key,
 * migrate, build the app, first maintenance pass) with BENCH_KEYS keys
 * (default 100,000 secp256k1 keys) in the store, for each root in BENCH_ROOTS
 * (default `file,pkcs11,kms,shamir`; pkcs11 on a SoftHSM2 token in a temporary
 * directory, skipped without SoftHSM2; kms through another Symbolon server
 * process; shamir from the last of 3 shares — combining them, as
 * `operator unseal` does, is inside the measured time). Embedded SQLite unless DATABASE_URL is set.
 * Target: <= 3 s on any root. Results go to bench/results/startup.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { configFromEnv } from '../src/config.js';
import { defaultKeyPolicy } from '../src/kms/policy/key-policy.js';
import { createCustodian } from '../src/server/custodian.js';
import { dropPgSchema, openStore } from '../src/storage/database.js';
import { putMetaIfAbsent } from '../src/storage/meta.repository.js';
import { createStoreKeyRecord, STORE_KEY_META } from '../src/root/store-key.js';
import { createShamirRoot, encodeShamirRecord, SHAMIR_META, ShamirRootKey, UnsealProgress, type ShamirRecord } from '../src/root/shamir-root.js';
import { insertBenchKey } from './lib/keys.js';
import { SKIP_WITHOUT_HSM, softHsm } from '../test/helpers/softhsm.js';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { BENCH_ADMIN, BENCH_REGION, startServerProcess } from './lib/load.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ROOTS = (process.env.BENCH_ROOTS ?? 'file,pkcs11,kms,shamir').split(',');
const DATABASE_URL = process.env.DATABASE_URL;
const logger = pino({ level: 'silent' });

interface Row {
  root: string;
  keys: number;
  fillSeconds: number;
  startupMs: number[];
  medianMs: number;
  met: boolean;
}

async function benchRoot(root: string, env: Record<string, string>): Promise<Row> {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-bench-startup-'));
  const pgSchema = DATABASE_URL ? `b_startup_${randomBytes(5).toString('hex')}` : undefined;
  const config = configFromEnv(
    {
      SYMBOLON_ADMIN_ACCESS_KEY_ID: 'AKIASYMBOLONBENCH001',
      SYMBOLON_ADMIN_SECRET_ACCESS_KEY: 'bench-secret-access-key-0123456789',
      SYMBOLON_LOG_LEVEL: 'silent',
      SYMBOLON_DAPP_PORT: 'off',
      ...(DATABASE_URL ? { DATABASE_URL } : {}),
      ...env,
    },
    { data: dataDir, port: '0', role: 'kms' },
  );
  // The Shamir root: initialised as `operator init` does; each start rebuilds the root from the shares.
  let shares: { record: ShamirRecord; lines: string[] } | undefined;
  const unsealedRoot = async (): Promise<ShamirRootKey | undefined> => {
    if (!shares) return undefined;
    const progress = new UnsealProgress(shares.record);
    let key: Uint8Array | undefined;
    for (const line of shares.lines) key = (await progress.add(line)) ?? key;
    const rootKey = new ShamirRootKey(key!);
    key!.fill(0);
    return rootKey;
  };
  const open = async () => {
    const unsealed = await unsealedRoot();
    return createCustodian({
      config,
      logger,
      ...(pgSchema ? { pgSchema } : {}),
      ...(unsealed ? { unsealedRoot: unsealed } : {}),
      maintenanceIntervalMs: 3_600_000,
    });
  };
  try {
    if (root === 'shamir') {
      const made = await createShamirRoot(3, 3);
      const store = await openStore({ databaseUrl: DATABASE_URL, sqliteFile: join(dataDir, 'symbolon.db'), pgSchema });
      try {
        await putMetaIfAbsent(store.db, SHAMIR_META, encodeShamirRecord(made.record));
        await putMetaIfAbsent(store.db, STORE_KEY_META, await createStoreKeyRecord(made.root, false));
      } finally {
        await made.root.close();
        await store.close();
      }
      shares = { record: made.record, lines: made.lines };
    }
    const filling = Date.now();
    const first = await open();
    try {
      const { store, root } = first.deps;
      const policy = defaultKeyPolicy(first.accountId);
      for (let done = 0; done < KEYS; ) {
        const batch = Math.min(2000, KEYS - done);
        await store.db.transaction().execute(async (trx) => {
          for (let i = 0; i < batch; i++) {
            await insertBenchKey(trx, root, { accountId: first.accountId, region: config.region, policy });
          }
        });
        done += batch;
      }
    } finally {
      await first.close();
    }
    const fillSeconds = (Date.now() - filling) / 1000;
    const startupMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const c = await open();
      startupMs.push(performance.now() - t0);
      await c.close();
    }
    const sorted = [...startupMs].sort((a, b) => a - b);
    const medianMs = sorted[Math.floor(sorted.length / 2)]!;
    return { root, keys: KEYS, fillSeconds, startupMs, medianMs, met: Math.max(...startupMs) <= 3000 };
  } finally {
    if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const root of ROOTS) {
    if (root === 'file') rows.push(await benchRoot('file', {}));
    else if (root === 'pkcs11') {
      if (SKIP_WITHOUT_HSM) {
        console.log(`pkcs11: skipped (${SKIP_WITHOUT_HSM})`);
        continue;
      }
      const hsm = softHsm();
      try {
        hsm.initToken('bench');
        rows.push(await benchRoot('pkcs11', hsm.env('bench')));
      } finally {
        hsm.cleanup();
      }
    } else if (root === 'kms') {
      // The upstream KMS: another Symbolon server process.
      const upstream = await startServerProcess();
      try {
        const kms = new KMSClient({ endpoint: upstream.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
        const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
        kms.destroy();
        rows.push(
          await benchRoot('kms', {
            SYMBOLON_ROOT: 'kms',
            SYMBOLON_ROOT_KMS_ENDPOINT: upstream.endpoint,
            SYMBOLON_ROOT_KMS_KEY_ID: keyId,
            SYMBOLON_ROOT_KMS_ACCESS_KEY_ID: BENCH_ADMIN.accessKeyId,
            SYMBOLON_ROOT_KMS_SECRET_ACCESS_KEY: BENCH_ADMIN.secretAccessKey,
          }),
        );
      } finally {
        await upstream.stop();
      }
    } else if (root === 'shamir') rows.push(await benchRoot('shamir', { SYMBOLON_ROOT: 'shamir' }));
    else throw new RangeError(`BENCH_ROOTS: unknown root ${root}`);
  }
  console.log(`\nSymbolon custodian start-up, ${cpus().length} cores, store: ${DATABASE_URL ? 'PostgreSQL' : 'embedded SQLite'}, ${RUNS} starts per root\n`);
  console.log(`${'root'.padEnd(8)}${'keys'.padEnd(10)}${'fill s'.padEnd(9)}${'starts (ms)'.padEnd(28)}${'median ms'.padEnd(11)}target     met`);
  for (const r of rows) {
    console.log(
      `${r.root.padEnd(8)}${String(r.keys).padEnd(10)}${r.fillSeconds.toFixed(1).padEnd(9)}${r.startupMs
        .map((m) => m.toFixed(0))
        .join(', ')
        .padEnd(28)}${r.medianMs.toFixed(0).padEnd(11)}${'<= 3000 ms'.padEnd(11)}${r.met ? 'yes' : 'NO'}`,
    );
  }
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/startup.json',
    JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, store: DATABASE_URL ? 'postgres' : 'sqlite', rows }, null, 2) + '\n',
  );
  console.log('\nwritten: bench/results/startup.json');
}

await main();
