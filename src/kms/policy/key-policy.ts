/**
 * Key policies, in one place: AWS's default key policy; the checks shared by
 * CreateKey and PutKeyPolicy — the document must parse as a key policy (the
 * policy engine's parser, src/aws/policy/document.ts;
 * MalformedPolicyDocumentException otherwise), and,
 * unless the caller sets BypassPolicyLockoutSafetyCheck, it must let the
 * caller make a later PutKeyPolicy request (AWS's policy lockout safety check,
 * KMS API Reference "PutKeyPolicy").
 */
import { AwsError, malformedPolicyDocument } from '../../aws/errors.js';
import type { KeyRecord } from '../model.js';
import type { OperationContext } from '../context.js';
import { parsePolicyDocument, PolicyDocumentError, type PolicyDocument } from '../../aws/policy/document.js';

/**
 * AWS's default key policy: the account's root principal has every KMS
 * permission on the key, which delegates access decisions to IAM identity
 * policies (AWS KMS Developer Guide, "Default key policy").
 */
export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  });
}

/** Returns a problem description, or undefined when the document is a well-formed key policy. */
export function validatePolicyDocument(text: string): string | undefined {
  try {
    parsePolicyDocument(text, 'key');
    return undefined;
  } catch (e) {
    if (e instanceof PolicyDocumentError) return e.message;
    throw e;
  }
}

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
