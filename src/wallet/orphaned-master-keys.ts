/**
 * Master keys a crash left behind (issue 12, item 12). A wallet user's master
 * key is created in the custodian first and recorded on the user's row after
 * (src/wallet/users.ts); a process that stops in between leaves an Enabled key
 * tagged with the user's id that nobody records. On start, with the custodian's
 * keys in the same store, each such key is
 *  - adopted, when its user still has no master key (the key was made for
 *    exactly that user, its policy names them): recorded on the row, so no
 *    second key is made;
 *  - scheduled for deletion (7 days, AWS's shortest window; CancelKeyDeletion
 *    undoes it) when the user records another key, or the user does not exist.
 * Each step is an audit event (principal: none, user agent: this cleanup).
 * A process creating a key at the same moment is safe: a key is adopted only
 * by the set-if-unset that process would have made, and users.ts never
 * discards a key the row records. A key younger than ORPHAN_GRACE_MS is never
 * scheduled for deletion: another process may be about to record it (a
 * merged-away user's row taken over records its new key over the old one,
 * src/wallet/users.ts adoptMergedAway, so set-if-unset cannot tell the two
 * apart); a later start cleans it up if nobody did.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../storage/database.js';
import { findKey, updateKeyAtomically } from '../kms/key-records.js';
import { findWalletUserById, listUnrecordedMasterKeys, setWalletUserMasterKeyIfUnset } from '../storage/wallet-users.repository.js';
import type { AuditEvent, AuditSink } from '../audit/event.js';
import { keyArn } from '../kms/model.js';
import { DAY_MS } from '../kms/maintenance.js';
import { USER_TAG } from './master-keys.js';

/** The deletion window given to an orphaned key (AWS's minimum). */
export const ORPHAN_PENDING_WINDOW_DAYS = 7;
/** How old an unrecorded key must be before it counts as left behind (a key is recorded milliseconds after CreateKey). */
export const ORPHAN_GRACE_MS = 60 * 60 * 1000;
const AGENT = 'symbolon start-up: orphaned master keys';

export interface OrphanCleanup {
  adopted: number;
  scheduledForDeletion: number;
  /** Unrecorded keys younger than ORPHAN_GRACE_MS, left for a later start. */
  tooYoung: number;
}

/**
 * Adopts or schedules for deletion every unrecorded master key.
 * @throws {Error} when the store fails.
 */
export async function cleanUpOrphanedMasterKeys(options: { store: Store; audit: AuditSink; logger: Logger; now: number }): Promise<OrphanCleanup> {
  const { store, audit, logger, now } = options;
  const done: OrphanCleanup = { adopted: 0, scheduledForDeletion: 0, tooYoung: 0 };
  for (const orphan of await listUnrecordedMasterKeys(store.db, USER_TAG)) {
    const key = await findKey(store.db, orphan.keyId);
    if (!key) continue;
    const event = (operation: string): AuditEvent => ({
      time: now,
      requestId: randomUUID(),
      service: 'kms',
      operation,
      principalArn: null,
      principalTags: {},
      accessKeyId: null,
      sourceIp: '',
      userAgent: AGENT,
      keyArn: keyArn(key),
      encryptionContext: null,
      signingAlgorithm: null,
      outcome: 'allowed',
      errorCode: null,
    });
    if (orphan.recordedKeyId === null && (await setWalletUserMasterKeyIfUnset(store.db, orphan.userId, orphan.keyId))) {
      audit.record(event('AdoptOrphanedMasterKey'));
      logger.warn({ userId: orphan.userId, keyId: orphan.keyId }, 'orphaned master key adopted by its wallet user');
      done.adopted++;
      continue;
    }
    // Recorded meanwhile by the process that made it: nothing to clean up.
    if ((await findWalletUserById(store.db, orphan.userId))?.masterKeyId === orphan.keyId) continue;
    // Possibly in flight: made by a process that has not recorded it yet.
    if (now - key.createdAt < ORPHAN_GRACE_MS) {
      done.tooYoung++;
      continue;
    }
    const deletionAt = now + ORPHAN_PENDING_WINDOW_DAYS * DAY_MS;
    let scheduled = false;
    await updateKeyAtomically(store.db, orphan.keyId, (k) => {
      scheduled = k.keyState !== 'PendingDeletion';
      return scheduled ? { ...k, keyState: 'PendingDeletion', deletionAt, pendingWindowDays: ORPHAN_PENDING_WINDOW_DAYS } : null;
    });
    if (!scheduled) continue;
    audit.record(event('ScheduleKeyDeletion'));
    logger.warn({ userId: orphan.userId, keyId: orphan.keyId, pendingWindowDays: ORPHAN_PENDING_WINDOW_DAYS }, 'orphaned master key scheduled for deletion');
    done.scheduledForDeletion++;
  }
  return done;
}
