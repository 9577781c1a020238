/**
 * Access keys: CreateAccessKey, ListAccessKeys, UpdateAccessKey,
 * DeleteAccessKey (IAM API Reference). The secret is returned once, by
 * CreateAccessKey, and stored sealed under the root of trust bound to its key
 * id (SigV4 verification needs the secret itself, so a one-way verifier is
 * impossible; see docs/access-control.md). Deleting or deactivating a key
 * drops it from this process's credential cache at once; other processes stop
 * accepting it within the authenticator's cache TTL (5 s).
 */
import { randomBytes } from 'node:crypto';
import { insertAccessKey } from '../storage/access-keys.repository.js';
import { deleteUserAccessKey, listUserAccessKeys, setAccessKeyStatus } from '../storage/iam.repository.js';
import { accessKeySecretAad } from '../aws/access-key-source.js';
import { utf8Bytes, wipe } from '../crypto/bytes.js';
import { principalFromArn } from '../aws/policy/request.js';
import { limitExceeded, noSuchEntity, validationError } from './errors.js';
import { iamAction, type IamContext } from './context.js';
import { ACCESS_KEY_ID, type QueryParams } from './params.js';
import { el, isoTime, members, wrap } from './xml.js';
import { iamId, readUserName, requireUserAuthorized } from './users.js';

export const MAX_ACCESS_KEYS_PER_USER = 2;
/** Access keys of the account root principal are filed under this name. */
export const ROOT_KEYS_OWNER = 'root';

interface Owner {
  /** `user_name` in iam_access_keys. */
  keysUserName: string;
  principalArn: string;
  /** UserName as IAM shows it (absent for the root). */
  shownName: string | undefined;
}

/**
 * The owner of the keys an action manages: the named user, or the caller itself.
 * @throws {AwsError} AccessDenied, NoSuchEntity, ValidationError (a caller that is neither root nor a user must name one).
 */
async function keyOwner(ctx: IamContext, p: QueryParams, action: string): Promise<Owner> {
  const name = readUserName(p);
  if (name !== undefined) {
    const u = await requireUserAuthorized(ctx, action, name);
    return { keysUserName: u.userName, principalArn: u.arn, shownName: u.userName };
  }
  const me = principalFromArn(ctx.caller.arn, ctx.caller.accountId);
  if (me.kind === 'root') {
    await ctx.authorize(action, ctx.caller.arn);
    return { keysUserName: ROOT_KEYS_OWNER, principalArn: ctx.caller.arn, shownName: undefined };
  }
  if (me.kind === 'user') {
    const u = await requireUserAuthorized(ctx, action, ctx.caller.userName);
    return { keysUserName: u.userName, principalArn: u.arn, shownName: u.userName };
  }
  throw validationError('Must specify userName when calling with non-User credentials');
}

function readAccessKeyId(p: QueryParams): string {
  return p.string('AccessKeyId', { required: true, min: 16, max: 128, pattern: ACCESS_KEY_ID });
}

export const createAccessKey = iamAction('CreateAccessKey', async (p, ctx) => {
  const owner = await keyOwner(ctx, p, 'iam:CreateAccessKey');
  if ((await listUserAccessKeys(ctx.store.db, owner.keysUserName)).length >= MAX_ACCESS_KEYS_PER_USER) {
    throw limitExceeded(`Cannot exceed quota for AccessKeysPerUser: ${MAX_ACCESS_KEYS_PER_USER}`);
  }
  if (owner.principalArn !== ctx.caller.arn) {
    // A key for another user lets the caller act as that user. Approved, the proposer collects it by repeating the request.
    await ctx.quorum.redeemOrGuard(ctx, {
      kind: 'CreateAccessKey',
      target: owner.keysUserName,
      payload: { UserName: owner.keysUserName },
      base: '',
      protocol: 'iam',
    });
  }
  const accessKeyId = iamId('AKIA', 16);
  const secret = randomBytes(30).toString('base64');
  const secretBytes = utf8Bytes(secret);
  const createdAt = ctx.info.now;
  try {
    await insertAccessKey(ctx.store.db, {
      accessKeyId,
      userName: owner.keysUserName,
      principalArn: owner.principalArn,
      sealedSecret: ctx.root.seal(secretBytes, accessKeySecretAad(accessKeyId)),
      status: 'Active',
      createdAt,
    });
  } finally {
    wipe(secretBytes);
  }
  return wrap(
    'AccessKey',
    el('UserName', owner.shownName) +
      el('AccessKeyId', accessKeyId) +
      el('Status', 'Active') +
      el('SecretAccessKey', secret) +
      el('CreateDate', isoTime(createdAt)),
  );
});

export const listAccessKeys = iamAction('ListAccessKeys', async (p, ctx) => {
  p.string('Marker', { min: 1, max: 320 });
  p.integer('MaxItems', 1, 1000);
  const owner = await keyOwner(ctx, p, 'iam:ListAccessKeys');
  const keys = await listUserAccessKeys(ctx.store.db, owner.keysUserName);
  return (
    el('UserName', owner.shownName) +
    members(
      'AccessKeyMetadata',
      keys.map((k) => el('UserName', owner.shownName) + el('AccessKeyId', k.accessKeyId) + el('Status', k.status) + el('CreateDate', isoTime(k.createdAt))),
    ) +
    el('IsTruncated', false)
  );
});

export const deleteAccessKey = iamAction('DeleteAccessKey', async (p, ctx) => {
  const accessKeyId = readAccessKeyId(p);
  const owner = await keyOwner(ctx, p, 'iam:DeleteAccessKey');
  const deleted = await deleteUserAccessKey(ctx.store.db, owner.keysUserName, accessKeyId);
  if (!deleted) throw noSuchEntity(`The Access Key with id ${accessKeyId} cannot be found.`);
  ctx.authenticator.forget(accessKeyId);
  return undefined;
});

export const updateAccessKey = iamAction('UpdateAccessKey', async (p, ctx) => {
  const accessKeyId = readAccessKeyId(p);
  const status = p.string('Status', { required: true });
  if (status !== 'Active' && status !== 'Inactive') {
    throw validationError(
      `1 validation error detected: Value '${status.slice(0, 64)}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`,
    );
  }
  const owner = await keyOwner(ctx, p, 'iam:UpdateAccessKey');
  const updated = await setAccessKeyStatus(ctx.store.db, owner.keysUserName, accessKeyId, status);
  if (!updated) throw noSuchEntity(`The Access Key with id ${accessKeyId} cannot be found.`);
  ctx.authenticator.forget(accessKeyId);
  return undefined;
});
