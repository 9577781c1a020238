/**
 * Passkeys (WebAuthn) in the built-in issuer and how-the-user-logged-in facts
 * (docs/identity.md): identity_passkeys holds each registered credential's
 * public key (COSE), signature counter, transports and backup flags — nothing
 * secret; identity_webauthn_challenges holds the single-use, expiring
 * challenges of registration, login and step-up ceremonies. Refresh tokens
 * gain the login's `amr` and `auth_time`, so a refresh keeps them; STS sessions
 * gain the token's `amr` and `auth_time`, so policies can test MFA.
 * Frozen: never edit a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const bytes = pg ? sql`bytea` : sql`blob`;
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('identity_passkeys')
    /** base64url of the credential id (WebAuthn §6.1 credentialId). */
    .addColumn('credential_id', 'text', (c) => c.primaryKey())
    .addColumn('sub', 'text', (c) => c.notNull().references('identity_subjects.sub').onDelete('cascade'))
    /** The credential public key as the authenticator gave it (COSE_Key, RFC 9052). */
    .addColumn('public_key', bytes, (c) => c.notNull())
    .addColumn('counter', ms, (c) => c.notNull())
    /** JSON array of AuthenticatorTransport strings. */
    .addColumn('transports', 'text', (c) => c.notNull())
    /** WebAuthn §6.1 flags BE (backup eligible) and BS (backed up), as 0/1. */
    .addColumn('backup_eligible', 'integer', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull())
    .addColumn('aaguid', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('last_used_at', ms)
    .execute();
  await db.schema.createIndex('identity_passkeys_sub').on('identity_passkeys').column('sub').execute();

  await db.schema
    .createTable('identity_webauthn_challenges')
    .addColumn('challenge_id', 'text', (c) => c.primaryKey())
    /** base64url of the random challenge (not secret: it is sent to the browser). */
    .addColumn('challenge', 'text', (c) => c.notNull())
    /** register | login | step_up */
    .addColumn('purpose', 'text', (c) => c.notNull())
    /** The user a registration or step-up is for; null for a discoverable login. */
    .addColumn('sub', 'text')
    /** JSON array: the amr of the login a step-up adds to. */
    .addColumn('prior_amr', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('used_at', ms)
    .execute();
  await db.schema.createIndex('identity_webauthn_challenges_expiry').on('identity_webauthn_challenges').column('expires_at').execute();

  await db.schema.alterTable('identity_refresh_tokens').addColumn('amr', 'text').execute();
  await db.schema.alterTable('identity_refresh_tokens').addColumn('auth_time', ms).execute();
  await db.schema.alterTable('sts_sessions').addColumn('auth_methods', 'text').execute();
  await db.schema.alterTable('sts_sessions').addColumn('auth_time', ms).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sts_sessions').dropColumn('auth_time').execute();
  await db.schema.alterTable('sts_sessions').dropColumn('auth_methods').execute();
  await db.schema.alterTable('identity_refresh_tokens').dropColumn('auth_time').execute();
  await db.schema.alterTable('identity_refresh_tokens').dropColumn('amr').execute();
  await db.schema.dropTable('identity_webauthn_challenges').execute();
  await db.schema.dropTable('identity_passkeys').execute();
}
