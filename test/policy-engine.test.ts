/**
 * The policy engine against a table of cases taken from AWS's documented
 * semantics (IAM User Guide: "Policy evaluation logic", "Condition operators",
 * "Multivalued context keys", "Policy variables"; KMS Developer Guide: "Key
 * policies", "Default key policy"). Each row cites the rule it checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicyDocument, PolicyDocumentError, type PolicyKind } from '../src/aws/policy/document.js';
import { accessDeniedMessage, decide, type DenyReason } from '../src/aws/policy/evaluate.js';
import { ConditionContext, globalConditionKeys, principalFromArn, type EvalRequest } from '../src/aws/policy/request.js';

const A = '111122223333';
const OTHER = '444455556666';
const ROOT = `arn:aws:iam::${A}:root`;
const ALICE = `arn:aws:iam::${A}:user/alice`;
const BOB = `arn:aws:iam::${A}:user/ops/bob`;
const SESSION = `arn:aws:sts::${A}:assumed-role/wallet-user/session-1`;
const KEY = `arn:aws:kms:us-east-1:${A}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const NOW = Date.parse('2026-06-15T12:00:00Z');

const DEFAULT_KEY_POLICY = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' }],
};
const allow = (extra: Record<string, unknown> = {}) => ({ Effect: 'Allow', Action: 'kms:Sign', Resource: '*', ...extra });
const identity = (...Statement: unknown[]) => ({ Version: '2012-10-17', Statement });
const keyPolicy = (...Statement: unknown[]) => ({ Version: '2012-10-17', Statement });

interface Row {
  name: string;
  /** The documented rule the row checks. */
  rule: string;
  keyPolicy?: unknown;
  identity?: unknown[];
  caller?: string;
  userName?: string;
  tags?: Record<string, string>;
  action?: string;
  resource?: string;
  context?: Record<string, string | string[]>;
  sourceIp?: string;
  expect: 'allow' | DenyReason;
}

const rows: Row[] = [
  // --- Key policy as the root of authority, delegation to IAM ---
  {
    name: 'default key policy + identity Allow',
    rule: 'KMS default key policy: the account statement enables IAM policies',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow())],
    expect: 'allow',
  },
  {
    name: 'default key policy, no identity policy',
    rule: 'implicit deny: the delegated request still needs an identity-policy Allow',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [],
    expect: 'no-allow-identity',
  },
  {
    name: 'root under default key policy',
    rule: 'KMS: the account root is allowed by the account statement itself',
    keyPolicy: DEFAULT_KEY_POLICY,
    caller: ROOT,
    expect: 'allow',
  },
  {
    name: 'key policy naming the account id',
    rule: 'Principal "111122223333" is the same as arn:aws:iam::111122223333:root',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: A }, Action: 'kms:*', Resource: '*' }),
    identity: [identity(allow())],
    expect: 'allow',
  },
  {
    name: 'key policy without the account statement ignores IAM',
    rule: 'KMS: without the account statement, IAM policies have no effect',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: BOB }, Action: 'kms:*', Resource: '*' }),
    identity: [identity(allow())],
    expect: 'no-allow-resource',
  },
  {
    name: 'root locked out when key policy omits it',
    rule: 'KMS: the root user is allowed only through the key policy',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: BOB }, Action: 'kms:*', Resource: '*' }),
    caller: ROOT,
    expect: 'no-allow-resource',
  },
  {
    name: 'key policy naming the user allows without IAM',
    rule: 'a resource-based policy Allow naming the principal suffices in the same account',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: ALICE }, Action: 'kms:Sign', Resource: '*' }),
    identity: [],
    expect: 'allow',
  },
  {
    name: 'key policy naming another user',
    rule: 'Principal must match the caller',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: BOB }, Action: 'kms:Sign', Resource: '*' }),
    identity: [],
    expect: 'no-allow-resource',
  },
  {
    name: 'Principal "*"',
    rule: 'Principal "*" means every principal',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: '*', Action: 'kms:Sign', Resource: '*' }),
    expect: 'allow',
  },
  {
    name: 'another account named',
    rule: 'an account principal delegates only to its own account',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:root` }, Action: 'kms:*', Resource: '*' }),
    identity: [identity(allow())],
    expect: 'no-allow-resource',
  },
  {
    name: 'role ARN names its sessions',
    rule: 'a role principal matches every assumed-role session of that role',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:role/wallet-user` }, Action: 'kms:Sign', Resource: '*' }),
    caller: SESSION,
    expect: 'allow',
  },
  {
    name: 'delegation limited to some actions',
    rule: 'the account statement delegates only the actions it lists',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:Describe*', Resource: '*' }),
    identity: [identity(allow())],
    expect: 'no-allow-resource',
  },
  {
    name: 'NotPrincipal Deny spares the listed user',
    rule: 'NotPrincipal with Deny: denies everyone except the listed principals',
    keyPolicy: keyPolicy(
      { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' },
      { Effect: 'Deny', NotPrincipal: { AWS: [ALICE, ROOT] }, Action: 'kms:Sign', Resource: '*' },
    ),
    expect: 'allow',
  },
  {
    name: 'NotPrincipal Deny hits others',
    rule: 'NotPrincipal with Deny: denies everyone except the listed principals',
    keyPolicy: keyPolicy(
      { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' },
      { Effect: 'Deny', NotPrincipal: { AWS: [BOB] }, Action: 'kms:Sign', Resource: '*' },
    ),
    expect: 'explicit-deny-resource',
  },

  // --- Explicit deny wins ---
  {
    name: 'Deny in identity beats Allow in key policy',
    rule: 'an explicit deny in any policy overrides any allow',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: ALICE }, Action: 'kms:*', Resource: '*' }),
    identity: [identity({ Effect: 'Deny', Action: 'kms:Sign', Resource: '*' })],
    expect: 'explicit-deny-identity',
  },
  {
    name: 'Deny in key policy beats Allow in identity',
    rule: 'an explicit deny in any policy overrides any allow',
    keyPolicy: keyPolicy(DEFAULT_KEY_POLICY.Statement[0], { Effect: 'Deny', Principal: '*', Action: 'kms:Sign', Resource: '*' }),
    identity: [identity(allow())],
    expect: 'explicit-deny-resource',
  },
  {
    name: 'Deny naming the account hits its users',
    rule: 'an account principal in a Deny applies to every identity in the account',
    keyPolicy: keyPolicy(
      { Effect: 'Allow', Principal: { AWS: ALICE }, Action: 'kms:*', Resource: '*' },
      { Effect: 'Deny', Principal: { AWS: ROOT }, Action: 'kms:Sign', Resource: '*' },
    ),
    expect: 'explicit-deny-resource',
  },
  {
    name: 'Deny on root by key policy',
    rule: 'explicit deny applies to the root user too',
    keyPolicy: keyPolicy(DEFAULT_KEY_POLICY.Statement[0], { Effect: 'Deny', Principal: { AWS: ROOT }, Action: 'kms:ScheduleKeyDeletion', Resource: '*' }),
    caller: ROOT,
    action: 'kms:ScheduleKeyDeletion',
    expect: 'explicit-deny-resource',
  },
  {
    name: 'Deny in one identity policy, Allow in another',
    rule: 'policies are combined: a deny in one overrides an allow in another',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow()), identity({ Effect: 'Deny', Action: 'kms:*', Resource: '*' })],
    expect: 'explicit-deny-identity',
  },
  {
    name: 'Deny that does not match the action',
    rule: 'a statement applies only when action, resource and conditions all match',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow(), { Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' })],
    expect: 'allow',
  },

  // --- Actions: wildcards, case, NotAction ---
  {
    name: 'kms:* allows Sign',
    rule: 'Action wildcards: * matches any run of characters',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'kms:*', Resource: '*' })],
    expect: 'allow',
  },
  {
    name: 'kms:Get* does not allow Sign',
    rule: 'Action wildcards match only the named prefix',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'kms:Get*', Resource: '*' })],
    expect: 'no-allow-identity',
  },
  {
    name: 'kms:Get* allows GetPublicKey',
    rule: 'Action wildcards: * matches any run of characters',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'kms:Get*', Resource: '*' })],
    action: 'kms:GetPublicKey',
    expect: 'allow',
  },
  {
    name: 'action names are case-insensitive',
    rule: 'action names are not case sensitive (KMS:sign = kms:Sign)',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'KMS:sign', Resource: '*' })],
    expect: 'allow',
  },
  {
    name: '? matches one character',
    rule: 'Action wildcards: ? matches exactly one character',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'kms:Si?n', Resource: '*' })],
    expect: 'allow',
  },
  {
    name: 'NotAction Allow covers unlisted actions',
    rule: 'NotAction: the statement applies to every action except those listed',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', NotAction: 'kms:Decrypt', Resource: '*' })],
    expect: 'allow',
  },
  {
    name: 'NotAction Allow excludes listed actions',
    rule: 'NotAction: listed actions are not allowed by that statement (implicit deny)',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', NotAction: 'kms:Sign', Resource: '*' })],
    expect: 'no-allow-identity',
  },
  {
    name: 'NotAction Deny denies everything else',
    rule: 'Deny with NotAction denies every action except those listed',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }, { Effect: 'Deny', NotAction: ['kms:Sign', 'kms:GetPublicKey'], Resource: '*' })],
    action: 'kms:Decrypt',
    expect: 'explicit-deny-identity',
  },

  // --- Resources ---
  {
    name: 'key/* resource matches the key ARN',
    rule: 'Resource wildcards match ARNs',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Resource: `arn:aws:kms:us-east-1:${A}:key/*` }))],
    expect: 'allow',
  },
  {
    name: 'wrong region resource',
    rule: 'Resource must match the requested resource ARN',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Resource: `arn:aws:kms:eu-west-1:${A}:key/*` }))],
    expect: 'no-allow-identity',
  },
  {
    name: 'resource matching is case-sensitive',
    rule: 'resource ARNs are case sensitive',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Resource: KEY.replace('1234abcd', '1234ABCD') }))],
    expect: 'no-allow-identity',
  },
  {
    name: 'NotResource excludes the key',
    rule: 'NotResource: the statement applies to every resource except those listed',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'kms:Sign', NotResource: KEY })],
    expect: 'no-allow-identity',
  },
  {
    name: 'CreateKey needs Resource "*"',
    rule: 'actions with no resource type (kms:CreateKey) match only Resource "*"',
    identity: [identity({ Effect: 'Allow', Action: 'kms:CreateKey', Resource: `arn:aws:kms:us-east-1:${A}:key/*` })],
    action: 'kms:CreateKey',
    resource: '*',
    expect: 'no-allow-identity',
  },
  {
    name: 'CreateKey allowed by identity policy',
    rule: 'account-level actions are decided by identity policies',
    identity: [identity({ Effect: 'Allow', Action: 'kms:CreateKey', Resource: '*' })],
    action: 'kms:CreateKey',
    resource: '*',
    expect: 'allow',
  },
  {
    name: 'CreateKey by root',
    rule: 'the account root is not subject to identity policies',
    caller: ROOT,
    action: 'kms:CreateKey',
    resource: '*',
    expect: 'allow',
  },

  // --- String conditions, multiple values and keys ---
  {
    name: 'seed 3: StringEquals on PrincipalTag',
    rule: 'StringEquals: exact, case-sensitive match',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } } }))],
    tags: { Environment: 'production' },
    expect: 'allow',
  },
  {
    name: 'seed 3: untagged user',
    rule: 'a condition on a key absent from the request is false',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } } }))],
    expect: 'no-allow-identity',
  },
  {
    name: 'StringEquals is case-sensitive on values',
    rule: 'StringEquals: values are compared case-sensitively',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } } }))],
    tags: { Environment: 'Production' },
    expect: 'no-allow-identity',
  },
  {
    name: 'StringEqualsIgnoreCase',
    rule: 'StringEqualsIgnoreCase ignores case',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEqualsIgnoreCase: { 'aws:PrincipalTag/Environment': 'PRODUCTION' } } }))],
    tags: { Environment: 'Production' },
    expect: 'allow',
  },
  {
    name: 'condition key names are case-insensitive',
    rule: 'condition key names are not case sensitive',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEquals: { 'AWS:principaltag/environment': 'production' } } }))],
    tags: { Environment: 'production' },
    expect: 'allow',
  },
  {
    name: 'several values are ORed',
    rule: 'multiple values for one key are evaluated with a logical OR',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEquals: { 'aws:PrincipalTag/Environment': ['staging', 'production'] } } }))],
    tags: { Environment: 'production' },
    expect: 'allow',
  },
  {
    name: 'several keys are ANDed',
    rule: 'multiple keys (and operators) are evaluated with a logical AND',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production', 'kms:SigningAlgorithm': 'ECDSA_SHA_256' } } }))],
    tags: { Environment: 'production' },
    context: { 'kms:SigningAlgorithm': 'ECDSA_SHA_384' },
    expect: 'no-allow-identity',
  },
  {
    name: 'StringNotEquals matches none',
    rule: 'negated operators with several values: true when the value matches none',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity(allow(), { Effect: 'Deny', Action: 'kms:Sign', Resource: '*', Condition: { StringNotEquals: { 'kms:MessageType': ['DIGEST', 'RAW'] } } }),
    ],
    context: { 'kms:MessageType': 'DIGEST' },
    expect: 'allow',
  },
  {
    name: 'StringNotEquals on an absent key is true',
    rule: 'a negated operator on a key absent from the request evaluates to true',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity(allow(), {
        Effect: 'Deny',
        Action: 'kms:Sign',
        Resource: '*',
        Condition: { StringNotEquals: { 'aws:PrincipalTag/Environment': 'production' } },
      }),
    ],
    expect: 'explicit-deny-identity',
  },
  {
    name: 'StringLike with *',
    rule: 'StringLike: * and ? wildcards in values',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringLike: { 'aws:username': 'ali*' } } }))],
    userName: 'alice',
    expect: 'allow',
  },
  {
    name: 'StringNotLike',
    rule: 'StringNotLike: true when the value matches no pattern',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringNotLike: { 'aws:username': 'bo?' } } }))],
    userName: 'alice',
    expect: 'allow',
  },
  {
    name: 'StringEquals on EncryptionContext',
    rule: 'kms:EncryptionContext:<key> condition key',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:owner': 'alice' } } })],
    action: 'kms:Decrypt',
    context: { 'kms:EncryptionContext:owner': 'alice' },
    expect: 'allow',
  },

  // --- IfExists, Null, Bool ---
  {
    name: 'IfExists on an absent key',
    rule: '...IfExists: true when the key is absent',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEqualsIfExists: { 'kms:EncryptionContext:owner': 'alice' } } }))],
    expect: 'allow',
  },
  {
    name: 'IfExists on a present, different value',
    rule: '...IfExists: when present, the operator applies',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEqualsIfExists: { 'kms:EncryptionContext:owner': 'alice' } } }))],
    context: { 'kms:EncryptionContext:owner': 'mallory' },
    expect: 'no-allow-identity',
  },
  {
    name: 'Null true: key absent',
    rule: 'Null "true": the key must be absent',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { Null: { 'aws:PrincipalTag/Environment': 'true' } } }))],
    expect: 'allow',
  },
  {
    name: 'Null false: key present required',
    rule: 'Null "false": the key must be present',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { Null: { 'kms:EncryptionContextKeys': 'false' } } }))],
    expect: 'no-allow-identity',
  },
  {
    name: 'Bool false does not equal true',
    rule: 'Bool: compares "true"/"false"',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { Bool: { 'kms:GrantIsForAWSResource': true } } }))],
    context: { 'kms:GrantIsForAWSResource': 'false' },
    expect: 'no-allow-identity',
  },
  {
    name: 'Bool true',
    rule: 'Bool: JSON booleans and strings both accepted',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } }))],
    context: { 'kms:GrantIsForAWSResource': 'true' },
    expect: 'allow',
  },

  // --- Set operators on multivalued keys ---
  {
    name: 'ForAnyValue: one key matches',
    rule: 'ForAnyValue: true when at least one request value matches',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'owner' } } }),
    ],
    action: 'kms:Decrypt',
    context: { 'kms:EncryptionContextKeys': ['app', 'owner'] },
    expect: 'allow',
  },
  {
    name: 'ForAnyValue on an absent key',
    rule: 'ForAnyValue: false when the key is absent (empty set)',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'owner' } } }),
    ],
    action: 'kms:Decrypt',
    expect: 'no-allow-identity',
  },
  {
    name: 'ForAllValues: an extra key fails',
    rule: 'ForAllValues: every request value must match a policy value',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity({
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['owner', 'app'] } },
      }),
    ],
    action: 'kms:Decrypt',
    context: { 'kms:EncryptionContextKeys': ['owner', 'extra'] },
    expect: 'no-allow-identity',
  },
  {
    name: 'ForAllValues: subset passes',
    rule: 'ForAllValues: every request value must match a policy value',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity({
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['owner', 'app'] } },
      }),
    ],
    action: 'kms:Decrypt',
    context: { 'kms:EncryptionContextKeys': ['owner'] },
    expect: 'allow',
  },
  {
    name: 'ForAllValues on an absent key is true',
    rule: 'ForAllValues: true when the key is absent (AWS documents this pitfall)',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity({
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['owner'] } },
      }),
    ],
    action: 'kms:Decrypt',
    expect: 'allow',
  },

  // --- Policy variables ---
  {
    name: '${aws:username} in a resource',
    rule: 'policy variables are replaced in Resource (Version 2012-10-17)',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:owner': '${aws:username}' } } }),
    ],
    userName: 'alice',
    action: 'kms:Decrypt',
    context: { 'kms:EncryptionContext:owner': 'alice' },
    expect: 'allow',
  },
  {
    name: '${aws:PrincipalTag/sub} against another value',
    rule: 'policy variables in condition values',
    keyPolicy: keyPolicy({
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${A}:role/wallet-user` },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:EncryptionContext:owner': '${aws:PrincipalTag/sub}' } },
    }),
    caller: SESSION,
    tags: { sub: 'user-1' },
    action: 'kms:Decrypt',
    context: { 'kms:EncryptionContext:owner': 'user-2' },
    expect: 'no-allow-resource',
  },
  {
    name: '${aws:PrincipalTag/sub} matching',
    rule: 'policy variables in condition values',
    keyPolicy: keyPolicy({
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${A}:role/wallet-user` },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:EncryptionContext:owner': '${aws:PrincipalTag/sub}' } },
    }),
    caller: SESSION,
    tags: { sub: 'user-1' },
    action: 'kms:Decrypt',
    context: { 'kms:EncryptionContext:owner': 'user-1' },
    expect: 'allow',
  },
  {
    name: 'variables are literal in Version 2008-10-17',
    rule: 'policy variables work only with Version 2012-10-17',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      {
        Version: '2008-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:owner': '${aws:username}' } } },
        ],
      },
    ],
    userName: 'alice',
    action: 'kms:Decrypt',
    context: { 'kms:EncryptionContext:owner': 'alice' },
    expect: 'no-allow-identity',
  },
  {
    name: 'unresolvable variable matches nothing',
    rule: 'a variable whose key is absent makes the value not match',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringLike: { 'kms:EncryptionContext:owner': '${aws:PrincipalTag/sub}*' } } }))],
    context: { 'kms:EncryptionContext:owner': 'x' },
    expect: 'no-allow-identity',
  },
  {
    name: 'variable default value',
    rule: "policy variable default: ${key, 'default'}",
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEquals: { 'kms:EncryptionContext:team': "${aws:PrincipalTag/team, 'none'}" } } }))],
    context: { 'kms:EncryptionContext:team': 'none' },
    expect: 'allow',
  },
  {
    name: 'substituted text is not a wildcard',
    rule: 'special characters ${*} match a literal *',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringLike: { 'kms:EncryptionContext:tag': 'a${*}b' } } }))],
    context: { 'kms:EncryptionContext:tag': 'axxb' },
    expect: 'no-allow-identity',
  },

  // --- Numeric, Date, IP ---
  {
    name: 'NumericLessThan',
    rule: 'NumericLessThan compares numbers',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [
      identity({ Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: '*', Condition: { NumericLessThanEquals: { 'kms:NumberOfBytes': '64' } } }),
    ],
    action: 'kms:GenerateDataKey',
    context: { 'kms:NumberOfBytes': '32' },
    expect: 'allow',
  },
  {
    name: 'NumericGreaterThan fails',
    rule: 'NumericGreaterThan compares numbers, not strings ("9" < "10")',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity({ Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: '*', Condition: { NumericGreaterThan: { 'kms:NumberOfBytes': 10 } } })],
    action: 'kms:GenerateDataKey',
    context: { 'kms:NumberOfBytes': '9' },
    expect: 'no-allow-identity',
  },
  {
    name: 'DateLessThan on aws:CurrentTime (expired grant)',
    rule: 'DateLessThan with aws:CurrentTime',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { DateLessThan: { 'aws:CurrentTime': '2026-01-01T00:00:00Z' } } }))],
    expect: 'no-allow-identity',
  },
  {
    name: 'DateGreaterThan on aws:CurrentTime',
    rule: 'DateGreaterThan with aws:CurrentTime',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { DateGreaterThan: { 'aws:CurrentTime': '2026-01-01T00:00:00Z' } } }))],
    expect: 'allow',
  },
  {
    name: 'IpAddress in CIDR',
    rule: 'IpAddress: aws:SourceIp within a CIDR block',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '192.0.2.0/24'] } } }))],
    sourceIp: '192.0.2.44',
    expect: 'allow',
  },
  {
    name: 'IPv4-mapped source address',
    rule: 'IpAddress: an IPv4 peer on a dual-stack socket is still IPv4',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } }))],
    sourceIp: '::ffff:10.1.2.3',
    expect: 'allow',
  },
  {
    name: 'NotIpAddress Deny outside the office',
    rule: 'NotIpAddress in a Deny: requests from outside the range are denied',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow(), { Effect: 'Deny', Action: '*', Resource: '*', Condition: { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })],
    sourceIp: '203.0.113.9',
    expect: 'explicit-deny-identity',
  },
  {
    name: 'IPv6 CIDR',
    rule: 'IpAddress supports IPv6 CIDR blocks',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } } }))],
    sourceIp: '2001:db8:0:1::5',
    expect: 'allow',
  },

  // --- KMS condition keys ---
  {
    name: 'kms:CallerAccount with Principal "*"',
    rule: 'kms:CallerAccount restricts a "*" principal to one account',
    keyPolicy: keyPolicy({
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: 'kms:Sign',
      Resource: '*',
      Condition: { StringEquals: { 'kms:CallerAccount': OTHER } },
    }),
    expect: 'no-allow-resource',
  },
  {
    name: 'kms:KeySpec and kms:KeyUsage',
    rule: 'kms:KeySpec/kms:KeyUsage come from the key',
    keyPolicy: DEFAULT_KEY_POLICY,
    identity: [identity(allow({ Condition: { StringEquals: { 'kms:KeySpec': 'ECC_SECG_P256K1', 'kms:KeyUsage': 'SIGN_VERIFY' } } }))],
    context: { 'kms:KeySpec': 'ECC_SECG_P256K1', 'kms:KeyUsage': 'SIGN_VERIFY' },
    expect: 'allow',
  },
  {
    name: 'aws:PrincipalArn with ArnLike',
    rule: 'ArnLike on aws:PrincipalArn',
    keyPolicy: keyPolicy({
      Effect: 'Allow',
      Principal: '*',
      Action: 'kms:Sign',
      Resource: '*',
      Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${A}:user/ops/*` } },
    }),
    caller: BOB,
    expect: 'allow',
  },
];

function runRow(row: Row) {
  const callerArn = row.caller ?? ALICE;
  const principal = principalFromArn(callerArn, A);
  const userName = row.userName ?? callerArn.split('/').pop()!;
  const context = globalConditionKeys({ principal, userName, tags: row.tags ?? {}, sourceIp: row.sourceIp ?? '127.0.0.1', now: NOW });
  context.set('kms:CallerAccount', A);
  for (const [k, v] of Object.entries(row.context ?? {})) context.set(k, v);
  const request: EvalRequest = {
    principal,
    action: row.action ?? 'kms:Sign',
    resource: row.resource ?? (row.keyPolicy === undefined ? '*' : KEY),
    context,
  };
  return decide({
    request,
    resourcePolicy: row.keyPolicy === undefined ? undefined : parsePolicyDocument(JSON.stringify(row.keyPolicy), 'key'),
    identityPolicies: (row.identity ?? []).map((p) => parsePolicyDocument(JSON.stringify(p), 'identity')),
  });
}

test(`policy evaluation table (${rows.length} cases)`, async (t) => {
  assert.ok(rows.length >= 40);
  for (const row of rows) {
    await t.test(`${row.name} — ${row.rule}`, () => {
      const d = runRow(row);
      assert.equal(d.allowed ? 'allow' : d.reason, row.expect);
    });
  }
});

test('access-denied messages have AWS shape', () => {
  const principal = principalFromArn(ALICE, A);
  const req = { principal, action: 'kms:Sign', resource: KEY };
  assert.equal(
    accessDeniedMessage(req, 'no-allow-identity'),
    `User: ${ALICE} is not authorized to perform: kms:Sign on resource: ${KEY} because no identity-based policy allows the kms:Sign action`,
  );
  assert.equal(
    accessDeniedMessage(req, 'explicit-deny-resource'),
    `User: ${ALICE} is not authorized to perform: kms:Sign on resource: ${KEY} with an explicit deny in a resource-based policy`,
  );
  assert.equal(
    accessDeniedMessage(req, 'explicit-deny-identity'),
    `User: ${ALICE} is not authorized to perform: kms:Sign on resource: ${KEY} with an explicit deny in an identity-based policy`,
  );
  assert.equal(
    accessDeniedMessage(req, 'no-allow-resource'),
    `User: ${ALICE} is not authorized to perform: kms:Sign on resource: ${KEY} because no resource-based policy allows the kms:Sign action`,
  );
});

const malformed: Array<{ kind: PolicyKind; doc: string; message: RegExp; rule: string }> = [
  { kind: 'identity', doc: '{not json', message: /^Syntax errors in policy\.$/, rule: 'the document must be JSON' },
  {
    kind: 'identity',
    doc: JSON.stringify(identity({ Effect: 'Allow', Resource: '*' })),
    message: /^Policy statement must contain actions\.$/,
    rule: 'Action or NotAction is required',
  },
  {
    kind: 'identity',
    doc: JSON.stringify(identity({ Effect: 'Allow', Action: 'kms:Sign' })),
    message: /^Policy statement must contain resources\.$/,
    rule: 'identity policies need Resource',
  },
  {
    kind: 'identity',
    doc: JSON.stringify(identity({ Effect: 'Allow', Principal: '*', Action: 'kms:Sign', Resource: '*' })),
    message: /should not specify a principal/,
    rule: 'identity policies name no principal',
  },
  {
    kind: 'identity',
    doc: JSON.stringify(identity({ Effect: 'Permit', Action: 'kms:Sign', Resource: '*' })),
    message: /^Syntax errors in policy\.$/,
    rule: 'Effect is Allow or Deny',
  },
  {
    kind: 'identity',
    doc: JSON.stringify(identity({ Effect: 'Allow', Action: 'Sign', Resource: '*' })),
    message: /prefaced by a vendor/,
    rule: 'actions carry a service prefix',
  },
  {
    kind: 'identity',
    doc: JSON.stringify(identity({ Effect: 'Allow', Action: 'kms:Sign', Resource: '*', Condition: { StringEqualz: { 'aws:username': 'x' } } })),
    message: /^Invalid Condition type : StringEqualz$/,
    rule: 'unknown condition operators are refused',
  },
  {
    kind: 'identity',
    doc: JSON.stringify({ Version: '2013-01-01', Statement: [allow()] }),
    message: /valid version/,
    rule: 'Version is 2012-10-17 or 2008-10-17',
  },
  {
    kind: 'identity',
    doc: JSON.stringify(identity({ Effect: 'Allow', Action: 'kms:Sign', Resource: 'key/1' })),
    message: /must be in ARN format/,
    rule: 'Resource is an ARN or *',
  },
  {
    kind: 'key',
    doc: JSON.stringify(keyPolicy({ Effect: 'Allow', Action: 'kms:*', Resource: '*' })),
    message: /Principal/,
    rule: 'key policy statements name a principal',
  },
  {
    kind: 'key',
    doc: JSON.stringify(keyPolicy({ Effect: 'Allow', Principal: { AWS: 'alice' }, Action: 'kms:*', Resource: '*' })),
    message: /^Policy contains a statement with one or more invalid principals\.$/,
    rule: 'principals are ARNs, account ids or *',
  },
  {
    kind: 'key',
    doc: JSON.stringify(keyPolicy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:user/a*` }, Action: 'kms:*', Resource: '*' })),
    message: /invalid principals/,
    rule: 'wildcards inside principal ARNs are not allowed',
  },
];

test(`malformed policy documents are refused (${malformed.length} cases)`, async (t) => {
  for (const m of malformed) {
    await t.test(m.rule, () => {
      assert.throws(
        () => parsePolicyDocument(m.doc, m.kind),
        (e: unknown) => e instanceof PolicyDocumentError && m.message.test(e.message),
      );
    });
  }
});

test('the default key policy, seed 3 policy and a Sid with spaces parse', () => {
  assert.equal(parsePolicyDocument(JSON.stringify(DEFAULT_KEY_POLICY), 'key').statements.length, 1);
  const seed = parsePolicyDocument(
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['kms:Sign', 'kms:GetPublicKey'],
          Resource: `arn:aws:kms:us-east-1:${A}:key/*`,
          Condition: { StringEquals: { 'aws:PrincipalTag/Environment': 'production' } },
        },
      ],
    }),
    'identity',
  );
  assert.equal(seed.statements[0]!.conditions[0]!.values[0], 'production');
  assert.throws(() => parsePolicyDocument(JSON.stringify(identity({ Sid: 'has space', ...allow() })), 'identity'), PolicyDocumentError);
});

test('ConditionContext treats an empty list as absent', () => {
  const c = new ConditionContext([['kms:EncryptionContextKeys', []]]);
  assert.equal(c.get('kms:encryptioncontextkeys'), undefined);
});
