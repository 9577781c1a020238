/**
 * Loads a secret of the built-in issuer from symbolon_meta, or creates it on
 * first start: generated here, sealed under the root of trust with its own
 * sealing context, stored first-writer-wins so several processes over one
 * PostgreSQL database agree on one value.
 */
import type { Kysely } from 'kysely';
import type { Tables } from '../../storage/tables.js';
import { getMeta, putMetaIfAbsent } from '../../storage/meta.repository.js';
import { sealingContext, type RootOfTrust } from '../../root/root-of-trust.js';
import { wipe } from '../../crypto/bytes.js';

/**
 * Returns the opened secret; the caller wipes it.
 * @throws {SealedBoxError} when the stored box does not open under this root.
 */
export async function loadOrCreateSealedSecret(options: {
  db: Kysely<Tables>;
  root: RootOfTrust;
  /** symbolon_meta row name. */
  name: string;
  /** Sealing-context purpose, e.g. `identity/issuer-key/v1`. */
  purpose: string;
  generate: () => Uint8Array;
}): Promise<Uint8Array> {
  const { db, root, name } = options;
  const aad = sealingContext(options.purpose);
  let box = await getMeta(db, name);
  if (!box) {
    const fresh = options.generate();
    try {
      box = await putMetaIfAbsent(db, name, root.seal(fresh, aad));
    } finally {
      wipe(fresh);
    }
  }
  return root.open(box, aad);
}
