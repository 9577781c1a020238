// Which KeyId forms each KMS operation accepts, through a real listening
// custodian: every operation × {key id, key ARN, alias name, alias ARN}.
// A form AWS documents works; an alias where AWS takes only a key id or key
// ARN answers NotFoundException ("Invalid keyId '<value>'", the wording
// LocalStack records from AWS in test_get_key_invalid_uuid) and changes
// nothing — never an action on the alias's target.
//
// Source of each row's forms: the AWS KMS API Reference for the operation's
// key member (botocore's KMS model carries the same text): "Specify the key
// ID or key ARN of the KMS key" → key id or key ARN only; "use its key ID, key
// ARN, alias name, or alias ARN" → all four. GenerateMac and VerifyMac name no
// forms in the member text; their reference pages ("Cross-account use: Yes …
// specify the key ARN or alias ARN") and the Developer Guide's list of
// cryptographic operations that take aliases give all four. When the vectors
// are present the table is checked against botocore's text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { REGION, startTestServer, type TestServer } from './helpers/server.js';
import { absentMessage, readVectorJson, vectorPath } from './helpers/vectors.js';
import { operations } from '../src/kms/operations/registry.js';
import * as repo from '../src/storage/keys.repository.js';
import { findKey } from '../src/kms/key-records.js';
import { callAwsJson } from './helpers/aws-json.js';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.close();
});

type Body = Record<string, unknown>;
type Reply = { status: number; body: Body };

async function call(operation: string, body: Body): Promise<Reply> {
  return callAwsJson({ endpoint: server.endpoint, target: `TrentService.${operation}`, body });
}

async function ok(operation: string, body: Body): Promise<Body> {
  const r = await call(operation, body);
  assert.equal(r.status, 200, `${operation}: ${JSON.stringify(r.body)}`);
  return r.body;
}

type Kind = 'symmetric' | 'sign' | 'hmac';
type Forms = 'all' | 'idOrArn';

/** A fresh key with an alias, and whatever a row prepared for it. */
interface Fixture {
  keyId: string;
  arn: string;
  aliasName: string;
  aliasArn: string;
  extra: Body;
}

interface Row {
  operation: string;
  /** The request member that names the key (botocore's member name). */
  member: string;
  kind: Kind;
  forms: Forms;
  /** Prepares what the request needs (using the key id), once per fresh key. */
  setup?: (f: Fixture) => Promise<Body>;
  request: (keyRef: string, f: Fixture) => Body;
  /** The answer to a refused alias where it is not NotFoundException (CreateAlias/UpdateAlias). */
  refusal?: { type: string; message: string };
}

const digest = createHash('sha256').update('key id forms').digest().toString('base64');
const message = Buffer.from('key id forms').toString('base64');
const plaintext = Buffer.from('secret').toString('base64');

const ROWS: Row[] = [
  { operation: 'DescribeKey', member: 'KeyId', kind: 'symmetric', forms: 'all', request: (k) => ({ KeyId: k }) },
  { operation: 'Encrypt', member: 'KeyId', kind: 'symmetric', forms: 'all', request: (k) => ({ KeyId: k, Plaintext: plaintext }) },
  {
    operation: 'Decrypt',
    member: 'KeyId',
    kind: 'symmetric',
    forms: 'all',
    setup: async (f) => ({ blob: (await ok('Encrypt', { KeyId: f.keyId, Plaintext: plaintext })).CiphertextBlob }),
    request: (k, f) => ({ KeyId: k, CiphertextBlob: f.extra.blob }),
  },
  {
    operation: 'ReEncrypt',
    member: 'SourceKeyId',
    kind: 'symmetric',
    forms: 'all',
    setup: async (f) => ({ blob: (await ok('Encrypt', { KeyId: f.keyId, Plaintext: plaintext })).CiphertextBlob }),
    request: (k, f) => ({ SourceKeyId: k, DestinationKeyId: f.keyId, CiphertextBlob: f.extra.blob }),
  },
  {
    operation: 'ReEncrypt',
    member: 'DestinationKeyId',
    kind: 'symmetric',
    forms: 'all',
    setup: async (f) => ({ blob: (await ok('Encrypt', { KeyId: f.keyId, Plaintext: plaintext })).CiphertextBlob }),
    request: (k, f) => ({ DestinationKeyId: k, CiphertextBlob: f.extra.blob }),
  },
  { operation: 'GenerateDataKey', member: 'KeyId', kind: 'symmetric', forms: 'all', request: (k) => ({ KeyId: k, KeySpec: 'AES_256' }) },
  { operation: 'GenerateDataKeyWithoutPlaintext', member: 'KeyId', kind: 'symmetric', forms: 'all', request: (k) => ({ KeyId: k, NumberOfBytes: 16 }) },
  { operation: 'GenerateDataKeyPair', member: 'KeyId', kind: 'symmetric', forms: 'all', request: (k) => ({ KeyId: k, KeyPairSpec: 'ECC_SECG_P256K1' }) },
  {
    operation: 'GenerateDataKeyPairWithoutPlaintext',
    member: 'KeyId',
    kind: 'symmetric',
    forms: 'all',
    request: (k) => ({ KeyId: k, KeyPairSpec: 'ECC_NIST_P256' }),
  },
  { operation: 'GetPublicKey', member: 'KeyId', kind: 'sign', forms: 'all', request: (k) => ({ KeyId: k }) },
  {
    operation: 'Sign',
    member: 'KeyId',
    kind: 'sign',
    forms: 'all',
    request: (k) => ({ KeyId: k, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
  },
  {
    operation: 'Verify',
    member: 'KeyId',
    kind: 'sign',
    forms: 'all',
    setup: async (f) => ({
      signature: (await ok('Sign', { KeyId: f.keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })).Signature,
    }),
    request: (k, f) => ({ KeyId: k, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256', Signature: f.extra.signature }),
  },
  { operation: 'GenerateMac', member: 'KeyId', kind: 'hmac', forms: 'all', request: (k) => ({ KeyId: k, Message: message, MacAlgorithm: 'HMAC_SHA_256' }) },
  {
    operation: 'VerifyMac',
    member: 'KeyId',
    kind: 'hmac',
    forms: 'all',
    setup: async (f) => ({ mac: (await ok('GenerateMac', { KeyId: f.keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256' })).Mac }),
    request: (k, f) => ({ KeyId: k, Message: message, MacAlgorithm: 'HMAC_SHA_256', Mac: f.extra.mac }),
  },
  {
    operation: 'PutKeyPolicy',
    member: 'KeyId',
    kind: 'symmetric',
    forms: 'idOrArn',
    setup: async (f) => ({ policy: (await ok('GetKeyPolicy', { KeyId: f.keyId })).Policy }),
    request: (k, f) => ({ KeyId: k, PolicyName: 'default', Policy: f.extra.policy }),
  },
  { operation: 'GetKeyPolicy', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k, PolicyName: 'default' }) },
  { operation: 'ListKeyPolicies', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  { operation: 'UpdateKeyDescription', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k, Description: 'updated' }) },
  { operation: 'EnableKey', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  { operation: 'DisableKey', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  { operation: 'ScheduleKeyDeletion', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k, PendingWindowInDays: 7 }) },
  {
    operation: 'CancelKeyDeletion',
    member: 'KeyId',
    kind: 'symmetric',
    forms: 'idOrArn',
    setup: async (f) => ok('ScheduleKeyDeletion', { KeyId: f.keyId, PendingWindowInDays: 7 }),
    request: (k) => ({ KeyId: k }),
  },
  { operation: 'EnableKeyRotation', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  { operation: 'DisableKeyRotation', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  { operation: 'GetKeyRotationStatus', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  { operation: 'RotateKeyOnDemand', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  { operation: 'ListKeyRotations', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  {
    operation: 'TagResource',
    member: 'KeyId',
    kind: 'symmetric',
    forms: 'idOrArn',
    request: (k) => ({ KeyId: k, Tags: [{ TagKey: 'team', TagValue: 'wallets' }] }),
  },
  {
    operation: 'UntagResource',
    member: 'KeyId',
    kind: 'symmetric',
    forms: 'idOrArn',
    setup: async (f) => ok('TagResource', { KeyId: f.keyId, Tags: [{ TagKey: 'team', TagValue: 'wallets' }] }),
    request: (k) => ({ KeyId: k, TagKeys: ['team'] }),
  },
  { operation: 'ListResourceTags', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  { operation: 'ListAliases', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
  {
    operation: 'CreateAlias',
    member: 'TargetKeyId',
    kind: 'symmetric',
    forms: 'idOrArn',
    request: (k) => ({ AliasName: `alias/forms-${randomUUID()}`, TargetKeyId: k }),
    // The custodian's existing answer for an alias target (no AWS recording exists).
    refusal: { type: 'ValidationException', message: 'Aliases must refer to keys. Not aliases' },
  },
  {
    operation: 'UpdateAlias',
    member: 'TargetKeyId',
    kind: 'symmetric',
    forms: 'idOrArn',
    setup: async () => {
      const other = (await ok('CreateKey', {})).KeyMetadata as Body;
      const aliasName = `alias/forms-moving-${randomUUID()}`;
      await ok('CreateAlias', { AliasName: aliasName, TargetKeyId: other.KeyId });
      return { moving: aliasName };
    },
    request: (k, f) => ({ AliasName: f.extra.moving, TargetKeyId: k }),
    refusal: { type: 'ValidationException', message: 'Aliases must refer to keys. Not aliases' },
  },
  // Grants (another change) are checked here once the registry serves them.
  {
    operation: 'CreateGrant',
    member: 'KeyId',
    kind: 'symmetric',
    forms: 'idOrArn',
    request: (k) => ({ KeyId: k, GranteePrincipal: `arn:aws:iam::${server.custodian.accountId}:root`, Operations: ['Decrypt'] }),
  },
  { operation: 'ListGrants', member: 'KeyId', kind: 'symmetric', forms: 'idOrArn', request: (k) => ({ KeyId: k }) },
];

/** Served operations that take no key id; and the grant operations that name a grant as well (their own tests). */
const WITHOUT_KEY_ID = ['CreateKey', 'ListKeys', 'GenerateRandom', 'DeleteAlias', 'ListRetirableGrants', 'RetireGrant', 'RevokeGrant'];

const CREATE: Record<Kind, Body> = {
  symmetric: {},
  sign: { KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' },
  hmac: { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' },
};

async function fixture(row: Row): Promise<Fixture> {
  const meta = (await ok('CreateKey', CREATE[row.kind])).KeyMetadata as Body;
  const aliasName = `alias/forms-${randomUUID()}`;
  await ok('CreateAlias', { AliasName: aliasName, TargetKeyId: meta.KeyId });
  const f: Fixture = {
    keyId: meta.KeyId as string,
    arn: meta.Arn as string,
    aliasName,
    aliasArn: `arn:aws:kms:${REGION}:${server.custodian.accountId}:${aliasName}`,
    extra: {},
  };
  f.extra = (await row.setup?.(f)) ?? {};
  return f;
}

/** Everything a refused request must leave as it was: the key row (its revision counts every write), tags and aliases. */
async function snapshot(keyId: string): Promise<unknown> {
  const db = server.custodian.deps.store.db;
  return {
    key: await findKey(db, keyId),
    tags: await repo.listTags(db, keyId),
    aliases: (await repo.listAliases(db, undefined, undefined, 1000)).map((a) => [a.aliasName, a.keyId]),
    versions: await repo.listMaterialVersions(db, keyId),
  };
}

test('the table covers every served operation that takes a key id', () => {
  for (const name of operations.keys()) {
    assert.ok(WITHOUT_KEY_ID.includes(name) || ROWS.some((r) => r.operation === name), `${name} has no row`);
  }
});

test("each row's forms are the ones botocore's KMS model documents for the member", (t) => {
  const path = vectorPath('botocore/kms/service-2.json');
  if (!path) return t.skip(absentMessage('botocore/kms/service-2.json'));
  const model = readVectorJson<{
    operations: Record<string, { input: { shape: string } }>;
    shapes: Record<string, { members: Record<string, { documentation?: string }> }>;
  }>(path);
  for (const row of ROWS) {
    const doc = model.shapes[model.operations[row.operation]!.input.shape]!.members[row.member]!.documentation ?? '';
    const documented = /alias name, or alias ARN/.test(doc) ? 'all' : /key ID or key ARN/.test(doc) ? 'idOrArn' : undefined;
    // GenerateMac and VerifyMac's member text names no forms (see the header): no check from the model.
    if (documented === undefined) {
      assert.ok(['GenerateMac', 'VerifyMac'].includes(row.operation), `${row.operation}.${row.member}: no forms in botocore's text`);
      continue;
    }
    assert.equal(row.forms, documented, `${row.operation}.${row.member}`);
  }
});

for (const row of ROWS) {
  test(`${row.operation} ${row.member}: ${row.forms === 'all' ? 'key id, key ARN, alias name and alias ARN' : 'key id and key ARN only'}`, async () => {
    assert.ok(operations.has(row.operation), `${row.operation} has a row but is not served`);
    const forms = (f: Fixture) =>
      [
        ['key id', f.keyId, true],
        ['key ARN', f.arn, true],
        ['alias name', f.aliasName, row.forms === 'all'],
        ['alias ARN', f.aliasArn, row.forms === 'all'],
      ] as const;
    // A fresh key for every form: some operations change the key (DisableKey, ScheduleKeyDeletion, …).
    for (const index of [0, 1, 2, 3]) {
      const f = await fixture(row);
      const [form, value, accepted] = forms(f)[index]!;
      const before = await snapshot(f.keyId);
      const r = await call(row.operation, row.request(value, f));
      if (accepted) {
        assert.equal(r.status, 200, `${row.operation} with the ${form}: ${JSON.stringify(r.body)}`);
        continue;
      }
      assert.equal(r.status, 400, `${row.operation} with the ${form} must be refused: ${JSON.stringify(r.body)}`);
      const expected = row.refusal ?? { type: 'NotFoundException', message: `Invalid keyId '${value}'` };
      assert.deepEqual(r.body, { __type: expected.type, message: expected.message }, `${row.operation} with the ${form}`);
      assert.deepEqual(await snapshot(f.keyId), before, `${row.operation} with the ${form} changed the key`);
    }
  });
}
