/**
 * Shared steps of every key operation: resolve a KeyId in any of AWS's four
 * forms, check the key's state and usage with AWS's errors, authorize, and load
 * the sealed material of a version.
 */
import * as repo from '../storage/keys.repository.js';
import { findKey, findKeyForUse } from './key-records.js';
import type { MaterialRow } from '../storage/keys.repository.js';
import { disabled, internal, invalidKeyUsage, invalidState, notFound } from '../aws/errors.js';
import { aliasArn, keyArn, UUID_RE, type KeyRecord, type KeyUsage } from './model.js';
import type { OperationContext } from './context.js';
import { encryptionContextConditions } from '../aws/policy/context-keys.js';
import { findAllowingGrant, type Grant } from './grants.js';
import { signingPolicyStamp } from './signing-policy-stamp.js';

/** Splits an ARN of this service into region, account and resource, or undefined. */
function parseKmsArn(arn: string): { region: string; account: string; resource: string } | undefined {
  const m = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):(.+)$/.exec(arn);
  return m ? { region: m[1]!, account: m[2]!, resource: m[3]! } : undefined;
}

/**
 * Resolves a key id, key ARN, alias name or alias ARN to the key record.
 * With `signingPolicy` (Sign, SignPayload: requests that read the key's
 * signing policy next), a key not in the cache brings its signing policy's
 * text in the same read, which this request's loadSigningPolicy
 * (src/kms/signing-policy.ts) takes instead of reading it again; it is never
 * cached as text, so every signing request still sees the policy as stored.
 * @throws {AwsError} NotFoundException with AWS's wording.
 */
export async function resolveKey(ctx: OperationContext, keyIdInput: string, options: { signingPolicy?: boolean } = {}): Promise<KeyRecord> {
  const { config, store, keyCache } = ctx.deps;
  let id = keyIdInput;
  let alias: string | undefined;
  if (id.startsWith('arn:')) {
    const arn = parseKmsArn(id);
    if (!arn || arn.region !== config.region || arn.account !== config.accountId) throw notFound(`Invalid arn ${arn?.region ?? ''}`.trim());
    if (arn.resource.startsWith('key/')) id = arn.resource.slice(4);
    else if (arn.resource.startsWith('alias/')) alias = arn.resource;
    else throw notFound(`Invalid arn ${arn.region}`);
  } else if (id.startsWith('alias/')) {
    alias = id;
  }
  if (alias !== undefined) {
    const row = await repo.findAlias(store.db, alias);
    if (!row) throw notFound(`Alias ${aliasArn(config.region, config.accountId, alias)} is not found.`);
    id = row.keyId;
  } else if (!UUID_RE.test(id)) {
    throw notFound(`Invalid keyId '${id.length > 64 ? id.slice(0, 64) + '…' : id}'`);
  }
  const now = ctx.info.now;
  const cached = keyCache.getKey(id, now);
  if (cached) return cached;
  // One read brings the material the request asks for next into the cache too (immutable per version),
  // and the signing policy when the request reads it next.
  const stamp = options.signingPolicy ? signingPolicyStamp(store) : undefined;
  const found = await findKeyForUse(store.db, id);
  if (!found || found.key.accountId !== config.accountId) {
    throw notFound(`Key '${keyArn({ region: config.region, accountId: config.accountId, keyId: id })}' does not exist`);
  }
  const { key, material } = found;
  keyCache.putKey(key, now);
  if (options.signingPolicy) ctx.signingPolicyRead = { keyId: key.keyId, text: found.signingPolicy ?? undefined, stamp };
  if (material) keyCache.putMaterial(material);
  return key;
}

/**
 * Authorizes `action` on `key` for the caller: by the key and identity
 * policies or, where they neither allow nor explicitly deny it, by one of the
 * key's grants (src/kms/grants.ts). Operations that take an encryption
 * context set `ctx.audit.encryptionContext` first, so key and identity
 * policies and grant constraints can test it.
 * @returns the grant that allowed the request, when no policy did.
 * @throws {AwsError} AccessDeniedException.
 */
export async function authorize(
  ctx: OperationContext,
  action: string,
  key: KeyRecord | undefined,
  conditions: Record<string, string | string[]> = {},
): Promise<Grant | undefined> {
  if (key) ctx.audit.keyArn = keyArn(key);
  // The request's encryption context is visible to policies as kms:EncryptionContext:<key> and
  // kms:EncryptionContextKeys, unless the operation names the context itself (ReEncrypt checks
  // the source context against the source key and the destination context against the destination).
  const ec = ctx.audit.encryptionContext;
  const explicit = Object.keys(conditions).some((k) => k.toLowerCase() === 'kms:encryptioncontextkeys');
  const all = ec && !explicit && Object.keys(ec).length ? { ...encryptionContextConditions(ec), ...conditions } : conditions;
  let granted: Grant | undefined;
  const grant = key ? async () => !!(granted = await findAllowingGrant(ctx, key, action, all)) : undefined;
  await ctx.deps.authorizer.authorize({ caller: ctx.caller, info: ctx.info, action, key, conditions: all, ...(grant ? { grant } : {}) });
  return granted;
}

/**
 * Requires the key to be Enabled and of `usage` for cryptographic operation `operation`.
 * @throws {AwsError} DisabledException, KMSInvalidStateException or InvalidKeyUsageException.
 */
export function requireUsable(key: KeyRecord, usage: KeyUsage, operation: string): void {
  const arn = keyArn(key);
  if (key.keyState === 'Disabled') throw disabled(`${arn} is disabled.`);
  if (key.keyState === 'PendingDeletion') throw invalidState(`${arn} is pending deletion.`);
  if (key.keyUsage !== usage) throw invalidKeyUsage(`${arn} key usage is ${key.keyUsage} which is not valid for ${operation}.`);
}

/**
 * Requires the key not to be pending deletion (for management operations).
 * @throws {AwsError} KMSInvalidStateException.
 */
export function requireNotPendingDeletion(key: KeyRecord): void {
  if (key.keyState === 'PendingDeletion') throw invalidState(`${keyArn(key)} is pending deletion.`);
}

/**
 * Loads the sealed material of one version (the current one by default).
 * @throws {AwsError} KMSInternalException if the version is missing (a corrupt store).
 */
export async function loadMaterial(ctx: OperationContext, key: KeyRecord, version = key.currentVersion): Promise<MaterialRow> {
  const { keyCache, store } = ctx.deps;
  const cached = keyCache.getMaterial(key.keyId, version, ctx.info.now);
  if (cached) return cached;
  const m = await repo.findMaterial(store.db, key.keyId, version);
  if (!m) throw internal('The key material for this request is unavailable.');
  keyCache.putMaterial(m);
  return m;
}

/** How many times this process wrote, or tried to write, a key's first ciphertext (recordProtecting); for tests. */
export const protectingWrites = { count: 0 };

/**
 * Makes durable, before the request makes its ciphertext, that `key` has made one
 * (kms_keys.first_protected_at; STS LinkWebIdentity reads it, src/sts/merge-login.ts): Encrypt,
 * GenerateDataKey*, GenerateDataKeyPair*, and ReEncrypt for its destination call it once
 * authorized and past DryRun. Once the fact is set (in the store and the cached record) this is
 * one boolean check. The write is a compare-and-set that succeeds only on an Enabled key, so a
 * first use racing a ScheduleKeyDeletion either lands before it (and the scheduler sees it) or is
 * refused with the state's error, however stale this process's cached record.
 * @throws {AwsError} NotFoundException, DisabledException or KMSInvalidStateException when the key
 *   changed meanwhile.
 */
export async function recordProtecting(ctx: OperationContext, key: KeyRecord, operation: string): Promise<void> {
  if (key.firstProtectedAt !== null) return;
  const { store, keyCache } = ctx.deps;
  const now = ctx.info.now;
  for (let attempt = 0; attempt < 5; attempt++) {
    protectingWrites.count++;
    if (await repo.markKeyProtected(store.db, key.keyId, now)) {
      keyCache.markProtected(key.keyId, key.revision, now);
      return;
    }
    // Another request or process recorded it first, or the key is no longer Enabled.
    const fresh = await findKey(store.db, key.keyId);
    if (!fresh) throw notFound(`Key '${keyArn(key)}' does not exist`);
    requireUsable(fresh, key.keyUsage, operation);
    if (fresh.firstProtectedAt !== null) {
      keyCache.markProtected(fresh.keyId, fresh.revision, fresh.firstProtectedAt);
      return;
    }
  }
  throw internal('The key changed concurrently too often; retry.');
}

/** Records a change made to `key` in this process: the cache forgets it. */
export function keyChanged(ctx: OperationContext, keyId: string): void {
  ctx.deps.keyCache.invalidate(keyId);
}
