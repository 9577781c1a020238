/**
 * SQL for monitor_webhooks. The signing secret passes through sealed; nothing
 * here opens it.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface WebhookRow {
  webhookId: string;
  url: string;
  events: string[];
  thresholdWei: string | null;
  windowSeconds: number | null;
  sealedSecret: Uint8Array;
  createdBy: string;
  createdAt: number;
}

function toRow(r: Tables['monitor_webhooks']): WebhookRow {
  let events: string[] = [];
  try {
    const parsed: unknown = JSON.parse(r.events);
    if (Array.isArray(parsed)) events = parsed.filter((e): e is string => typeof e === 'string');
  } catch {
    // A row edited by hand: no events rather than a crash.
  }
  return {
    webhookId: r.webhook_id,
    url: r.url,
    events,
    thresholdWei: r.threshold_wei,
    windowSeconds: r.window_seconds === null ? null : Number(r.window_seconds),
    sealedSecret: new Uint8Array(r.sealed_secret),
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
  };
}

export async function insertWebhook(db: Db, w: WebhookRow): Promise<void> {
  await db
    .insertInto('monitor_webhooks')
    .values({
      webhook_id: w.webhookId,
      url: w.url,
      events: JSON.stringify(w.events),
      threshold_wei: w.thresholdWei,
      window_seconds: w.windowSeconds,
      sealed_secret: w.sealedSecret,
      created_by: w.createdBy,
      created_at: w.createdAt,
    })
    .execute();
}

/** Every webhook, oldest first. */
export async function listWebhooks(db: Db): Promise<WebhookRow[]> {
  const rows = await db.selectFrom('monitor_webhooks').selectAll().orderBy('created_at').orderBy('webhook_id').execute();
  return rows.map(toRow);
}

export async function countWebhooks(db: Db): Promise<number> {
  const r = await db
    .selectFrom('monitor_webhooks')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** @returns false when there was no such webhook. */
export async function deleteWebhook(db: Db, webhookId: string): Promise<boolean> {
  const r = await db.deleteFrom('monitor_webhooks').where('webhook_id', '=', webhookId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
