/**
 * IAM's error codes (IAM API Reference, "Common errors" and each action's
 * "Errors"), as AwsErrors whose `type` is the IAM code. Rendered as XML by
 * the service; messages carry names and ids, never secrets.
 */
import { AwsError } from '../aws/errors.js';

const make =
  (code: string, status: number) =>
  (message: string): AwsError =>
    new AwsError(code, message, status);

export const noSuchEntity = make('NoSuchEntity', 404);
export const entityAlreadyExists = make('EntityAlreadyExists', 409);
export const deleteConflict = make('DeleteConflict', 409);
export const limitExceeded = make('LimitExceeded', 409);
export const malformedPolicyDocument = make('MalformedPolicyDocument', 400);
export const invalidInput = make('InvalidInput', 400);
export const validationError = make('ValidationError', 400);
export const accessDenied = make('AccessDenied', 403);
export const invalidAction = make('InvalidAction', 400);
export const serviceFailure = make('ServiceFailure', 500);

/** The same wording as KMS's: "1 validation error detected: Value 'x' at 'field' failed to satisfy constraint: …". */
export function iamConstraint(field: string, shown: string | null, constraint: string): AwsError {
  return validationError(
    `1 validation error detected: Value ${shown === null ? 'null' : `'${shown}'`} at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}

/** Maps authentication errors from the shared endpoint to IAM's codes (IAM says InvalidClientTokenId, not UnrecognizedClient). */
export function iamCodeFor(err: AwsError): { code: string; status: number } {
  switch (err.type) {
    case 'UnrecognizedClientException':
      return { code: 'InvalidClientTokenId', status: 403 };
    case 'InvalidSignatureException':
      return { code: 'SignatureDoesNotMatch', status: 403 };
    case 'IncompleteSignatureException':
      return { code: 'IncompleteSignature', status: 400 };
    case 'MissingAuthenticationTokenException':
      return { code: 'MissingAuthenticationToken', status: 403 };
    case 'ExpiredTokenException':
      return { code: 'ExpiredToken', status: 403 };
    default:
      return { code: err.type, status: err.status };
  }
}
