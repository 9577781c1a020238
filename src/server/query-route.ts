/**
 * One query-protocol request (IAM, STS: form-encoded, routed by `Action`):
 * find the service that serves the action, authenticate unless the action is
 * anonymous (STS AssumeRoleWithWebIdentity), and hand it over. Each service
 * answers and audits in its own shape (src/iam/service.ts, src/sts/sts-service.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AwsError, internal, storeUnavailableQuery } from '../aws/errors.js';
import { isStoreUnavailable } from '../storage/database.js';
import type { Authenticator } from '../aws/authenticator.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { QueryService } from '../aws/query-service.js';
import { sendAwsError, signedRequest } from './aws-protocol.js';

/**
 * Serves one form-encoded request. Never throws: failures are answered in the
 * service's own error shape (JSON when no service claims the action).
 */
export async function serveQueryRequest(
  route: { authenticator: Authenticator; queryServices: readonly QueryService[] },
  req: FastifyRequest,
  reply: FastifyReply,
  info: RequestInfo,
  body: Uint8Array,
): Promise<FastifyReply | void> {
  const params = new URLSearchParams(Buffer.from(body).toString('utf8'));
  const action = params.get('Action') ?? '';
  const svc = route.queryServices.find((s) => s.handles(action));
  if (!svc) return sendAwsError(reply, new AwsError('InvalidAction', `Could not find operation ${action.slice(0, 64)}`, 400));
  let caller: Caller | undefined;
  if (!svc.isAnonymous(action)) {
    try {
      caller = await route.authenticator.authenticate(signedRequest(req, body), svc.service, info.now, String(req.headers.host ?? ''));
    } catch (e) {
      const err = e instanceof AwsError ? e : isStoreUnavailable(e) ? storeUnavailableQuery() : internal('An internal error occurred.');
      return svc.renderError ? svc.renderError(reply, err, info) : sendAwsError(reply, err);
    }
  }
  return svc.handle(params, caller, info, reply);
}
