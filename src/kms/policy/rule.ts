/**
 * What a quorum rule is, for a key's rule (src/kms/policy/quorum.ts) and the
 * account's (src/kms/policy/account-quorum.ts) alike: 2..20 distinct
 * approvers, each the account root or an existing IAM user, a threshold
 * 2 <= M <= N (nobody approves alone), and how long a proposal stays open.
 */
import { createHash } from 'node:crypto';
import { validation } from '../../aws/errors.js';
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../../storage/tables.js';
import { findUser } from '../../storage/iam.repository.js';

export const DEFAULT_TTL_SECONDS = 24 * 60 * 60;
export const MIN_TTL_SECONDS = 5 * 60;
export const MAX_TTL_SECONDS = 7 * 24 * 60 * 60;
export const MAX_APPROVERS = 20;

/** Lower-case hex SHA-256 of a UTF-8 text. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export interface RuleSpec {
  approvers: string[];
  threshold: number;
  ttlSeconds: number;
}

/** The canonical text of a rule (what a rule change's hash covers). */
export function ruleText(rule: RuleSpec | null): string {
  return rule === null ? 'null' : JSON.stringify({ approvers: [...rule.approvers].sort(), threshold: rule.threshold, ttlSeconds: rule.ttlSeconds });
}

/**
 * Checks a rule against the store.
 * @throws {AwsError} ValidationException naming the fault.
 */
export async function checkRule(db: Kysely<Tables> | Transaction<Tables>, accountId: string, rule: RuleSpec): Promise<void> {
  if (rule.approvers.length < 2 || rule.approvers.length > MAX_APPROVERS) throw validation(`A quorum rule names from 2 to ${MAX_APPROVERS} approvers.`);
  if (new Set(rule.approvers).size !== rule.approvers.length) throw validation('Quorum approvers must be distinct.');
  if (!Number.isInteger(rule.threshold) || rule.threshold < 2 || rule.threshold > rule.approvers.length) {
    throw validation('Quorum threshold must be at least 2 (no one approves alone) and at most the number of approvers.');
  }
  if (!Number.isInteger(rule.ttlSeconds) || rule.ttlSeconds < MIN_TTL_SECONDS || rule.ttlSeconds > MAX_TTL_SECONDS) {
    throw validation(`ExpirationSeconds must be from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS}.`);
  }
  for (const arn of rule.approvers) {
    if (arn === `arn:aws:iam::${accountId}:root`) continue;
    const m = new RegExp(`^arn:aws:iam::${accountId}:user/(?:[^/]+/)*([^/]+)$`).exec(arn);
    const user = m ? await findUser(db, m[1]!) : undefined;
    if (!user || user.arn !== arn) throw validation(`Quorum approver ${arn.slice(0, 256)} is not a user of account ${accountId}.`);
  }
}
