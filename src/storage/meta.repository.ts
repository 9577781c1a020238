/**
 * SQL for symbolon_meta: small named values the store needs about itself
 * (the account id, the root-key check box).
 */
import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

export async function getMeta(db: Kysely<Tables>, name: string): Promise<Uint8Array | undefined> {
  const r = await db.selectFrom('symbolon_meta').select('value').where('name', '=', name).executeTakeFirst();
  return r ? new Uint8Array(r.value) : undefined;
}

/** Inserts the value unless one exists; returns the stored value (first writer wins across processes). */
export async function putMetaIfAbsent(db: Kysely<Tables>, name: string, value: Uint8Array): Promise<Uint8Array> {
  await db
    .insertInto('symbolon_meta')
    .values({ name, value })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  return (await getMeta(db, name))!;
}
