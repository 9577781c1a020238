/**
 * Opening a symmetric ciphertext blob for Decrypt and ReEncrypt, as AWS KMS
 * does: the blob names its key and key-material version (so `KeyId` is
 * optional); a `KeyId` that names another key is IncorrectKeyException; a blob
 * that is not ours, was altered, names a version that does not exist, or is
 * opened with a different encryption context is InvalidCiphertextException
 * with an empty message (AWS says nothing more, and neither do we).
 */
import * as repo from '../storage/keys.repository.js';
import type { MaterialRow } from '../storage/keys.repository.js';
import { AwsError, incorrectKey, invalidCiphertext } from '../aws/errors.js';
import { CiphertextError, decrypt, parseCiphertextHeader } from './keystore.js';
import { authorize, loadMaterial, resolveKey } from './keys.js';
import type { OperationContext } from './context.js';
import type { KeyRecord } from './model.js';

/**
 * Finds the key a blob was made under and authorizes `action` on it. When the
 * caller names a key, that key is authorized first and must be the blob's.
 * @returns the key and the material version the blob names.
 * @throws {AwsError} InvalidCiphertextException, IncorrectKeyException, NotFoundException (a named key that does not exist), AccessDeniedException.
 */
export async function resolveCiphertextKey(
  ctx: OperationContext,
  blob: Uint8Array,
  requestedKeyId: string | undefined,
  action: string,
  conditions: Record<string, string | string[]>,
): Promise<{ key: KeyRecord; version: number }> {
  const header = parseCiphertextHeader(blob);
  if (!header) throw invalidCiphertext();
  let key: KeyRecord;
  if (requestedKeyId !== undefined) {
    key = await resolveKey(ctx, requestedKeyId);
    await authorize(ctx, action, key, conditions);
    if (key.keyId !== header.keyId) {
      throw incorrectKey('The key ID in the request does not identify a CMK that can perform this operation.');
    }
  } else {
    try {
      key = await resolveKey(ctx, header.keyId);
    } catch (e) {
      // A blob naming a key this account does not have is not a ciphertext we can open.
      if (e instanceof AwsError && e.type === 'NotFoundException') throw invalidCiphertext();
      throw e;
    }
    await authorize(ctx, action, key, conditions);
  }
  return { key, version: header.version };
}

async function materialForCiphertext(ctx: OperationContext, key: KeyRecord, version: number): Promise<MaterialRow> {
  // Versions are positive 32-bit SQL integers; anything else names nothing (and
  // must not reach PostgreSQL, which rejects a value outside int4).
  if (version < 1 || version > 0x7fffffff) throw invalidCiphertext();
  if (version > key.currentVersion) {
    // The key record may be cached from before a rotation made by another
    // process, so ask the store before calling the version nonexistent.
    const m = await repo.findMaterial(ctx.deps.store.db, key.keyId, version);
    if (!m) throw invalidCiphertext();
    return m;
  }
  return loadMaterial(ctx, key, version);
}

/**
 * Decrypts a blob with the material version it names, binding `context`.
 * The caller wipes the result.
 * @throws {AwsError} InvalidCiphertextException.
 */
export async function openCiphertext(
  ctx: OperationContext,
  key: KeyRecord,
  version: number,
  blob: Uint8Array,
  context: Record<string, string> | undefined,
): Promise<Uint8Array> {
  const material = await materialForCiphertext(ctx, key, version);
  try {
    return decrypt(ctx.deps.root, key.keyId, material.version, material.sealed, blob, context);
  } catch (e) {
    if (e instanceof CiphertextError) throw invalidCiphertext();
    throw e;
  }
}
