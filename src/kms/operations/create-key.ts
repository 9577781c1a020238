/**
 * CreateKey: a new key whose material is generated inside the custodian and
 * sealed under the root of trust before it is stored. Supported specs:
 * SYMMETRIC_DEFAULT, ECC_SECG_P256K1, ECC_NIST_P256, HMAC_224, HMAC_256,
 * HMAC_384, HMAC_512. Fields it does not support are refused with AWS's
 * exceptions, never ignored: CustomKeyStoreId (CustomKeyStoreNotFoundException:
 * there are no custom key stores), XksKeyId without an external key store
 * (ValidationException), CustomerMasterKeySpec beside KeySpec
 * (ValidationException), Origin other than AWS_KMS and MultiRegion
 * (UnsupportedOperationException).
 */
import { randomUUID } from 'node:crypto';
import { insertKey } from '../key-records.js';
import { createMaterial } from '../keystore.js';
import { authorize } from '../keys.js';
import { customKeyStoreNotFound, malformedPolicyDocument, unsupportedOperation, validation } from '../../aws/errors.js';
import { AWS_KEY_SPECS, AWS_KEY_USAGES, KEY_SPECS, keyMetadata, USAGE_FOR_SPEC, type KeyRecord, type KeySpec } from '../model.js';
import { operation } from '../operation.js';
import { readTags } from '../tags.js';
import { checkLockout, defaultKeyPolicy, validatePolicyDocument } from '../policy/key-policy.js';

export const createKey = operation('CreateKey', async (input, ctx) => {
  // The deprecated CustomerMasterKeySpec is KeySpec under its old name: one or the other, never both.
  if (input.has('KeySpec') && input.has('CustomerMasterKeySpec')) {
    throw validation(
      'You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec parameter instead.',
    );
  }
  const specField = input.has('KeySpec') ? 'KeySpec' : 'CustomerMasterKeySpec';
  const awsSpec = input.enum(specField, AWS_KEY_SPECS) ?? 'SYMMETRIC_DEFAULT';
  const usage = input.enum('KeyUsage', AWS_KEY_USAGES);
  const description = input.string('Description', { max: 8192 }) ?? '';
  const policyText = input.string('Policy', { min: 1, max: 32768 });
  const origin = input.enum('Origin', ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const) ?? 'AWS_KMS';
  const multiRegion = input.boolean('MultiRegion') ?? false;
  const bypassLockout = input.boolean('BypassPolicyLockoutSafetyCheck') ?? false;
  const customKeyStoreId = input.string('CustomKeyStoreId', { min: 1, max: 64 });
  const xksKeyId = input.string('XksKeyId', { min: 1, max: 128 });
  const tags = readTags(input);

  // This custodian has no custom key stores (README): any store id names one that does not exist.
  if (customKeyStoreId !== undefined) throw customKeyStoreNotFound(`Custom key store ${customKeyStoreId} does not exist in this account and Region.`);
  if (xksKeyId !== undefined && origin !== 'EXTERNAL_KEY_STORE') {
    throw validation('XksKeyId is valid only for KMS keys with Origin EXTERNAL_KEY_STORE in an external key store.');
  }

  const spec = KEY_SPECS.find((s) => s === awsSpec) as KeySpec | undefined;
  if (!spec) throw unsupportedOperation(`KeySpec ${awsSpec} is not supported by this custodian. Supported: ${KEY_SPECS.join(', ')}.`);
  if (origin !== 'AWS_KMS') throw unsupportedOperation(`Origin ${origin} is not supported by this custodian; key material is always generated inside it.`);
  if (multiRegion) throw unsupportedOperation('Multi-Region keys are not supported by this custodian.');
  if (usage === undefined && spec !== 'SYMMETRIC_DEFAULT') {
    throw validation('You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.');
  }
  const keyUsage = usage ?? 'ENCRYPT_DECRYPT';
  if (USAGE_FOR_SPEC[spec] !== keyUsage) throw validation(`KeyUsage ${keyUsage} is not compatible with KeySpec ${spec}`);

  const { config } = ctx.deps;
  const policy = policyText ?? defaultKeyPolicy(config.accountId);
  if (policyText !== undefined) {
    const problem = validatePolicyDocument(policyText);
    if (problem) throw malformedPolicyDocument(problem);
  }

  await authorize(ctx, 'kms:CreateKey', undefined, {
    'kms:KeySpec': spec,
    'kms:KeyUsage': keyUsage,
    ...(bypassLockout ? { 'kms:BypassPolicyLockoutSafetyCheck': 'true' } : {}),
  });

  const now = ctx.info.now;
  const keyId = randomUUID();
  const key: KeyRecord = {
    keyId,
    accountId: config.accountId,
    region: config.region,
    keySpec: spec,
    keyUsage,
    keyState: 'Enabled',
    origin: 'AWS_KMS',
    description,
    policy,
    createdAt: now,
    deletionAt: null,
    pendingWindowDays: null,
    rotationEnabled: false,
    rotationPeriodDays: null,
    nextRotationAt: null,
    currentVersion: 1,
    revision: 0,
    firstProtectedAt: null,
  };
  // AWS's policy lockout safety check: the caller must be able to PutKeyPolicy on the new key.
  if (policyText !== undefined && !bypassLockout) await checkLockout(ctx, key, policy);
  const material = createMaterial(ctx.deps.root, spec, keyId, 1);
  await ctx.deps.store.db
    .transaction()
    .execute((trx) =>
      insertKey(trx, key, { keyId, version: 1, sealed: material.sealed, publicKey: material.publicKey, createdAt: now, rotationType: null }, tags),
    );
  ctx.audit.keyArn = keyMetadata(key).Arn as string;
  return { KeyMetadata: keyMetadata(key) };
});
