/**
 * The role end users' devices assume in the embedded default:
 * `symbolon-wallet-users`. Its trust policy accepts any token the identity
 * module trusts (the verifier has already refused every other issuer and
 * audience before a trust policy is read), for `sts:AssumeRoleWithWebIdentity`
 * only. Its one inline policy lets a session Encrypt, Decrypt and
 * GenerateDataKey only with the encryption context `{ sub: <its own sub tag> }`
 * (`${aws:PrincipalTag/sub}`), and DescribeKey and GetKeyPolicy, with which
 * the device checks the master key the wallet service names before it
 * encrypts under it (@symbolon/sdk verifyMasterKey): the identity-policy half
 * of what a user's master key needs, whose key policy
 * (@symbolon/sdk/master-key-policy) adds "only the key's own user".
 *
 * Linked logins (docs/identity.md): the policy also allows the context
 * `{ uid: <its own uid tag> }` (template-3 master keys) and `{ sub: <its osub
 * tag> }` (the pre-linking context of the user's older ciphertexts; STS sets
 * `osub` to the subject the user id was created for, so a session of a
 * linked login may use the contexts its user's first login made).
 *
 * A store provisioned with an earlier version of the policy (1: without the
 * two read actions; 2: without the uid and osub contexts) is brought to this
 * one once, at start-up — only if the policy is still exactly as provisioned.
 *
 * Created once per store, at start-up, with the same SQL CreateRole and
 * PutRolePolicy write: an operator who edits or deletes the role is not
 * overridden at the next start. A deployment can make its own role through the
 * IAM API instead and give devices its ARN.
 */
import type { Store } from '../../storage/database.js';
import { findRole, getRolePolicy, insertRole, putRolePolicy } from '../../storage/iam-roles.repository.js';
import { getMeta, putMetaIfAbsent } from '../../storage/meta.repository.js';
import { utf8Bytes } from '../../crypto/bytes.js';
import { newRoleId } from '../../aws/ids.js';

export const WALLET_USERS_ROLE = 'symbolon-wallet-users';
export const WALLET_USERS_POLICY = 'use-own-master-key';
const PROVISIONED = 'sts_wallet_users_role_v1';
const UPGRADED_V2 = 'sts_wallet_users_role_v2';
const UPGRADED_V3 = 'sts_wallet_users_role_v3';

/** The ARN devices pass to AssumeRoleWithWebIdentity. */
export function walletUsersRoleArn(accountId: string): string {
  return `arn:aws:iam::${accountId}:role/${WALLET_USERS_ROLE}`;
}

/** Any web identity the custodian trusts, for this one action. */
export function walletUsersTrustPolicy(): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'AnyTrustedIssuer', Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRoleWithWebIdentity' }],
  });
}

const useKeysUnderOwnSub = (accountId: string) => ({
  Sid: 'UseKeysUnderOwnSub',
  Effect: 'Allow',
  Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
  Resource: `arn:aws:kms:*:${accountId}:key/*`,
  Condition: { StringEquals: { 'kms:EncryptionContext:sub': '${aws:PrincipalTag/sub}' } },
});

/** The policy as first provisioned (before the read actions): upgraded when found unchanged. */
export function walletUsersRolePolicyV1(accountId: string): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: [useKeysUnderOwnSub(accountId)] });
}

const inspectKeys = (accountId: string) => ({
  Sid: 'InspectKeys',
  Effect: 'Allow',
  Action: ['kms:DescribeKey', 'kms:GetKeyPolicy'],
  Resource: `arn:aws:kms:*:${accountId}:key/*`,
});

/** The policy's second version (before linked logins): upgraded when found unchanged. */
export function walletUsersRolePolicyV2(accountId: string): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: [useKeysUnderOwnSub(accountId), inspectKeys(accountId)] });
}

/**
 * What a session may do: use keys only under its own `sub`, its user's `uid` or its user's
 * pre-linking sub (`osub`) as encryption context; read a key's description and policy (each
 * key's policy says whose).
 */
export function walletUsersRolePolicy(accountId: string): string {
  const use = (sid: string, condition: Record<string, string>) => ({
    Sid: sid,
    Effect: 'Allow',
    Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
    Resource: `arn:aws:kms:*:${accountId}:key/*`,
    Condition: { StringEquals: condition },
  });
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      useKeysUnderOwnSub(accountId),
      use('UseKeysUnderOwnUserId', { 'kms:EncryptionContext:uid': '${aws:PrincipalTag/uid}' }),
      use('UseKeysUnderOwnPreLinkingSub', { 'kms:EncryptionContext:sub': '${aws:PrincipalTag/osub}' }),
      inspectKeys(accountId),
    ],
  });
}

/**
 * Brings a role provisioned with walletUsersRolePolicyV1 to the current policy,
 * once per store, and only if its policy is still exactly that text (an
 * operator's own edit is left alone).
 * @returns true when the policy was replaced now.
 */
async function upgradeWalletUsersRolePolicy(store: Store, accountId: string, now: number): Promise<boolean> {
  if ((await getMeta(store.db, UPGRADED_V3)) !== undefined) return false;
  const current = await getRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY);
  // A store that passed the v2 upgrade with an operator's own policy keeps it: only the exact earlier texts are replaced.
  const upgrade =
    current === walletUsersRolePolicyV2(accountId) || ((await getMeta(store.db, UPGRADED_V2)) === undefined && current === walletUsersRolePolicyV1(accountId));
  if (upgrade) await putRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY, walletUsersRolePolicy(accountId), now);
  await putMetaIfAbsent(store.db, UPGRADED_V2, utf8Bytes(String(now)));
  await putMetaIfAbsent(store.db, UPGRADED_V3, utf8Bytes(String(now)));
  return upgrade;
}

/**
 * Creates the role and its policy unless this store made them before.
 * @returns true when they were created now.
 * @throws {Error} when the store fails.
 */
export async function provisionWalletUsersRole(options: { store: Store; accountId: string; now: number }): Promise<boolean> {
  const { store, accountId, now } = options;
  if ((await getMeta(store.db, PROVISIONED)) !== undefined) {
    await upgradeWalletUsersRolePolicy(store, accountId, now);
    return false;
  }
  if (await findRole(store.db, WALLET_USERS_ROLE)) {
    await putMetaIfAbsent(store.db, PROVISIONED, utf8Bytes(String(now)));
    await putMetaIfAbsent(store.db, UPGRADED_V2, utf8Bytes(String(now)));
    await putMetaIfAbsent(store.db, UPGRADED_V3, utf8Bytes(String(now)));
    return false;
  }
  const created = await insertRole(
    store.db,
    {
      roleName: WALLET_USERS_ROLE,
      roleId: newRoleId(),
      path: '/',
      arn: walletUsersRoleArn(accountId),
      trustPolicy: walletUsersTrustPolicy(),
      description: "End users' devices: envelope-wallet data keys under the user's own master key",
      maxSessionDuration: 3600,
      createdAt: now,
    },
    [['symbolon:role', 'wallet-users']],
  );
  // Another process may have won the race; its policy is the same.
  if (created) await putRolePolicy(store.db, WALLET_USERS_ROLE, WALLET_USERS_POLICY, walletUsersRolePolicy(accountId), now);
  await putMetaIfAbsent(store.db, PROVISIONED, utf8Bytes(String(now)));
  await putMetaIfAbsent(store.db, UPGRADED_V2, utf8Bytes(String(now)));
  await putMetaIfAbsent(store.db, UPGRADED_V3, utf8Bytes(String(now)));
  return created;
}
