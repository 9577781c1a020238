/**
 * The audit record of every acknowledged state change survives kill -9
 * (red-team finding #12.6): a real `symbolon serve` process under a burst of
 * state-changing KMS requests (TagResource, CreateAlias) and reads (Sign) is
 * killed with SIGKILL mid-burst; every change the AWS SDK saw acknowledged
 * must be on the chain, the chain must verify, and `audit verify` must name the
 * process that stopped without a ProcessStopped event. The flush interval is
 * set long (400 ms) so that an event waiting for the timer, as every event did
 * before changes waited for their record, is lost by the kill.
 * Runs on the embedded SQLite store and, with DATABASE_URL, on PostgreSQL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateAliasCommand, CreateKeyCommand, KMSClient, SignCommand, TagResourceCommand } from '@aws-sdk/client-kms';
import { ADMIN, REGION } from './helpers/server.js';
import { createPgDatabase, startServeProcess } from './helpers/serve-process.js';
import { openStore } from '../src/storage/database.js';
import { verifyAuditLog } from '../src/audit/verify.js';

const PG_URL = process.env.DATABASE_URL;

test(`kill -9 during a burst: every acknowledged state change is on the audit chain (${PG_URL ? 'PostgreSQL' : 'SQLite'})`, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-durable-'));
  const database = PG_URL ? await createPgDatabase(PG_URL) : undefined;
  const databaseUrl = database?.url;
  const server = await startServeProcess({ dataDir, databaseUrl }, { SYMBOLON_AUDIT_FLUSH_MS: '400', SYMBOLON_AUDIT_BATCH_SIZE: '500' });
  const kms = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  try {
    const created = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
    const keyId = created.KeyMetadata!.KeyId!;
    const changes: string[] = [created.$metadata.requestId!];
    let reads = 0;
    let stop = false;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        try {
          if (i % 3 === 2) {
            await kms.send(
              new SignCommand({
                KeyId: keyId,
                Message: createHash('sha256').update(`${w}/${i}`).digest(),
                MessageType: 'DIGEST',
                SigningAlgorithm: 'ECDSA_SHA_256',
              }),
            );
            reads++;
          } else {
            const r =
              i % 3 === 0
                ? await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: `w${w}`, TagValue: String(i) }] }))
                : await kms.send(new CreateAliasCommand({ AliasName: `alias/durable-${w}-${i}`, TargetKeyId: keyId }));
            if (!stop) changes.push(r.$metadata.requestId!);
          }
        } catch {
          return; // the server is gone
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    // Mid-burst: well past the first flush interval, with requests in flight.
    await new Promise((r) => setTimeout(r, 3_000));
    server.child.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await new Promise<void>((r) => (server.child.exitCode !== null || server.child.signalCode !== null ? r() : server.child.once('exit', () => r())));
    assert.ok(changes.length > 20, `the burst acknowledged ${changes.length} changes`);
    assert.ok(reads > 10, `and ${reads} reads`);

    const store = await openStore(databaseUrl ? { databaseUrl } : { sqliteFile: join(dataDir, 'symbolon.db') });
    try {
      const rows = await store.db.selectFrom('audit_events').select(['request_id', 'operation']).execute();
      const logged = new Set(rows.map((r) => r.request_id));
      const lost = changes.filter((id) => !logged.has(id));
      assert.deepEqual(lost, [], `${lost.length} of ${changes.length} acknowledged changes are missing from the audit log`);
      const report = await verifyAuditLog(store.db);
      assert.equal(report.ok, true, report.problem?.message);
      assert.equal(report.processes.started, 1);
      assert.equal(report.processes.withoutCleanStop.length, 1, 'verify names the process killed without a clean stop');
    } finally {
      await store.close();
    }
  } finally {
    kms.destroy();
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
