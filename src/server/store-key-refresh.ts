/**
 * Keeps a running server's store key in step with the store's row
 * (docs/root-of-trust.md "Rotating the store key"): every interval it reads
 * the store_key row and, when it changed, adopts the versions chained under
 * one it holds and the row's current version (StoreKeySealer.adopt), so a
 * rotation made by `symbolon operator rotate-store-key` reaches every server
 * without a restart and without the root.
 */
import type { Logger } from 'pino';
import type { Store } from '../storage/database.js';
import { getMeta } from '../storage/meta.repository.js';
import { STORE_KEY_META, type StoreKeySealer } from '../root/store-key.js';

/** Default refresh interval; `rotate-store-key --grace-seconds` defaults to three of these. */
export const STORE_KEY_REFRESH_MS = 5_000;

/** The interval from SYMBOLON_STORE_KEY_REFRESH_MS (100 ms to 1 hour), else the default. */
export function storeKeyRefreshMs(env: NodeJS.ProcessEnv): number {
  const v = env.SYMBOLON_STORE_KEY_REFRESH_MS;
  if (v === undefined || v === '') return STORE_KEY_REFRESH_MS;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100 || n > 3_600_000) throw new RangeError('SYMBOLON_STORE_KEY_REFRESH_MS must be an integer from 100 to 3600000');
  return n;
}

export interface StoreKeyRefresh {
  /** One refresh now (tests; the timer calls it). */
  refresh(): Promise<void>;
  stop(): void;
}

export function startStoreKeyRefresh(store: Store, sealer: StoreKeySealer, intervalMs: number, logger: Logger): StoreKeyRefresh {
  let last: string | undefined;
  let running: Promise<void> | undefined;
  const refresh = async (): Promise<void> => {
    const row = await getMeta(store.db, STORE_KEY_META);
    if (!row) return;
    const text = Buffer.from(row).toString('base64');
    if (text === last) return;
    const before = sealer.currentVersion;
    sealer.adopt(row);
    last = text;
    if (sealer.currentVersion !== before)
      logger.info({ storeKeyVersion: sealer.currentVersion }, 'store key rotated: new records are sealed under the new version');
  };
  const timer = setInterval(() => {
    if (running) return;
    running = refresh()
      .catch((e: unknown) => {
        // A name and a message of ours (RootKeyError) or a driver's code: never key bytes.
        logger.error(
          { err: { name: (e as Error).name, code: (e as { code?: unknown }).code } },
          `store key refresh failed: ${(e as Error).name === 'RootKeyError' ? (e as Error).message : 'the store did not answer'}`,
        );
      })
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return { refresh, stop: () => clearInterval(timer) };
}
