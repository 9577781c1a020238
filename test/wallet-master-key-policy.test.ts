/**
 * The master-key policy (src/wallet/master-key-policy.ts): its text is what we
 * intend (parsed back), and the custodian's own policy engine
 * (src/aws/policy/evaluate.ts) decides with it as the issue requires — the
 * user's role sessions may Encrypt/Decrypt/GenerateDataKey with context
 * {sub}, nobody else may, and the wallet service may manage but never use
 * the key nor change who may.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { startTestServer, ADMIN, REGION } from './helpers/server.js';
import { kmsMasterKeys } from '../src/wallet/master-keys.js';
import { signerSettingsFromEnv } from '../src/signer/settings.js';
import { parsePolicyDocument } from '../src/aws/policy/document.js';
import { decide, type Decision } from '../src/aws/policy/evaluate.js';
import { globalConditionKeys, principalFromArn } from '../src/aws/policy/request.js';
import { validatePolicyDocument } from '../src/kms/policy/key-policy.js';
import { ACCESS_CHANGING_ACTIONS, MANAGEMENT_ACTIONS, masterKeyPolicy, policyLiteral, USER_ACTIONS } from '../src/wallet/master-key-policy.js';

const A = '111122223333';
const ROOT = `arn:aws:iam::${A}:root`;
const WALLET_USER = `arn:aws:iam::${A}:user/wallet-service`;
const SUB = 'auth0|5f7c8ec7c33c6c004bbafe82';
const ISS = 'https://login.example.com/';
/** The session tags STS gives the user's sessions. */
const USER = { sub: SUB, iss: ISS };
const KEY = `arn:aws:kms:us-east-1:${A}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const NOW = Date.parse('2026-11-22T12:00:00Z');
/** The web-identity role's permissions policy: AWS needs one when the key policy delegates to the account. */
const ROLE_POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] });

function session(name: string): string {
  return `arn:aws:sts::${A}:assumed-role/symbolon-wallet-user/${name}`;
}

interface Ask {
  policy: string;
  caller: string;
  action: string;
  tags?: Record<string, string>;
  context?: Record<string, string>;
  identityPolicies?: string[];
  /** The measurement an attested Recipient presented (Decrypt with Recipient), if any. */
  imageSha384?: string;
}

function ask(a: Ask): Decision {
  const principal = principalFromArn(a.caller, A);
  const context = globalConditionKeys({ principal, userName: a.caller.split('/').pop()!, tags: a.tags ?? {}, sourceIp: '127.0.0.1', now: NOW });
  context.set('kms:CallerAccount', A);
  // As src/kms/encryption-context.ts exposes a request's context to policies.
  const ctx = a.context ?? {};
  if (Object.keys(ctx).length) context.set('kms:EncryptionContextKeys', Object.keys(ctx));
  for (const [k, v] of Object.entries(ctx)) context.set(`kms:EncryptionContext:${k}`, v);
  if (a.imageSha384 !== undefined) context.set('kms:RecipientAttestation:ImageSha384', a.imageSha384);
  return decide({
    request: { principal, action: a.action, resource: KEY, context },
    resourcePolicy: parsePolicyDocument(a.policy, 'key'),
    identityPolicies: (a.identityPolicies ?? []).map((t) => parsePolicyDocument(t, 'identity')),
  });
}

const policyFor = (walletArn: string, sub = SUB) => masterKeyPolicy({ accountId: A, sub, issuer: ISS, walletServicePrincipalArn: walletArn });

test('the stored text is the intended policy: user use with tag and context, wallet management, explicit denies', () => {
  const text = policyFor(ROOT);
  assert.equal(validatePolicyDocument(text), undefined);
  parsePolicyDocument(text, 'key');
  const doc = JSON.parse(text);
  assert.equal(doc.Version, '2012-10-17');
  const bySid = new Map<string, any>(doc.Statement.map((s: any) => [s.Sid, s]));
  assert.equal(doc.Id, 'symbolon-wallet-master-key-2');
  assert.deepEqual(
    [...bySid.keys()],
    [
      'AllowInspectionByTheUsersRoleSessions',
      'AllowUseByTheUsersRoleSessions',
      'AllowManagementByTheWalletService',
      'DenyUseByTheWalletService',
      'DenyAccessChangesByTheWalletService',
      'DenyUseByAnyoneButTheUser',
      'DenyUseBySessionsOfAnotherIssuer',
      'DenySplitShareOutsideAnAttestedSigner',
      'DenyUseWithoutTheUsersContext',
    ],
  );
  const use = bySid.get('AllowUseByTheUsersRoleSessions');
  assert.deepEqual(use.Principal, { AWS: ROOT });
  assert.deepEqual(use.Action, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey']);
  assert.deepEqual(use.Condition, {
    StringEquals: { 'aws:PrincipalType': 'AssumedRole', 'aws:PrincipalTag/sub': SUB, 'aws:PrincipalTag/iss': ISS, 'kms:EncryptionContext:sub': SUB },
  });
  const inspect = bySid.get('AllowInspectionByTheUsersRoleSessions');
  assert.deepEqual(inspect.Principal, { AWS: ROOT });
  assert.deepEqual(inspect.Action, ['kms:DescribeKey', 'kms:GetKeyPolicy']);
  assert.deepEqual(inspect.Condition, { StringEquals: { 'aws:PrincipalType': 'AssumedRole', 'aws:PrincipalTag/sub': SUB, 'aws:PrincipalTag/iss': ISS } });
  const manage = bySid.get('AllowManagementByTheWalletService');
  assert.equal(manage.Effect, 'Allow');
  assert.deepEqual(manage.Condition, { ArnEquals: { 'aws:PrincipalArn': ROOT } });
  for (const a of ['kms:DescribeKey', 'kms:TagResource', 'kms:DisableKey', 'kms:ScheduleKeyDeletion']) assert.ok(manage.Action.includes(a), a);
  // No Allow anywhere names a use or an access change for anyone but the user's sessions.
  for (const s of doc.Statement.filter((s: any) => s.Effect === 'Allow' && s !== use)) {
    for (const a of [...USER_ACTIONS, ...ACCESS_CHANGING_ACTIONS, 'kms:ReEncryptFrom', 'kms:GenerateDataKeyWithoutPlaintext'])
      assert.ok(!s.Action.includes(a), `${s.Sid} allows ${a}`);
  }
  const deny = bySid.get('DenyUseByTheWalletService');
  assert.equal(deny.Effect, 'Deny');
  assert.deepEqual(deny.Action, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*']);
  assert.deepEqual(deny.Condition, { ArnEquals: { 'aws:PrincipalArn': ROOT } });
  assert.deepEqual(bySid.get('DenyAccessChangesByTheWalletService').Action, ['kms:PutKeyPolicy', 'kms:CreateGrant']);
  assert.deepEqual(bySid.get('DenyUseBySessionsOfAnotherIssuer').Condition, { StringNotEquals: { 'aws:PrincipalTag/iss': ISS } });
});

test("the user's role session may use the key with {sub} as context, through the role's permissions policy", () => {
  const policy = policyFor(ROOT);
  for (const action of USER_ACTIONS) {
    assert.deepEqual(
      ask({ policy, caller: session('s1'), action, tags: USER, context: { sub: SUB }, identityPolicies: [ROLE_POLICY] }),
      { allowed: true },
      action,
    );
    // Further context pairs bind the ciphertext further; they do not lift the requirement. A split
    // wallet's share A ({sub, address}) is the exception for Decrypt: only to an attested signer.
    const split = ask({ policy, caller: session('s1'), action, tags: USER, context: { sub: SUB, address: '0xabc' }, identityPolicies: [ROLE_POLICY] });
    if (action === 'kms:Decrypt') assert.deepEqual(split, { allowed: false, reason: 'explicit-deny-resource' });
    else assert.deepEqual(split, { allowed: true }, action);
  }
  // Share A is released when the request carries an attested recipient's measurement.
  const attested = ask({
    policy,
    caller: session('s1'),
    action: 'kms:Decrypt',
    tags: USER,
    context: { sub: SUB, address: '0xabc' },
    identityPolicies: [ROLE_POLICY],
    imageSha384: 'ab'.repeat(48),
  });
  assert.deepEqual(attested, { allowed: true });
  // The key policy names the account, so (as in AWS) the role's own policy must allow too.
  assert.deepEqual(ask({ policy, caller: session('s1'), action: 'kms:Decrypt', tags: USER, context: { sub: SUB } }), {
    allowed: false,
    reason: 'no-allow-identity',
  });
});

test("only the user's own role sessions may inspect the key (DescribeKey, GetKeyPolicy): what the device checks before encrypting under it", () => {
  const policy = policyFor(ROOT);
  for (const action of ['kms:DescribeKey', 'kms:GetKeyPolicy']) {
    assert.deepEqual(ask({ policy, caller: session('s1'), action, tags: USER, identityPolicies: [ROLE_POLICY] }), { allowed: true }, action);
    assert.equal(
      ask({ policy, caller: session('s2'), action, tags: { sub: 'someone-else', iss: ISS }, identityPolicies: [ROLE_POLICY] }).allowed,
      false,
      action,
    );
    assert.equal(
      ask({ policy, caller: session('s4'), action, tags: { sub: SUB, iss: 'https://other-issuer.example/' }, identityPolicies: [ROLE_POLICY] }).allowed,
      false,
      action,
    );
    assert.equal(ask({ policy, caller: `arn:aws:iam::${A}:user/mallory`, action, tags: USER, identityPolicies: [ROLE_POLICY] }).allowed, false, action);
  }
  // Inspection opens nothing else: other management actions stay refused to the user.
  for (const action of ['kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:PutKeyPolicy']) {
    assert.equal(ask({ policy, caller: session('s1'), action, tags: USER, identityPolicies: [ROLE_POLICY] }).allowed, false, action);
  }
});

test('refused: another sub, a missing tag, a wrong or missing context, an IAM user carrying the tag, other uses', () => {
  const policy = policyFor(ROOT);
  const base = { policy, action: 'kms:Decrypt', identityPolicies: [ROLE_POLICY] };
  const denied = { allowed: false, reason: 'explicit-deny-resource' };
  assert.deepEqual(ask({ ...base, caller: session('s2'), tags: { sub: 'someone-else', iss: ISS }, context: { sub: SUB } }), denied);
  assert.deepEqual(ask({ ...base, caller: session('s2'), tags: { sub: 'someone-else', iss: ISS }, context: { sub: 'someone-else' } }), denied);
  assert.deepEqual(ask({ ...base, caller: session('s3'), context: { sub: SUB } }), denied);
  // The same sub from another issuer is another person (OIDC Core §2: sub is unique per issuer).
  assert.deepEqual(ask({ ...base, caller: session('s4'), tags: { sub: SUB, iss: 'https://other-issuer.example/' }, context: { sub: SUB } }), denied);
  assert.deepEqual(ask({ ...base, caller: session('s5'), tags: { sub: SUB }, context: { sub: SUB } }), denied);
  assert.deepEqual(ask({ ...base, caller: session('s1'), tags: USER, context: { sub: 'someone-else' } }), denied);
  assert.deepEqual(ask({ ...base, caller: session('s1'), tags: USER }), denied);
  assert.deepEqual(ask({ ...base, caller: `arn:aws:iam::${A}:user/mallory`, tags: USER, context: { sub: SUB } }).allowed, false);
  for (const action of ['kms:ReEncryptFrom', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion']) {
    assert.equal(ask({ ...base, action, caller: session('s1'), tags: USER, context: { sub: SUB } }).allowed, false, action);
  }
});

test('the wallet service (as the account root) manages the key but cannot use it or change who may', () => {
  const policy = policyFor(ROOT);
  for (const action of MANAGEMENT_ACTIONS) assert.deepEqual(ask({ policy, caller: ROOT, action }), { allowed: true }, action);
  for (const action of [
    'kms:Encrypt',
    'kms:Decrypt',
    'kms:GenerateDataKey',
    'kms:GenerateDataKeyWithoutPlaintext',
    'kms:ReEncryptFrom',
    'kms:ReEncryptTo',
    'kms:PutKeyPolicy',
    'kms:CreateGrant',
  ]) {
    // Even with the user's context: the root carries no session tags, and the Deny names it.
    assert.deepEqual(ask({ policy, caller: ROOT, action, context: { sub: SUB } }), { allowed: false, reason: 'explicit-deny-resource' }, action);
  }
});

test('the wallet service as a dedicated IAM user: an identity policy granting kms:* does not open the key', () => {
  const policy = policyFor(WALLET_USER);
  const everything = [ROLE_POLICY];
  assert.deepEqual(ask({ policy, caller: WALLET_USER, action: 'kms:DescribeKey' }), { allowed: true });
  assert.deepEqual(ask({ policy, caller: WALLET_USER, action: 'kms:Decrypt', context: { sub: SUB }, identityPolicies: everything }), {
    allowed: false,
    reason: 'explicit-deny-resource',
  });
  assert.deepEqual(ask({ policy, caller: WALLET_USER, action: 'kms:PutKeyPolicy', identityPolicies: everything }), {
    allowed: false,
    reason: 'explicit-deny-resource',
  });
  // Another IAM user of the account is not the wallet service: no management either.
  assert.equal(ask({ policy, caller: `arn:aws:iam::${A}:user/ops`, action: 'kms:DisableKey', identityPolicies: everything }).allowed, false);
});

test('a sub that looks like a policy variable stays a literal', () => {
  const sneaky = '${aws:PrincipalTag/sub}';
  const policy = policyFor(ROOT, sneaky);
  assert.ok(policy.includes(JSON.stringify(policyLiteral(sneaky))));
  const other = { caller: session('x'), action: 'kms:Decrypt', identityPolicies: [ROLE_POLICY] };
  // Unescaped, this condition would read "the caller's own tag" and let every tagged session in.
  assert.equal(ask({ policy, ...other, tags: { sub: 'victim-or-attacker', iss: ISS }, context: { sub: 'victim-or-attacker' } }).allowed, false);
  assert.deepEqual(ask({ policy, ...other, tags: { sub: sneaky, iss: ISS }, context: { sub: sneaky } }), { allowed: true });
  // The issuer is escaped the same way.
  const sneakyIssuer = masterKeyPolicy({ accountId: A, sub: SUB, issuer: '${aws:PrincipalTag/iss}', walletServicePrincipalArn: ROOT });
  assert.equal(ask({ policy: sneakyIssuer, ...other, tags: { sub: SUB, iss: 'https://anyone.example/' }, context: { sub: SUB } }).allowed, false);
  assert.equal(policyLiteral('a$b'), 'a${$}b');
});

test('without an issuer (one trusted issuer only) the policy tells users apart by sub alone', () => {
  const policy = masterKeyPolicy({ accountId: A, sub: SUB, walletServicePrincipalArn: ROOT });
  const doc = JSON.parse(policy);
  assert.ok(!policy.includes('aws:PrincipalTag/iss'));
  assert.ok(!doc.Statement.some((s: any) => s.Sid === 'DenyUseBySessionsOfAnotherIssuer'));
  const base = { policy, action: 'kms:Decrypt', identityPolicies: [ROLE_POLICY], context: { sub: SUB } };
  assert.deepEqual(ask({ ...base, caller: session('s1'), tags: { sub: SUB } }), { allowed: true });
  assert.deepEqual(ask({ ...base, caller: session('s2'), tags: { sub: 'someone-else' } }), { allowed: false, reason: 'explicit-deny-resource' });
});

test('inputs are checked', () => {
  assert.throws(() => masterKeyPolicy({ accountId: '123', sub: SUB, issuer: ISS, walletServicePrincipalArn: ROOT }), RangeError);
  assert.throws(() => masterKeyPolicy({ accountId: A, sub: '', issuer: ISS, walletServicePrincipalArn: ROOT }), RangeError);
  assert.throws(() => masterKeyPolicy({ accountId: A, sub: 'x'.repeat(256), issuer: ISS, walletServicePrincipalArn: ROOT }), RangeError);
  assert.throws(() => masterKeyPolicy({ accountId: A, sub: SUB, issuer: ISS, walletServicePrincipalArn: session('s') }), RangeError);
  assert.throws(() => masterKeyPolicy({ accountId: A, sub: 42 as unknown as string, issuer: ISS, walletServicePrincipalArn: ROOT }), TypeError);
  assert.throws(() => masterKeyPolicy({ accountId: A, sub: SUB, issuer: '', walletServicePrincipalArn: ROOT }), RangeError);
  assert.throws(() => masterKeyPolicy({ accountId: A, sub: SUB, issuer: 'x'.repeat(257), walletServicePrincipalArn: ROOT }), RangeError);
  assert.throws(() => masterKeyPolicy({ accountId: A, sub: SUB, issuer: 7 as unknown as string, walletServicePrincipalArn: ROOT }), TypeError);
  assert.ok(masterKeyPolicy({ accountId: A, sub: 'x'.repeat(255), issuer: 'i'.repeat(256), walletServicePrincipalArn: ROOT }).length < 32768);
});

test('with signerImageSha384, a split share is released only to a signer with that measurement (any case); other uses unchanged', () => {
  const image = 'AB'.repeat(48);
  const policy = masterKeyPolicy({ accountId: A, sub: SUB, issuer: ISS, walletServicePrincipalArn: ROOT, signerImageSha384: image });
  assert.equal(validatePolicyDocument(policy), undefined);
  const pin = JSON.parse(policy).Statement.find((s: any) => s.Sid === 'DenySplitShareToAnotherSignerImage');
  assert.deepEqual(pin, {
    Sid: 'DenySplitShareToAnotherSignerImage',
    Effect: 'Deny',
    Principal: { AWS: '*' },
    Action: 'kms:Decrypt',
    Resource: '*',
    Condition: { Null: { 'kms:EncryptionContext:address': 'false' }, StringNotEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': 'ab'.repeat(48) } },
  });
  const base = { policy, caller: session('s1'), action: 'kms:Decrypt', tags: USER, context: { sub: SUB, address: '0xabc' }, identityPolicies: [ROLE_POLICY] };
  assert.deepEqual(ask({ ...base, imageSha384: 'ab'.repeat(48) }), { allowed: true });
  assert.deepEqual(ask({ ...base, imageSha384: 'AB'.repeat(48) }), { allowed: true });
  // Another signer build (one changed file changes PCR0), or no attestation at all: refused.
  assert.deepEqual(ask({ ...base, imageSha384: 'cd'.repeat(48) }), { allowed: false, reason: 'explicit-deny-resource' });
  assert.deepEqual(ask({ ...base }), { allowed: false, reason: 'explicit-deny-resource' });
  // Without an address in the context (not a split share) the pin does not apply: the user's own uses are unchanged.
  for (const action of USER_ACTIONS) {
    assert.deepEqual(ask({ ...base, action, context: { sub: SUB } }), { allowed: true }, action);
  }
  // Without the option there is no pin: any attested measurement is allowed (as before).
  assert.deepEqual(ask({ ...base, policy: policyFor(ROOT), imageSha384: 'cd'.repeat(48) }), { allowed: true });
  assert.ok(!policyFor(ROOT).includes('DenySplitShareToAnotherSignerImage'));
  for (const bad of ['ab'.repeat(47), 'zz'.repeat(48), `${'ab'.repeat(48)}\n`, '']) {
    assert.throws(
      () => masterKeyPolicy({ accountId: A, sub: SUB, issuer: ISS, walletServicePrincipalArn: ROOT, signerImageSha384: bad }),
      RangeError,
      JSON.stringify(bad),
    );
  }
});

test('SYMBOLON_SIGNER_IMAGE_SHA384 is read strictly, and new master keys made by the wallet service carry the pin (real server)', async () => {
  const image = 'Ab'.repeat(48);
  assert.equal(signerSettingsFromEnv({ SYMBOLON_SIGNER_IMAGE_SHA384: image }).imageSha384, 'ab'.repeat(48));
  assert.equal(signerSettingsFromEnv({}).imageSha384, undefined);
  assert.throws(() => signerSettingsFromEnv({ SYMBOLON_SIGNER_IMAGE_SHA384: 'ab'.repeat(32) }), /SYMBOLON_SIGNER_IMAGE_SHA384 must be 96 hexadecimal digits/);
  const server = await startTestServer();
  const root = `arn:aws:iam::${server.custodian.accountId}:root`;
  const make = (signerImageSha384?: string) =>
    kmsMasterKeys({
      endpoint: () => server.endpoint,
      region: REGION,
      credentials: ADMIN,
      accountId: server.custodian.accountId,
      walletServicePrincipalArn: async () => root,
      ...(signerImageSha384 ? { signerImageSha384 } : {}),
    });
  const kms = server.kms();
  try {
    for (const [pin, expected] of [
      [image.toLowerCase(), true],
      [undefined, false],
    ] as const) {
      const keys = make(pin);
      const keyId = await keys.create({ userId: 'u-1', issuer: ISS, sub: SUB });
      keys.close();
      const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!);
      const statement = policy.Statement.find((s: any) => s.Sid === 'DenySplitShareToAnotherSignerImage');
      assert.equal(Boolean(statement), expected);
      if (statement) assert.equal(statement.Condition.StringNotEqualsIgnoreCase['kms:RecipientAttestation:ImageSha384'], 'ab'.repeat(48));
    }
  } finally {
    await server.close();
  }
});
