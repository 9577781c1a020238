/**
 * A KMS key's signing policy (docs/signing-policy.md): reading it for every
 * signing request — one primary-key read of its text, compared with the copy
 * compiled in the key cache, so a policy changed by any process sharing the
 * store applies to the next request and the policy is parsed again only when
 * its text changed — writing it as the
 * permission change it is — under the key's quorum rule, else the account
 * rule — and the rule that leaves no path around it: once a key has a
 * signing policy, KMS `Sign` of a digest (which the policy cannot see) is
 * refused unless the key policy explicitly allows raw signing.
 */
import { AwsError, accessDenied, internal, invalidState, malformedPolicyDocument, notFound, validation } from '../aws/errors.js';
import { parseSigningPolicy, SigningPolicyError, type SigningPolicy } from '../signing-policy/document.js';
import {
  deleteSigningPolicy,
  findSigningPolicy,
  findSigningPolicyText,
  putSigningPolicy,
  type SigningPolicyRow,
} from '../storage/signing-policies.repository.js';
import type { CachedSigningPolicy, SigningPolicyStamp } from './key-cache.js';
import { signingPolicyStamp } from './signing-policy-stamp.js';
import type { OperationContext } from './context.js';
import { keyChanged, requireNotPendingDeletion } from './keys.js';
import { keyArn, type KeyRecord } from './model.js';
import { proposeSigningPolicyChange } from './policy/quorum.js';

/**
 * The action a key policy must allow, by name, for KMS `Sign` of a digest on
 * a key with a signing policy. Only a key-policy statement that lists it
 * literally counts: `*`, `kms:*` or `symbolon:*` never do.
 */
export const RAW_SIGN_ACTION = 'symbolon:SignRawDigest';

/** The kms:ViaService value of signatures of decoded payloads: `${via}.symbolon`. */
export const VIA_SERVICES = { rpc: 'rpc.symbolon', api: 'api.symbolon' } as const;

/**
 * The key's signing policy, or null when it has none.
 * @throws {AwsError} KMSInternalException when the stored policy no longer parses (fail closed).
 */
export async function loadSigningPolicy(ctx: OperationContext, key: KeyRecord): Promise<CachedSigningPolicy> {
  const { keyCache, store } = ctx.deps;
  const generation = keyCache.generation();
  // Read every time, unlike the key's record: a tightened policy must not wait for the cache to expire.
  // A request that missed the key cache read it with the key, in the same statement (resolveKey's signingPolicy option).
  // On SQLite the cached copy is the stored one while no other connection committed and this process wrote no
  // signing policy since it was read (src/kms/signing-policy-stamp.ts): then there is nothing to read.
  const read = ctx.signingPolicyRead;
  let text: string | undefined;
  let stamp: SigningPolicyStamp | undefined;
  if (read?.keyId === key.keyId) {
    delete ctx.signingPolicyRead;
    text = read.text;
    stamp = read.stamp;
  } else {
    stamp = signingPolicyStamp(store);
    if (stamp) {
      const current = keyCache.getSigningPolicy(key.keyId, ctx.info.now, stamp);
      if (current !== undefined) return current;
    }
    text = await findSigningPolicyText(store.db, key.keyId);
  }
  const cached = keyCache.getSigningPolicy(key.keyId, ctx.info.now);
  const value: CachedSigningPolicy =
    cached !== undefined && (cached?.text ?? undefined) === text ? cached : text === undefined ? null : { text, policy: parseStoredSigningPolicy(text) };
  keyCache.putSigningPolicy(key.keyId, value, generation, stamp);
  return value;
}

// Parsed signing policies by text: keys that share a policy text share its parse (a SigningPolicy is never mutated).
const parsedCache = new Map<string, SigningPolicy>();

/**
 * A stored signing policy's compiled form.
 * @throws {AwsError} KMSInternalException when it no longer parses (fail closed).
 */
function parseStoredSigningPolicy(text: string): SigningPolicy {
  let policy = parsedCache.get(text);
  if (policy) return policy;
  try {
    policy = parseSigningPolicy(text);
  } catch (e) {
    if (e instanceof SigningPolicyError) throw internal('The stored signing policy of this key could not be read; signing is refused.');
    throw e;
  }
  if (parsedCache.size >= 1000) parsedCache.clear();
  parsedCache.set(text, policy);
  return policy;
}

// Reduced key policies (only the statements that can allow raw signing), by key-policy text.
const reducedCache = new Map<string, string | null>();

/** The key policy's Deny statements and its Allow statements that name RAW_SIGN_ACTION literally; null when no Allow does. */
function rawSigningPolicy(policyText: string): string | null {
  const hit = reducedCache.get(policyText);
  if (hit !== undefined) return hit;
  let reduced: string | null = null;
  try {
    const doc = JSON.parse(policyText) as { Version?: unknown; Statement?: unknown };
    const statements = (Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]) as Array<Record<string, unknown>>;
    const names = (a: unknown) => (Array.isArray(a) ? a : [a]).some((x) => typeof x === 'string' && x.toLowerCase() === RAW_SIGN_ACTION.toLowerCase());
    const allows = statements.filter((s) => s && s.Effect === 'Allow' && names(s.Action));
    if (allows.length > 0) {
      const denies = statements.filter((s) => s && s.Effect === 'Deny');
      reduced = JSON.stringify({ ...(doc.Version === undefined ? {} : { Version: doc.Version }), Statement: [...denies, ...allows] });
    }
  } catch {
    reduced = null;
  }
  if (reducedCache.size >= 1000) reducedCache.clear();
  reducedCache.set(policyText, reduced);
  return reduced;
}

/**
 * KMS `Sign` of a digest: on a key with a signing policy, refused unless the
 * key policy allows RAW_SIGN_ACTION to the caller by a statement naming it
 * (evaluated with the key policy's Deny statements and the caller's identity
 * policies, as any KMS request; grants do not count).
 * @throws {AwsError} AccessDeniedException.
 */
export async function requireRawSigningAllowed(ctx: OperationContext, key: KeyRecord, conditions: Record<string, string | string[]>): Promise<void> {
  if ((await loadSigningPolicy(ctx, key)) === null) return;
  const reduced = rawSigningPolicy(key.policy);
  if (reduced !== null) {
    try {
      await ctx.deps.authorizer.authorize({ caller: ctx.caller, info: ctx.info, action: RAW_SIGN_ACTION, key: { ...key, policy: reduced }, conditions });
      return;
    } catch (e) {
      if (!(e instanceof AwsError && e.type === 'AccessDeniedException')) throw e;
    }
  }
  throw accessDenied(
    `User: ${ctx.caller.arn} is not authorized to perform: kms:Sign on resource: ${keyArn(key)} because the key has a signing policy: ` +
      `sign the decoded payload (SymbolonSigning.SignPayload or the JSON-RPC signer), or allow ${RAW_SIGN_ACTION} in the key policy (docs/signing-policy.md)`,
  );
}

/** Only secp256k1 signing keys sign Ethereum payloads. */
function requireEthKey(key: KeyRecord): void {
  requireNotPendingDeletion(key);
  if (key.keySpec !== 'ECC_SECG_P256K1' || key.keyUsage !== 'SIGN_VERIFY')
    throw validation(`A signing policy applies to ECC_SECG_P256K1 signing keys; ${keyArn(key)} is ${key.keySpec} ${key.keyUsage}.`);
}

/**
 * Checks a signing policy's text.
 * @throws {AwsError} MalformedPolicyDocumentException naming the fault.
 */
export function checkSigningPolicy(text: string): void {
  try {
    parseSigningPolicy(text);
  } catch (e) {
    if (e instanceof SigningPolicyError) throw malformedPolicyDocument(e.message);
    throw e;
  }
}

/** The stored policy, read from the store (not the cache: a change's base must be current). */
export async function storedSigningPolicy(ctx: OperationContext, key: KeyRecord): Promise<SigningPolicyRow | undefined> {
  return findSigningPolicy(ctx.deps.store.db, key.keyId);
}

/**
 * Puts (text) or deletes (null) a key's signing policy: at once on a key under
 * no quorum rule; a pending change under the key's rule or the account rule.
 * @throws {AwsError} KMSInvalidStateException naming the pending change; NotFoundException (delete of none);
 *   ValidationException (not a secp256k1 signing key); MalformedPolicyDocumentException.
 */
export async function writeSigningPolicy(ctx: OperationContext, key: KeyRecord, text: string | null): Promise<Record<string, unknown>> {
  requireEthKey(key);
  if (text !== null) checkSigningPolicy(text);
  const current = await storedSigningPolicy(ctx, key);
  if (text === null && !current) throw notFound(`Key '${keyArn(key)}' has no signing policy.`);
  const arn = keyArn(key);
  const base = current?.policy ?? '';
  if (text !== null && text === current?.policy) return { KeyId: arn, Status: 'APPLIED' };
  await proposeSigningPolicyChange(ctx, key, text ?? '', base);
  await ctx.deps.quorum.guard(ctx, {
    kind: text === null ? 'DeleteSigningPolicy' : 'PutSigningPolicy',
    target: arn,
    keyId: key.keyId,
    payload: text === null ? { KeyId: arn } : { KeyId: arn, Policy: text },
    base,
    protocol: 'kms',
  });
  const db = ctx.deps.store.db;
  const written =
    text === null
      ? await deleteSigningPolicy(db, key.keyId, base)
      : await putSigningPolicy(db, { keyId: key.keyId, policy: text, updatedAt: ctx.info.now, updatedBy: ctx.caller.arn }, current?.policy);
  if (!written) throw invalidState(`The signing policy of key '${arn}' changed during this request; try again.`);
  keyChanged(ctx, key.keyId);
  return { KeyId: arn, Status: 'APPLIED' };
}
