/**
 * SQL for kms_grants: insert (a name already used on the key with the same
 * parameters yields the existing grant instead), look-up by id, the pages of
 * ListGrants and ListRetirableGrants (ordered by creation time, then id), and
 * delete. Plain functions taking the db handle first; one mapper between
 * rows and records.
 */
import type { Kysely, Transaction } from 'kysely';
import type { KmsGrantTable, Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

/** A grant's encryption-context constraint (at most one of the two, as AWS accepts). */
export interface GrantConstraints {
  encryptionContextSubset?: Record<string, string>;
  encryptionContextEquals?: Record<string, string>;
}

export interface Grant {
  grantId: string;
  keyId: string;
  name: string | null;
  granteePrincipal: string;
  retiringPrincipal: string | null;
  issuingAccount: string;
  operations: string[];
  constraints: GrantConstraints | null;
  /** SHA-256 of the canonical parameters (grantee, retiring principal, operations, constraints). */
  paramsSha256: string;
  createdAt: number;
}

/** Where a page starts: after this (created_at, grant_id). */
export interface GrantCursor {
  createdAt: number;
  grantId: string;
}

function toGrant(r: KmsGrantTable): Grant {
  return {
    grantId: r.grant_id,
    keyId: r.key_id,
    name: r.name,
    granteePrincipal: r.grantee_principal,
    retiringPrincipal: r.retiring_principal,
    issuingAccount: r.issuing_account,
    operations: JSON.parse(r.operations) as string[],
    constraints: r.constraints === null ? null : (JSON.parse(r.constraints) as GrantConstraints),
    paramsSha256: r.params_sha256,
    createdAt: Number(r.created_at),
  };
}

function toRow(g: Grant): KmsGrantTable {
  return {
    grant_id: g.grantId,
    key_id: g.keyId,
    name: g.name,
    grantee_principal: g.granteePrincipal,
    retiring_principal: g.retiringPrincipal,
    issuing_account: g.issuingAccount,
    operations: JSON.stringify(g.operations),
    constraints: g.constraints === null ? null : JSON.stringify(g.constraints),
    params_sha256: g.paramsSha256,
    created_at: g.createdAt,
  };
}

export async function findGrant(db: Db, grantId: string): Promise<Grant | undefined> {
  const row = await db.selectFrom('kms_grants').selectAll().where('grant_id', '=', grantId).executeTakeFirst();
  return row ? toGrant(row) : undefined;
}

/** The grant of `keyId` with this name and these parameters, if any. */
export async function findNamedGrant(db: Db, keyId: string, name: string, paramsSha256: string): Promise<Grant | undefined> {
  const row = await db
    .selectFrom('kms_grants')
    .selectAll()
    .where('key_id', '=', keyId)
    .where('name', '=', name)
    .where('params_sha256', '=', paramsSha256)
    .executeTakeFirst();
  return row ? toGrant(row) : undefined;
}

/**
 * Inserts a grant. When the key already has a grant of that name and
 * parameters (an earlier or concurrent CreateGrant), nothing is inserted and
 * that grant is returned; otherwise the inserted grant.
 */
export async function insertGrant(db: Db, grant: Grant): Promise<Grant> {
  const result = await db
    .insertInto('kms_grants')
    .values(toRow(grant))
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  if (Number(result.numInsertedOrUpdatedRows ?? 0n) === 1) return grant;
  const existing = grant.name === null ? undefined : await findNamedGrant(db, grant.keyId, grant.name, grant.paramsSha256);
  if (!existing) throw new Error('kms_grants: insert conflicted on the grant id');
  return existing;
}

/** Every grant of one key (the authorizer's view; a key has few). */
export async function grantsOfKey(db: Db, keyId: string): Promise<Grant[]> {
  const rows = await db.selectFrom('kms_grants').selectAll().where('key_id', '=', keyId).orderBy('created_at').orderBy('grant_id').execute();
  return rows.map(toGrant);
}

/** One page of a key's grants, optionally only one grant id or one grantee. */
export async function listGrants(
  db: Db,
  options: { keyId: string; grantId?: string | undefined; granteePrincipal?: string | undefined; after?: GrantCursor | undefined; limit: number },
): Promise<Grant[]> {
  let q = db.selectFrom('kms_grants').selectAll().where('key_id', '=', options.keyId);
  if (options.grantId !== undefined) q = q.where('grant_id', '=', options.grantId);
  if (options.granteePrincipal !== undefined) q = q.where('grantee_principal', '=', options.granteePrincipal);
  const after = options.after;
  if (after)
    q = q.where((eb) => eb.or([eb('created_at', '>', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('grant_id', '>', after.grantId)])]));
  const rows = await q.orderBy('created_at').orderBy('grant_id').limit(options.limit).execute();
  return rows.map(toGrant);
}

/** One page of the grants, on any key, that name `retiringPrincipal` as their retiring principal. */
export async function listRetirableGrants(db: Db, options: { retiringPrincipal: string; after?: GrantCursor | undefined; limit: number }): Promise<Grant[]> {
  let q = db.selectFrom('kms_grants').selectAll().where('retiring_principal', '=', options.retiringPrincipal);
  const after = options.after;
  if (after)
    q = q.where((eb) => eb.or([eb('created_at', '>', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('grant_id', '>', after.grantId)])]));
  const rows = await q.orderBy('created_at').orderBy('grant_id').limit(options.limit).execute();
  return rows.map(toGrant);
}

/** Deletes a grant of a key; true when it existed. */
export async function deleteGrant(db: Db, keyId: string, grantId: string): Promise<boolean> {
  const r = await db.deleteFrom('kms_grants').where('key_id', '=', keyId).where('grant_id', '=', grantId).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}
