/**
 * The contract of a query-protocol service (IAM, STS): form-encoded requests
 * routed by `Action` on the shared AWS endpoint (src/server/aws-endpoint.ts).
 */
import type { FastifyReply } from 'fastify';
import type { AwsError } from './errors.js';
import type { Caller, RequestInfo } from './context.js';

/** A query-protocol service (IAM, STS): handles one form-encoded request. */
export interface QueryService {
  /** SigV4 service name, e.g. `iam`. */
  readonly service: string;
  /** True when this service serves `action` (so the endpoint can route by Action). */
  handles(action: string): boolean;
  /** Actions that need no SigV4 (STS AssumeRoleWithWebIdentity). */
  isAnonymous(action: string): boolean;
  handle(params: URLSearchParams, caller: Caller | undefined, info: RequestInfo, reply: FastifyReply): Promise<void>;
  /** Sends an authentication failure in this service's own error shape (IAM's XML); JSON otherwise. */
  renderError?(reply: FastifyReply, err: AwsError, info: RequestInfo): FastifyReply;
}
