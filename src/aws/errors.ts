/**
 * The catalogue of AWS-shaped errors. Every error a client sees from the KMS,
 * IAM or STS API is one of these: `{"__type": name, "message": text}` with AWS's
 * exception name, status and, where AWS has one, AWS's message text. Messages
 * carry ids and lengths, never payloads or key material.
 */

export class AwsError extends Error {
  override name = 'AwsError';
  constructor(
    /** AWS's exception name, sent as `__type`. */
    readonly type: string,
    message: string,
    /** HTTP status. */
    readonly status: number = 400,
  ) {
    super(message);
  }

  /**
   * Set on an AccessDeniedException that a passkey step-up would lift: the
   * caller's own web-identity session, refused now, would be allowed with a
   * fresh second factor (src/aws/policy/authorizer.ts). The body stays AWS's;
   * the response also carries STEP_UP_HEADER (src/server/aws-protocol.ts).
   */
  mfaRequired = false;
}

/** The response header that marks a refusal a passkey step-up would lift; its one value is `mfa_required`. */
export const STEP_UP_HEADER = 'x-symbolon-step-up';

const make =
  (type: string, status = 400) =>
  (message = ''): AwsError =>
    new AwsError(type, message, status);

// Authentication (shared by every service on the endpoint).
export const missingAuthenticationToken = make('MissingAuthenticationTokenException', 403);
export const incompleteSignature = make('IncompleteSignatureException');
export const invalidSignature = make('InvalidSignatureException');
export const unrecognizedClient = make('UnrecognizedClientException');
export const expiredToken = make('ExpiredTokenException');
export const accessDenied = make('AccessDeniedException');

// Protocol.
export const serialization = make('SerializationException');
export const validation = make('ValidationException');
export const unknownOperation = make('UnknownOperationException');
export const internal = make('KMSInternalException', 500);
/**
 * The store did not answer in time or dropped the connection (isStoreUnavailable in
 * src/storage/database.ts). KMS answers KMSInternalException (500), the one fault
 * every KMS operation's model declares ("The request can be retried");
 * DependencyTimeoutException is declared by 40 of 54 and ServiceUnavailableException
 * by none. IAM and STS answer AWS's common query error ServiceUnavailable (503).
 * AWS SDKs retry both.
 */
export const STORE_UNAVAILABLE_MESSAGE = 'The key store is temporarily unavailable; retry the request.';
export const storeUnavailableKms = (): AwsError => new AwsError('KMSInternalException', STORE_UNAVAILABLE_MESSAGE, 500);
export const storeUnavailableQuery = (): AwsError => new AwsError('ServiceUnavailable', STORE_UNAVAILABLE_MESSAGE, 503);
export const throttling = make('ThrottlingException');

// KMS.
export const notFound = make('NotFoundException');
export const alreadyExists = make('AlreadyExistsException');
export const disabled = make('DisabledException');
export const invalidState = make('KMSInvalidStateException');
export const invalidKeyUsage = make('InvalidKeyUsageException');
export const invalidCiphertext = make('InvalidCiphertextException');
export const incorrectKey = make('IncorrectKeyException');
export const invalidAliasName = make('InvalidAliasNameException');
export const invalidMarker = make('InvalidMarkerException');
export const tagError = make('TagException');
export const limitExceeded = make('LimitExceededException');
export const invalidSignatureKms = make('KMSInvalidSignatureException');
export const invalidMac = make('KMSInvalidMacException');
export const unsupportedOperation = make('UnsupportedOperationException');
export const malformedPolicyDocument = make('MalformedPolicyDocumentException');
export const invalidArn = make('InvalidArnException');
export const dryRunOperation = make('DryRunOperationException');
export const customKeyStoreNotFound = make('CustomKeyStoreNotFoundException');
export const invalidGrantToken = make('InvalidGrantTokenException');
export const invalidGrantId = make('InvalidGrantIdException');

/**
 * AWS's phrasing for one failed constraint: "1 validation error detected: Value … at 'field' failed to satisfy constraint: …".
 * `shownValue` null prints `Value null` (a missing member); undefined prints no value at all, as AWS does for
 * sensitive blobs ("Value at 'plaintext' …").
 */
export function constraintViolation(field: string, shownValue: string | null | undefined, constraint: string): AwsError {
  const value = shownValue === undefined ? 'Value' : shownValue === null ? 'Value null' : `Value '${shownValue}'`;
  return validation(`1 validation error detected: ${value} at '${field}' failed to satisfy constraint: ${constraint}`);
}
