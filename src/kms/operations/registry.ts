/**
 * Every KMS operation the custodian serves, by wire name. Dispatch goes through
 * this Map only (never by reflection or a property lookup on a plain object).
 */
import type { KmsOperation } from '../operation.js';
import { createKey } from './create-key.js';
import { describeKey } from './describe-key.js';
import { sign } from './sign.js';
import { getPublicKey } from './get-public-key.js';
import { verify } from './verify.js';
import { encrypt } from './encrypt.js';
import { decrypt } from './decrypt.js';
import { reEncrypt } from './re-encrypt.js';
import { generateDataKey } from './generate-data-key.js';
import { generateDataKeyWithoutPlaintext } from './generate-data-key-without-plaintext.js';
import { generateDataKeyPair } from './generate-data-key-pair.js';
import { generateDataKeyPairWithoutPlaintext } from './generate-data-key-pair-without-plaintext.js';
import { generateRandom } from './generate-random.js';
import { generateMac } from './generate-mac.js';
import { verifyMac } from './verify-mac.js';
import { listKeys } from './list-keys.js';
import { enableKey } from './enable-key.js';
import { disableKey } from './disable-key.js';
import { scheduleKeyDeletion } from './schedule-key-deletion.js';
import { cancelKeyDeletion } from './cancel-key-deletion.js';
import { tagResource } from './tag-resource.js';
import { untagResource } from './untag-resource.js';
import { listResourceTags } from './list-resource-tags.js';
import { createAlias } from './create-alias.js';
import { updateAlias } from './update-alias.js';
import { deleteAlias } from './delete-alias.js';
import { listAliases } from './list-aliases.js';
import { enableKeyRotation } from './enable-key-rotation.js';
import { disableKeyRotation } from './disable-key-rotation.js';
import { getKeyRotationStatus } from './get-key-rotation-status.js';
import { rotateKeyOnDemand } from './rotate-key-on-demand.js';
import { listKeyRotations } from './list-key-rotations.js';
import { putKeyPolicy } from './put-key-policy.js';
import { getKeyPolicy } from './get-key-policy.js';
import { listKeyPolicies } from './list-key-policies.js';
import { updateKeyDescription } from './update-key-description.js';
import { createGrant } from './create-grant.js';
import { listGrants } from './list-grants.js';
import { listRetirableGrants } from './list-retirable-grants.js';
import { retireGrant } from './retire-grant.js';
import { revokeGrant } from './revoke-grant.js';

const all: KmsOperation[] = [
  createKey,
  describeKey,
  sign,
  getPublicKey,
  verify,
  encrypt,
  decrypt,
  reEncrypt,
  generateDataKey,
  generateDataKeyWithoutPlaintext,
  generateDataKeyPair,
  generateDataKeyPairWithoutPlaintext,
  generateRandom,
  generateMac,
  verifyMac,
  listKeys,
  enableKey,
  disableKey,
  scheduleKeyDeletion,
  cancelKeyDeletion,
  tagResource,
  untagResource,
  listResourceTags,
  createAlias,
  updateAlias,
  deleteAlias,
  listAliases,
  enableKeyRotation,
  disableKeyRotation,
  getKeyRotationStatus,
  rotateKeyOnDemand,
  listKeyRotations,
  putKeyPolicy,
  getKeyPolicy,
  listKeyPolicies,
  updateKeyDescription,
  createGrant,
  listGrants,
  listRetirableGrants,
  retireGrant,
  revokeGrant,
];

export const operations: ReadonlyMap<string, KmsOperation> = new Map(all.map((op) => [op.name, op]));
