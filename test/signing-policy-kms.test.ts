/**
 * Signing policies on KMS keys, through a real listening custodian
 * (docs/signing-policy.md): attaching one (SymbolonSigning.Put/Get/Delete,
 * the CLI), signing decoded payloads with SymbolonSigning.SignPayload
 * (allowed and refused per the policy, signatures recovered with viem), no
 * path around it — KMS Sign through the AWS SDK refused for every principal,
 * in this process and in a second server process on the same store, unless
 * the key policy names symbolon:SignRawDigest — changes under a key's quorum
 * rule and under the account rule, and the decoded audit fields, hash-chained.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { GetPublicKeyCommand, CreateKeyCommand, DescribeKeyCommand, PutKeyPolicyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { encodeFunctionData, erc20Abi, recoverMessageAddress, recoverTransactionAddress, recoverTypedDataAddress, type Hex } from 'viem';
import { recoverAuthorizationAddress } from 'viem/utils';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { callAwsJson, callApprovals } from './helpers/aws-json.js';
import { startServeProcess } from './helpers/serve-process.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { queryEvents } from '../src/storage/audit.repository.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { policyCommand } from '../src/cli/policy.js';
import { auditCommand } from '../src/cli/audit.js';
import { putSigningPolicy } from '../src/storage/signing-policies.repository.js';

const TREASURY = '0x1111111111111111111111111111111111111111';
const OTHER = '0x2222222222222222222222222222222222222222';
const TOKEN = '0x3333333333333333333333333333333333333333';
const ISSUE_EXAMPLE = `{ "Version": "2026-12-01",
    "Statement": [{ "Sid": "PayTreasury", "Effect": "Allow",
      "Condition": { "StringEqualsIgnoreCase": { "eth:To": "0x1111111111111111111111111111111111111111" },
                     "NumericEquals": { "eth:ChainId": "31337" },
                     "NumericLessThanEquals": { "eth:Value": "1000000000000000000" } } }] }`;
const LAYERED = JSON.stringify({
  Version: '2026-12-01',
  Statement: [
    { Sid: 'AllowAll', Effect: 'Allow' },
    { Sid: 'NoOther', Effect: 'Deny', Condition: { StringEqualsIgnoreCase: { 'eth:To': OTHER } } },
    { Sid: 'NoBigTokenSends', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:Erc20Amount': '1000' } } },
  ],
});

type Creds = { accessKeyId: string; secretAccessKey: string; arn: string };
let server: TestServer;
/** On PostgreSQL, this file's own schema (a second process joins it by search_path). */
const pgSchema = process.env.DATABASE_URL ? `policy16_${Math.random().toString(16).slice(2, 10)}` : undefined;
let account: string;
let rootArn: string;
/** Server time = real time + offset (the expiry test moves it; clients then sign with the same offset). */
let offsetMs = 0;
const iamClients: IAMClient[] = [];

function iam(): IAMClient {
  const c = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  iamClients.push(c);
  return c;
}

async function user(name: string, policy: unknown): Promise<Creds> {
  const u = await iam().send(new CreateUserCommand({ UserName: name }));
  await iam().send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify(policy) }));
  const k = await iam().send(new CreateAccessKeyCommand({ UserName: name }));
  return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn! };
}

/** One SymbolonSigning.* call: the status and body. */
function signing(endpoint: string, op: string, body: unknown, credentials: { accessKeyId: string; secretAccessKey: string } = ADMIN) {
  return callAwsJson({ endpoint, target: `SymbolonSigning.${op}`, body, credentials, signingDate: new Date(Date.now() + offsetMs) });
}

async function newKey(kms: KMSClient = server.kms()): Promise<{ arn: string; address: string }> {
  const arn = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: arn }));
  return { arn, address: publicKeyToAddress(pub.PublicKey!) };
}

const tx = (fields: Record<string, unknown> = {}) => ({
  type: 'transaction',
  transaction: {
    chainId: 31337,
    nonce: 0,
    gas: 21000,
    maxFeePerGas: '30000000000',
    maxPriorityFeePerGas: '1000000000',
    to: TREASURY,
    value: '1000',
    ...fields,
  },
});
const rawSign = (kms: KMSClient, keyId: string) =>
  kms.send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32).fill(7), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));

async function accessDenied(p: Promise<unknown>, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const err = e as { name?: string; message?: string };
    assert.equal(err.name, 'AccessDeniedException', `${err.name}: ${err.message}`);
    if (message) assert.match(err.message ?? '', message);
    return true;
  });
}

before(async () => {
  server = await startTestServer({ clock: () => Date.now() + offsetMs, ...(pgSchema ? { pgSchema } : {}) });
  account = server.custodian.accountId;
  rootArn = `arn:aws:iam::${account}:root`;
});

after(async () => {
  for (const c of iamClients) c.destroy();
  await server.close();
});

test('a key without a signing policy: raw Sign and SignPayload both sign; every payload type recovers to the key', async () => {
  const key = await newKey();
  await rawSign(server.kms(), key.arn);
  const t = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx() });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.Address, key.address);
  assert.equal(await recoverTransactionAddress({ serializedTransaction: t.body.Signed as never }), key.address);
  const m = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: { type: 'message', message: 'hello' } });
  assert.equal(await recoverMessageAddress({ message: 'hello', signature: m.body.Signed as Hex }), key.address);
  const typedData = {
    domain: { name: 'X', chainId: 31337, verifyingContract: TOKEN },
    types: { Mail: [{ name: 'contents', type: 'string' }] },
    primaryType: 'Mail',
    message: { contents: 'hi' },
  } as const;
  const td = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: { type: 'typedData', typedData } });
  assert.equal(await recoverTypedDataAddress({ ...typedData, signature: td.body.Signed as Hex }), key.address);
  const a = await signing(server.endpoint, 'SignPayload', {
    KeyId: key.arn,
    Payload: { type: 'authorization', authorization: { address: TOKEN, chainId: 31337, nonce: 3 } },
  });
  const sig = a.body.Signature as { r: Hex; s: Hex; yParity: number };
  assert.equal((a.body.Signed as string).length, 2 + 130);
  const signedAuthorization = { address: TOKEN, chainId: 31337, nonce: 3, ...sig } as Parameters<typeof recoverAuthorizationAddress>[0]['authorization'];
  assert.equal(await recoverAuthorizationAddress({ authorization: signedAuthorization }), key.address);
});

test('put, get, refuse a malformed policy (nothing changed), delete; only secp256k1 signing keys', async () => {
  const key = await newKey();
  const none = await signing(server.endpoint, 'GetSigningPolicy', { KeyId: key.arn });
  assert.equal(none.body.__type, 'NotFoundException');
  const put = await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: ISSUE_EXAMPLE });
  assert.deepEqual(put.body, { KeyId: key.arn, Status: 'APPLIED' });
  const bad = await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: ISSUE_EXAMPLE.replace('eth:To', 'eth:Too') });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.__type, 'MalformedPolicyDocumentException');
  assert.match(String(bad.body.message), /unknown condition key "eth:Too"/);
  const got = await signing(server.endpoint, 'GetSigningPolicy', { KeyId: key.arn });
  assert.equal(got.body.Policy, ISSUE_EXAMPLE);
  assert.equal(got.body.PolicySha256, createHash('sha256').update(ISSUE_EXAMPLE).digest('hex'));
  assert.equal(got.body.UpdatedBy, rootArn);
  const del = await signing(server.endpoint, 'DeleteSigningPolicy', { KeyId: key.arn });
  assert.equal(del.body.Status, 'APPLIED');
  assert.equal((await signing(server.endpoint, 'DeleteSigningPolicy', { KeyId: key.arn })).body.__type, 'NotFoundException');
  await rawSign(server.kms(), key.arn);
  const aes = (await server.kms().send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  assert.equal((await signing(server.endpoint, 'PutSigningPolicy', { KeyId: aes, Policy: ISSUE_EXAMPLE })).body.__type, 'ValidationException');
});

test('a caller without kms:PutKeyPolicy cannot change the signing policy; with kms:Sign it signs only what the policy allows', async () => {
  const key = await newKey();
  await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: LAYERED });
  const signer = await user('policy16-signer', {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['kms:Sign', 'kms:GetPublicKey'], Resource: '*' }],
  });
  const creds = { accessKeyId: signer.accessKeyId, secretAccessKey: signer.secretAccessKey };
  const change = await signing(server.endpoint, 'DeleteSigningPolicy', { KeyId: key.arn }, creds);
  assert.equal(change.body.__type, 'AccessDeniedException');
  const ok = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx() }, creds);
  assert.equal(ok.status, 200);
  const denied = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx({ to: OTHER }) }, creds);
  assert.equal(denied.body.__type, 'AccessDeniedException');
  assert.match(String(denied.body.message), /signing policy statement NoOther \(explicit Deny\)/);
  const token = await signing(
    server.endpoint,
    'SignPayload',
    {
      KeyId: key.arn,
      Payload: tx({ to: TOKEN, value: '0', gas: 60000, data: encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [TREASURY, 10n ** 30n] }) }),
    },
    creds,
  );
  assert.match(String(token.body.message), /NoBigTokenSends/);
  // No value of the payload in the refusal.
  assert.doesNotMatch(String(denied.body.message), /2222/);
  // Raw Sign is refused to this user as to everyone.
  await accessDenied(rawSign(server.kms(creds), key.arn), /has a signing policy/);
});

test('no path around it: KMS Sign through the AWS SDK is refused on a key with a signing policy, unless the key policy names symbolon:SignRawDigest', async () => {
  const key = await newKey();
  await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: ISSUE_EXAMPLE });
  await accessDenied(rawSign(server.kms(), key.arn), /has a signing policy/);
  // RAW messages too: the policy cannot see them either.
  await accessDenied(
    server.kms().send(new SignCommand({ KeyId: key.arn, Message: new Uint8Array([1]), MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' })),
  );
  // An admin with "kms:*" everywhere and even "*" in the key policy does not count: the action must be named.
  const wildcard = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'Everything', Effect: 'Allow', Principal: { AWS: rootArn }, Action: '*', Resource: '*' }],
  });
  await server.kms().send(new PutKeyPolicyCommand({ KeyId: key.arn, Policy: wildcard }));
  await accessDenied(rawSign(server.kms(), key.arn), /has a signing policy/);
  const rawUser = await user('policy16-raw', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Sign', Resource: '*' }] });
  const named = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: rootArn }, Action: 'kms:*', Resource: '*' },
      { Sid: 'RawSigner', Effect: 'Allow', Principal: { AWS: rawUser.arn }, Action: ['kms:Sign', 'symbolon:SignRawDigest'], Resource: '*' },
    ],
  });
  await server.kms().send(new PutKeyPolicyCommand({ KeyId: key.arn, Policy: named }));
  await rawSign(server.kms({ accessKeyId: rawUser.accessKeyId, secretAccessKey: rawUser.secretAccessKey }), key.arn);
  await accessDenied(rawSign(server.kms(), key.arn), /has a signing policy/);
  // Deleting the signing policy restores raw Sign for the administrator.
  await signing(server.endpoint, 'DeleteSigningPolicy', { KeyId: key.arn });
  await rawSign(server.kms(), key.arn);
});

test('another server process on the same store refuses raw Sign the same way and applies the same policy', async () => {
  const key = await newKey();
  await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: ISSUE_EXAMPLE });
  const databaseUrl =
    server.config.databaseUrl && pgSchema
      ? (() => {
          const u = new URL(server.config.databaseUrl);
          u.searchParams.set('options', `-c search_path=${pgSchema}`);
          return u.toString();
        })()
      : undefined;
  const other = await startServeProcess({ dataDir: server.dataDir, databaseUrl });
  try {
    const kms = new (await import('@aws-sdk/client-kms')).KMSClient({ endpoint: other.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    try {
      await accessDenied(rawSign(kms, key.arn), /has a signing policy/);
    } finally {
      kms.destroy();
    }
    const ok = await signing(other.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx() });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const no = await signing(other.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx({ chainId: 1 }) });
    assert.equal(no.body.__type, 'AccessDeniedException');
    assert.match(String(no.body.message), /no statement allows this payload/);
  } finally {
    await other.stop();
  }
});

test('a signing-policy change on a key with a quorum rule is pending until approved', async () => {
  const key = await newKey();
  const alice = await user('policy16-alice', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['symbolon:*', 'kms:*'], Resource: '*' }] });
  await callApprovals({ endpoint: server.endpoint, operation: 'PutQuorumRule', body: { KeyId: key.arn, Approvers: [rootArn, alice.arn], Threshold: 2 } });
  const put = await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: ISSUE_EXAMPLE });
  assert.equal(put.body.__type, 'KMSInvalidStateException');
  const m = /Signing policy change ([0-9a-f-]{36}) pending approval \(1 of 2\).*SHA-256 ([0-9a-f]{64})/.exec(String(put.body.message));
  assert.ok(m, String(put.body.message));
  assert.equal(m[2], createHash('sha256').update(ISSUE_EXAMPLE).digest('hex'));
  // Not in effect yet: raw Sign still works, Get finds nothing.
  await rawSign(server.kms(), key.arn);
  assert.equal((await signing(server.endpoint, 'GetSigningPolicy', { KeyId: key.arn })).body.__type, 'NotFoundException');
  const approved = await callApprovals({
    endpoint: server.endpoint,
    operation: 'ApprovePolicyChange',
    body: { ChangeId: m[1], PayloadSha256: m[2] },
    credentials: { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey },
  });
  assert.equal(approved.Change.Status, 'APPLIED');
  assert.equal((await signing(server.endpoint, 'GetSigningPolicy', { KeyId: key.arn })).body.Policy, ISSUE_EXAMPLE);
  await accessDenied(rawSign(server.kms(), key.arn), /has a signing policy/);
});

test('symbolon policy put|get|delete (the CLI) against the server', async () => {
  const key = await newKey();
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'policy16-cli-'));
  try {
    const file = join(dir, 'policy.json');
    writeFileSync(file, ISSUE_EXAMPLE);
    let out = '';
    let err = '';
    const io = {
      out: (s: string) => void (out += s),
      err: (s: string) => void (err += s),
      env: { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION, SYMBOLON_ENDPOINT: server.endpoint },
    };
    assert.equal(await policyCommand(['put', '--key', key.arn, '--file', file], io), 0, err);
    assert.match(out, /signing policy attached to/);
    out = '';
    assert.equal(await policyCommand(['get', '--key', key.arn], io), 0, err);
    assert.equal(out.trim(), ISSUE_EXAMPLE);
    writeFileSync(file, '{"Version":"2026-12-01","Statement":[{"Effect":"Allow"}]}');
    assert.equal(await policyCommand(['put', '--key', key.arn, '--file', file], io), 1);
    assert.match(err, /MalformedPolicyDocumentException: Statement 1: Sid is required/);
    assert.equal(await policyCommand(['delete', '--key', key.arn], io), 0);
    assert.equal(await policyCommand(['put', '--key', key.arn], io), 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every signing decision is an audit event with the decoded fields, in the hash chain', async () => {
  const key = await newKey();
  await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: LAYERED });
  await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx({ value: '12345' }) });
  await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx({ to: OTHER }) });
  await signing(server.endpoint, 'SignPayload', {
    KeyId: key.arn,
    Payload: tx({ to: TOKEN, value: '0', gas: 60000, data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [TREASURY, 7n] }) }),
  });
  await server.custodian.audit.flush();
  const events = (await queryEvents(server.custodian.deps.store.db, { key: key.arn, operation: 'SignPayload', limit: 10 })).map((e) => [e.outcome, e.eth]);
  assert.deepEqual(events, [
    ['allowed', { payloadType: 'transaction', chainId: '31337', to: TREASURY, value: '12345', decision: 'allow', statement: 'AllowAll' }],
    ['denied', { payloadType: 'transaction', chainId: '31337', to: OTHER, value: '1000', decision: 'deny', statement: 'NoOther' }],
    [
      'allowed',
      {
        payloadType: 'transaction',
        chainId: '31337',
        to: TOKEN,
        value: '0',
        selector: '0xa9059cbb',
        erc20Recipient: TREASURY,
        erc20Amount: '7',
        decision: 'allow',
        statement: 'AllowAll',
      },
    ],
  ]);
  const report = await verifyAuditLog(server.custodian.deps.store.db);
  assert.equal(report.ok, true, JSON.stringify(report.problem));
  // `symbolon audit query` shows them.
  let out = '';
  const sinkStream = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
  const args = ['query', '--key', key.arn, '--operation', 'SignPayload', ...(pgSchema ? ['--schema', pgSchema] : ['--data', server.dataDir])];
  assert.equal(await auditCommand(args, { stdout: sinkStream, stderr: sinkStream, env: process.env } as never), 0, out);
  assert.match(out, /SignPayload {2}denied AccessDeniedException .* {2}eth=transaction\/deny {2}statement=NoOther {2}chain=31337 {2}to=0x2{40} {2}value=1000/);
  // …and its decoded-field filters select on what the store kept (bigint value, decision, recipient).
  const query = async (...filters: string[]) => {
    out = '';
    assert.equal(await auditCommand([...args, ...filters], { stdout: sinkStream, stderr: sinkStream, env: process.env } as never), 0, out);
    return out;
  };
  assert.match(await query('--decision', 'deny', '--chain-id', '31337', '--to', `0x${'2'.repeat(40)}`, '--min-value', '1000'), /statement=NoOther/);
  assert.doesNotMatch(await query('--decision', 'deny', '--min-value', '1001'), /statement=NoOther/);
  assert.doesNotMatch(await query('--chain-id', '1'), /eth=/);
});

test('RequireApproval: the request is pending, approvers (never the requester) approve M of N, the requester fetches the signature; expiry', async () => {
  const key = await newKey();
  const anyAction = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Sign', 'symbolon:*'], Resource: '*' }] };
  const requester = await user('policy16-requester', anyAction);
  const alice = await user('policy16-approver-a', anyAction);
  const bob = await user('policy16-approver-b', anyAction);
  const creds = (u: Creds) => ({ accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey });
  const policy = JSON.stringify({
    Version: '2026-12-01',
    Statement: [
      { Sid: 'AllowAll', Effect: 'Allow' },
      {
        Sid: 'BigPayments',
        Effect: 'RequireApproval',
        Condition: { NumericGreaterThan: { 'eth:Value': '1000000000000000000' } },
        Approval: { Approvers: [requester.arn, alice.arn, bob.arn], MinApprovals: 2, ExpiresInSeconds: 600 },
      },
    ],
  });
  assert.equal((await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: policy })).status, 200);
  const big = tx({ value: '2000000000000000000' });
  const asked = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: big }, creds(requester));
  assert.equal(asked.body.__type, 'SigningApprovalPendingException');
  const m = /signing request ([0-9a-f-]{36}) is pending \(SHA-256 ([0-9a-f]{64})\)/.exec(String(asked.body.message));
  assert.ok(m, String(asked.body.message));
  const [, id, sha] = m;
  assert.doesNotMatch(String(asked.body.message), /2000000000000000000/);
  const fetch = (u: Creds) => signing(server.endpoint, 'GetSigningRequest', { RequestId: id }, creds(u));
  assert.equal((await fetch(requester)).body.__type, 'SigningApprovalPendingException');
  const vote = (u: Creds) =>
    callAwsJson({
      endpoint: server.endpoint,
      target: 'SymbolonApprovals.ApprovePolicyChange',
      body: { ChangeId: id, PayloadSha256: sha },
      credentials: creds(u),
    });
  // The requester is named an approver, yet never approves their own request.
  assert.equal((await vote(requester)).body.__type, 'AccessDeniedException');
  assert.equal(((await vote(alice)).body.Change as { Status: string }).Status, 'PENDING');
  assert.equal((await fetch(requester)).body.__type, 'SigningApprovalPendingException');
  // Only the requester fetches the result.
  assert.equal((await fetch(alice)).body.__type, 'AccessDeniedException');
  assert.equal(((await vote(bob)).body.Change as { Status: string }).Status, 'APPLIED');
  const got = await fetch(requester);
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.equal(got.body.Address, key.address);
  assert.equal(await recoverTransactionAddress({ serializedTransaction: got.body.Signed as never }), key.address);
  const { parseTransaction } = await import('viem');
  assert.equal(parseTransaction(got.body.Signed as Hex).value, 2000000000000000000n);

  // A request nobody approves in time expires: nothing is signed.
  const late = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx({ value: '3000000000000000000', nonce: 1 }) }, creds(requester));
  const lateId = /signing request ([0-9a-f-]{36})/.exec(String(late.body.message))![1]!;
  offsetMs += 601_000;
  try {
    const expired = await signing(server.endpoint, 'GetSigningRequest', { RequestId: lateId }, creds(requester));
    assert.equal(expired.body.__type, 'KMSInvalidStateException');
    assert.match(String(expired.body.message), /is EXPIRED; nothing is signed/);
  } finally {
    offsetMs -= 601_000;
  }
});

// Last in this file: the account rule it sets guards every later change on this server.
test('under the account rule, putting a signing policy on a key without a rule of its own is a pending account change', async () => {
  const key = await newKey();
  const carol = await user('policy16-carol', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['symbolon:*', 'kms:*'], Resource: '*' }] });
  await callApprovals({ endpoint: server.endpoint, operation: 'PutAccountQuorumRule', body: { Approvers: [rootArn, carol.arn], Threshold: 2 } });
  const put = await signing(server.endpoint, 'PutSigningPolicy', { KeyId: key.arn, Policy: ISSUE_EXAMPLE });
  assert.equal(put.body.__type, 'KMSInvalidStateException');
  const m = /PutSigningPolicy change ([0-9a-f-]{36}) on .* pending approval \(1 of 2\) under the account quorum rule.*SHA-256 ([0-9a-f]{64})/.exec(
    String(put.body.message),
  );
  assert.ok(m, String(put.body.message));
  assert.equal((await signing(server.endpoint, 'GetSigningPolicy', { KeyId: key.arn })).body.__type, 'NotFoundException');
  const approved = await callApprovals({
    endpoint: server.endpoint,
    operation: 'ApprovePolicyChange',
    body: { ChangeId: m[1], PayloadSha256: m[2] },
    credentials: { accessKeyId: carol.accessKeyId, secretAccessKey: carol.secretAccessKey },
  });
  assert.equal(approved.Change.Status, 'APPLIED');
  assert.equal((await signing(server.endpoint, 'GetSigningPolicy', { KeyId: key.arn })).body.Policy, ISSUE_EXAMPLE);
  await accessDenied(rawSign(server.kms(), key.arn), /has a signing policy/);
});

test('a stored signing policy that no longer parses refuses signing, also when the key is read afresh', async () => {
  const key = await newKey();
  const keyId = key.arn.split('/').pop()!;
  // Written straight to the store (an earlier test put the account under a quorum rule), then read
  // afresh with the key: the key cache is emptied as its TTL would.
  const { store, keyCache } = server.custodian.deps;
  await putSigningPolicy(store.db, { keyId, policy: ISSUE_EXAMPLE, updatedAt: Date.now(), updatedBy: rootArn }, undefined);
  keyCache.clear();
  const allowed = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx() });
  assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
  const refused = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx({ to: OTHER }) });
  assert.equal(refused.body.__type, 'AccessDeniedException', 'the policy read with the key is in force');
  // Damaged in the store behind the server's back.
  await store.db.updateTable('kms_signing_policies').set({ policy: '{"Version":' }).where('key_id', '=', keyId).execute();
  keyCache.clear();
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx() });
    assert.equal(r.body.__type, 'KMSInternalException', JSON.stringify(r.body));
    assert.match(String(r.body.message), /stored signing policy of this key could not be read; signing is refused/);
  }
  await assert.rejects(
    server
      .kms()
      .send(new SignCommand({ KeyId: key.arn, Message: createHash('sha256').update('x').digest(), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
    (e: Error) => e.name === 'KMSInternalException',
  );
});

test('a key only looked at is cached without its signing policy: one written behind the server applies to the next Sign at once', async () => {
  const key = await newKey();
  const keyId = key.arn.split('/').pop()!;
  const { store, keyCache } = server.custodian.deps;
  keyCache.clear();
  // DescribeKey caches the key's record (src/kms/keys.ts resolveKey without signingPolicy) ...
  await server.kms().send(new DescribeKeyCommand({ KeyId: key.arn }));
  // ... then another process puts a signing policy: this one's next Sign reads it, cache or not.
  await putSigningPolicy(store.db, { keyId, policy: ISSUE_EXAMPLE, updatedAt: Date.now(), updatedBy: rootArn }, undefined);
  await accessDenied(rawSign(server.kms(), key.arn), /has a signing policy/);
  const refused = await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx({ to: OTHER }) });
  assert.equal(refused.body.__type, 'AccessDeniedException', JSON.stringify(refused.body));
  // A Sign that missed the cache read the policy with the key, in one statement, and it is in force.
  keyCache.clear();
  await accessDenied(rawSign(server.kms(), key.arn), /has a signing policy/);
  assert.equal((await signing(server.endpoint, 'SignPayload', { KeyId: key.arn, Payload: tx() })).status, 200);
});
