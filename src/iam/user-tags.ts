/**
 * Tags on IAM users: TagUser, UntagUser, ListUserTags (IAM API Reference).
 * A user's tags are its principal tags (aws:PrincipalTag/<key>), so a change
 * drops the user's cached credentials in this process at once (other
 * processes pick it up within the authenticator's cache TTL).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../storage/tables.js';
import { listUserAccessKeys, putUserTags, removeUserTags, userTags } from '../storage/iam.repository.js';
import { iamConstraint, invalidInput, limitExceeded } from './errors.js';
import { iamAction, type IamContext } from './context.js';
import type { QueryParams } from './params.js';
import { el, members } from './xml.js';
import { readUserName, requireUserAuthorized } from './user-lookup.js';

export const MAX_USER_TAGS = 50;
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

export function tagsXml(tags: ReadonlyArray<readonly [string, string]>): string {
  return members(
    'Tags',
    tags.map(([k, v]) => el('Key', k) + el('Value', v)),
  );
}

/**
 * Reads `Tags.member.N.Key/Value` with IAM's limits.
 * @throws {AwsError} ValidationError, InvalidInput (duplicates, aws: prefix), LimitExceeded.
 */
export function readTags(p: QueryParams): Array<[string, string]> {
  const raw = p.structs('Tags', ['Key', 'Value'] as const);
  const out: Array<[string, string]> = [];
  const seen = new Set<string>();
  raw.forEach((t, i) => {
    const k = t.Key;
    const v = t.Value;
    if (k === undefined) throw iamConstraint(`tags.${i + 1}.member.key`, null, 'Member must not be null');
    if (v === undefined) throw iamConstraint(`tags.${i + 1}.member.value`, null, 'Member must not be null');
    if (k.length < 1 || k.length > 128) throw iamConstraint(`tags.${i + 1}.member.key`, k.slice(0, 64), 'Member must have length less than or equal to 128');
    if (!TAG_KEY.test(k))
      throw iamConstraint(`tags.${i + 1}.member.key`, k.slice(0, 64), 'Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+');
    if (v.length > 256) throw iamConstraint(`tags.${i + 1}.member.value`, null, 'Member must have length less than or equal to 256');
    if (!TAG_VALUE.test(v))
      throw iamConstraint(`tags.${i + 1}.member.value`, v.slice(0, 64), 'Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*');
    if (k.toLowerCase().startsWith('aws:')) throw invalidInput('User tag keys beginning with aws: are reserved.');
    if (seen.has(k.toLowerCase())) throw invalidInput('Duplicate tag keys found. Please note that Tag keys are case insensitive.');
    seen.add(k.toLowerCase());
    out.push([k, v]);
  });
  if (out.length > MAX_USER_TAGS) throw limitExceeded('The number of tags has reached the maximum limit.');
  return out;
}

/** Drops cached credentials of a user whose principal tags changed. */
async function forgetCredentials(ctx: IamContext, userName: string): Promise<void> {
  for (const k of await listUserAccessKeys(ctx.store.db, userName)) ctx.authenticator.forget(k.accessKeyId);
}

export const tagUser = iamAction('TagUser', async (p, ctx) => {
  const name = readUserName(p, true);
  const tags = readTags(p);
  if (tags.length === 0) throw iamConstraint('tags', null, 'Member must have length greater than or equal to 1');
  const user = await requireUserAuthorized(ctx, 'iam:TagUser', name);
  const existing = await userTags(ctx.store.db, user.userName);
  checkTagCount(existing, tags);
  await ctx.quorum.guard(ctx, {
    kind: 'TagUser',
    target: user.userName,
    payload: { UserName: user.userName, Tags: tags.map(([Key, Value]) => ({ Key, Value })) },
    base: JSON.stringify(existing),
    protocol: 'iam',
  });
  await ctx.store.db.transaction().execute((trx) => writeTags(trx, user.userName, existing, tags));
  await forgetCredentials(ctx, user.userName);
  return undefined;
});

/** @throws {AwsError} LimitExceeded when `tags` would leave the user more than 50. */
export function checkTagCount(existing: ReadonlyArray<readonly [string, string]>, tags: ReadonlyArray<readonly [string, string]>): void {
  const lowered = new Set(tags.map(([k]) => k.toLowerCase()));
  const kept = existing.filter(([k]) => !lowered.has(k.toLowerCase())).length;
  if (kept + tags.length > MAX_USER_TAGS) throw limitExceeded('The number of tags has reached the maximum limit.');
}

/** TagUser's write: tag keys are case-insensitive, so a new key replaces one differing only in case. */
export async function writeTags(
  trx: Transaction<Tables>,
  userName: string,
  existing: ReadonlyArray<readonly [string, string]>,
  tags: ReadonlyArray<readonly [string, string]>,
): Promise<void> {
  const lowered = new Set(tags.map(([k]) => k.toLowerCase()));
  const replaced = existing.filter(([k]) => lowered.has(k.toLowerCase()) && !tags.some(([n]) => n === k)).map(([k]) => k);
  await removeUserTags(trx, userName, replaced);
  await putUserTags(trx, userName, tags);
}

/** UntagUser's write: the keys are matched without regard to case. */
export async function removeTags(
  db: Transaction<Tables> | Kysely<Tables>,
  userName: string,
  existing: ReadonlyArray<readonly [string, string]>,
  keys: readonly string[],
): Promise<void> {
  const lowered = new Set(keys.map((k) => k.toLowerCase()));
  await removeUserTags(
    db,
    userName,
    existing.filter(([k]) => lowered.has(k.toLowerCase())).map(([k]) => k),
  );
}

export const untagUser = iamAction('UntagUser', async (p, ctx) => {
  const name = readUserName(p, true);
  const keys = p.list('TagKeys');
  if (keys.length > MAX_USER_TAGS) throw iamConstraint('tagKeys', null, `Member must have length less than or equal to ${MAX_USER_TAGS}`);
  const user = await requireUserAuthorized(ctx, 'iam:UntagUser', name);
  const existing = await userTags(ctx.store.db, user.userName);
  // Removing a tag can widen access too (a policy that denies on a tag's presence).
  await ctx.quorum.guard(ctx, {
    kind: 'UntagUser',
    target: user.userName,
    payload: { UserName: user.userName, TagKeys: keys },
    base: JSON.stringify(existing),
    protocol: 'iam',
  });
  await removeTags(ctx.store.db, user.userName, existing, keys);
  await forgetCredentials(ctx, user.userName);
  return undefined;
});

export const listUserTags = iamAction('ListUserTags', async (p, ctx) => {
  const name = readUserName(p, true);
  p.string('Marker', { min: 1, max: 320 });
  p.integer('MaxItems', 1, 1000);
  const user = await requireUserAuthorized(ctx, 'iam:ListUserTags', name);
  return tagsXml(await userTags(ctx.store.db, user.userName)) + el('IsTruncated', false);
});
