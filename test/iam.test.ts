// The IAM-compatible API through a real listening custodian and the real
// @aws-sdk/client-iam: users, tags, access keys, inline policies; IAM's error
// codes and messages; authorization of iam:* actions by identity policies;
// revocation of deleted or deactivated keys, at once in the process that
// made the change and within the credential cache TTL in another process.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
  ListUserTagsCommand,
  PutUserPolicyCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { ADMIN, REGION, STORE, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
const clients: IAMClient[] = [];
function iam(credentials: { accessKeyId: string; secretAccessKey: string } = ADMIN, s: TestServer = server): IAMClient {
  const c = new IAMClient({ endpoint: s.endpoint, region: REGION, credentials, maxAttempts: 1 });
  clients.push(c);
  return c;
}

/** Asserts that `p` fails with IAM error `code` (and a message matching `message`) and HTTP `status`. */
async function rejects(p: Promise<unknown>, code: string, message?: RegExp | string, status?: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    // The SDK names modelled errors `<Code>Exception`; the wire code is in Error.Code.
    const err = e as { name?: string; message?: string; Error?: { Code?: string }; $metadata?: { httpStatusCode?: number } };
    const wire = err.Error?.Code ?? err.name;
    assert.equal(wire, code, `expected ${code}, got ${wire}: ${err.message}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message ?? '', message);
    if (status !== undefined) assert.equal(err.$metadata?.httpStatusCode, status);
    return true;
  });
}

const policy = (...Statement: unknown[]) => JSON.stringify({ Version: '2012-10-17', Statement });

async function userWithKey(name: string, tags: Array<{ Key: string; Value: string }> = []) {
  await iam().send(new CreateUserCommand({ UserName: name, Tags: tags }));
  const k = await iam().send(new CreateAccessKeyCommand({ UserName: name }));
  return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! };
}

before(async () => {
  server = await startTestServer();
});
after(async () => {
  for (const c of clients) c.destroy();
  await server?.close();
});

describe(`IAM API on ${STORE}`, () => {
  test('CreateUser with tags, GetUser, ListUsers', async () => {
    const created = await iam().send(new CreateUserCommand({ UserName: 'withdrawals', Path: '/apps/', Tags: [{ Key: 'Environment', Value: 'production' }] }));
    const u = created.User!;
    assert.equal(u.UserName, 'withdrawals');
    assert.equal(u.Path, '/apps/');
    assert.equal(u.Arn, `arn:aws:iam::${server.custodian.accountId}:user/apps/withdrawals`);
    assert.match(u.UserId!, /^AIDA[A-Z2-7]{17}$/);
    assert.ok(u.CreateDate instanceof Date && Math.abs(u.CreateDate.getTime() - Date.now()) < 60_000);
    assert.deepEqual(u.Tags, [{ Key: 'Environment', Value: 'production' }]);

    const got = await iam().send(new GetUserCommand({ UserName: 'withdrawals' }));
    assert.equal(got.User!.Arn, u.Arn);
    assert.deepEqual(got.User!.Tags, [{ Key: 'Environment', Value: 'production' }]);

    const listed = await iam().send(new ListUsersCommand({}));
    assert.ok(listed.Users!.some((x) => x.UserName === 'withdrawals' && x.UserId === u.UserId));
    assert.equal(listed.IsTruncated, false);
  });

  test('ListUsers pages with MaxItems and Marker', async () => {
    for (const n of ['page-a', 'page-b', 'page-c']) await iam().send(new CreateUserCommand({ UserName: n }));
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const r = await iam().send(new ListUsersCommand({ MaxItems: 2, ...(marker ? { Marker: marker } : {}) }));
      assert.ok(r.Users!.length <= 2);
      seen.push(...r.Users!.map((x) => x.UserName!));
      marker = r.IsTruncated ? r.Marker : undefined;
    } while (marker);
    for (const n of ['page-a', 'page-b', 'page-c']) assert.ok(seen.includes(n));
    assert.equal(new Set(seen).size, seen.length);
  });

  test('user names are unique regardless of case; bad names are refused', async () => {
    await iam().send(new CreateUserCommand({ UserName: 'Case-User' }));
    await rejects(iam().send(new CreateUserCommand({ UserName: 'case-user' })), 'EntityAlreadyExists', 'User with name case-user already exists.', 409);
    await rejects(
      iam().send(new CreateUserCommand({ UserName: 'bad name!' })),
      'ValidationError',
      "1 validation error detected: Value 'bad name!' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
      400,
    );
    await rejects(iam().send(new CreateUserCommand({ UserName: 'root' })), 'InvalidInput', /reserved/);
    await rejects(iam().send(new CreateUserCommand({ UserName: 'tagged', Tags: [{ Key: 'aws:x', Value: 'y' }] })), 'InvalidInput', /reserved/);
    await rejects(iam().send(new GetUserCommand({ UserName: 'tagged' })), 'NoSuchEntity', 'The user with name tagged cannot be found.', 404);
  });

  test('GetUser without UserName describes the caller', async () => {
    const root = await iam().send(new GetUserCommand({}));
    assert.equal(root.User!.Arn, `arn:aws:iam::${server.custodian.accountId}:root`);
    assert.equal(root.User!.UserId, server.custodian.accountId);
  });

  test('access keys: secret shown once, sealed at rest, listed without secret, two per user', async () => {
    await iam().send(new CreateUserCommand({ UserName: 'keys-user' }));
    const k1 = await iam().send(new CreateAccessKeyCommand({ UserName: 'keys-user' }));
    assert.match(k1.AccessKey!.AccessKeyId!, /^AKIA[A-Z2-7]{16}$/);
    assert.equal(k1.AccessKey!.Status, 'Active');
    assert.equal(k1.AccessKey!.SecretAccessKey!.length, 40);
    const listed = await iam().send(new ListAccessKeysCommand({ UserName: 'keys-user' }));
    assert.deepEqual(
      listed.AccessKeyMetadata!.map((m) => [m.UserName, m.AccessKeyId, m.Status]),
      [['keys-user', k1.AccessKey!.AccessKeyId, 'Active']],
    );
    assert.equal(JSON.stringify(listed).includes(k1.AccessKey!.SecretAccessKey!), false);
    // The store holds only the sealed box.
    const row = await server.custodian.deps.store.db
      .selectFrom('iam_access_keys')
      .selectAll()
      .where('access_key_id', '=', k1.AccessKey!.AccessKeyId!)
      .executeTakeFirstOrThrow();
    assert.equal(Buffer.from(row.sealed_secret).includes(Buffer.from(k1.AccessKey!.SecretAccessKey!)), false);
    await iam().send(new CreateAccessKeyCommand({ UserName: 'keys-user' }));
    await rejects(iam().send(new CreateAccessKeyCommand({ UserName: 'keys-user' })), 'LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2', 409);
  });

  test('a new user can do nothing until a policy allows it; the policy takes effect at once', async () => {
    const creds = await userWithKey('limited');
    const arn = `arn:aws:iam::${server.custodian.accountId}:user/limited`;
    await rejects(
      iam(creds).send(new GetUserCommand({})),
      'AccessDenied',
      `User: ${arn} is not authorized to perform: iam:GetUser on resource: ${arn} because no identity-based policy allows the iam:GetUser action`,
      403,
    );
    await iam().send(
      new PutUserPolicyCommand({
        UserName: 'limited',
        PolicyName: 'self',
        PolicyDocument: policy({ Effect: 'Allow', Action: ['iam:GetUser', 'iam:ListUsers'], Resource: '*' }),
      }),
    );
    const me = await iam(creds).send(new GetUserCommand({}));
    assert.equal(me.User!.Arn, arn);
    await iam(creds).send(new ListUsersCommand({}));
    await rejects(
      iam(creds).send(new CreateUserCommand({ UserName: 'not-allowed' })),
      'AccessDenied',
      /iam:CreateUser on resource: arn:aws:iam::\d{12}:user\/not-allowed because no identity-based policy allows/,
    );
    // An explicit deny wins over iam:*.
    await iam().send(
      new PutUserPolicyCommand({
        UserName: 'limited',
        PolicyName: 'all',
        PolicyDocument: policy({ Effect: 'Allow', Action: 'iam:*', Resource: '*' }, { Effect: 'Deny', Action: 'iam:DeleteUser', Resource: '*' }),
      }),
    );
    await iam(creds).send(new CreateUserCommand({ UserName: 'made-by-limited' }));
    await rejects(
      iam(creds).send(new DeleteUserCommand({ UserName: 'made-by-limited' })),
      'AccessDenied',
      /with an explicit deny in an identity-based policy$/,
    );
    await iam().send(new DeleteUserPolicyCommand({ UserName: 'limited', PolicyName: 'all' }));
    await rejects(iam(creds).send(new CreateUserCommand({ UserName: 'not-allowed-2' })), 'AccessDenied');
  });

  test('inline policies: put, get (URL-encoded as IAM), list, delete; malformed and oversize refused', async () => {
    await iam().send(new CreateUserCommand({ UserName: 'policy-user' }));
    const doc = policy({
      Effect: 'Allow',
      Action: ['kms:Sign', 'kms:GetPublicKey'],
      Resource: '*',
      Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } },
    });
    await iam().send(new PutUserPolicyCommand({ UserName: 'policy-user', PolicyName: 'sign', PolicyDocument: doc }));
    const got = await iam().send(new GetUserPolicyCommand({ UserName: 'policy-user', PolicyName: 'sign' }));
    assert.equal(decodeURIComponent(got.PolicyDocument!), doc);
    assert.equal(got.PolicyName, 'sign');
    const names = await iam().send(new ListUserPoliciesCommand({ UserName: 'policy-user' }));
    assert.deepEqual(names.PolicyNames, ['sign']);
    await rejects(
      iam().send(new PutUserPolicyCommand({ UserName: 'policy-user', PolicyName: 'bad', PolicyDocument: policy({ Effect: 'Allow', Action: 'kms:Sign' }) })),
      'MalformedPolicyDocument',
      'Policy statement must contain resources.',
      400,
    );
    await rejects(
      iam().send(new PutUserPolicyCommand({ UserName: 'policy-user', PolicyName: 'bad', PolicyDocument: '{"Statement":' })),
      'MalformedPolicyDocument',
      'Syntax errors in policy.',
    );
    await rejects(
      iam().send(
        new PutUserPolicyCommand({
          UserName: 'policy-user',
          PolicyName: 'bad',
          PolicyDocument: policy({ Effect: 'Allow', Principal: '*', Action: 'kms:Sign', Resource: '*' }),
        }),
      ),
      'MalformedPolicyDocument',
      'Policy document should not specify a principal.',
    );
    const big = policy(
      ...Array.from({ length: 40 }, (_, i) => ({ Effect: 'Allow', Action: `kms:Sign`, Resource: `arn:aws:kms:us-east-1:111122223333:key/${i}` })),
    );
    await rejects(
      iam().send(new PutUserPolicyCommand({ UserName: 'policy-user', PolicyName: 'big', PolicyDocument: big })),
      'LimitExceeded',
      'Maximum policy size of 2048 bytes exceeded for user policy-user',
      409,
    );
    assert.deepEqual((await iam().send(new ListUserPoliciesCommand({ UserName: 'policy-user' }))).PolicyNames, ['sign']);
    await iam().send(new DeleteUserPolicyCommand({ UserName: 'policy-user', PolicyName: 'sign' }));
    await rejects(
      iam().send(new GetUserPolicyCommand({ UserName: 'policy-user', PolicyName: 'sign' })),
      'NoSuchEntity',
      'The user policy with name sign cannot be found.',
      404,
    );
    await rejects(iam().send(new DeleteUserPolicyCommand({ UserName: 'policy-user', PolicyName: 'sign' })), 'NoSuchEntity');
  });

  test('tags: TagUser replaces, UntagUser removes, and principal tags reach policies at once', async () => {
    const creds = await userWithKey('tag-user');
    await iam().send(
      new PutUserPolicyCommand({
        UserName: 'tag-user',
        PolicyName: 'prod-only',
        PolicyDocument: policy({
          Effect: 'Allow',
          Action: 'iam:ListUserTags',
          Resource: '*',
          Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } },
        }),
      }),
    );
    await rejects(iam(creds).send(new ListUserTagsCommand({ UserName: 'tag-user' })), 'AccessDenied');
    await iam().send(
      new TagUserCommand({
        UserName: 'tag-user',
        Tags: [
          { Key: 'Environment', Value: 'production' },
          { Key: 'team', Value: 'payments' },
        ],
      }),
    );
    const tags = await iam(creds).send(new ListUserTagsCommand({ UserName: 'tag-user' }));
    assert.deepEqual(tags.Tags, [
      { Key: 'Environment', Value: 'production' },
      { Key: 'team', Value: 'payments' },
    ]);
    await iam().send(new TagUserCommand({ UserName: 'tag-user', Tags: [{ Key: 'TEAM', Value: 'treasury' }] }));
    assert.deepEqual((await iam(creds).send(new ListUserTagsCommand({ UserName: 'tag-user' }))).Tags, [
      { Key: 'Environment', Value: 'production' },
      { Key: 'TEAM', Value: 'treasury' },
    ]);
    await iam().send(new UntagUserCommand({ UserName: 'tag-user', TagKeys: ['environment'] }));
    await rejects(iam(creds).send(new ListUserTagsCommand({ UserName: 'tag-user' })), 'AccessDenied');
    await rejects(
      iam().send(
        new TagUserCommand({
          UserName: 'tag-user',
          Tags: [
            { Key: 'a', Value: '1' },
            { Key: 'A', Value: '2' },
          ],
        }),
      ),
      'InvalidInput',
      'Duplicate tag keys found. Please note that Tag keys are case insensitive.',
    );
  });

  test('UpdateAccessKey and DeleteAccessKey revoke the key at once in this process', async () => {
    const creds = await userWithKey('revoked');
    await iam().send(
      new PutUserPolicyCommand({ UserName: 'revoked', PolicyName: 'self', PolicyDocument: policy({ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }) }),
    );
    await iam(creds).send(new GetUserCommand({}));
    await iam().send(new UpdateAccessKeyCommand({ UserName: 'revoked', AccessKeyId: creds.accessKeyId, Status: 'Inactive' }));
    await rejects(iam(creds).send(new GetUserCommand({})), 'InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    assert.equal((await iam().send(new ListAccessKeysCommand({ UserName: 'revoked' }))).AccessKeyMetadata![0]!.Status, 'Inactive');
    await iam().send(new UpdateAccessKeyCommand({ UserName: 'revoked', AccessKeyId: creds.accessKeyId, Status: 'Active' }));
    await iam(creds).send(new GetUserCommand({}));
    await iam().send(new DeleteAccessKeyCommand({ UserName: 'revoked', AccessKeyId: creds.accessKeyId }));
    await rejects(iam(creds).send(new GetUserCommand({})), 'InvalidClientTokenId');
    await rejects(
      iam().send(new DeleteAccessKeyCommand({ UserName: 'revoked', AccessKeyId: creds.accessKeyId })),
      'NoSuchEntity',
      `The Access Key with id ${creds.accessKeyId} cannot be found.`,
    );
  });

  test('DeleteUser refuses while keys or policies remain, then deletes', async () => {
    const creds = await userWithKey('leaving');
    await iam().send(
      new PutUserPolicyCommand({ UserName: 'leaving', PolicyName: 'p', PolicyDocument: policy({ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }) }),
    );
    await rejects(iam().send(new DeleteUserCommand({ UserName: 'leaving' })), 'DeleteConflict', 'Cannot delete entity, must delete access keys first.', 409);
    await iam().send(new DeleteAccessKeyCommand({ UserName: 'leaving', AccessKeyId: creds.accessKeyId }));
    await rejects(iam().send(new DeleteUserCommand({ UserName: 'leaving' })), 'DeleteConflict', 'Cannot delete entity, must delete policies first.');
    await iam().send(new DeleteUserPolicyCommand({ UserName: 'leaving', PolicyName: 'p' }));
    await iam().send(new DeleteUserCommand({ UserName: 'leaving' }));
    await rejects(iam().send(new GetUserCommand({ UserName: 'leaving' })), 'NoSuchEntity');
    await rejects(iam(creds).send(new GetUserCommand({})), 'InvalidClientTokenId');
  });

  test('every authenticated IAM request is on the audit trail', async () => {
    await iam().send(new CreateUserCommand({ UserName: 'audited' }));
    const creds = await (async () => {
      const k = await iam().send(new CreateAccessKeyCommand({ UserName: 'audited' }));
      return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! };
    })();
    await rejects(iam(creds).send(new DeleteUserCommand({ UserName: 'withdrawals' })), 'AccessDenied');
    await server.custodian.audit.flush();
    const rows = await server.custodian.deps.store.db
      .selectFrom('audit_events')
      .select(['operation', 'principal_arn', 'outcome', 'error_code'])
      .where('service', '=', 'iam')
      .orderBy('seq')
      .execute();
    const root = `arn:aws:iam::${server.custodian.accountId}:root`;
    assert.ok(rows.some((r) => r.operation === 'CreateUser' && r.principal_arn === root && r.outcome === 'allowed' && r.error_code === null));
    assert.ok(rows.some((r) => r.operation === 'CreateAccessKey' && r.outcome === 'allowed'));
    assert.ok(
      rows.some(
        (r) =>
          r.operation === 'DeleteUser' &&
          r.principal_arn === `arn:aws:iam::${server.custodian.accountId}:user/audited` &&
          r.outcome === 'denied' &&
          r.error_code === 'AccessDenied',
      ),
    );
    // The secret never reaches the trail.
    const all = JSON.stringify(await server.custodian.deps.store.db.selectFrom('audit_events').selectAll().execute());
    assert.equal(all.includes(creds.secretAccessKey), false);
  });

  test('errors are AWS query-protocol XML; a wrong secret is SignatureDoesNotMatch', async () => {
    const signer = new SignatureV4({ credentials: ADMIN, region: REGION, service: 'iam', sha256: Hash.bind(null, 'sha256') });
    const url = new URL(server.endpoint);
    const body = 'Action=GetUser&Version=2010-05-08&UserName=nobody-here';
    const signed = await signer.sign(
      new HttpRequest({
        method: 'POST',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      }),
    );
    const res = await fetch(server.endpoint, { method: 'POST', headers: signed.headers as Record<string, string>, body });
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /^text\/xml/);
    const xml = await res.text();
    assert.match(
      xml,
      /^<ErrorResponse xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/"><Error><Type>Sender<\/Type><Code>NoSuchEntity<\/Code><Message>The user with name nobody-here cannot be found\.<\/Message><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/,
    );
    await rejects(
      iam({ accessKeyId: ADMIN.accessKeyId, secretAccessKey: 'wrong-secret-wrong-secret-wrong-secret00' }).send(new ListUsersCommand({})),
      'SignatureDoesNotMatch',
      undefined,
      403,
    );
  });
});

describe('revocation reaches another process within the credential cache TTL', () => {
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    const pgSchema = STORE === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
    a = await startTestServer(pgSchema ? { pgSchema } : {});
    b = await startTestServer({ dataDir: a.dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) });
  });
  after(async () => {
    await b?.close();
    await a?.close();
  });

  test('a key deleted on one server stops working on the other within 5 s', async () => {
    await iam(ADMIN, a).send(new CreateUserCommand({ UserName: 'two-procs' }));
    await iam(ADMIN, a).send(
      new PutUserPolicyCommand({ UserName: 'two-procs', PolicyName: 'p', PolicyDocument: policy({ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }) }),
    );
    const k = await iam(ADMIN, a).send(new CreateAccessKeyCommand({ UserName: 'two-procs' }));
    const creds = { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! };
    await iam(creds, b).send(new GetUserCommand({}));
    const deletedAt = Date.now();
    await iam(ADMIN, a).send(new DeleteAccessKeyCommand({ UserName: 'two-procs', AccessKeyId: creds.accessKeyId }));
    await rejects(iam(creds, a).send(new GetUserCommand({})), 'InvalidClientTokenId');
    let refusedAfter: number | undefined;
    while (Date.now() - deletedAt < 8_000) {
      try {
        await iam(creds, b).send(new GetUserCommand({}));
      } catch (e) {
        assert.equal((e as Error).name, 'InvalidClientTokenId');
        refusedAfter = Date.now() - deletedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(refusedAfter !== undefined && refusedAfter <= 5_500, `refused after ${refusedAfter} ms`);
  });
});

/** Runs `symbolon admin …` in its own process (as an operator would), never blocking this one's server. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_'))) as Record<string, string>;
  return new Promise((resolveRun) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'admin', ...args],
      { env: { ...base, NODE_NO_WARNINGS: '1', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolveRun({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('symbolon admin (users, keys, policies) against a running server', () => {
  let dir: string;
  const asAdmin = () => ({ AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'symbolon-admin-cli-'));
    // The file a server writes when it generates the administrator credential.
    writeFileSync(join(dir, 'admin-credentials.json'), JSON.stringify({ ...ADMIN, region: REGION }), { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('create-user prints a working key once; put/get-user-policy; list-users --json', async () => {
    const created = await cli(['create-user', '--name', 'cli-user', '--tag', 'Environment=production', '--endpoint', server.endpoint, '--data', dir]);
    assert.equal(created.code, 0, created.stderr);
    const id = /^AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})$/m.exec(created.stdout)?.[1];
    const secret = /^AWS_SECRET_ACCESS_KEY=(\S{40})$/m.exec(created.stdout)?.[1];
    assert.ok(id && secret, created.stdout);
    assert.match(created.stdout, /created user arn:aws:iam::\d{12}:user\/cli-user/);

    const policyFile = join(dir, 'policy.json');
    const doc = policy({
      Effect: 'Allow',
      Action: 'iam:GetUser',
      Resource: '*',
      Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } },
    });
    writeFileSync(policyFile, doc);
    const put = await cli(['put-user-policy', '--name', 'cli-user', '--policy-file', policyFile, '--endpoint', server.endpoint], asAdmin());
    assert.equal(put.code, 0, put.stderr);
    // The printed secret works, and the tag reached the policy.
    const me = await iam({ accessKeyId: id, secretAccessKey: secret }).send(new GetUserCommand({}));
    assert.equal(me.User!.UserName, 'cli-user');

    const got = await cli(['get-user-policy', '--name', 'cli-user', '--json', '--endpoint', server.endpoint], asAdmin());
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(JSON.parse(got.stdout).PolicyDocument, JSON.parse(doc));
    const listed = await cli(['list-users', '--json', '--endpoint', server.endpoint, '--data', dir]);
    assert.equal(listed.code, 0, listed.stderr);
    const users = JSON.parse(listed.stdout).Users as Array<{ UserName: string; Tags?: unknown }>;
    assert.ok(users.some((u) => u.UserName === 'cli-user'));
  });

  test('create-access-key and delete-access-key; delete-user removes keys and policies first', async () => {
    const made = await cli(['create-access-key', '--name', 'cli-user', '--json', '--endpoint', server.endpoint], asAdmin());
    assert.equal(made.code, 0, made.stderr);
    const key = JSON.parse(made.stdout).AccessKey as { AccessKeyId: string; SecretAccessKey: string };
    assert.equal(key.SecretAccessKey.length, 40);
    await iam({ accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey }).send(new GetUserCommand({}));
    const del = await cli(['delete-access-key', '--name', 'cli-user', '--access-key-id', key.AccessKeyId, '--endpoint', server.endpoint], asAdmin());
    assert.equal(del.code, 0, del.stderr);
    await rejects(iam({ accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey }).send(new GetUserCommand({})), 'InvalidClientTokenId');

    const gone = await cli(['delete-user', '--name', 'cli-user', '--json', '--endpoint', server.endpoint], asAdmin());
    assert.equal(gone.code, 0, gone.stderr);
    assert.deepEqual(JSON.parse(gone.stdout).DeletedPolicies, ['default']);
    await rejects(iam().send(new GetUserCommand({ UserName: 'cli-user' })), 'NoSuchEntity');
  });

  test('errors: AWS code and message on stderr, exit 1; usage errors exit 2; no credentials', async () => {
    const missing = await cli(['get-user-policy', '--name', 'nobody', '--endpoint', server.endpoint], asAdmin());
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'symbolon admin: NoSuchEntity: The user with name nobody cannot be found.\n');
    const usage = await cli(['create-user', '--endpoint', server.endpoint], asAdmin());
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--name is required/);
    const empty = mkdtempSync(join(tmpdir(), 'symbolon-admin-empty-'));
    try {
      const none = await cli(['list-users', '--endpoint', server.endpoint, '--data', empty]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no credentials: set AWS_ACCESS_KEY_ID/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
