/**
 * The caller's login as signing-policy facts (docs/signing-policy.md,
 * docs/access-control.md "Step-up MFA"): the same values the key and identity
 * policies see through src/aws/policy/request.ts's authConditionKeys —
 * aws:MultiFactorAuthPresent, aws:MultiFactorAuthAge, symbolon:AuthMethods —
 * added to a payload's facts. A caller that is not a web-identity session has
 * none of them (so `Bool … true` is false for it, as IAM's would be). Pure.
 */
import type { SessionAuth } from '../aws/context.js';
import { authConditionKeys } from '../aws/policy/request.js';
import type { PayloadFacts } from './payloadFacts.js';

/** Adds the caller's login facts to `facts` (in place) and returns it. */
export function callerFacts(facts: PayloadFacts, auth: SessionAuth | undefined, now: number): PayloadFacts {
  for (const [key, value] of authConditionKeys(auth, now)) {
    const text = typeof value === 'string' ? [value] : [...value];
    const numbers = key === 'aws:MultiFactorAuthAge' ? text.map((t) => BigInt(t)) : [];
    facts.set(key.toLowerCase(), { text, numbers });
  }
  return facts;
}
