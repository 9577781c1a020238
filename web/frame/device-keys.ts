/**
 * The frame's device keys (docs/frame.md, "The device share"): the
 * non-extractable AES-GCM keys that wrap a split wallet's third share
 * (packages/sdk/src/split/deviceShare.ts), kept as `CryptoKey` objects in
 * IndexedDB in the frame's origin. IndexedDB stores a CryptoKey by
 * structured clone: the key stays non-extractable, so no script can read
 * its bytes — but any script running in this origin can use it, and the
 * browser keeps it in the profile (not in hardware).
 */
import type { DeviceKeyStore } from '../../packages/sdk/src/split/deviceShare.js';

const DB_NAME = 'symbolon-device-keys';
const STORE = 'keys';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

let opened: Promise<IDBDatabase> | undefined;

function database(): Promise<IDBDatabase> {
  opened ??= new Promise((resolve, reject) => {
    const r = indexedDB.open(DB_NAME, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => {
      opened = undefined;
      reject(r.error ?? new Error('IndexedDB could not be opened'));
    };
  });
  return opened;
}

async function run<T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await database();
  const tx = db.transaction(STORE, mode);
  const result = await request(op(tx.objectStore(STORE)));
  await new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
  return result;
}

/** The device keys of this browser profile, in the frame's origin. */
export const indexedDbDeviceKeys: DeviceKeyStore = {
  async get(id) {
    const key = await run('readonly', (s) => s.get(id) as IDBRequest<CryptoKey | undefined>);
    return key instanceof CryptoKey ? key : undefined;
  },
  async put(id, key) {
    await run('readwrite', (s) => s.put(key, id));
  },
  async delete(id) {
    await run('readwrite', (s) => s.delete(id));
  },
};
