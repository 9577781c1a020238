/**
 * The key policy of a user's master key (AWS KMS Developer Guide, "Key
 * policies"; IAM User Guide, "Policy evaluation logic" and "Policy variables").
 * Pure: text in, text out.
 *
 * What it says:
 * - the user's web-identity role sessions may read the key's description and
 *   this policy (DescribeKey, GetKeyPolicy), so that the device can check,
 *   before it encrypts anything under a key the wallet service names, that
 *   the key is the user's own and says exactly this (verifyMasterKey);
 * - the user's web-identity role sessions — any role of the account, but only
 *   a session tagged `aws:PrincipalTag/sub` = the user's sub and
 *   `aws:PrincipalTag/iss` = the user's issuer (a sub is unique only per
 *   issuer, OIDC Core §2) — may Encrypt, Decrypt and GenerateDataKey, and only
 *   with the encryption context `{ sub: <sub> }` (further context pairs are
 *   allowed; they bind the ciphertext further);
 * - the wallet service's principal may manage the key (describe, tag,
 *   enable/disable, rotate, schedule or cancel deletion) but never use it:
 *   an explicit Deny on every cryptographic use, which beats any Allow;
 * - nobody may use it without the user's tags and context (explicit Denies),
 *   so a statement added later, or an identity policy granting `kms:*`,
 *   cannot open it to someone else;
 * - a split wallet's share A (context names an address) is released only to
 *   an attested signer, and — when `signerImageSha384` is given — only to a
 *   signer with that measurement (docs/signer.md). The policy cannot be
 *   changed later by the wallet service, so pinning a measurement binds the
 *   key to that signer build: a new signer build needs the key policy changed
 *   by whoever may (see docs/wallet-api.md).
 *
 * Template 3 (`uid` given) binds to the stable user instead of one login
 * (docs/identity.md, "Linked logins"): the custodian's STS, and only it,
 * maps each verified (issuer, subject) to a user id and tags the session
 * `uid`; the sub/iss conditions above become `aws:PrincipalTag/uid` = uid and
 * the context `{ uid: <uid> }`. So every login linked to the user opens the
 * key, and a login the custodian did not link cannot. A key migrated from
 * template 2 keeps its old ciphertexts openable: with `sub` given, the
 * user's sessions may also use the context `{ sub: <that sub> }` (the
 * pre-linking context; STS tags the user's sessions `osub` with it).
 *
 * Deliberately NOT granted to the wallet service, and explicitly denied:
 * `kms:PutKeyPolicy` and `kms:CreateGrant`. Either would let it give itself
 * Decrypt, and then the wallet store's database plus its credentials would
 * rebuild a user's key (docs/architecture.md, invariant 1). The key is therefore created
 * with BypassPolicyLockoutSafetyCheck, as AWS requires for a policy its creator
 * cannot change.
 */

/** Cryptographic uses the user's sessions are allowed. */
export const USER_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'] as const;

/** Every action that uses the key's material; denied to all but the user's sessions. */
export const USE_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'] as const;

/** What the wallet service may do with a master key: manage it, never use it or change who may. */
export const MANAGEMENT_ACTIONS = [
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:ListResourceTags',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:GetKeyRotationStatus',
  'kms:EnableKeyRotation',
  'kms:DisableKeyRotation',
  'kms:RotateKeyOnDemand',
  'kms:ListKeyRotations',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
] as const;

/** What the user's sessions may read about their key: enough for the device to check it (verifyMasterKey). */
export const INSPECTION_ACTIONS = ['kms:DescribeKey', 'kms:GetKeyPolicy'] as const;

/** The policy's `Id`: names the template's version (2: the user's sessions may inspect the key). */
export const MASTER_KEY_POLICY_ID = 'symbolon-wallet-master-key-2';

/** Actions that would change who may use the key. */
export const ACCESS_CHANGING_ACTIONS = ['kms:PutKeyPolicy', 'kms:CreateGrant'] as const;

/** Template 3's `Id`: bound to the stable user id (`aws:PrincipalTag/uid`), not one login. */
export const MASTER_KEY_POLICY_ID_V3 = 'symbolon-wallet-master-key-3';

/** The encryption-context key that names the owner under template 2 (and a template-3 key's pre-linking ciphertexts). */
export const CONTEXT_KEY = 'sub';

/** The encryption-context key that names the owner under template 3: the stable user id. */
export const UID_CONTEXT_KEY = 'uid';

export interface MasterKeyPolicyInput {
  /** The custodian's 12-digit account id. */
  accountId: string;
  /**
   * The user's subject as their identity provider states it (and as STS tags their sessions).
   * Template 3: optional, the subject the user's pre-linking ciphertexts name as their `sub` context.
   */
  sub?: string;
  /**
   * The stable user id STS tags the user's sessions with (`uid`, `u-` and 32 hex digits): given, the
   * policy is template 3, bound to the user rather than one login.
   */
  uid?: string;
  /**
   * The user's issuer, exactly the token's `iss` (STS tags sessions with it as
   * `iss`). Omit it only where a single issuer is trusted: without it, a user
   * of another trusted issuer who has the same `sub` is not told apart. The
   * wallet service always gives it.
   */
  issuer?: string;
  /** The wallet service's principal: `arn:aws:iam::A:root`, `…:user/NAME` or `…:role/NAME`. */
  walletServicePrincipalArn: string;
  /**
   * The signer measurement (ImageSha384, 96 hex digits) split shares are
   * released to; absent: any attested signer the custodian trusts.
   */
  signerImageSha384?: string;
}

const WALLET_PRINCIPAL = /^arn:aws:iam::\d{12}:(root|user\/[\w+=,.@\-/]+|role\/[\w+=,.@\-/]+)$/;
/** OIDC Core §2: sub is at most 255 ASCII characters; AWS session tag values at most 256. */
const MAX_SUB_LENGTH = 255;
const MAX_ISSUER_LENGTH = 256;
const IMAGE_SHA384 = /^[0-9a-fA-F]{96}$/;
const UID = /^u-[0-9a-f]{32}$/;

/**
 * A JSON value with object members sorted (recursively), so that two policy documents compare equal
 * (as JSON.stringify output) exactly when they are the same JSON value.
 */
export function canonicalJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonicalJson((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * A literal for a policy of Version 2012-10-17, where `${…}` is a variable:
 * every `$` becomes the escape `${$}`, so a subject such as
 * `${aws:PrincipalTag/sub}` cannot turn the condition into "any tagged session".
 */
export function policyLiteral(text: string): string {
  return text.replaceAll('$', '${$}');
}

/**
 * Builds the key policy of one user's master key: template 3 when `uid` is given, else template 2.
 * @throws {RangeError} when the account id, sub, uid, issuer or wallet-service ARN is malformed.
 * @throws {TypeError} when a field is not a string, or template 2 is asked for without `sub`.
 */
export function masterKeyPolicy(input: MasterKeyPolicyInput): string {
  const { accountId, sub, uid, issuer, walletServicePrincipalArn: walletArn, signerImageSha384 } = input;
  if (typeof accountId !== 'string' || typeof walletArn !== 'string') throw new TypeError('accountId and walletServicePrincipalArn must be strings');
  if (sub !== undefined && typeof sub !== 'string') throw new TypeError('sub must be a string');
  if (uid !== undefined && typeof uid !== 'string') throw new TypeError('uid must be a string');
  if (uid === undefined && sub === undefined) throw new TypeError('sub (template 2) or uid (template 3) is required');
  if (issuer !== undefined && typeof issuer !== 'string') throw new TypeError('issuer must be a string');
  if (!/^\d{12}$/.test(accountId)) throw new RangeError('accountId must be 12 digits');
  if (sub !== undefined && (sub.length === 0 || sub.length > MAX_SUB_LENGTH))
    throw new RangeError(`sub must be 1-${MAX_SUB_LENGTH} characters (got ${sub.length})`);
  if (uid !== undefined && !UID.test(uid)) throw new RangeError('uid must be u- and 32 lower-case hexadecimal digits');
  if (uid !== undefined && issuer !== undefined)
    throw new RangeError('issuer is for template 2 only: a template-3 key is bound to the user, whatever the login');
  if (issuer !== undefined && (issuer.length === 0 || issuer.length > MAX_ISSUER_LENGTH))
    throw new RangeError(`issuer must be 1-${MAX_ISSUER_LENGTH} characters (got ${issuer.length})`);
  if (!WALLET_PRINCIPAL.test(walletArn)) throw new RangeError('walletServicePrincipalArn must be an IAM root, user or role ARN');
  if (signerImageSha384 !== undefined && (typeof signerImageSha384 !== 'string' || !IMAGE_SHA384.test(signerImageSha384))) {
    throw new RangeError('signerImageSha384 must be 96 hexadecimal digits (SHA-384)');
  }

  const accountRoot = `arn:aws:iam::${accountId}:root`;
  const subValue = sub === undefined ? undefined : policyLiteral(sub);
  const issuerValue = issuer === undefined ? undefined : policyLiteral(issuer);
  const isWalletService = { ArnEquals: { 'aws:PrincipalArn': walletArn } };
  // Template 3 names the user by uid (a fixed alphabet: no policy variable can hide in it).
  const ownerTag: Record<string, string> =
    uid !== undefined
      ? { 'aws:PrincipalTag/uid': uid }
      : { 'aws:PrincipalTag/sub': subValue!, ...(issuerValue !== undefined ? { 'aws:PrincipalTag/iss': issuerValue } : {}) };
  const isUsersSession = { 'aws:PrincipalType': 'AssumedRole', ...ownerTag };
  const ownerContext: Record<string, string> =
    uid !== undefined ? { [`kms:EncryptionContext:${UID_CONTEXT_KEY}`]: uid } : { [`kms:EncryptionContext:${CONTEXT_KEY}`]: subValue! };
  const legacyContext = uid !== undefined && subValue !== undefined ? { [`kms:EncryptionContext:${CONTEXT_KEY}`]: subValue } : undefined;

  return JSON.stringify({
    Version: '2012-10-17',
    Id: uid !== undefined ? MASTER_KEY_POLICY_ID_V3 : MASTER_KEY_POLICY_ID,
    Statement: [
      {
        Sid: 'AllowInspectionByTheUsersRoleSessions',
        Effect: 'Allow',
        Principal: { AWS: accountRoot },
        Action: [...INSPECTION_ACTIONS],
        Resource: '*',
        Condition: { StringEquals: isUsersSession },
      },
      {
        Sid: 'AllowUseByTheUsersRoleSessions',
        Effect: 'Allow',
        // The account: any role session of it is considered; the conditions pick the user's.
        Principal: { AWS: accountRoot },
        Action: [...USER_ACTIONS],
        Resource: '*',
        Condition: { StringEquals: { ...isUsersSession, ...ownerContext } },
      },
      ...(legacyContext !== undefined
        ? [
            {
              Sid: 'AllowUseOfPreLinkingCiphertextsByTheUsersRoleSessions',
              Effect: 'Allow',
              // Ciphertexts made under template 2 name the login's sub; any login of the user opens them.
              Principal: { AWS: accountRoot },
              Action: [...USER_ACTIONS],
              Resource: '*',
              Condition: { StringEquals: { ...isUsersSession, ...legacyContext } },
            },
          ]
        : []),
      {
        Sid: 'AllowManagementByTheWalletService',
        Effect: 'Allow',
        Principal: { AWS: walletArn },
        Action: [...MANAGEMENT_ACTIONS],
        Resource: '*',
        // When the wallet service runs as the account root, the Principal alone would name the whole account.
        Condition: isWalletService,
      },
      {
        Sid: 'DenyUseByTheWalletService',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: [...USE_ACTIONS],
        Resource: '*',
        Condition: isWalletService,
      },
      {
        Sid: 'DenyAccessChangesByTheWalletService',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: [...ACCESS_CHANGING_ACTIONS],
        Resource: '*',
        Condition: isWalletService,
      },
      {
        Sid: 'DenyUseByAnyoneButTheUser',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: [...USE_ACTIONS],
        Resource: '*',
        // A negated operator also matches a session with no such tag at all.
        Condition: uid !== undefined ? { StringNotEquals: { 'aws:PrincipalTag/uid': uid } } : { StringNotEquals: { 'aws:PrincipalTag/sub': subValue } },
      },
      ...(issuerValue !== undefined
        ? [
            {
              Sid: 'DenyUseBySessionsOfAnotherIssuer',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: [...USE_ACTIONS],
              Resource: '*',
              // Another issuer's user with the same sub is another person.
              Condition: { StringNotEquals: { 'aws:PrincipalTag/iss': issuerValue } },
            },
          ]
        : []),
      {
        Sid: 'DenySplitShareOutsideAnAttestedSigner',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:Decrypt',
        Resource: '*',
        // A split wallet's share A (its context names the address) is released only
        // to an attested signer, as CiphertextForRecipient: never as plaintext, not
        // even to the owner's own session, which can also read share B.
        Condition: { Null: { 'kms:EncryptionContext:address': 'false', 'kms:RecipientAttestation:ImageSha384': 'true' } },
      },
      ...(signerImageSha384 !== undefined
        ? [
            {
              Sid: 'DenySplitShareToAnotherSignerImage',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 'kms:Decrypt',
              Resource: '*',
              // Only the signer build with this measurement (a negated operator also matches no attestation).
              Condition: {
                Null: { 'kms:EncryptionContext:address': 'false' },
                StringNotEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': signerImageSha384.toLowerCase() },
              },
            },
          ]
        : []),
      {
        Sid: 'DenyUseWithoutTheUsersContext',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: [...USE_ACTIONS],
        Resource: '*',
        // Template 3 with a pre-linking sub: denied only when the context names neither (keys of one operator are ANDed).
        Condition: { StringNotEquals: { ...ownerContext, ...(legacyContext ?? {}) } },
      },
    ],
  });
}
