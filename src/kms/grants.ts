/**
 * KMS grants (AWS KMS Developer Guide, "Grants in AWS KMS"; API Reference,
 * CreateGrant): what a grant may contain for a key, how a request is matched
 * against a key's grants, grant tokens, and the GrantListEntry view.
 *
 * A grant is an additional allow: an operation a grant permits is allowed
 * even where neither the key policy nor an identity policy allows it, but an
 * explicit Deny in either still wins ("No AWS principal … has any
 * permissions to a KMS key unless they are explicitly allowed, and never
 * denied, in a key policy, IAM policy, or grant"). Grants are consulted only
 * when the policies do not allow a request, so a request the policies allow
 * (the Sign hot path) never reads them.
 *
 * Grant tokens: AWS hands one out per CreateGrant so that a new grant can be
 * used before it is eventually consistent. Here a grant is effective in the
 * process that made it as soon as CreateGrant returns; other processes on the
 * same store cache a key's grants for the key cache's lifetime, and a token
 * naming a grant their cached list lacks makes them read the store, so with
 * its token a new grant works everywhere at once. Tokens are checked (at most
 * 10 per request, each 1 to 8192 characters, one this custodian issued), and
 * RetireGrant uses one to name its grant. A token names its grant and carries a
 * random nonce; like AWS's, every token of one grant is interchangeable, and
 * it is not a credential: who may retire a grant is decided by its principals.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constraintViolation, invalidGrantToken, validation } from '../aws/errors.js';
import { grantsOfKey, type Grant, type GrantConstraints } from '../storage/grants.repository.js';
import type { Input } from './input.js';
import type { Caller } from '../aws/context.js';
import { keyArn, type KeyRecord, type KeyUsage } from './model.js';
import type { OperationContext } from './context.js';

export type { Grant, GrantConstraints };

/** AWS's GrantOperation enum (the KMS service model). */
export const GRANT_OPERATIONS = [
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'Sign',
  'Verify',
  'GetPublicKey',
  'CreateGrant',
  'RetireGrant',
  'DescribeKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac',
  'VerifyMac',
  'DeriveSharedSecret',
] as const;
export type GrantOperation = (typeof GRANT_OPERATIONS)[number];

const ANY_KEY: readonly GrantOperation[] = ['CreateGrant', 'RetireGrant', 'DescribeKey'];

/**
 * The grant operations valid for each key usage (AWS KMS Developer Guide,
 * "Key type reference"; CreateGrant: an operation the key does not support
 * is a ValidationException).
 */
export const OPERATIONS_FOR_USAGE: Record<KeyUsage, readonly GrantOperation[]> = {
  ENCRYPT_DECRYPT: [
    'Decrypt',
    'Encrypt',
    'GenerateDataKey',
    'GenerateDataKeyWithoutPlaintext',
    'GenerateDataKeyPair',
    'GenerateDataKeyPairWithoutPlaintext',
    'ReEncryptFrom',
    'ReEncryptTo',
    ...ANY_KEY,
  ],
  SIGN_VERIFY: ['Sign', 'Verify', 'GetPublicKey', ...ANY_KEY],
  GENERATE_VERIFY_MAC: ['GenerateMac', 'VerifyMac', ...ANY_KEY],
};

/** The grant operations that take an encryption context, to which a grant's constraint applies. */
const CONTEXT_OPERATIONS: ReadonlySet<string> = new Set([
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
]);

export const GRANT_ID_RE = /^[0-9a-f]{64}$/;
/** IAM principal ARNs a grant may name (PrincipalIdType, restricted to the principals this custodian has). */
const PRINCIPAL_RE = /^arn:aws:(?:iam::\d{12}:(?:root|user\/[\w+=,.@/-]+|role\/[\w+=,.@/-]+)|sts::\d{12}:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+)$/;
const PRINCIPAL_PATTERN = /^[\w+=,.@:/-]+$/;
const GRANT_NAME_RE = /^[a-zA-Z0-9:/_-]+$/;
const TOKEN_BYTES = 64;

/** A new grant id: 64 lower-case hex digits, as AWS's. */
export function newGrantId(): string {
  return randomBytes(32).toString('hex');
}

/** A new token for `grantId`: base64url of the id's 32 bytes and a 32-byte random nonce. */
export function newGrantToken(grantId: string): string {
  return Buffer.concat([Buffer.from(grantId, 'hex'), randomBytes(32)]).toString('base64url');
}

/** The grant id a token names, or undefined when it is not a token this custodian issued. */
export function grantIdOfToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{86}$/.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  return bytes.length === TOKEN_BYTES ? bytes.subarray(0, 32).toString('hex') : undefined;
}

/**
 * The grant ids named by a request body's `GrantTokens`, if it has any
 * (malformed tokens are skipped here; the operation refuses them).
 */
export function grantIdsOfTokens(body: unknown): ReadonlySet<string> | undefined {
  const tokens = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).GrantTokens : undefined;
  if (!Array.isArray(tokens) || tokens.length === 0 || tokens.length > 10) return undefined;
  const ids = new Set<string>();
  for (const t of tokens) {
    const id = typeof t === 'string' ? grantIdOfToken(t) : undefined;
    if (id) ids.add(id);
  }
  return ids.size ? ids : undefined;
}

/**
 * Checks one grant token's shape (GrantTokenType: 1 to 8192 characters) and origin.
 * @throws {AwsError} ValidationException or InvalidGrantTokenException.
 */
export function checkGrantToken(token: string, field: string): string {
  if (token.length < 1) throw constraintViolation(field, null, 'Member must have length greater than or equal to 1');
  if (token.length > 8192) throw constraintViolation(field, null, 'Member must have length less than or equal to 8192');
  const id = grantIdOfToken(token);
  if (id === undefined) throw invalidGrantToken('Invalid grant token.');
  return id;
}

/**
 * Reads `GrantTokens` (GrantTokenList: at most 10 tokens) on the operations
 * AWS accepts them on. The tokens are checked and otherwise unused: a grant
 * here is effective as soon as it is created.
 * @throws {AwsError} SerializationException, ValidationException or InvalidGrantTokenException.
 */
export function readGrantTokens(input: Input): void {
  const tokens = input.stringList('GrantTokens', { max: 10 });
  if (!tokens) return;
  tokens.forEach((t, i) => checkGrantToken(t, `grantTokens.${i + 1}.member`));
}

/**
 * Reads and checks a principal field (GranteePrincipal, RetiringPrincipal).
 * @throws {AwsError} ValidationException.
 */
export function readPrincipal(input: Input, name: 'GranteePrincipal' | 'RetiringPrincipal', required: boolean): string | undefined {
  const wire = name.charAt(0).toLowerCase() + name.slice(1);
  const value = required ? input.string(name, { required: true, min: 1, max: 256 }) : input.string(name, { min: 1, max: 256 });
  if (value === undefined) return undefined;
  if (!PRINCIPAL_PATTERN.test(value)) {
    throw constraintViolation(wire, value.length <= 64 ? value : `${value.slice(0, 64)}…`, 'Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$');
  }
  if (!PRINCIPAL_RE.test(value))
    throw validation(`${name} ${value.slice(0, 256)} is not a valid principal ARN (an account root, IAM user, IAM role or assumed-role session).`);
  return value;
}

/**
 * Reads `Name` (GrantNameType: 1-256 of [a-zA-Z0-9:/_-]).
 * @throws {AwsError} ValidationException.
 */
export function readGrantName(input: Input): string | undefined {
  const name = input.string('Name', { min: 1, max: 256 });
  if (name !== undefined && !GRANT_NAME_RE.test(name)) {
    throw constraintViolation('name', name.length <= 64 ? name : `${name.slice(0, 64)}…`, 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$');
  }
  return name;
}

/**
 * Reads `Operations` (required, values of GrantOperation, duplicates removed).
 * @throws {AwsError} ValidationException.
 */
export function readGrantOperations(input: Input): GrantOperation[] {
  const raw = input.stringList('Operations');
  if (raw === undefined) throw constraintViolation('operations', null, 'Member must not be null');
  const out: GrantOperation[] = [];
  raw.forEach((v, i) => {
    const op = GRANT_OPERATIONS.find((o) => o === v);
    if (op === undefined) {
      throw constraintViolation(
        `operations.${i + 1}.member`,
        v.length <= 64 ? v : `${v.slice(0, 64)}…`,
        `Member must satisfy enum value set: [${GRANT_OPERATIONS.join(', ')}]`,
      );
    }
    if (!out.includes(op)) out.push(op);
  });
  if (out.length === 0) throw validation('Grants must contain at least one operation.');
  return out;
}

/**
 * Reads `Constraints` (GrantConstraints: EncryptionContextSubset or EncryptionContextEquals).
 * @throws {AwsError} SerializationException or ValidationException.
 */
export function readConstraints(input: Input): GrantConstraints | null {
  const c = input.object('Constraints');
  if (!c) return null;
  const subset = c.stringMap('EncryptionContextSubset');
  const equals = c.stringMap('EncryptionContextEquals');
  if (subset && equals) throw validation('A grant constraint can be EncryptionContextSubset or EncryptionContextEquals, not both.');
  if (subset) return { encryptionContextSubset: sortedMap(subset) };
  if (equals) return { encryptionContextEquals: sortedMap(equals) };
  return null;
}

function sortedMap(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Checks a grant's operations and constraint against its key, as CreateGrant does.
 * @throws {AwsError} ValidationException naming the operations the key does not support.
 */
export function checkGrantForKey(key: KeyRecord, operations: readonly GrantOperation[], constraints: GrantConstraints | null): void {
  const valid = OPERATIONS_FOR_USAGE[key.keyUsage];
  const invalid = operations.filter((op) => !valid.includes(op));
  if (invalid.length) {
    throw validation(`Grant operations [${invalid.join(', ')}] are not valid for key ${keyArn(key)} (key spec ${key.keySpec}, key usage ${key.keyUsage}).`);
  }
  // AWS: "Grants must not contain only the CreateGrant operation."
  if (operations.length === 1 && operations[0] === 'CreateGrant') throw validation('Grants must not contain only the CreateGrant operation.');
  if (constraints && key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw validation(
      `Encryption context grant constraints are not supported for key ${keyArn(key)} (key spec ${key.keySpec}); they apply only to symmetric encryption keys.`,
    );
  }
}

/** The canonical text of a grant's parameters, whose SHA-256 (with its name) makes CreateGrant idempotent. */
export function grantParamsText(p: {
  granteePrincipal: string;
  retiringPrincipal: string | null;
  operations: readonly string[];
  constraints: GrantConstraints | null;
}): string {
  return JSON.stringify({
    granteePrincipal: p.granteePrincipal,
    retiringPrincipal: p.retiringPrincipal,
    operations: [...p.operations].sort(),
    constraints: p.constraints,
  });
}

/** SHA-256 (hex) of a grant's canonical parameters. */
export function grantParamsSha256(p: Parameters<typeof grantParamsText>[0]): string {
  return createHash('sha256').update(grantParamsText(p), 'utf8').digest('hex');
}

/**
 * Whether `caller` is `principal`: the same ARN, or a session of the role
 * `principal` names (a grant to a role is usable by its sessions, as in AWS).
 */
export function isPrincipal(caller: Caller, principal: string): boolean {
  if (caller.arn === principal) return true;
  const session = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(caller.arn);
  const role = /^arn:aws:iam::(\d{12}):role\/(?:[^/]+\/)*([^/]+)$/.exec(principal);
  return !!session && !!role && session[1] === role[1] && session[2] === role[2];
}

/** The request's encryption context, from the condition keys authorize() passes (kms:EncryptionContextKeys and kms:EncryptionContext:<key>). */
function contextOf(conditions: Record<string, string | string[]>): Record<string, string> {
  const keys = conditions['kms:EncryptionContextKeys'];
  const out: Record<string, string> = Object.create(null);
  for (const k of Array.isArray(keys) ? keys : keys === undefined ? [] : [keys]) {
    const v = conditions[`kms:EncryptionContext:${k}`];
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/** Whether a request's encryption context meets a grant's constraint (none: always). */
export function meetsConstraints(constraints: GrantConstraints | null, context: Record<string, string>): boolean {
  if (!constraints) return true;
  const required = constraints.encryptionContextSubset ?? constraints.encryptionContextEquals ?? {};
  for (const [k, v] of Object.entries(required)) if (context[k] !== v) return false;
  if (constraints.encryptionContextEquals) return Object.keys(context).length === Object.keys(required).length;
  return true;
}

/**
 * A key's grants: from the key cache, else (or when the request's grant
 * tokens name a grant the cached list lacks) from the store, then cached
 * with the key's record.
 */
export async function loadGrants(ctx: OperationContext, keyId: string): Promise<readonly Grant[]> {
  const { keyCache, store } = ctx.deps;
  const cached = keyCache.getGrants(keyId, ctx.info.now);
  // A token naming a grant the cached list lacks: the grant may be newer than the cache (AWS's reason for tokens).
  const fresh = !cached || [...(ctx.grantTokenIds ?? [])].some((id) => !cached.some((g) => g.grantId === id));
  if (!fresh) return cached;
  const generation = keyCache.generation();
  const grants = await grantsOfKey(store.db, keyId);
  keyCache.putGrants(keyId, grants, generation);
  return grants;
}

/**
 * The grant that lets the caller perform `action` on `key` with this
 * request's encryption context, if any. Called only when the policies do not
 * allow the request.
 */
export async function findAllowingGrant(
  ctx: OperationContext,
  key: KeyRecord,
  action: string,
  conditions: Record<string, string | string[]>,
): Promise<Grant | undefined> {
  if (!action.startsWith('kms:')) return undefined;
  const operation = action.slice(4);
  if (!GRANT_OPERATIONS.some((o) => o === operation)) return undefined;
  const grants = await loadGrants(ctx, key.keyId);
  if (grants.length === 0) return undefined;
  const context = CONTEXT_OPERATIONS.has(operation) ? contextOf(conditions) : undefined;
  return grants.find(
    (g) =>
      g.operations.includes(operation) && isPrincipal(ctx.caller, g.granteePrincipal) && (context === undefined || meetsConstraints(g.constraints, context)),
  );
}

/**
 * AWS's rule for a grantee that holds CreateGrant through a grant (Developer
 * Guide, "Controlling access to grants"): the new grant may allow only
 * operations of the parent grant, and its constraint must be at least as
 * strict as the parent's.
 * @throws {AwsError} ValidationException.
 */
export function checkDerivedGrant(parent: Grant, operations: readonly GrantOperation[], constraints: GrantConstraints | null): void {
  const extra = operations.filter((op) => !parent.operations.includes(op));
  if (extra.length)
    throw validation(`A grant created through grant ${parent.grantId} may allow only its operations; [${extra.join(', ')}] are not among them.`);
  const pc = parent.constraints;
  if (!pc) return;
  const ok = pc.encryptionContextEquals
    ? !!constraints?.encryptionContextEquals && sameMap(constraints.encryptionContextEquals, pc.encryptionContextEquals)
    : !!constraints && meetsSubset(constraints.encryptionContextSubset ?? constraints.encryptionContextEquals ?? {}, pc.encryptionContextSubset ?? {});
  if (!ok) throw validation(`A grant created through grant ${parent.grantId} must carry a constraint at least as strict as that grant's.`);
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  return Object.keys(a).length === Object.keys(b).length && meetsSubset(a, b);
}

/** Whether `context` includes every pair of `subset`. */
function meetsSubset(context: Record<string, string>, subset: Record<string, string>): boolean {
  return Object.entries(subset).every(([k, v]) => context[k] === v);
}

/** AWS's GrantListEntry. */
export function grantListEntry(key: Pick<KeyRecord, 'region' | 'accountId' | 'keyId'>, g: Grant): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    KeyId: keyArn(key),
    GrantId: g.grantId,
    CreationDate: g.createdAt / 1000,
    GranteePrincipal: g.granteePrincipal,
    IssuingAccount: `arn:aws:iam::${g.issuingAccount}:root`,
    Operations: g.operations,
  };
  if (g.name !== null) entry.Name = g.name;
  if (g.retiringPrincipal !== null) entry.RetiringPrincipal = g.retiringPrincipal;
  if (g.constraints?.encryptionContextSubset) entry.Constraints = { EncryptionContextSubset: g.constraints.encryptionContextSubset };
  if (g.constraints?.encryptionContextEquals) entry.Constraints = { EncryptionContextEquals: g.constraints.encryptionContextEquals };
  return entry;
}

const MARKER_PREFIX = 'grants/v1:';

/** An opaque marker for the page after grant `g`. */
export function encodeGrantMarker(g: Grant): string {
  return Buffer.from(`${MARKER_PREFIX}${g.createdAt}:${g.grantId}`, 'utf8').toString('base64url');
}

/**
 * Decodes a marker made by encodeGrantMarker.
 * @throws {AwsError} InvalidMarkerException.
 */
export function decodeGrantMarker(marker: string, invalid: () => Error): { createdAt: number; grantId: string } {
  const text = /^[A-Za-z0-9_-]+$/.test(marker) ? Buffer.from(marker, 'base64url').toString('utf8') : '';
  const m = /^grants\/v1:(\d{1,16}):([0-9a-f]{64})$/.exec(text);
  if (!m) throw invalid();
  return { createdAt: Number(m[1]), grantId: m[2]! };
}
