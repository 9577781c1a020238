/**
 * STS's error codes for AssumeRoleWithWebIdentity and GetCallerIdentity (STS
 * API Reference, "AssumeRoleWithWebIdentity: Errors" and "Common Errors"), as
 * AwsErrors whose `type` is the STS code. Rendered as XML by the STS service.
 * Messages carry issuer URLs, role ARNs and times at most, never a token.
 */
import { AwsError } from '../aws/errors.js';

const make =
  (code: string, status: number) =>
  (message: string): AwsError =>
    new AwsError(code, message, status);

export const invalidIdentityToken = make('InvalidIdentityToken', 400);
export const expiredTokenException = make('ExpiredTokenException', 400);
export const idpRejectedClaim = make('IDPRejectedClaim', 403);
export const idpCommunicationError = make('IDPCommunicationError', 400);
export const accessDenied = make('AccessDenied', 403);
export const malformedPolicyDocument = make('MalformedPolicyDocument', 400);
export const validationError = make('ValidationError', 400);
export const invalidAction = make('InvalidAction', 400);

/** AWS's refusal when the role does not exist, is in another account, or its trust policy does not allow the caller. */
export const NOT_AUTHORIZED_MESSAGE = 'Not authorized to perform sts:AssumeRoleWithWebIdentity';

/** STS names authentication failures as IAM does (InvalidClientTokenId, SignatureDoesNotMatch, ExpiredToken, …). */
export { iamCodeFor as stsCodeFor } from '../iam/errors.js';
