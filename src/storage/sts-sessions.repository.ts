/**
 * SQL for STS sessions (temporary credentials). The session token is stored
 * only as its SHA-256 and the secret only sealed; both pass through untouched.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface SessionRow {
  sessionId: string;
  accessKeyId: string;
  /** Lower-case hex SHA-256 of the session token. */
  tokenSha256: string;
  sealedSecret: Uint8Array;
  roleName: string;
  roleId: string;
  sessionName: string;
  principalArn: string;
  tags: Record<string, string>;
  issuer: string;
  subject: string;
  audience: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | undefined;
  /** The token's `amr` (how the user logged in); undefined when the token had none. */
  authMethods?: string[] | undefined;
  /** The token's `auth_time` in milliseconds; undefined when it had none. */
  authTime?: number | undefined;
}

function authMethodsOf(text: string | null): string[] | undefined {
  if (text === null) return undefined;
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

function toSession(r: Tables['sts_sessions']): SessionRow {
  const parsed: unknown = JSON.parse(r.tags);
  const tags: Record<string, string> = {};
  if (parsed && typeof parsed === 'object') for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') tags[k] = v;
  return {
    sessionId: r.session_id,
    accessKeyId: r.access_key_id,
    tokenSha256: r.token_sha256,
    sealedSecret: r.sealed_secret instanceof Uint8Array ? r.sealed_secret : new Uint8Array(r.sealed_secret),
    roleName: r.role_name,
    roleId: r.role_id,
    sessionName: r.session_name,
    principalArn: r.principal_arn,
    tags,
    issuer: r.issuer,
    subject: r.subject,
    audience: r.audience,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    revokedAt: r.revoked_at === null ? undefined : Number(r.revoked_at),
    authMethods: authMethodsOf(r.auth_methods),
    authTime: r.auth_time === null ? undefined : Number(r.auth_time),
  };
}

export async function insertSession(db: Db, s: SessionRow): Promise<void> {
  await db
    .insertInto('sts_sessions')
    .values({
      session_id: s.sessionId,
      access_key_id: s.accessKeyId,
      token_sha256: s.tokenSha256,
      sealed_secret: s.sealedSecret,
      role_name: s.roleName,
      role_id: s.roleId,
      session_name: s.sessionName,
      principal_arn: s.principalArn,
      tags: JSON.stringify(s.tags),
      issuer: s.issuer,
      subject: s.subject,
      audience: s.audience,
      created_at: s.createdAt,
      expires_at: s.expiresAt,
      revoked_at: s.revokedAt ?? null,
      auth_methods: s.authMethods === undefined ? null : JSON.stringify(s.authMethods),
      auth_time: s.authTime ?? null,
    })
    .execute();
}

export async function findSessionByAccessKey(db: Db, accessKeyId: string): Promise<SessionRow | undefined> {
  const r = await db.selectFrom('sts_sessions').selectAll().where('access_key_id', '=', accessKeyId).executeTakeFirst();
  return r ? toSession(r) : undefined;
}

/** Access key ids of a role's sessions that have not expired (at most `limit`). */
export async function liveRoleSessionKeys(db: Db, roleName: string, now: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('sts_sessions')
    .select('access_key_id')
    .where('role_name', '=', roleName)
    .where('expires_at', '>', now)
    .limit(limit)
    .execute();
  return rows.map((r) => r.access_key_id);
}

/** Marks the unexpired, unrevoked sessions of one web identity revoked; returns their access key ids. */
export async function revokeSubjectSessions(db: Kysely<Tables>, issuer: string, subject: string, now: number): Promise<string[]> {
  return db.transaction().execute(async (tx) => {
    const rows = await tx
      .selectFrom('sts_sessions')
      .select('access_key_id')
      .where('issuer', '=', issuer)
      .where('subject', '=', subject)
      .where('expires_at', '>', now)
      .where('revoked_at', 'is', null)
      .execute();
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.access_key_id);
    await tx.updateTable('sts_sessions').set({ revoked_at: now }).where('access_key_id', 'in', ids).execute();
    return ids;
  });
}

/** Deletes sessions that expired before `before`; returns how many. */
export async function purgeExpiredSessions(db: Db, before: number): Promise<number> {
  const r = await db.deleteFrom('sts_sessions').where('expires_at', '<', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}
