/**
 * Creates each user's master key in the custodian, over the KMS API with the
 * AWS SDK and the wallet service's own credentials — the same wire as any other
 * client, so the custodian can be this process tree or a remote deployment
 * (or AWS KMS itself). The key is SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT with the
 * policy of master-key-policy.ts, created with BypassPolicyLockoutSafetyCheck
 * because, on purpose, that policy does not let its creator change it.
 */
import { CreateKeyCommand, KMSClient, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { masterKeyPolicy } from './master-key-policy.js';
import { WalletError } from './errors.js';
import { countWebIdentityUserLogins, CustodianUserIdError, type CustodianUser, getWebIdentityUserOf } from './custodian-users.js';

/** The custodian as the wallet service uses it. */
export interface MasterKeyCustodian {
  /**
   * Creates a user's master key.
   * @returns the key id.
   * @throws {WalletError} custodian_unavailable when the custodian does not answer or refuses.
   */
  create(user: { userId: string; issuer: string; sub: string; uid?: string | undefined }): Promise<string>;
  /**
   * The custodian's user (STS `uid`, and the subject STS tags its sessions `osub` with) of a verified
   * login (src/wallet/custodian-users.ts).
   * Absent, or answering undefined: the custodian has no linked logins (users stay keyed by (issuer, sub)).
   * @throws {WalletError} custodian_unavailable when the custodian does not answer or refuses.
   */
  userOf?(login: { issuer: string; sub: string }): Promise<CustodianUser | undefined>;
  /**
   * How many logins the custodian links to the user `uid`: 0 when its last login was linked into another
   * user (merged away). Absent, or answering undefined: the custodian cannot tell.
   * @throws {WalletError} custodian_unavailable when the custodian does not answer.
   */
  loginCountOf?(uid: string): Promise<number | undefined>;
  /**
   * Schedules deletion of a key that lost a creation race (best effort: the key was never used).
   * @throws {WalletError} custodian_unavailable when the custodian does not answer or refuses.
   */
  discard(keyId: string): Promise<void>;
  /** Releases the HTTP client. */
  close(): void;
}

export interface KmsMasterKeysOptions {
  /** The custodian's KMS endpoint, resolved at each call (it may be known only once the server listens). */
  endpoint: () => string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /**
   * The custodian's account id (the account root is the policy's principal for user sessions);
   * unset: the account of the wallet service's principal ARN (`--role wallet`), which is the custodian's.
   */
  accountId?: string | undefined;
  /** The principal the credentials authenticate as; resolved when a key is created. */
  walletServicePrincipalArn: () => Promise<string>;
  /** Per-request timeout (default 5 s). */
  timeoutMs?: number;
  /** Pin split-share releases of new keys to this signer measurement (SYMBOLON_SIGNER_IMAGE_SHA384). */
  signerImageSha384?: string;
}

/** The tag that names the wallet user a master key belongs to (ids only: no sub, no email). */
export const USER_TAG = 'symbolon:wallet-user';

function unavailable(what: string, e: unknown): WalletError {
  const name = e instanceof Error ? e.name : 'Error';
  return new WalletError('custodian_unavailable', `The key custodian could not ${what} (${name.slice(0, 64)}); try again later.`, { cause: e });
}

/** The account of an IAM ARN (`arn:aws:iam::ACCOUNT:…`); masterKeyPolicy refuses anything else. */
function accountOf(arn: string): string {
  return /^arn:aws:iam::(\d{12}):/.exec(arn)?.[1] ?? '';
}

/**
 * A MasterKeyCustodian speaking the KMS API.
 * @throws {RangeError} when the account id is malformed.
 */
export function kmsMasterKeys(options: KmsMasterKeysOptions): MasterKeyCustodian {
  if (options.accountId !== undefined && !/^\d{12}$/.test(options.accountId)) throw new RangeError('accountId must be 12 digits');
  const timeoutMs = options.timeoutMs ?? 5_000;
  let client: KMSClient | undefined;
  let clientEndpoint: string | undefined;
  let noLinkedLogins = false;

  function kms(): KMSClient {
    const endpoint = options.endpoint();
    if (!client || clientEndpoint !== endpoint) {
      client?.destroy();
      client = new KMSClient({
        endpoint,
        region: options.region,
        credentials: options.credentials,
        maxAttempts: 2,
        requestHandler: { requestTimeout: timeoutMs, connectionTimeout: timeoutMs },
      });
      clientEndpoint = endpoint;
    }
    return client;
  }

  return {
    async create({ userId, issuer, sub, uid }) {
      let policy: string;
      let client: KMSClient;
      try {
        const walletServicePrincipalArn = await options.walletServicePrincipalArn();
        policy = masterKeyPolicy({
          accountId: options.accountId ?? accountOf(walletServicePrincipalArn),
          // Template 3 for a user the custodian knows by uid; the creating login's sub stays an allowed
          // context, so the device's `{ sub }` contexts keep working (docs/wallet-api.md, "Template 3").
          ...(uid !== undefined ? { uid, sub } : { sub, issuer }),
          walletServicePrincipalArn,
          ...(options.signerImageSha384 ? { signerImageSha384: options.signerImageSha384 } : {}),
        });
        client = kms();
      } catch (e) {
        if (e instanceof WalletError) throw e;
        throw unavailable('be reached', e);
      }
      try {
        const out = await client.send(
          new CreateKeyCommand({
            KeySpec: 'SYMMETRIC_DEFAULT',
            KeyUsage: 'ENCRYPT_DECRYPT',
            Description: `Symbolon wallet master key of user ${userId}`,
            Policy: policy,
            BypassPolicyLockoutSafetyCheck: true,
            Tags: [{ TagKey: USER_TAG, TagValue: userId }],
          }),
        );
        const keyId = out.KeyMetadata?.KeyId;
        if (!keyId) throw new Error('CreateKey returned no KeyId');
        return keyId;
      } catch (e) {
        throw unavailable('create the master key', e);
      }
    },
    async userOf({ issuer, sub }) {
      if (noLinkedLogins) return undefined;
      try {
        return await getWebIdentityUserOf(
          { endpoint: options.endpoint(), region: options.region, credentials: options.credentials, timeoutMs },
          { issuer, subject: sub },
        );
      } catch (e) {
        // A custodian without linked logins (AWS itself) does not know the action.
        if (e instanceof CustodianUserIdError && (e.code === 'InvalidAction' || e.code === 'UnknownOperationException')) {
          noLinkedLogins = true;
          return undefined;
        }
        throw unavailable("tell the login's user id", e);
      }
    },
    async loginCountOf(uid) {
      if (noLinkedLogins) return undefined;
      try {
        return await countWebIdentityUserLogins({ endpoint: options.endpoint(), region: options.region, credentials: options.credentials, timeoutMs }, uid);
      } catch (e) {
        // A custodian from before GetWebIdentityUser took UserId cannot tell: the caller keeps the safe answer.
        if (e instanceof CustodianUserIdError && e.status < 500) return undefined;
        throw unavailable("tell a user's logins", e);
      }
    },
    async discard(keyId) {
      try {
        await kms().send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
      } catch (e) {
        throw unavailable('schedule deletion of an unused master key', e);
      }
    },
    close() {
      client?.destroy();
      client = undefined;
    },
  };
}
