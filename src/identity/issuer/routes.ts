/**
 * The built-in issuer's HTTP API, mounted under /oidc. Every route has a schema
 * for its request and its responses: a response schema is what keeps a stray
 * field (a private JWK member, a hash) from ever leaving. Errors are
 * `{"error": {"code", "message"}}` with stable codes; 429 carries Retry-After.
 *
 *   GET  /.well-known/openid-configuration   OIDC Discovery §4
 *   GET  /jwks.json                          RFC 7517 §5
 *   POST /email/start   {email}              sends a 6-digit code
 *   POST /email/verify  {email, code}        → tokens
 *   POST /token         grant_type=refresh_token&refresh_token=…  (form or JSON; RFC 6749 §6)
 *   POST /passkey/login/start                → {challenge_id, options}
 *   POST /passkey/login/finish  {challenge_id, response}   → tokens
 *   POST /passkey/register/start   (Bearer)  → {challenge_id, options}
 *   POST /passkey/register/finish  (Bearer) {challenge_id, response} → the passkey
 *   POST /passkey/step-up/start    (Bearer)  → {challenge_id, options}
 *   POST /passkey/step-up/finish   (Bearer) {challenge_id, response} → tokens with `mfa`
 *   GET  /passkeys                 (Bearer)  → {passkeys}
 *   DELETE /passkeys/:credential_id (Bearer, fresh login or step-up) → 204
 *   (every /passkey/* route and the DELETE: rate limited per address and per user, 429 with Retry-After)
 *   GET  /dev/mailbox?email=…                development only
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { IssuerError } from '../errors.js';
import { BuiltinIssuer, EMAIL_PATTERN } from './builtin-issuer.js';
import type { DevMailbox } from './dev-mailbox.js';
import type { CeremonyCaller } from './passkey-audit.js';

const FORM = 'application/x-www-form-urlencoded';
const BODY_LIMIT = 8 * 1024;

const errorSchema = {
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;
const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

const tokenResponse = {
  type: 'object',
  required: ['access_token', 'refresh_token', 'token_type', 'expires_in'],
  additionalProperties: false,
  properties: {
    access_token: { type: 'string' },
    refresh_token: { type: 'string' },
    id_token: { type: 'string' },
    token_type: { type: 'string', enum: ['Bearer'] },
    expires_in: { type: 'integer' },
  },
} as const;

const jwkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kty', 'kid'],
  // Public members only (RFC 7517/8037): no `d`, whatever the key object held.
  properties: {
    kty: { type: 'string' },
    crv: { type: 'string' },
    x: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
    use: { type: 'string' },
  },
} as const;

const stringList = { type: 'array', items: { type: 'string' } } as const;
const discoverySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer', 'jwks_uri'],
  properties: {
    issuer: { type: 'string' },
    jwks_uri: { type: 'string' },
    token_endpoint: { type: 'string' },
    email_otp_start_endpoint: { type: 'string' },
    email_otp_verify_endpoint: { type: 'string' },
    grant_types_supported: stringList,
    token_endpoint_auth_methods_supported: stringList,
    subject_types_supported: stringList,
    id_token_signing_alg_values_supported: stringList,
    claims_supported: stringList,
    acr_values_supported: stringList,
  },
} as const;

const email = { type: 'string', minLength: 3, maxLength: 254, pattern: EMAIL_PATTERN } as const;

const ceremonyStart = {
  type: 'object',
  required: ['challenge_id', 'options'],
  additionalProperties: false,
  properties: {
    challenge_id: { type: 'string' },
    // PublicKeyCredential{Creation,Request}OptionsJSON (WebAuthn §5.4, §5.5): public by design.
    options: { type: 'object', additionalProperties: true },
  },
} as const;

const ceremonyFinish = {
  type: 'object',
  required: ['challenge_id', 'response'],
  additionalProperties: false,
  properties: {
    challenge_id: { type: 'string', minLength: 1, maxLength: 64 },
    // The authenticator's answer as PublicKeyCredential.toJSON() gives it; checked field by field by the verifier.
    response: { type: 'object', maxProperties: 16 },
  },
} as const;

const passkeyInfo = {
  type: 'object',
  additionalProperties: false,
  required: ['credential_id', 'created_at', 'last_used_at', 'counter', 'backup_eligible', 'backed_up', 'transports'],
  properties: {
    credential_id: { type: 'string' },
    created_at: { type: 'integer' },
    last_used_at: { type: ['integer', 'null'] },
    counter: { type: 'integer' },
    backup_eligible: { type: 'boolean' },
    backed_up: { type: 'boolean' },
    transports: stringList,
  },
} as const;

function sendError(reply: FastifyReply, e: IssuerError): FastifyReply {
  if (e.retryAfterSec !== undefined) reply.header('retry-after', String(e.retryAfterSec));
  return reply.code(e.status).send({ error: { code: e.code, message: e.message } });
}

/** The request's parts a passkey ceremony's rate limit and audit record use. */
function callerOf(req: FastifyRequest): CeremonyCaller {
  return { requestId: String(req.id), ip: req.ip, userAgent: String(req.headers['user-agent'] ?? '') };
}

/** Builds the plugin (register it with `{ prefix: '/oidc' }`). */
export function issuerRoutes(issuer: BuiltinIssuer, devMailbox: DevMailbox | undefined): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    // The AWS endpoint claims JSON and form bodies as raw buffers for SigV4; this scope parses them,
    // and only them (anything else is 415).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, app.getDefaultJsonParser('error', 'error'));
    app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => {
      const out: Record<string, string> = {};
      for (const [k, v] of new URLSearchParams(body as string)) {
        // RFC 6749 §3.2: request parameters must not be repeated.
        if (k in out) return done(new IssuerError('invalid_request', `Parameter ${k.slice(0, 32)} is repeated.`), undefined);
        out[k] = v;
      }
      done(null, out);
    });

    app.setErrorHandler((err: Error & { code?: string; statusCode?: number; validation?: unknown }, req, reply) => {
      if (err instanceof IssuerError) return sendError(reply, err);
      if (err.validation) return sendError(reply, new IssuerError('invalid_request', err.message.slice(0, 200)));
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, new IssuerError('payload_too_large', 'The request body is too large.', 413));
      if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        return sendError(reply, new IssuerError('unsupported_media_type', 'Send application/json (or form-encoded to /token).', 415));
      }
      if (err.statusCode && err.statusCode < 500)
        return sendError(reply, new IssuerError('invalid_request', 'The request could not be parsed.', err.statusCode));
      req.log.error({ code: err.code, message: err.message }, 'identity request failed');
      return sendError(reply, new IssuerError('internal_error', 'An internal error occurred.', 500));
    });
    app.setNotFoundHandler((_req, reply) => sendError(reply, new IssuerError('not_found', 'No such identity endpoint.', 404)));

    app.get('/.well-known/openid-configuration', { schema: { response: { 200: discoverySchema, ...errorResponses } } }, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return issuer.discoveryDocument();
    });

    app.get(
      '/jwks.json',
      {
        schema: {
          response: {
            200: { type: 'object', additionalProperties: false, required: ['keys'], properties: { keys: { type: 'array', items: jwkSchema } } },
            ...errorResponses,
          },
        },
      },
      async (_req, reply) => {
        reply.header('cache-control', 'public, max-age=300');
        return issuer.jwks();
      },
    );

    app.post<{ Body: { email: string } }>(
      '/email/start',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: { type: 'object', required: ['email'], additionalProperties: false, properties: { email } },
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              required: ['status', 'expires_in'],
              properties: { status: { type: 'string', enum: ['sent'] }, expires_in: { type: 'integer' } },
            },
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const { expiresIn } = await issuer.startEmailLogin({ email: req.body.email, ip: req.ip });
        return { status: 'sent', expires_in: expiresIn };
      },
    );

    app.post<{ Body: { email: string; code: string } }>(
      '/email/verify',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['email', 'code'],
            additionalProperties: false,
            properties: { email, code: { type: 'string', pattern: '^[0-9]{6}$' } },
          },
          response: { 200: tokenResponse, ...errorResponses },
        },
      },
      async (req, reply) => {
        const tokens = await issuer.verifyEmailCode(req.body);
        reply.header('cache-control', 'no-store');
        return tokens;
      },
    );

    app.post<{ Body: { grant_type: string; refresh_token: string } }>(
      '/token',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['grant_type', 'refresh_token'],
            properties: { grant_type: { type: 'string', maxLength: 64 }, refresh_token: { type: 'string', maxLength: 512 } },
          },
          response: { 200: tokenResponse, ...errorResponses },
        },
      },
      async (req, reply) => {
        if (req.body.grant_type !== 'refresh_token') throw new IssuerError('unsupported_grant_type', 'Only grant_type=refresh_token is supported here.');
        const tokens = await issuer.refresh({ refreshToken: req.body.refresh_token });
        // RFC 6749 §5.1: token responses must not be cached.
        reply.header('cache-control', 'no-store');
        return tokens;
      },
    );

    const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store');
    type Finish = { Body: { challenge_id: string; response: Record<string, unknown> } };
    const start = { bodyLimit: BODY_LIMIT, schema: { response: { 200: ceremonyStart, ...errorResponses } } };

    app.post('/passkey/login/start', start, async (req, reply) => {
      noStore(reply);
      return issuer.startPasskeyLogin({ caller: callerOf(req) });
    });
    app.post<Finish>(
      '/passkey/login/finish',
      { bodyLimit: BODY_LIMIT, schema: { body: ceremonyFinish, response: { 200: tokenResponse, ...errorResponses } } },
      async (req, reply) => {
        noStore(reply);
        return issuer.finishPasskeyLogin({ challengeId: req.body.challenge_id, response: req.body.response, caller: callerOf(req) });
      },
    );
    app.post('/passkey/register/start', start, async (req, reply) => {
      noStore(reply);
      return issuer.startPasskeyRegistration({ authorization: req.headers.authorization, caller: callerOf(req) });
    });
    app.post<Finish>(
      '/passkey/register/finish',
      { bodyLimit: BODY_LIMIT, schema: { body: ceremonyFinish, response: { 200: passkeyInfo, ...errorResponses } } },
      async (req, reply) => {
        noStore(reply);
        return issuer.finishPasskeyRegistration({
          authorization: req.headers.authorization,
          challengeId: req.body.challenge_id,
          response: req.body.response,
          caller: callerOf(req),
        });
      },
    );
    app.post('/passkey/step-up/start', start, async (req, reply) => {
      noStore(reply);
      return issuer.startStepUp({ authorization: req.headers.authorization, caller: callerOf(req) });
    });
    app.post<Finish>(
      '/passkey/step-up/finish',
      { bodyLimit: BODY_LIMIT, schema: { body: ceremonyFinish, response: { 200: tokenResponse, ...errorResponses } } },
      async (req, reply) => {
        noStore(reply);
        return issuer.finishStepUp({
          authorization: req.headers.authorization,
          challengeId: req.body.challenge_id,
          response: req.body.response,
          caller: callerOf(req),
        });
      },
    );
    app.get(
      '/passkeys',
      {
        schema: {
          response: {
            200: { type: 'object', additionalProperties: false, required: ['passkeys'], properties: { passkeys: { type: 'array', items: passkeyInfo } } },
            ...errorResponses,
          },
        },
      },
      async (req, reply) => {
        noStore(reply);
        return { passkeys: await issuer.listPasskeys({ authorization: req.headers.authorization }) };
      },
    );
    app.delete<{ Params: { credential_id: string } }>(
      '/passkeys/:credential_id',
      {
        schema: {
          params: {
            type: 'object',
            required: ['credential_id'],
            properties: { credential_id: { type: 'string', minLength: 1, maxLength: 1400, pattern: '^[A-Za-z0-9_-]+$' } },
          },
          response: { 204: { type: 'null' }, ...errorResponses },
        },
      },
      async (req, reply) => {
        noStore(reply);
        await issuer.removePasskey({ authorization: req.headers.authorization, credentialId: req.params.credential_id, caller: callerOf(req) });
        return reply.code(204).send();
      },
    );

    if (devMailbox) {
      app.get<{ Querystring: { email: string } }>(
        '/dev/mailbox',
        {
          schema: {
            querystring: { type: 'object', required: ['email'], properties: { email } },
            response: {
              200: {
                type: 'object',
                additionalProperties: false,
                required: ['messages'],
                properties: {
                  messages: {
                    type: 'array',
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      properties: {
                        to: { type: 'string' },
                        subject: { type: 'string' },
                        text: { type: 'string' },
                        code: { type: 'string' },
                        sent_at: { type: 'integer' },
                      },
                    },
                  },
                },
              },
              ...errorResponses,
            },
          },
        },
        async (req, reply) => {
          reply.header('cache-control', 'no-store');
          const messages = devMailbox.read(BuiltinIssuer.normaliseEmail(req.query.email));
          return { messages: messages.map((m) => ({ to: m.to, subject: m.subject, text: m.text, code: m.code, sent_at: m.sentAt })) };
        },
      );
    }
  };
}
