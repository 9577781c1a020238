/**
 * Rolling-window signing policies under concurrency (docs/signing-policy.md
 * "Rolling windows"): SymbolonSigning.SignPayload hammered at once on a key
 * whose policy caps value and signature count in a window, from two server
 * processes over the same store (this process's custodian and a `symbolon
 * serve` child; the same PostgreSQL schema, or the same SQLite file) — and exactly the allowed
 * number sign, the total signed never exceeds the limit, and every refusal
 * names the Sid and the window limit.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateKeyCommand, GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { parseTransaction, recoverTransactionAddress } from 'viem';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { callAwsJson } from './helpers/aws-json.js';
import { startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';

const TREASURY = '0x1111111111111111111111111111111111111111';
const pgSchema = process.env.DATABASE_URL ? `window16_${Math.random().toString(16).slice(2, 10)}` : undefined;
let server: TestServer;
/** A second `symbolon serve` over the same PostgreSQL schema or SQLite file. */
let other: ServeProcess | undefined;

function signing(endpoint: string, op: string, body: unknown) {
  return callAwsJson({ endpoint, target: `SymbolonSigning.${op}`, body, credentials: ADMIN });
}

/** Asserts a 200, showing the body otherwise. */
async function ok(p: ReturnType<typeof signing>): Promise<Record<string, unknown>> {
  const r = await p;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function newKey(): Promise<{ arn: string; address: string }> {
  const kms = server.kms();
  const arn = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: arn }));
  return { arn, address: publicKeyToAddress(pub.PublicKey!) };
}

const tx = (nonce: number, value: string) => ({
  type: 'transaction',
  transaction: { chainId: 31337, nonce, gas: 21000, maxFeePerGas: '30000000000', maxPriorityFeePerGas: '1000000000', to: TREASURY, value },
});

/** The endpoints requests alternate between: both processes. */
const endpoints = () => (other ? [server.endpoint, other.endpoint] : [server.endpoint]);

before(async () => {
  server = await startTestServer(pgSchema ? { pgSchema } : {});
  let databaseUrl: string | undefined;
  if (pgSchema && server.config.databaseUrl) {
    const u = new URL(server.config.databaseUrl);
    u.searchParams.set('options', `-c search_path=${pgSchema}`);
    databaseUrl = u.toString();
  }
  // A second `symbolon serve` over the same store: the same schema, or the same SQLite file.
  other = await startServeProcess({ dataDir: server.dataDir, databaseUrl });
});

after(async () => {
  await other?.stop();
  await server.close();
});

test('a value window under concurrent SignPayload: exactly the allowed number sign, the total never exceeds the limit', async () => {
  const key = await newKey();
  const policy = JSON.stringify({
    Version: '2026-12-01',
    Statement: [{ Sid: 'DailyCap', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:ValueInWindow/86400': '10000' } } }],
  });
  await ok(signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: policy }));
  const ends = endpoints();
  // 24 requests of 1000 wei at once, alternating between the processes: the window allows 10.
  const results = await Promise.all(
    Array.from({ length: 24 }, (_, i) => signing(ends[i % ends.length]!, 'SignPayload', { KeyId: key.arn, Payload: tx(i, '1000') })),
  );
  const signed = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status !== 200);
  assert.equal(signed.length, 10, `signed ${signed.length} of 24`);
  let total = 0n;
  for (const r of signed) {
    assert.equal(await recoverTransactionAddress({ serializedTransaction: r.body.Signed as never }), key.address);
    total += parseTransaction(r.body.Signed as never).value ?? 0n;
  }
  assert.equal(total, 10000n);
  for (const r of refused) {
    assert.equal(r.body.__type, 'AccessDeniedException');
    assert.match(String(r.body.message), /Statement DailyCap would allow it, but its rolling-window limit eth:ValueInWindow\/86400 <= 10000 would be exceeded/);
  }
  // Half the requests went to each process (which one signs first is the scheduler's choice): the limit held over both together.
  assert.equal(ends.length, 2);
  // A zero-value payment still fits (10,000 + 0); one more wei does not.
  await ok(signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx(100, '0') }));
  const more = await signing(endpoints().at(-1)!, 'SignPayload', { KeyId: key.arn, Payload: tx(101, '1') });
  assert.equal(more.body.__type, 'AccessDeniedException');
});

test('a signature-count window under concurrent SignPayload: exactly N sign; a refused request is not counted', async () => {
  const key = await newKey();
  const policy = JSON.stringify({
    Version: '2026-12-01',
    Statement: [
      { Sid: 'ThreePerHour', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:SignaturesInWindow/3600': '3' } } },
      { Sid: 'NoBig', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Value': '5' } } },
    ],
  });
  await ok(signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: policy }));
  // A refused request (explicit Deny) reserves nothing.
  const big = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx(0, '6') });
  assert.match(String(big.body.message), /statement NoBig \(explicit Deny\)/);
  const ends = endpoints();
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) => signing(ends[i % ends.length]!, 'SignPayload', { KeyId: key.arn, Payload: { type: 'message', message: `m${i}` } })),
  );
  assert.equal(results.filter((r) => r.status === 200).length, 3);
  for (const r of results.filter((x) => x.status !== 200))
    assert.match(
      String(r.body.message),
      /Statement ThreePerHour would allow it, but its rolling-window limit eth:SignaturesInWindow\/3600 <= 3 would be exceeded/,
    );
});

test('a request allowed by the window but not signed (it cannot be encoded) releases its reservation', async () => {
  const key = await newKey();
  const policy = JSON.stringify({
    Version: '2026-12-01',
    Statement: [{ Sid: 'OnePerHour', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:SignaturesInWindow/3600': '1' } } }],
  });
  await ok(signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: policy }));
  // Typed data whose shape reads but whose value cannot be hashed: decided (allowed), then refused at encoding.
  const unhashable = {
    type: 'typedData',
    typedData: { domain: { name: 'X' }, types: { Mail: [{ name: 'n', type: 'uint8' }] }, primaryType: 'Mail', message: { n: 'many' } },
  };
  for (let i = 0; i < 2; i++) {
    const bad = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: unhashable });
    assert.equal(bad.body.__type, 'ValidationException', JSON.stringify(bad.body));
  }
  // Had either reservation stayed, the window would be full.
  await ok(signing(endpoints().at(-1)!, 'SignPayload', { KeyId: key.arn, Payload: { type: 'message', message: 'first' } }));
  const second = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: { type: 'message', message: 'second' } });
  assert.match(String(second.body.message), /OnePerHour would allow it, but its rolling-window limit eth:SignaturesInWindow\/3600 <= 1 would be exceeded/);
});

test('an approved RequireApproval request counts in the window once, however often its signature is fetched', async () => {
  const key = await newKey();
  const iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  let alice: { accessKeyId: string; secretAccessKey: string; arn: string };
  try {
    const u = await iam.send(new CreateUserCommand({ UserName: 'window16-approver' }));
    const anyAction = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Sign', 'symbolon:*'], Resource: '*' }] };
    await iam.send(new PutUserPolicyCommand({ UserName: 'window16-approver', PolicyName: 'p', PolicyDocument: JSON.stringify(anyAction) }));
    const k = await iam.send(new CreateAccessKeyCommand({ UserName: 'window16-approver' }));
    alice = { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn! };
  } finally {
    iam.destroy();
  }
  const policy = JSON.stringify({
    Version: '2026-12-01',
    Statement: [
      { Sid: 'DailyCap', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:ValueInWindow/86400': '3000' } } },
      {
        Sid: 'BigNeedsApproval',
        Effect: 'RequireApproval',
        Condition: { NumericGreaterThan: { 'eth:Value': '1500' } },
        Approval: { Approvers: [alice.arn], MinApprovals: 1 },
      },
    ],
  });
  await ok(signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: policy }));
  const asked = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx(0, '2000') });
  const m = /signing request ([0-9a-f-]{36}) is pending \(SHA-256 ([0-9a-f]{64})\)/.exec(String(asked.body.message));
  assert.ok(m, String(asked.body.message));
  const approve = () =>
    callAwsJson({
      endpoint: server.endpoint,
      target: 'SymbolonApprovals.ApprovePolicyChange',
      body: { ChangeId: m[1], PayloadSha256: m[2] },
      credentials: { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey },
    });
  // A 5xx is retried, as the AWS SDK retries one: on one SQLite file, the approval's own transaction
  // (src/kms/policy/quorum.ts, not the window code) rarely meets the second process's audit writes.
  let vote = await approve();
  for (let i = 0; i < 3 && vote.status >= 500; i++) vote = await approve();
  assert.equal((vote.body.Change as { Status: string } | undefined)?.Status, 'APPLIED', JSON.stringify(vote.body));
  for (let i = 0; i < 3; i++) await ok(signing(server.endpoint, 'GetSigningRequest', { RequestId: m[1] }));
  // 2000 counted once: 1000 more reaches 3000 exactly; then 1 wei is over.
  await ok(signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx(1, '1000') }));
  const over = await signing(endpoints().at(-1)!, 'SignPayload', { KeyId: key.arn, Payload: tx(2, '1') });
  assert.equal(over.body.__type, 'AccessDeniedException', JSON.stringify(over.body));
  assert.match(String(over.body.message), /DailyCap would allow it, but its rolling-window limit eth:ValueInWindow\/86400 <= 3000 would be exceeded/);
});
