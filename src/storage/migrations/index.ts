/**
 * The ordered list of migrations. Each entry is frozen once shipped; add new
 * files with a later timestamp and list them here.
 */
import type { Migration } from 'kysely';
import * as custodian from './2026-11-22T0000-custodian.js';
import * as iam from './2026-11-22T0100-iam.js';
import * as audit from './2026-11-22T0200-audit.js';
import * as identity from './2026-11-22T0300-identity.js';
import * as wallet from './2026-11-22T0400-wallet.js';
import * as sts from './2026-11-22T0500-sts.js';
import * as grants from './2026-12-07T0000-grants.js';
import * as walletActivity from './2026-12-07T0000-wallet-activity.js';
import * as walletAddressUnique from './2026-12-07T0100-wallet-address-unique.js';
import * as accountQuorum from './2026-12-07T0200-account-quorum.js';
import * as signingPolicies from './2026-12-07T0300-signing-policies.js';
import * as auditEth from './2026-12-07T0301-audit-eth.js';
import * as rpcTokens from './2026-12-07T0310-rpc-tokens.js';
import * as walletShareGeneration from './2026-12-07T0700-wallet-share-generation.js';
import * as webhooks from './2026-12-07T0900-webhooks.js';
import * as signingUsage from './2026-12-07T1000-signing-usage.js';
import * as shareGenerations from './2026-12-07T1100-share-generations.js';
import * as passkeys from './2026-12-07T1110-passkeys.js';
import * as walletSigningPolicy from './2026-12-07T1120-wallet-signing-policy.js';
import * as signingUsageSeq from './2026-12-07T1130-signing-usage-seq.js';
import * as auditReleasePurpose from './2026-12-07T1200-audit-release-purpose.js';
import * as walletActivityExport from './2026-12-07T1201-wallet-activity-export.js';
import * as stsIdentityLinks from './2026-12-07T1210-sts-identity-links.js';
import * as kmsKeysDue from './2026-12-07T1220-kms-keys-due.js';
import * as walletUserUid from './2026-12-07T1300-wallet-user-uid.js';
import * as walletDeviceShare from './2026-12-07T1310-wallet-device-share.js';
import * as walletShareCPasskey from './2026-12-07T1340-wallet-share-c-passkey.js';
import * as kmsKeysFirstProtected from './2026-12-07T1400-kms-keys-first-protected.js';
import * as walletUserContextSub from './2026-12-07T1410-wallet-user-context-sub.js';

export const migrations: Record<string, Migration> = {
  '2026-11-22T0000-custodian': custodian,
  '2026-11-22T0100-iam': iam,
  '2026-11-22T0200-audit': audit,
  '2026-11-22T0300-identity': identity,
  '2026-11-22T0400-wallet': wallet,
  '2026-11-22T0500-sts': sts,
  '2026-12-07T0000-grants': grants,
  '2026-12-07T0000-wallet-activity': walletActivity,
  '2026-12-07T0100-wallet-address-unique': walletAddressUnique,
  '2026-12-07T0200-account-quorum': accountQuorum,
  '2026-12-07T0300-signing-policies': signingPolicies,
  '2026-12-07T0301-audit-eth': auditEth,
  '2026-12-07T0310-rpc-tokens': rpcTokens,
  '2026-12-07T0700-wallet-share-generation': walletShareGeneration,
  '2026-12-07T0900-webhooks': webhooks,
  '2026-12-07T1000-signing-usage': signingUsage,
  '2026-12-07T1100-share-generations': shareGenerations,
  '2026-12-07T1110-passkeys': passkeys,
  '2026-12-07T1120-wallet-signing-policy': walletSigningPolicy,
  '2026-12-07T1130-signing-usage-seq': signingUsageSeq,
  '2026-12-07T1200-audit-release-purpose': auditReleasePurpose,
  '2026-12-07T1201-wallet-activity-export': walletActivityExport,
  '2026-12-07T1210-sts-identity-links': stsIdentityLinks,
  '2026-12-07T1220-kms-keys-due': kmsKeysDue,
  '2026-12-07T1300-wallet-user-uid': walletUserUid,
  '2026-12-07T1310-wallet-device-share': walletDeviceShare,
  '2026-12-07T1340-wallet-share-c-passkey': walletShareCPasskey,
  '2026-12-07T1400-kms-keys-first-protected': kmsKeysFirstProtected,
  '2026-12-07T1410-wallet-user-context-sub': walletUserContextSub,
};
