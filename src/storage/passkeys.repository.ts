/**
 * SQL for the built-in issuer's passkeys (identity_passkeys) and WebAuthn
 * challenges (identity_webauthn_challenges). Nothing here is secret: a
 * credential's public key, counter and flags, and challenges the browser sees.
 * Consuming a challenge and advancing a counter are single conditional
 * UPDATEs, so two racing requests cannot both win.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export type ChallengePurpose = 'register' | 'login' | 'step_up';

export interface PasskeyRow {
  /** base64url credential id. */
  credentialId: string;
  sub: string;
  /** COSE_Key bytes. */
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  backupEligible: boolean;
  backedUp: boolean;
  aaguid: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface ChallengeRow {
  challengeId: string;
  challenge: string;
  purpose: ChallengePurpose;
  sub: string | null;
  priorAmr: string[] | null;
  createdAt: number;
  expiresAt: number;
}

function toPasskey(r: Tables['identity_passkeys']): PasskeyRow {
  const t: unknown = JSON.parse(r.transports);
  return {
    credentialId: r.credential_id,
    sub: r.sub,
    publicKey: new Uint8Array(r.public_key),
    counter: Number(r.counter),
    transports: Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : [],
    backupEligible: Number(r.backup_eligible) === 1,
    backedUp: Number(r.backed_up) === 1,
    aaguid: r.aaguid,
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}

/** Inserts a credential; false when its id is already registered (to anyone). */
export async function insertPasskey(db: Db, p: PasskeyRow): Promise<boolean> {
  const r = await db
    .insertInto('identity_passkeys')
    .values({
      credential_id: p.credentialId,
      sub: p.sub,
      public_key: p.publicKey,
      counter: p.counter,
      transports: JSON.stringify(p.transports),
      backup_eligible: p.backupEligible ? 1 : 0,
      backed_up: p.backedUp ? 1 : 0,
      aaguid: p.aaguid,
      created_at: p.createdAt,
      last_used_at: p.lastUsedAt,
    })
    .onConflict((oc) => oc.column('credential_id').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
}

export async function findPasskey(db: Db, credentialId: string): Promise<PasskeyRow | undefined> {
  const r = await db.selectFrom('identity_passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
  return r ? toPasskey(r) : undefined;
}

export async function listPasskeys(db: Db, sub: string): Promise<PasskeyRow[]> {
  const rows = await db.selectFrom('identity_passkeys').selectAll().where('sub', '=', sub).orderBy('created_at', 'asc').execute();
  return rows.map(toPasskey);
}

/**
 * Records a verified assertion: the new counter, the backup state and the time.
 * Conditional on the counter read before verifying, so of two racing uses only one counts;
 * false for the loser.
 */
export async function recordPasskeyUse(
  db: Db,
  u: { credentialId: string; previousCounter: number; counter: number; backedUp: boolean; at: number },
): Promise<boolean> {
  const r = await db
    .updateTable('identity_passkeys')
    .set({ counter: u.counter, backed_up: u.backedUp ? 1 : 0, last_used_at: u.at })
    .where('credential_id', '=', u.credentialId)
    .where('counter', '=', u.previousCounter)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function insertChallenge(db: Db, c: ChallengeRow): Promise<void> {
  await db
    .insertInto('identity_webauthn_challenges')
    .values({
      challenge_id: c.challengeId,
      challenge: c.challenge,
      purpose: c.purpose,
      sub: c.sub,
      prior_amr: c.priorAmr === null ? null : JSON.stringify(c.priorAmr),
      created_at: c.createdAt,
      expires_at: c.expiresAt,
      used_at: null,
    })
    .execute();
}

/**
 * Consumes an unused, unexpired challenge of this purpose: exactly one caller gets it,
 * and it never works again (whatever the outcome of the ceremony).
 */
export async function consumeChallenge(db: Db, challengeId: string, purpose: ChallengePurpose, now: number): Promise<ChallengeRow | undefined> {
  const r = await db
    .updateTable('identity_webauthn_challenges')
    .set({ used_at: now })
    .where('challenge_id', '=', challengeId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) return undefined;
  const row = await db.selectFrom('identity_webauthn_challenges').selectAll().where('challenge_id', '=', challengeId).executeTakeFirstOrThrow();
  const amr: unknown = row.prior_amr === null ? null : JSON.parse(row.prior_amr);
  return {
    challengeId: row.challenge_id,
    challenge: row.challenge,
    purpose: row.purpose as ChallengePurpose,
    sub: row.sub,
    priorAmr: Array.isArray(amr) ? amr.filter((x): x is string => typeof x === 'string') : null,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}

/** Deletes one of a user's passkeys; false when the user has no such passkey. */
export async function deletePasskey(db: Db, sub: string, credentialId: string): Promise<boolean> {
  const r = await db.deleteFrom('identity_passkeys').where('credential_id', '=', credentialId).where('sub', '=', sub).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}
