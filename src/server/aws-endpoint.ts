/**
 * The AWS-compatible endpoint: `POST /` speaking the JSON 1.1 protocol
 * (`X-Amz-Target: TrentService.<Operation>`) for KMS, with every request
 * authenticated by SigV4, and every reply or error in AWS's shape. Query-
 * protocol services (IAM, STS) register handlers for form-encoded requests.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AwsError, internal, serialization, storeUnavailableKms, storeUnavailableQuery, unknownOperation } from '../aws/errors.js';
import { isStoreUnavailable } from '../storage/database.js';
import { Input } from '../kms/input.js';
import type { Authenticator } from '../aws/authenticator.js';
import type { QueryService } from '../aws/query-service.js';
import type { SignedRequest } from '../aws/sigv4.js';
import type { AuditFields, KmsDeps, OperationContext } from '../kms/context.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { KmsOperation } from '../kms/operation.js';
import type { AuditSink } from '../audit/event.js';

const JSON_11 = 'application/x-amz-json-1.1';
const FORM = 'application/x-www-form-urlencoded';
/** Requests larger than this are refused before parsing (KMS's largest inputs are a few KiB). */
export const MAX_BODY_BYTES = 64 * 1024;

export interface AwsEndpointOptions {
  deps: KmsDeps;
  authenticator: Authenticator;
  operations: ReadonlyMap<string, KmsOperation>;
  audit: AuditSink;
  queryServices?: QueryService[];
  /** Symbolon's quorum approvals API, JSON targets `SymbolonApprovals.<Operation>` (see src/kms/policy/approvals.ts). */
  approvalOperations?: ReadonlyMap<string, KmsOperation>;
  /** Metrics hook: called once per KMS request. */
  observe?: (operation: string, outcome: string, seconds: number, caller: Caller | undefined, keyArn: string | undefined) => void;
}

function signedRequest(req: FastifyRequest, body: Uint8Array): SignedRequest {
  const raw = req.raw.rawHeaders;
  const pairs: Array<readonly [string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  const url = req.raw.url ?? '/';
  const q = url.indexOf('?');
  const query: Record<string, string | string[]> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
      const prior = query[k];
      query[k] = prior === undefined ? v : Array.isArray(prior) ? [...prior, v] : [prior, v];
    }
  }
  let path = q >= 0 ? url.slice(0, q) : url;
  try {
    path = decodeURIComponent(path);
  } catch {
    throw serialization('The request path is not valid percent-encoding.');
  }
  return { method: req.method, path, query, rawHeaders: pairs, body };
}

export function sendAwsError(reply: FastifyReply, err: AwsError): FastifyReply {
  return reply
    .code(err.status)
    .header('content-type', JSON_11)
    .header('x-amzn-errortype', err.type)
    .send(JSON.stringify({ __type: err.type, message: err.message }));
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
  const { deps, authenticator, operations, audit } = options;
  const queryServices = options.queryServices ?? [];

  app.removeAllContentTypeParsers();
  app.addContentTypeParser([JSON_11, FORM, 'application/json'], { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) =>
    done(null, body),
  );

  app.post('/', { bodyLimit: MAX_BODY_BYTES }, async (req, reply) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    reply.header('x-amzn-requestid', requestId);
    const info: RequestInfo = {
      requestId,
      sourceIp: req.ip,
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
      now: deps.clock(),
    };
    // Only this endpoint's parsers yield a Buffer; a body fastify parsed another way (text/plain) is not an AWS request.
    if (req.body !== undefined && !Buffer.isBuffer(req.body)) {
      return sendAwsError(reply, serialization('Unsupported content type; use application/x-amz-json-1.1.'));
    }
    const body = Buffer.isBuffer(req.body) ? new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength) : new Uint8Array(0);
    const target = req.headers['x-amz-target'];
    const hostname = String(req.headers.host ?? '').replace(/:\d+$/, '');

    if (typeof target !== 'string') {
      const contentType = String(req.headers['content-type'] ?? '');
      if (contentType.startsWith(FORM)) {
        const params = new URLSearchParams(Buffer.from(body).toString('utf8'));
        const action = params.get('Action') ?? '';
        const svc = queryServices.find((s) => s.handles(action));
        if (!svc) return sendAwsError(reply, new AwsError('InvalidAction', `Could not find operation ${action.slice(0, 64)}`, 400));
        let caller: Caller | undefined;
        if (!svc.isAnonymous(action)) {
          try {
            caller = await authenticator.authenticate(signedRequest(req, body), svc.service, info.now, hostname);
          } catch (e) {
            const err = e instanceof AwsError ? e : isStoreUnavailable(e) ? storeUnavailableQuery() : internal('An internal error occurred.');
            return svc.renderError ? svc.renderError(reply, err, info) : sendAwsError(reply, err);
          }
        }
        return svc.handle(params, caller, info, reply);
      }
      return sendAwsError(reply, new AwsError('UnknownOperationException', '', 400));
    }

    let caller: Caller | undefined;
    let operationName = target;
    const audits: AuditFields = {};
    let outcome: 'allowed' | 'denied' | 'error' = 'allowed';
    let errorCode: string | null = null;
    try {
      caller = await authenticator.authenticate(signedRequest(req, body), 'kms', info.now, hostname);
      const dot = target.indexOf('.');
      const prefix = target.slice(0, dot);
      operationName = target.slice(dot + 1);
      const op =
        prefix === 'TrentService' ? operations.get(operationName) : prefix === 'SymbolonApprovals' ? options.approvalOperations?.get(operationName) : undefined;
      if (!op) throw unknownOperation('');
      let parsed: unknown;
      try {
        parsed = body.length === 0 ? {} : JSON.parse(Buffer.from(body).toString('utf8'));
      } catch {
        throw serialization('The request body is not valid JSON.');
      }
      const ctx: OperationContext = { deps, caller, info, audit: audits };
      const result = await op.handle(new Input(parsed), ctx);
      if (ctx.responseHeaders) reply.headers(ctx.responseHeaders);
      reply.code(200).header('content-type', JSON_11).send(JSON.stringify(result));
    } catch (e) {
      let err: AwsError;
      if (e instanceof AwsError) err = e;
      else if (isStoreUnavailable(e)) {
        req.log.warn({ code: (e as { code?: unknown })?.code, requestId, operation: operationName }, 'KMS request failed: the store is unavailable');
        err = storeUnavailableKms();
      } else {
        req.log.error({ err: { name: (e as Error)?.name, message: (e as Error)?.message }, requestId, operation: operationName }, 'KMS operation failed unexpectedly');
        err = internal('An internal error occurred.');
      }
      outcome = err.type === 'AccessDeniedException' ? 'denied' : 'error';
      errorCode = err.type;
      sendAwsError(reply, err);
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      options.observe?.(operationName, errorCode ?? 'ok', seconds, caller, audits.keyArn);
      if (caller) {
        audit.record({
          time: info.now,
          requestId,
          service: 'kms',
          operation: operationName.slice(0, 64),
          principalArn: caller.arn,
          principalTags: { ...caller.tags },
          accessKeyId: caller.accessKeyId,
          sourceIp: info.sourceIp,
          userAgent: info.userAgent,
          keyArn: audits.keyArn ?? null,
          encryptionContext: audits.encryptionContext ?? null,
          signingAlgorithm: audits.signingAlgorithm ?? null,
          outcome,
          errorCode,
        });
      }
    }
    return reply;
  });
}
