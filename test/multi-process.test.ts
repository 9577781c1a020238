/**
 * Several custodian processes over one store (issue #19, target 3): three
 * `symbolon serve` commands started at once on one fresh PostgreSQL database
 * (DATABASE_URL set) or one SQLite file — one of them with `--workers 2`, so
 * four server processes — take concurrent KMS Signs and windowed
 * SymbolonSigning.SignPayload requests spread over all of them. Afterwards
 * the `symbolon audit verify` binary passes on the one chain (every process
 * started and stopped on it, every request recorded exactly once) and the
 * rolling-window limit held over all the processes together.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { parseTransaction, recoverTransactionAddress } from 'viem';
import { ADMIN, REGION } from './helpers/server.js';
import { callAwsJson } from './helpers/aws-json.js';
import { createPgDatabase, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';

const PG_URL = process.env.DATABASE_URL;
const TREASURY = '0x2222222222222222222222222222222222222222';
/** Small batches and frequent checkpoints, so the processes' writes interleave on the chain head. */
const AUDIT_ENV = { SYMBOLON_AUDIT_FLUSH_MS: '1', SYMBOLON_AUDIT_BATCH_SIZE: '5', SYMBOLON_AUDIT_CHECKPOINT_EVENTS: '10' };

const tx = (nonce: number, value: string) => ({
  type: 'transaction',
  transaction: { chainId: 31337, nonce, gas: 21000, maxFeePerGas: '30000000000', maxPriorityFeePerGas: '1000000000', to: TREASURY, value },
});

/** `symbolon audit <args>` as a separate process, as an operator runs it. */
function auditCli(dataDir: string, databaseUrl: string | undefined, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/symbolon.js', 'audit', ...args, '--data', dataDir], {
    env: { ...process.env, NODE_NO_WARNINGS: '1', DATABASE_URL: databaseUrl ?? '' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test(`three symbolon serve commands (four processes) on one ${PG_URL ? 'PostgreSQL database' : 'SQLite file'}: one audit chain that verifies, and a window limit never exceeded`, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-multi-'));
  const db = PG_URL ? await createPgDatabase(PG_URL) : undefined;
  const servers: ServeProcess[] = [];
  const clients: KMSClient[] = [];
  let stopped = false;
  try {
    // All three start at once on the empty store: migrations, the root key file, the store key and
    // the checkpoint key are each created once, whichever process gets there first.
    const where = { dataDir, databaseUrl: db?.url };
    const started = await Promise.allSettled([
      startServeProcess(where, AUDIT_ENV),
      startServeProcess(where, AUDIT_ENV),
      startServeProcess({ ...where, workers: 2 }, AUDIT_ENV),
    ]);
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const endpoints = servers.map((s) => s.endpoint);
    for (const endpoint of endpoints) clients.push(new KMSClient({ endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 }));

    const kms = clients[0]!;
    const signKey = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const capped = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
    const address = publicKeyToAddress((await kms.send(new GetPublicKeyCommand({ KeyId: capped }))).PublicKey!);
    const policy = JSON.stringify({
      Version: '2026-12-01',
      Statement: [{ Sid: 'DailyCap', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:ValueInWindow/86400': '12000' } } }],
    });
    const put = await callAwsJson({ endpoint: endpoints[1]!, target: 'SymbolonSigning.PutSigningPolicy', body: { KeyId: capped, Policy: policy } });
    assert.equal(put.status, 200, JSON.stringify(put.body));

    // Plain Signs and windowed SignPayloads at once, round-robin over the three ports (the third
    // port's two workers share its connections).
    const digest = createHash('sha256').update('several processes').digest();
    const signs = Array.from({ length: 90 }, (_, i) =>
      clients[i % clients.length]!.send(new SignCommand({ KeyId: signKey, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
    );
    // 36 payments of 1,000 wei against a cap of 12,000 in the window: exactly 12 may sign.
    const payloads = Array.from({ length: 36 }, (_, i) =>
      callAwsJson({ endpoint: endpoints[i % endpoints.length]!, target: 'SymbolonSigning.SignPayload', body: { KeyId: capped, Payload: tx(i, '1000') } }),
    );
    const [signed, paid] = await Promise.all([Promise.all(signs), Promise.all(payloads)]);
    const requestIds = signed.map((r) => r.$metadata.requestId!);
    assert.equal(new Set(requestIds).size, 90, 'every Sign answered, each with its own request id');

    const allowed = paid.filter((r) => r.status === 200);
    assert.equal(allowed.length, 12, `SignPayload signed ${allowed.length} of 36`);
    let total = 0n;
    for (const r of allowed) {
      assert.equal(await recoverTransactionAddress({ serializedTransaction: r.body.Signed as never }), address);
      total += parseTransaction(r.body.Signed as never).value ?? 0n;
    }
    assert.equal(total, 12000n, 'the signed total is the cap, never more');
    for (const r of paid.filter((x) => x.status !== 200)) {
      assert.equal(r.body.__type, 'AccessDeniedException');
      assert.match(String(r.body.message), /rolling-window limit eth:ValueInWindow\/86400 <= 12000 would be exceeded/);
    }

    // A clean stop flushes each process's buffered events and writes its ProcessStopped.
    for (const c of clients) c.destroy();
    const codes = await Promise.all(servers.map((s) => s.stop()));
    stopped = true;
    assert.deepEqual(codes, [0, 0, 0], 'every serve command exits cleanly');

    const verify = auditCli(dataDir, db?.url, ['verify', '--json']);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const report = JSON.parse(verify.stdout);
    // Two single processes, two workers, and the --workers primary's start-up pass (it prepares the store
    // with a custodian of its own, closed before it forks) each opened the log.
    assert.equal(report.processes.started, 5);
    assert.deepEqual(report.processes.withoutCleanStop, [], 'every process stopped cleanly');
    assert.equal(report.keys.length, 1, 'every process signs checkpoints with the one checkpoint key');
    assert.ok(report.checkpoints.total >= 10, `checkpoints: ${report.checkpoints.total}`);
    assert.equal(report.checkpoints.verified, report.checkpoints.total);
    assert.equal(report.checkpoints.last.seq, report.eventsVerified, 'the last checkpoint covers the whole chain');

    const events = auditCli(dataDir, db?.url, ['query', '--json', '--limit', '10000'])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { requestId: string; service: string; operation: string; outcome: string });
    assert.equal(events.length, report.eventsVerified);
    // Every Sign once, and every SignPayload once with its decision.
    const signEvents = events.filter((e) => e.operation === 'Sign').map((e) => e.requestId);
    assert.deepEqual([...signEvents].sort(), [...requestIds].sort());
    const payloadEvents = events.filter((e) => e.operation === 'SignPayload');
    assert.equal(payloadEvents.length, 36);
    assert.equal(payloadEvents.filter((e) => e.outcome === 'allowed').length, 12);
    assert.equal(events.filter((e) => e.operation === 'ProcessStarted').length, 5);
    assert.equal(events.filter((e) => e.operation === 'ProcessStopped').length, 5);
  } finally {
    for (const c of clients) c.destroy();
    if (!stopped) await Promise.allSettled(servers.map((s) => s.stop()));
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
