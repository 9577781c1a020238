/**
 * STS on the custodian's endpoint: AWS's query protocol (form-encoded
 * `Action=…&Version=2011-06-15`, SigV4 service `sts`), XML responses in STS's
 * namespace and STS's error XML, so @aws-sdk/client-sts (and credential
 * providers built on it) work unchanged. AssumeRoleWithWebIdentity is
 * anonymous, as in AWS: the web identity token is the credential.
 * Dispatch goes through a Map only.
 */
import type { FastifyReply } from 'fastify';
import { AwsError, storeUnavailableQuery } from '../aws/errors.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import { isStoreUnavailable, type Store } from '../storage/database.js';
import type { AuditSink } from '../audit/event.js';
import type { TokenVerifier } from '../identity/token-verifier.js';
import type { QueryService } from '../aws/query-service.js';
import { QueryParams } from '../iam/params.js';
import { invalidAction, stsCodeFor } from './errors.js';
import { STS_VERSION, stsErrorDocument, stsResponseDocument } from './xml.js';
import type { StsAction, StsContext } from './context.js';
import { assumeRoleWithWebIdentity } from './assume-role-with-web-identity.js';
import { getCallerIdentity } from './get-caller-identity.js';
import type { PolicyAuthorizer } from '../aws/policy/authorizer.js';
import { identityPolicyCheck } from '../iam/service.js';
import { getWebIdentityUser, linkWebIdentity, listWebIdentityLinks, unlinkWebIdentity } from './web-identity-links.js';

const ACTIONS: ReadonlyMap<string, StsAction> = new Map(
  [assumeRoleWithWebIdentity, getCallerIdentity, linkWebIdentity, unlinkWebIdentity, listWebIdentityLinks, getWebIdentityUser].map((a) => [a.name, a]),
);

export interface StsServiceDeps {
  store: Store;
  root: RootOfTrust;
  accountId: string;
  /** The identity module's verifier over every trusted issuer (called per request; built lazily by the identity module). */
  verifier: () => TokenVerifier;
  audit: AuditSink;
  /** Decides signed actions that name an IAM permission (GetWebIdentityUser) by the caller's identity policies. */
  authorizer?: PolicyAuthorizer;
  /** Tells the KMS's key cache in this process that a key changed (a merge retires keys: merge-login.ts). */
  keyChanged?: (keyId: string) => void;
}

/** Sends an STS error document with the error's own code. */
export function sendStsError(reply: FastifyReply, err: AwsError, requestId: string): FastifyReply {
  const { type: code, status } = err;
  return reply
    .code(status)
    .header('content-type', 'text/xml')
    .send(stsErrorDocument(code, err.message, requestId, status >= 500 ? 'Receiver' : 'Sender'));
}

export class StsService implements QueryService {
  readonly service = 'sts';
  readonly #deps: StsServiceDeps;

  constructor(deps: StsServiceDeps) {
    this.#deps = deps;
  }

  handles(action: string): boolean {
    return ACTIONS.has(action);
  }

  isAnonymous(action: string): boolean {
    return ACTIONS.get(action)?.anonymous ?? false;
  }

  /** Authentication failures in STS's XML shape (InvalidClientTokenId, SignatureDoesNotMatch, ExpiredToken, …). */
  renderError(reply: FastifyReply, err: AwsError, info: RequestInfo): FastifyReply {
    const { code, status } = stsCodeFor(err);
    return sendStsError(reply, new AwsError(code, err.message, status), info.requestId);
  }

  async handle(params: URLSearchParams, caller: Caller | undefined, info: RequestInfo, reply: FastifyReply): Promise<void> {
    const p = new QueryParams(params);
    try {
      const action = ACTIONS.get(p.action);
      if (!action || (!action.anonymous && !caller)) throw invalidAction(`Could not find operation ${p.action.slice(0, 64)}`);
      const version = params.get('Version');
      if (version !== null && version !== STS_VERSION) throw invalidAction(`Could not find operation ${action.name} for version ${version.slice(0, 32)}`);
      const { store, root, accountId, verifier, audit, authorizer, keyChanged } = this.#deps;
      const ctx: StsContext = { caller, info, store, root, accountId, verifier, audit, ...(keyChanged ? { keyChanged } : {}) };
      if (caller && authorizer) ctx.authorize = identityPolicyCheck(authorizer, caller, info);
      const result = await action.handle(p, ctx);
      reply
        .code(200)
        .header('content-type', 'text/xml')
        .send(stsResponseDocument(action.name, result, info.requestId));
    } catch (e) {
      if (e instanceof AwsError && e.status < 500) {
        sendStsError(reply, e, info.requestId);
        return;
      }
      if (isStoreUnavailable(e)) {
        reply.log.warn(
          { code: (e as { code?: unknown })?.code, requestId: info.requestId, action: p.action.slice(0, 64) },
          'STS action failed: the store is unavailable',
        );
        sendStsError(reply, storeUnavailableQuery(), info.requestId);
        return;
      }
      reply.log.error(
        { err: { name: (e as Error)?.name, message: (e as Error)?.message }, requestId: info.requestId, action: p.action.slice(0, 64) },
        'STS action failed unexpectedly',
      );
      sendStsError(reply, new AwsError('InternalFailure', 'An internal error occurred.', 500), info.requestId);
    }
  }
}
