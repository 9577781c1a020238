/**
 * SQL for the built-in issuer's tables: identity_subjects,
 * identity_login_codes and identity_refresh_tokens. Codes and refresh tokens
 * arrive here already hashed; nothing in this file sees them in the clear.
 * State changes that must happen once (consuming a code, rotating a refresh
 * token) are single conditional UPDATEs, so two racing requests cannot both win.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export type LoginCodeState = 'pending' | 'used' | 'superseded' | 'locked' | 'failed';

export interface LoginCodeRow {
  codeId: string;
  emailKey: string;
  ipKey: string;
  codeHash: Uint8Array;
  state: LoginCodeState;
  attempts: number;
  createdAt: number;
  expiresAt: number;
}

export interface RefreshTokenRow {
  tokenHash: string;
  familyId: string;
  sub: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  revokedAt: number | null;
  /** The `amr` of the login that started the family; null for a family from before passkeys (an email code). */
  amr: string[] | null;
  /** When that login happened (ms); null for a family from before passkeys. */
  authTime: number | null;
}

function stringArray(text: string | null): string[] | null {
  if (text === null) return null;
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null;
}

// ---- subjects ----

export async function findSubjectByEmail(db: Db, email: string): Promise<string | undefined> {
  const r = await db.selectFrom('identity_subjects').select('sub').where('email', '=', email).executeTakeFirst();
  return r?.sub;
}

export async function findSubjectEmail(db: Db, sub: string): Promise<string | undefined> {
  const r = await db.selectFrom('identity_subjects').select('email').where('sub', '=', sub).executeTakeFirst();
  return r?.email;
}

/** Inserts (email → sub) unless the email has one; returns the stored sub (first writer wins across processes). */
export async function putSubjectIfAbsent(db: Db, email: string, sub: string, createdAt: number): Promise<string> {
  await db
    .insertInto('identity_subjects')
    .values({ sub, email, created_at: createdAt })
    .onConflict((oc) => oc.column('email').doNothing())
    .execute();
  return (await findSubjectByEmail(db, email))!;
}

// ---- login codes ----

export async function insertLoginCode(db: Db, c: LoginCodeRow): Promise<void> {
  await db
    .insertInto('identity_login_codes')
    .values({
      code_id: c.codeId,
      email_key: c.emailKey,
      ip_key: c.ipKey,
      code_hash: c.codeHash,
      state: c.state,
      attempts: c.attempts,
      created_at: c.createdAt,
      expires_at: c.expiresAt,
    })
    .execute();
}

/** Codes issued for this email (or from this IP) since `since`, oldest first: what the rate limits count. */
export async function codeTimesSince(db: Db, by: { emailKey: string } | { ipKey: string }, since: number): Promise<number[]> {
  let q = db.selectFrom('identity_login_codes').select('created_at').where('created_at', '>', since);
  q = 'emailKey' in by ? q.where('email_key', '=', by.emailKey) : q.where('ip_key', '=', by.ipKey);
  const rows = await q.orderBy('created_at', 'asc').execute();
  return rows.map((r) => Number(r.created_at));
}

/** Marks every pending code of this email superseded (a new code replaces them). */
export async function supersedePendingCodes(db: Db, emailKey: string): Promise<void> {
  await db.updateTable('identity_login_codes').set({ state: 'superseded' }).where('email_key', '=', emailKey).where('state', '=', 'pending').execute();
}

export async function setLoginCodeState(db: Db, codeId: string, state: LoginCodeState): Promise<void> {
  await db.updateTable('identity_login_codes').set({ state }).where('code_id', '=', codeId).execute();
}

/** The newest code of this email, whatever its state. */
export async function latestLoginCode(db: Db, emailKey: string): Promise<LoginCodeRow | undefined> {
  const r = await db
    .selectFrom('identity_login_codes')
    .selectAll()
    .where('email_key', '=', emailKey)
    .orderBy('created_at', 'desc')
    .orderBy('code_id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r
    ? {
        codeId: r.code_id,
        emailKey: r.email_key,
        ipKey: r.ip_key,
        codeHash: new Uint8Array(r.code_hash),
        state: r.state as LoginCodeState,
        attempts: Number(r.attempts),
        createdAt: Number(r.created_at),
        expiresAt: Number(r.expires_at),
      }
    : undefined;
}

/**
 * Counts one wrong attempt on a pending code and locks it at `maxAttempts`.
 * Returns the attempts now recorded, or undefined when the code was no longer pending.
 */
export async function recordWrongAttempt(db: Db, codeId: string, maxAttempts: number): Promise<number | undefined> {
  const r = await db
    .updateTable('identity_login_codes')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('code_id', '=', codeId)
    .where('state', '=', 'pending')
    .where('attempts', '<', maxAttempts)
    .returning('attempts')
    .executeTakeFirst();
  if (!r) return undefined;
  const attempts = Number(r.attempts);
  if (attempts >= maxAttempts) await setLoginCodeState(db, codeId, 'locked');
  return attempts;
}

/** Consumes a pending, unexpired code; true for exactly one caller. */
export async function consumeLoginCode(db: Db, codeId: string, now: number, maxAttempts: number): Promise<boolean> {
  const r = await db
    .updateTable('identity_login_codes')
    .set({ state: 'used' })
    .where('code_id', '=', codeId)
    .where('state', '=', 'pending')
    .where('attempts', '<', maxAttempts)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

// ---- refresh tokens ----

export async function insertRefreshToken(db: Db, t: RefreshTokenRow): Promise<void> {
  await db
    .insertInto('identity_refresh_tokens')
    .values({
      token_hash: t.tokenHash,
      family_id: t.familyId,
      sub: t.sub,
      created_at: t.createdAt,
      expires_at: t.expiresAt,
      used_at: t.usedAt,
      revoked_at: t.revokedAt,
      amr: t.amr === null ? null : JSON.stringify(t.amr),
      auth_time: t.authTime,
    })
    .execute();
}

export async function findRefreshToken(db: Db, tokenHash: string): Promise<RefreshTokenRow | undefined> {
  const r = await db.selectFrom('identity_refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  return r
    ? {
        tokenHash: r.token_hash,
        familyId: r.family_id,
        sub: r.sub,
        createdAt: Number(r.created_at),
        expiresAt: Number(r.expires_at),
        usedAt: r.used_at === null ? null : Number(r.used_at),
        revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
        amr: stringArray(r.amr),
        authTime: r.auth_time === null ? null : Number(r.auth_time),
      }
    : undefined;
}

/** Marks a live refresh token used; true for exactly one caller (the rotation winner). */
export async function useRefreshToken(db: Db, tokenHash: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('identity_refresh_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Revokes every token of a family (reuse of a rotated token was detected). */
export async function revokeRefreshFamily(db: Db, familyId: string, now: number): Promise<number> {
  const r = await db
    .updateTable('identity_refresh_tokens')
    .set({ revoked_at: now })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Deletes codes created before `codesBefore` and refresh tokens expired before `tokensBefore`. */
export async function purgeIdentityRows(db: Db, codesBefore: number, tokensBefore: number): Promise<void> {
  await db.deleteFrom('identity_login_codes').where('created_at', '<', codesBefore).execute();
  await db.deleteFrom('identity_refresh_tokens').where('expires_at', '<', tokensBefore).execute();
  await db.deleteFrom('identity_webauthn_challenges').where('expires_at', '<', tokensBefore).execute();
}
