/**
 * Shared rules of the alias and key-management operations (AWS KMS API
 * Reference: CreateAlias, UpdateAlias, DeleteAlias, ListAliases; Developer
 * Guide, "Aliases in AWS KMS"): alias-name validation with AWS's errors, and
 * resolution of the KeyId forms that management operations accept (key id or
 * key ARN, never an alias).
 */
import { AwsError, constraintViolation, notFound, validation } from '../aws/errors.js';
import { resolveKey } from './keys.js';
import { aliasArn, type KeyRecord } from './model.js';
import type { AliasRow } from '../storage/keys.repository.js';
import type { OperationContext } from './context.js';

/** AWS's model pattern for AliasName (applied before any other alias rule). */
const ALIAS_PATTERN = /^[a-zA-Z0-9:/_-]+$/;
const RESERVED_PREFIX = 'alias/aws/';

/** AWS's text for a name without the `alias/` prefix. */
export const ALIAS_PREFIX_MESSAGE =
  'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html';

function shown(value: string): string {
  return value.length > 256 ? `${value.slice(0, 256)}…` : value;
}

/**
 * Checks an alias name the way AWS does, in AWS's order: the model's length
 * (1–256) and pattern, then the `alias/` prefix; for names being created or
 * updated, also no `:` and not the reserved `alias/aws/` namespace.
 * @throws {AwsError} ValidationException; NotAuthorizedException for `alias/aws/`.
 */
export function checkAliasName(name: string, purpose: 'create' | 'lookup'): void {
  if (name.length < 1 || name.length > 256) {
    throw constraintViolation('aliasName', null, `Member must have length ${name.length < 1 ? 'greater than or equal to 1' : 'less than or equal to 256'}`);
  }
  if (!ALIAS_PATTERN.test(name)) {
    throw constraintViolation('aliasName', shown(name), 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$');
  }
  if (!name.startsWith('alias/')) throw validation(ALIAS_PREFIX_MESSAGE);
  if (purpose === 'lookup') return;
  // The model's pattern admits ':' (for ARNs elsewhere) but an alias name may not contain one.
  if (name.includes(':')) throw validation(`${name} contains invalid characters for an alias`);
  if (name === 'alias/') throw validation(`${name} is not a valid alias name: the name after alias/ must not be empty`);
  if (name.startsWith(RESERVED_PREFIX)) {
    throw new AwsError('NotAuthorizedException', `${name}: the alias/aws/ prefix is reserved for AWS managed keys`);
  }
}

/** True for `alias/NAME` and alias ARNs. */
export function isAliasIdentifier(id: string): boolean {
  return id.startsWith('alias/') || (id.startsWith('arn:') && /^arn:[^:]*:kms:[^:]*:[^:]*:alias\//.test(id));
}

/**
 * Resolves a KeyId for an operation whose AWS reference accepts only a key id
 * or key ARN (EnableKey, ScheduleKeyDeletion, TagResource, the rotation
 * operations, …).
 * @throws {AwsError} NotFoundException, also for an alias.
 */
export async function resolveKeyIdOrArn(ctx: OperationContext, keyId: string): Promise<KeyRecord> {
  if (isAliasIdentifier(keyId)) throw notFound(`Invalid keyId '${shown(keyId)}'`);
  return resolveKey(ctx, keyId);
}

/** One ListAliases entry in AWS's shape. */
export function aliasListEntry(ctx: OperationContext, row: AliasRow): Record<string, unknown> {
  const { region, accountId } = ctx.deps.config;
  return {
    AliasName: row.aliasName,
    AliasArn: aliasArn(region, accountId, row.aliasName),
    TargetKeyId: row.keyId,
    CreationDate: row.createdAt / 1000,
    LastUpdatedDate: row.updatedAt / 1000,
  };
}

/** Which family a key belongs to: an alias may only move within one (UpdateAlias). */
export function keyFamily(key: KeyRecord): string {
  const type = key.keySpec === 'SYMMETRIC_DEFAULT' ? 'symmetric' : key.keySpec.startsWith('HMAC_') ? 'HMAC' : 'asymmetric';
  return `${type} ${key.keyUsage}`;
}
