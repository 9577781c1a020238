/**
 * Indexes for the maintenance pass's two queries on kms_keys
 * (src/storage/keys.repository.ts keysDueForDeletion, keysDueForRotation),
 * run at start-up and every minute by every process: without them each is a
 * full scan of kms_keys, which on SQLite blocks the process's only thread for
 * as long as the table takes to read (a million keys: hundreds of
 * milliseconds a minute). (key_state, deletion_at) also answers the key count
 * by state that /metrics reads. Frozen: never edit a migration that has
 * shipped; add a new one.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('kms_keys_state_deletion').on('kms_keys').columns(['key_state', 'deletion_at']).execute();
  await db.schema.createIndex('kms_keys_rotation_due').on('kms_keys').columns(['rotation_enabled', 'key_state', 'next_rotation_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('kms_keys_rotation_due').execute();
  await db.schema.dropIndex('kms_keys_state_deletion').execute();
}
