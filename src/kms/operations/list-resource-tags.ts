/**
 * ListResourceTags (AWS KMS API Reference): a key's tags in tag-key order,
 * paged with Limit (at most 50 per page, as AWS documents) and an opaque
 * Marker. Works in every key state.
 */
import * as repo from '../../storage/keys.repository.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { invalidMarker } from '../../aws/errors.js';
import { authorize } from '../keys.js';
import { operation } from '../operation.js';

const PAGE_MAX = 50;
const MARKER_PREFIX = 'tags/v1:';

function encodeMarker(tagKey: string): string {
  return Buffer.from(MARKER_PREFIX + tagKey, 'utf8').toString('base64url');
}

function decodeMarker(marker: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(marker) ? Buffer.from(marker, 'base64url').toString('utf8') : '';
  if (!text.startsWith(MARKER_PREFIX) || text.length === MARKER_PREFIX.length) throw invalidMarker('The marker is not valid for this request.');
  return text.slice(MARKER_PREFIX.length);
}

/** Byte order of the UTF-8 encodings: the same on every database and locale. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export const listResourceTags = operation('ListResourceTags', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const limit = Math.min(input.integer('Limit', { min: 1, max: 1000 }) ?? PAGE_MAX, PAGE_MAX);
  const marker = input.string('Marker', { min: 1, max: 1024 });
  const after = marker === undefined ? undefined : decodeMarker(marker);

  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:ListResourceTags', key);
  // At most 50 tags per key, so the page is cut here rather than in SQL.
  const all = (await repo.listTags(ctx.deps.store.db, key.keyId)).sort((a, b) => compareKeys(a[0], b[0]));
  const rest = after === undefined ? all : all.filter(([k]) => compareKeys(k, after) > 0);
  const page = rest.slice(0, limit);
  const truncated = rest.length > limit;
  return {
    Tags: page.map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
    Truncated: truncated,
    ...(truncated ? { NextMarker: encodeMarker(page[page.length - 1]![0]) } : {}),
  };
});
