/**
 * The custodian's first tables: keys, their sealed material, aliases, tags,
 * access keys, and a meta table for the root-key check. Frozen: never edit a
 * migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const bytes = pg ? sql`bytea` : sql`blob`;
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('symbolon_meta')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', bytes, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('kms_keys')
    .addColumn('key_id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('region', 'text', (c) => c.notNull())
    .addColumn('key_spec', 'text', (c) => c.notNull())
    .addColumn('key_usage', 'text', (c) => c.notNull())
    .addColumn('key_state', 'text', (c) => c.notNull())
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('deletion_at', ms)
    .addColumn('pending_window_days', 'integer')
    .addColumn('rotation_enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rotation_period_days', 'integer')
    .addColumn('next_rotation_at', ms)
    .addColumn('current_version', 'integer', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('kms_keys_created').on('kms_keys').columns(['created_at', 'key_id']).execute();

  await db.schema
    .createTable('kms_key_material')
    .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.key_id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('sealed', bytes, (c) => c.notNull())
    .addColumn('public_key', bytes)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('rotation_type', 'text')
    .addPrimaryKeyConstraint('kms_key_material_pk', ['key_id', 'version'])
    .execute();

  await db.schema
    .createTable('kms_aliases')
    .addColumn('alias_name', 'text', (c) => c.primaryKey())
    .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.key_id').onDelete('cascade'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('kms_aliases_key').on('kms_aliases').column('key_id').execute();

  await db.schema
    .createTable('kms_key_tags')
    .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.key_id').onDelete('cascade'))
    .addColumn('tag_key', 'text', (c) => c.notNull())
    .addColumn('tag_value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('kms_key_tags_pk', ['key_id', 'tag_key'])
    .execute();

  await db.schema
    .createTable('iam_access_keys')
    .addColumn('access_key_id', 'text', (c) => c.primaryKey())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('principal_arn', 'text', (c) => c.notNull())
    .addColumn('sealed_secret', bytes, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['iam_access_keys', 'kms_key_tags', 'kms_aliases', 'kms_key_material', 'kms_keys', 'symbolon_meta']) {
    await db.schema.dropTable(t).execute();
  }
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
