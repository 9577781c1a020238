// The account-level quorum rule, through a real listening custodian driven by
// the real AWS SDK clients (IAM and KMS) and the `symbolon admin` CLI: once
// the account has a rule, every path by which one administrator could end up
// able to Sign with a production key is a pending change — not applied — and
// applies only with a second approver: a user policy, a tag a policy
// conditions on, deleting a Deny, a tagged new user, an access key for a user
// that can sign, a key policy, a grant, a role and its policies, an alias
// move, a key rule of one's own, and deleting or weakening the rule itself.
// Also: threshold < 2 refused, the proposer never approves alone, expiry,
// re-validation at application (SUPERSEDED), and the audit trail.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import {
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  PutKeyPolicyCommand,
  SignCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteRolePolicyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  TagUserCommand,
  UntagUserCommand,
} from '@aws-sdk/client-iam';
import { ADMIN, REGION, STORE, startTestServer, type TestServer } from './helpers/server.js';
import type { AuditEvent, AuditSink } from '../src/audit/event.js';
import { callApprovals } from './helpers/aws-json.js';

type Creds = { accessKeyId: string; secretAccessKey: string; arn: string };

let server: TestServer;
let offsetMs = 0;
const events: AuditEvent[] = [];
const sink: AuditSink = { record: (e) => void events.push(e), recordDurable: async (e) => void events.push(e), async flush() {} };
const clients: Array<{ destroy(): void }> = [];

function kms(credentials: { accessKeyId: string; secretAccessKey: string } = ADMIN): KMSClient {
  const c = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials, maxAttempts: 1, systemClockOffset: offsetMs });
  clients.push(c);
  return c;
}
function iam(credentials: { accessKeyId: string; secretAccessKey: string } = ADMIN): IAMClient {
  const c = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials, maxAttempts: 1, systemClockOffset: offsetMs });
  clients.push(c);
  return c;
}
function approvals(op: string, body: Record<string, unknown>, creds: { accessKeyId: string; secretAccessKey: string } = ADMIN): Promise<any> {
  return callApprovals({ endpoint: server.endpoint, operation: op, body, credentials: creds, signingDate: new Date(Date.now() + offsetMs) });
}
async function fails(p: Promise<unknown>, type: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const err = e as { type?: string; name?: string; message?: string };
    assert.equal(err.type ?? err.name, type, `${err.type ?? err.name}: ${err.message}`);
    if (message) assert.match(err.message ?? '', message);
    return true;
  });
}
const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Runs `symbolon admin approvals …` in its own process with the given credentials. */
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

async function user(name: string, policies: Record<string, unknown> = {}, tags: Record<string, string> = {}): Promise<Creds> {
  const u = await iam().send(new CreateUserCommand({ UserName: name, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
  for (const [p, doc] of Object.entries(policies))
    await iam().send(new PutUserPolicyCommand({ UserName: name, PolicyName: p, PolicyDocument: JSON.stringify(doc) }));
  const k = await iam().send(new CreateAccessKeyCommand({ UserName: name }));
  return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn! };
}

const allow = (action: string | string[], resource = '*') => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: resource }] });
const deny = (action: string) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: action, Resource: '*' }] });
/** Seed 3's policy: Sign only for principals tagged Environment=production. */
const SEED3 = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['kms:Sign', 'kms:GetPublicKey'],
      Resource: 'arn:aws:kms:*:*:key/*',
      Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } },
    },
  ],
};

/** Sign with the production key: resolves when allowed, rejects with AccessDeniedException otherwise. */
async function sign(creds: { accessKeyId: string; secretAccessKey: string }, keyId = prodKey): Promise<void> {
  await kms(creds).send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32).fill(7), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
}
const cannotSign = (creds: Creds, keyId = prodKey) => fails(sign(creds, keyId), 'AccessDeniedException');

/** A guarded call: asserts the protocol's pending error and returns the change id and hash from its message. */
async function pending(p: Promise<unknown>, protocol: 'kms' | 'iam', kind: string, approvalsSoFar = 1): Promise<{ id: string; sha256: string }> {
  let out = { id: '', sha256: '' };
  await assert.rejects(p, (e: unknown) => {
    const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    if (protocol === 'kms') {
      assert.equal(err.name, 'KMSInvalidStateException', err.message);
      assert.equal(err.$metadata?.httpStatusCode, 400);
    } else {
      assert.equal(err.name, 'EntityTemporarilyUnmodifiableException', err.message);
      assert.equal(err.$metadata?.httpStatusCode, 409);
    }
    const m = new RegExp(
      `^${kind} change ([0-9a-f-]{36}) on \\S+ pending approval \\((\\d) of 2\\) under the account quorum rule; it is not in effect until 2 approvers approve it \\(SHA-256 ([0-9a-f]{64})\\), and expires at \\S+\\.$`,
    ).exec(err.message ?? '');
    assert.ok(m, err.message);
    assert.equal(Number(m[2]), approvalsSoFar);
    out = { id: m[1]!, sha256: m[3]! };
    return true;
  });
  const shown = await approvals('GetPolicyChange', { ChangeId: out.id }, alice);
  assert.equal(shown.Change.Status, 'PENDING');
  assert.equal(shown.Change.Kind, kind);
  assert.equal(sha(shown.Change.Payload), out.sha256, 'the approver sees the exact text whose SHA-256 the proposer was told');
  return out;
}

/** The second approver (alice) approves: the change applies. */
async function secondApproval(change: { id: string; sha256: string }): Promise<void> {
  const r = await approvals('ApprovePolicyChange', { ChangeId: change.id, PayloadSha256: change.sha256 }, alice);
  assert.equal(r.Change.Status, 'APPLIED', JSON.stringify(r.Change));
}

// The one administrator: an IAM user allowed everything, and an approver (so its own proposals count once).
let admin: Creds;
let alice: Creds;
let bob: Creds;
let prodKey: string;
let otherKey: string;
/** Users the administrator holds the credentials of, each with no right to sign yet. */
const m = {} as Record<'policy' | 'tag' | 'deny' | 'untag' | 'grant' | 'keyPolicy' | 'ghost', Creds>;
/** The production signer: tagged Environment=production with seed 3's policy; its key is held by the application, not the administrator. */
let signer: Creds;

before(async () => {
  server = await startTestServer({ audit: sink, clock: () => Date.now() + offsetMs });
  admin = await user('admin', { all: allow(['iam:*', 'kms:*', 'symbolon:*']) });
  alice = await user('alice');
  bob = await user('bob');
  signer = await user('signer', { seed3: SEED3 }, { Environment: 'production' });
  m.policy = await user('m-policy');
  m.tag = await user('m-tag', { seed3: SEED3 });
  m.deny = await user('m-deny', { sign: allow('kms:Sign'), guard: deny('kms:Sign') });
  const auditorsMayNotSign = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Deny', Action: 'kms:Sign', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalTag/Role': 'auditor' } } }],
  };
  m.untag = await user('m-untag', { sign: allow('kms:Sign'), auditors: auditorsMayNotSign }, { Role: 'auditor' });
  m.grant = await user('m-grant');
  m.keyPolicy = await user('m-keypolicy');
  m.ghost = await user('m-ghost');
  prodKey = (await kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: 'production' }))).KeyMetadata!.Arn!;
  otherKey = (await kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', Description: 'the administrator’s' }))).KeyMetadata!
    .Arn!;
  await kms().send(new CreateAliasCommand({ AliasName: 'alias/treasury', TargetKeyId: prodKey }));
  await kms().send(new CreateAliasCommand({ AliasName: 'alias/spare', TargetKeyId: prodKey }));
  await iam().send(
    new CreateRoleCommand({
      RoleName: 'ops',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Federated: 'https://id.example' }, Action: 'sts:AssumeRoleWithWebIdentity' }],
      }),
    }),
  );
  await iam().send(new PutRolePolicyCommand({ RoleName: 'ops', PolicyName: 'guard', PolicyDocument: JSON.stringify(deny('kms:Sign')) }));
  // Before the rule: the production signer signs, nobody the administrator holds does.
  await sign(signer);
  for (const c of Object.values(m)) await cannotSign(c);
});
after(async () => {
  for (const c of clients) c.destroy();
  await server?.close();
});

describe(`account quorum rule on ${STORE}`, () => {
  test('set-rule --account: threshold < 2 and one approver refused; set at once by an authorized caller (CLI)', async () => {
    const one = await cli(['set-rule', '--account', '--approver', admin.arn, '--approver', alice.arn, '--threshold', '1'], ADMIN);
    assert.equal(one.code, 1);
    assert.match(one.stderr, /ValidationException: Quorum threshold must be at least 2/);
    const single = await cli(['set-rule', '--account', '--approver', admin.arn, '--threshold', '2'], ADMIN);
    assert.match(single.stderr, /ValidationException: A quorum rule names from 2 to 20 approvers/);
    const denied = await cli(['set-rule', '--account', '--approver', admin.arn, '--approver', alice.arn, '--threshold', '2'], m.policy);
    assert.match(denied.stderr, /AccessDeniedException: .*symbolon:PutAccountQuorumRule/);
    const none = await cli(['get-rule', '--account'], ADMIN);
    assert.equal(none.stdout, 'account: no quorum rule\n');

    const set = await cli(
      ['set-rule', '--account', '--approver', admin.arn, '--approver', alice.arn, '--approver', bob.arn, '--threshold', '2', '--expires-in', '300'],
      admin,
    );
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'quorum rule set on the account\n');
    const got = await cli(['get-rule', '--account', '--json'], ADMIN);
    const rule = JSON.parse(got.stdout);
    assert.deepEqual([rule.Approvers, rule.Threshold, rule.ExpirationSeconds, rule.UpdatedBy], [[admin.arn, alice.arn, bob.arn], 2, 300, admin.arn]);
    assert.ok(events.some((e) => e.operation === 'AccountQuorumRuleSet' && e.principalArn === admin.arn));
  });

  test('PutUserPolicy granting kms:Sign: pending, not applied; a second approver applies it', async () => {
    const doc = JSON.stringify(allow('kms:Sign'));
    const c = await pending(
      iam(admin).send(new PutUserPolicyCommand({ UserName: 'm-policy', PolicyName: 'sign', PolicyDocument: doc })),
      'iam',
      'PutUserPolicy',
    );
    assert.deepEqual((await iam().send(new ListUserPoliciesCommand({ UserName: 'm-policy' }))).PolicyNames, []);
    await cannotSign(m.policy);
    // The proposer's proposal is its vote: it cannot approve again, alone.
    await fails(approvals('ApprovePolicyChange', { ChangeId: c.id, PayloadSha256: c.sha256 }, admin), 'AlreadyExistsException');
    // Repeating the request finds the same proposal instead of a second one.
    const again = await pending(
      iam(admin).send(new PutUserPolicyCommand({ UserName: 'm-policy', PolicyName: 'sign', PolicyDocument: doc })),
      'iam',
      'PutUserPolicy',
    );
    assert.equal(again.id, c.id);
    await secondApproval(c);
    await sign(m.policy);
    // The audit trail: proposal, each approval, application.
    const steps = events.filter((e) => e.operation.endsWith(`/${c.id}`)).map((e) => `${e.operation.split('/')[0]} ${e.principalArn}`);
    assert.deepEqual(steps, [
      `PolicyChangeProposed ${admin.arn}`,
      `PolicyChangeApproved ${admin.arn}`,
      `PolicyChangeApproved ${alice.arn}`,
      `PolicyChangeApplied ${alice.arn}`,
    ]);
    assert.ok(events.some((e) => e.service === 'iam' && e.operation === 'PutUserPolicy' && e.errorCode === 'EntityTemporarilyUnmodifiable'));
  });

  test('TagUser with the tag a policy conditions on: pending; applied with a second approver', async () => {
    const c = await pending(iam(admin).send(new TagUserCommand({ UserName: 'm-tag', Tags: [{ Key: 'Environment', Value: 'production' }] })), 'iam', 'TagUser');
    assert.deepEqual((await iam().send(new ListUserTagsCommand({ UserName: 'm-tag' }))).Tags, []);
    await cannotSign(m.tag);
    await secondApproval(c);
    await sign(m.tag);
  });

  test('UntagUser removing the tag a Deny conditions on: pending; applied with a second approver', async () => {
    const c = await pending(iam(admin).send(new UntagUserCommand({ UserName: 'm-untag', TagKeys: ['Role'] })), 'iam', 'UntagUser');
    await cannotSign(m.untag);
    await secondApproval(c);
    await sign(m.untag);
  });

  test('DeleteUserPolicy of a Deny: pending; applied with a second approver', async () => {
    const c = await pending(iam(admin).send(new DeleteUserPolicyCommand({ UserName: 'm-deny', PolicyName: 'guard' })), 'iam', 'DeleteUserPolicy');
    await cannotSign(m.deny);
    await secondApproval(c);
    await sign(m.deny);
  });

  test('CreateAccessKey for the production signer: pending, no key made; approved, the proposer collects it once and signs', async () => {
    const c = await pending(iam(admin).send(new CreateAccessKeyCommand({ UserName: 'signer' })), 'iam', 'CreateAccessKey');
    assert.equal((await iam().send(new ListAccessKeysCommand({ UserName: 'signer' }))).AccessKeyMetadata!.length, 1);
    await secondApproval(c);
    // Another caller cannot collect it: the root's own request is a new proposal.
    await pending(iam().send(new CreateAccessKeyCommand({ UserName: 'signer' })), 'iam', 'CreateAccessKey', 0);
    const k = await iam(admin).send(new CreateAccessKeyCommand({ UserName: 'signer' }));
    await sign({ accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! });
    assert.equal((await approvals('GetPolicyChange', { ChangeId: c.id }, alice)).Change.Collected, true);
    // Collected once: the same request again is a new proposal. (Deleting a key narrows access: immediate.)
    await iam(admin).send(new DeleteAccessKeyCommand({ UserName: 'signer', AccessKeyId: k.AccessKey!.AccessKeyId! }));
    const next = await pending(iam(admin).send(new CreateAccessKeyCommand({ UserName: 'signer' })), 'iam', 'CreateAccessKey');
    assert.notEqual(next.id, c.id);
  });

  test('CreateUser with tags: pending, no user; applied with a second approver', async () => {
    const c = await pending(
      iam(admin).send(new CreateUserCommand({ UserName: 'm-new', Tags: [{ Key: 'Environment', Value: 'production' }] })),
      'iam',
      'CreateUser',
    );
    await fails(iam().send(new GetUserCommand({ UserName: 'm-new' })), 'NoSuchEntityException');
    await secondApproval(c);
    assert.deepEqual((await iam().send(new ListUserTagsCommand({ UserName: 'm-new' }))).Tags, [{ Key: 'Environment', Value: 'production' }]);
    // A user without tags changes nobody's access: created at once.
    await iam(admin).send(new CreateUserCommand({ UserName: 'm-plain' }));
  });

  test('role trust and role policies: CreateRole, PutRolePolicy, DeleteRolePolicy of a Deny all pending; applied with a second approver', async () => {
    const trust = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Federated: 'https://evil.example' }, Action: 'sts:AssumeRoleWithWebIdentity' }],
    });
    const role = await pending(iam(admin).send(new CreateRoleCommand({ RoleName: 'escape', AssumeRolePolicyDocument: trust })), 'iam', 'CreateRole');
    await fails(iam().send(new GetRoleCommand({ RoleName: 'escape' })), 'NoSuchEntityException');
    const put = await pending(
      iam(admin).send(new PutRolePolicyCommand({ RoleName: 'ops', PolicyName: 'sign', PolicyDocument: JSON.stringify(allow('kms:Sign')) })),
      'iam',
      'PutRolePolicy',
    );
    await fails(iam().send(new GetRolePolicyCommand({ RoleName: 'ops', PolicyName: 'sign' })), 'NoSuchEntityException');
    const del = await pending(iam(admin).send(new DeleteRolePolicyCommand({ RoleName: 'ops', PolicyName: 'guard' })), 'iam', 'DeleteRolePolicy');
    assert.ok((await iam().send(new GetRolePolicyCommand({ RoleName: 'ops', PolicyName: 'guard' }))).PolicyDocument);
    for (const c of [role, put, del]) await secondApproval(c);
    assert.equal(decodeURIComponent((await iam().send(new GetRoleCommand({ RoleName: 'escape' }))).Role!.AssumeRolePolicyDocument!), trust);
    assert.ok((await iam().send(new GetRolePolicyCommand({ RoleName: 'ops', PolicyName: 'sign' }))).PolicyDocument);
    await fails(iam().send(new GetRolePolicyCommand({ RoleName: 'ops', PolicyName: 'guard' })), 'NoSuchEntityException');
  });

  test('CreateGrant of Sign on the production key: pending; applied with a second approver', async () => {
    const c = await pending(
      kms(admin).send(new CreateGrantCommand({ KeyId: prodKey, GranteePrincipal: m.grant.arn, Operations: ['Sign'] })),
      'kms',
      'CreateGrant',
    );
    await cannotSign(m.grant);
    await secondApproval(c);
    await sign(m.grant);
  });

  test('PutKeyPolicy naming a user on a key without a rule of its own: pending; applied with a second approver', async () => {
    const before = (await kms().send(new GetKeyPolicyCommand({ KeyId: prodKey }))).Policy!;
    const doc = JSON.parse(before);
    doc.Statement.push({ Sid: 'm', Effect: 'Allow', Principal: { AWS: m.keyPolicy.arn }, Action: 'kms:Sign', Resource: '*' });
    const next = JSON.stringify(doc);
    const c = await pending(kms(admin).send(new PutKeyPolicyCommand({ KeyId: prodKey, Policy: next })), 'kms', 'PutKeyPolicy');
    assert.equal((await kms().send(new GetKeyPolicyCommand({ KeyId: prodKey }))).Policy, before);
    await cannotSign(m.keyPolicy);
    await secondApproval(c);
    assert.equal((await kms().send(new GetKeyPolicyCommand({ KeyId: prodKey }))).Policy, next);
    await sign(m.keyPolicy);
  });

  test('a key rule of its own (the administrator and an accomplice) is itself a pending account change', async () => {
    const r = await approvals('PutQuorumRule', { KeyId: prodKey, Approvers: [admin.arn, bob.arn], Threshold: 2 }, admin);
    assert.deepEqual([r.Status, r.Scope, r.Approvals], ['PENDING', 'Account', 1]);
    assert.equal((await approvals('GetQuorumRule', { KeyId: prodKey })).Threshold, undefined);
    await secondApproval({ id: r.ChangeId, sha256: r.PayloadSha256 });
    assert.deepEqual((await approvals('GetQuorumRule', { KeyId: prodKey })).Approvers, [admin.arn, bob.arn]);
  });

  test('moving or deleting an alias, or naming a key with a rule of its own: pending; applied with a second approver', async () => {
    const move = await pending(kms(admin).send(new UpdateAliasCommand({ AliasName: 'alias/treasury', TargetKeyId: otherKey })), 'kms', 'UpdateAlias');
    assert.equal((await kms().send(new DescribeKeyCommand({ KeyId: 'alias/treasury' }))).KeyMetadata!.Arn, prodKey);
    const create = await pending(kms(admin).send(new CreateAliasCommand({ AliasName: 'alias/payments', TargetKeyId: prodKey })), 'kms', 'CreateAlias');
    await fails(kms().send(new DescribeKeyCommand({ KeyId: 'alias/payments' })), 'NotFoundException');
    const del = await pending(kms(admin).send(new DeleteAliasCommand({ AliasName: 'alias/spare' })), 'kms', 'DeleteAlias');
    assert.equal((await kms().send(new DescribeKeyCommand({ KeyId: 'alias/spare' }))).KeyMetadata!.Arn, prodKey);
    // A new name for a key without a rule of its own redirects nobody: at once.
    await kms(admin).send(new CreateAliasCommand({ AliasName: 'alias/wallet-1', TargetKeyId: otherKey }));
    for (const c of [move, create, del]) await secondApproval(c);
    assert.equal((await kms().send(new DescribeKeyCommand({ KeyId: 'alias/treasury' }))).KeyMetadata!.Arn, otherKey);
    assert.equal((await kms().send(new DescribeKeyCommand({ KeyId: 'alias/payments' }))).KeyMetadata!.Arn, prodKey);
    await fails(kms().send(new DescribeKeyCommand({ KeyId: 'alias/spare' })), 'NotFoundException');
  });

  test('an approved change is re-validated at application: a user deleted meanwhile makes it SUPERSEDED', async () => {
    const c = await pending(
      iam(admin).send(new PutUserPolicyCommand({ UserName: 'm-ghost', PolicyName: 'sign', PolicyDocument: JSON.stringify(allow('kms:Sign')) })),
      'iam',
      'PutUserPolicy',
    );
    // Deleting narrows access: immediate.
    const keys = (await iam().send(new ListAccessKeysCommand({ UserName: 'm-ghost' }))).AccessKeyMetadata!;
    for (const k of keys) await iam(admin).send(new DeleteAccessKeyCommand({ UserName: 'm-ghost', AccessKeyId: k.AccessKeyId! }));
    await iam(admin).send(new DeleteUserCommand({ UserName: 'm-ghost' }));
    const r = await approvals('ApprovePolicyChange', { ChangeId: c.id, PayloadSha256: c.sha256 }, alice);
    assert.equal(r.Change.Status, 'SUPERSEDED');
    assert.match(r.Change.Outcome, /the user m-ghost no longer exists/);
    await fails(iam().send(new GetUserCommand({ UserName: 'm-ghost' })), 'NoSuchEntityException');
  });

  test('a proposer who is not an approver cannot vote; rejections reject; changes expire', async () => {
    const doc = JSON.stringify(allow('kms:Sign'));
    const c = await pending(iam().send(new PutUserPolicyCommand({ UserName: 'm-tag', PolicyName: 'more', PolicyDocument: doc })), 'iam', 'PutUserPolicy', 0);
    await fails(approvals('ApprovePolicyChange', { ChangeId: c.id, PayloadSha256: c.sha256 }), 'AccessDeniedException', /not an approver/);
    await fails(approvals('ApprovePolicyChange', { ChangeId: c.id, PayloadSha256: sha('other text') }, alice), 'ValidationException', /does not match/);
    await approvals('RejectPolicyChange', { ChangeId: c.id, PayloadSha256: c.sha256 }, alice);
    const r = await approvals('RejectPolicyChange', { ChangeId: c.id, PayloadSha256: c.sha256 }, bob);
    assert.equal(r.Change.Status, 'REJECTED');

    const e = await pending(iam(admin).send(new TagUserCommand({ UserName: 'm-policy', Tags: [{ Key: 'x', Value: 'y' }] })), 'iam', 'TagUser');
    offsetMs += 301_000;
    await fails(approvals('ApprovePolicyChange', { ChangeId: e.id, PayloadSha256: e.sha256 }, alice), 'KMSInvalidStateException', /is EXPIRED/);
    assert.deepEqual((await iam().send(new ListUserTagsCommand({ UserName: 'm-policy' }))).Tags, []);
    assert.ok(events.some((ev) => ev.operation === `PolicyChangeExpired/${e.id}`));
    // Back to real time, so the CLI (which signs with the real clock) is accepted below.
    offsetMs = 0;
  });

  test('weakening or deleting the account rule needs the quorum; approved, changes apply at once again (CLI)', async () => {
    await fails(approvals('PutAccountQuorumRule', { Approvers: [admin.arn, bob.arn], Threshold: 1 }, admin), 'ValidationException', /at least 2/);
    const del = await cli(['delete-rule', '--account', '--json'], admin);
    assert.equal(del.code, 0, del.stderr);
    const p = JSON.parse(del.stdout);
    assert.deepEqual([p.Status, p.Approvals], ['PENDING', 1]);
    // Still in force: a new policy change waits.
    assert.equal((await approvals('GetAccountQuorumRule', {})).Threshold, 2);
    await pending(
      iam(admin).send(new PutUserPolicyCommand({ UserName: 'm-grant', PolicyName: 'sign', PolicyDocument: JSON.stringify(allow('kms:Sign')) })),
      'iam',
      'PutUserPolicy',
    );
    const listed = await cli(['list', '--account', '--status', 'PENDING', '--json'], alice);
    const ids = (JSON.parse(listed.stdout).Changes as Array<{ ChangeId: string; Kind: string }>).map((c) => c.Kind);
    assert.ok(ids.includes('DeleteAccountQuorumRule'), listed.stdout);
    const shown = await cli(['show', '--id', p.ChangeId], alice);
    assert.match(shown.stdout, /DeleteAccountQuorumRule request/);
    const ok = await cli(['approve', '--id', p.ChangeId, '--sha256', p.PayloadSha256], alice);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await approvals('GetAccountQuorumRule', {}), {});
    // Without a rule, PutUserPolicy applies at once.
    await iam(admin).send(new PutUserPolicyCommand({ UserName: 'm-policy', PolicyName: 'p2', PolicyDocument: JSON.stringify(allow('kms:Verify')) }));
    assert.deepEqual((await iam().send(new ListUserPoliciesCommand({ UserName: 'm-policy' }))).PolicyNames, ['p2', 'sign']);
  });
});
