/**
 * Retiring a split wallet's old share generations at the custodian
 * (docs/signer.md, "Retiring old generations"). A ciphertext under a wallet
 * master key (a key whose policy is one of the master-key templates, `Id`
 * `symbolon-wallet-master-key-<n>`, packages/sdk/src/envelope/masterKeyPolicy.ts)
 * whose encryption context names an `address` is a split wallet's share A
 * (that policy releases it only to an attested signer); its generation is the
 * context's `generation` (canonical decimal, 1..2^31-1) or 0 without one
 * (src/signer/shareContext.ts makes these contexts). Under any other key,
 * `address` and `generation` are ordinary context pairs: a KMS user who
 * names them is neither checked nor locked out, and cannot create or raise
 * a row. Under a master key the pair is reserved for shares: the template
 * binds every use to its one owner (sub or uid context and tags), so only
 * the owner's own rows can be touched, and a share A cannot take another
 * shape, because it opens only under the exact context it was sealed with.
 *
 * Per (master key, address) the custodian keeps the generation it releases
 * and the SHA-256 of the one share A ciphertext it releases at that
 * generation (kms_share_generations). Every Decrypt and ReEncrypt that opens
 * such a ciphertext is checked once it has opened: an older generation, or
 * another ciphertext of the current one, is refused with
 * KMSInvalidStateException ("Share generation retired: …") and nothing is
 * returned. A Decrypt with `Recipient` — the owner's session and an attested
 * signer, which is what the key policy requires for share A — that opens a
 * *newer* generation raises the row to it (a compare-and-set, safe across
 * processes); the first such Decrypt of a wallet creates the row. Nothing
 * lowers a row: no operation, no policy, no credential.
 *
 * The raise happens on the first attested use of a generation, never when a
 * rotation is merely computed: the wallet store commits a rotation first and
 * the next use of the committed pair (the SDK makes one right after the
 * commit) retires the older ones, so a crash at any step never retires the
 * generation the wallet store serves.
 */
import { createHash } from 'node:crypto';
import { AwsError, invalidState } from '../aws/errors.js';
import { AUDIT_NOT_DURABLE, type AuditEvent } from '../audit/event.js';
import * as repo from '../storage/share-generations.repository.js';
import type { OperationContext } from './context.js';
import type { KeyRecord } from './model.js';
import { keyArn } from './model.js';

/** The context key of a split share's address, and of its generation (src/signer/shareContext.ts). */
export const ADDRESS_CONTEXT_KEY = 'address';
export const GENERATION_CONTEXT_KEY = 'generation';
const MAX_GENERATION = 2 ** 31 - 1;

/** What prefixes the refusal's message; the signer maps it to `share_generation_retired`. */
export const SHARE_GENERATION_RETIRED = 'Share generation retired';

/**
 * The split share a context names, if any.
 * @returns undefined when the context names no address; generation -1 when its generation is not canonical.
 */
export function shareOfContext(context: Record<string, string> | undefined): { address: string; generation: number } | undefined {
  const address = context?.[ADDRESS_CONTEXT_KEY];
  if (address === undefined) return undefined;
  const g = context?.[GENERATION_CONTEXT_KEY];
  if (g === undefined) return { address, generation: 0 };
  const n = /^[1-9][0-9]{0,9}$/.test(g) ? Number(g) : -1;
  return { address, generation: n <= MAX_GENERATION ? n : -1 };
}

/** The `Id` of every master-key policy template (1, 2, 3, …): the keys whose `address` contexts are shares. */
const MASTER_KEY_POLICY_ID = /^symbolon-wallet-master-key-[1-9][0-9]{0,3}$/;

/** Whether `key` is a wallet master key: its key policy is one of the master-key templates. */
export function isWalletMasterKey(key: KeyRecord): boolean {
  try {
    const id = (JSON.parse(key.policy) as { Id?: unknown } | null)?.Id;
    return typeof id === 'string' && MASTER_KEY_POLICY_ID.test(id);
  } catch {
    return false;
  }
}

function retired(message: string): Error {
  return invalidState(`${SHARE_GENERATION_RETIRED}: ${message}`);
}

function raisedEvent(ctx: OperationContext, key: KeyRecord, context: Record<string, string>): AuditEvent {
  return {
    time: ctx.info.now,
    requestId: ctx.info.requestId,
    service: 'kms',
    operation: 'RaiseShareGeneration',
    principalArn: ctx.caller.arn,
    principalTags: { ...ctx.caller.tags },
    accessKeyId: ctx.caller.accessKeyId,
    sourceIp: ctx.info.sourceIp,
    userAgent: ctx.info.userAgent,
    keyArn: keyArn(key),
    encryptionContext: { ...context },
    signingAlgorithm: null,
    outcome: 'allowed',
    errorCode: null,
  };
}

/**
 * Admits an opened share A ciphertext, or refuses it as retired; with `attested`, a newer
 * generation is raised to first. Contexts that name no address, and keys that are not wallet master keys, pass untouched.
 * @throws {AwsError} KMSInvalidStateException when the generation is retired.
 */
export async function admitShareGeneration(
  ctx: OperationContext,
  r: { key: KeyRecord; context: Record<string, string> | undefined; blob: Uint8Array; attested: boolean },
): Promise<void> {
  const share = shareOfContext(r.context);
  if (!share || !r.context || !isWalletMasterKey(r.key)) return;
  if (share.generation < 0) throw retired('the encryption context names no valid share generation.');
  const db = ctx.deps.store.db;
  const digest = createHash('sha256').update(r.blob).digest('hex');
  const wanted = { keyId: r.key.keyId, address: share.address, generation: share.generation, shareADigest: digest, updatedAt: ctx.info.now };
  // A compare-and-set loop: another process may create or raise the row between read and write.
  for (let attempt = 0; attempt < 4; attempt++) {
    const row = await repo.findShareGeneration(db, r.key.keyId, share.address);
    if (row && row.generation > share.generation) throw retired(`generation ${share.generation} of this address was replaced by generation ${row.generation}.`);
    if (row && row.generation === share.generation) {
      if (row.shareADigest === digest) return;
      throw retired(`another share A of generation ${share.generation} of this address is the one in use.`);
    }
    // No row, or an older one: only an attested release moves it.
    if (!r.attested) return;
    const moved = row ? await repo.raiseShareGeneration(db, row.generation, wanted) : await repo.insertShareGeneration(db, wanted);
    if (moved) {
      // A state change: acknowledged only once its audit event is durable (a retry finds the row raised and passes).
      try {
        await ctx.deps.audit.recordDurable(raisedEvent(ctx, r.key, r.context));
      } catch {
        throw new AwsError('KMSInternalException', AUDIT_NOT_DURABLE, 500);
      }
      return;
    }
  }
  throw retired('the share generation of this address is changing; retry.');
}
