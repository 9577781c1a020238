/**
 * The split signer's signing decision on a Decrypt with `Recipient`
 * (docs/signing-policy.md, "Split and envelope wallets"; docs/audit.md): the
 * attested signer asks for share A only once the owner's policy allowed the
 * payload, and sends the payload's decoded facts with the request as
 * `SymbolonSigningDecision` (a Symbolon extension; AWS KMS has no such
 * member). The custodian records them as the audit event's `eth` fields.
 * They are claims of the attested signer — the measured image whose
 * attestation document the same request carries, in a body SigV4 signs —
 * not facts the custodian checked: it never sees the payload. Read only
 * beside an attested `Recipient`; anything else is a ValidationException.
 */
import { validation } from '../aws/errors.js';
import type { EthAuditFields } from '../audit/event.js';
import type { Input } from './input.js';

export const SIGNER_CLAIMS_FIELD = 'SymbolonSigningDecision';

const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const PAYLOAD_TYPES: ReadonlySet<string> = new Set(['transaction', 'message', 'typedData', 'authorization']);
const CHECKS: Readonly<Record<string, (v: unknown) => boolean>> = {
  payloadType: (v) => typeof v === 'string' && PAYLOAD_TYPES.has(v),
  // Share A is asked for only after an Allow; a refusal is recorded by a DryRun (readSignerClaims).
  decision: (v) => v === 'allow' || v === 'deny' || v === 'pending',
  chainId: (v) => typeof v === 'string' && DECIMAL.test(v),
  to: (v) => v === null || (typeof v === 'string' && ADDRESS.test(v)),
  value: (v) => typeof v === 'string' && DECIMAL.test(v),
  // Data shorter than 4 bytes is its own selector (src/signing-policy/payloadFacts.ts).
  selector: (v) => typeof v === 'string' && /^0x[0-9a-f]{1,8}$/.test(v),
  erc20Recipient: (v) => typeof v === 'string' && ADDRESS.test(v),
  erc20Amount: (v) => typeof v === 'string' && DECIMAL.test(v),
  // A Sid as parseSigningPolicy accepts it.
  statement: (v) => typeof v === 'string' && /^[A-Za-z0-9]{1,128}$/.test(v),
};

function refuse(why: string): never {
  throw validation(`${SIGNER_CLAIMS_FIELD} ${why}`);
}

/**
 * @param attested whether the request carries a verified Recipient attestation.
 * @param dryRun whether the request is a DryRun: only then may the decision be `deny` or `pending`
 *   (the signer records a refusal without a release; a release is always for an allowed payload).
 * @returns the claimed audit fields, or undefined when the request has none.
 * @throws {AwsError} ValidationException when they are malformed or come without an attested Recipient.
 */
export function readSignerClaims(input: Input, attested: boolean, dryRun = false): EthAuditFields | undefined {
  const v = input.raw[SIGNER_CLAIMS_FIELD];
  if (v === undefined || v === null) return undefined;
  if (!attested) refuse('is accepted only with an attested Recipient.');
  if (typeof v !== 'object' || Array.isArray(v)) refuse('must be a structure.');
  const claims = v as Record<string, unknown>;
  for (const [k, value] of Object.entries(claims)) {
    const check = Object.hasOwn(CHECKS, k) ? CHECKS[k] : undefined;
    if (!check) refuse(`has an unknown member (${k.slice(0, 32)}).`);
    if (!check(value)) refuse(`member ${k} is malformed.`);
  }
  if (claims.payloadType === undefined || claims.decision === undefined) refuse('must name payloadType and decision.');
  if (claims.decision !== 'allow' && !dryRun) refuse('may name a refusal (deny, pending) only with DryRun: a release is for an allowed payload.');
  return claims as unknown as EthAuditFields;
}
