/**
 * src/kms/key-cache.ts: the key cache is bounded in bytes as well as in
 * entries, so keys with large policies cannot grow a server process without
 * limit (bench:scale's RSS target), the oldest entries going first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { KeyCache } from '../src/kms/key-cache.js';
import type { KeyRecord } from '../src/kms/model.js';
import { parseSigningPolicy } from '../src/signing-policy/document.js';

function record(policyChars: number): KeyRecord {
  return {
    keyId: randomUUID(),
    accountId: '111122223333',
    region: 'us-east-1',
    keySpec: 'ECC_SECG_P256K1',
    keyUsage: 'SIGN_VERIFY',
    keyState: 'Enabled',
    origin: 'AWS_KMS',
    description: '',
    policy: `{"Version":"2012-10-17","Statement":[],"Id":"${'x'.repeat(policyChars)}"}`,
    createdAt: 1,
    deletionAt: null,
    pendingWindowDays: null,
    rotationEnabled: false,
    rotationPeriodDays: null,
    nextRotationAt: null,
    currentVersion: 1,
    revision: 0,
    firstProtectedAt: null,
  };
}

const material = (keyId: string) => ({ keyId, version: 1, sealed: new Uint8Array(100), publicKey: new Uint8Array(88), createdAt: 1, rotationType: null });

test('the cache holds at most maxBytes: keys with 32 KB policies evict the oldest, however few entries', () => {
  const maxBytes = 1024 * 1024;
  const cache = new KeyCache({ ttlMs: 60_000, maxBytes });
  const keys = Array.from({ length: 100 }, () => record(32 * 1024));
  for (const k of keys) {
    cache.putKey(k, 0);
    cache.putMaterial(material(k.keyId));
    assert.ok(cache.bytes <= maxBytes, `${cache.bytes} bytes held`);
  }
  // 64 KB or more each (two bytes a character): at most 16 fit, far below the 10,000-entry bound.
  assert.ok(cache.size <= 16 && cache.size >= 10, `${cache.size} entries`);
  const last = keys.at(-1)!;
  assert.equal(cache.getKey(last.keyId, 1), last, 'the newest is held');
  assert.ok(cache.getMaterial(last.keyId, 1, 1));
  assert.equal(cache.getKey(keys[0]!.keyId, 1), undefined, 'the oldest went first');
  // Dropping entries gives their bytes back.
  cache.invalidate(last.keyId);
  assert.equal(cache.size, keys.length - keys.findIndex((k) => cache.getKey(k.keyId, 1) !== undefined) - 1);
  cache.clear();
  assert.equal(cache.bytes, 0);
  assert.equal(cache.size, 0);
});

test('small keys: the entry bound still applies, and expiry and invalidation return the bytes', () => {
  const cache = new KeyCache({ ttlMs: 1000, maxEntries: 50 });
  const keys = Array.from({ length: 200 }, () => record(100));
  for (const k of keys) {
    cache.putKey(k, 0);
    cache.putMaterial(material(k.keyId));
  }
  assert.equal(cache.size, 50);
  const held = cache.bytes;
  assert.ok(held > 50 * 500 && held < 50 * 4096, `${held} bytes for 50 small keys`);
  // Expired: read as absent and forgotten.
  assert.equal(cache.getKey(keys.at(-1)!.keyId, 1000), undefined);
  assert.equal(cache.size, 49);
  assert.ok(cache.bytes < held);
  for (const k of keys.slice(-50)) cache.invalidate(k.keyId);
  assert.equal(cache.bytes, 0);
});

test("a key's parsed signing policy counts in its entry's bytes, and replacing it does not count it twice", () => {
  const cache = new KeyCache({ ttlMs: 60_000 });
  const key = record(10);
  const text = '{"Version":"2026-12-01","Statement":[{"Sid":"All","Effect":"Allow"}]}';
  cache.putKey(key, 0);
  const without = cache.bytes;
  cache.putSigningPolicy(key.keyId, { text, policy: parseSigningPolicy(text) }, cache.generation());
  assert.equal(cache.getSigningPolicy(key.keyId, 1)?.text, text);
  const withPolicy = cache.bytes;
  assert.ok(withPolicy > without);
  cache.putSigningPolicy(key.keyId, { text, policy: parseSigningPolicy(text) }, cache.generation());
  assert.equal(cache.bytes, withPolicy);
  cache.putSigningPolicy(key.keyId, null, cache.generation());
  assert.equal(cache.bytes, without);
});
