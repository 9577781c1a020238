/**
 * Long-term access keys from the store: the secret is sealed under the root of
 * trust and opened only to build a verifier.
 */
import { findAccessKey } from '../storage/access-keys.repository.js';
import type { Store } from '../storage/database.js';
import { sealingContext, type RootOfTrust } from '../root/root-of-trust.js';
import { wipe } from '../crypto/bytes.js';
import type { CredentialSource, ResolvedCredential } from './authenticator.js';

export const ACCESS_KEY_SECRET_PURPOSE = 'iam/access-key-secret/v1';

/** Associated data binding a sealed secret to its access key id. */
export function accessKeySecretAad(accessKeyId: string): Uint8Array {
  return sealingContext(ACCESS_KEY_SECRET_PURPOSE, accessKeyId);
}

/** Principal tags for a user; the IAM module supplies the real lookup. */
export type TagLookup = (userName: string) => Promise<Record<string, string>>;

export class AccessKeySource implements CredentialSource {
  constructor(
    private readonly store: Store,
    private readonly root: RootOfTrust,
    private readonly accountId: string,
    private readonly tagsFor: TagLookup = async () => ({}),
  ) {}

  async lookup(accessKeyId: string, sessionToken: string | undefined): Promise<ResolvedCredential | undefined> {
    if (sessionToken !== undefined) return undefined;
    const row = await findAccessKey(this.store.db, accessKeyId);
    if (!row || row.status !== 'Active') return undefined;
    const secretBytes = this.root.open(row.sealedSecret, accessKeySecretAad(accessKeyId));
    let secretAccessKey: string;
    try {
      // SigV4 needs the secret as a string (HMAC key material for smithy's signer).
      secretAccessKey = Buffer.from(secretBytes).toString('utf8');
    } finally {
      wipe(secretBytes);
    }
    return {
      secretAccessKey,
      caller: {
        accountId: this.accountId,
        arn: row.principalArn,
        userName: row.userName,
        accessKeyId,
        tags: await this.tagsFor(row.userName),
      },
    };
  }
}
