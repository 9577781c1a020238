/**
 * The AWS wire protocol's shared pieces on the HTTP side: media types, the
 * body limit, the view of a request SigV4 verifies, and AWS's JSON error shape.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { serialization, STEP_UP_HEADER, type AwsError } from '../aws/errors.js';
import type { SignedRequest } from '../aws/sigv4.js';

export const JSON_11 = 'application/x-amz-json-1.1';
export const FORM = 'application/x-www-form-urlencoded';
/** Requests larger than this are refused before parsing (KMS's largest inputs are a few KiB). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The parts of a received request that SigV4 covers: method, decoded path and
 * query, raw header pairs as sent, exact body bytes.
 * @throws {AwsError} SerializationException when the path is not valid percent-encoding.
 */
export function signedRequest(req: FastifyRequest, body: Uint8Array): SignedRequest {
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

/**
 * Answers an AWS JSON-protocol error: `{"__type", "message"}` with AWS's status and `x-amzn-errortype`;
 * a refusal a passkey step-up would lift also carries `x-symbolon-step-up: mfa_required` (AwsError.mfaRequired).
 */
export function sendAwsError(reply: FastifyReply, err: AwsError): FastifyReply {
  if (err.mfaRequired) reply.header(STEP_UP_HEADER, 'mfa_required');
  return reply
    .code(err.status)
    .header('content-type', JSON_11)
    .header('x-amzn-errortype', err.type)
    .send(JSON.stringify({ __type: err.type, message: err.message }));
}
