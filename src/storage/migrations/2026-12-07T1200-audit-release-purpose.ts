/**
 * The purpose of an attested split-share release on the Decrypt audit event
 * (docs/signer.md, "Export"; docs/audit.md): one nullable text column,
 * `export` when the signer's attestation document stated that the release is
 * an owner's key export, null on every other event. Hashed into the chain only
 * when present, so every earlier event hashes exactly as before. Frozen: never
 * edit a migration that has shipped; add a new one.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('release_purpose', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('audit_events').dropColumn('release_purpose').execute();
}
