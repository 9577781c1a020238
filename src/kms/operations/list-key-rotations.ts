/**
 * ListKeyRotations (AWS KMS API Reference): the completed rotations of a
 * symmetric encryption key, oldest first, each with its RotationDate and
 * RotationType (AUTOMATIC or ON_DEMAND); the key's original material is not a
 * rotation. Paged with Limit (1–1000, default 100) and an opaque Marker.
 */
import * as repo from '../../storage/keys.repository.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { invalidMarker } from '../../aws/errors.js';
import { authorize } from '../keys.js';
import { requireRotatable } from '../maintenance.js';
import { operation } from '../operation.js';

const MARKER_PREFIX = 'rotations/v1:';

function encodeMarker(version: number): string {
  return Buffer.from(`${MARKER_PREFIX}${version}`, 'utf8').toString('base64url');
}

function decodeMarker(marker: string): number {
  const text = /^[A-Za-z0-9_-]+$/.test(marker) ? Buffer.from(marker, 'base64url').toString('utf8') : '';
  const m = text.startsWith(MARKER_PREFIX) ? /^[1-9]\d{0,9}$/.exec(text.slice(MARKER_PREFIX.length)) : null;
  if (!m) throw invalidMarker('The marker is not valid for this request.');
  return Number(m[0]);
}

export const listKeyRotations = operation('ListKeyRotations', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const limit = input.integer('Limit', { min: 1, max: 1000 }) ?? 100;
  const marker = input.string('Marker', { min: 1, max: 1024 });
  const after = marker === undefined ? 0 : decodeMarker(marker);

  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:ListKeyRotations', key);
  requireRotatable(key);
  // Few rows: at most 10 on-demand rotations, and automatic ones at most every 90 days.
  const rotations = (await repo.listMaterialVersions(ctx.deps.store.db, key.keyId)).filter(
    (v) => (v.rotationType === 'AUTOMATIC' || v.rotationType === 'ON_DEMAND') && v.version > after,
  );
  const page = rotations.slice(0, limit);
  const truncated = rotations.length > limit;
  return {
    Rotations: page.map((v) => ({ KeyId: key.keyId, RotationDate: v.createdAt / 1000, RotationType: v.rotationType })),
    Truncated: truncated,
    ...(truncated ? { NextMarker: encodeMarker(page[page.length - 1]!.version) } : {}),
  };
});
