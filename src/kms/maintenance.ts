/**
 * The custodian's scheduled work, and the key-rotation step it shares with
 * RotateKeyOnDemand (AWS KMS Developer Guide, "Rotating AWS KMS keys" and
 * "Deleting AWS KMS keys"):
 *
 * - keys whose deletion window has ended are deleted with their material,
 *   aliases and tags;
 * - symmetric keys with automatic rotation enabled get a new material version
 *   when their rotation date comes, and the next date moves one period on.
 *
 * Every step claims its key row with a compare-and-set inside a transaction,
 * so several processes on one PostgreSQL database can run maintenance at the
 * same time: each key is deleted or rotated once, and a CancelKeyDeletion or
 * DisableKeyRotation that lands first wins.
 */
import type { Logger } from 'pino';
import * as repo from '../storage/keys.repository.js';
import { findKey, updateKeyAtomically } from './key-records.js';
import { createMaterial } from './keystore.js';
import { limitExceeded, notFound, unsupportedOperation } from '../aws/errors.js';
import { keyArn, type KeyRecord } from './model.js';
import type { KmsDeps } from './context.js';

export const DAY_MS = 86_400_000;
/** AWS's lifetime quota of on-demand rotations per key. */
export const MAX_ON_DEMAND_ROTATIONS = 10;
/** How often a running custodian looks for due deletions and rotations. */
export const MAINTENANCE_INTERVAL_MS = 60_000;

export type RotationType = 'AUTOMATIC' | 'ON_DEMAND';

/**
 * Requires a key whose material can rotate: only symmetric encryption keys.
 * @throws {AwsError} UnsupportedOperationException.
 */
export function requireRotatable(key: KeyRecord): void {
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw unsupportedOperation(`${keyArn(key)} key spec ${key.keySpec} is not valid for this operation: only symmetric encryption keys rotate.`);
  }
}

/**
 * Adds a new material version to a symmetric key and makes it current, in one
 * transaction. `admit` sees the freshest row and throws to refuse (state
 * errors) or returns false to skip quietly (maintenance finding the work
 * already done). Older versions stay, so older ciphertexts still decrypt.
 * Returns the stored record, or undefined when skipped.
 * @throws {AwsError} NotFoundException if the key is gone; LimitExceededException past the on-demand quota; whatever `admit` throws.
 */
export async function rotateKeyMaterial(
  deps: KmsDeps,
  key: KeyRecord,
  type: RotationType,
  now: number,
  admit: (current: KeyRecord) => boolean,
): Promise<KeyRecord | undefined> {
  return deps.store.db.transaction().execute(async (trx) => {
    let admitted = false;
    const stored = await updateKeyAtomically(trx, key.keyId, (k) => {
      admitted = admit(k);
      if (!admitted) return null;
      requireRotatable(k);
      const period = k.rotationPeriodDays;
      return {
        ...k,
        currentVersion: k.currentVersion + 1,
        // AWS: an on-demand rotation leaves the automatic schedule as it was.
        nextRotationAt: type === 'AUTOMATIC' && k.rotationEnabled && period !== null ? now + period * DAY_MS : k.nextRotationAt,
      };
    });
    if (!stored) throw notFound(`Key '${keyArn(key)}' does not exist`);
    if (!admitted) return undefined;
    if (type === 'ON_DEMAND') {
      // Counted after the row is claimed, so concurrent requests cannot both take the last slot.
      const done = (await repo.listMaterialVersions(trx, key.keyId)).filter((v) => v.rotationType === 'ON_DEMAND').length;
      if (done >= MAX_ON_DEMAND_ROTATIONS) {
        throw limitExceeded(
          `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${keyArn(key)}`,
        );
      }
    }
    const material = createMaterial(deps.root, stored.keySpec, stored.keyId, stored.currentVersion);
    await repo.insertMaterial(trx, {
      keyId: stored.keyId,
      version: stored.currentVersion,
      sealed: material.sealed,
      publicKey: material.publicKey,
      createdAt: now,
      rotationType: type,
    });
    return stored;
  });
}

export interface MaintenanceResult {
  /** Key ids deleted by this run. */
  deleted: string[];
  /** Key ids rotated by this run. */
  rotated: string[];
}

/**
 * Deletes the keys whose deletion date has passed and rotates the keys whose
 * automatic rotation is due, as of `now`. Idempotent: keys another process
 * handled first are skipped. One key's failure does not stop the others; it
 * is logged (by key id) and retried on the next run.
 */
export async function runMaintenance(deps: KmsDeps, now: number = deps.clock(), log?: Logger): Promise<MaintenanceResult> {
  const result: MaintenanceResult = { deleted: [], rotated: [] };
  for (const keyId of await repo.keysDueForDeletion(deps.store.db, now)) {
    try {
      const deleted = await deps.store.db.transaction().execute((trx) => repo.deleteKeyIfDue(trx, keyId, now));
      if (deleted) result.deleted.push(keyId);
    } catch (e) {
      log?.error({ keyId, err: { name: (e as Error)?.name, message: (e as Error)?.message } }, 'scheduled key deletion failed');
    } finally {
      deps.keyCache.invalidate(keyId);
    }
  }
  for (const keyId of await repo.keysDueForRotation(deps.store.db, now)) {
    try {
      const key = await findKey(deps.store.db, keyId);
      if (!key) continue;
      const rotated = await rotateKeyMaterial(
        deps,
        key,
        'AUTOMATIC',
        now,
        (k) => k.rotationEnabled && k.keyState === 'Enabled' && k.nextRotationAt !== null && k.nextRotationAt <= now,
      );
      if (rotated) result.rotated.push(keyId);
    } catch (e) {
      log?.error({ keyId, err: { name: (e as Error)?.name, message: (e as Error)?.message } }, 'automatic key rotation failed');
    } finally {
      deps.keyCache.invalidate(keyId);
    }
  }
  if (log && (result.deleted.length || result.rotated.length)) {
    log.info({ deleted: result.deleted, rotated: result.rotated }, 'key maintenance');
  }
  return result;
}

/** A running maintenance schedule. */
export interface MaintenanceSchedule {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs maintenance now (awaited, so keys past their window are gone before
 * the server takes requests) and then every `intervalMs`, on an unref'd timer
 * that never keeps the process alive. Runs never overlap.
 */
export async function startMaintenance(deps: KmsDeps, log: Logger, intervalMs = MAINTENANCE_INTERVAL_MS): Promise<MaintenanceSchedule> {
  let running: Promise<unknown> | undefined;
  const tick = (): Promise<unknown> => {
    running ??= runMaintenance(deps, deps.clock(), log)
      .catch((e: unknown) => log.error({ err: { name: (e as Error)?.name, message: (e as Error)?.message } }, 'key maintenance failed'))
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  await tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
