/**
 * createKmsHttpClient: a lean KMS transport with the AWS SDK's `send(command)`
 * shape, for Sign and GetPublicKey only — AWS JSON 1.1 (POST /,
 * `X-Amz-Target: TrentService.<Operation>`) over `fetch`, signed with
 * Signature Version 4 (AWS General Reference, "Create a signed AWS API
 * request") computed with @noble/hashes. Works against Symbolon's custodian
 * and AWS KMS alike (session tokens go in `x-amz-security-token`).
 * Browser-safe: `fetch`, `TextEncoder`, `atob`/`btoa` only.
 *
 * Why: per signature the AWS SDK's middleware stack costs more CPU than the
 * curve does; this does the same wire work with a cached SigV4 signing key
 * (one HMAC chain per day, region and service instead of per request).
 *
 * Errors: an AWS error body (`__type`, `message`) becomes an Error whose
 * `name` is the `__type` (without any `namespace#` prefix), with `$fault`
 * and `$metadata.httpStatusCode` as the AWS SDK sets them, so
 * `isThrottlingError` and code checking `error.name` work unchanged.
 */
import { GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** Static credentials, as the AWS SDK takes them. */
export interface KmsHttpCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface KmsHttpClientOptions {
  /** The KMS endpoint URL; default `https://kms.<region>.amazonaws.com`. */
  endpoint?: string;
  region: string;
  /** Static credentials, or a function returning them (called per request: memoize it yourself). */
  credentials: KmsHttpCredentials | (() => KmsHttpCredentials | Promise<KmsHttpCredentials>);
  /** `fetch` to use (default: the global one); e.g. createNodeHttpFetch from `@symbolon/sdk/node`. */
  fetch?: KmsFetch;
  /**
   * SHA-256 and HMAC-SHA-256 for SigV4 (default: @noble/hashes, browser-safe);
   * e.g. `nodeSigV4Hashes` from `@symbolon/sdk/node` (node:crypto, OpenSSL).
   */
  hashes?: SigV4Hashes;
}

/** The two hash functions SigV4 needs. */
export interface SigV4Hashes {
  sha256(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
}

const nobleHashes: SigV4Hashes = { sha256: (data) => sha256(data), hmacSha256: (key, data) => hmac(sha256, key, data) };

/** The part of the response this client reads (a WHATWG Response has it all). */
export interface KmsFetchResponse {
  ok: boolean;
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The part of `fetch` this client uses: POST a byte body with headers. */
export type KmsFetch = (url: string, init: { method: string; headers: Record<string, string>; body: Uint8Array }) => Promise<KmsFetchResponse>;

/** The subset of the AWS SDK's KMSClient that KmsKey uses. */
export interface KmsHttpClient {
  /**
   * Sends a SignCommand or GetPublicKeyCommand; returns the AWS SDK's output shape.
   * @throws {TypeError} for any other command.
   * @throws {Error} named after the KMS error's `__type` (e.g. NotFoundException, ThrottlingException).
   */
  send<C extends SignCommand | GetPublicKeyCommand>(command: C): Promise<C extends SignCommand ? SignCommandOutputLike : GetPublicKeyCommandOutputLike>;
  /** Nothing to release (fetch pools connections itself); for parity with KMSClient. */
  destroy(): void;
}

interface Metadata {
  $metadata: { httpStatusCode: number; requestId?: string | undefined };
}
export interface SignCommandOutputLike extends Metadata {
  KeyId?: string;
  Signature?: Uint8Array;
  SigningAlgorithm?: string;
  /**
   * Symbolon's custodian only (header `x-symbolon-recovery-id`; AWS KMS sends
   * none): the recovery id of the signature as signed. A hint — KmsKey tries
   * that parity first and still verifies it by recovery.
   */
  $recoveryIdHint?: 0 | 1;
}
export interface GetPublicKeyCommandOutputLike extends Metadata {
  KeyId?: string;
  PublicKey?: Uint8Array;
  CustomerMasterKeySpec?: string;
  KeySpec?: string;
  KeyUsage?: string;
  EncryptionAlgorithms?: string[];
  SigningAlgorithms?: string[];
  KeyAgreementAlgorithms?: string[];
}

const SERVICE = 'kms';
const encoder = new TextEncoder();

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
function hex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A blob field of the input: Uint8Array as base64 (what the AWS SDK serialises), strings left as they are. */
function blob(value: unknown): unknown {
  return value instanceof Uint8Array ? toBase64(value) : value;
}

/** Which operations this client speaks, and the blob fields of their inputs and outputs. */
function operationOf(command: unknown): { target: string; input: Record<string, unknown>; blobIn: string[]; blobOut: string[] } {
  if (command instanceof SignCommand)
    return { target: 'Sign', input: command.input as unknown as Record<string, unknown>, blobIn: ['Message'], blobOut: ['Signature'] };
  if (command instanceof GetPublicKeyCommand)
    return { target: 'GetPublicKey', input: command.input as unknown as Record<string, unknown>, blobIn: [], blobOut: ['PublicKey'] };
  throw new TypeError('createKmsHttpClient supports SignCommand and GetPublicKeyCommand only');
}

/** An error as the AWS SDK raises it for a KMS error response. */
function kmsError(status: number, requestId: string | undefined, body: string, headerType: string | null): Error {
  let type: string | undefined;
  let message: string | undefined;
  try {
    const parsed = JSON.parse(body) as { __type?: unknown; message?: unknown; Message?: unknown };
    if (typeof parsed.__type === 'string') type = parsed.__type;
    const m = parsed.message ?? parsed.Message;
    if (typeof m === 'string') message = m;
  } catch {
    // Not JSON (a proxy's error page): the status says what there is to say.
  }
  type ??= headerType ?? undefined;
  // "com.amazonaws.kms#NotFoundException" and "NotFoundException:http://..." both name NotFoundException.
  const name = (type ?? `Http${status}Error`).replace(/^.*#/, '').replace(/:.*$/, '');
  const error = new Error(message ?? `KMS returned HTTP ${status}`) as Error & Metadata & { $fault: 'client' | 'server'; __type?: string };
  error.name = name;
  error.$fault = status >= 500 ? 'server' : 'client';
  error.$metadata = { httpStatusCode: status, requestId };
  if (type !== undefined) error.__type = type;
  return error;
}

/**
 * Makes a lean KMS client (Sign, GetPublicKey) over fetch + SigV4.
 * @throws {TypeError} when region or credentials are missing.
 */
export function createKmsHttpClient(options: KmsHttpClientOptions): KmsHttpClient {
  const { region, credentials } = options;
  if (typeof region !== 'string' || region.length === 0) throw new TypeError('region must be a non-empty string');
  if (!credentials) throw new TypeError('credentials are required');
  const url = new URL(options.endpoint ?? `https://kms.${region}.amazonaws.com`);
  if (url.pathname !== '/' || url.search !== '') throw new TypeError('endpoint must be a scheme, host and port only');
  // What fetch sends as Host: the port only when it is not the scheme's default (URL already drops a default one).
  const host = url.host;
  const endpoint = url.toString();
  const doFetch: KmsFetch = options.fetch ?? ((input, init) => fetch(input, init as RequestInit));
  const { sha256: hash, hmacSha256 } = options.hashes ?? nobleHashes;

  // SigV4 signing key = HMAC chain over (date, region, service), valid all day: cached for the last secret and date.
  let cachedKey: { secret: string; date: string; key: Uint8Array } | undefined;
  const signingKey = (secret: string, date: string): Uint8Array => {
    if (cachedKey && cachedKey.secret === secret && cachedKey.date === date) return cachedKey.key;
    let k = hmacSha256(encoder.encode(`AWS4${secret}`), encoder.encode(date));
    k = hmacSha256(k, encoder.encode(region));
    k = hmacSha256(k, encoder.encode(SERVICE));
    k = hmacSha256(k, encoder.encode('aws4_request'));
    cachedKey = { secret, date, key: k };
    return k;
  };

  async function send(command: SignCommand | GetPublicKeyCommand): Promise<SignCommandOutputLike | GetPublicKeyCommandOutputLike> {
    const { target, input, blobIn, blobOut } = operationOf(command);
    const payload: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input)) if (v !== undefined) payload[k] = blobIn.includes(k) ? blob(v) : v;
    const body = encoder.encode(JSON.stringify(payload));
    const creds = typeof credentials === 'function' ? await credentials() : credentials;

    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''); // YYYYMMDDTHHMMSSZ
    const date = amzDate.slice(0, 8);
    const headers: [string, string][] = [
      ['content-type', 'application/x-amz-json-1.1'],
      ['host', host],
      ['x-amz-date', amzDate],
      ...(creds.sessionToken ? ([['x-amz-security-token', creds.sessionToken]] as [string, string][]) : []),
      ['x-amz-target', `TrentService.${target}`],
    ]; // already in SigV4's order: lower-case names, sorted
    const signedHeaders = headers.map(([k]) => k).join(';');
    const canonicalRequest = `POST\n/\n\n${headers.map(([k, v]) => `${k}:${v}\n`).join('')}\n${signedHeaders}\n${hex(hash(body))}`;
    const scope = `${date}/${region}/${SERVICE}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hex(hash(encoder.encode(canonicalRequest)))}`;
    const signature = hex(hmacSha256(signingKey(creds.secretAccessKey, date), encoder.encode(stringToSign)));

    const requestHeaders: Record<string, string> = {
      authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    };
    for (const [k, v] of headers) if (k !== 'host') requestHeaders[k] = v; // fetch sets Host itself (and may not be told otherwise)
    const response = await doFetch(endpoint, { method: 'POST', headers: requestHeaders, body });
    const text = await response.text();
    const requestId = response.headers.get('x-amzn-requestid') ?? undefined;
    if (!response.ok) throw kmsError(response.status, requestId, text, response.headers.get('x-amzn-errortype'));
    let out: Record<string, unknown>;
    try {
      out = JSON.parse(text) as Record<string, unknown>;
    } catch (cause) {
      throw new Error(`KMS ${target} returned a body that is not JSON (${text.length} characters)`, { cause });
    }
    for (const k of blobOut) if (typeof out[k] === 'string') out[k] = fromBase64(out[k]);
    out.$metadata = { httpStatusCode: response.status, requestId };
    if (target === 'Sign') {
      const hint = response.headers.get('x-symbolon-recovery-id');
      if (hint === '0' || hint === '1') out.$recoveryIdHint = hint === '0' ? 0 : 1;
    }
    return out as unknown as SignCommandOutputLike | GetPublicKeyCommandOutputLike;
  }

  return { send: send as KmsHttpClient['send'], destroy() {} };
}
