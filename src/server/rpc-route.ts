/**
 * `POST /rpc`: the JSON-RPC signer's HTTP side (docs/rpc.md). Reads the API
 * token (`Authorization: Bearer TOKEN`, src/rpc/tokens.ts) before anything
 * else, then the body as JSON (any content type, at most RPC_MAX_BODY_BYTES),
 * and hands it to the signer (src/rpc/rpc-signer.ts). HTTP status: 401 for a
 * missing, unknown or revoked token, 413 for a body over the limit, 204 when
 * a request holds only notifications, 200 for every JSON-RPC answer, errors
 * included (JSON-RPC's codes carry the outcome). Never a stack trace.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Caller, RequestInfo } from '../aws/context.js';
import type { AuditSink } from '../audit/event.js';
import { RPC_ERRORS, RpcError } from '../rpc/errors.js';
import { errorResponse, type RpcSigner } from '../rpc/rpc-signer.js';
import { RpcAuthError, type RpcTokenAuthenticator } from '../rpc/tokens.js';

/** The largest body /rpc reads: a full batch of typed data fits; more is refused before it is read. */
export const RPC_MAX_BODY_BYTES = 1024 * 1024;

export interface RpcRouteOptions {
  signer: RpcSigner;
  tokens: RpcTokenAuthenticator;
  audit: AuditSink;
  clock: () => number;
}

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store').send(JSON.stringify(body));
}

/** Registers `POST /rpc` in its own scope (its body parser and error handler stay there). */
export function registerRpcRoute(root: FastifyInstance, options: RpcRouteOptions): void {
  void root.register(async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: RPC_MAX_BODY_BYTES }, (_req, body, done) => done(null, body));
    // Refused before the handler ran (a body over the limit, a broken upload): a JSON-RPC error, never fastify's page.
    app.setErrorHandler((err: { code?: string; statusCode?: number }, req, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        return send(reply, 413, errorResponse(null, new RpcError(RPC_ERRORS.invalidRequest, `The request body is larger than ${RPC_MAX_BODY_BYTES} bytes.`)));
      if (err.statusCode && err.statusCode < 500)
        return send(reply, 400, errorResponse(null, new RpcError(RPC_ERRORS.parse, 'The request body could not be read.')));
      req.log.error({ code: err.code }, 'JSON-RPC request failed');
      return send(reply, 500, errorResponse(null, new RpcError(RPC_ERRORS.internal, 'An internal error occurred.')));
    });

    app.post('/rpc', { bodyLimit: RPC_MAX_BODY_BYTES }, async (req, reply) => {
      const info: RequestInfo = {
        requestId: randomUUID(),
        sourceIp: req.ip,
        userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
        now: options.clock(),
      };
      reply.header('x-request-id', info.requestId);
      let caller: Caller;
      try {
        caller = await options.tokens.authenticate(req.headers.authorization, info.now);
      } catch (e) {
        if (!(e instanceof RpcAuthError)) throw e;
        if (e.caller) {
          options.audit.record({
            time: info.now,
            requestId: info.requestId,
            service: 'rpc',
            operation: 'Authenticate',
            principalArn: e.caller.arn,
            principalTags: { ...e.caller.tags },
            accessKeyId: e.caller.accessKeyId,
            sourceIp: info.sourceIp,
            userAgent: info.userAgent,
            keyArn: null,
            encryptionContext: null,
            signingAlgorithm: null,
            outcome: 'denied',
            errorCode: e.reason,
          });
        }
        reply.header('www-authenticate', 'Bearer');
        return send(reply, 401, errorResponse(null, new RpcError(RPC_ERRORS.unauthorized, e.message)));
      }
      let body: unknown;
      try {
        const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        body = JSON.parse(bytes.toString('utf8'));
      } catch {
        return send(reply, 200, errorResponse(null, new RpcError(RPC_ERRORS.parse, 'The request body is not valid JSON.')));
      }
      const answer = await options.signer.handle(body, { caller, info });
      if (answer === undefined) return reply.code(204).send();
      return send(reply, 200, answer);
    });
  });
}
