/**
 * The one change an administrator may make to a wallet master key's policy
 * (docs/sts.md, "Linked logins"): template 2 (or 1) → template 3 for the
 * same user. A template-2 policy (@symbolon/sdk/master-key-policy)
 * grants PutKeyPolicy to nobody, so by AWS's rules nobody could move it to
 * the linked-logins template (nor a template-1 key, which its user cannot
 * even inspect, to one the device accepts). This exception lets the account root do
 * exactly that and nothing else: the current policy must be template 2
 * byte-for-byte as the builder makes it (for its own sub, issuer,
 * wallet-service principal and signer pin), and the new policy must be
 * template 3 with the same principal and pin, the uid the custodian's own
 * link table gives that (issuer, sub) (STS's GetWebIdentityUser gives the
 * login one if it has none; this check only reads), and that sub as the pre-linking context — so the key stays
 * bound to the same person and every old ciphertext still opens. The
 * change then goes through PutKeyPolicy's quorum rule like any other. The
 * root may also put a template-3 key's own policy again, unchanged (a
 * migration run again after a crash).
 */
import { canonicalJson, MASTER_KEY_POLICY_ID, MASTER_KEY_POLICY_ID_V3, masterKeyPolicy } from '@symbolon/sdk/master-key-policy';
import { findIdentityLink } from '../../storage/sts-identity-links.repository.js';
import type { Store } from '../../storage/database.js';

interface Statement {
  Sid?: unknown;
  Principal?: { AWS?: unknown };
  Condition?: Record<string, Record<string, unknown>>;
}

const sameJson = (a: string, b: string): boolean => {
  try {
    return JSON.stringify(canonicalJson(JSON.parse(a))) === JSON.stringify(canonicalJson(JSON.parse(b)));
  } catch {
    return false;
  }
};

function isTemplate3(policy: string): boolean {
  try {
    return (JSON.parse(policy) as { Id?: unknown })?.Id === MASTER_KEY_POLICY_ID_V3;
  } catch {
    return false;
  }
}

/** The first template's `Id`: template 2 without the statement that lets the user inspect the key. */
const MASTER_KEY_POLICY_ID_V1 = 'symbolon-wallet-master-key-1';

/** Template 1 as it was built: template 2's text without AllowInspectionByTheUsersRoleSessions, under its own Id. */
function asTemplate1(template2: string): string {
  const p = JSON.parse(template2) as { Id: string; Statement: Statement[] };
  return JSON.stringify({ ...p, Id: MASTER_KEY_POLICY_ID_V1, Statement: p.Statement.filter((s) => s.Sid !== 'AllowInspectionByTheUsersRoleSessions') });
}

/** The parameters of a template-1 or template-2 policy, when `policy` is exactly one (as the builder makes it). */
function template2Parameters(
  policy: string,
  accountId: string,
): { sub: string; issuer: string; walletArn: string; imageSha384: string | undefined } | undefined {
  let parsed: { Id?: unknown; Statement?: unknown };
  try {
    parsed = JSON.parse(policy) as { Id?: unknown; Statement?: unknown };
  } catch {
    return undefined;
  }
  const v1 = parsed?.Id === MASTER_KEY_POLICY_ID_V1;
  if ((parsed?.Id !== MASTER_KEY_POLICY_ID && !v1) || !Array.isArray(parsed.Statement)) return undefined;
  const bySid = (sid: string) => (parsed.Statement as Statement[]).find((s) => s?.Sid === sid);
  const tags = bySid('AllowUseByTheUsersRoleSessions')?.Condition?.StringEquals;
  const walletArn = bySid('AllowManagementByTheWalletService')?.Principal?.AWS;
  const pinned = bySid('DenySplitShareToAnotherSignerImage')?.Condition?.StringNotEqualsIgnoreCase?.['kms:RecipientAttestation:ImageSha384'];
  const sub = tags?.['aws:PrincipalTag/sub'];
  const issuer = tags?.['aws:PrincipalTag/iss'];
  if (typeof sub !== 'string' || typeof issuer !== 'string' || typeof walletArn !== 'string') return undefined;
  if (pinned !== undefined && typeof pinned !== 'string') return undefined;
  // The policy holds literals (`$` as `${$}`); the builder escapes them again.
  const p = { sub: sub.replaceAll('${$}', '$'), issuer: issuer.replaceAll('${$}', '$'), walletArn, imageSha384: pinned };
  try {
    const rebuilt = masterKeyPolicy({
      accountId,
      sub: p.sub,
      issuer: p.issuer,
      walletServicePrincipalArn: walletArn,
      ...(pinned !== undefined ? { signerImageSha384: pinned } : {}),
    });
    return sameJson(v1 ? asTemplate1(rebuilt) : rebuilt, policy) ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `callerArn` is the account root, `current` is a template-2 master-key policy and `next` is
 * exactly its template-3 migration for the user the custodian links its login to.
 * @throws {Error} when the store fails.
 */
export async function isMasterKeyLinkMigration(o: { store: Store; accountId: string; callerArn: string; current: string; next: string }): Promise<boolean> {
  if (o.callerArn !== `arn:aws:iam::${o.accountId}:root`) return false;
  // Putting a template-3 master key's own policy again changes nothing: a migration that is run again
  // (symbolon operator migrate-master-keys) after a crash between its PutKeyPolicy and its record.
  if (isTemplate3(o.current) && sameJson(o.current, o.next)) return true;
  const p = template2Parameters(o.current, o.accountId);
  if (!p) return false;
  // Read only: a refused request changes nothing. The administrator's GetWebIdentityUser gave the login its user id.
  const link = await findIdentityLink(o.store.db, p.issuer, p.sub);
  // A login linked into a user that started with another login: its old key is not handed to that user.
  if (!link || link.originSubject !== p.sub) return false;
  const expected = masterKeyPolicy({
    accountId: o.accountId,
    uid: link.uid,
    sub: p.sub,
    walletServicePrincipalArn: p.walletArn,
    ...(p.imageSha384 !== undefined ? { signerImageSha384: p.imageSha384 } : {}),
  });
  return sameJson(expected, o.next);
}
