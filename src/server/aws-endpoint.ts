/**
 * The AWS-compatible endpoint, `POST /`: reads what every request shares (its
 * id, source, time, exact body bytes) and hands it to the protocol's route —
 * JSON 1.1 with `X-Amz-Target` to the KMS route (src/server/kms-route.ts),
 * form-encoded `Action=` to the query route for IAM and STS
 * (src/server/query-route.ts). Every answer, refusal or error is in AWS's shape.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AwsError, serialization, validation } from '../aws/errors.js';
import type { QueryService } from '../aws/query-service.js';
import type { RequestInfo } from '../aws/context.js';
import { FORM, JSON_11, MAX_BODY_BYTES, sendAwsError } from './aws-protocol.js';
import { serveKmsRequest, type KmsRouteDeps } from './kms-route.js';
import { serveQueryRequest } from './query-route.js';

export { MAX_BODY_BYTES, sendAwsError } from './aws-protocol.js';

export interface AwsEndpointOptions extends KmsRouteDeps {
  queryServices?: QueryService[];
}

/**
 * The answer to a body over {@link MAX_BODY_BYTES}, refused before it was read:
 * a query-protocol request (form-encoded, no `X-Amz-Target`) gets its
 * service's XML error — the service named by the SigV4 credential scope, else
 * STS (whose AssumeRoleWithWebIdentity is unsigned) — and KMS's JSON otherwise.
 */
export function sendBodyTooLarge(req: FastifyRequest, reply: FastifyReply, queryServices: readonly QueryService[] = []): FastifyReply {
  if (req.headers['x-amz-target'] === undefined && String(req.headers['content-type'] ?? '').startsWith(FORM)) {
    const scoped = /\/[^/]*\/[^/]*\/([a-z0-9-]+)\/aws4_request/.exec(String(req.headers.authorization ?? ''))?.[1];
    const svc = queryServices.find((s) => s.service === scoped) ?? queryServices.find((s) => s.service === 'sts');
    if (svc?.renderError) {
      const requestId = String(reply.getHeader('x-amzn-requestid') ?? randomUUID());
      return svc.renderError(reply, new AwsError('ValidationError', 'Request body is too large.', 400), {
        requestId,
        sourceIp: req.ip,
        userAgent: '',
        now: Date.now(),
      });
    }
  }
  return sendAwsError(reply, validation('Request body is too large.'));
}

/**
 * Registers `POST /` on `root`, in its own encapsulated scope so that its raw
 * body parsers (SigV4 needs the exact bytes) do not replace the JSON and form
 * parsers of the other routes (wallet API, identity).
 */
export function registerAwsEndpoint(root: FastifyInstance, options: AwsEndpointOptions): void {
  void root.register(async (app) => awsEndpointScope(app, options));
}

function awsEndpointScope(app: FastifyInstance, options: AwsEndpointOptions): void {
  const queryRoute = { authenticator: options.authenticator, queryServices: options.queryServices ?? [] };

  app.removeAllContentTypeParsers();
  app.addContentTypeParser([JSON_11, FORM, 'application/json'], { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => done(null, body));

  app.post('/', { bodyLimit: MAX_BODY_BYTES }, async (req, reply) => {
    const requestId = randomUUID();
    reply.header('x-amzn-requestid', requestId);
    const info: RequestInfo = {
      requestId,
      sourceIp: req.ip,
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
      now: options.deps.clock(),
    };
    // Only this endpoint's parsers yield a Buffer; a body fastify parsed another way (text/plain) is not an AWS request.
    if (req.body !== undefined && !Buffer.isBuffer(req.body)) {
      return sendAwsError(reply, serialization('Unsupported content type; use application/x-amz-json-1.1.'));
    }
    const body = Buffer.isBuffer(req.body) ? new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength) : new Uint8Array(0);
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string') return serveKmsRequest(options, req, reply, info, body, target);
    if (String(req.headers['content-type'] ?? '').startsWith(FORM)) return serveQueryRequest(queryRoute, req, reply, info, body);
    return sendAwsError(reply, new AwsError('UnknownOperationException', '', 400));
  });
}
