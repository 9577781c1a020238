/**
 * The wallet API: JSON over HTTP under /v1, authenticated by the user's OIDC
 * access token (RFC 6750 bearer). Schema first (fastify): bodies are validated
 * against schemas.ts before a handler runs — strictly, no coercion, unknown
 * fields refused — and responses are serialized through their schemas, so
 * only named fields leave. Every error is `{ "error": { "code", "message" } }`
 * from errors.ts. The OpenAPI document at /v1/openapi.json is generated from
 * the same schemas.
 *
 * Order of checks on an authenticated route: token (onRequest, before the body
 * is read) → body schema → handler (first sight creates the user, then the
 * field checks schemas cannot express) → store. A refused request changes
 * nothing.
 */
import { signingPolicySha256 } from '../signing-policy/signingPolicySha256.js';
import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import type { Logger } from 'pino';
import { isStoreUnavailable, type Store } from '../storage/database.js';
import { findWalletByUser } from '../storage/wallets.repository.js';
import { authenticate, type AccessTokenVerifier, type VerifiedIdentity } from './auth.js';
import { invalidRequest, WalletError } from './errors.js';
import { base64Bytes, checksumAddress } from './fields.js';
import type { MasterKeyCustodian } from './master-keys.js';
import { openApiDocument, RouteRecorder, type RouteSchema } from './openapi.js';
import {
  activityBody,
  activityEntryResponse,
  activityQuery,
  activityResponse,
  createWalletBody,
  disconnectResponse,
  rotateSharesBody,
  ENCRYPTED_DATA_KEY_BYTES,
  ENCRYPTED_PRIVATE_KEY_BYTES,
  errorResponses,
  meResponse,
  SHARE_A_CIPHERTEXT_BYTES,
  SHARE_B_BYTES,
  WRAPPED_SHARE_C_BYTES,
  PASSKEY_WRAPPED_SHARE_C_BYTES,
  siteBody,
  siteQuery,
  siteResponse,
  sitesResponse,
  walletResponse,
} from './schemas.js';
import { insertActivity, listActivity, type ActivityKind } from '../storage/wallet-activity.repository.js';
import { deleteSite, listSites, upsertSite } from '../storage/wallet-sites.repository.js';
import { createUserDirectory } from './users.js';
import { activityView, meView, siteView, walletView } from './views.js';
import { commitShareRotation, createEnvelopeWallet, createSplitWallet, getWalletOfUser, type ShareSealer } from './wallets.js';
import { AUDIT_NOT_DURABLE, recordRequestEvent, type AuditEvent, type AuditSink } from '../audit/event.js';
import type { Hex } from 'viem';
import type { DeviceShareRow } from '../storage/wallets.repository.js';

/**
 * A rotation commit's device share: with `factor: "device"` both wrapped
 * copies of share C are required, without it neither is taken.
 * @throws {WalletError} invalid_request naming the field.
 */
function deviceShareOf(body: {
  factor?: 'device';
  shareCWrapped?: string;
  shareCRecoveryWrapped?: string;
  shareCPasskeyWrapped?: string;
}): DeviceShareRow | undefined {
  if (body.factor === undefined) {
    if (body.shareCWrapped !== undefined || body.shareCRecoveryWrapped !== undefined || body.shareCPasskeyWrapped !== undefined)
      throw invalidRequest('body.shareCWrapped, body.shareCRecoveryWrapped and body.shareCPasskeyWrapped go only with body.factor "device".');
    return undefined;
  }
  if (body.shareCWrapped === undefined || body.shareCRecoveryWrapped === undefined)
    throw invalidRequest('body.factor "device" needs body.shareCWrapped and body.shareCRecoveryWrapped: without them the owner could not sign.');
  return {
    factor: body.factor,
    wrapped: base64Bytes(body.shareCWrapped, 'shareCWrapped', WRAPPED_SHARE_C_BYTES),
    recoveryWrapped: base64Bytes(body.shareCRecoveryWrapped, 'shareCRecoveryWrapped', WRAPPED_SHARE_C_BYTES),
    ...(body.shareCPasskeyWrapped !== undefined
      ? { passkeyWrapped: base64Bytes(body.shareCPasskeyWrapped, 'shareCPasskeyWrapped', PASSKEY_WRAPPED_SHARE_C_BYTES) }
      : {}),
  };
}

export interface WalletApiOptions {
  store: Store;
  verifier: AccessTokenVerifier;
  masterKeys: MasterKeyCustodian;
  logger: Logger;
  clock?: () => number;
  /** Where the wallet service's own events go (share rotations); unset: logged only. */
  audit?: AuditSink | undefined;
  /**
   * The provider's key that seals split wallets' share B (the wallet role's;
   * in the embedded default, this server's root of trust). Without it, split is not offered.
   */
  shareSealer?: ShareSealer;
}

/** Sites one user can have connected at once. */
export const MAX_SITES = 100;

/** Largest request body accepted (an envelope create is under 10 KiB). */
export const WALLET_BODY_LIMIT = 64 * 1024;

interface CreateWalletRequestBody {
  custodyMode: 'envelope' | 'split' | 'kms';
  address: string;
  encryptedPrivateKey?: string;
  encryptedDataKey?: string;
  shareACiphertext?: string;
  shareB?: string;
  idempotencyKey?: string;
}

/** The body fields each custody mode takes besides custodyMode, address and idempotencyKey. */
const MODE_FIELDS = {
  envelope: ['encryptedPrivateKey', 'encryptedDataKey'],
  split: ['shareACiphertext', 'shareB'],
  kms: [],
} as const;

/** Refuses a field that belongs to another custody mode, naming it (never its value). */
function refuseOtherModesFields(body: CreateWalletRequestBody): void {
  const own: readonly string[] = MODE_FIELDS[body.custodyMode];
  for (const field of [...MODE_FIELDS.envelope, ...MODE_FIELDS.split]) {
    if (body[field] !== undefined && !own.includes(field))
      throw invalidRequest(`body has an unknown field ${JSON.stringify(field)} for custody mode ${body.custodyMode}.`);
  }
}

/** A route schema with the OpenAPI fields fastify ignores and openapi.ts reads. */
function routeSchema(s: RouteSchema): FastifySchema {
  return s as FastifySchema;
}

/** RFC 6750 §3: the challenge a 401 carries. */
function challenge(code: string): string {
  return code === 'unauthorized' ? 'Bearer realm="symbolon"' : 'Bearer realm="symbolon", error="invalid_token"';
}

function sendError(reply: FastifyReply, err: WalletError): FastifyReply {
  if (err.status === 401) reply.header('www-authenticate', challenge(err.code));
  return reply.code(err.status).send(err.toBody());
}

/** Ajv's first complaint as a sentence naming the field (never its value). */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  if (!first) return 'The request body is not valid.';
  const where = `${err.validationContext ?? 'body'}${first.instancePath.replace(/\//g, '.')}`;
  const params = first.params as Record<string, unknown>;
  if (first.keyword === 'additionalProperties') return `${where} has an unknown field ${JSON.stringify(String(params.additionalProperty).slice(0, 64))}.`;
  if (first.keyword === 'required') return `${where} is missing the field ${JSON.stringify(String(params.missingProperty).slice(0, 64))}.`;
  if (first.keyword === 'pattern') return `${where} has the wrong format.`;
  return `${where} ${first.message ?? 'is not valid'}.`;
}

/** Registers the wallet API; use with `app.register(walletApi, { prefix: '/v1', ... })`. */
export const walletApi: FastifyPluginAsync<WalletApiOptions> = async (app, options) => {
  const { store, verifier, masterKeys, logger, shareSealer } = options;
  const clock = options.clock ?? Date.now;
  const users = createUserDirectory({ store, masterKeys, logger, clock });
  const identities = new WeakMap<FastifyRequest, VerifiedIdentity>();
  const recorder = new RouteRecorder();
  app.addHook('onRoute', recorder.onRoute);

  // Strict validation: no type coercion, unknown fields refused rather than dropped, no defaults filled in.
  const ajv = new Ajv({
    allErrors: false,
    coerceTypes: false,
    removeAdditional: false,
    useDefaults: false,
    strict: true,
    strictTypes: false,
    strictRequired: false,
  });
  app.setValidatorCompiler(({ schema }) => ajv.compile(schema));

  // JSON only: any other content type is 415, whatever parsers the parent scope has.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: WALLET_BODY_LIMIT }, app.getDefaultJsonParser('error', 'error'));

  app.addHook('onSend', async (_req, reply) => {
    // Responses carry identities and ciphertexts: no shared cache may keep them.
    reply.header('cache-control', 'no-store');
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof WalletError) {
      if (err.status >= 500) req.log.warn({ code: err.code, cause: (err.cause as Error | undefined)?.name }, 'wallet api unavailable');
      return sendError(reply, err);
    }
    if (err.validation) return sendError(reply, invalidRequest(validationMessage(err)));
    if (isStoreUnavailable(err)) {
      req.log.warn({ code: err.code, url: req.routeOptions.url }, 'wallet api unavailable: the store is unavailable');
      return sendError(reply, new WalletError('store_unavailable', 'The wallet store is temporarily unavailable; retry the request.'));
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendError(reply, new WalletError('payload_too_large', `The request body is larger than ${WALLET_BODY_LIMIT} bytes.`));
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendError(reply, new WalletError('unsupported_media_type', 'Send the request body as application/json.'));
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      // Unparseable JSON, an empty JSON body, a bad Content-Length.
      return sendError(reply, invalidRequest('The request body is not valid JSON.'));
    }
    req.log.error({ name: err.name, code: err.code, message: String(err.message).slice(0, 200), url: req.routeOptions.url }, 'wallet api failed');
    return sendError(reply, new WalletError('internal_error', 'An internal error occurred.'));
  });

  app.setNotFoundHandler((_req, reply) => sendError(reply, new WalletError('not_found', 'No such endpoint of the wallet API.')));

  app.get(
    '/openapi.json',
    {
      schema: routeSchema({
        summary: 'This API described in OpenAPI 3.1',
        response: { 200: { type: 'object', additionalProperties: true, description: 'The OpenAPI document.' } },
      }),
    },
    async () => document,
  );

  // Authenticated routes: the token is checked before the body is even read.
  await app.register(async (authed: FastifyInstance) => {
    authed.addHook('onRequest', async (req) => {
      identities.set(req, await authenticate(verifier, req.headers.authorization));
    });
    const identityOf = (req: FastifyRequest): VerifiedIdentity => {
      const identity = identities.get(req);
      if (!identity) throw new Error('authenticated route without an identity');
      return identity;
    };

    authed.get(
      '/me',
      {
        schema: routeSchema({
          summary: 'The caller: created, with a master key in the custodian, on the first request of a new (issuer, sub)',
          security: ['bearer'],
          response: { 200: meResponse, ...errorResponses },
        }),
      },
      async (req) => {
        const user = await users.resolve(identityOf(req));
        return meView(user, await findWalletByUser(store.db, user.id));
      },
    );

    authed.post<{ Body: CreateWalletRequestBody }>(
      '/wallets',
      {
        bodyLimit: WALLET_BODY_LIMIT,
        schema: routeSchema({
          summary: "Create the caller's wallet (one per user)",
          description:
            '201 with the new wallet; 200 with the stored wallet when the same idempotencyKey and content were stored before; 409 wallet_exists otherwise.',
          security: ['bearer'],
          body: createWalletBody,
          response: { 200: walletResponse, 201: walletResponse, ...errorResponses },
        }),
      },
      async (req, reply) => {
        const body = req.body;
        if (body.custodyMode === 'kms' || (body.custodyMode === 'split' && !shareSealer)) {
          const offered = shareSealer ? 'envelope or split' : 'envelope';
          throw new WalletError('unsupported_custody_mode', `Custody mode ${body.custodyMode} is not offered by this server; use ${offered}.`);
        }
        refuseOtherModesFields(body);
        const address = checksumAddress(body.address, 'address');
        if (body.custodyMode === 'split' && shareSealer) {
          // The schema requires both for split; sizes and canonical base64 are checked here.
          const shareACiphertext = base64Bytes(body.shareACiphertext ?? '', 'shareACiphertext', SHARE_A_CIPHERTEXT_BYTES);
          const shareB = base64Bytes(body.shareB ?? '', 'shareB', { min: SHARE_B_BYTES, max: SHARE_B_BYTES });
          const user = await users.resolve(identityOf(req)).catch((e: unknown) => {
            shareB.fill(0);
            throw e;
          });
          const input = { custodyMode: 'split' as const, address, shareACiphertext, shareB, idempotencyKey: body.idempotencyKey };
          const { wallet, created } = await createSplitWallet({ store, clock, sealer: shareSealer }, user, input);
          if (created) logger.info({ userId: user.id, walletId: wallet.id, custodyMode: wallet.custodyMode }, 'wallet created');
          return reply.code(created ? 201 : 200).send(walletView(wallet, user, { secrets: false }));
        }
        // The schema requires both for envelope; the checks below are what it cannot say.
        const input = {
          custodyMode: 'envelope' as const,
          address,
          encryptedPrivateKey: base64Bytes(body.encryptedPrivateKey ?? '', 'encryptedPrivateKey', ENCRYPTED_PRIVATE_KEY_BYTES),
          encryptedDataKey: base64Bytes(body.encryptedDataKey ?? '', 'encryptedDataKey', ENCRYPTED_DATA_KEY_BYTES),
          idempotencyKey: body.idempotencyKey,
        };
        const user = await users.resolve(identityOf(req));
        const { wallet, created } = await createEnvelopeWallet({ store, clock }, user, input);
        if (created) logger.info({ userId: user.id, walletId: wallet.id, custodyMode: wallet.custodyMode }, 'wallet created');
        return reply.code(created ? 201 : 200).send(walletView(wallet, user, { secrets: false }));
      },
    );

    authed.get(
      '/wallets/me',
      {
        schema: routeSchema({
          summary: "The caller's wallet; for envelope mode its two ciphertexts, for split mode share A's ciphertext and share B (to the owner only)",
          security: ['bearer'],
          response: { 200: walletResponse, ...errorResponses },
        }),
      },
      async (req) => {
        const user = await users.resolve(identityOf(req));
        return walletView(await getWalletOfUser({ store }, user), user, { secrets: true, sealer: shareSealer });
      },
    );

    authed.post<{
      Body: {
        fromGeneration: number;
        shareACiphertext: string;
        shareB: string;
        proof: string;
        signingPolicy?: string;
        factor?: 'device';
        shareCWrapped?: string;
        shareCRecoveryWrapped?: string;
        shareCPasskeyWrapped?: string;
      };
    }>(
      '/wallets/me/shares',
      {
        bodyLimit: WALLET_BODY_LIMIT,
        schema: routeSchema({
          summary: "Commit a share rotation of the caller's split wallet (the new shares from the signer's POST /v1/rotate)",
          description:
            "Swaps share A's ciphertext, share B and the generation together, only if the wallet is still at fromGeneration (409 generation_conflict otherwise) and only if proof is the wallet key's signature over the new shares. Answers the wallet with its new shares.",
          security: ['bearer'],
          body: rotateSharesBody,
          response: { 200: walletResponse, ...errorResponses },
        }),
      },
      async (req) => {
        if (!shareSealer) throw new WalletError('unsupported_custody_mode', 'Custody mode split is not offered by this server.');
        const body = req.body;
        const shareACiphertext = base64Bytes(body.shareACiphertext, 'shareACiphertext', SHARE_A_CIPHERTEXT_BYTES);
        const deviceShare = deviceShareOf(body);
        const shareB = base64Bytes(body.shareB, 'shareB', { min: SHARE_B_BYTES, max: SHARE_B_BYTES });
        const user = await users.resolve(identityOf(req)).catch((e: unknown) => {
          shareB.fill(0);
          throw e;
        });
        const outcome = (ok: boolean, errorCode: string | null): AuditEvent => ({
          time: clock(),
          requestId: String(req.id),
          service: 'wallet',
          operation: 'RotateShares',
          principalArn: null,
          principalTags: { 'symbolon:wallet-user': user.id },
          accessKeyId: null,
          sourceIp: req.ip,
          userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
          keyArn: null,
          // The policy's hash, never its text: what the owner sealed share A with is the permission change to audit.
          encryptionContext: {
            fromGeneration: String(body.fromGeneration),
            ...(body.signingPolicy !== undefined ? { 'signing-policy-sha256': signingPolicySha256(body.signingPolicy) } : {}),
            ...(deviceShare ? { factor: deviceShare.factor } : {}),
          },
          signingAlgorithm: null,
          outcome: ok ? 'allowed' : 'denied',
          errorCode,
        });
        let wallet;
        try {
          wallet = await commitShareRotation({ store, sealer: shareSealer }, user, {
            fromGeneration: body.fromGeneration,
            shareACiphertext,
            shareB,
            proof: body.proof as Hex,
            signingPolicy: body.signingPolicy,
            deviceShare,
          });
        } catch (e) {
          if (e instanceof WalletError && e.status < 500) options.audit?.record(outcome(false, e.code));
          throw e;
        }
        if (options.audit && !(await recordRequestEvent(options.audit, outcome(true, null), true))) throw new WalletError('internal_error', AUDIT_NOT_DURABLE);
        logger.info({ userId: user.id, walletId: wallet.id, generation: wallet.shareGeneration }, 'wallet shares rotated');
        return walletView(wallet, user, { secrets: true, sealer: shareSealer });
      },
    );

    // The wallet's own pages (docs/frame.md): connected sites and recent activity, each user's own only.
    authed.get(
      '/me/sites',
      {
        schema: routeSchema({
          summary: 'The sites the caller connected in the frame',
          security: ['bearer'],
          response: { 200: sitesResponse, ...errorResponses },
        }),
      },
      async (req) => {
        const user = await users.resolve(identityOf(req));
        return { sites: (await listSites(store.db, user.id)).map(siteView) };
      },
    );

    authed.put<{ Body: { origin: string } }>(
      '/me/sites',
      {
        schema: routeSchema({
          summary: 'Connect a site (the user approved it in the frame)',
          description: `At most ${MAX_SITES} sites per user.`,
          security: ['bearer'],
          body: siteBody,
          response: { 200: siteResponse, ...errorResponses },
        }),
      },
      async (req) => {
        const user = await users.resolve(identityOf(req));
        const { origin } = req.body;
        const now = clock();
        const sites = await listSites(store.db, user.id);
        if (!sites.some((s) => s.origin === origin) && sites.length >= MAX_SITES)
          throw invalidRequest(`At most ${MAX_SITES} sites can be connected; disconnect one first.`);
        await store.db.transaction().execute(async (tx) => {
          await upsertSite(tx, user.id, origin, now);
          await insertActivity(tx, { id: randomUUID(), userId: user.id, at: now, kind: 'connect', site: origin, summary: 'Connected the site', txHash: null });
        });
        return siteView({ origin, connectedAt: now });
      },
    );

    authed.delete<{ Querystring: { origin: string } }>(
      '/me/sites',
      {
        schema: routeSchema({
          summary: 'Disconnect a site: the frame answers it nothing more until the user connects it again',
          security: ['bearer'],
          querystring: siteQuery,
          response: { 200: disconnectResponse, ...errorResponses },
        }),
      },
      async (req) => {
        const user = await users.resolve(identityOf(req));
        const { origin } = req.query;
        const now = clock();
        const deleted = await store.db.transaction().execute(async (tx) => {
          if (!(await deleteSite(tx, user.id, origin))) return false;
          await insertActivity(tx, {
            id: randomUUID(),
            userId: user.id,
            at: now,
            kind: 'disconnect',
            site: origin,
            summary: 'Disconnected the site',
            txHash: null,
          });
          return true;
        });
        if (!deleted) throw new WalletError('not_found', 'That site is not connected.');
        return { origin, disconnected: true };
      },
    );

    authed.get<{ Querystring: { limit?: string } }>(
      '/me/activity',
      {
        schema: routeSchema({
          summary: "The caller's recent activity in the frame, newest first",
          security: ['bearer'],
          querystring: activityQuery,
          response: { 200: activityResponse, ...errorResponses },
        }),
      },
      async (req) => {
        const user = await users.resolve(identityOf(req));
        return { events: (await listActivity(store.db, user.id, Number(req.query.limit ?? 20))).map(activityView) };
      },
    );

    authed.post<{ Body: { kind: Exclude<ActivityKind, 'connect' | 'disconnect'>; site: string; summary: string; txHash?: string } }>(
      '/me/activity',
      {
        schema: routeSchema({
          summary: 'Record what the user just approved in the frame (one line; never a signature or a message body)',
          security: ['bearer'],
          body: activityBody,
          response: { 201: activityEntryResponse, ...errorResponses },
        }),
      },
      async (req, reply) => {
        const { kind, site, summary, txHash } = req.body;
        if (txHash !== undefined && kind !== 'sign_transaction') throw invalidRequest('body.txHash is only for sign_transaction.');
        const user = await users.resolve(identityOf(req));
        const entry = { id: randomUUID(), userId: user.id, at: clock(), kind, site, summary, txHash: txHash ?? null };
        await insertActivity(store.db, entry);
        return reply.code(201).send(activityView(entry));
      },
    );
  });

  // Every route of this plugin is registered by now (the child above was awaited).
  const document = openApiDocument({
    title: 'Symbolon wallet API',
    version: '1',
    description: 'Users, and one wallet per user, of the Symbolon wallet store. See docs/wallet-api.md.',
    routes: recorder.routes,
  });
};
