/**
 * Builds the HTTP application from already-constructed dependencies. Never
 * calls listen(): tests use inject() or listen themselves.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AwsError, serialization } from '../aws/errors.js';
import { registerAwsEndpoint, sendAwsError, sendBodyTooLarge, type AwsEndpointOptions } from './aws-endpoint.js';
import { walletApi, type WalletApiOptions } from '../wallet/routes.js';

export interface AppDeps extends AwsEndpointOptions {
  logger: Logger;
  /** Mounts the identity routes (the built-in issuer under /oidc) when given. */
  identity?: { register(app: FastifyInstance): void };
  /** Mounts the wallet API under /v1 when given. */
  wallet?: WalletApiOptions;
  /** Mounts the wallet frame under /frame (src/server/frame.ts) when given. */
  frame?: { register(app: FastifyInstance): void };
  /** Mounts the JSON-RPC signer at POST /rpc (src/server/rpc-route.ts) when given. */
  rpc?: { register(app: FastifyInstance): void };
  /** Serves through a server the caller owns (SYMBOLON_ROOT=shamir's sealed gate, src/server/sealed-gate.ts). */
  serverFactory?: ServerFactory;
}

/** Fastify's serverFactory: gets the app's request handler, returns the server it is served through. */
export type ServerFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void) => Server;

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = baseApp(deps.logger, deps.queryServices, deps.serverFactory);
  registerAwsEndpoint(app, deps);
  deps.identity?.register(app);
  if (deps.wallet) void app.register(walletApi, { prefix: '/v1', ...deps.wallet });
  deps.frame?.register(app);
  deps.rpc?.register(app);
  return app;
}

/**
 * The wallet role's app (`serve --role wallet`): the wallet API under /v1 and,
 * when the built-in issuer runs here, /oidc — no AWS endpoint.
 */
export function buildWalletApp(deps: Pick<AppDeps, 'logger' | 'identity' | 'serverFactory'> & { wallet: WalletApiOptions }): FastifyInstance {
  const app = baseApp(deps.logger, undefined, deps.serverFactory);
  deps.identity?.register(app);
  void app.register(walletApi, { prefix: '/v1', ...deps.wallet });
  // Outside /v1 and /oidc this role serves nothing: the wallet API's JSON error shape, not fastify's default.
  app.setNotFoundHandler((_req, reply) =>
    reply.code(404).send({ error: { code: 'not_found', message: 'No such endpoint: the wallet role serves /v1, /oidc and /health.' } }),
  );
  return app;
}

/** Fastify with the error handler every role shares, and GET /health. */
function baseApp(logger: Logger, queryServices: AppDeps['queryServices'], serverFactory?: ServerFactory): FastifyInstance {
  const app = Fastify({
    ...(serverFactory ? { serverFactory } : {}),
    loggerInstance: logger as unknown as FastifyBaseLogger,
    // One log line per request would cost more than a Sign; failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger: handlers log the request id explicitly.
    childLoggerFactory: (logger) => logger,
    trustProxy: false,
    return503OnClosing: true,
  });

  // Framework-level failures (body too large, bad content type) in AWS's shape, never a stack trace.
  app.setErrorHandler((err: { code?: string; statusCode?: number; message?: string }, req, reply) => {
    if (req.url === '/' || req.url.startsWith('/?')) {
      // Refused before the route ran (body too large, bad media type): AWS still names every request.
      if (!reply.hasHeader('x-amzn-requestid')) reply.header('x-amzn-requestid', randomUUID());
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendBodyTooLarge(req, reply, queryServices);
      if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
        return sendAwsError(reply, serialization('Unsupported content type; use application/x-amz-json-1.1.'));
      }
      if (err.statusCode && err.statusCode < 500) return sendAwsError(reply, serialization('The request could not be parsed.'));
      req.log.error({ code: err.code, message: err.message }, 'request failed');
      return sendAwsError(reply, new AwsError('KMSInternalException', 'An internal error occurred.', 500));
    }
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ code: err.code, message: err.message }, 'request failed');
    return reply.code(status).send({
      error: {
        code: status >= 500 ? 'internal_error' : 'bad_request',
        message: status >= 500 ? 'An internal error occurred.' : 'The request could not be processed.',
      },
    });
  });

  app.get('/health', async () => ({ status: 'ok' }));
  return app;
}
