/**
 * A persistent store for the migrate-root and rotation tests
 * (test/root-rotation.test.ts, test/root-migrate.test.ts): a data directory,
 * and with DATABASE_URL a PostgreSQL schema named rotate15_…; in-process
 * servers on it; the CLI as a child process; and a check that opens every
 * sealed box in it with the root the row names.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { SignCommand } from '@aws-sdk/client-kms';
import { loadConfiguredRoot } from '../../src/server/custodian.js';
import { rootSettingsFromEnv } from '../../src/root/settings.js';
import { openStoreKeys, sealedBoxVersion, STORE_KEY_META, storeKeyRecordInfo, type StoreKeyRecordInfo } from '../../src/root/store-key.js';
import { dropPgSchema, openStore, type Store } from '../../src/storage/database.js';
import { getMeta } from '../../src/storage/meta.repository.js';
import { byteColumns, readSealedBatch, type Cursor } from '../../src/storage/reseal.js';
import { SEALED_COLUMNS, SEALED_META, UNSEALED_BYTE_COLUMNS } from '../../src/cli/store-key-ops.js';
import { wipe } from '../../src/crypto/bytes.js';
import { startTestServer, type TestServer, type TestServerOptions } from './server.js';

export const DATABASE_URL = process.env.DATABASE_URL || undefined;
export const DIGEST = new Uint8Array(32).fill(7);

export interface RotateStore {
  dataDir: string;
  pgSchema: string | undefined;
  start(extra?: Omit<TestServerOptions, 'dataDir' | 'pgSchema' | 'keepSchema'>): Promise<TestServer>;
  open(): Promise<Store>;
  /** The CLI (bin/symbolon.js) as a child process: its exit code or signal and output. */
  cli(args: string[], env?: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  cleanup(): Promise<void>;
}

export function rotateStore(label: string): RotateStore {
  const dataDir = mkdtempSync(join(tmpdir(), `symbolon-${label}-`));
  const pgSchema = DATABASE_URL ? `rotate15_${label}_${randomBytes(4).toString('hex')}` : undefined;
  return {
    dataDir,
    pgSchema,
    start: (extra = {}) => startTestServer({ ...extra, dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) }),
    open: () => openStore({ databaseUrl: DATABASE_URL, sqliteFile: join(dataDir, 'symbolon.db'), pgSchema, migrate: false }),
    cli(args, env = {}) {
      const child = spawn(process.execPath, ['bin/symbolon.js', ...args, '--data', dataDir, ...(pgSchema ? ['--schema', pgSchema] : [])], {
        env: { ...process.env, NODE_NO_WARNINGS: '1', DATABASE_URL: DATABASE_URL ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
    },
    async cleanup() {
      if (pgSchema && DATABASE_URL) await dropPgSchema(DATABASE_URL, pgSchema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function storeKeyInfo(s: RotateStore): Promise<StoreKeyRecordInfo> {
  const store = await s.open();
  try {
    const row = await getMeta(store.db, STORE_KEY_META);
    assert.ok(row, 'the store has a store key row');
    return storeKeyRecordInfo(row);
  } finally {
    await store.close();
  }
}

/** Every value of every byte column that holds sealed boxes (the schema's, minus UNSEALED_BYTE_COLUMNS), and every sealed-looking meta value. */
export async function everySealedBox(store: Store): Promise<Array<{ where: string; box: Uint8Array }>> {
  const out: Array<{ where: string; box: Uint8Array }> = [];
  const dialect = store.dialect === 'postgres' ? 'postgres' : 'sqlite';
  for (const tc of await byteColumns(store.db, dialect)) {
    if (tc in UNSEALED_BYTE_COLUMNS) continue;
    const [table, column] = tc.split('.') as [string, string];
    let cursor: Cursor;
    for (;;) {
      // Ordered by the column itself: this scan must not depend on SEALED_COLUMNS' keys.
      const { rows, next } = await readSealedBatch(store.db, { table, key: [column], column }, cursor, 1000);
      if (next === cursor) break;
      for (const r of rows) out.push({ where: tc, box: new Uint8Array(r.box as Uint8Array) });
      cursor = next;
    }
  }
  const meta = await store.db.selectFrom('symbolon_meta').selectAll().execute();
  for (const m of meta) {
    const v = new Uint8Array(m.value);
    if (m.name === STORE_KEY_META) continue;
    if (m.name in SEALED_META || (sealedBoxVersion(v) !== undefined && v.length >= 33)) out.push({ where: `symbolon_meta.${m.name}`, box: v });
  }
  return out;
}

/**
 * What a store must be after any crash: its row names one root, which
 * unwraps every version; every sealed box names a version the row holds and
 * opens. With `settled`, one version is left and every box is under it.
 * @returns the row's info.
 */
export async function checkStore(s: RotateStore, env: Record<string, string>, settled: boolean): Promise<StoreKeyRecordInfo> {
  const store = await s.open();
  const { root } = await loadConfiguredRoot({ root: rootSettingsFromEnv(env), dataDir: s.dataDir, rootKey: env.SYMBOLON_ROOT_KEY }, true);
  try {
    const row = (await getMeta(store.db, STORE_KEY_META))!;
    const info = storeKeyRecordInfo(row);
    const legacy = root.legacySealer?.();
    const sealer = await openStoreKeys(root, row, legacy);
    try {
      const boxes = await everySealedBox(store);
      assert.ok(boxes.length > 0);
      for (const b of boxes) {
        const v = sealedBoxVersion(b.box);
        assert.ok(
          v !== undefined && (v === 0 ? info.legacy : info.versions.includes(v)),
          `${b.where}: a box under v${v}, which the row (v${info.versions}) does not hold`,
        );
        if (settled) assert.equal(v, info.current, `${b.where} is still sealed under v${v}, not v${info.current}`);
      }
      // Every registered box opens with its associated data.
      let opened = 0;
      for (const col of SEALED_COLUMNS) {
        let cursor: Cursor;
        for (;;) {
          const { rows, next } = await readSealedBatch(store.db, col, cursor, 1000);
          if (next === cursor) break;
          for (const r of rows) {
            wipe(sealer.open(new Uint8Array(r.box as Uint8Array), col.aad(r)));
            opened++;
          }
          cursor = next;
        }
      }
      for (const m of await store.db.selectFrom('symbolon_meta').selectAll().execute()) {
        const aad = SEALED_META[m.name];
        if (aad) {
          wipe(sealer.open(new Uint8Array(m.value), aad()));
          opened++;
        }
      }
      assert.equal(opened, boxes.length, 'every sealed box is one the registry opens');
      if (settled) assert.deepEqual(info.versions, [info.current], 'only the current version is left');
      return info;
    } finally {
      sealer.destroy();
    }
  } finally {
    await root.close();
    await store.close();
  }
}

export async function sign(server: TestServer, keyId: string): Promise<string> {
  const r = await server.kms().send(new SignCommand({ KeyId: keyId, Message: DIGEST, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
  return Buffer.from(r.Signature!).toString('hex');
}
