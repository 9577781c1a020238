/**
 * The decoded Ethereum fields of a signing decision on the audit event
 * (docs/audit.md, docs/signing-policy.md): one nullable column holding the
 * canonical JSON object, hashed into the chain when present. Events without
 * it (every event before this migration, and every non-signing event) keep
 * null and hash exactly as before. Frozen: never edit a migration that has
 * shipped; add a new one.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('eth', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('audit_events').dropColumn('eth').execute();
}
