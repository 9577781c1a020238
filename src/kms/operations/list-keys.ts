/**
 * ListKeys (AWS KMS API Reference): the account's keys (KeyId and KeyArn), in
 * creation order, paged with Limit (1–1000, default 100) and an opaque Marker
 * that names the last key returned. Keys in every state are listed.
 */
import * as keyRecords from '../key-records.js';
import { invalidMarker } from '../../aws/errors.js';
import { authorize } from '../keys.js';
import { keyArn, UUID_RE } from '../model.js';
import { operation } from '../operation.js';

const MARKER_PREFIX = 'keys/v1:';

interface Cursor {
  createdAt: number;
  keyId: string;
}

function encodeMarker(c: Cursor): string {
  return Buffer.from(`${MARKER_PREFIX}${c.createdAt}:${c.keyId}`, 'utf8').toString('base64url');
}

function decodeMarker(marker: string): Cursor {
  const text = /^[A-Za-z0-9_-]+$/.test(marker) ? Buffer.from(marker, 'base64url').toString('utf8') : '';
  const m = text.startsWith(MARKER_PREFIX) ? /^(\d{1,15}):(.+)$/.exec(text.slice(MARKER_PREFIX.length)) : null;
  if (!m || !UUID_RE.test(m[2]!)) throw invalidMarker('The marker is not valid for this request.');
  return { createdAt: Number(m[1]), keyId: m[2]! };
}

export const listKeys = operation('ListKeys', async (input, ctx) => {
  const limit = input.integer('Limit', { min: 1, max: 1000 }) ?? 100;
  const marker = input.string('Marker', { min: 1, max: 1024 });
  const after = marker === undefined ? undefined : decodeMarker(marker);

  await authorize(ctx, 'kms:ListKeys', undefined);
  // One row more than the page tells whether another page follows.
  const rows = await keyRecords.listKeys(ctx.deps.store.db, after, limit + 1);
  const page = rows.slice(0, limit);
  const truncated = rows.length > limit;
  const last = page[page.length - 1];
  return {
    Keys: page.map((k) => ({ KeyId: k.keyId, KeyArn: keyArn(k) })),
    Truncated: truncated,
    ...(truncated && last ? { NextMarker: encodeMarker({ createdAt: last.createdAt, keyId: last.keyId }) } : {}),
  };
});
