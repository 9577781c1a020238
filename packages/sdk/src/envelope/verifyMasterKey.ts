/**
 * The device's check of the master key the wallet service names, made before
 * anything (a data key, share A) is encrypted under it.
 *
 * Why: the wallet service tells the device which key is "the user's master
 * key" (GET /v1/users/me). A wallet service that lied — naming a key whose
 * policy also lets the provider Decrypt — would receive, at wallet creation,
 * a ciphertext it can open: with the envelope's other half (it stores it) or
 * share B (it stores it), that is the whole private key (docs/architecture.md,
 * invariant 1). So the device asks the custodian itself, with the user's own
 * credentials:
 *
 * - DescribeKey: the key is in the account of the role the device assumed, a
 *   symmetric ENCRYPT_DECRYPT key whose material the custodian generated
 *   (Origin AWS_KMS: not imported, so nobody holds a copy), single-Region,
 *   customer-managed and Enabled;
 * - GetKeyPolicy: the policy is the one masterKeyPolicy() builds for this
 *   user (the token's `sub` and `iss`, that account) — the same JSON value,
 *   compared member by member with every string, number and array order
 *   exact; only whitespace and the order of object members may differ, as a
 *   custodian may store or return the document reformatted. The
 *   wallet service's principal and the pinned signer measurement are taken
 *   from the policy itself: the template denies every cryptographic use to
 *   that principal and to anyone without the user's session tags, whatever
 *   principal it names, so any value of them is safe.
 *
 * Exactly two templates are accepted, told apart by the policy's `Id`:
 * template 2 (bound to the token's `sub` and `iss`) and template 3 (bound to
 * the user's stable id `uid`, which the caller must give: the custodian's
 * answer to ListWebIdentityLinks, docs/sts.md). A template-3 key's
 * pre-linking `sub` is taken from the policy: it only lets the same user's
 * sessions use one more context, so any value of it is safe.
 *
 * Anything else — a key the user's sessions cannot inspect, another template,
 * one changed character — is refused before any plaintext leaves the device.
 * Browser-safe.
 */
import { DescribeKeyCommand, GetKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { EnvelopeError } from './errors.js';
import { canonicalJson, MASTER_KEY_POLICY_ID, MASTER_KEY_POLICY_ID_V3, masterKeyPolicy } from './masterKeyPolicy.js';

export interface MasterKeyOwner {
  /** The custodian account the user's role belongs to (12 digits). */
  accountId: string;
  /** The token's subject. */
  sub: string;
  /** The token's issuer, exactly its `iss`. */
  issuer: string;
  /** The user's stable id (STS session tag `uid`), needed to accept a template-3 key. */
  uid?: string;
  /**
   * Asked for the user's stable id when the key is template 3 and `uid` was not given: it must come from
   * the custodian with the user's own token (ListWebIdentityLinks), never from the wallet service.
   */
  userId?: () => Promise<string>;
}

export interface VerifiedMasterKey {
  keyArn: string;
  /** The principal the policy lets manage (never use) the key. */
  walletServicePrincipalArn: string;
  /** The signer measurement split shares are pinned to, when the policy pins one. */
  signerImageSha384: string | undefined;
  /** 2: bound to one login (context `{ sub }`); 3: bound to the user's uid (context `{ uid }`). */
  template: 2 | 3;
  /** Template 3 migrated from 2: the sub its pre-linking ciphertexts name. */
  legacySub: string | undefined;
}

const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/.+$/;

/**
 * The account of a role ARN (`arn:aws:iam::123456789012:role/NAME`).
 * @throws {EnvelopeError} BAD_ROLE_ARN when it is not a role ARN.
 */
export function roleAccountId(roleArn: string): string {
  const m = ROLE_ARN.exec(roleArn);
  if (!m) throw new EnvelopeError('BAD_ROLE_ARN', 'roleArn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>).');
  return m[1]!;
}

function untrusted(keyId: string, why: string): EnvelopeError {
  return new EnvelopeError(
    'MASTER_KEY_UNTRUSTED',
    `The master key the wallet service named (${keyId.slice(0, 128)}) is not this user's own: ${why}. Nothing was encrypted under it.`,
  );
}

interface Statement {
  Sid?: unknown;
  Principal?: { AWS?: unknown };
  Condition?: Record<string, Record<string, unknown>>;
}

/** The free parameters of the template, read from a policy that claims to be one (checked afterwards by rebuilding it). */
function templateParameters(
  policy: unknown,
): { template: 2 | 3; walletArn: string; imageSha384: string | undefined; legacySub: string | undefined } | undefined {
  const id = (policy as { Id?: unknown })?.Id;
  const template = id === MASTER_KEY_POLICY_ID ? 2 : id === MASTER_KEY_POLICY_ID_V3 ? 3 : undefined;
  if (template === undefined) return undefined;
  const statements = (policy as { Statement?: unknown })?.Statement;
  if (!Array.isArray(statements)) return undefined;
  const bySid = (sid: string) => statements.find((s: Statement) => s?.Sid === sid) as Statement | undefined;
  const walletArn = bySid('AllowManagementByTheWalletService')?.Principal?.AWS;
  if (typeof walletArn !== 'string') return undefined;
  const pinned = bySid('DenySplitShareToAnotherSignerImage')?.Condition?.StringNotEqualsIgnoreCase?.['kms:RecipientAttestation:ImageSha384'];
  if (pinned !== undefined && typeof pinned !== 'string') return undefined;
  const legacy =
    template === 3 ? bySid('AllowUseOfPreLinkingCiphertextsByTheUsersRoleSessions')?.Condition?.StringEquals?.['kms:EncryptionContext:sub'] : undefined;
  if (legacy !== undefined && typeof legacy !== 'string') return undefined;
  // The policy holds the sub as a policy literal (every `$` escaped as `${$}`); the builder escapes it again.
  return { template, walletArn, imageSha384: pinned, legacySub: legacy?.replaceAll('${$}', '$') };
}

/**
 * Checks that `keyId` is `owner`'s own master key, with the user's KMS client.
 * @throws {EnvelopeError} MASTER_KEY_UNTRUSTED when the key is not what the user's master key must be;
 *   MASTER_KEY_UNVERIFIED when the custodian does not let the user's session inspect it (a key made
 *   before the policy let users inspect their key, another account's key, or no such key).
 */
export async function verifyMasterKey(kms: Pick<KMSClient, 'send'>, keyId: string, owner: MasterKeyOwner): Promise<VerifiedMasterKey> {
  let described;
  let policyText: string | undefined;
  try {
    [described, { Policy: policyText }] = await Promise.all([
      kms.send(new DescribeKeyCommand({ KeyId: keyId })),
      kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' })),
    ]);
  } catch (cause) {
    const name = (cause as { name?: unknown })?.name;
    throw new EnvelopeError(
      'MASTER_KEY_UNVERIFIED',
      `The master key the wallet service named (${keyId.slice(0, 128)}) cannot be inspected with this user's credentials (${typeof name === 'string' ? name.slice(0, 64) : 'error'}), so it cannot be checked. Nothing was encrypted under it.`,
      { cause },
    );
  }
  const m = described.KeyMetadata;
  if (!m?.Arn) throw untrusted(keyId, 'DescribeKey returned no key');
  if (m.AWSAccountId !== owner.accountId || !m.Arn.includes(`:${owner.accountId}:key/`))
    throw untrusted(keyId, `it belongs to account ${String(m.AWSAccountId).slice(0, 12)}, not ${owner.accountId}`);
  if (m.KeySpec !== 'SYMMETRIC_DEFAULT' || m.KeyUsage !== 'ENCRYPT_DECRYPT') throw untrusted(keyId, 'it is not a symmetric encryption key');
  if (m.Origin !== 'AWS_KMS') throw untrusted(keyId, `its key material was not generated by the custodian (Origin ${String(m.Origin).slice(0, 32)})`);
  if (m.MultiRegion === true) throw untrusted(keyId, 'it is a multi-Region key');
  if (m.KeyManager !== undefined && m.KeyManager !== 'CUSTOMER') throw untrusted(keyId, 'it is not a customer-managed key');
  if (m.KeyState !== 'Enabled') throw untrusted(keyId, `it is ${String(m.KeyState).slice(0, 32)}`);

  let parsed: unknown;
  try {
    parsed = JSON.parse(policyText ?? '');
  } catch {
    throw untrusted(keyId, 'its policy is not JSON');
  }
  const parameters = templateParameters(parsed);
  if (!parameters) throw untrusted(keyId, 'its policy is not the wallet master-key policy');
  const uid = parameters.template === 3 ? (owner.uid ?? (await owner.userId?.())) : undefined;
  if (parameters.template === 3 && uid === undefined) throw untrusted(keyId, "it is bound to a user id and this user's id was not given");
  let expected: string;
  try {
    expected = masterKeyPolicy({
      accountId: owner.accountId,
      ...(parameters.template === 3
        ? { uid: uid as string, ...(parameters.legacySub !== undefined ? { sub: parameters.legacySub } : {}) }
        : { sub: owner.sub, issuer: owner.issuer }),
      walletServicePrincipalArn: parameters.walletArn,
      ...(parameters.imageSha384 !== undefined ? { signerImageSha384: parameters.imageSha384 } : {}),
    });
  } catch {
    throw untrusted(keyId, "its policy's wallet-service principal or signer measurement is malformed");
  }
  if (expected !== policyText && JSON.stringify(canonicalJson(parsed)) !== JSON.stringify(canonicalJson(JSON.parse(expected)))) {
    throw untrusted(keyId, "its policy differs from this user's master-key policy");
  }
  return {
    keyArn: m.Arn,
    walletServicePrincipalArn: parameters.walletArn,
    signerImageSha384: parameters.imageSha384,
    template: parameters.template,
    legacySub: parameters.legacySub,
  };
}
