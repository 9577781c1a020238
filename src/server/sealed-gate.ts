/**
 * The sealed gate (SYMBOLON_ROOT=shamir, docs/root-of-trust.md "The Shamir
 * root"). The process listens at once, but sealed: it holds no root, no store
 * key and no open store, and answers every request with a "sealed" error in
 * the protocol's own shape —
 *
 *  - KMS (AWS JSON 1.1, `X-Amz-Target`): 503 `DependencyTimeoutException`
 *    ("You can retry the request", declared by Sign, Encrypt, Decrypt,
 *    CreateKey…; 503 makes SDKs back off and retry). `KMSInvalidStateException`
 *    is about a key's state and is 400, which SDKs treat as final;
 *  - IAM and STS (query protocol): AWS's common `ServiceUnavailable` (503) in
 *    the service's XML error;
 *  - the wallet API and everything else: 503 `{ "error": { "code": "sealed" } }`;
 *  - `GET /health`: 503 `{ "status": "sealed", … }`, so a load balancer takes
 *    a sealed process out of rotation.
 *
 * `POST /operator/unseal` `{ "share": "…" }` takes one share at a time
 * (src/root/shamir-root.ts `UnsealProgress`) and answers "k of M"; the M-th
 * rebuilds the root, which the role's normal start-up (`open`) uses to unwrap
 * the store key and is then wiped. From then on every request goes to the
 * role's app through the same HTTP server. `POST /operator/seal` (SigV4,
 * service `kms`, by the account root or a principal allowed `symbolon:Seal`)
 * closes the role's app, store and store key and returns to sealed.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.js';
import { AwsError } from '../aws/errors.js';
import type { Authenticator } from '../aws/authenticator.js';
import type { Authorizer } from '../kms/context.js';
import type { AuditSink } from '../audit/event.js';
import { openStore } from '../storage/database.js';
import { getMeta } from '../storage/meta.repository.js';
import { RootKeyError, type RootKey } from '../root/root-of-trust.js';
import { decodeStoreKeyRecord, STORE_KEY_META } from '../root/store-key.js';
import { decodeShamirRecord, SHAMIR_META, ShamirRootKey, UnsealError, UnsealProgress, type ShamirRecord } from '../root/shamir-root.js';
import { wipe } from '../crypto/bytes.js';
import { sendIamError } from '../iam/service.js';
import { sendStsError } from '../sts/sts-service.js';
import { FORM, MAX_BODY_BYTES, sendAwsError, signedRequest } from './aws-protocol.js';
import type { ServerFactory } from './app.js';
import { join } from 'node:path';

export const SEALED_MESSAGE = 'Symbolon is sealed: operators must unseal it (symbolon operator unseal) before it serves.';

/** What a role gives the gate once unsealed: its app (served through the gate's server) and, for the custodian roles, what authenticates a seal. */
export interface UnsealedServer {
  app: FastifyInstance;
  close(): Promise<void>;
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  audit?: AuditSink;
}

export interface SealedGateOptions<S extends UnsealedServer> {
  config: ServerConfig;
  logger: Logger;
  /** The role's normal start-up with the rebuilt root (closed by it once the store key is unwrapped), served through `serverFactory`. */
  open(root: RootKey, serverFactory: ServerFactory): Promise<S>;
  /** After each unseal (role all: start the signer once). Errors are logged. */
  onUnsealed?(server: S, address: string): Promise<void>;
}

export interface SealedGate<S extends UnsealedServer> {
  /** The listening address, e.g. http://127.0.0.1:8080. */
  address: string;
  /** The role's server while unsealed. */
  current(): S | undefined;
  /** Stops listening and closes the role's server if unsealed. */
  close(): Promise<void>;
}

/**
 * Reads what the store records about its Shamir root (migrating it first, as
 * every start does), and closes the store again: a sealed process keeps none open.
 * @throws {RootKeyError} when the store has no Shamir root (run init) or is wrapped by another root.
 */
export async function readShamirRecord(config: ServerConfig, logger: Logger): Promise<ShamirRecord> {
  const store = await openStore({
    databaseUrl: config.databaseUrl,
    sqliteFile: join(config.dataDir, 'symbolon.db'),
    timeoutMs: config.dbTimeoutMs,
    logger,
  });
  try {
    const keyRow = await getMeta(store.db, STORE_KEY_META);
    const row = await getMeta(store.db, SHAMIR_META);
    if (keyRow) {
      const kind = decodeStoreKeyRecord(keyRow).root;
      if (kind !== 'shamir')
        throw new RootKeyError(
          `this store's store key is wrapped by the ${kind} root, but SYMBOLON_ROOT is shamir. Refusing to start; configure the ${kind} root.`,
        );
    }
    if (!keyRow || !row)
      throw new RootKeyError('SYMBOLON_ROOT=shamir: this store has no Shamir root yet; run symbolon operator init --shares N --threshold M first');
    return decodeShamirRecord(row);
  } finally {
    await store.close();
  }
}

/**
 * Starts listening sealed.
 * @throws {RootKeyError} when the store has no Shamir root; {Error} when the port cannot be bound.
 */
export async function startSealedGate<S extends UnsealedServer>(options: SealedGateOptions<S>): Promise<SealedGate<S>> {
  const { config, logger } = options;
  const record = await readShamirRecord(config, logger);
  const progress = new UnsealProgress(record);
  let serving: S | undefined;
  let busy = false;
  let gateHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let appHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    const operator = req.url?.startsWith('/operator/') ?? false;
    (serving && appHandler && !operator ? appHandler : gateHandler!)(req, res);
  });
  const serverFactory: ServerFactory = (handler) => {
    appHandler = handler;
    return server;
  };
  let address = '';

  const gate = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (l) => l,
    trustProxy: false,
    bodyLimit: MAX_BODY_BYTES,
    serverFactory: (handler) => {
      gateHandler = handler;
      return server;
    },
  });
  gate.removeAllContentTypeParsers();
  gate.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // Never the body (it may hold a share) in a log line or an answer.
  gate.setErrorHandler((err: { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: { code: 'bad_request', message: 'The request could not be processed.' } });
  });

  const state = () => ({ sealed: serving === undefined, progress: serving ? record.threshold : progress.received, threshold: record.threshold });

  gate.get('/health', async (_req, reply) => reply.code(503).send({ status: 'sealed', ...state() }));
  gate.get('/operator/status', async () => state());

  gate.post('/operator/unseal', async (req, reply) => {
    if (serving) return reply.code(409).send({ error: { code: 'not_sealed', message: 'The server is not sealed.' }, ...state() });
    if (busy) return reply.code(409).send({ error: { code: 'unseal_in_progress', message: 'An unseal is completing; retry shortly.' }, ...state() });
    const share = shareFrom(req.body);
    if (share === undefined)
      return reply.code(400).send({ error: { code: 'bad_request', message: 'The body must be JSON { "share": "symbolon-unseal-share-v1-…" }.' }, ...state() });
    let key: Uint8Array | undefined;
    busy = true;
    try {
      try {
        key = await progress.add(share);
      } catch (e) {
        if (!(e instanceof UnsealError)) throw e;
        logger.warn({ code: e.code, progress: progress.received, threshold: record.threshold }, 'unseal share refused');
        return reply.code(400).send({ error: { code: e.code, message: e.message }, ...state() });
      }
      if (!key) {
        logger.info({ progress: progress.received, threshold: record.threshold }, `unseal progress: ${progress.received} of ${record.threshold} shares`);
        return reply.send(state());
      }
      const root = new ShamirRootKey(key);
      wipe(key);
      let opened: S | undefined;
      try {
        opened = await options.open(root, serverFactory);
        await opened.app.ready();
      } catch (e) {
        await opened?.close().catch(() => undefined);
        await root.close();
        const wrong = e instanceof RootKeyError && e.message.startsWith('the shares do not open this store');
        logger.error({ err: { name: (e as Error)?.name, message: (e as Error)?.message } }, 'unseal failed; still sealed');
        if (wrong) return reply.code(400).send({ error: { code: 'wrong_shares', message: `${e.message}; progress was reset` }, ...state() });
        return reply.code(500).send({
          error: { code: 'unseal_failed', message: 'The shares were right but start-up failed (see the server log); still sealed, progress reset.' },
          ...state(),
        });
      }
      serving = opened;
      opened.audit?.record(operatorEvent(req, 'Unseal', null, null));
      logger.info({ threshold: record.threshold }, 'unsealed: serving');
      if (options.onUnsealed) await options.onUnsealed(opened, address).catch((e) => logger.error({ message: (e as Error)?.message }, 'after unseal'));
      return reply.send(state());
    } finally {
      wipe(key);
      // The share's bytes as received (its text passed through a JSON string, which cannot be wiped).
      if (Buffer.isBuffer(req.body)) req.body.fill(0);
      busy = false;
    }
  });

  gate.post('/operator/seal', async (req, reply) => {
    if (!serving) return reply.code(409).send({ error: { code: 'already_sealed', message: 'The server is already sealed.' }, ...state() });
    const current = serving;
    if (!current.authenticator || !current.authorizer)
      return reply.code(403).send({
        error: { code: 'seal_unavailable', message: 'This role has no IAM to authenticate a seal; stop the process instead (it restarts sealed).' },
      });
    const requestId = randomUUID();
    reply.header('x-amzn-requestid', requestId);
    const body = Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array(0);
    const info = { requestId, sourceIp: req.ip, userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256), now: Date.now() };
    try {
      const caller = await current.authenticator.authenticate(signedRequest(req, body), 'kms', info.now, String(req.headers.host ?? ''));
      try {
        if (!/^arn:aws:iam::\d{12}:root$/.test(caller.arn))
          await current.authorizer.authorize({ caller, info, action: 'symbolon:Seal', key: undefined, conditions: {} });
      } catch (e) {
        current.audit?.record({
          ...operatorEvent(req, 'Seal', caller.arn, caller.accessKeyId),
          requestId,
          outcome: 'denied',
          errorCode: (e as AwsError).type ?? null,
        });
        throw e;
      }
      if (serving !== current) return reply.code(409).send({ error: { code: 'already_sealed', message: 'The server is already sealed.' }, ...state() });
      await current.audit?.recordDurable({ ...operatorEvent(req, 'Seal', caller.arn, caller.accessKeyId), requestId });
      serving = undefined; // from here on every request is answered sealed
      await current.close();
      logger.warn({ principal: caller.arn }, 'sealed by an operator');
      return reply.send(state());
    } catch (e) {
      if (e instanceof AwsError) return sendAwsError(reply, e);
      logger.error({ message: (e as Error)?.message }, 'seal failed');
      return sendAwsError(reply, new AwsError('KMSInternalException', 'An internal error occurred.', 500));
    }
  });

  // Everything else while sealed: the protocol's own "sealed" error.
  gate.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/operator/')) return reply.code(404).send({ error: { code: 'not_found', message: 'No such operator endpoint.' } });
    return sendSealed(req, reply);
  });

  await gate.ready();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.host, port: config.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  if (a && typeof a === 'object') address = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  logger.info(
    { threshold: record.threshold, shares: record.shares },
    `sealed: ${record.threshold} of ${record.shares} shares unseal it (symbolon operator unseal)`,
  );
  return {
    address,
    current: () => serving,
    async close() {
      const s = serving;
      serving = undefined;
      progress.reset();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      try {
        await s?.close();
      } finally {
        await gate.close();
      }
    },
  };
}

function shareFrom(body: unknown): string | undefined {
  if (!Buffer.isBuffer(body) || body.length > 4096) return undefined;
  try {
    const v = JSON.parse(body.toString('utf8')) as { share?: unknown };
    return typeof v?.share === 'string' ? v.share : undefined;
  } catch {
    return undefined;
  }
}

function operatorEvent(req: FastifyRequest, operation: string, principalArn: string | null, accessKeyId: string | null) {
  return {
    time: Date.now(),
    requestId: randomUUID(),
    service: 'symbolon',
    operation,
    principalArn,
    principalTags: {},
    accessKeyId,
    sourceIp: req.ip,
    userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
    keyArn: null,
    encryptionContext: null,
    signingAlgorithm: null,
    outcome: 'allowed' as const,
    errorCode: null,
  };
}

/** The "sealed" answer in the shape of the protocol the request speaks. */
function sendSealed(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const aws = req.method === 'POST' && (req.url === '/' || req.url.startsWith('/?'));
  if (aws) {
    const requestId = randomUUID();
    reply.header('x-amzn-requestid', requestId);
    if (req.headers['x-amz-target'] === undefined && String(req.headers['content-type'] ?? '').startsWith(FORM)) {
      const err = new AwsError('ServiceUnavailable', SEALED_MESSAGE, 503);
      const scoped = /\/[^/]*\/[^/]*\/([a-z0-9-]+)\/aws4_request/.exec(String(req.headers.authorization ?? ''))?.[1];
      return scoped === 'iam' ? sendIamError(reply, err, requestId) : sendStsError(reply, err, requestId);
    }
    return sendAwsError(reply, new AwsError('DependencyTimeoutException', SEALED_MESSAGE, 503));
  }
  return reply.code(503).send({ error: { code: 'sealed', message: SEALED_MESSAGE } });
}
