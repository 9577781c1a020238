/**
 * How approved account-rule changes on keys are applied
 * (src/kms/policy/account-quorum.ts): PutKeyPolicy, CreateGrant, a key's own
 * PutQuorumRule, CreateAlias, UpdateAlias and DeleteAlias. Each re-validates the change
 * against the store as it is now — the key still exists, its policy is still
 * the one the change was proposed against, the alias still points where it
 * did — and writes in the decision's transaction; the key's cached record is
 * dropped after the commit.
 */
import { deleteAlias, findAlias, insertAliasIfAbsent, updateAlias } from '../../storage/keys.repository.js';
import { findKey } from '../key-records.js';
import { insertGrant } from '../../storage/grants.repository.js';
import * as q from '../../storage/iam-quorum.repository.js';
import type { KeyCache } from '../key-cache.js';
import { keyFamily } from '../aliases.js';
import { grantParamsSha256 } from '../grants.js';
import { validateKeyPolicy } from './key-policy.js';
import { grantFromPayload } from './quorum.js';
import { checkRule, sha256Hex } from './rule.js';
import { StaleChange, type ChangeApplier } from './account-quorum.js';
import { deleteSigningPolicy, findSigningPolicy, putSigningPolicy } from '../../storage/signing-policies.repository.js';
import { parseSigningPolicy } from '../../signing-policy/document.js';

export function kmsChangeAppliers(options: { keyCache: KeyCache; accountId: string }): Record<string, ChangeApplier> {
  const { keyCache, accountId } = options;
  const forgetKey = (change: { keyId: string | null }) => {
    if (change.keyId) keyCache.invalidate(change.keyId);
  };
  const liveKey = async (trx: Parameters<ChangeApplier['apply']>[0], keyId: string | null) => {
    const key = keyId ? await findKey(trx, keyId) : undefined;
    if (!key) throw new StaleChange('the key no longer exists');
    if (key.keyState === 'PendingDeletion') throw new StaleChange('the key is pending deletion');
    return key;
  };
  return {
    PutKeyPolicy: {
      protocol: 'kms',
      async apply(trx, change, payload) {
        const key = await liveKey(trx, change.keyId);
        if (sha256Hex(key.policy) !== change.baseSha256) throw new StaleChange('the key policy changed since the change was proposed');
        const policy = payload.Policy as string;
        validateKeyPolicy(policy);
        if (!(await q.setKeyPolicy(trx, key.keyId, policy, key.policy))) throw new StaleChange('the key policy changed since the change was proposed');
      },
      applied: forgetKey,
    },
    CreateGrant: {
      protocol: 'kms',
      async apply(trx, change, payload, now) {
        await liveKey(trx, change.keyId);
        const grant = grantFromPayload(change.keyId!, JSON.stringify(payload.Grant), accountId, grantParamsSha256, now);
        await insertGrant(trx, grant);
      },
      applied: forgetKey,
    },
    PutQuorumRule: {
      protocol: 'kms',
      async apply(trx, change, payload, now) {
        const key = await liveKey(trx, change.keyId);
        const rule = { approvers: payload.Approvers as string[], threshold: payload.Threshold as number, ttlSeconds: payload.ExpirationSeconds as number };
        await checkRule(trx, accountId, rule);
        if (!(await q.insertQuorumRuleIfAbsent(trx, { keyId: key.keyId, ...rule, updatedAt: now, updatedBy: change.proposerArn }))) {
          throw new StaleChange('the key has a quorum rule of its own now');
        }
      },
      applied: forgetKey,
    },
    PutSigningPolicy: {
      protocol: 'kms',
      async apply(trx, change, payload, now) {
        const key = await liveKey(trx, change.keyId);
        const stored = await findSigningPolicy(trx, key.keyId);
        if (sha256Hex(stored?.policy ?? '') !== change.baseSha256) throw new StaleChange('the signing policy changed since the change was proposed');
        const policy = payload.Policy as string;
        parseSigningPolicy(policy);
        if (!(await putSigningPolicy(trx, { keyId: key.keyId, policy, updatedAt: now, updatedBy: change.proposerArn }, stored?.policy))) {
          throw new StaleChange('the signing policy changed since the change was proposed');
        }
      },
      applied: forgetKey,
    },
    DeleteSigningPolicy: {
      protocol: 'kms',
      async apply(trx, change) {
        const key = await liveKey(trx, change.keyId);
        const stored = await findSigningPolicy(trx, key.keyId);
        if (!stored || sha256Hex(stored.policy) !== change.baseSha256 || !(await deleteSigningPolicy(trx, key.keyId, stored.policy))) {
          throw new StaleChange('the signing policy changed since the change was proposed');
        }
      },
      applied: forgetKey,
    },
    CreateAlias: {
      protocol: 'kms',
      async apply(trx, change, payload, now) {
        const key = await liveKey(trx, change.keyId);
        const aliasName = payload.AliasName as string;
        if (!(await insertAliasIfAbsent(trx, { aliasName, keyId: key.keyId, createdAt: now, updatedAt: now }))) {
          throw new StaleChange(`the alias ${aliasName} exists now`);
        }
      },
      applied: forgetKey,
    },
    DeleteAlias: {
      protocol: 'kms',
      async apply(trx, change, payload) {
        const aliasName = payload.AliasName as string;
        const alias = await findAlias(trx, aliasName);
        if (!alias || sha256Hex(alias.keyId) !== change.baseSha256) throw new StaleChange(`the alias ${aliasName} changed since the change was proposed`);
        await deleteAlias(trx, aliasName);
      },
      applied: forgetKey,
    },
    UpdateAlias: {
      protocol: 'kms',
      async apply(trx, change, payload, now) {
        const next = await liveKey(trx, change.keyId);
        const aliasName = payload.AliasName as string;
        const alias = await findAlias(trx, aliasName);
        if (!alias || sha256Hex(alias.keyId) !== change.baseSha256) throw new StaleChange(`the alias ${aliasName} changed since the change was proposed`);
        const current = await findKey(trx, alias.keyId);
        if (current && keyFamily(current) !== keyFamily(next)) throw new StaleChange('the keys are no longer of the same type and usage');
        await updateAlias(trx, aliasName, next.keyId, now);
        payload.PreviousKeyId = alias.keyId;
      },
      applied(change, payload) {
        forgetKey(change);
        if (typeof payload.PreviousKeyId === 'string') keyCache.invalidate(payload.PreviousKeyId);
      },
    },
  };
}
