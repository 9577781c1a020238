/**
 * Verification of AWS Signature Version 4 (header form) on incoming requests.
 * The canonical request covers exactly the headers the client says it signed:
 * for `POST /` without a query (every KMS call) it is written directly, else it
 * is built by @smithy/signature-v4 — the signer the AWS SDKs themselves use;
 * AWS's SigV4 suite (test/vectors-sigv4.test.ts) checks both. The
 * signature is compared in constant time. Parsing and every refusal use AWS's exception
 * names and messages. See AWS's "Create a signed AWS API request" (SigV4).
 */
import { createHmac, hash } from 'node:crypto';
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
  /** As listed (shared between requests that send the same list: never modified). */
  signedHeaders: readonly string[];
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

/** The last X-Amz-Date parsed and its time: requests signed in the same second share it. */
let lastAmzDate: { text: string; time: number | undefined } = { text: '', time: undefined };

function parseAmzDate(s: string): number | undefined {
  if (s === lastAmzDate.text) return lastAmzDate.time;
  const time = parseAmzDateText(s);
  lastAmzDate = { text: s, time };
  return time;
}

function parseAmzDateText(s: string): number | undefined {
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
  const signedHeaders = signedHeaderList(params.get('SignedHeaders')!);
  requireCoverage(req, signedHeaders);
  return {
    accessKeyId,
    shortDate,
    region,
    service,
    signedHeaders: signedHeaders.names,
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

/** A checked SignedHeaders list: its names in order and as a set. */
interface SignedHeaderList {
  names: readonly string[];
  set: ReadonlySet<string>;
}

/** Checked SignedHeaders lists by their text: a client sends the same few lists with every request. */
const signedHeaderLists = new Map<string, SignedHeaderList>();

/**
 * Splits and checks a SignedHeaders list (remembered: the checks depend on nothing but its text).
 * @throws {AwsError} IncompleteSignature for a name that is empty or not lower-case, or when `host` is not signed.
 */
function signedHeaderList(text: string): SignedHeaderList {
  const known = signedHeaderLists.get(text);
  if (known) return known;
  const names = text.split(';');
  if (names.some((h) => h !== h.toLowerCase() || !h)) throw incompleteSignature('SignedHeaders must be lower-case header names separated by semicolons.');
  if (!names.includes('host')) throw incompleteSignature(`'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.`);
  const list = { names, set: new Set(names) };
  if (signedHeaderLists.size >= 256) signedHeaderLists.clear();
  signedHeaderLists.set(text, list);
  return list;
}

function requireCoverage(req: SignedRequest, signedHeaders: SignedHeaderList): void {
  const signed = signedHeaders.set;
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
 * A verifier bound to one credential. The canonical request of a KMS call
 * (`POST /`, no query: only header canonicalisation) is written here; any
 * other path or query (path normalisation and query encoding, the error-prone
 * part of SigV4) goes through @smithy/signature-v4's own code. The string to
 * sign and the HMAC chain are the spec's few fixed lines, done here with
 * node:crypto and a signing key cached per (date, region, service), so a
 * request costs two one-shot hashes and one HMAC.
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
    if (claim.sessionToken !== undefined && claim.sessionToken !== this.#sessionToken) throw invalidSignature(SIGNATURE_MISMATCH);
    if (this.#sessionToken !== undefined && claim.sessionToken === undefined) throw invalidSignature(SIGNATURE_MISMATCH);
    // One-shot hashing (node:crypto's hash(), no Hash object per call): two per request.
    const bodyHash = hash('sha256', req.body, 'hex');
    const canonicalRequest = this.#canonicalRequest(req, claim, bodyHash);
    // A signed payload hash must be the hash of the body actually received.
    if (claim.signedHeaders.includes('x-amz-content-sha256') && header(req, 'x-amz-content-sha256') !== bodyHash) {
      throw invalidSignature('The provided x-amz-content-sha256 header does not match what was computed.');
    }
    const scope = `${claim.shortDate}/${claim.region}/${claim.service}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${claim.amzDate}\n${scope}\n${hash('sha256', canonicalRequest, 'hex')}`;
    const expected = createHmac('sha256', this.#keyFor(scope, claim.shortDate, claim.region, claim.service))
      .update(stringToSign)
      .digest();
    if (!equalConstantTime(expected, Buffer.from(claim.signature, 'hex'))) throw invalidSignature(SIGNATURE_MISMATCH);
  }

  /**
   * The canonical request. Every KMS call is `POST /` without a query: for
   * those it is written here directly — method, `/`, an empty query, the
   * signed headers sorted by name with their values canonicalised as smithy's
   * getCanonicalHeaders does (line breaks and runs of spaces or tabs to one
   * space, trimmed), the sorted name list, the body's hash — which
   * test/vectors-sigv4.test.ts checks against AWS's suite and against smithy's
   * own output. Any other path or a query goes through smithy's builder.
   * @throws {AwsError} InvalidSignatureException when a signed header is absent or named twice;
   *   SerializationException when the request cannot be canonicalised.
   */
  #canonicalRequest(req: SignedRequest, claim: SigV4Claim, bodyHash: string): string {
    const names = claim.signedHeaders;
    if (req.path === '/' && isEmpty(req.query)) {
      const sorted = names.length === 1 ? names : [...names].sort();
      let lines = '';
      for (let i = 0; i < sorted.length; i++) {
        const name = sorted[i]!;
        if (i > 0 && name === sorted[i - 1]) throw invalidSignature(SIGNATURE_MISMATCH);
        const v = header(req, name);
        if (v === undefined) throw invalidSignature(SIGNATURE_MISMATCH);
        lines += `${name}:${canonicalHeaderValue(v)}\n`;
      }
      return `${req.method}\n/\n\n${lines}\n${sorted.join(';')}\n${bodyHash}`;
    }
    const headers: Record<string, string> = {};
    for (const name of names) {
      const v = header(req, name);
      if (v === undefined) throw invalidSignature(SIGNATURE_MISMATCH);
      headers[name] = v;
    }
    try {
      const request = new HttpRequest({ method: req.method, protocol: 'http:', hostname: '', path: req.path, query: req.query, headers });
      const canonicalHeaders = getCanonicalHeaders(request, undefined, new Set(names));
      if (Object.keys(canonicalHeaders).length !== names.length) throw invalidSignature(SIGNATURE_MISMATCH);
      return this.#canonicalizer.canonicalRequest(request, canonicalHeaders, bodyHash);
    } catch (e) {
      if (e instanceof AwsError) throw e;
      throw serialization('The request could not be canonicalized for signature verification.');
    }
  }
}

function isEmpty(query: Record<string, unknown>): boolean {
  for (const _ in query) return false;
  return true;
}

/** A header value as SigV4 signs it (smithy's getCanonicalHeaders): line breaks and runs of spaces or tabs become one space, trimmed. */
function canonicalHeaderValue(v: string): string {
  if (!/[\r\n\t]| {2}|^ | $/.test(v)) return v;
  return v
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}
