// Key management through a real listening custodian and the real AWS SDK:
// ListKeys, EnableKey/DisableKey, ScheduleKeyDeletion/CancelKeyDeletion (and
// deletion when the window ends), tags, aliases and rotation. Every error is
// checked for AWS's exception name and, where AWS has one, its message.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GetKeyRotationStatusCommand,
  ListAliasesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  type KMSClient,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { REGION, startTestServer, type TestServer } from './helpers/server.js';
import { runMaintenance } from '../src/kms/maintenance.js';
import * as repo from '../src/storage/keys.repository.js';

const DAY_MS = 86_400_000;

/** Asserts that `p` fails with AWS exception `name` (and `message`, exact or by pattern), status 400. */
async function rejects(p: Promise<unknown>, name: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    assert.equal(err.$metadata?.httpStatusCode, 400);
    return true;
  });
}

let server: TestServer;
let kms: KMSClient;
let account: string;
/** How far the server's clock runs ahead of real time (the deletion-window tests move it). */
let clockOffset = 0;

before(async () => {
  // One server for the file: a second store beside it can trip Kysely's migrator on PostgreSQL (see the report).
  server = await startTestServer({ clock: () => Date.now() + clockOffset, maintenanceIntervalMs: 100 });
  kms = server.kms();
  account = server.custodian.accountId;
});
after(async () => {
  await server?.close();
});

async function signKey(): Promise<KeyMetadata> {
  return (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
}
async function symmetricKey(): Promise<KeyMetadata> {
  return (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
}
const digest = createHash('sha256').update('management').digest();
function signWith(keyId: string) {
  return kms.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
}
function describeKey(keyId: string) {
  return kms.send(new DescribeKeyCommand({ KeyId: keyId })).then((r) => r.KeyMetadata!);
}
function aliasArnOf(name: string): string {
  return `arn:aws:kms:${REGION}:${account}:${name}`;
}
function unique(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}

describe('ListKeys', () => {
  test('pages with Limit and Marker across several pages, each key once', async () => {
    const created = new Set<string>();
    for (let i = 0; i < 5; i++) created.add((await symmetricKey()).KeyId!);
    const everything = await kms.send(new ListKeysCommand({ Limit: 1000 }));
    assert.equal(everything.Truncated, false);
    assert.equal(everything.NextMarker, undefined);

    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await kms.send(new ListKeysCommand({ Limit: 2, ...(marker ? { Marker: marker } : {}) }));
      pages++;
      assert.ok(page.Keys!.length <= 2);
      for (const k of page.Keys!) {
        assert.equal(k.KeyArn, `arn:aws:kms:${REGION}:${account}:key/${k.KeyId}`);
        seen.push(k.KeyId!);
      }
      if (page.Truncated) assert.ok(page.NextMarker, 'a truncated page carries NextMarker');
      else assert.equal(page.NextMarker, undefined);
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    assert.ok(pages >= 3, `expected at least 3 pages, got ${pages}`);
    assert.equal(new Set(seen).size, seen.length, 'no key appears twice');
    assert.deepEqual(
      seen,
      everything.Keys!.map((k) => k.KeyId),
    );
    for (const id of created) assert.ok(seen.includes(id));
  });

  test('refuses a bad marker and an out-of-range limit', async () => {
    await rejects(kms.send(new ListKeysCommand({ Marker: 'not-a-marker' })), 'InvalidMarkerException');
    // A marker of another listing is not a ListKeys marker.
    await rejects(kms.send(new ListKeysCommand({ Marker: Buffer.from('aliases/v1:alias/x').toString('base64url') })), 'InvalidMarkerException');
    await rejects(
      kms.send(new ListKeysCommand({ Limit: 0 })),
      'ValidationException',
      "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    await rejects(
      kms.send(new ListKeysCommand({ Limit: 1001 })),
      'ValidationException',
      "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000",
    );
  });
});

describe('EnableKey and DisableKey', () => {
  test('a disabled key refuses Sign with DisabledException at once; enabling restores it', async () => {
    const key = await signKey();
    await signWith(key.KeyId!); // the key is now in the key cache
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    const described = await describeKey(key.KeyId!);
    assert.equal(described.KeyState, 'Disabled');
    assert.equal(described.Enabled, false);
    await rejects(signWith(key.KeyId!), 'DisabledException', `${key.Arn} is disabled.`);
    // Disabling twice is not an error, and the key ARN works as KeyId.
    await kms.send(new DisableKeyCommand({ KeyId: key.Arn! }));
    await kms.send(new EnableKeyCommand({ KeyId: key.Arn! }));
    assert.equal((await describeKey(key.KeyId!)).KeyState, 'Enabled');
    assert.equal((await describeKey(key.KeyId!)).Enabled, true);
    const signed = await signWith(key.KeyId!);
    assert.equal(signed.Signature![0], 0x30);
    await kms.send(new EnableKeyCommand({ KeyId: key.KeyId! }));
  });

  test('unknown keys, aliases and missing KeyId are refused', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await rejects(
      kms.send(new EnableKeyCommand({ KeyId: missing })),
      'NotFoundException',
      `Key 'arn:aws:kms:${REGION}:${account}:key/${missing}' does not exist`,
    );
    await rejects(kms.send(new DisableKeyCommand({ KeyId: 'alias/anything' })), 'NotFoundException', "Invalid keyId 'alias/anything'");
    await rejects(
      kms.send(new DisableKeyCommand({} as never)),
      'ValidationException',
      "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
    );
  });
});

describe('ScheduleKeyDeletion and CancelKeyDeletion', () => {
  test('pending deletion: the key is unusable, described with its date, and cancelling brings it back disabled', async () => {
    const key = await signKey();
    await signWith(key.KeyId!);
    const before = Date.now();
    const scheduled = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId! }));
    assert.equal(scheduled.KeyId, key.Arn);
    assert.equal(scheduled.KeyState, 'PendingDeletion');
    assert.equal(scheduled.PendingWindowInDays, 30);
    const when = scheduled.DeletionDate!.getTime();
    assert.ok(when >= before + 30 * DAY_MS - 1000 && when <= Date.now() + 30 * DAY_MS + 1000, 'deletion date 30 days out');

    const described = await describeKey(key.KeyId!);
    assert.equal(described.KeyState, 'PendingDeletion');
    assert.equal(described.Enabled, false);
    assert.equal(described.DeletionDate!.getTime(), when);
    assert.equal(described.PendingDeletionWindowInDays, 30);

    const pending = `${key.Arn} is pending deletion.`;
    await rejects(signWith(key.KeyId!), 'KMSInvalidStateException', pending);
    await rejects(kms.send(new EnableKeyCommand({ KeyId: key.KeyId! })), 'KMSInvalidStateException', pending);
    await rejects(kms.send(new DisableKeyCommand({ KeyId: key.KeyId! })), 'KMSInvalidStateException', pending);
    await rejects(kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId! })), 'KMSInvalidStateException', pending);
    await rejects(kms.send(new TagResourceCommand({ KeyId: key.KeyId!, Tags: [{ TagKey: 'a', TagValue: 'b' }] })), 'KMSInvalidStateException', pending);
    await rejects(kms.send(new CreateAliasCommand({ AliasName: `alias/${unique('pending')}`, TargetKeyId: key.KeyId! })), 'KMSInvalidStateException', pending);

    const cancelled = await kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId! }));
    assert.equal(cancelled.KeyId, key.Arn);
    const after = await describeKey(key.KeyId!);
    assert.equal(after.KeyState, 'Disabled');
    assert.equal(after.DeletionDate, undefined);
    assert.equal(after.PendingDeletionWindowInDays, undefined);
    await rejects(signWith(key.KeyId!), 'DisabledException', `${key.Arn} is disabled.`);
    await kms.send(new EnableKeyCommand({ KeyId: key.KeyId! }));
    assert.equal((await signWith(key.KeyId!)).Signature![0], 0x30);
    await rejects(kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId! })), 'KMSInvalidStateException', `${key.Arn} is not pending deletion.`);
  });

  test('the waiting period must be 7 to 30 days; a refused request changes nothing', async () => {
    const key = await symmetricKey();
    for (const days of [6, 31]) {
      await rejects(
        kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: days })),
        'ValidationException',
        `PendingWindowInDays should be between 7 and 30, but it is ${days}`,
      );
    }
    await rejects(
      kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: 0 })),
      'ValidationException',
      "1 validation error detected: Value '0' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    assert.equal((await describeKey(key.KeyId!)).KeyState, 'Enabled');
    const seven = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: 7 }));
    assert.equal(seven.PendingWindowInDays, 7);
    assert.equal((await describeKey(key.KeyId!)).PendingDeletionWindowInDays, 7);
  });
});

describe('tags', () => {
  test('TagResource adds and replaces, UntagResource removes, ListResourceTags lists in key order', async () => {
    const key = await symmetricKey();
    await kms.send(
      new TagResourceCommand({
        KeyId: key.KeyId!,
        Tags: [
          { TagKey: 'tag2', TagValue: 'value2' },
          { TagKey: 'tag1', TagValue: 'value1' },
        ],
      }),
    );
    await kms.send(
      new TagResourceCommand({
        KeyId: key.Arn!,
        Tags: [
          { TagKey: 'tag3', TagValue: 'value3' },
          { TagKey: 'tag1', TagValue: 'new' },
        ],
      }),
    );
    assert.deepEqual((await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId! }))).Tags, [
      { TagKey: 'tag1', TagValue: 'new' },
      { TagKey: 'tag2', TagValue: 'value2' },
      { TagKey: 'tag3', TagValue: 'value3' },
    ]);
    await kms.send(new UntagResourceCommand({ KeyId: key.KeyId!, TagKeys: ['tag2', 'no-such-tag'] }));
    const listed = await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId! }));
    assert.deepEqual(listed.Tags, [
      { TagKey: 'tag1', TagValue: 'new' },
      { TagKey: 'tag3', TagValue: 'value3' },
    ]);
    assert.equal(listed.Truncated, false);
  });

  test("AWS's tag errors; over 50 tags is refused and changes nothing", async () => {
    const key = await symmetricKey();
    await rejects(
      kms.send(new TagResourceCommand({ KeyId: key.KeyId!, Tags: [{ TagKey: 'aws:owner', TagValue: 'x' }] })),
      'TagException',
      'Tags beginning with aws: are reserved',
    );
    await rejects(
      kms.send(
        new TagResourceCommand({
          KeyId: key.KeyId!,
          Tags: [
            { TagKey: 'k', TagValue: '1' },
            { TagKey: 'k', TagValue: '2' },
          ],
        }),
      ),
      'TagException',
      'Duplicate tag keys',
    );
    await rejects(
      kms.send(new TagResourceCommand({ KeyId: key.KeyId!, Tags: [{ TagKey: 'k'.repeat(129), TagValue: '1' }] })),
      'ValidationException',
      /at 'tags\.1\.member\.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128/,
    );
    const first = Array.from({ length: 48 }, (_, i) => ({ TagKey: `t${String(i).padStart(2, '0')}`, TagValue: `v${i}` }));
    await kms.send(new TagResourceCommand({ KeyId: key.KeyId!, Tags: first }));
    await rejects(
      kms.send(
        new TagResourceCommand({
          KeyId: key.KeyId!,
          Tags: [
            { TagKey: 'x1', TagValue: '1' },
            { TagKey: 'x2', TagValue: '2' },
            { TagKey: 'x3', TagValue: '3' },
          ],
        }),
      ),
      'TagException',
      'Too many tags',
    );
    const all = (await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId! }))).Tags!;
    assert.equal(all.length, 48, 'the refused request added nothing');
    // Replacing values of existing keys does not count as new tags.
    await kms.send(
      new TagResourceCommand({
        KeyId: key.KeyId!,
        Tags: [
          { TagKey: 't00', TagValue: 'changed' },
          { TagKey: 'x1', TagValue: '1' },
        ],
      }),
    );

    // Paging: 49 tags in pages of 20.
    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId!, Limit: 20, ...(marker ? { Marker: marker } : {}) }));
      pages++;
      seen.push(...page.Tags!.map((t) => t.TagKey!));
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    assert.equal(pages, 3);
    assert.equal(seen.length, 49);
    assert.deepEqual(seen, [...seen].sort());
    await rejects(kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId!, Marker: 'bogus' })), 'InvalidMarkerException');
    await rejects(
      kms.send(new UntagResourceCommand({ KeyId: key.KeyId! } as never)),
      'ValidationException',
      "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
    );
  });
});

describe('aliases', () => {
  test('CreateAlias; the alias and its ARN work in Sign and DescribeKey; ListAliases shows it', async () => {
    const key = await signKey();
    const name = `alias/${unique('signer')}`;
    await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: key.KeyId! }));
    assert.equal((await describeKey(name)).KeyId, key.KeyId);
    assert.equal((await describeKey(aliasArnOf(name))).KeyId, key.KeyId);
    const signed = await signWith(name);
    assert.equal(signed.KeyId, key.Arn);
    assert.equal((await signWith(aliasArnOf(name))).KeyId, key.Arn);

    const listed = await kms.send(new ListAliasesCommand({ KeyId: key.KeyId! }));
    assert.equal(listed.Aliases!.length, 1);
    const entry = listed.Aliases![0]!;
    assert.equal(entry.AliasName, name);
    assert.equal(entry.AliasArn, aliasArnOf(name));
    assert.equal(entry.TargetKeyId, key.KeyId);
    assert.ok(entry.CreationDate instanceof Date && entry.LastUpdatedDate instanceof Date);
    assert.equal(listed.Truncated, false);
    // Creating with the key ARN as target works too.
    const second = `alias/${unique('signer-arn')}`;
    await kms.send(new CreateAliasCommand({ AliasName: second, TargetKeyId: key.Arn! }));
    assert.equal((await kms.send(new ListAliasesCommand({ KeyId: key.Arn! }))).Aliases!.length, 2);
  });

  test("CreateAlias refuses with AWS's errors and changes nothing", async () => {
    const key = await symmetricKey();
    const name = `alias/${unique('taken')}`;
    await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: key.KeyId! }));
    await rejects(
      kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: key.KeyId! })),
      'AlreadyExistsException',
      `An alias with the name ${aliasArnOf(name)} already exists`,
    );
    await rejects(
      kms.send(new CreateAliasCommand({ AliasName: 'no-prefix', TargetKeyId: key.KeyId! })),
      'ValidationException',
      'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
    );
    await rejects(kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/mine', TargetKeyId: key.KeyId! })), 'NotAuthorizedException');
    await rejects(
      kms.send(new CreateAliasCommand({ AliasName: 'alias/has space', TargetKeyId: key.KeyId! })),
      'ValidationException',
      "1 validation error detected: Value 'alias/has space' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
    );
    await rejects(
      kms.send(new CreateAliasCommand({ AliasName: `alias/${'x'.repeat(251)}`, TargetKeyId: key.KeyId! })),
      'ValidationException',
      "1 validation error detected: Value null at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256",
    );
    await rejects(
      kms.send(new CreateAliasCommand({ AliasName: `alias/${unique('to-alias')}`, TargetKeyId: name })),
      'ValidationException',
      'Aliases must refer to keys. Not aliases',
    );
    const missing = '00000000-0000-4000-8000-000000000001';
    await rejects(
      kms.send(new CreateAliasCommand({ AliasName: `alias/${unique('nokey')}`, TargetKeyId: missing })),
      'NotFoundException',
      `Key 'arn:aws:kms:${REGION}:${account}:key/${missing}' does not exist`,
    );
    assert.equal((await kms.send(new ListAliasesCommand({ KeyId: key.KeyId! }))).Aliases!.length, 1);
    await rejects(
      kms.send(new DescribeKeyCommand({ KeyId: 'alias/never-made' })),
      'NotFoundException',
      `Alias ${aliasArnOf('alias/never-made')} is not found.`,
    );
  });

  test('UpdateAlias moves an alias between keys of one type and usage only', async () => {
    const a = await signKey();
    const b = await signKey();
    const sym = await symmetricKey();
    const name = `alias/${unique('moving')}`;
    await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: a.KeyId! }));
    const created = (await kms.send(new ListAliasesCommand({ KeyId: a.KeyId! }))).Aliases![0]!;
    await new Promise((r) => setTimeout(r, 5));
    await kms.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: b.Arn! }));
    assert.equal((await describeKey(name)).KeyId, b.KeyId);
    assert.equal((await signWith(name)).KeyId, b.Arn);
    assert.deepEqual((await kms.send(new ListAliasesCommand({ KeyId: a.KeyId! }))).Aliases, []);
    const moved = (await kms.send(new ListAliasesCommand({ KeyId: b.KeyId! }))).Aliases![0]!;
    assert.equal(moved.CreationDate!.getTime(), created.CreationDate!.getTime());
    assert.ok(moved.LastUpdatedDate!.getTime() > created.LastUpdatedDate!.getTime());

    await rejects(kms.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: sym.KeyId! })), 'ValidationException', /same type/);
    assert.equal((await describeKey(name)).KeyId, b.KeyId, 'a refused update changes nothing');
    await rejects(
      kms.send(new UpdateAliasCommand({ AliasName: 'alias/not-there', TargetKeyId: b.KeyId! })),
      'NotFoundException',
      `Alias ${aliasArnOf('alias/not-there')} is not found.`,
    );
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: a.KeyId!, PendingWindowInDays: 7 }));
    await rejects(kms.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: a.KeyId! })), 'KMSInvalidStateException', `${a.Arn} is pending deletion.`);
  });

  test('DeleteAlias removes the alias, not the key', async () => {
    const key = await signKey();
    const name = `alias/${unique('gone')}`;
    await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: key.KeyId! }));
    await kms.send(new DeleteAliasCommand({ AliasName: name }));
    await rejects(describeKey(name), 'NotFoundException', `Alias ${aliasArnOf(name)} is not found.`);
    await rejects(signWith(name), 'NotFoundException', `Alias ${aliasArnOf(name)} is not found.`);
    assert.equal((await describeKey(key.KeyId!)).KeyState, 'Enabled');
    await rejects(kms.send(new DeleteAliasCommand({ AliasName: name })), 'NotFoundException', `Alias ${aliasArnOf(name)} is not found.`);
    await rejects(
      kms.send(new DeleteAliasCommand({ AliasName: 'gone' })),
      'ValidationException',
      'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
    );
  });

  test('ListAliases pages with Limit and Marker in name order', async () => {
    const key = await symmetricKey();
    const prefix = unique('page');
    const names = Array.from({ length: 5 }, (_, i) => `alias/${prefix}-${i}`);
    for (const n of names) await kms.send(new CreateAliasCommand({ AliasName: n, TargetKeyId: key.KeyId! }));
    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await kms.send(new ListAliasesCommand({ KeyId: key.KeyId!, Limit: 2, ...(marker ? { Marker: marker } : {}) }));
      pages++;
      seen.push(...page.Aliases!.map((a) => a.AliasName!));
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    assert.equal(pages, 3);
    assert.deepEqual(seen, names);
    // Without KeyId, every alias of the account, ours among them.
    const all = await kms.send(new ListAliasesCommand({ Limit: 100 }));
    for (const n of names) assert.ok(all.Aliases!.some((a) => a.AliasName === n));
    await rejects(kms.send(new ListAliasesCommand({ Marker: 'zzz' })), 'InvalidMarkerException');
    await rejects(
      kms.send(new ListAliasesCommand({ KeyId: '00000000-0000-4000-8000-000000000002' })),
      'NotFoundException',
      `Key 'arn:aws:kms:${REGION}:${account}:key/00000000-0000-4000-8000-000000000002' does not exist`,
    );
  });
});

describe('rotation', () => {
  test('EnableKeyRotation, GetKeyRotationStatus and DisableKeyRotation on a symmetric key', async () => {
    const key = await symmetricKey();
    const off = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId! }));
    assert.equal(off.KeyRotationEnabled, false);
    assert.equal(off.KeyId, key.KeyId);
    assert.equal(off.RotationPeriodInDays, undefined);
    assert.equal(off.NextRotationDate, undefined);

    const t0 = Date.now();
    await kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId! }));
    const on = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.Arn! }));
    assert.equal(on.KeyRotationEnabled, true);
    assert.equal(on.RotationPeriodInDays, 365);
    const next = on.NextRotationDate!.getTime();
    assert.ok(next >= t0 + 365 * DAY_MS - 1000 && next <= Date.now() + 365 * DAY_MS + 1000);

    await kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId!, RotationPeriodInDays: 90 }));
    const ninety = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId! }));
    assert.equal(ninety.RotationPeriodInDays, 90);
    assert.ok(Math.abs(ninety.NextRotationDate!.getTime() - (next - 275 * DAY_MS)) <= 1000, 'the schedule keeps its start');

    for (const [days, bound] of [
      [89, 'greater than or equal to 90'],
      [2561, 'less than or equal to 2560'],
    ] as const) {
      await rejects(
        kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId!, RotationPeriodInDays: days })),
        'ValidationException',
        `1 validation error detected: Value '${days}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value ${bound}`,
      );
    }
    await kms.send(new DisableKeyRotationCommand({ KeyId: key.KeyId! }));
    const disabled = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId! }));
    assert.equal(disabled.KeyRotationEnabled, false);
    assert.equal(disabled.NextRotationDate, undefined);

    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId! })), 'DisabledException', `${key.Arn} is disabled.`);
    await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId! })), 'DisabledException', `${key.Arn} is disabled.`);
  });

  test('asymmetric and HMAC keys do not rotate', async () => {
    const sign = await signKey();
    const hmac = (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!;
    for (const key of [sign, hmac]) {
      await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId! })), 'UnsupportedOperationException', new RegExp(`^${key.Arn}`));
      await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId! })), 'UnsupportedOperationException');
      await rejects(kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId! })), 'UnsupportedOperationException');
      // AWS: the rotation status of keys that cannot rotate is always false.
      assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId! }))).KeyRotationEnabled, false);
    }
  });

  test('RotateKeyOnDemand: old ciphertexts still decrypt, rotations are listed and paged, the 11th is refused', async () => {
    const started = Date.now();
    const key = await symmetricKey();
    const message = new TextEncoder().encode('made before rotation');
    const before = await kms.send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: message }));
    const rotated = await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.Arn! }));
    assert.equal(rotated.KeyId, key.Arn, 'AWS answers the key ARN');
    const afterOne = await kms.send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: message }));
    for (const blob of [before.CiphertextBlob!, afterOne.CiphertextBlob!]) {
      const opened = await kms.send(new DecryptCommand({ CiphertextBlob: blob }));
      assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(message));
    }
    const first = await kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId! }));
    assert.equal(first.Rotations!.length, 1);
    assert.equal(first.Rotations![0]!.RotationType, 'ON_DEMAND');
    assert.equal(first.Rotations![0]!.KeyId, key.KeyId);
    assert.ok(Math.abs(first.Rotations![0]!.RotationDate!.getTime() - Date.now()) < 60_000);
    assert.equal(first.Truncated, false);
    // On-demand rotation leaves rotation off when it was off.
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId! }))).KeyRotationEnabled, false);

    // Concurrent rotations each get their own version.
    await Promise.all([1, 2, 3].map(() => kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId! }))));
    for (let i = 4; i < 10; i++) await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId! }));
    await rejects(
      kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId! })),
      'LimitExceededException',
      `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${key.Arn}`,
    );
    const versions = await repo.listMaterialVersions(server.custodian.deps.store.db, key.KeyId!);
    assert.deepEqual(
      versions.map((v) => v.version),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
      'one version per rotation, none lost',
    );

    const dates: number[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId!, Limit: 4, ...(marker ? { Marker: marker } : {}) }));
      pages++;
      for (const r of page.Rotations!) {
        assert.equal(r.RotationType, 'ON_DEMAND');
        dates.push(r.RotationDate!.getTime());
      }
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    assert.equal(pages, 3);
    assert.equal(dates.length, 10);
    // In version order; concurrent rotations may carry request times a few ms out of order.
    for (const d of dates) assert.ok(d >= started && d <= Date.now(), 'each rotation is dated when it happened');
    // Every version still decrypts what it made.
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob! }));
    assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(message));
    await rejects(kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId!, Marker: 'nope' })), 'InvalidMarkerException');
  });

  test('maintenance rotates keys whose date has come, once, and moves the date one period on', async () => {
    const deps = server.custodian.deps;
    const key = await symmetricKey();
    const idle = await symmetricKey();
    await kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId!, RotationPeriodInDays: 90 }));
    await kms.send(new EnableKeyRotationCommand({ KeyId: idle.KeyId!, RotationPeriodInDays: 90 }));
    await kms.send(new DisableKeyCommand({ KeyId: idle.KeyId! }));
    const message = new TextEncoder().encode('older than the rotation');
    const old = await kms.send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: message }));
    const due = (await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId! }))).NextRotationDate!.getTime();

    assert.ok(!(await runMaintenance(deps, due - 1)).rotated.includes(key.KeyId!));
    const [a, b] = await Promise.all([runMaintenance(deps, due), runMaintenance(deps, due)]);
    const rotated = [...a.rotated, ...b.rotated];
    assert.equal(rotated.filter((id) => id === key.KeyId).length, 1, 'rotated exactly once');
    assert.ok(!rotated.includes(idle.KeyId!), 'a disabled key is not rotated');
    assert.ok(!(await runMaintenance(deps, due)).rotated.includes(key.KeyId!));

    const listed = await kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId! }));
    assert.deepEqual(
      listed.Rotations!.map((r) => [r.RotationType, r.RotationDate!.getTime()]),
      [['AUTOMATIC', due]],
    );
    const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId! }));
    assert.equal(status.NextRotationDate!.getTime(), due + 90 * DAY_MS);
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob! }));
    assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(message));
  });
});

describe('deletion when the window ends (injected clock)', () => {
  // Runs last: its final test moves the server's clock a week ahead.
  let ckms: KMSClient;
  before(() => {
    ckms = server.kms();
  });

  test('runMaintenance deletes a key, its material, aliases and tags once its date has passed, exactly once', async () => {
    const deps = server.custodian.deps;
    const key = (await ckms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'wallets' }] }))).KeyMetadata!;
    const keep = (await ckms.send(new CreateKeyCommand({}))).KeyMetadata!;
    const alias = `alias/${unique('doomed')}`;
    await ckms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyId! }));
    const scheduled = await ckms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: 7 }));
    await ckms.send(new ScheduleKeyDeletionCommand({ KeyId: keep.KeyId!, PendingWindowInDays: 7 }));
    await ckms.send(new CancelKeyDeletionCommand({ KeyId: keep.KeyId! }));
    const due = scheduled.DeletionDate!.getTime();

    assert.ok(!(await runMaintenance(deps, due - 1)).deleted.includes(key.KeyId!));
    assert.equal((await ckms.send(new DescribeKeyCommand({ KeyId: key.KeyId! }))).KeyMetadata!.KeyState, 'PendingDeletion');

    // Two processes' maintenance at once: the key is deleted by exactly one of them.
    const [a, b] = await Promise.all([runMaintenance(deps, due), runMaintenance(deps, due)]);
    const deleted = [...a.deleted, ...b.deleted];
    assert.equal(deleted.filter((id) => id === key.KeyId).length, 1, 'deleted exactly once');
    assert.ok(!deleted.includes(keep.KeyId!), 'a cancelled deletion is not carried out');
    assert.ok(!(await runMaintenance(deps, due + DAY_MS)).deleted.includes(key.KeyId!));

    await rejects(ckms.send(new DescribeKeyCommand({ KeyId: key.KeyId! })), 'NotFoundException', `Key '${key.Arn}' does not exist`);
    await rejects(ckms.send(new DescribeKeyCommand({ KeyId: alias })), 'NotFoundException', `Alias ${aliasArnOf(alias)} is not found.`);
    const listed = await ckms.send(new ListKeysCommand({ Limit: 1000 }));
    assert.ok(!listed.Keys!.some((k) => k.KeyId === key.KeyId));
    assert.ok(
      listed.Keys!.some((k) => k.KeyId === keep.KeyId),
      'the cancelled key survives',
    );
    assert.equal(await repo.findMaterial(deps.store.db, key.KeyId!, 1), undefined);
    assert.deepEqual(await repo.listTags(deps.store.db, key.KeyId!), []);
  });

  test('the running custodian deletes on its own timer when its clock passes the date', async () => {
    const key = (await ckms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await ckms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: 7 }));
    clockOffset = 7 * DAY_MS + 60_000;
    const deadline = Date.now() + 10_000;
    let gone = false;
    while (!gone && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      // Sign with the server's skewed time, as a client whose clock agrees with it. Set before every
      // request: the SDK resets the offset from each response's (real-time) Date header.
      ckms.config.systemClockOffset = clockOffset;
      gone = await ckms.send(new DescribeKeyCommand({ KeyId: key.KeyId! })).then(
        () => false,
        (e: { name: string }) => {
          if (e.name !== 'NotFoundException') throw e;
          return true;
        },
      );
    }
    assert.ok(gone, 'the key was deleted by the maintenance timer');
  });
});
