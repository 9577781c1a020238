/**
 * SQL for kms_keys, kms_key_material, kms_aliases and kms_key_tags. Plain
 * functions taking the db handle first. A key is read and written as its row
 * (KmsKeyTable, src/storage/tables.ts): the mapper to the KMS's KeyRecord is
 * the service's (src/kms/key-records.ts), so this foundation knows nothing of
 * the KMS's types. Sealed material passes through as opaque bytes: nothing
 * here can open it.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { KmsKeyTable, Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface MaterialRow {
  keyId: string;
  version: number;
  sealed: Uint8Array;
  publicKey: Uint8Array | null;
  createdAt: number;
  rotationType: string | null;
}

export async function insertKeyRow(db: Db, key: KmsKeyTable, material: MaterialRow, tags: Array<[string, string]>): Promise<void> {
  await db.insertInto('kms_keys').values(key).execute();
  await insertMaterial(db, material);
  if (tags.length) {
    await db
      .insertInto('kms_key_tags')
      .values(tags.map(([k, v]) => ({ key_id: key.key_id, tag_key: k, tag_value: v })))
      .execute();
  }
}

export async function insertMaterial(db: Db, m: MaterialRow): Promise<void> {
  await db
    .insertInto('kms_key_material')
    .values({
      key_id: m.keyId,
      version: m.version,
      sealed: m.sealed,
      public_key: m.publicKey,
      created_at: m.createdAt,
      rotation_type: m.rotationType,
    })
    .execute();
}

export async function findKeyRow(db: Db, keyId: string): Promise<KmsKeyTable | undefined> {
  return await db.selectFrom('kms_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
}

/** A key row with what a cryptographic request on it reads next: its current material and its signing policy. */
export interface KeyRowForUse {
  key: KmsKeyTable;
  /** The current version's material (absent only in a corrupt store). */
  material: MaterialRow | undefined;
  /** The key's signing policy text (kms_signing_policies), null when it has none. */
  signingPolicy: string | null;
}

/** The joined row findKeyRowForUse reads: the key's columns, then its material's and its signing policy's, prefixed. */
type JoinedRow = KmsKeyTable & {
  m_version: number | null;
  m_sealed: Uint8Array | null;
  m_public_key: Uint8Array | null;
  m_created_at: number | bigint | null;
  m_rotation_type: string | null;
  sp_policy: string | null;
};

/**
 * The key row, its current material and its signing policy in one statement
 * (primary-key joins): a request on a key not in the key cache reads the store
 * once, which keeps Sign's rate close to flat however many keys the store
 * holds (bench:scale). The statement is a `sql` template rather than a query
 * builder chain: building and compiling the chain cost about as much CPU as
 * running the statement (a key-cache miss, measured in bench/scale.bench.ts).
 * The caller decides whether to keep the signing policy (src/kms/keys.ts
 * resolveKey): it is cached only for a request that needs it now, so that a
 * policy another process puts on a key this process merely looked at applies
 * at once.
 */
export async function findKeyRowForUse(db: Db, keyId: string): Promise<KeyRowForUse | undefined> {
  const { rows } = await sql<JoinedRow>`select k.*, m.version as m_version, m.sealed as m_sealed, m.public_key as m_public_key,
    m.created_at as m_created_at, m.rotation_type as m_rotation_type, sp.policy as sp_policy
    from kms_keys k
    left join kms_key_material m on m.key_id = k.key_id and m.version = k.current_version
    left join kms_signing_policies sp on sp.key_id = k.key_id
    where k.key_id = ${keyId}`.execute(db);
  const r = rows[0];
  if (!r) return undefined;
  // The key's columns by name, not `{ m_version, ..., ...key } = r`: V8 runs a rest pattern
  // through a runtime call, about 60,000 instructions per read (bench:scale --instructions).
  const key: KmsKeyTable = {
    key_id: r.key_id,
    account_id: r.account_id,
    region: r.region,
    key_spec: r.key_spec,
    key_usage: r.key_usage,
    key_state: r.key_state,
    origin: r.origin,
    description: r.description,
    policy: r.policy,
    created_at: r.created_at,
    deletion_at: r.deletion_at,
    pending_window_days: r.pending_window_days,
    rotation_enabled: r.rotation_enabled,
    rotation_period_days: r.rotation_period_days,
    next_rotation_at: r.next_rotation_at,
    current_version: r.current_version,
    revision: r.revision,
    first_protected_at: r.first_protected_at,
  };
  return {
    key,
    material:
      r.m_version === null || r.m_sealed === null
        ? undefined
        : {
            keyId: key.key_id,
            version: r.m_version,
            sealed: new Uint8Array(r.m_sealed),
            publicKey: r.m_public_key ? new Uint8Array(r.m_public_key) : null,
            createdAt: Number(r.m_created_at),
            rotationType: r.m_rotation_type,
          },
    signingPolicy: r.sp_policy,
  };
}

/** Writes every mutable field of `key` but first_protected_at (markKeyProtected's alone) and bumps its revision; returns the row as written. */
export async function updateKeyRow(db: Db, key: KmsKeyTable): Promise<KmsKeyTable> {
  const next = { ...key, revision: key.revision + 1 };
  const { key_id: _id, first_protected_at: _protected, ...fields } = next;
  await db.updateTable('kms_keys').set(fields).where('key_id', '=', key.key_id).execute();
  return next;
}

/**
 * Records that the key made its first ciphertext at `now`: a compare-and-set that writes only while
 * first_protected_at is null and the key is Enabled, so it is written once, and never on a key a
 * concurrent change disabled or scheduled for deletion (src/sts/merge-login.ts relies on that).
 * The revision is not bumped: no cached record grows stale by it. Returns whether it wrote.
 */
export async function markKeyProtected(db: Db, keyId: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('kms_keys')
    .set({ first_protected_at: now })
    .where('key_id', '=', keyId)
    .where('first_protected_at', 'is', null)
    .where('key_state', '=', 'Enabled')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** The ids among `keyIds` of keys that have made a ciphertext (first_protected_at set). */
export async function protectingKeyIds(db: Db, keyIds: readonly string[]): Promise<string[]> {
  if (keyIds.length === 0) return [];
  const rows = await db
    .selectFrom('kms_keys')
    .select('key_id')
    .where('key_id', 'in', [...keyIds])
    .where('first_protected_at', 'is not', null)
    .execute();
  return rows.map((r) => r.key_id);
}

/**
 * Writes `change(current)` over the key's row only if nobody changed the row
 * since it was read (compare-and-set on `revision`), re-reading and retrying
 * when another request or process got there first. `change` sees the freshest
 * row; it may throw to refuse, or return null to leave the row as it is.
 * Returns the row as stored, or undefined when the key does not exist.
 * @throws {Error} after repeated conflicting writes (a pathological hot key).
 */
export async function updateKeyRowAtomically(db: Db, keyId: string, change: (current: KmsKeyTable) => KmsKeyTable | null): Promise<KmsKeyTable | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await findKeyRow(db, keyId);
    if (!current) return undefined;
    const wanted = change(current);
    if (wanted === null) return current;
    // first_protected_at is markKeyProtected's alone (it does not bump the revision): never written back here.
    const next = { ...wanted, key_id: keyId, revision: current.revision + 1, first_protected_at: current.first_protected_at };
    const { key_id: _id, first_protected_at: _protected, ...fields } = next;
    const r = await db.updateTable('kms_keys').set(fields).where('key_id', '=', keyId).where('revision', '=', current.revision).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) return next;
  }
  throw new Error(`key ${keyId} changed concurrently too often`);
}

/**
 * Deletes a key whose deletion window has ended, with its material, aliases
 * and tags; a no-op returning false when the key is gone, was cancelled, or is
 * not yet due (another process may have acted first). Run it in a transaction:
 * the first statement claims the row, so a concurrent CancelKeyDeletion or a
 * second deleter waits and then finds nothing to do.
 */
export async function deleteKeyIfDue(db: Db, keyId: string, now: number): Promise<boolean> {
  const claimed = await db
    .updateTable('kms_keys')
    .set((eb) => ({ revision: eb('revision', '+', 1) }))
    .where('key_id', '=', keyId)
    .where('key_state', '=', 'PendingDeletion')
    .where('deletion_at', '<=', now)
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) return false;
  await deleteKey(db, keyId);
  return true;
}

export async function deleteKey(db: Db, keyId: string): Promise<void> {
  await db.deleteFrom('kms_key_tags').where('key_id', '=', keyId).execute();
  await db.deleteFrom('kms_aliases').where('key_id', '=', keyId).execute();
  await db.deleteFrom('kms_key_material').where('key_id', '=', keyId).execute();
  await db.deleteFrom('kms_keys').where('key_id', '=', keyId).execute();
}

/** Keys in creation order, starting after the (createdAt, keyId) cursor. */
export async function listKeyRows(db: Db, after: { createdAt: number; keyId: string } | undefined, limit: number): Promise<KmsKeyTable[]> {
  let q = db.selectFrom('kms_keys').selectAll().orderBy('created_at').orderBy('key_id').limit(limit);
  if (after) {
    q = q.where((eb) => eb.or([eb('created_at', '>', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('key_id', '>', after.keyId)])]));
  }
  return await q.execute();
}

/** Keys whose deletion window has ended. */
export async function keysDueForDeletion(db: Db, now: number): Promise<string[]> {
  const rows = await db.selectFrom('kms_keys').select('key_id').where('key_state', '=', 'PendingDeletion').where('deletion_at', '<=', now).execute();
  return rows.map((r) => r.key_id);
}

/** Keys whose automatic rotation is due. */
export async function keysDueForRotation(db: Db, now: number): Promise<string[]> {
  const rows = await db
    .selectFrom('kms_keys')
    .select('key_id')
    .where('rotation_enabled', '=', 1)
    .where('key_state', '=', 'Enabled')
    .where('next_rotation_at', '<=', now)
    .execute();
  return rows.map((r) => r.key_id);
}

export async function findMaterial(db: Db, keyId: string, version: number): Promise<MaterialRow | undefined> {
  const r = await db.selectFrom('kms_key_material').selectAll().where('key_id', '=', keyId).where('version', '=', version).executeTakeFirst();
  return r
    ? {
        keyId: r.key_id,
        version: r.version,
        sealed: new Uint8Array(r.sealed),
        publicKey: r.public_key ? new Uint8Array(r.public_key) : null,
        createdAt: Number(r.created_at),
        rotationType: r.rotation_type,
      }
    : undefined;
}

export async function listMaterialVersions(db: Db, keyId: string): Promise<Array<{ version: number; createdAt: number; rotationType: string | null }>> {
  const rows = await db
    .selectFrom('kms_key_material')
    .select(['version', 'created_at', 'rotation_type'])
    .where('key_id', '=', keyId)
    .orderBy('version')
    .execute();
  return rows.map((r) => ({ version: r.version, createdAt: Number(r.created_at), rotationType: r.rotation_type }));
}

// Aliases.

export interface AliasRow {
  aliasName: string;
  keyId: string;
  createdAt: number;
  updatedAt: number;
}

export async function findAlias(db: Db, aliasName: string): Promise<AliasRow | undefined> {
  const r = await db.selectFrom('kms_aliases').selectAll().where('alias_name', '=', aliasName).executeTakeFirst();
  return r ? { aliasName: r.alias_name, keyId: r.key_id, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) } : undefined;
}

export async function insertAlias(db: Db, a: AliasRow): Promise<void> {
  await db.insertInto('kms_aliases').values({ alias_name: a.aliasName, key_id: a.keyId, created_at: a.createdAt, updated_at: a.updatedAt }).execute();
}

/** Inserts the alias unless the name is taken; returns false when it was. */
export async function insertAliasIfAbsent(db: Db, a: AliasRow): Promise<boolean> {
  const r = await db
    .insertInto('kms_aliases')
    .values({ alias_name: a.aliasName, key_id: a.keyId, created_at: a.createdAt, updated_at: a.updatedAt })
    .onConflict((oc) => oc.column('alias_name').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export async function updateAlias(db: Db, aliasName: string, keyId: string, now: number): Promise<void> {
  await db.updateTable('kms_aliases').set({ key_id: keyId, updated_at: now }).where('alias_name', '=', aliasName).execute();
}

export async function deleteAlias(db: Db, aliasName: string): Promise<void> {
  await db.deleteFrom('kms_aliases').where('alias_name', '=', aliasName).execute();
}

export async function listAliases(db: Db, keyId: string | undefined, afterName: string | undefined, limit: number): Promise<AliasRow[]> {
  let q = db.selectFrom('kms_aliases').selectAll().orderBy('alias_name').limit(limit);
  if (keyId) q = q.where('key_id', '=', keyId);
  if (afterName !== undefined) q = q.where('alias_name', '>', afterName);
  const rows = await q.execute();
  return rows.map((r) => ({ aliasName: r.alias_name, keyId: r.key_id, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) }));
}

// Tags.

export async function listTags(db: Db, keyId: string): Promise<Array<[string, string]>> {
  const rows = await db.selectFrom('kms_key_tags').select(['tag_key', 'tag_value']).where('key_id', '=', keyId).orderBy('tag_key').execute();
  return rows.map((r) => [r.tag_key, r.tag_value]);
}

/** Inserts or replaces tags. */
export async function putTags(db: Db, keyId: string, tags: Array<[string, string]>): Promise<void> {
  for (const [k, v] of tags) {
    await db
      .insertInto('kms_key_tags')
      .values({ key_id: keyId, tag_key: k, tag_value: v })
      .onConflict((oc) => oc.columns(['key_id', 'tag_key']).doUpdateSet({ tag_value: v }))
      .execute();
  }
}

export async function removeTags(db: Db, keyId: string, tagKeys: string[]): Promise<void> {
  if (tagKeys.length) await db.deleteFrom('kms_key_tags').where('key_id', '=', keyId).where('tag_key', 'in', tagKeys).execute();
}

/**
 * Keys of `accountId`, not pending deletion, whose policy text contains any of `needles` verbatim (a
 * LIKE with its wildcards escaped): a cheap pre-filter; the caller parses each policy to decide.
 */
export async function keysWithPolicyContaining(db: Db, accountId: string, needles: readonly string[]): Promise<KmsKeyTable[]> {
  if (needles.length === 0) return [];
  const patterns = needles.map((n) => `%${n.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  return db
    .selectFrom('kms_keys')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('key_state', '!=', 'PendingDeletion')
    .where((eb) => eb.or(patterns.map((p) => sql<boolean>`${eb.ref('policy')} like ${p} escape '\\'`)))
    .orderBy('created_at')
    .execute();
}
