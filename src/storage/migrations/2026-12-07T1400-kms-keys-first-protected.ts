/**
 * kms_keys.first_protected_at: when the key first made a ciphertext (Encrypt,
 * GenerateDataKey*, GenerateDataKeyPair*, ReEncrypt as destination), null
 * for a key that never did. Written once, before the custodian answers the
 * first such request (src/kms/keys.ts recordProtecting), so it is durable
 * where the audit trail is not (a record is written up to
 * SYMBOLON_AUDIT_FLUSH_MS after the answer, and events may be pruned).
 * STS LinkWebIdentity reads it (src/sts/merge-login.ts).
 *
 * Back-fill: a key whose audit trail holds an allowed Encrypt,
 * GenerateDataKey*, ReEncrypt, or Decrypt (a ciphertext under it existed)
 * gets that event's earliest time. A key used before this migration whose
 * events were lost or pruned is not caught (docs/kms.md). Frozen once
 * shipped: add a new migration.
 */
import { sql, type Kysely } from 'kysely';

/** The audit operations that show a key made a ciphertext, or opened one it made. */
const BACKFILL_OPERATIONS = [
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'ReEncrypt',
  'Decrypt',
];

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const ms = pg ? sql`bigint` : sql`integer`;
  await db.schema.alterTable('kms_keys').addColumn('first_protected_at', ms).execute();
  // The audit trail names a key by its ARN: arn:aws:kms:<region>:<account>:key/<key id>.
  await sql`update kms_keys set first_protected_at = (
      select min(e.time) from audit_events e
      where e.key_arn = 'arn:aws:kms:' || kms_keys.region || ':' || kms_keys.account_id || ':key/' || kms_keys.key_id
        and e.outcome = 'allowed'
        and e.operation in (${sql.join(BACKFILL_OPERATIONS)})
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('kms_keys').dropColumn('first_protected_at').execute();
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
