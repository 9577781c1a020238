/**
 * The audit events of the built-in issuer's passkeys (docs/identity.md,
 * "Passkeys"): a registration, a login, a step-up, a removal, each allowed or
 * denied with its stable code — `counter_not_increased` is the clone warning
 * (WebAuthn §6.1.1: a signature counter that did not rise). Service
 * `identity`; the user is the tag `symbolon:sub`, the passkey its credential
 * id (public: a relying party sends it in every allowCredentials list) and
 * backup state. Never a challenge, a response, a signature or a token.
 */
import type { AuditEvent } from '../../audit/event.js';

export type PasskeyOperation = 'PasskeyRegister' | 'PasskeyLogin' | 'PasskeyStepUp' | 'PasskeyRemove';

/** Who asked and from where: the request's parts an audit record keeps. */
export interface CeremonyCaller {
  requestId: string;
  ip: string;
  userAgent: string;
}

export function passkeyEvent(o: {
  operation: PasskeyOperation;
  caller: CeremonyCaller;
  time: number;
  sub: string | undefined;
  credentialId: string | undefined;
  backedUp?: boolean | undefined;
  errorCode: string | null;
}): AuditEvent {
  const context: Record<string, string> = {};
  if (o.credentialId !== undefined) context.credentialId = o.credentialId;
  if (o.backedUp !== undefined) context.backedUp = String(o.backedUp);
  return {
    time: o.time,
    requestId: o.caller.requestId,
    service: 'identity',
    operation: o.operation,
    principalArn: null,
    principalTags: o.sub !== undefined ? { 'symbolon:sub': o.sub } : {},
    accessKeyId: null,
    sourceIp: o.caller.ip,
    userAgent: o.caller.userAgent.slice(0, 256),
    keyArn: null,
    encryptionContext: Object.keys(context).length > 0 ? context : null,
    signingAlgorithm: null,
    outcome: o.errorCode === null ? 'allowed' : 'denied',
    errorCode: o.errorCode,
  };
}
