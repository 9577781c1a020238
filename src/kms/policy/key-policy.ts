/**
 * Key-policy checks shared by CreateKey and PutKeyPolicy: the document must
 * parse as a key policy (MalformedPolicyDocumentException otherwise), and,
 * unless the caller sets BypassPolicyLockoutSafetyCheck, it must let the
 * caller make a later PutKeyPolicy request (AWS's policy lockout safety check,
 * KMS API Reference "PutKeyPolicy").
 */
import { AwsError, malformedPolicyDocument } from '../../aws/errors.js';
import type { KeyRecord } from '../model.js';
import type { OperationContext } from '../context.js';
import { parsePolicyDocument, PolicyDocumentError, type PolicyDocument } from '../../aws/policy/document.js';

export const LOCKOUT_MESSAGE = 'The new key policy will not allow you to update the key policy in the future.';

/**
 * Parses a key policy.
 * @throws {AwsError} MalformedPolicyDocumentException naming the fault.
 */
export function validateKeyPolicy(text: string): PolicyDocument {
  try {
    return parsePolicyDocument(text, 'key');
  } catch (e) {
    if (e instanceof PolicyDocumentError) throw malformedPolicyDocument(e.message);
    throw e;
  }
}

/**
 * The lockout safety check: would `policy` on `key` let the caller call PutKeyPolicy again?
 * @throws {AwsError} MalformedPolicyDocumentException with AWS's message when it would not.
 */
export async function checkLockout(ctx: OperationContext, key: KeyRecord, policy: string): Promise<void> {
  try {
    await ctx.deps.authorizer.authorize({ caller: ctx.caller, info: ctx.info, action: 'kms:PutKeyPolicy', key: { ...key, policy }, conditions: {} });
  } catch (e) {
    if (e instanceof AwsError && e.type === 'AccessDeniedException') throw malformedPolicyDocument(LOCKOUT_MESSAGE);
    throw e;
  }
}
