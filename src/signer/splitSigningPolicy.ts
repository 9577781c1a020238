/**
 * A split wallet's signing policy in the signer (docs/signing-policy.md,
 * "Split and envelope wallets"): the owner's policy text arrives beside
 * share B; the signer parses it with the same src/signing-policy/ code the
 * custodian runs for KMS keys, evaluates it on the payload before share A is
 * asked for, and binds the text's SHA-256 into share A's encryption context
 * (shareContext.ts), so the custodian opens share A only for the very text it
 * was sealed with. A text the wallet service swapped opens nothing.
 *
 * For a wallet owner there is no one else to approve: `RequireApproval` is a
 * refusal with its own code (`policy_requires_approval`). Rolling-window keys
 * (`eth:ValueInWindow/…` and the like) need a usage store that counts every
 * signature; the signer keeps no state, so a split wallet's policy that names
 * one is refused when it is set (`invalid_policy`).
 *
 * The owner's login is a fact too (ownerAuth.ts: aws:MultiFactorAuthPresent,
 * aws:MultiFactorAuthAge, symbolon:AuthMethods). A refusal that a passkey
 * step-up now would turn into an Allow has its own code, `mfa_required`, so
 * the frame can ask for the passkey and retry once (docs/frame.md) without
 * reading the message.
 */
import { parseSigningPolicy, SigningPolicyError, type SigningPolicy } from '../signing-policy/document.js';
import { describeDecision, evaluateSigningPolicy, type SigningDecision } from '../signing-policy/evaluateSigningPolicy.js';
import { payloadFacts, type PayloadFacts } from '../signing-policy/payloadFacts.js';
import { callerFacts } from '../signing-policy/callerFacts.js';
import { steppedUpLogins, type SessionAuth } from '../aws/context.js';
import { signingPolicySha256 } from '../signing-policy/signingPolicySha256.js';
import type { SignPayload } from '../eth/payload.js';
import { TokenError } from '../identity/errors.js';
import type { TokenVerifier } from '../identity/token-verifier.js';
import type { VerifiedToken } from '../identity/verified-token.js';
import { SignerError } from './errors.js';
import { ownerAuth } from './ownerAuth.js';

export interface SplitSigningPolicy {
  policy: SigningPolicy;
  /** SHA-256 of the text's UTF-8 bytes, lowercase hex: what share A's context carries. */
  sha256: string;
}

/**
 * Parses an owner's policy text for a split wallet.
 * @throws {SignerError} invalid_policy when it does not parse or names a rolling-window key.
 */
export function readSplitSigningPolicy(text: string): SplitSigningPolicy {
  let policy: SigningPolicy;
  try {
    policy = parseSigningPolicy(text);
  } catch (e) {
    if (e instanceof SigningPolicyError) throw new SignerError('invalid_policy', `The signing policy is invalid: ${e.message}`);
    throw e;
  }
  if (policy.windows.length > 0)
    throw new SignerError(
      'invalid_policy',
      `A split wallet's signing policy cannot use rolling-window keys (${policy.windows[0]!.key}): the signer keeps no usage count (docs/signing-policy.md).`,
    );
  return { policy, sha256: signingPolicySha256(text) };
}

/** A decision, and whether a step-up would have allowed what it refuses. */
export type SplitDecision = SigningDecision & { mfaRequired: boolean };

/**
 * The policy's decision on a payload for an owner who logged in as `auth`; when it is not
 * an Allow, also whether the same request after a passkey step-up now would be one (pure).
 */
export function decideSplitPayload(policy: SigningPolicy, payload: SignPayload, auth: SessionAuth, now: number): SplitDecision {
  return decideSplitFacts(policy, payloadFacts(payload), auth, now);
}

/** decideSplitPayload over a payload's facts already made (they are not changed). */
export function decideSplitFacts(policy: SigningPolicy, facts: PayloadFacts, auth: SessionAuth, now: number): SplitDecision {
  const decided = evaluateSigningPolicy(policy, callerFacts(new Map(facts), auth, now));
  if (decided.decision === 'allow') return { ...decided, mfaRequired: false };
  // The login a passkey step-up would give, as the custodian imagines it (src/aws/context.ts): either kind of passkey.
  const mfaRequired = steppedUpLogins(auth, now).some(
    (stepped) => evaluateSigningPolicy(policy, callerFacts(new Map(facts), stepped, now)).decision === 'allow',
  );
  return { ...decided, mfaRequired };
}

/**
 * @returns the Sid of the Allow statement that decided.
 * @throws {SignerError} mfa_required (a step-up would allow it), policy_denied (an explicit or implicit Deny)
 *   or policy_requires_approval; the message names the Sid.
 */
export function enforceSplitDecision(decision: SplitDecision): string {
  if (decision.decision === 'allow') return decision.statement;
  if (decision.mfaRequired)
    throw new SignerError(
      'mfa_required',
      `Refused: the signing policy${decision.statement !== undefined ? ` (statement ${decision.statement})` : ''} requires a second factor; confirm with a passkey and retry.`,
      { statement: decision.statement },
    );
  if (decision.decision === 'pending')
    throw new SignerError(
      'policy_requires_approval',
      `Refused: signing policy statement ${decision.statement} requires approval, and a split wallet has no approvers (docs/signing-policy.md).`,
      { statement: decision.statement },
    );
  throw new SignerError('policy_denied', describeDecision(decision), { statement: decision.statement });
}

/** What `POST /v1/evaluate` answers: the decision the signer would take, and why (Sids and policy text only). */
export interface SplitPolicyPreview {
  decision: 'allow' | 'deny' | 'pending';
  /** The deciding statement's Sid; absent for an implicit deny. */
  statement?: string;
  message: string;
  /** Present (true) when refused now and allowed after a passkey step-up (the signature would answer `mfa_required`). */
  mfaRequired?: true;
}

/**
 * The owner's policy's decision on a payload, without signing (the frame's
 * preview before approval, docs/frame.md): the same parse and evaluation as
 * a signature, after the owner's token is verified. Advice only — the
 * signature request decides again, and share A opens only for the sealed text.
 * @throws {SignerError} invalid_token, invalid_policy, invalid_payload.
 */
export async function previewSplitPolicy(
  verifier: TokenVerifier,
  request: { token: string; signingPolicy: string; payload: SignPayload },
): Promise<SplitPolicyPreview> {
  let verified: VerifiedToken;
  try {
    verified = await verifier.verify(request.token);
  } catch (e) {
    if (e instanceof TokenError) throw new SignerError('invalid_token', `The token was refused (${e.code}).`);
    throw e;
  }
  const { policy } = readSplitSigningPolicy(request.signingPolicy);
  const now = Date.now();
  const d = decideSplitPayload(policy, request.payload, ownerAuth(verified, now), now);
  const message = d.mfaRequired
    ? 'Needs a second factor: confirm with your passkey when you approve.'
    : d.decision === 'pending'
      ? `Refused: signing policy statement ${d.statement} requires approval, and a split wallet has no approvers.`
      : describeDecision(d);
  return {
    decision: d.decision,
    ...(d.statement !== undefined ? { statement: d.statement } : {}),
    message,
    ...(d.mfaRequired ? { mfaRequired: true as const } : {}),
  };
}
