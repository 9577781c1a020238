/**
 * Verification of AWS Signature Version 4 (header form) on incoming requests.
 * The canonical request is built by @smithy/signature-v4 — the signer the AWS
 * SDKs themselves use — over exactly the headers the client says it signed; the
 * signature is compared in constant time. Parsing and every refusal use AWS's exception
 * names and messages. See AWS's "Create a signed AWS API request" (SigV4).
 */
import { createHash, createHmac } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { getCanonicalHeaders, SignatureV4 } from '@smithy/signature-v4';
import { equalConstantTime } from '../crypto/bytes.js';
import { AwsError, incompleteSignature, invalidSignature, missingAuthenticationToken, serialization } from './errors.js';

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

const headerIndexes = new WeakMap<SignedRequest, Map<string, string>>();

/** The request's headers by lower-case name, duplicates joined with ',' (SigV4's rule), built once per request. */
function headerIndex(req: SignedRequest): Map<string, string> {
  let index = headerIndexes.get(req);
  if (!index) {
    index = new Map();
    for (const [k, v] of req.rawHeaders) {
      const name = k.toLowerCase();
      const prior = index.get(name);
      index.set(name, prior === undefined ? v.trim() : `${prior},${v.trim()}`);
    }
    headerIndexes.set(req, index);
  }
  return index;
}

function header(req: SignedRequest, name: string): string | undefined {
  return headerIndex(req).get(name);
}

function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(t) ? undefined : t;
}

function amzFormat(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
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
    throw incompleteSignature(
      `Credential should be scoped to a valid region, and service. The credential should have the form <AccessKeyId>/<date>/<region>/<service>/aws4_request.`,
    );
  }
  const [accessKeyId, shortDate, region, service] = credential as [string, string, string, string];
  const signingTime = parseAmzDate(amzDate!);
  if (signingTime === undefined)
    throw incompleteSignature(`Date must be in ISO-8601 'basic format'. Got '${amzDate!.slice(0, 32)}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  if (shortDate !== amzDate!.slice(0, 8)) {
    throw invalidSignature(`Credential should be scoped to a valid date, matching the request's X-Amz-Date date '${amzDate!.slice(0, 8)}'.`);
  }
  const signature = params.get('Signature')!;
  if (!/^[0-9a-f]{64}$/.test(signature)) throw incompleteSignature('Signature must be 64 lower-case hexadecimal characters.');
  const signedHeaders = params.get('SignedHeaders')!.split(';');
  if (signedHeaders.some((h) => h !== h.toLowerCase() || !h))
    throw incompleteSignature('SignedHeaders must be lower-case header names separated by semicolons.');
  if (!signedHeaders.includes('host')) throw incompleteSignature(`'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.`);
  requireCoverage(req, signedHeaders);
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
 * Headers that change what a request means must be covered by its signature,
 * or a captured request could be replayed as something else (an unsigned
 * `X-Amz-Target` turns a signed DescribeKey into a DisableKey). SigV4's rule:
 * every `x-amz-*` header present is signed — except `x-amz-security-token`,
 * which AWS accepts unsigned (the SigV4 suite's `post-sts-header-after` case)
 * and which is bound to the access key id anyway (checked in verify). Every
 * AWS SDK and the AWS CLI also sign `content-type`, which selects how the body
 * is parsed (JSON 1.1 or the query protocol's form): required when present.
 */
const UNSIGNED_ALLOWED = new Set(['x-amz-security-token']);

function requireCoverage(req: SignedRequest, signedHeaders: readonly string[]): void {
  const signed = new Set(signedHeaders);
  const unsigned: string[] = [];
  for (const name of headerIndex(req).keys()) {
    if (signed.has(name) || UNSIGNED_ALLOWED.has(name)) continue;
    if (name.startsWith('x-amz-') || name === 'content-type') unsigned.push(name);
  }
  if (unsigned.length) {
    // Names only (capped): they are caller input, never values.
    const names = unsigned
      .sort()
      .slice(0, 8)
      .map((n) => n.slice(0, 64))
      .join(', ');
    throw incompleteSignature(`There were headers present in the request which were not signed: ${names}. Sign every x-amz-* header and Content-Type.`);
  }
}

/**
 * Checks the claim's scope (region, service) and time against the server's.
 * @throws {AwsError} InvalidSignatureException with AWS's wording.
 */
export function checkScope(claim: SigV4Claim, expected: { regions: readonly string[]; service: string; now: number }): void {
  // AWS's wording names the region the client scoped to (capped: it is caller input).
  if (!expected.regions.includes(claim.region)) throw invalidSignature(`Credential should be scoped to a valid region, not '${claim.region.slice(0, 64)}'.`);
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

/** Exposes smithy's canonical-request builder (protected in its base class). */
class Canonicalizer extends SignatureV4 {
  canonicalRequest(request: HttpRequest, canonicalHeaders: Record<string, string>, payloadHash: string): string {
    return this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
  }
}

/**
 * A verifier bound to one credential. The canonical request (path, query and
 * header canonicalisation, the error-prone part of SigV4) is built by
 * @smithy/signature-v4's own code; the string to sign and the HMAC chain are
 * the spec's few fixed lines, done here with node:crypto and a signing key
 * cached per (date, region, service) so a request costs two hashes and one HMAC.
 */
export class SigV4Verifier {
  readonly #canonicalizer: Canonicalizer;
  readonly #secretAccessKey: string;
  readonly #sessionToken: string | undefined;
  #signingKey: { scope: string; key: Buffer } | undefined;

  constructor(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined }, region: string, service: string) {
    this.#secretAccessKey = credentials.secretAccessKey;
    this.#sessionToken = credentials.sessionToken;
    this.#canonicalizer = new Canonicalizer({
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
      region,
      service,
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
      uriEscapePath: true,
    });
  }

  #keyFor(scope: string, shortDate: string, region: string, service: string): Buffer {
    if (this.#signingKey?.scope === scope) return this.#signingKey.key;
    // SigV4 key derivation: kDate = HMAC("AWS4" + secret, date); kRegion; kService; kSigning = HMAC(kService, "aws4_request").
    let key: Buffer = createHmac('sha256', `AWS4${this.#secretAccessKey}`).update(shortDate).digest();
    for (const part of [region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    this.#signingKey = { scope, key };
    return key;
  }

  /**
   * Recomputes the signature over the headers the client signed and compares in constant time.
   * @throws {AwsError} InvalidSignatureException on any mismatch.
   */
  async verify(req: SignedRequest, claim: SigV4Claim, _host?: { hostname: string }): Promise<void> {
    const headers: Record<string, string> = {};
    for (const name of claim.signedHeaders) {
      const v = header(req, name);
      if (v === undefined) throw invalidSignature(SIGNATURE_MISMATCH);
      headers[name] = v;
    }
    if (claim.sessionToken !== undefined && claim.sessionToken !== this.#sessionToken) throw invalidSignature(SIGNATURE_MISMATCH);
    if (this.#sessionToken !== undefined && claim.sessionToken === undefined) throw invalidSignature(SIGNATURE_MISMATCH);
    const bodyHash = createHash('sha256').update(req.body).digest('hex');
    // A signed payload hash must be the hash of the body actually received.
    const contentSha = headers['x-amz-content-sha256'];
    if (contentSha !== undefined && contentSha !== bodyHash) {
      throw invalidSignature('The provided x-amz-content-sha256 header does not match what was computed.');
    }
    let canonicalRequest: string;
    try {
      const request = new HttpRequest({ method: req.method, protocol: 'http:', hostname: '', path: req.path, query: req.query, headers });
      const canonicalHeaders = getCanonicalHeaders(request, undefined, new Set(claim.signedHeaders));
      if (Object.keys(canonicalHeaders).length !== claim.signedHeaders.length) throw invalidSignature(SIGNATURE_MISMATCH);
      canonicalRequest = this.#canonicalizer.canonicalRequest(request, canonicalHeaders, bodyHash);
    } catch (e) {
      if (e instanceof AwsError) throw e;
      throw serialization('The request could not be canonicalized for signature verification.');
    }
    const scope = `${claim.shortDate}/${claim.region}/${claim.service}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${claim.amzDate}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
    const expected = createHmac('sha256', this.#keyFor(scope, claim.shortDate, claim.region, claim.service))
      .update(stringToSign)
      .digest();
    if (!equalConstantTime(new Uint8Array(expected), new Uint8Array(Buffer.from(claim.signature, 'hex')))) throw invalidSignature(SIGNATURE_MISMATCH);
  }
}
