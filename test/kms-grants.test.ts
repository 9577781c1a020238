// KMS grants through a real listening custodian and @aws-sdk/client-kms:
// CreateGrant / ListGrants / ListRetirableGrants / RetireGrant / RevokeGrant,
// a grant as an additional allow (a user with no policy permission signs
// through one; an explicit Deny still wins), encryption-context constraints on
// Encrypt / Decrypt / GenerateDataKey, grant tokens, idempotent names,
// pagination, a quorum-guarded key (the grant is a pending change until
// approved), and the audit trail (events with the key ARN, never the token).
//
// Shapes are checked against AWS's KMS service model (botocore
// kms/service-2.json, found through test/helpers/vectors.ts). LocalStack's
// recorded real-AWS answers (localstack tests/aws/services/kms/
// test_kms.snapshot.json, same helper) hold no grant test at the snapshot
// commit (its test_kms.validation.json lists test_create_grant_with_valid_key,
// test_revoke_grant, test_retire_grant_with_grant_token … but their snapshots
// are not recorded there), so error names follow the model's error lists and
// the one AWS wording known ("Grants must not contain only the CreateGrant
// operation.").
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import pino from 'pino';
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
  ListGrantsCommand,
  ListRetirableGrantsCommand,
  PutKeyPolicyCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ADMIN, REGION, STORE, startTestServer, type TestServer } from './helpers/server.js';
import { absentMessage, readVectorJson, vectorPath } from './helpers/vectors.js';
import type { AuditEvent, AuditSink } from '../src/audit/event.js';
import { findGrant, insertGrant } from '../src/storage/grants.repository.js';
import { deleteKey } from '../src/storage/keys.repository.js';
import { grantParamsSha256, isPrincipal, meetsConstraints } from '../src/kms/grants.js';
import { callApprovals } from './helpers/aws-json.js';

type Creds = { accessKeyId: string; secretAccessKey: string; arn: string };

let server: TestServer;
let account: string;
let rootArn: string;
const events: AuditEvent[] = [];
const sink: AuditSink = { record: (e) => void events.push(e), recordDurable: async (e) => void events.push(e), async flush() {} };
const logLines: string[] = [];
const clients: Array<{ destroy(): void }> = [];

function kms(credentials: { accessKeyId: string; secretAccessKey: string } = ADMIN): KMSClient {
  const c = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials, maxAttempts: 1 });
  clients.push(c);
  return c;
}
function iam(): IAMClient {
  const c = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  clients.push(c);
  return c;
}

async function user(name: string, policy?: unknown): Promise<Creds> {
  const u = await iam().send(new CreateUserCommand({ UserName: name }));
  if (policy) await iam().send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify(policy) }));
  const k = await iam().send(new CreateAccessKeyCommand({ UserName: name }));
  return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn! };
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

/** One SymbolonApprovals.* call; resolves to the JSON body. */
function approvals(op: string, body: Record<string, unknown>, creds: { accessKeyId: string; secretAccessKey: string } = ADMIN): Promise<any> {
  return callApprovals({ endpoint: server.endpoint, operation: op, body, credentials: creds });
}

const signKey = async () => (await kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
const symmetricKey = async () => (await kms().send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
const digest = new Uint8Array(createHash('sha256').update('grant test').digest());
const signWith = (creds: { accessKeyId: string; secretAccessKey: string }, keyId: string, grantTokens?: string[]) =>
  kms(creds).send(
    new SignCommand({
      KeyId: keyId,
      Message: digest,
      MessageType: 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
      ...(grantTokens ? { GrantTokens: grantTokens } : {}),
    }),
  );

/** The members of a shape in AWS's KMS service model, or undefined when the vectors are absent. */
function modelMembers(shape: string): Set<string> | undefined {
  const p = vectorPath('botocore/kms/service-2.json');
  if (!p) return undefined;
  const model = readVectorJson<{ shapes: Record<string, { members?: Record<string, unknown> }> }>(p);
  return new Set(Object.keys(model.shapes[shape]?.members ?? {}));
}

let grantee: Creds;
let retirer: Creds;
let outsider: Creds;
let alice: Creds;
let bob: Creds;

before(async () => {
  server = await startTestServer({ audit: sink, logger: pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) }) });
  account = server.custodian.accountId;
  rootArn = `arn:aws:iam::${account}:root`;
  grantee = await user('grantee');
  retirer = await user('retirer');
  outsider = await user('outsider');
  alice = await user('alice');
  bob = await user('bob');
});
after(async () => {
  for (const c of clients) c.destroy();
  await server?.close();
});

describe(`KMS grants on ${STORE}`, () => {
  test('a user with no policy permission signs through a grant, and only with the operations it names', async (t) => {
    const key = await signKey();
    await fails(
      signWith(grantee, key),
      'AccessDeniedException',
      `User: ${grantee.arn} is not authorized to perform: kms:Sign on resource: ${key} because no identity-based policy allows the kms:Sign action`,
    );

    const created = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Sign', 'GetPublicKey'] }));
    assert.match(created.GrantId!, /^[0-9a-f]{64}$/);
    assert.ok(created.GrantToken && created.GrantToken.length > 0);
    const members = modelMembers('CreateGrantResponse');
    if (members) for (const k of Object.keys(created).filter((k) => k !== '$metadata')) assert.ok(members.has(k), `CreateGrantResponse has no member ${k}`);
    else t.diagnostic(absentMessage('botocore/kms/service-2.json'));

    // Effective at once, with or without its token.
    const signed = await signWith(grantee, key, [created.GrantToken!]);
    assert.equal(signed.KeyId, key);
    assert.ok(signed.Signature && signed.Signature.length > 60);
    await signWith(grantee, key);
    await kms(grantee).send(new GetPublicKeyCommand({ KeyId: key, GrantTokens: [created.GrantToken!] }));

    // Not in the grant: refused, with AWS's message for the policies.
    await fails(
      kms(grantee).send(
        new VerifyCommand({ KeyId: key, Message: digest, MessageType: 'DIGEST', Signature: signed.Signature!, SigningAlgorithm: 'ECDSA_SHA_256' }),
      ),
      'AccessDeniedException',
      /kms:Verify/,
    );
    await fails(kms(grantee).send(new DescribeKeyCommand({ KeyId: key })), 'AccessDeniedException', /kms:DescribeKey/);
    // Someone else is not the grantee.
    await fails(signWith(outsider, key), 'AccessDeniedException', /kms:Sign/);
  });

  test('operations the key does not support, bad principals and bad tokens are refused and change nothing', async () => {
    const sym = await symmetricKey();
    const sig = await signKey();
    await fails(
      kms().send(new CreateGrantCommand({ KeyId: sym, GranteePrincipal: grantee.arn, Operations: ['Sign'] })),
      'ValidationException',
      /Grant operations \[Sign\] are not valid for key .* key usage ENCRYPT_DECRYPT/,
    );
    await fails(
      kms().send(new CreateGrantCommand({ KeyId: sig, GranteePrincipal: grantee.arn, Operations: ['Sign', 'Decrypt', 'GenerateDataKey'] })),
      'ValidationException',
      /\[Decrypt, GenerateDataKey\]/,
    );
    await fails(
      kms().send(
        new CreateGrantCommand({ KeyId: sig, GranteePrincipal: grantee.arn, Operations: ['Sign'], Constraints: { EncryptionContextSubset: { a: 'b' } } }),
      ),
      'ValidationException',
      /constraints are not supported/,
    );
    // AWS's wording (a real KMS answer quoted in ansible/ansible#31960).
    await fails(
      kms().send(new CreateGrantCommand({ KeyId: sym, GranteePrincipal: grantee.arn, Operations: ['CreateGrant'] })),
      'ValidationException',
      'Grants must not contain only the CreateGrant operation.',
    );
    await fails(
      kms().send(new CreateGrantCommand({ KeyId: sym, GranteePrincipal: grantee.arn, Operations: ['Launch' as never] })),
      'ValidationException',
      /Value 'Launch' at 'operations.1.member' failed to satisfy constraint: Member must satisfy enum value set/,
    );
    await fails(
      kms().send(new CreateGrantCommand({ KeyId: sym, GranteePrincipal: 'not an arn', Operations: ['Encrypt'] })),
      'ValidationException',
      /granteePrincipal/,
    );
    await fails(
      kms().send(new CreateGrantCommand({ KeyId: sym, GranteePrincipal: 'arn:aws:s3:::bucket', Operations: ['Encrypt'] })),
      'ValidationException',
      /not a valid principal ARN/,
    );
    await fails(
      kms().send(
        new CreateGrantCommand({
          KeyId: sym,
          GranteePrincipal: grantee.arn,
          Operations: ['Encrypt'],
          Constraints: { EncryptionContextSubset: { a: 'b' }, EncryptionContextEquals: { a: 'b' } },
        }),
      ),
      'ValidationException',
      /not both/,
    );
    await fails(
      kms().send(new CreateGrantCommand({ KeyId: sym, GranteePrincipal: grantee.arn, Operations: ['Encrypt'], DryRun: true })),
      'DryRunOperationException',
    );
    for (const k of [sym, sig]) assert.deepEqual((await kms().send(new ListGrantsCommand({ KeyId: k }))).Grants, []);

    // GrantTokens: at most 10 (GrantTokenList), each one this custodian issued.
    const { GrantToken } = await kms().send(new CreateGrantCommand({ KeyId: sig, GranteePrincipal: grantee.arn, Operations: ['Sign'] }));
    await fails(signWith(grantee, sig, Array(11).fill(GrantToken!)), 'ValidationException', /grantTokens.*length less than or equal to 10/);
    await fails(signWith(grantee, sig, ['forged-token']), 'InvalidGrantTokenException', 'Invalid grant token.');
    await fails(
      kms().send(new DescribeKeyCommand({ KeyId: sig, GrantTokens: ['x'.repeat(8193)] })),
      'ValidationException',
      /length less than or equal to 8192/,
    );
    await signWith(grantee, sig, Array(10).fill(GrantToken!));
  });

  test('encryption-context constraints are enforced on Encrypt, Decrypt and GenerateDataKey', async () => {
    const key = await symmetricKey();
    const subsetUser = await user('ec-subset');
    const equalsUser = await user('ec-equals');
    await kms().send(
      new CreateGrantCommand({
        KeyId: key,
        GranteePrincipal: subsetUser.arn,
        Operations: ['Encrypt', 'Decrypt', 'GenerateDataKey'],
        Constraints: { EncryptionContextSubset: { tenant: 'a' } },
      }),
    );
    await kms().send(
      new CreateGrantCommand({
        KeyId: key,
        GranteePrincipal: equalsUser.arn,
        Operations: ['Encrypt', 'Decrypt', 'GenerateDataKey'],
        Constraints: { EncryptionContextEquals: { tenant: 'a' } },
      }),
    );
    const plaintext = new TextEncoder().encode('secret');

    // Subset: the request's context must include tenant=a, and may include more.
    const wide = await kms(subsetUser).send(new EncryptCommand({ KeyId: key, Plaintext: plaintext, EncryptionContext: { tenant: 'a', purpose: 'x' } }));
    const opened = await kms(subsetUser).send(new DecryptCommand({ CiphertextBlob: wide.CiphertextBlob, EncryptionContext: { tenant: 'a', purpose: 'x' } }));
    assert.deepEqual(opened.Plaintext, plaintext);
    await fails(
      kms(subsetUser).send(new EncryptCommand({ KeyId: key, Plaintext: plaintext, EncryptionContext: { tenant: 'b' } })),
      'AccessDeniedException',
      /kms:Encrypt/,
    );
    await fails(kms(subsetUser).send(new EncryptCommand({ KeyId: key, Plaintext: plaintext })), 'AccessDeniedException', /kms:Encrypt/);
    await fails(
      kms(subsetUser).send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256', EncryptionContext: { tenant: 'b' } })),
      'AccessDeniedException',
      /kms:GenerateDataKey/,
    );
    const dk = await kms(subsetUser).send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256', EncryptionContext: { tenant: 'a' } }));
    assert.equal(dk.Plaintext?.length, 32);

    // Equals: exactly tenant=a.
    const exact = await kms(equalsUser).send(new EncryptCommand({ KeyId: key, Plaintext: plaintext, EncryptionContext: { tenant: 'a' } }));
    await fails(
      kms(equalsUser).send(new EncryptCommand({ KeyId: key, Plaintext: plaintext, EncryptionContext: { tenant: 'a', purpose: 'x' } })),
      'AccessDeniedException',
      /kms:Encrypt/,
    );
    await fails(
      kms(equalsUser).send(new DecryptCommand({ CiphertextBlob: wide.CiphertextBlob, EncryptionContext: { tenant: 'a', purpose: 'x' } })),
      'AccessDeniedException',
      /kms:Decrypt/,
    );
    assert.deepEqual(
      (await kms(equalsUser).send(new DecryptCommand({ CiphertextBlob: exact.CiphertextBlob, EncryptionContext: { tenant: 'a' } }))).Plaintext,
      plaintext,
    );
    await kms(equalsUser).send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256', EncryptionContext: { tenant: 'a' } }));
    await fails(
      kms(equalsUser).send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256', EncryptionContext: { tenant: 'a', more: '1' } })),
      'AccessDeniedException',
      /kms:GenerateDataKey/,
    );
  });

  test('an explicit Deny in the key policy or an identity policy beats a grant', async () => {
    const key = await signKey();
    const denied = await user('denied-by-identity', { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'kms:Sign', Resource: '*' }] });
    await kms().send(
      new PutKeyPolicyCommand({
        KeyId: key,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: rootArn }, Action: 'kms:*', Resource: '*' },
            { Sid: 'NoSigningByGrantee', Effect: 'Deny', Principal: { AWS: grantee.arn }, Action: 'kms:Sign', Resource: '*' },
          ],
        }),
      }),
    );
    for (const who of [grantee, denied])
      await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: who.arn, Operations: ['Sign', 'GetPublicKey'] }));
    await fails(
      signWith(grantee, key),
      'AccessDeniedException',
      `User: ${grantee.arn} is not authorized to perform: kms:Sign on resource: ${key} with an explicit deny in a resource-based policy`,
    );
    await fails(
      signWith(denied, key),
      'AccessDeniedException',
      `User: ${denied.arn} is not authorized to perform: kms:Sign on resource: ${key} with an explicit deny in an identity-based policy`,
    );
    // The same grants still allow what nothing denies.
    await kms(grantee).send(new GetPublicKeyCommand({ KeyId: key }));
    await kms(denied).send(new GetPublicKeyCommand({ KeyId: key }));
  });

  test('retired by its retiring principal, revoked by the admin: refused at once; who may not retire or revoke', async () => {
    const key = await signKey();
    const g1 = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, RetiringPrincipal: retirer.arn, Operations: ['Sign'] }));
    const g2 = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Sign', 'GetPublicKey'] }));
    await signWith(grantee, key);

    // The grantee without RetireGrant in the grant, and anyone else, may not retire it.
    await fails(
      kms(grantee).send(new RetireGrantCommand({ KeyId: key, GrantId: g1.GrantId })),
      'AccessDeniedException',
      new RegExp(`^User: ${grantee.arn} is not authorized to perform: kms:RetireGrant on resource: ${key}`),
    );
    await fails(kms(outsider).send(new RetireGrantCommand({ GrantToken: g1.GrantToken })), 'AccessDeniedException', /kms:RetireGrant/);
    // RevokeGrant needs kms:RevokeGrant from a policy.
    await fails(kms(retirer).send(new RevokeGrantCommand({ KeyId: key, GrantId: g2.GrantId })), 'AccessDeniedException', /kms:RevokeGrant/);
    await fails(kms().send(new RetireGrantCommand({})), 'ValidationException', 'Grant token OR (grant ID, key ID) must be specified');
    await fails(kms().send(new RevokeGrantCommand({ KeyId: key, GrantId: 'nope' })), 'InvalidGrantIdException');
    await fails(kms().send(new RevokeGrantCommand({ KeyId: key, GrantId: 'f'.repeat(64) })), 'NotFoundException', `Grant ID ${'f'.repeat(64)} not found.`);
    await fails(kms(retirer).send(new RetireGrantCommand({ GrantToken: g1.GrantToken, DryRun: true })), 'DryRunOperationException');
    assert.equal((await kms().send(new ListGrantsCommand({ KeyId: key }))).Grants?.length, 2);

    // The retiring principal retires g1 by its token; the grantee still signs through g2.
    await kms(retirer).send(new RetireGrantCommand({ GrantToken: g1.GrantToken }));
    await signWith(grantee, key);
    await fails(kms(retirer).send(new RetireGrantCommand({ GrantToken: g1.GrantToken })), 'NotFoundException', `Grant ID ${g1.GrantId} not found.`);
    // The admin revokes g2: the next Sign is refused (the cached grants are dropped at once).
    await kms().send(new RevokeGrantCommand({ KeyId: key, GrantId: g2.GrantId }));
    await fails(signWith(grantee, key), 'AccessDeniedException', /kms:Sign/);
    assert.deepEqual((await kms().send(new ListGrantsCommand({ KeyId: key }))).Grants, []);

    // The account may delegate kms:RetireGrant through IAM (the default key policy enables IAM policies).
    const delegated = await user('retire-delegate', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:RetireGrant', Resource: '*' }] });
    const g4 = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Sign'] }));
    await kms(delegated).send(new RetireGrantCommand({ KeyId: key, GrantId: g4.GrantId }));
    assert.deepEqual((await kms().send(new ListGrantsCommand({ KeyId: key }))).Grants, []);

    // A grantee with RetireGrant in its grant retires it itself.
    const g3 = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Sign', 'RetireGrant'] }));
    await kms(grantee).send(new RetireGrantCommand({ KeyId: key, GrantId: g3.GrantId }));
    await fails(signWith(grantee, key), 'AccessDeniedException', /kms:Sign/);
  });

  test('ListGrants and ListRetirableGrants page with Limit and Marker and filter', async () => {
    const key = await symmetricKey();
    const other = await symmetricKey();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const who = i % 2 === 0 ? grantee.arn : outsider.arn;
      ids.push(
        (
          await kms().send(
            new CreateGrantCommand({ KeyId: key, GranteePrincipal: who, RetiringPrincipal: alice.arn, Operations: ['Encrypt', 'Decrypt'], Name: `g${i}` }),
          )
        ).GrantId!,
      );
    }
    await kms().send(
      new CreateGrantCommand({
        KeyId: other,
        GranteePrincipal: grantee.arn,
        RetiringPrincipal: alice.arn,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextEquals: { k: 'v' } },
      }),
    );

    const seen: string[] = [];
    let marker: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await kms().send(new ListGrantsCommand({ KeyId: key, Limit: 2, ...(marker ? { Marker: marker } : {}) }));
      sizes.push(page.Grants!.length);
      seen.push(...page.Grants!.map((g) => g.GrantId!));
      assert.equal(page.Truncated, page.NextMarker !== undefined);
      marker = page.NextMarker;
    } while (marker);
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(new Set(seen), new Set(ids));

    const first = (await kms().send(new ListGrantsCommand({ KeyId: key, GrantId: ids[3] }))).Grants!;
    assert.equal(first.length, 1);
    const entry = first[0]!;
    assert.deepEqual(
      {
        KeyId: entry.KeyId,
        GrantId: entry.GrantId,
        Name: entry.Name,
        GranteePrincipal: entry.GranteePrincipal,
        RetiringPrincipal: entry.RetiringPrincipal,
        IssuingAccount: entry.IssuingAccount,
        Operations: entry.Operations,
      },
      {
        KeyId: key,
        GrantId: ids[3],
        Name: 'g3',
        GranteePrincipal: outsider.arn,
        RetiringPrincipal: alice.arn,
        IssuingAccount: rootArn,
        Operations: ['Encrypt', 'Decrypt'],
      },
    );
    assert.ok(entry.CreationDate instanceof Date);
    const members = modelMembers('GrantListEntry');
    if (members) for (const k of Object.keys(entry)) assert.ok(members.has(k), `GrantListEntry has no member ${k}`);
    assert.equal((await kms().send(new ListGrantsCommand({ KeyId: key, GranteePrincipal: grantee.arn }))).Grants!.length, 3);
    assert.deepEqual((await kms().send(new ListGrantsCommand({ KeyId: key, GrantId: 'a'.repeat(64) }))).Grants, []);
    await fails(kms().send(new ListGrantsCommand({ KeyId: key, Marker: 'bm90IGEgbWFya2Vy' })), 'InvalidMarkerException');
    await fails(kms(grantee).send(new ListGrantsCommand({ KeyId: key })), 'AccessDeniedException', /kms:ListGrants/);

    // Alice may retire six grants over two keys; the root lists them, in pages of 4.
    const retirable: string[] = [];
    const first4 = await kms().send(new ListRetirableGrantsCommand({ RetiringPrincipal: alice.arn, Limit: 4 }));
    assert.equal(first4.Truncated, true);
    retirable.push(...first4.Grants!.map((g) => g.GrantId!));
    const rest = await kms().send(new ListRetirableGrantsCommand({ RetiringPrincipal: alice.arn, Limit: 4, Marker: first4.NextMarker! }));
    assert.equal(rest.Truncated, false);
    assert.equal(rest.NextMarker, undefined);
    retirable.push(...rest.Grants!.map((g) => g.GrantId!));
    assert.equal(retirable.length, 6);
    const onOther = rest.Grants!.find((g) => g.KeyId === other)!;
    assert.deepEqual(onOther.Constraints, { EncryptionContextEquals: { k: 'v' } });
    assert.deepEqual((await kms().send(new ListRetirableGrantsCommand({ RetiringPrincipal: bob.arn }))).Grants, []);
    // A user needs kms:ListRetirableGrants from an identity policy.
    await fails(kms(alice).send(new ListRetirableGrantsCommand({ RetiringPrincipal: alice.arn })), 'AccessDeniedException', /kms:ListRetirableGrants/);
  });

  test('CreateGrant with a name is idempotent for the same parameters', async () => {
    const key = await symmetricKey();
    const a = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Encrypt', 'Decrypt'], Name: 'app' }));
    const b = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Decrypt', 'Encrypt'], Name: 'app' }));
    assert.equal(b.GrantId, a.GrantId);
    assert.notEqual(b.GrantToken, a.GrantToken);
    // Every token of one grant names it: the second retires the grant the first was issued for.
    const c = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Encrypt'], Name: 'app' }));
    assert.notEqual(c.GrantId, a.GrantId);
    const other = await kms().send(
      new CreateGrantCommand({ KeyId: await symmetricKey(), GranteePrincipal: grantee.arn, Operations: ['Encrypt', 'Decrypt'], Name: 'app' }),
    );
    assert.notEqual(other.GrantId, a.GrantId);
    assert.equal((await kms().send(new ListGrantsCommand({ KeyId: key }))).Grants!.length, 2);
    await kms().send(new RetireGrantCommand({ GrantToken: b.GrantToken }));
    assert.deepEqual(
      (await kms().send(new ListGrantsCommand({ KeyId: key }))).Grants!.map((g) => g.GrantId),
      [c.GrantId],
    );
  });

  test('the store keeps one grant per key, name and parameters when two requests race past the look-up', async () => {
    // The race CreateGrant loses when two identical named requests both miss findNamedGrant: the second insert
    // meets the unique (key_id, name, params_sha256) index and yields the first grant, on SQLite and PostgreSQL.
    const keyArn = await symmetricKey();
    const keyId = keyArn.split('/')[1]!;
    const db = server.custodian.deps.store.db;
    const params = { granteePrincipal: outsider.arn, retiringPrincipal: null, operations: ['Decrypt'], constraints: null };
    const base = { keyId, name: 'raced', ...params, issuingAccount: account, paramsSha256: grantParamsSha256(params), createdAt: Date.now() };
    const first = await insertGrant(db, { ...base, grantId: '1'.repeat(64) });
    const second = await insertGrant(db, { ...base, grantId: '2'.repeat(64) });
    assert.equal(second.grantId, first.grantId);
    const unnamed = await insertGrant(db, { ...base, name: null, grantId: '3'.repeat(64) });
    assert.equal(unnamed.grantId, '3'.repeat(64));
    assert.deepEqual(
      (await kms().send(new ListGrantsCommand({ KeyId: keyArn }))).Grants!.map((g) => g.GrantId),
      ['1'.repeat(64), '3'.repeat(64)],
    );
  });

  test('a grantee with CreateGrant in its grant may grant only narrower grants', async () => {
    const key = await symmetricKey();
    const delegate = await user('delegate');
    await kms().send(
      new CreateGrantCommand({
        KeyId: key,
        GranteePrincipal: delegate.arn,
        Operations: ['CreateGrant', 'Encrypt', 'Decrypt'],
        Constraints: { EncryptionContextSubset: { tenant: 'a' } },
      }),
    );
    await fails(
      kms(delegate).send(
        new CreateGrantCommand({
          KeyId: key,
          GranteePrincipal: grantee.arn,
          Operations: ['GenerateDataKey'],
          Constraints: { EncryptionContextSubset: { tenant: 'a' } },
        }),
      ),
      'ValidationException',
      /\[GenerateDataKey\] are not among them/,
    );
    await fails(
      kms(delegate).send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Decrypt'] })),
      'ValidationException',
      /at least as strict/,
    );
    const ok = await kms(delegate).send(
      new CreateGrantCommand({
        KeyId: key,
        GranteePrincipal: grantee.arn,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextEquals: { tenant: 'a', app: 'x' } },
      }),
    );
    assert.match(ok.GrantId!, /^[0-9a-f]{64}$/);
  });

  test('on a quorum-guarded key CreateGrant is a pending change; approvals make the grant', async () => {
    const key = await signKey();
    await approvals('PutQuorumRule', { KeyId: key, Approvers: [alice.arn, bob.arn], Threshold: 2 });
    let changeId = '';
    await assert.rejects(
      kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Sign'], Name: 'guarded' })),
      (e: unknown) => {
        const err = e as { name?: string; message?: string };
        assert.equal(err.name, 'KMSInvalidStateException', err.message);
        const m = /^Grant change ([0-9a-f-]{36}) pending approval \(0 of 2\); it is not in effect until 2 approvers approve it \(SHA-256 ([0-9a-f]{64})\)/.exec(
          err.message ?? '',
        );
        assert.ok(m, err.message);
        changeId = m[1]!;
        return true;
      },
    );
    // Nothing exists yet.
    assert.deepEqual((await kms().send(new ListGrantsCommand({ KeyId: key }))).Grants, []);
    await fails(signWith(grantee, key), 'AccessDeniedException', /kms:Sign/);

    const shown = (await approvals('GetPolicyChange', { ChangeId: changeId })).Change;
    assert.equal(shown.Kind, 'Grant');
    const payload = JSON.parse(shown.Payload);
    assert.deepEqual([payload.GranteePrincipal, payload.Operations, payload.Name], [grantee.arn, ['Sign'], 'guarded']);
    assert.equal(createHash('sha256').update(shown.Payload, 'utf8').digest('hex'), shown.PayloadSha256);

    assert.equal((await approvals('ApprovePolicyChange', { ChangeId: changeId, PayloadSha256: shown.PayloadSha256 }, alice)).Change.Status, 'PENDING');
    await fails(signWith(grantee, key), 'AccessDeniedException', /kms:Sign/);
    assert.equal((await approvals('ApprovePolicyChange', { ChangeId: changeId, PayloadSha256: shown.PayloadSha256 }, bob)).Change.Status, 'APPLIED');

    const grants = (await kms().send(new ListGrantsCommand({ KeyId: key }))).Grants!;
    assert.deepEqual(
      grants.map((g) => [g.GrantId, g.Name, g.GranteePrincipal]),
      [[payload.GrantId, 'guarded', grantee.arn]],
    );
    await signWith(grantee, key);
    // The same named grant again is the existing one, not a new proposal.
    const again = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Sign'], Name: 'guarded' }));
    assert.equal(again.GrantId, payload.GrantId);
    const steps = events.filter((e) => e.operation.endsWith(`/${changeId}`)).map((e) => e.operation.split('/')[0]);
    assert.deepEqual(steps, ['PolicyChangeProposed', 'PolicyChangeApproved', 'PolicyChangeApproved', 'PolicyChangeApplied']);
  });

  test('a deleted key takes its grants with it', async () => {
    const keyArn = await symmetricKey();
    const keyId = keyArn.split('/')[1]!;
    const { GrantId } = await kms().send(
      new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: retirer.arn, RetiringPrincipal: bob.arn, Operations: ['Encrypt'] }),
    );
    const db = server.custodian.deps.store.db;
    assert.ok(await findGrant(db, GrantId!));
    // What the maintenance task runs once the deletion window has passed (src/kms/maintenance.ts).
    await deleteKey(db, keyId);
    assert.equal(await findGrant(db, GrantId!), undefined);
    assert.ok(!(await kms().send(new ListRetirableGrantsCommand({ RetiringPrincipal: bob.arn }))).Grants!.some((g) => g.GrantId === GrantId));
  });

  test('CreateGrant, RetireGrant and RevokeGrant are audited with the key ARN; tokens are in no event and no log line', async () => {
    const key = await symmetricKey();
    const from = events.length;
    const g1 = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, RetiringPrincipal: retirer.arn, Operations: ['Encrypt'] }));
    const g2 = await kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: grantee.arn, Operations: ['Encrypt'] }));
    await kms(retirer).send(new RetireGrantCommand({ GrantToken: g1.GrantToken }));
    await fails(kms(outsider).send(new RetireGrantCommand({ GrantToken: g2.GrantToken })), 'AccessDeniedException');
    await kms().send(new RevokeGrantCommand({ KeyId: key, GrantId: g2.GrantId }));
    const mine = events.slice(from).filter((e) => /Grant$/.test(e.operation));
    assert.deepEqual(
      mine.map((e) => [e.operation, e.principalArn, e.keyArn, e.outcome, e.errorCode]),
      [
        ['CreateGrant', rootArn, key, 'allowed', null],
        ['CreateGrant', rootArn, key, 'allowed', null],
        ['RetireGrant', retirer.arn, key, 'allowed', null],
        ['RetireGrant', outsider.arn, key, 'denied', 'AccessDeniedException'],
        ['RevokeGrant', rootArn, key, 'allowed', null],
      ],
    );
    const everything = JSON.stringify(events) + logLines.join('');
    for (const token of [g1.GrantToken!, g2.GrantToken!]) assert.ok(!everything.includes(token), 'a grant token reached the audit trail or the log');
    assert.ok(logLines.length > 0, 'the logger captured nothing; the check above proves nothing');
  });
});

describe(`a grant token makes a new grant usable at once in another process (${STORE})`, () => {
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    // Two custodians on one store; B caches a key's grants for a minute, so only the token can tell it of a new one.
    const pgSchema = STORE === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
    const env = { SYMBOLON_KEY_CACHE_TTL_MS: '60000' };
    a = await startTestServer({ env, ...(pgSchema ? { pgSchema } : {}) });
    b = await startTestServer({ env, dataDir: a.dataDir, keepSchema: true, ...(pgSchema ? { pgSchema } : {}) });
  });
  after(async () => {
    await b?.close();
    await a?.close();
  });

  test('without the token B still refuses (its cached grants), with it B allows', async () => {
    const iamA = new IAMClient({ endpoint: a.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    clients.push(iamA);
    const u = await iamA.send(new CreateUserCommand({ UserName: 'two-process-grantee' }));
    const k = await iamA.send(new CreateAccessKeyCommand({ UserName: 'two-process-grantee' }));
    const creds = { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! };
    const key = (await a.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
    const signOn = (s: TestServer, tokens?: string[]) =>
      s.kms(creds).send(
        new SignCommand({
          KeyId: key,
          Message: digest,
          MessageType: 'DIGEST',
          SigningAlgorithm: 'ECDSA_SHA_256',
          ...(tokens ? { GrantTokens: tokens } : {}),
        }),
      );
    await fails(signOn(b), 'AccessDeniedException', /kms:Sign/);

    const { GrantToken } = await a.kms().send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: u.User!.Arn!, Operations: ['Sign'] }));
    await signOn(a);
    await fails(signOn(b), 'AccessDeniedException', /kms:Sign/);
    await signOn(b, [GrantToken!]);
    // B now holds the fresh list, so the grant works there without the token too.
    await signOn(b);
  });
});

describe(`a request the policies allow never reads grants (${STORE})`, () => {
  let c: TestServer;
  before(async () => {
    c = await startTestServer();
  });
  after(async () => {
    await c?.close();
  });

  test('with the grants table gone, policy-allowed Sign still works; only a policy-denied request looks for grants', async () => {
    const key = (await c.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
    const iamC = new IAMClient({ endpoint: c.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
    clients.push(iamC);
    await iamC.send(new CreateUserCommand({ UserName: 'hot-path' }));
    await iamC.send(
      new PutUserPolicyCommand({
        UserName: 'hot-path',
        PolicyName: 'p',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Sign', Resource: '*' }] }),
      }),
    );
    const k = await iamC.send(new CreateAccessKeyCommand({ UserName: 'hot-path' }));
    const creds = { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! };
    const sign = (who: { accessKeyId: string; secretAccessKey: string }) =>
      c.kms(who).send(new SignCommand({ KeyId: key, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));

    await c.custodian.deps.store.db.schema.dropTable('kms_grants').execute();
    await sign(ADMIN);
    await sign(creds);
    // The table is really gone: a request no policy allows does look for grants, and fails closed.
    await fails(c.kms(creds).send(new GetPublicKeyCommand({ KeyId: key })), 'KMSInternalException');
  });
});

describe('grant matching rules', () => {
  const caller = (arn: string) => ({ accountId: '111122223333', arn, userName: '', accessKeyId: 'AKIA', tags: {} });
  test('a grant to a role is usable by its sessions (with or without a role path); nothing else matches by prefix', () => {
    const session = caller('arn:aws:sts::111122223333:assumed-role/app/device-1');
    assert.equal(isPrincipal(session, 'arn:aws:iam::111122223333:role/app'), true);
    assert.equal(isPrincipal(session, 'arn:aws:iam::111122223333:role/team/app'), true);
    assert.equal(isPrincipal(session, 'arn:aws:sts::111122223333:assumed-role/app/device-1'), true);
    assert.equal(isPrincipal(session, 'arn:aws:sts::111122223333:assumed-role/app/device-2'), false);
    assert.equal(isPrincipal(session, 'arn:aws:iam::444455556666:role/app'), false);
    assert.equal(isPrincipal(session, 'arn:aws:iam::111122223333:role/ap'), false);
    assert.equal(isPrincipal(caller('arn:aws:iam::111122223333:user/app'), 'arn:aws:iam::111122223333:role/app'), false);
    assert.equal(isPrincipal(caller('arn:aws:iam::111122223333:user/alice'), 'arn:aws:iam::111122223333:user/alice'), true);
    assert.equal(isPrincipal(caller('arn:aws:iam::111122223333:user/alice'), 'arn:aws:iam::111122223333:root'), false);
  });
  test('EncryptionContextSubset and EncryptionContextEquals', () => {
    assert.equal(meetsConstraints(null, {}), true);
    assert.equal(meetsConstraints({ encryptionContextSubset: { a: '1' } }, { a: '1', b: '2' }), true);
    assert.equal(meetsConstraints({ encryptionContextSubset: { a: '1' } }, { a: '2' }), false);
    assert.equal(meetsConstraints({ encryptionContextSubset: { a: '1' } }, {}), false);
    assert.equal(meetsConstraints({ encryptionContextEquals: { a: '1' } }, { a: '1' }), true);
    assert.equal(meetsConstraints({ encryptionContextEquals: { a: '1' } }, { a: '1', b: '2' }), false);
    assert.equal(meetsConstraints({ encryptionContextEquals: { constructor: 'x' } }, {}), false);
  });
});
