/**
 * Every KMS operation the custodian serves, by wire name. Dispatch goes through
 * this Map only (never by reflection or a property lookup on a plain object).
 */
import type { KmsOperation } from '../operation.js';
import { createKey } from './create-key.js';
import { describeKey } from './describe-key.js';
import { sign } from './sign.js';

const all: KmsOperation[] = [
  createKey,
  describeKey,
  sign,
];

export const operations: ReadonlyMap<string, KmsOperation> = new Map(all.map((op) => [op.name, op]));
