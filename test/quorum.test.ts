// Quorum for permission changes, through a real listening custodian: a key's
// rule (M of N named approvers), PutKeyPolicy on a guarded key becoming a
// pending change (KMSInvalidStateException naming it), approval by id and
// SHA-256, the proposer never approving alone, rejection, expiry, supersession,
// changes to the rule itself needing the quorum, exactly-once application
// under concurrent approvals, and an audit event for every step.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { CreateGrantCommand, CreateKeyCommand, GetKeyPolicyCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ADMIN, REGION, STORE, startTestServer, type TestServer } from './helpers/server.js';
import type { AuditEvent, AuditSink } from '../src/audit/event.js';
import { callApprovals } from './helpers/aws-json.js';

type Creds = { accessKeyId: string; secretAccessKey: string; arn: string };

let server: TestServer;
let account: string;
let rootArn: string;
/** Server time = real time + offset (the clients sign with the same offset). */
let offsetMs = 0;
const events: AuditEvent[] = [];
const sink: AuditSink = { record: (e) => void events.push(e), recordDurable: async (e) => void events.push(e), async flush() {} };
const clients: Array<{ destroy(): void }> = [];

function kms(credentials: { accessKeyId: string; secretAccessKey: string } = ADMIN): KMSClient {
  const c = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials, maxAttempts: 1, systemClockOffset: offsetMs });
  clients.push(c);
  return c;
}
function iam(): IAMClient {
  const c = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1, systemClockOffset: offsetMs });
  clients.push(c);
  return c;
}

/** One SymbolonApprovals.* call; resolves to the JSON body, rejects with {type, message}. */
function approvals(op: string, body: Record<string, unknown>, creds: { accessKeyId: string; secretAccessKey: string } = ADMIN): Promise<any> {
  return callApprovals({ endpoint: server.endpoint, operation: op, body, credentials: creds, signingDate: new Date(Date.now() + offsetMs) });
}

async function fails(p: Promise<unknown>, type: string, message?: RegExp | string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const err = e as { type?: string; name?: string; message?: string };
    assert.equal(err.type ?? err.name, type, `${err.type ?? err.name}: ${err.message}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message ?? '', message);
    return true;
  });
}

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

function keyPolicy(extraSid: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: rootArn }, Action: 'kms:*', Resource: '*' },
      { Sid: extraSid, Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*' },
    ],
  });
}

async function user(name: string, policy?: unknown): Promise<Creds> {
  const u = await iam().send(new CreateUserCommand({ UserName: name }));
  if (policy) await iam().send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify(policy) }));
  const k = await iam().send(new CreateAccessKeyCommand({ UserName: name }));
  return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn! };
}

async function newKey(): Promise<string> {
  return (await kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
}

/** PutKeyPolicy on a guarded key: returns the pending change id from AWS's error. */
async function propose(keyArn: string, policy: string, creds: { accessKeyId: string; secretAccessKey: string } = ADMIN, approvalsSoFar = 0): Promise<string> {
  let id = '';
  await assert.rejects(kms(creds).send(new PutKeyPolicyCommand({ KeyId: keyArn, Policy: policy })), (e: unknown) => {
    const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    assert.equal(err.name, 'KMSInvalidStateException', err.message);
    assert.equal(err.$metadata?.httpStatusCode, 400);
    const m =
      /^Key policy change ([0-9a-f-]{36}) pending approval \((\d) of 2\); it is not in effect until 2 approvers approve it \(SHA-256 ([0-9a-f]{64})\), and expires at (\S+)\.$/.exec(
        err.message ?? '',
      );
    assert.ok(m, err.message);
    assert.equal(Number(m[2]), approvalsSoFar);
    assert.equal(m[3], sha(policy));
    id = m[1]!;
    return true;
  });
  return id;
}

const currentPolicy = async (keyArn: string) => (await kms().send(new GetKeyPolicyCommand({ KeyId: keyArn }))).Policy!;

let alice: Creds;
let bob: Creds;
let carol: Creds;
let dave: Creds;

before(async () => {
  server = await startTestServer({ audit: sink, clock: () => Date.now() + offsetMs });
  account = server.custodian.accountId;
  rootArn = `arn:aws:iam::${account}:root`;
  // Alice may also manage keys through IAM; the others are approvers only.
  alice = await user('alice', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] });
  bob = await user('bob');
  carol = await user('carol');
  dave = await user('dave');
});
after(async () => {
  for (const c of clients) c.destroy();
  await server?.close();
});

describe(`quorum approvals on ${STORE}`, () => {
  test('a rule is validated and then guards the key; 2 approvals of the exact text apply the change', async () => {
    const key = await newKey();
    const approvers = [alice.arn, bob.arn, carol.arn];
    await fails(approvals('PutQuorumRule', { KeyId: key, Approvers: approvers, Threshold: 1 }), 'ValidationException', /at least 2/);
    await fails(
      approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, alice.arn], Threshold: 2 }),
      'ValidationException',
      'Quorum approvers must be distinct.',
    );
    await fails(
      approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, `arn:aws:iam::${account}:user/ghost`], Threshold: 2 }),
      'ValidationException',
      /ghost is not a user/,
    );
    await fails(approvals('PutQuorumRule', { KeyId: key, Approvers: approvers, Threshold: 2 }, dave), 'AccessDeniedException', /kms:PutKeyPolicy/);
    const set = await approvals('PutQuorumRule', { KeyId: key, Approvers: approvers, Threshold: 2 });
    assert.equal(set.Status, 'APPLIED');
    const rule = await approvals('GetQuorumRule', { KeyId: key });
    assert.deepEqual([rule.Approvers, rule.Threshold, rule.ExpirationSeconds], [approvers, 2, 86400]);

    const before = await currentPolicy(key);
    const next = keyPolicy('NoDecrypt');
    const id = await propose(key, next);
    assert.equal(await currentPolicy(key), before, 'a pending change is not in effect');

    const listed = await approvals('ListPolicyChanges', { KeyId: key }, bob);
    assert.equal(listed.Changes.length, 1);
    const c = listed.Changes[0];
    assert.deepEqual(
      [c.ChangeId, c.Status, c.Kind, c.PayloadSha256, c.ProposerArn, c.Threshold, c.Approvals],
      [id, 'PENDING', 'KeyPolicy', sha(next), rootArn, 2, []],
    );
    const shown = await approvals('GetPolicyChange', { ChangeId: id }, carol);
    assert.equal(shown.Change.Payload, next);
    await fails(approvals('GetPolicyChange', { ChangeId: id }, dave), 'AccessDeniedException');
    assert.equal((await approvals('ListPolicyChanges', { KeyId: key }, dave)).Changes.length, 0);

    await fails(approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(before) }, alice), 'ValidationException', /does not match/);
    await fails(
      approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, dave),
      'AccessDeniedException',
      `User: ${dave.arn} is not authorized to perform: symbolon:ApprovePolicyChange on resource: ${key} because it is not an approver of policy change ${id}`,
    );
    const one = await approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, alice);
    assert.deepEqual([one.Change.Status, one.Change.Approvals], ['PENDING', [alice.arn]]);
    assert.equal(await currentPolicy(key), before);
    await fails(approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, alice), 'AlreadyExistsException');
    const two = await approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next).toUpperCase() }, bob);
    assert.equal(two.Change.Status, 'APPLIED');
    assert.equal(await currentPolicy(key), next);
    await fails(approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, carol), 'KMSInvalidStateException', /is APPLIED/);
    await fails(approvals('ApprovePolicyChange', { ChangeId: '00000000-0000-0000-0000-000000000000', PayloadSha256: sha(next) }, carol), 'NotFoundException');

    // Every step is on the audit trail.
    const steps = events.filter((e) => e.operation.endsWith(`/${id}`)).map((e) => `${e.operation.split('/')[0]} ${e.principalArn}`);
    assert.deepEqual(steps, [
      `PolicyChangeProposed ${rootArn}`,
      `PolicyChangeApproved ${alice.arn}`,
      `PolicyChangeApproved ${bob.arn}`,
      `PolicyChangeApplied ${bob.arn}`,
    ]);
    assert.ok(events.some((e) => e.operation === 'QuorumRuleSet' && e.keyArn === key));
    assert.ok(events.some((e) => e.operation === 'PutKeyPolicy' && e.keyArn === key && e.errorCode === 'KMSInvalidStateException'));
    assert.ok(events.some((e) => e.operation === 'ApprovePolicyChange' && e.keyArn === key && e.principalArn === bob.arn && e.outcome === 'allowed'));
    assert.ok(events.some((e) => e.operation === 'ApprovePolicyChange' && e.principalArn === dave.arn && e.outcome === 'denied'));
  });

  test('the proposer cannot approve alone; rejections that make the threshold unreachable reject', async () => {
    const key = await newKey();
    await approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, bob.arn, carol.arn], Threshold: 2 });
    const before = await currentPolicy(key);
    const next = keyPolicy('ByAlice');
    // Alice is both proposer (allowed kms:PutKeyPolicy by her identity policy) and approver: her proposal counts once.
    const id = await propose(key, next, alice, 1);
    await fails(approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, alice), 'AlreadyExistsException');
    assert.equal(await currentPolicy(key), before);
    const r1 = await approvals('RejectPolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, bob);
    assert.deepEqual([r1.Change.Status, r1.Change.Rejections], ['PENDING', [bob.arn]]);
    const r2 = await approvals('RejectPolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, carol);
    assert.equal(r2.Change.Status, 'REJECTED');
    assert.equal(await currentPolicy(key), before);
    assert.equal((await approvals('ListPolicyChanges', { KeyId: key, Status: 'REJECTED' })).Changes[0].ChangeId, id);
  });

  test('a change not approved in time expires', async () => {
    const key = await newKey();
    await approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, bob.arn], Threshold: 2, ExpirationSeconds: 300 });
    const next = keyPolicy('Late');
    const id = await propose(key, next);
    await approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, alice);
    offsetMs += 301_000;
    try {
      await fails(approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, bob), 'KMSInvalidStateException', /is EXPIRED/);
      assert.notEqual(await currentPolicy(key), next);
      const c = (await approvals('GetPolicyChange', { ChangeId: id })).Change;
      assert.equal(c.Status, 'EXPIRED');
      assert.equal(c.DecisionDate, c.ExpirationDate);
      assert.ok(events.some((e) => e.operation === `PolicyChangeExpired/${id}`));
    } finally {
      offsetMs -= 301_000;
    }
  });

  test('a change whose base moved on is superseded, not applied', async () => {
    const key = await newKey();
    await approvals('PutQuorumRule', { KeyId: key, Approvers: [bob.arn, carol.arn], Threshold: 2 });
    const first = keyPolicy('First');
    const second = keyPolicy('Second');
    const id1 = await propose(key, first);
    const id2 = await propose(key, second);
    await approvals('ApprovePolicyChange', { ChangeId: id2, PayloadSha256: sha(second) }, bob);
    await approvals('ApprovePolicyChange', { ChangeId: id1, PayloadSha256: sha(first) }, bob);
    assert.equal((await approvals('ApprovePolicyChange', { ChangeId: id1, PayloadSha256: sha(first) }, carol)).Change.Status, 'APPLIED');
    const late = await approvals('ApprovePolicyChange', { ChangeId: id2, PayloadSha256: sha(second) }, carol);
    assert.equal(late.Change.Status, 'SUPERSEDED');
    assert.equal(await currentPolicy(key), first);
  });

  test('changing or removing the rule needs the quorum too', async () => {
    const key = await newKey();
    await approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, bob.arn], Threshold: 2 });
    const change = await approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, bob.arn, carol.arn], Threshold: 3 });
    assert.equal(change.Status, 'PENDING');
    assert.equal((await approvals('GetQuorumRule', { KeyId: key })).Threshold, 2);
    await approvals('ApprovePolicyChange', { ChangeId: change.ChangeId, PayloadSha256: change.PayloadSha256 }, alice);
    assert.equal((await approvals('ApprovePolicyChange', { ChangeId: change.ChangeId, PayloadSha256: change.PayloadSha256 }, bob)).Change.Status, 'APPLIED');
    assert.deepEqual((await approvals('GetQuorumRule', { KeyId: key })).Approvers, [alice.arn, bob.arn, carol.arn]);

    const removal = await approvals('DeleteQuorumRule', { KeyId: key });
    assert.equal(removal.Threshold, 3);
    for (const who of [alice, bob, carol]) await approvals('ApprovePolicyChange', { ChangeId: removal.ChangeId, PayloadSha256: removal.PayloadSha256 }, who);
    assert.equal((await approvals('GetQuorumRule', { KeyId: key })).Threshold, undefined);
    // Without a rule PutKeyPolicy applies at once, as in AWS.
    const direct = keyPolicy('Direct');
    await kms().send(new PutKeyPolicyCommand({ KeyId: key, Policy: direct }));
    assert.equal(await currentPolicy(key), direct);
  });

  test('concurrent approvals apply the change exactly once', async () => {
    const key = await newKey();
    await approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, bob.arn, carol.arn], Threshold: 2 });
    const next = keyPolicy('Race');
    const id = await propose(key, next);
    const results = await Promise.allSettled(
      [alice, bob, carol].map((who) => approvals('ApprovePolicyChange', { ChangeId: id, PayloadSha256: sha(next) }, who)),
    );
    assert.ok(results.filter((r) => r.status === 'fulfilled').length >= 2);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { type: string }).type, 'KMSInvalidStateException');
    assert.equal(events.filter((e) => e.operation === `PolicyChangeApplied/${id}`).length, 1);
    assert.equal(await currentPolicy(key), next);
    assert.equal((await approvals('GetPolicyChange', { ChangeId: id })).Change.Status, 'APPLIED');
  });
});

/** Runs `symbolon admin …` in its own process with the given credentials. */
function cli(args: string[], creds: { accessKeyId: string; secretAccessKey: string }): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_'))) as Record<string, string>;
  const env = { ...base, NODE_NO_WARNINGS: '1', AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'admin', 'approvals', ...args, '--endpoint', server.endpoint],
      { env, timeout: 60_000 },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('symbolon admin approvals against a running server', () => {
  test('set-rule, list, show, approve (wrong hash refused), applied', async () => {
    const key = await newKey();
    const set = await cli(['set-rule', '--key', key, '--approver', alice.arn, '--approver', bob.arn, '--threshold', '2'], ADMIN);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, `quorum rule set on ${key}\n`);
    const rule = await cli(['get-rule', '--key', key], bob);
    assert.equal(rule.code, 1, 'an approver without kms:GetKeyPolicy cannot read the rule');
    assert.match(rule.stderr, /^symbolon admin: AccessDeniedException: User: .* kms:GetKeyPolicy/);

    const next = keyPolicy('ViaCli');
    const id = await propose(key, next);
    const listed = await cli(['list', '--key', key, '--status', 'PENDING', '--json'], bob);
    assert.equal(listed.code, 0, listed.stderr);
    const changes = JSON.parse(listed.stdout).Changes as Array<{ ChangeId: string; PayloadSha256: string }>;
    assert.deepEqual(
      changes.map((c) => [c.ChangeId, c.PayloadSha256]),
      [[id, sha(next)]],
    );
    const shown = await cli(['show', '--id', id], alice);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(shown.stdout.includes(next), 'show prints the exact policy text');
    assert.match(shown.stdout, new RegExp(`sha256    ${sha(next)}`));

    const wrong = await cli(['approve', '--id', id, '--sha256', sha('something else')], alice);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^symbolon admin: ValidationException: PayloadSha256 does not match/);
    const a = await cli(['approve', '--id', id, '--sha256', sha(next)], alice);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, new RegExp(`^approved: change ${id}  PENDING  KeyPolicy  1 of 2 approvals`));
    const b = await cli(['approve', '--id', id, '--sha256', sha(next), '--json'], bob);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(JSON.parse(b.stdout).Change.Status, 'APPLIED');
    assert.equal(await currentPolicy(key), next);
  });

  test('reject through the CLI', async () => {
    const key = await newKey();
    await approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, bob.arn], Threshold: 2 });
    const next = keyPolicy('Rejected');
    const id = await propose(key, next);
    const r = await cli(['reject', '--id', id, '--sha256', sha(next), '--json'], carol);
    assert.equal(r.code, 1, 'carol is not an approver of this key');
    const ok = await cli(['reject', '--id', id, '--sha256', sha(next), '--json'], bob);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).Change.Status, 'REJECTED');
  });

  test('show names a pending grant (CreateGrant on a guarded key) as a grant', async () => {
    const key = await newKey();
    await approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, bob.arn], Threshold: 2 });
    let id = '';
    await assert.rejects(kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: dave.arn, Operations: ['Sign'] })), (e: unknown) => {
      const m = /^Grant change ([0-9a-f-]{36}) pending approval/.exec((e as Error).message);
      assert.ok(m, (e as Error).message);
      id = m[1]!;
      return true;
    });
    const shown = await cli(['show', '--id', id], alice);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /--- proposed grant \(SHA-256 [0-9a-f]{64}\) ---/);
    assert.deepEqual(JSON.parse(shown.stdout.slice(shown.stdout.indexOf('{'))).Operations, ['Sign']);
  });
});
