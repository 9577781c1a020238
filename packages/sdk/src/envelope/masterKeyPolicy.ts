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

/** The encryption-context key that names the owner. */
export const CONTEXT_KEY = 'sub';

export interface MasterKeyPolicyInput {
  /** The custodian's 12-digit account id. */
  accountId: string;
  /** The user's subject as their identity provider states it (and as STS tags their sessions). */
  sub: string;
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

/**
 * A literal for a policy of Version 2012-10-17, where `${…}` is a variable:
 * every `$` becomes the escape `${$}`, so a subject such as
 * `${aws:PrincipalTag/sub}` cannot turn the condition into "any tagged session".
 */
export function policyLiteral(text: string): string {
  return text.replaceAll('$', '${$}');
}

/**
 * Builds the key policy of one user's master key.
 * @throws {RangeError} when the account id, sub, issuer or wallet-service ARN is malformed.
 * @throws {TypeError} when a field is not a string.
 */
export function masterKeyPolicy(input: MasterKeyPolicyInput): string {
  const { accountId, sub, issuer, walletServicePrincipalArn: walletArn, signerImageSha384 } = input;
  if (typeof accountId !== 'string' || typeof sub !== 'string' || typeof walletArn !== 'string') {
    throw new TypeError('accountId, sub and walletServicePrincipalArn must be strings');
  }
  if (issuer !== undefined && typeof issuer !== 'string') throw new TypeError('issuer must be a string');
  if (!/^\d{12}$/.test(accountId)) throw new RangeError('accountId must be 12 digits');
  if (sub.length === 0 || sub.length > MAX_SUB_LENGTH) throw new RangeError(`sub must be 1-${MAX_SUB_LENGTH} characters (got ${sub.length})`);
  if (issuer !== undefined && (issuer.length === 0 || issuer.length > MAX_ISSUER_LENGTH))
    throw new RangeError(`issuer must be 1-${MAX_ISSUER_LENGTH} characters (got ${issuer.length})`);
  if (!WALLET_PRINCIPAL.test(walletArn)) throw new RangeError('walletServicePrincipalArn must be an IAM root, user or role ARN');
  if (signerImageSha384 !== undefined && (typeof signerImageSha384 !== 'string' || !IMAGE_SHA384.test(signerImageSha384))) {
    throw new RangeError('signerImageSha384 must be 96 hexadecimal digits (SHA-384)');
  }

  const accountRoot = `arn:aws:iam::${accountId}:root`;
  const subValue = policyLiteral(sub);
  const issuerValue = issuer === undefined ? undefined : policyLiteral(issuer);
  const isWalletService = { ArnEquals: { 'aws:PrincipalArn': walletArn } };
  const isUsersSession = {
    'aws:PrincipalType': 'AssumedRole',
    'aws:PrincipalTag/sub': subValue,
    ...(issuerValue !== undefined ? { 'aws:PrincipalTag/iss': issuerValue } : {}),
  };

  return JSON.stringify({
    Version: '2012-10-17',
    Id: MASTER_KEY_POLICY_ID,
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
        Condition: { StringEquals: { ...isUsersSession, [`kms:EncryptionContext:${CONTEXT_KEY}`]: subValue } },
      },
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
        // A negated operator also matches a session with no sub tag at all.
        Condition: { StringNotEquals: { 'aws:PrincipalTag/sub': subValue } },
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
        Condition: { StringNotEquals: { [`kms:EncryptionContext:${CONTEXT_KEY}`]: subValue } },
      },
    ],
  });
}
