/**
 * The signer's API errors: one catalogue of stable codes with their HTTP
 * statuses, sent as `{ "error": { "code", "message" } }`. Messages name fields,
 * lengths, key ids and reason codes only — never a share, a key, a token, a
 * payload or a ciphertext.
 */
import { InvalidPayloadError } from '../eth/errors.js';

export const SIGNER_ERRORS = {
  /** The request body is not what /v1/sign takes. */
  bad_request: 400,
  /** The payload cannot be signed as given (bad transaction, typed data, …). */
  invalid_payload: 400,
  /** The token was refused (expired, wrong issuer or audience, bad signature, …). */
  invalid_token: 401,
  /** An export needs a fresh authentication: the token's auth_time (or iat) is too old (exportSplitKey.ts). */
  reauthentication_required: 401,
  /** This deployment does not allow key export (SYMBOLON_WALLET_EXPORT=disabled). */
  export_disabled: 403,
  /** Share A XOR share B does not derive the wallet's address: share B (or the release) was altered. */
  share_mismatch: 422,
  /** The custodian refused to open share A's ciphertext: not this owner's or this address's, or altered. */
  share_ciphertext_invalid: 422,
  /** The custodian retired this share generation: a rotation committed a newer one (or another pair of it is in use). */
  share_generation_retired: 422,
  /** The wallet's shares include the owner's device share (factor: device) and the request has no share C (deviceShare.ts). */
  device_share_required: 422,
  /** The custodian's key policy refused the release (another user's token, a measurement it does not allow, …). */
  release_refused: 403,
  /** The custodian refused this signer's attestation (untrusted platform, stale or replayed document). */
  attestation_refused: 502,
  /** No credentials for the custodian could be obtained with this token (STS refused it or is unreachable). */
  credentials_unavailable: 502,
  /** The custodian could not be reached or failed. */
  custodian_unavailable: 502,
  /** The owner's signing policy does not parse, or names a key a split wallet cannot use (rolling windows). */
  invalid_policy: 400,
  /** The owner's signing policy refused the payload (an explicit Deny, or no statement allows it). */
  policy_denied: 403,
  /** The owner's signing policy refused the payload, and would allow it after a passkey step-up (a second factor now). */
  mfa_required: 403,
  /** The owner's signing policy asks for approval, which a split wallet cannot give: refused. */
  policy_requires_approval: 403,
  /** The signer is shutting down or not configured to release shares. */
  unavailable: 503,
  internal_error: 500,
} as const;

export type SignerErrorCode = keyof typeof SIGNER_ERRORS;

/** A refused or failed sign request; `code` is stable and maps to an HTTP status. */
export class SignerError extends Error {
  override name = 'SignerError';
  readonly status: number;
  /** For `attestation_refused`: the custodian's reason code (`stale`, `replayed`, …). */
  readonly reason: string | undefined;
  /** For `policy_denied`/`policy_requires_approval`/`mfa_required`: the deciding statement's Sid (undefined: implicit deny). */
  readonly statement: string | undefined;
  constructor(
    readonly code: SignerErrorCode,
    message: string,
    options?: { cause?: unknown; reason?: string; statement?: string | undefined },
  ) {
    super(message, options);
    this.status = SIGNER_ERRORS[code];
    this.reason = options?.reason;
    this.statement = options?.statement;
  }
}

/** Runs a payload read or encoding (src/eth/payload.ts) and reports its refusal as `invalid_payload`. */
export function asSignerPayload<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof InvalidPayloadError) throw new SignerError('invalid_payload', e.shortMessage);
    throw e;
  }
}
