/**
 * Webhooks for monitoring alerts (docs/audit.md, "Webhooks"): where to POST,
 * which event types, an optional per-key value threshold over a rolling
 * window, and the HMAC secret sealed under the root of trust. Frozen: never
 * edit a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const ms = pg ? sql`bigint` : sql`integer`;
  const bytes = pg ? sql`bytea` : sql`blob`;

  await db.schema
    .createTable('monitor_webhooks')
    .addColumn('webhook_id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('threshold_wei', 'text')
    .addColumn('window_seconds', 'integer')
    .addColumn('sealed_secret', bytes, (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('monitor_webhooks').execute();
}
