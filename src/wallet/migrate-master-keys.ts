/**
 * `symbolon operator migrate-master-keys`: moves every wallet user's
 * template-1 or template-2 master key to its template-3 form (docs/wallet-api.md,
 * "Template 3"; docs/sts.md, "Existing users") and keys the user's row by the
 * custodian's user id. Run with the account root's credentials: the custodian
 * lets the root make exactly this change and nothing else
 * (src/kms/policy/master-key-migration.ts), under the key's or account's
 * quorum rule. The root cannot read a master key's policy, so the new policy
 * is built from what the old one must have said: the row's (issuer, sub), the
 * wallet service's principal and signer pin given to the command, and the
 * user id GetWebIdentityUser gives that login; the custodian accepts it only
 * if the current policy is exactly template 1 or 2 for those. The old `sub`
 * stays an allowed context, so every ciphertext made before opens, for every
 * login of the user. Rows record the template once known
 * (`master_key_template`): a migrated or newly created key is skipped, and a
 * run stopped anywhere is resumed by running it again (the root may put a
 * template-3 key's own policy again, unchanged). Logs user and key ids only.
 */
import { type KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { masterKeyPolicy } from '@symbolon/sdk/master-key-policy';
import type { Store } from '../storage/database.js';
import { listWalletUsersPage, setWalletUserMasterKeyTemplate, setWalletUserUidIfUnset, type WalletUserRow } from '../storage/wallet-users.repository.js';

export interface MasterKeyMigrationCounts {
  /** Users seen. */
  users: number;
  /** Keys moved to template 3 by this run. */
  migrated: number;
  /** Keys already template 3 (an earlier run, or created so). */
  alreadyTemplate3: number;
  /** Users without a master key yet (the wallet service creates a template-3 key at their next request). */
  withoutKey: number;
  /** Users whose key or row could not be migrated (refused: see the log; a custodian error: run again). */
  failed: number;
}

export interface MasterKeyMigrationOptions {
  store: Store;
  /** A KMS client with the account root's credentials. */
  kms: Pick<KMSClient, 'send'>;
  accountId: string;
  /** The wallet service's principal the old policies name (AllowManagementByTheWalletService). */
  walletServicePrincipalArn: string;
  /** The signer measurement the old policies pin, if they pin one (SYMBOLON_SIGNER_IMAGE_SHA384 when they were made). */
  signerImageSha384?: string | undefined;
  /** STS GetWebIdentityUser with the same credentials (src/wallet/custodian-users.ts). */
  userIdOf: (login: { issuer: string; subject: string }) => Promise<string>;
  /** One line per user not migrated, and per key migrated. */
  log?: (line: string) => void;
  pageSize?: number;
}

const errorName = (e: unknown): string => (e instanceof Error ? e.name : 'Error').slice(0, 64);

/**
 * @returns the counts; never throws for one user's failure (counted in `failed`).
 * @throws {Error} when the wallet store fails.
 */
export async function migrateMasterKeys(o: MasterKeyMigrationOptions): Promise<MasterKeyMigrationCounts> {
  const counts: MasterKeyMigrationCounts = { users: 0, migrated: 0, alreadyTemplate3: 0, withoutKey: 0, failed: 0 };
  const log = o.log ?? (() => {});
  const pageSize = o.pageSize ?? 100;

  async function stamp(user: WalletUserRow, uid: string): Promise<boolean> {
    if (user.uid === uid) return true;
    if (user.uid !== null || !(await setWalletUserUidIfUnset(o.store.db, user.id, uid))) {
      log(`user ${user.id}: its login now belongs to user id ${uid}, which another wallet user already has; row left as it is`);
      return false;
    }
    return true;
  }

  async function one(user: WalletUserRow): Promise<keyof MasterKeyMigrationCounts> {
    if (user.masterKeyId === null) return 'withoutKey';
    const keyId = user.masterKeyId;
    // Done: keyed by its user, whose key binds to it. (Its creating login may have left that user since: an unlink.)
    if (user.masterKeyTemplate === 3 && user.uid !== null) return 'alreadyTemplate3';
    const uid = await o.userIdOf({ issuer: user.issuer, subject: user.sub });
    if (user.masterKeyTemplate === 3) return (await stamp(user, uid)) ? 'alreadyTemplate3' : 'failed';
    const next = masterKeyPolicy({
      accountId: o.accountId,
      uid,
      sub: user.sub,
      walletServicePrincipalArn: o.walletServicePrincipalArn,
      ...(o.signerImageSha384 ? { signerImageSha384: o.signerImageSha384 } : {}),
    });
    try {
      await o.kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: next, BypassPolicyLockoutSafetyCheck: true }));
    } catch (e) {
      if (errorName(e) !== 'AccessDeniedException') throw e;
      log(
        `user ${user.id}: key ${keyId} refused: its policy is not template 1/2 for this login with this wallet-service principal and signer pin, its login was linked into another user, or a quorum rule wants approvals`,
      );
      return 'failed';
    }
    await setWalletUserMasterKeyTemplate(o.store.db, user.id, keyId, 3);
    log(`user ${user.id}: key ${keyId} is template 3 (user id ${uid})`);
    return (await stamp(user, uid)) ? 'migrated' : 'failed';
  }

  let after: string | undefined;
  for (;;) {
    const page = await listWalletUsersPage(o.store.db, after, pageSize);
    if (page.length === 0) break;
    for (const user of page) {
      counts.users++;
      try {
        counts[await one(user)]++;
      } catch (e) {
        log(`user ${user.id}: not migrated (${errorName(e)}); run again`);
        counts.failed++;
      }
    }
    after = page[page.length - 1]!.id;
  }
  return counts;
}
