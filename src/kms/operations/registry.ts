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
import { generateRandom } from './generate-random.js';
import { generateMac } from './generate-mac.js';
import { verifyMac } from './verify-mac.js';

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
  generateRandom,
  generateMac,
  verifyMac,
];

export const operations: ReadonlyMap<string, KmsOperation> = new Map(all.map((op) => [op.name, op]));
