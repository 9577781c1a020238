/**
 * `npm run bench:backup`: `symbolon backup create` (and verify) of a store
 * holding BENCH_KEYS (100,000) secp256k1 signing keys, on embedded SQLite, or
 * on PostgreSQL with DATABASE_URL (a database of its own, dropped after).
 *
 * Set-up goes through the store layer (src/kms/key-records.ts
 * insertKey, in transactions of 5,000): each key has its kms_keys row, its
 * material sealed under a root of trust (32 random bytes, as real key
 * material) and a 88-byte DER public key, and a policy of the default's size.
 * The store's checkpoint key and root check are made as `serve` makes them.
 * The timed part is the CLI's own code path (backupCommand, in process):
 * one snapshot, every table, hashing, writing, signing the manifest.
 *
 * Printed: seconds for create and verify, file size, rows; the target
 * (create <= 30 s); results go to bench/results/backup.json.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore } from '../src/storage/database.js';
import { insertKey } from '../src/kms/key-records.js';
import { putMetaIfAbsent } from '../src/storage/meta.repository.js';
import { KeyRootOfTrust, sealingContext } from '../src/root/root-of-trust.js';
import { loadCheckpointSigner } from '../src/audit/checkpoint-key.js';
import { ROOT_CHECK, ROOT_CHECK_PURPOSE } from '../src/server/custodian.js';
import { backupCommand } from '../src/cli/backup.js';
import { createPgDatabase } from '../test/helpers/serve-process.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const TARGET_SECONDS = 30;
const PG_URL = process.env.DATABASE_URL;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-bench-backup-'));
  const rootHex = randomBytes(32).toString('hex');
  const pgDb = PG_URL ? await createPgDatabase(PG_URL) : undefined;
  try {
    const store = await openStore(pgDb ? { databaseUrl: pgDb.url } : { sqliteFile: join(dir, 'symbolon.db') });
    const root = new KeyRootOfTrust(Buffer.from(rootHex, 'hex'), 'bench');
    const now = Date.now();
    await putMetaIfAbsent(store.db, ROOT_CHECK, root.seal(new TextEncoder().encode('symbolon root key check v1'), sealingContext(ROOT_CHECK_PURPOSE)));
    await loadCheckpointSigner(store, root, now);
    const der = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ format: 'der', type: 'spki' });
    createPublicKey({ key: der, format: 'der', type: 'spki' });
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
      ],
    });
    const setupStart = performance.now();
    for (let i = 0; i < KEYS; i += 5_000) {
      await store.db.transaction().execute(async (tx) => {
        for (let j = i; j < Math.min(KEYS, i + 5_000); j++) {
          const keyId = randomUUID();
          const material = randomBytes(32);
          await insertKey(
            tx,
            {
              keyId,
              accountId: '111122223333',
              region: 'us-east-1',
              keySpec: 'ECC_SECG_P256K1',
              keyUsage: 'SIGN_VERIFY',
              keyState: 'Enabled',
              origin: 'AWS_KMS',
              description: `bench ${j}`,
              policy,
              createdAt: now + j,
              deletionAt: null,
              pendingWindowDays: null,
              rotationEnabled: false,
              rotationPeriodDays: null,
              nextRotationAt: null,
              currentVersion: 1,
              revision: 1,
              firstProtectedAt: null,
            },
            {
              keyId,
              version: 1,
              sealed: root.seal(material, sealingContext('kms/key-material/v1', keyId, 1)),
              publicKey: der,
              createdAt: now + j,
              rotationType: null,
            },
            [],
          );
          material.fill(0);
        }
      });
    }
    const setupSeconds = (performance.now() - setupStart) / 1000;
    await store.close();
    root.destroy();

    const io = {
      stdout: { write: () => true },
      stderr: { write: (s: string) => process.stderr.write(s) },
      env: { SYMBOLON_ROOT_KEY: rootHex, DATABASE_URL: pgDb?.url },
    };
    const out = join(dir, 'backup.jsonl');
    const t0 = performance.now();
    const code = await backupCommand(['create', '--out', out, '--data', dir], io);
    const createSeconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`backup create exited ${code}`);
    const t1 = performance.now();
    const verifyCode = await backupCommand(['verify', out], io);
    const verifySeconds = (performance.now() - t1) / 1000;
    if (verifyCode !== 0) throw new Error(`backup verify exited ${verifyCode}`);
    const bytes = statSync(out).size;
    const result = {
      date: new Date().toISOString(),
      cores: availableParallelism(),
      store: pgDb ? 'postgres' : 'sqlite',
      keys: KEYS,
      setupSeconds,
      createSeconds,
      verifySeconds,
      fileBytes: bytes,
      target: `create <= ${TARGET_SECONDS} s for 100,000 keys`,
      met: KEYS >= 100_000 ? createSeconds <= TARGET_SECONDS : null,
    };
    console.log(
      `backup of ${KEYS} keys on ${result.store}: create ${createSeconds.toFixed(2)} s (target <= ${TARGET_SECONDS} s: ${result.met ? 'met' : 'NOT met'}), verify ${verifySeconds.toFixed(2)} s, ${(bytes / 1e6).toFixed(1)} MB; set-up ${setupSeconds.toFixed(1)} s`,
    );
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/backup${pgDb ? '-postgres' : ''}.json`, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await pgDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
