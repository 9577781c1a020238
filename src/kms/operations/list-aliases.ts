/**
 * ListAliases (AWS KMS API Reference): the account's aliases in name order,
 * optionally only those of one key (KeyId: key id or key ARN), paged with
 * Limit (1–100, default 50, as AWS documents) and an opaque Marker. Each entry
 * carries AliasName, AliasArn, TargetKeyId, CreationDate and LastUpdatedDate.
 */
import * as repo from '../../storage/keys.repository.js';
import { aliasListEntry, resolveKeyIdOrArn } from '../aliases.js';
import { invalidMarker } from '../../aws/errors.js';
import { authorize } from '../keys.js';
import { operation } from '../operation.js';

const PAGE_MAX = 100;
const MARKER_PREFIX = 'aliases/v1:';

function encodeMarker(aliasName: string): string {
  return Buffer.from(MARKER_PREFIX + aliasName, 'utf8').toString('base64url');
}

function decodeMarker(marker: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(marker) ? Buffer.from(marker, 'base64url').toString('utf8') : '';
  if (!text.startsWith(MARKER_PREFIX + 'alias/')) throw invalidMarker('The marker is not valid for this request.');
  return text.slice(MARKER_PREFIX.length);
}

export const listAliases = operation('ListAliases', async (input, ctx) => {
  const keyId = input.string('KeyId', { min: 1, max: 2048 });
  const limit = Math.min(input.integer('Limit', { min: 1, max: 1000 }) ?? 50, PAGE_MAX);
  const marker = input.string('Marker', { min: 1, max: 1024 });
  const after = marker === undefined ? undefined : decodeMarker(marker);

  const key = keyId === undefined ? undefined : await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:ListAliases', undefined);
  const rows = await repo.listAliases(ctx.deps.store.db, key?.keyId, after, limit + 1);
  const page = rows.slice(0, limit);
  const truncated = rows.length > limit;
  const last = page[page.length - 1];
  return {
    Aliases: page.map((row) => aliasListEntry(ctx, row)),
    Truncated: truncated,
    ...(truncated && last ? { NextMarker: encodeMarker(last.aliasName) } : {}),
  };
});
