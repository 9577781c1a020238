/**
 * Verification of AWS Signature Version 4 (header form) on incoming requests.
 * The expected signature is computed by @smithy/signature-v4 — the signer the
 * AWS SDKs themselves use — over exactly the headers the client says it signed,
 * and compared in constant time. Parsing and every refusal use AWS's exception
 * names and messages. See AWS's "Create a signed AWS API request" (SigV4).
 */
import { createHash } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { equalConstantTime, utf8Bytes } from '../../crypto/bytes.js';
import { incompleteSignature, invalidSignature, missingAuthenticationToken, serialization } from '../errors.js';

/** The parts of an HTTP request that SigV4 covers. */
export interface SignedRequest {
  method: string;
  /** The path, percent-decoded (e.g. "/" for every KMS call). */
  path: string;
  /** Decoded query parameters. */
  query: Record<string, string | string[]>;
  /** Raw header lines as received, names in any case, in order (node's rawHeaders pairs). */
  rawHeaders: ReadonlyArray<readonly [string, string]>;
  /** The exact body bytes. */
  body: Uint8Array;
}

/** What the Authorization header claims. */
export interface SigV4Claim {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  /** X-Amz-Date as sent (yyyyMMddTHHmmssZ). */
  amzDate: string;
  signingTime: number;
  sessionToken: string | undefined;
}

/** Allowed clock skew between client and server (AWS: 5 minutes). */
export const MAX_SKEW_MS = 5 * 60 * 1000;

function header(req: SignedRequest, name: string): string | undefined {
  const values: string[] = [];
  for (const [k, v] of req.rawHeaders) if (k.toLowerCase() === name) values.push(v.trim());
  return values.length ? values.join(',') : undefined;
}

function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(t) ? undefined : t;
}

function amzFormat(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * Parses the Authorization header.
 * @throws {AwsError} MissingAuthenticationToken, IncompleteSignature or InvalidSignature, as AWS would.
 */
export function parseSigV4(req: SignedRequest): SigV4Claim {
  const auth = header(req, 'authorization');
  if (auth === undefined) {
    if (typeof req.query['X-Amz-Algorithm'] === 'string') {
      throw incompleteSignature('Query-string (presigned) authentication is not supported by this endpoint; sign the Authorization header.');
    }
    throw missingAuthenticationToken('Missing Authentication Token');
  }
  const space = auth.indexOf(' ');
  const algorithm = space < 0 ? auth : auth.slice(0, space);
  if (algorithm !== 'AWS4-HMAC-SHA256') {
    throw incompleteSignature(`Authorization header requires 'AWS4-HMAC-SHA256' as its algorithm.`);
  }
  const params = new Map<string, string>();
  for (const part of auth.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing: string[] = [];
  for (const p of ['Credential', 'Signature', 'SignedHeaders']) if (!params.get(p)) missing.push(`Authorization header requires '${p}' parameter.`);
  const amzDate = header(req, 'x-amz-date');
  if (amzDate === undefined) missing.push(`Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.`);
  if (missing.length) throw incompleteSignature(`${missing.join(' ')} Authorization=${algorithm}`);

  const credential = params.get('Credential')!.split('/');
  if (credential.length !== 5 || credential[4] !== 'aws4_request' || !credential[0]) {
    throw incompleteSignature(`Credential should be scoped to a valid region, and service. The credential should have the form <AccessKeyId>/<date>/<region>/<service>/aws4_request.`);
  }
  const [accessKeyId, shortDate, region, service] = credential as [string, string, string, string];
  const signingTime = parseAmzDate(amzDate!);
  if (signingTime === undefined) throw incompleteSignature(`Date must be in ISO-8601 'basic format'. Got '${amzDate!.slice(0, 32)}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  if (shortDate !== amzDate!.slice(0, 8)) {
    throw invalidSignature(`Credential should be scoped to a valid date, matching the request's X-Amz-Date date '${amzDate!.slice(0, 8)}'.`);
  }
  const signature = params.get('Signature')!;
  if (!/^[0-9a-f]{64}$/.test(signature)) throw incompleteSignature('Signature must be 64 lower-case hexadecimal characters.');
  const signedHeaders = params.get('SignedHeaders')!.split(';');
  if (signedHeaders.some((h) => h !== h.toLowerCase() || !h)) throw incompleteSignature('SignedHeaders must be lower-case header names separated by semicolons.');
  if (!signedHeaders.includes('host')) throw incompleteSignature(`'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.`);
  return {
    accessKeyId,
    shortDate,
    region,
    service,
    signedHeaders,
    signature,
    amzDate: amzDate!,
    signingTime,
    sessionToken: header(req, 'x-amz-security-token'),
  };
}

/**
 * Checks the claim's scope (region, service) and time against the server's.
 * @throws {AwsError} InvalidSignatureException with AWS's wording.
 */
export function checkScope(claim: SigV4Claim, expected: { regions: readonly string[]; service: string; now: number }): void {
  if (!expected.regions.includes(claim.region)) throw invalidSignature(`Credential should be scoped to a valid region.`);
  if (claim.service !== expected.service) throw invalidSignature(`Credential should be scoped to correct service: '${expected.service}'.`);
  const { now } = expected;
  if (claim.signingTime < now - MAX_SKEW_MS) {
    throw invalidSignature(`Signature expired: ${claim.amzDate} is now earlier than ${amzFormat(now - MAX_SKEW_MS)} (${amzFormat(now)} - 5 min.)`);
  }
  if (claim.signingTime > now + MAX_SKEW_MS) {
    throw invalidSignature(`Signature not yet current: ${claim.amzDate} is still later than ${amzFormat(now + MAX_SKEW_MS)} (${amzFormat(now)} + 5 min.)`);
  }
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** A verifier bound to one credential (cache it per access key: smithy caches derived signing keys). */
export class SigV4Verifier {
  readonly #signer: SignatureV4;
  readonly #sessionToken: string | undefined;

  constructor(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined }, region: string, service: string) {
    this.#sessionToken = credentials.sessionToken;
    this.#signer = new SignatureV4({
      credentials: {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
      },
      region,
      service,
      sha256: Hash.bind(null, 'sha256'),
      // The client decides which headers it signed; add none of our own.
      applyChecksum: false,
      uriEscapePath: true,
    });
  }

  /**
   * Recomputes the signature over the headers the client signed and compares.
   * @throws {AwsError} InvalidSignatureException on any mismatch.
   */
  async verify(req: SignedRequest, claim: SigV4Claim, host: { hostname: string }): Promise<void> {
    const headers: Record<string, string> = {};
    for (const name of claim.signedHeaders) {
      const v = header(req, name);
      if (v === undefined) throw invalidSignature(SIGNATURE_MISMATCH);
      headers[name] = v;
    }
    // A signed payload hash must be the hash of the body actually received.
    const contentSha = headers['x-amz-content-sha256'];
    if (contentSha !== undefined) {
      const actual = createHash('sha256').update(req.body).digest('hex');
      if (contentSha !== actual) throw invalidSignature('The provided x-amz-content-sha256 header does not match what was computed.');
    }
    const tokenSigned = claim.signedHeaders.includes('x-amz-security-token');
    if (claim.sessionToken !== undefined && claim.sessionToken !== this.#sessionToken) throw invalidSignature(SIGNATURE_MISMATCH);
    const request = new HttpRequest({
      method: req.method,
      protocol: 'http:',
      hostname: host.hostname,
      path: req.path,
      query: req.query,
      headers,
      body: req.body,
    });
    let signed: HttpRequest;
    try {
      signed = (await this.#signer.sign(request, {
        signingDate: new Date(claim.signingTime),
        signingRegion: claim.region,
        signingService: claim.service,
        signableHeaders: new Set(claim.signedHeaders),
        ...(tokenSigned ? {} : { unsignableHeaders: new Set(['x-amz-security-token']) }),
      })) as HttpRequest;
    } catch {
      throw serialization('The request could not be canonicalized for signature verification.');
    }
    const computed = String(signed.headers['authorization'] ?? '');
    const sigAt = computed.lastIndexOf('Signature=');
    const expected = computed.slice(sigAt + 'Signature='.length);
    const computedHeaders = /SignedHeaders=([^,]+)/.exec(computed)?.[1];
    if (computedHeaders !== claim.signedHeaders.slice().sort().join(';')) throw invalidSignature(SIGNATURE_MISMATCH);
    if (!equalConstantTime(utf8Bytes(expected), utf8Bytes(claim.signature))) throw invalidSignature(SIGNATURE_MISMATCH);
  }
}
