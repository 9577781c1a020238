/**
 * The wallet service's own principal in the embedded default: an IAM user
 * `symbolon-wallet-service` of the custodian's account, with one inline
 * policy that lets it create symmetric keys (and tag them) and nothing else.
 * Everything else it may do to a user's master key, the key's policy grants
 * (master-key-policy.ts) — manage, never use. Least privilege instead of the
 * account root: leaked wallet-service credentials open no key.
 *
 * Provisioned in the store at start-up when the wallet service and the
 * custodian share a process tree (the same SQL the IAM API writes), because
 * the embedded default must work with nothing configured; a deployment that
 * runs the roles apart creates the user through the IAM API and passes its
 * credentials in SYMBOLON_WALLET_KMS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY.
 * The user and its policy are created once: an operator who edits the policy,
 * or deactivates the key, is not overridden at the next start.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Store } from '../storage/database.js';
import { findAccessKey, insertAccessKey } from '../storage/access-keys.repository.js';
import { deleteUserAccessKey, findUser, getUserPolicy, insertUser, listUserAccessKeys, putUserPolicy } from '../storage/iam.repository.js';
import { getMeta, putMetaIfAbsent } from '../storage/meta.repository.js';
import { accessKeySecretAad } from '../aws/access-key-source.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import { utf8Bytes, wipe } from '../crypto/bytes.js';

export const WALLET_SERVICE_USER = 'symbolon-wallet-service';
export const WALLET_SERVICE_POLICY = 'symbolon-wallet-service';
/** symbolon_meta entry naming the access key the wallet service uses. */
const CHOSEN_KEY = 'wallet_service_access_key_id';

/** The inline identity policy of the wallet service's IAM user. */
export function walletServiceIdentityPolicy(): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'CreateUserMasterKeys',
        Effect: 'Allow',
        Action: 'kms:CreateKey',
        Resource: '*',
        Condition: { StringEquals: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT', 'kms:KeyUsage': 'ENCRYPT_DECRYPT' } },
      },
      { Sid: 'TagNewKeys', Effect: 'Allow', Action: 'kms:TagResource', Resource: '*' },
      // The custodian's user id of a verified login, to key wallet users by it (src/wallet/custodian-users.ts).
      { Sid: 'ReadLoginUserIds', Effect: 'Allow', Action: 'sts:GetWebIdentityUser', Resource: '*' },
    ],
  });
}

/** The policy as provisioned before linked logins: brought up to date at start-up unless an operator changed it. */
function previousIdentityPolicy(): string {
  const p = JSON.parse(walletServiceIdentityPolicy()) as { Statement: { Sid: string }[] };
  return JSON.stringify({ ...p, Statement: p.Statement.filter((st) => st.Sid !== 'ReadLoginUserIds') });
}

export interface WalletServiceCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  principalArn: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function iamId(prefix: string, length: number): string {
  let s = prefix;
  for (let i = 0; i < length; i++) s += BASE32[randomInt(BASE32.length)];
  return s;
}

/**
 * Makes sure the wallet service's IAM user and one access key exist, and
 * returns that key. Safe when several processes start at once: the key
 * recorded first in symbolon_meta wins and a process whose key lost deletes it.
 * @returns undefined when that key was deactivated or deleted (by an operator).
 * @throws {Error} when the store fails, or the stored secret does not open under this root.
 */
export async function provisionWalletServicePrincipal(options: {
  store: Store;
  root: RootOfTrust;
  accountId: string;
  now: number;
}): Promise<WalletServiceCredentials | undefined> {
  const { store, root, accountId, now } = options;
  const db = store.db;
  let user = await findUser(db, WALLET_SERVICE_USER);
  if (!user) {
    const arn = `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}`;
    const created = await insertUser(db, { userName: WALLET_SERVICE_USER, userId: iamId('AIDA', 17), path: '/', arn, createdAt: now }, [
      ['symbolon:role', 'wallet-service'],
    ]);
    if (created) await putUserPolicy(db, WALLET_SERVICE_USER, WALLET_SERVICE_POLICY, walletServiceIdentityPolicy(), now);
    user = (await findUser(db, WALLET_SERVICE_USER))!;
  } else if ((await getUserPolicy(db, WALLET_SERVICE_USER, WALLET_SERVICE_POLICY)) === previousIdentityPolicy()) {
    await putUserPolicy(db, WALLET_SERVICE_USER, WALLET_SERVICE_POLICY, walletServiceIdentityPolicy(), now);
  }

  // Which access key is the wallet service's is decided once, in symbolon_meta (first writer wins across processes).
  let chosen = await getMeta(db, CHOSEN_KEY);
  if (!chosen) {
    let candidate = (await listUserAccessKeys(db, user.userName))[0]?.accessKeyId;
    let ours: string | undefined;
    if (!candidate) {
      ours = iamId('AKIA', 16);
      const secret = utf8Bytes(randomBytes(30).toString('base64'));
      try {
        await insertAccessKey(db, {
          accessKeyId: ours,
          userName: user.userName,
          principalArn: user.arn,
          sealedSecret: root.seal(secret, accessKeySecretAad(ours)),
          status: 'Active',
          createdAt: now,
        });
      } finally {
        wipe(secret);
      }
      candidate = ours;
    }
    chosen = await putMetaIfAbsent(db, CHOSEN_KEY, utf8Bytes(candidate));
    // Another process chose first: ours was never handed out.
    if (ours !== undefined && Buffer.from(chosen).toString('utf8') !== ours) await deleteUserAccessKey(db, user.userName, ours);
  }
  const row = await findAccessKey(db, Buffer.from(chosen).toString('utf8'));
  // Deleted or deactivated by an operator: their decision stands.
  if (!row || row.status !== 'Active' || row.userName !== user.userName) return undefined;
  const opened = root.open(row.sealedSecret, accessKeySecretAad(row.accessKeyId));
  try {
    // SigV4 signs with the secret as a string (as AccessKeySource does).
    return { accessKeyId: row.accessKeyId, secretAccessKey: Buffer.from(opened).toString('utf8'), principalArn: row.principalArn };
  } finally {
    wipe(opened);
  }
}
