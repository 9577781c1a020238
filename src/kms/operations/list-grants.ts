/**
 * ListGrants (AWS KMS API Reference): a key's grants in creation order,
 * optionally only one GrantId or one GranteePrincipal, paged with Limit
 * (1–1000, at most 100 a page, default 50) and an opaque Marker. Needs
 * kms:ListGrants from a policy (a grant cannot give it).
 */
import { invalidMarker, unsupportedOperation } from '../../aws/errors.js';
import { authorize } from '../keys.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { operation } from '../operation.js';
import { listGrants as listGrantRows } from '../../storage/grants.repository.js';
import { decodeGrantMarker, encodeGrantMarker, grantListEntry, readPrincipal } from '../grants.js';

const PAGE_MAX = 100;

export const listGrants = operation('ListGrants', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const limit = Math.min(input.integer('Limit', { min: 1, max: 1000 }) ?? 50, PAGE_MAX);
  const marker = input.string('Marker', { min: 1, max: 1024 });
  const grantId = input.string('GrantId', { min: 1, max: 128 });
  const grantee = readPrincipal(input, 'GranteePrincipal', false);
  if (input.has('GranteeServicePrincipal')) throw unsupportedOperation('Service principals (GranteeServicePrincipal) are not supported by this custodian.');
  const after = marker === undefined ? undefined : decodeGrantMarker(marker, () => invalidMarker('The marker is not valid for this request.'));

  // KeyId: a key id or key ARN only (AWS KMS API Reference, ListGrants).
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:ListGrants', key);
  // One row more than the page tells whether another page follows.
  const rows = await listGrantRows(ctx.deps.store.db, { keyId: key.keyId, grantId, granteePrincipal: grantee, after, limit: limit + 1 });
  const page = rows.slice(0, limit);
  const truncated = rows.length > limit;
  const last = page[page.length - 1];
  return {
    Grants: page.map((g) => grantListEntry(key, g)),
    Truncated: truncated,
    ...(truncated && last ? { NextMarker: encodeGrantMarker(last) } : {}),
  };
});
