/**
 * The signer's HTTP API (fastify; never listens by itself):
 *
 *   POST /v1/sign   { payload, address, shareB, shareACiphertext, token, keyId?, generation?, signingPolicy?, shareC?, contextSub? }
 *                   -> 200 { type, signedTransaction, hash } | { type, signature } | { type, authorization }
 *                   -> 4xx/5xx { error: { code, message } }  (codes: errors.ts)
 *   POST /v1/rotate { address, shareB, shareACiphertext, generation, keyId, token?, signingPolicy?, newSigningPolicy?, shareC?, newFactor? }
 *                   -> 200 { address, generation, shareACiphertext, shareB, proof, signingPolicySha256?, factor?, shareC? }  (rotateSplitKey.ts)
 *   POST /v1/activate { address, shareB, shareACiphertext, generation, keyId, token?, signingPolicy? }
 *                   -> 200 { address, generation }  (activateShares.ts: retires older generations)
 *   POST /v1/evaluate { payload, signingPolicy, token? }
 *                   -> 200 { decision, statement?, message }  (the owner's policy's decision, nothing signed; splitSigningPolicy.ts)
 *   POST /v1/export { address, shareB, shareACiphertext, publicKey, keyId?, generation?, signingPolicy?, token? }
 *                   -> 200 { address, enc, ciphertext }  (the key HPKE-sealed to publicKey, exportSplitKey.ts)
 *   GET  /health    -> { status: "ok" }
 *
 * The token may come in the body or as `Authorization: Bearer`. Request and
 * response schemas are closed (no additional properties), so nothing but the
 * signed result can leave; every share route takes `shareC`, the owner's
 * device share of a three-share wallet (deviceShare.ts), and `contextSub`,
 * the wallet's share A context sub when the token's login is another linked
 * login of the owner (shareContext.ts); request bodies are never logged, and the logger
 * redacts the secret-bearing fields should one ever be passed to it.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { asSignerPayload, SignerError } from './errors.js';
import { readPayload } from '../eth/payload.js';
import { signWithSplitKey, type SignerDeps } from './signWithSplitKey.js';
import { rotateSplitKey } from './rotateSplitKey.js';
import { activateShares } from './activateShares.js';
import { exportSplitKey } from './exportSplitKey.js';
import { MAX_GENERATION } from './shareContext.js';
import { DEVICE_FACTOR, type ShareFactor } from './deviceShare.js';
import { previewSplitPolicy } from './splitSigningPolicy.js';
import { SIGNING_POLICY_LIMITS } from '../signing-policy/document.js';

/** pino redact paths for the signer's logger. */
export const SIGNER_LOG_REDACT = ['req.headers.authorization', '*.token', '*.shareB', '*.shareC', '*.shareACiphertext', '*.authorization'];

const hex = { type: 'string', pattern: '^0x[0-9a-fA-F]*$' } as const;
const BASE64 = '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$';

/** A signing policy text; parseSigningPolicy checks the rest (its limit counts UTF-16 units, as maxLength does). */
const policyText = { type: 'string', minLength: 1, maxLength: SIGNING_POLICY_LIMITS.documentLength } as const;

const signBody = {
  type: 'object',
  additionalProperties: false,
  required: ['payload', 'address', 'shareB', 'shareACiphertext'],
  properties: {
    payload: { type: 'object' },
    address: { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' },
    shareB: { type: 'string', pattern: BASE64, minLength: 4, maxLength: 64 },
    shareACiphertext: { type: 'string', pattern: BASE64, minLength: 4, maxLength: 8192 },
    token: { type: 'string', minLength: 1, maxLength: 16384 },
    keyId: { type: 'string', minLength: 1, maxLength: 2048 },
    generation: { type: 'integer', minimum: 0, maximum: MAX_GENERATION },
    signingPolicy: policyText,
    shareC: { type: 'string', pattern: BASE64, minLength: 44, maxLength: 44 },
    contextSub: { type: 'string', minLength: 1, maxLength: 255 },
  },
} as const;

const evaluateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['payload', 'signingPolicy'],
  properties: { payload: { type: 'object' }, signingPolicy: policyText, token: signBody.properties.token },
} as const;

const evaluateResponse = {
  type: 'object',
  additionalProperties: false,
  required: ['decision', 'message'],
  properties: {
    decision: { type: 'string', enum: ['allow', 'deny', 'pending'] },
    statement: { type: 'string' },
    message: { type: 'string' },
    mfaRequired: { type: 'boolean' },
  },
} as const;

const rotateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'shareB', 'shareACiphertext', 'generation', 'keyId'],
  properties: {
    address: signBody.properties.address,
    shareB: signBody.properties.shareB,
    shareACiphertext: signBody.properties.shareACiphertext,
    generation: { type: 'integer', minimum: 0, maximum: MAX_GENERATION - 1 },
    keyId: signBody.properties.keyId,
    token: signBody.properties.token,
    signingPolicy: policyText,
    newSigningPolicy: { anyOf: [policyText, { type: 'null' }] },
    shareC: signBody.properties.shareC,
    contextSub: signBody.properties.contextSub,
    newFactor: { anyOf: [{ type: 'string', enum: [DEVICE_FACTOR] }, { type: 'null' }] },
  },
} as const;

const { newSigningPolicy: _notForActivate, newFactor: _noFactorChange, ...activateProperties } = rotateBody.properties;
const activateBody = {
  ...rotateBody,
  properties: { ...activateProperties, generation: signBody.properties.generation },
} as const;

const activateResponse = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'generation'],
  properties: { address: { type: 'string' }, generation: { type: 'integer' } },
} as const;

const rotateResponse = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'generation', 'shareACiphertext', 'shareB', 'proof'],
  properties: {
    address: { type: 'string' },
    generation: { type: 'integer' },
    shareACiphertext: { type: 'string' },
    shareB: { type: 'string' },
    proof: hex,
    signingPolicySha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    factor: { type: 'string', enum: [DEVICE_FACTOR] },
    shareC: { type: 'string' },
  },
} as const;

const exportBody = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'shareB', 'shareACiphertext', 'publicKey'],
  properties: {
    address: signBody.properties.address,
    shareB: signBody.properties.shareB,
    shareACiphertext: signBody.properties.shareACiphertext,
    publicKey: { type: 'string', pattern: BASE64, minLength: 88, maxLength: 88 },
    keyId: signBody.properties.keyId,
    generation: signBody.properties.generation,
    token: signBody.properties.token,
    signingPolicy: policyText,
    shareC: signBody.properties.shareC,
    contextSub: signBody.properties.contextSub,
  },
} as const;

const exportResponse = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'enc', 'ciphertext'],
  properties: { address: { type: 'string' }, enc: { type: 'string' }, ciphertext: { type: 'string' } },
} as const;

const signResponse = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string', enum: ['transaction', 'message', 'typedData', 'authorization'] },
    signedTransaction: hex,
    hash: hex,
    signature: hex,
    authorization: {
      type: 'object',
      additionalProperties: false,
      required: ['address', 'chainId', 'nonce', 'r', 's', 'yParity'],
      properties: { address: hex, chainId: { type: 'integer' }, nonce: { type: 'integer' }, r: hex, s: hex, yParity: { type: 'integer' } },
    },
  },
} as const;

const errorResponse = {
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

interface SignBody {
  payload: unknown;
  address: string;
  shareB: string;
  shareACiphertext: string;
  token?: string;
  keyId?: string;
  generation?: number;
  signingPolicy?: string;
  shareC?: string;
  contextSub?: string;
}

interface ExportBody {
  address: string;
  shareB: string;
  shareACiphertext: string;
  publicKey: string;
  keyId?: string;
  generation?: number;
  token?: string;
  signingPolicy?: string;
  shareC?: string;
  contextSub?: string;
}

interface RotateBody {
  address: string;
  shareB: string;
  shareACiphertext: string;
  generation: number;
  keyId: string;
  token?: string;
  signingPolicy?: string;
  newSigningPolicy?: string | null;
  shareC?: string;
  contextSub?: string;
  newFactor?: ShareFactor | null;
}

interface EvaluateBody {
  payload: unknown;
  signingPolicy: string;
  token?: string;
}

/** The owner's token from Authorization: Bearer or the body (not both, unless equal). */
function tokenOf(header: string | undefined, inBody: string | undefined): string {
  const bearer = typeof header === 'string' && /^Bearer [^\s]+$/.test(header) ? header.slice(7) : undefined;
  if (header !== undefined && bearer === undefined) throw new SignerError('bad_request', 'Authorization must be "Bearer <token>".');
  if (bearer !== undefined && inBody !== undefined && bearer !== inBody)
    throw new SignerError('bad_request', 'The token in the body and in Authorization differ.');
  const token = bearer ?? inBody;
  if (token === undefined) throw new SignerError('invalid_token', 'A token is required (body "token" or Authorization: Bearer).');
  return token;
}

/** What every share route's body has. */
interface SharesBody {
  address: string;
  shareB: string;
  shareACiphertext: string;
  keyId?: string;
  token?: string;
  signingPolicy?: string;
  shareC?: string;
  contextSub?: string;
}

/**
 * A share route's shares, owner token and policy text, decoded. Share B is the
 * decoded buffer itself (no copy), so the callee's wipe reaches the memory it
 * was decoded into.
 */
function sharesOf(body: SharesBody, authorization: string | undefined) {
  // The token first: a malformed header is refused before share B is decoded into memory nobody wipes.
  const token = tokenOf(authorization, body.token);
  return {
    address: body.address,
    shareB: Buffer.from(body.shareB, 'base64'),
    ...(body.shareC !== undefined ? { shareC: Buffer.from(body.shareC, 'base64') } : {}),
    shareACiphertext: new Uint8Array(Buffer.from(body.shareACiphertext, 'base64')),
    keyId: body.keyId,
    token,
    signingPolicy: body.signingPolicy,
    contextSub: body.contextSub,
  };
}

/** Builds the signer's app. `corsOrigins`: exact origins (the wallet frame's) whose pages may call /v1/sign; no other origin gets CORS headers. */
export function buildSignerApp(deps: SignerDeps & { logger: Logger; corsOrigins?: readonly string[]; exportEnabled?: boolean }): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger) => logger,
    trustProxy: false,
    return503OnClosing: true,
    bodyLimit: 512 * 1024,
    // Refuse, never silently drop or coerce: an unknown field or a number for a string is a bad request.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
  });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number; validation?: unknown }, req, reply) => {
    if (err instanceof SignerError) {
      if (err.status >= 500) req.log.warn({ reqId: req.id, code: err.code }, 'sign request failed');
      return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
    }
    if (err.validation) {
      // ajv's message names the field and the rule broken, never the value.
      return reply.code(400).send({ error: { code: 'bad_request', message: `Invalid request: ${err.message.slice(0, 200)}` } });
    }
    if (err.statusCode && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: { code: 'bad_request', message: 'The request could not be parsed (JSON body expected).' } });
    }
    req.log.error({ reqId: req.id, errorName: err.name, code: err.code }, 'sign request failed unexpectedly');
    return reply.code(500).send({ error: { code: 'internal_error', message: 'An internal error occurred.' } });
  });

  // CORS for the wallet frame only (docs/frame.md): an exact, listed Origin is echoed; anything else gets no CORS header, so the browser refuses.
  const corsOrigins = new Set(deps.corsOrigins ?? []);
  // A callback hook, not an async one: no promise per request on the signing path.
  app.addHook('onRequest', (req, reply, done) => {
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !corsOrigins.has(origin)) return done();
    reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
    if (req.method === 'OPTIONS' && ['/v1/sign', '/v1/rotate', '/v1/activate', '/v1/evaluate', '/v1/export'].includes(req.url)) {
      reply
        .code(204)
        .header('access-control-allow-methods', 'POST')
        .header('access-control-allow-headers', 'authorization, content-type')
        .header('access-control-max-age', '600')
        .send();
      return;
    }
    done();
  });

  app.get('/health', async () => ({ status: 'ok' }));

  app.post<{ Body: SignBody }>(
    '/v1/sign',
    { schema: { body: signBody, response: { 200: signResponse, '4xx': errorResponse, '5xx': errorResponse } } },
    async (req) => {
      const body = req.body;
      const shares = sharesOf(body, req.headers.authorization);
      // Shape and bounds only: hashing waits until signWithSplitKey has verified the token.
      const payload = asSignerPayload(() => readPayload(body.payload));
      return signWithSplitKey(deps, { ...shares, payload, generation: body.generation });
    },
  );

  app.post<{ Body: RotateBody }>(
    '/v1/rotate',
    { schema: { body: rotateBody, response: { 200: rotateResponse, '4xx': errorResponse, '5xx': errorResponse } } },
    async (req) => {
      const body = req.body;
      return rotateSplitKey(deps, {
        ...sharesOf(body, req.headers.authorization),
        keyId: body.keyId,
        generation: body.generation,
        newSigningPolicy: body.newSigningPolicy,
        newFactor: body.newFactor,
      });
    },
  );

  app.post<{ Body: RotateBody }>(
    '/v1/activate',
    { schema: { body: activateBody, response: { 200: activateResponse, '4xx': errorResponse, '5xx': errorResponse } } },
    async (req) => {
      const body = req.body;
      return activateShares(deps, { ...sharesOf(body, req.headers.authorization), generation: body.generation });
    },
  );

  app.post<{ Body: EvaluateBody }>(
    '/v1/evaluate',
    { schema: { body: evaluateBody, response: { 200: evaluateResponse, '4xx': errorResponse, '5xx': errorResponse } } },
    async (req) => {
      const body = req.body;
      const token = tokenOf(req.headers.authorization, body.token);
      const payload = asSignerPayload(() => readPayload(body.payload));
      return previewSplitPolicy(deps.verifier, { token, signingPolicy: body.signingPolicy, payload });
    },
  );

  app.post<{ Body: ExportBody }>(
    '/v1/export',
    { schema: { body: exportBody, response: { 200: exportResponse, '4xx': errorResponse, '5xx': errorResponse } } },
    async (req) => {
      const body = req.body;
      return exportSplitKey(
        { ...deps, exportEnabled: deps.exportEnabled ?? true },
        { ...sharesOf(body, req.headers.authorization), publicKey: new Uint8Array(Buffer.from(body.publicKey, 'base64')), generation: body.generation },
      );
    },
  );
  return app;
}
