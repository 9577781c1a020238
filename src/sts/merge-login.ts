/**
 * Linking a login that was used before (docs/identity.md, "Linking a login
 * that was used before"): the first sight of a login gives it a user id of
 * its own (identity-links.ts), so a login someone already used belongs to a
 * user. LinkWebIdentity may move it to the linking user only when nothing
 * would be lost or handed over:
 *
 * - the login is that user's only login (two users with several logins are
 *   never merged: its other logins would be left with a user nobody reaches);
 * - none of that user's master keys protects anything: a key is that user's
 *   when its policy binds it to the user id (template 3) or to this login's
 *   sub and issuer (templates 1 and 2); it protects something when it has
 *   made a ciphertext: kms_keys.first_protected_at, written durably before
 *   the custodian answers the key's first Encrypt, GenerateDataKey*,
 *   GenerateDataKeyPair*, or ReEncrypt to it (src/kms/keys.ts
 *   recordProtecting). Every ciphertext, so every wallet, needs one of those
 *   first;
 * - no key bound to that user is a signing or MAC key (anything but
 *   ENCRYPT_DECRYPT): what such a key holds (an address with funds, a
 *   verifier's trust) shows in no ciphertext, so it is never retired.
 *
 * Then each of those keys is scheduled for deletion (PendingDeletion: no
 * cryptographic use; the administrator can still cancel it within the
 * window), the fact is read once more (a first use that raced the check puts
 * the keys back and refuses; one after the scheduling is refused by the
 * custodian, whose write of the fact needs an Enabled key), and the login is
 * moved. Whoever holds the login's old sessions (tagged with the old user
 * id) can use no key with them: the old user's keys are pending deletion.
 */
import { keysWithPolicyContaining, protectingKeyIds } from '../storage/keys.repository.js';
import type { KmsKeyTable } from '../storage/tables.js';
import { identityLinksOfUser, moveIdentityLink } from '../storage/sts-identity-links.repository.js';
import { updateKeyAtomically } from '../kms/key-records.js';
import { DAY_MS } from '../kms/maintenance.js';
import type { KeyState } from '../kms/model.js';
import { policyLiteral } from '../wallet/master-key-policy.js';
import { AwsError } from '../aws/errors.js';
import type { StsContext } from './context.js';

/** The waiting period of a retired key (AWS's default): the administrator may cancel it meanwhile. */
export const RETIRED_KEY_WINDOW_DAYS = 30;

/** The stable error of a login whose user has data under a key, or several logins. */
export function loginInUse(message: string): AwsError {
  return new AwsError('LoginInUse', message, 409);
}

type Condition = Record<string, Record<string, unknown> | undefined>;

/** Whether an Allow statement of `policy` names the user `uid`, or the login (issuer, sub), by principal tag. */
function bindsTo(policy: string, uid: string, login: { issuer: string; subject: string }): boolean {
  let parsed: { Statement?: Array<{ Effect?: string; Condition?: Condition }> };
  try {
    parsed = JSON.parse(policy);
  } catch {
    return false;
  }
  const sub = policyLiteral(login.subject);
  const iss = policyLiteral(login.issuer);
  for (const s of Array.isArray(parsed.Statement) ? parsed.Statement : []) {
    if (s?.Effect !== 'Allow') continue;
    const eq = s.Condition?.StringEquals;
    if (!eq) continue;
    if (eq['aws:PrincipalTag/uid'] === uid) return true;
    if (eq['aws:PrincipalTag/sub'] === sub && (eq['aws:PrincipalTag/iss'] === undefined || eq['aws:PrincipalTag/iss'] === iss)) return true;
  }
  return false;
}

/** The keys bound to the user `uid` or the login, not pending deletion. */
async function keysOf(ctx: StsContext, db: StsContext['store']['db'], uid: string, login: { issuer: string; subject: string }): Promise<KmsKeyTable[]> {
  const candidates = await keysWithPolicyContaining(db, ctx.accountId, [JSON.stringify(uid), JSON.stringify(policyLiteral(login.subject))]);
  return candidates.filter((k) => bindsTo(k.policy, uid, login));
}

/** The first of `keys` that has made a ciphertext, as the store holds it now. */
async function anyUsed(db: StsContext['store']['db'], keys: readonly KmsKeyTable[]): Promise<string | undefined> {
  return (
    await protectingKeyIds(
      db,
      keys.map((k) => k.key_id),
    )
  )[0];
}

/**
 * Moves `login` from its user `from` to `to`, retiring `from`'s unused keys; refuses (LoginInUse) otherwise.
 * @returns the key ids scheduled for deletion.
 * @throws {AwsError} LoginInUse when the login is not its user's only one, or a key of that user was used;
 *   EntityAlreadyExists when the login changed user, or its user gained another login, meanwhile (the move is
 *   one statement that checks both).
 */
export async function mergeUsedLogin(
  ctx: StsContext,
  login: { issuer: string; subject: string },
  from: string,
  to: { uid: string; originSubject: string },
): Promise<string[]> {
  const db = ctx.store.db;
  const links = await identityLinksOfUser(db, from);
  if (links.length !== 1) {
    throw loginInUse(
      'The login of LinkedWebIdentityToken belongs to another user who has other login methods; users with several logins are never merged. Unlink its other logins first.',
    );
  }
  const keys = await keysOf(ctx, db, from, login);
  const refused = () =>
    loginInUse(
      "The login of LinkedWebIdentityToken has been used to protect data (a wallet or ciphertext under its user's master key); linking it would lose that data. Link a login that holds nothing.",
    );
  if ((await anyUsed(db, keys)) !== undefined) throw refused();
  // A key that signs (or MACs) holds something no ciphertext shows: an address with funds, a verifier's trust.
  // Only symmetric encryption keys that never made a ciphertext are retired; any other key bound to the user refuses.
  const signing = keys.find((k) => k.key_usage !== 'ENCRYPT_DECRYPT');
  if (signing) {
    throw loginInUse(
      `The login of LinkedWebIdentityToken has a ${signing.key_usage} key bound to its user; linking it would retire that key. Link a login that holds nothing.`,
    );
  }

  const now = ctx.info.now;
  const retired: Array<{ keyId: string; before: { keyState: string; deletionAt: number | null; pendingWindowDays: number | null } }> = [];
  const restore = async () => {
    for (const r of retired) {
      await updateKeyAtomically(db, r.keyId, (k) =>
        k.keyState === 'PendingDeletion' ? { ...k, keyState: r.before.keyState as KeyState, deletionAt: null, pendingWindowDays: null } : null,
      );
      ctx.keyChanged?.(r.keyId);
    }
  };
  try {
    for (const k of keys) {
      const stored = await updateKeyAtomically(db, k.key_id, (current) =>
        current.keyState === 'PendingDeletion'
          ? null
          : { ...current, keyState: 'PendingDeletion', deletionAt: now + RETIRED_KEY_WINDOW_DAYS * DAY_MS, pendingWindowDays: RETIRED_KEY_WINDOW_DAYS },
      );
      ctx.keyChanged?.(k.key_id);
      if (stored) retired.push({ keyId: k.key_id, before: { keyState: k.key_state, deletionAt: k.deletion_at, pendingWindowDays: k.pending_window_days } });
    }
    // A first use that raced the first check is in the store by now; a later one is refused (the keys are pending deletion).
    if ((await anyUsed(db, keys)) !== undefined) throw refused();
    if (!(await moveIdentityLink(db, login, from, to))) {
      throw new AwsError('EntityAlreadyExists', 'The login of LinkedWebIdentityToken changed user, or its user gained another login, meanwhile; retry.', 409);
    }
  } catch (e) {
    await restore();
    throw e;
  }
  return retired.map((r) => r.keyId);
}
