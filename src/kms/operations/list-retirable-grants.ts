/**
 * ListRetirableGrants (AWS KMS API Reference): the grants, on any key of the
 * account, whose retiring principal is RetiringPrincipal, in creation order,
 * paged like ListGrants. Needs kms:ListRetirableGrants from an identity
 * policy (resource `*`; the account root has it).
 */
import { constraintViolation, invalidMarker, unsupportedOperation } from '../../aws/errors.js';
import { authorize } from '../keys.js';
import { operation } from '../operation.js';
import { listRetirableGrants as listRetirableRows } from '../../storage/grants.repository.js';
import { decodeGrantMarker, encodeGrantMarker, grantListEntry, readPrincipal } from '../grants.js';

const PAGE_MAX = 100;

export const listRetirableGrants = operation('ListRetirableGrants', async (input, ctx) => {
  const limit = Math.min(input.integer('Limit', { min: 1, max: 1000 }) ?? 50, PAGE_MAX);
  const marker = input.string('Marker', { min: 1, max: 1024 });
  if (input.has('RetiringServicePrincipal')) throw unsupportedOperation('Service principals (RetiringServicePrincipal) are not supported by this custodian.');
  const retiring = readPrincipal(input, 'RetiringPrincipal', false);
  if (retiring === undefined) throw constraintViolation('retiringPrincipal', null, 'Member must not be null');
  const after = marker === undefined ? undefined : decodeGrantMarker(marker, () => invalidMarker('The marker is not valid for this request.'));

  await authorize(ctx, 'kms:ListRetirableGrants', undefined);
  const rows = await listRetirableRows(ctx.deps.store.db, { retiringPrincipal: retiring, after, limit: limit + 1 });
  const page = rows.slice(0, limit);
  const truncated = rows.length > limit;
  const last = page[page.length - 1];
  const { region, accountId } = ctx.deps.config;
  return {
    Grants: page.map((g) => grantListEntry({ region, accountId, keyId: g.keyId }, g)),
    Truncated: truncated,
    ...(truncated && last ? { NextMarker: encodeGrantMarker(last) } : {}),
  };
});
