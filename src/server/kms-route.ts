/**
 * One KMS request (AWS JSON 1.1, `X-Amz-Target: TrentService.<Operation>` or
 * Symbolon's own targets: `SymbolonApprovals.`, `SymbolonMonitoring.`,
 * `SymbolonRpc.` and `SymbolonSigning.<Operation>`), as a short pipeline:
 *
 *   authenticate (SigV4) → find the operation → parse the JSON body → run it
 *   → record the audit event → answer
 *
 * The audit event of a state-changing operation that succeeded is durable
 * before the answer leaves (AuditSink.recordDurable: a group commit); reads
 * and refusals are recorded without waiting (src/audit/audit-log.ts says what
 * an unclean stop can lose of those). Metrics are observed once per request.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AwsError, internal, serialization, storeUnavailableKms, unknownOperation } from '../aws/errors.js';
import { isStoreUnavailable } from '../storage/database.js';
import type { Authenticator } from '../aws/authenticator.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import { AUDIT_NOT_DURABLE, recordRequestEvent, type AuditEvent, type AuditSink } from '../audit/event.js';
import { Input } from '../kms/input.js';
import type { AuditFields, KmsDeps, OperationContext } from '../kms/context.js';
import { changesState, type KmsOperation } from '../kms/operation.js';
import { unsupportedKmsOperation } from '../kms/aws-operations.js';
import { grantIdsOfTokens } from '../kms/grants.js';
import { sendAwsError, signedRequest, JSON_11 } from './aws-protocol.js';

/** What the KMS route needs: everything an operation can touch is in `deps`. */
export interface KmsRouteDeps {
  deps: KmsDeps;
  authenticator: Authenticator;
  operations: ReadonlyMap<string, KmsOperation>;
  /** Symbolon's quorum approvals API, targets `SymbolonApprovals.<Operation>` (src/kms/policy/approvals.ts). */
  approvalOperations?: ReadonlyMap<string, KmsOperation> | undefined;
  /** Symbolon's webhooks API, targets `SymbolonMonitoring.<Operation>` (src/audit/webhook-operations.ts). */
  monitoringOperations?: ReadonlyMap<string, KmsOperation> | undefined;
  /** The JSON-RPC signer's token management, targets `SymbolonRpc.<Operation>` (src/rpc/token-operations.ts). */
  rpcTokenOperations?: ReadonlyMap<string, KmsOperation> | undefined;
  /** Symbolon's signing-policy API, targets `SymbolonSigning.<Operation>` (src/kms/signing-policy-operations.ts). */
  signingOperations?: ReadonlyMap<string, KmsOperation> | undefined;
  audit: AuditSink;
  /** Metrics hook: called once per KMS request. */
  observe?: ((operation: string, outcome: string, seconds: number, caller: Caller | undefined, keyArn: string | undefined) => void) | undefined;
}

/** The state of one request as it moves through the pipeline. */
interface KmsCall {
  readonly info: RequestInfo;
  operationName: string;
  operation: KmsOperation | undefined;
  caller: Caller | undefined;
  readonly audit: AuditFields;
  result: Record<string, unknown> | undefined;
  responseHeaders: Record<string, string> | undefined;
  error: AwsError | undefined;
}

/**
 * The operation a target names.
 * @throws {AwsError} UnsupportedOperationException for an AWS KMS operation Symbolon does not offer
 *   (src/kms/aws-operations.ts says why); UnknownOperationException for anything else.
 */
/** The operations a target prefix names (a fixed table: never a lookup by the client's string on a plain object). */
function operationsOf(route: KmsRouteDeps, prefix: string): ReadonlyMap<string, KmsOperation> | undefined {
  switch (prefix) {
    case 'TrentService':
      return route.operations;
    case 'SymbolonApprovals':
      return route.approvalOperations;
    case 'SymbolonMonitoring':
      return route.monitoringOperations;
    case 'SymbolonRpc':
      return route.rpcTokenOperations;
    case 'SymbolonSigning':
      return route.signingOperations;
    default:
      return undefined;
  }
}

function findOperation(route: KmsRouteDeps, target: string): KmsOperation {
  const dot = target.indexOf('.');
  const prefix = target.slice(0, dot);
  const name = target.slice(dot + 1);
  const operation = operationsOf(route, prefix)?.get(name);
  if (!operation) throw (prefix === 'TrentService' && unsupportedKmsOperation(name)) || unknownOperation('');
  return operation;
}

function parseBody(body: Uint8Array): unknown {
  try {
    // A view of the bytes, not a copy (Buffer.from(Uint8Array) would copy them).
    return body.length === 0 ? {} : JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    throw serialization('The request body is not valid JSON.');
  }
}

/** Turns anything a step threw into the AWS error the client sees (unexpected ones logged without payloads). */
function toAwsError(e: unknown, req: FastifyRequest, call: KmsCall): AwsError {
  if (e instanceof AwsError) return e;
  if (isStoreUnavailable(e)) {
    // Retryable, in AWS's shape; the driver's code only (a message may quote values).
    req.log.warn(
      { code: (e as { code?: unknown })?.code, requestId: call.info.requestId, operation: call.operationName.slice(0, 64) },
      'KMS request failed: the store is unavailable',
    );
    return storeUnavailableKms();
  }
  req.log.error(
    { err: { name: (e as Error)?.name, message: (e as Error)?.message }, requestId: call.info.requestId, operation: call.operationName.slice(0, 64) },
    'KMS operation failed unexpectedly',
  );
  return internal('An internal error occurred.');
}

function auditEvent(call: KmsCall, caller: Caller): AuditEvent {
  const { info, audit, error } = call;
  return {
    time: info.now,
    requestId: info.requestId,
    service: 'kms',
    operation: call.operationName.slice(0, 64),
    principalArn: caller.arn,
    principalTags: { ...caller.tags },
    accessKeyId: caller.accessKeyId,
    sourceIp: info.sourceIp,
    userAgent: info.userAgent,
    keyArn: audit.keyArn ?? null,
    encryptionContext: audit.encryptionContext ?? null,
    signingAlgorithm: audit.signingAlgorithm ?? null,
    outcome: error === undefined ? 'allowed' : error.type === 'AccessDeniedException' ? 'denied' : 'error',
    errorCode: error?.type ?? null,
    ...(audit.eth ? { eth: audit.eth } : {}),
    ...(audit.releasePurpose ? { releasePurpose: audit.releasePurpose } : {}),
  };
}

/** Records the request's event; a successful change waits until its record is durable. */
async function recordAudit(route: KmsRouteDeps, req: FastifyRequest, call: KmsCall): Promise<void> {
  if (!call.caller) return; // unauthenticated requests are not attributed to anyone (metrics count them)
  const durable = call.error === undefined && call.operation !== undefined && changesState(call.operationName);
  if (!(await recordRequestEvent(route.audit, auditEvent(call, call.caller), durable))) {
    req.log.error(
      { requestId: call.info.requestId, operation: call.operationName.slice(0, 64) },
      'the audit record of an applied KMS change could not be written',
    );
    call.error = internal(AUDIT_NOT_DURABLE);
  }
}

/**
 * Serves one authenticated-by-SigV4 KMS request and answers it.
 * Never throws: every failure is answered in AWS's error shape.
 */
export async function serveKmsRequest(
  route: KmsRouteDeps,
  req: FastifyRequest,
  reply: FastifyReply,
  info: RequestInfo,
  body: Uint8Array,
  target: string,
): Promise<FastifyReply> {
  const started = process.hrtime.bigint();
  const call: KmsCall = {
    info,
    operationName: target,
    operation: undefined,
    caller: undefined,
    audit: {},
    result: undefined,
    responseHeaders: undefined,
    error: undefined,
  };
  try {
    call.caller = await route.authenticator.authenticate(signedRequest(req, body), 'kms', info.now, String(req.headers.host ?? ''));
    call.operationName = target.slice(target.indexOf('.') + 1);
    call.operation = findOperation(route, target);
    const parsed = parseBody(body);
    const grantTokenIds = grantIdsOfTokens(parsed);
    const ctx: OperationContext = { deps: route.deps, caller: call.caller, info, audit: call.audit, ...(grantTokenIds ? { grantTokenIds } : {}) };
    call.result = await call.operation.handle(new Input(parsed), ctx);
    call.responseHeaders = ctx.responseHeaders;
  } catch (e) {
    call.error = toAwsError(e, req, call);
  }
  await recordAudit(route, req, call);
  route.observe?.(call.operationName, call.error?.type ?? 'ok', Number(process.hrtime.bigint() - started) / 1e9, call.caller, call.audit.keyArn);
  if (call.error) return sendAwsError(reply, call.error);
  if (call.responseHeaders) reply.headers(call.responseHeaders);
  return reply.code(200).header('content-type', JSON_11).send(JSON.stringify(call.result));
}
