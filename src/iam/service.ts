/**
 * The IAM-compatible API on the custodian's endpoint: AWS's query protocol
 * (form-encoded `Action=…&Version=2010-05-08`, SigV4 service `iam`), XML
 * responses and AWS's error XML, so @aws-sdk/client-iam and
 * `aws iam … --endpoint-url` work unchanged. Every action is authorized by the
 * caller's identity policies (`iam:<Action>` on the user's ARN); the account
 * root is always allowed. Dispatch goes through a Map only.
 */
import type { FastifyReply } from 'fastify';
import { AwsError, storeUnavailableQuery } from '../aws/errors.js';
import type { Authenticator } from '../aws/authenticator.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import { isStoreUnavailable, type Store } from '../storage/database.js';
import type { PolicyAuthorizer } from '../aws/policy/authorizer.js';
import { AUDIT_NOT_DURABLE, recordRequestEvent, type AuditEvent, type AuditSink } from '../audit/event.js';
import { accessDeniedMessage } from '../aws/policy/evaluate.js';
import type { QueryService } from '../aws/query-service.js';
import { accessDenied, iamCodeFor, invalidAction, serviceFailure } from './errors.js';
import type { IamAction, IamContext } from './context.js';
import { QueryParams } from './params.js';
import type { Principals } from './principals.js';
import type { AccountQuorum } from '../kms/policy/account-quorum.js';
import { errorDocument, responseDocument } from './xml.js';
import { createUser, deleteUser, getUser, listUsers } from './users.js';
import { listUserTags, tagUser, untagUser } from './user-tags.js';
import { createAccessKey, deleteAccessKey, listAccessKeys, updateAccessKey } from './access-keys.js';
import { deleteUserPolicy, getUserPolicy, listUserPolicies, putUserPolicy } from './user-policies.js';

export const IAM_VERSION = '2010-05-08';

const ACTIONS: ReadonlyMap<string, IamAction> = new Map(
  [
    createUser,
    getUser,
    listUsers,
    deleteUser,
    tagUser,
    untagUser,
    listUserTags,
    createAccessKey,
    listAccessKeys,
    updateAccessKey,
    deleteAccessKey,
    putUserPolicy,
    getUserPolicy,
    deleteUserPolicy,
    listUserPolicies,
  ].map((a) => [a.name, a]),
);

export interface IamServiceDeps {
  store: Store;
  root: RootOfTrust;
  accountId: string;
  authenticator: Authenticator;
  principals: Principals;
  authorizer: PolicyAuthorizer;
  /** Where each authenticated IAM request is recorded (service `iam`), like every KMS request. */
  audit?: AuditSink | undefined;
  quorum: AccountQuorum;
}

/** Sends an IAM error document. */
export function sendIamError(reply: FastifyReply, err: AwsError, requestId: string): FastifyReply {
  const { code, status } = iamCodeFor(err);
  return reply
    .code(status)
    .header('content-type', 'text/xml')
    .send(errorDocument(code, err.message, requestId, status >= 500 ? 'Receiver' : 'Sender'));
}

/**
 * One IAM query request, the same way for every IAM action family (users,
 * roles): find the action in its Map, check the Version, run it with its
 * context, answer in IAM's XML or error XML, and record one audit event for an
 * authenticated caller — user, key, role and policy changes are permission
 * changes.
 */
export async function serveIamAction<C>(args: {
  actions: ReadonlyMap<string, QueryAction<C>>;
  params: URLSearchParams;
  caller: Caller | undefined;
  info: RequestInfo;
  reply: FastifyReply;
  audit: AuditSink | undefined;
  context: (caller: Caller) => C;
}): Promise<void> {
  const { actions, params, caller, info, reply, audit } = args;
  const p = new QueryParams(params);
  let errorCode: string | null = null;
  let answer: () => void;
  try {
    const action = actions.get(p.action);
    if (!action || !caller) throw invalidAction(`Could not find operation ${p.action.slice(0, 64)}`);
    const version = params.get('Version');
    if (version !== null && version !== IAM_VERSION) throw invalidAction(`Could not find operation ${action.name} for version ${version.slice(0, 32)}`);
    const result = await action.handle(p, args.context(caller));
    answer = () =>
      reply
        .code(200)
        .header('content-type', 'text/xml')
        .send(responseDocument(action.name, result, info.requestId));
  } catch (e) {
    if (isStoreUnavailable(e)) {
      errorCode = 'ServiceUnavailable';
      reply.log.warn(
        { code: (e as { code?: unknown })?.code, requestId: info.requestId, action: p.action.slice(0, 64) },
        'IAM action failed: the store is unavailable',
      );
      answer = () => sendIamError(reply, storeUnavailableQuery(), info.requestId);
    } else if (e instanceof AwsError && e.status < 500) {
      const err = e;
      errorCode = iamCodeFor(err).code;
      answer = () => sendIamError(reply, err, info.requestId);
    } else {
      errorCode = 'ServiceFailure';
      reply.log.error(
        { err: { name: (e as Error)?.name, message: (e as Error)?.message }, requestId: info.requestId, action: p.action.slice(0, 64) },
        'IAM action failed unexpectedly',
      );
      answer = () => sendIamError(reply, serviceFailure('An internal error occurred.'), info.requestId);
    }
  }
  if (caller && audit) {
    const event: AuditEvent = {
      time: info.now,
      requestId: info.requestId,
      service: 'iam',
      operation: (actions.has(p.action) ? p.action : 'Unknown').slice(0, 64),
      principalArn: caller.arn,
      principalTags: { ...caller.tags },
      accessKeyId: caller.accessKeyId,
      sourceIp: info.sourceIp,
      userAgent: info.userAgent,
      keyArn: null,
      encryptionContext: null,
      signingAlgorithm: null,
      outcome: errorCode === null ? 'allowed' : errorCode === 'AccessDenied' ? 'denied' : 'error',
      errorCode,
    };
    // A user, key, role or policy change is acknowledged only once its record is durable.
    if (!(await recordRequestEvent(audit, event, errorCode === null && isStateChangingIamAction(p.action)))) {
      reply.log.error({ requestId: info.requestId, action: p.action.slice(0, 64) }, 'the audit record of an applied IAM change could not be written');
      answer = () => sendIamError(reply, serviceFailure(AUDIT_NOT_DURABLE), info.requestId);
    }
  }
  answer();
}

/** IAM's reads are Get*, List* and Simulate*; every other action changes something. */
export function isStateChangingIamAction(action: string): boolean {
  return !/^(Get|List|Simulate)/.test(action);
}

/** An IAM-shaped action: its name, and its handler given the service's context. */
export interface QueryAction<C> {
  readonly name: string;
  handle(params: QueryParams, ctx: C): Promise<string | undefined>;
}

/**
 * An IAM query-protocol service (SigV4 service `iam`) over a Map of actions:
 * IAM's errors, serveIamAction's dispatch and audit. Subclasses say what
 * context their actions get.
 */
export abstract class IamQueryService<C> implements QueryService {
  readonly service = 'iam';
  readonly #actions: ReadonlyMap<string, QueryAction<C>>;
  readonly #audit: AuditSink | undefined;

  protected constructor(actions: ReadonlyMap<string, QueryAction<C>>, audit: AuditSink | undefined) {
    this.#actions = actions;
    this.#audit = audit;
  }

  handles(action: string): boolean {
    return this.#actions.has(action);
  }

  isAnonymous(): boolean {
    return false;
  }

  /** Authentication failures in IAM's XML shape (InvalidClientTokenId, SignatureDoesNotMatch, …). */
  renderError(reply: FastifyReply, err: AwsError, info: RequestInfo): FastifyReply {
    return sendIamError(reply, err, info.requestId);
  }

  async handle(params: URLSearchParams, caller: Caller | undefined, info: RequestInfo, reply: FastifyReply): Promise<void> {
    await serveIamAction({ actions: this.#actions, params, caller, info, reply, audit: this.#audit, context: (c) => this.context(c, info) });
  }

  /** What the actions get for one authenticated request. */
  protected abstract context(caller: Caller, info: RequestInfo): C;
}

/** `authorize(action, resourceArn)` for one request: the caller's identity policies, AccessDenied with AWS's message otherwise. */
export function identityPolicyCheck(authorizer: PolicyAuthorizer, caller: Caller, info: RequestInfo): (action: string, resourceArn: string) => Promise<void> {
  return async (action, resourceArn) => {
    const { decision, request } = await authorizer.evaluate({ caller, info, action, key: undefined, conditions: {} }, resourceArn);
    if (!decision.allowed) throw accessDenied(accessDeniedMessage(request, decision.reason));
  };
}

export class IamService extends IamQueryService<IamContext> {
  readonly #deps: IamServiceDeps;

  constructor(deps: IamServiceDeps) {
    super(ACTIONS, deps.audit);
    this.#deps = deps;
  }

  protected context(caller: Caller, info: RequestInfo): IamContext {
    const { store, root, accountId, authenticator, principals, authorizer, quorum } = this.#deps;
    return { caller, info, store, root, accountId, authenticator, principals, quorum, authorize: identityPolicyCheck(authorizer, caller, info) };
  }
}
