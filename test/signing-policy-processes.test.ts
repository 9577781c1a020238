/**
 * A signing policy changed through one custodian process applies to the very
 * next request in another process on the same store (src/kms/signing-policy.ts
 * reads the policy's text for every signing request; the key cache only keeps
 * the compiled copy). Two real `symbolon serve` processes on one SQLite file,
 * or one PostgreSQL database when DATABASE_URL is set, with the key cache's
 * lifetime raised to a minute so that any reliance on it would show.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { ADMIN, REGION } from './helpers/server.js';
import { callAwsJson } from './helpers/aws-json.js';
import { createPgDatabase, startServeProcess, type ServeProcess } from './helpers/serve-process.js';

const PG_URL = process.env.DATABASE_URL;
const TREASURY = '0x1111111111111111111111111111111111111111';
const OTHER = '0x2222222222222222222222222222222222222222';
const ALLOW_ALL = JSON.stringify({ Version: '2026-12-01', Statement: [{ Sid: 'AllowAll', Effect: 'Allow' }] });
const NOT_OTHER = JSON.stringify({
  Version: '2026-12-01',
  Statement: [
    { Sid: 'AllowAll', Effect: 'Allow' },
    { Sid: 'NoOther', Effect: 'Deny', Condition: { StringEqualsIgnoreCase: { 'eth:To': OTHER } } },
  ],
});

const tx = (to: string, nonce: number) => ({
  type: 'transaction',
  transaction: { chainId: 31337, nonce, gas: 21000, maxFeePerGas: '30000000000', maxPriorityFeePerGas: '1000000000', to, value: '1000' },
});

function signing(endpoint: string, op: string, body: unknown) {
  return callAwsJson({ endpoint, target: `SymbolonSigning.${op}`, body, credentials: ADMIN });
}

test(`a signing policy changed in one process applies to the next request in another (${PG_URL ? 'PostgreSQL' : 'SQLite'})`, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'symbolon-policy-processes-'));
  const db = PG_URL ? await createPgDatabase(PG_URL) : undefined;
  const servers: ServeProcess[] = [];
  const clients: KMSClient[] = [];
  try {
    const env = { SYMBOLON_KEY_CACHE_TTL_MS: '60000' };
    const where = { dataDir, databaseUrl: db?.url };
    servers.push(await startServeProcess(where, env));
    servers.push(await startServeProcess(where, env));
    const [one, two] = servers as [ServeProcess, ServeProcess];
    const kms = (s: ServeProcess) => {
      const c = new KMSClient({ endpoint: s.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
      clients.push(c);
      return c;
    };
    const [kmsOne, kmsTwo] = [kms(one), kms(two)];
    const keyArn = (await kmsOne.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
    const rawSign = () =>
      kmsTwo.send(new SignCommand({ KeyId: keyArn, Message: new Uint8Array(32).fill(7), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    let nonce = 0;
    const payload = async (to: string) => (await signing(two.endpoint, 'SignPayload', { KeyId: keyArn, Payload: tx(to, nonce++) })).body;

    // Process two signs raw while the key has no policy (and caches the key and "no policy")…
    await rawSign();
    // …process one puts a policy: process two's next raw Sign is refused (a key with a signing policy refuses raw digests).
    assert.equal((await signing(one.endpoint, 'PutSigningPolicy', { KeyId: keyArn, Policy: ALLOW_ALL })).body.Status, 'APPLIED');
    await assert.rejects(rawSign(), (e: Error) => e.name === 'AccessDeniedException');
    assert.ok((await payload(OTHER)).Signed, 'the allow-all policy signs a payload to OTHER in process two');

    // Tightened in process one: process two's next request is refused.
    assert.equal((await signing(one.endpoint, 'PutSigningPolicy', { KeyId: keyArn, Policy: NOT_OTHER })).body.Status, 'APPLIED');
    const refused = await payload(OTHER);
    assert.equal(refused.__type, 'AccessDeniedException', JSON.stringify(refused));
    assert.ok((await payload(TREASURY)).Signed, 'what the new policy still allows signs');

    // Deleted in process one: process two signs raw again at once.
    assert.equal((await signing(one.endpoint, 'DeleteSigningPolicy', { KeyId: keyArn })).body.Status, 'APPLIED');
    await rawSign();
  } finally {
    for (const c of clients) c.destroy();
    await Promise.all(servers.map((s) => s.stop()));
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
