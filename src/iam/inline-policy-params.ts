/**
 * What IAM's inline-policy operations share, for users (src/iam/user-policies.ts)
 * and roles (src/iam/roles/role-policy-actions.ts): the `PolicyName` and
 * `PolicyDocument` parameters with IAM's constraints (IAM API Reference,
 * PutUserPolicy / PutRolePolicy), the identity-policy check, and the length
 * IAM's aggregate size limits count (characters other than white space).
 */
import { parsePolicyDocument, PolicyDocumentError } from '../aws/policy/document.js';
import { malformedPolicyDocument } from './errors.js';
import { POLICY_NAME, type QueryParams } from './params.js';

/** IAM's pattern for policy text (trust and inline policies). */
export const POLICY_TEXT = { re: /^[\u0009\u000A\u000D\u0020-\u00FF]+$/, text: '[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+' };

/** `PolicyName`: required, 1–128 characters of `[\w+=,.@-]`. */
export function readPolicyName(p: QueryParams): string {
  return p.string('PolicyName', { required: true, min: 1, max: 128, pattern: POLICY_NAME });
}

/** `PolicyDocument`: required, 1–131,072 characters of IAM's policy text; never echoed in an error. */
export function readPolicyDocument(p: QueryParams): string {
  return p.string('PolicyDocument', { required: true, min: 1, max: 131072, secretish: true, pattern: POLICY_TEXT });
}

/**
 * Checks a document as an identity policy.
 * @throws {AwsError} MalformedPolicyDocument, naming what is wrong.
 */
export function checkIdentityPolicy(document: string): void {
  try {
    parsePolicyDocument(document, 'identity');
  } catch (e) {
    if (e instanceof PolicyDocumentError) throw malformedPolicyDocument(e.message);
    throw e;
  }
}

/** The length IAM's aggregate inline-policy limits count: every character but white space. */
export function significantLength(doc: string): number {
  return doc.replace(/\s/g, '').length;
}
