/**
 * One signed AWS JSON 1.1 request, for what the AWS SDK will not send: the
 * approvals API (`SymbolonApprovals.*`) and deliberately malformed members.
 * Signed with @smithy/signature-v4 exactly as the SDK signs (every header,
 * X-Amz-Target and Content-Type included).
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import { ADMIN, REGION } from './server.js';

export interface AwsJsonReply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * One POST to `endpoint`, signed with SigV4 for `service` as the SDK signs (every header included);
 * resolves to the status and the body text.
 */
export async function signedPost(options: {
  endpoint: string;
  service: string;
  headers: Record<string, string>;
  body: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  signingDate?: Date;
}): Promise<{ status: number; text: string }> {
  const url = new URL(options.endpoint);
  const signer = new SignatureV4({ credentials: options.credentials ?? ADMIN, region: REGION, service: options.service, sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, ...options.headers },
      body: options.body,
    }),
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  const headers: Record<string, string> = { ...signed.headers };
  delete headers.host;
  const res = await fetch(options.endpoint, { method: 'POST', headers, body: options.body });
  return { status: res.status, text: await res.text() };
}

/** Sends `body` to `endpoint` with `X-Amz-Target: target`; resolves to the status and the parsed body. */
export async function callAwsJson(options: {
  endpoint: string;
  target: string;
  body: unknown;
  /** With `sessionToken` (STS session credentials) the request carries X-Amz-Security-Token, signed. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Signing time (a test whose server clock is offset). */
  signingDate?: Date;
}): Promise<AwsJsonReply> {
  const { target, body, ...rest } = options;
  const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
  const res = await signedPost({ ...rest, service: 'kms', headers, body: JSON.stringify(body) });
  return { status: res.status, body: JSON.parse(res.text) as Record<string, unknown> };
}

/** A SymbolonApprovals.* call: resolves to the JSON body, rejects with an Error carrying `type` and `status`. */
export async function callApprovals(options: {
  endpoint: string;
  operation: string;
  body: Record<string, unknown>;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  signingDate?: Date;
}): Promise<any> {
  const { operation, ...rest } = options;
  const reply = await callAwsJson({ ...rest, target: `SymbolonApprovals.${operation}` });
  if (reply.status !== 200) throw Object.assign(new Error(String(reply.body.message)), { type: reply.body.__type, status: reply.status });
  return reply.body;
}
