/**
 * Checks a key policy document with the policy engine's parser
 * (src/aws/policy/document.ts), for AWS's MalformedPolicyDocumentException.
 */
import { parsePolicyDocument, PolicyDocumentError } from '../../aws/policy/document.js';

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
