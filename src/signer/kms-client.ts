/**
 * The KMS calls the signer makes: `Decrypt` with `Recipient` (AWS KMS API
 * Reference, Decrypt; JSON 1.1 over HTTP, SigV4-signed — AWS General
 * Reference, "Create a signed AWS API request" — by the few lines below for
 * this one fixed request shape, with the signing key derived once per
 * credential set and day), over keep-alive connections (undici). Its
 * response carries `CiphertextForRecipient`, never `Plaintext`; a response
 * with `Plaintext` is refused, since it would mean share A crossed the network
 * in the clear. And `Encrypt`, for a share rotation (rotateSplitKey.ts):
 * the new share A goes to the custodian as the device sends it at wallet
 * creation, under the owner's master key and the owner's own session.
 *
 * A hand-written client rather than @aws-sdk/client-kms: it is one operation,
 * it keeps the signer's dependencies to runtime packages, and it spends a
 * fraction of the SDK's per-call time on the release path.
 */
import type { DecisionAuditFields } from '../signing-policy/decisionAuditFields.js';
import { createHash, createHmac } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import { SignerError } from './errors.js';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface DecryptForRecipientRequest {
  credentials: AwsCredentials;
  ciphertextBlob: Uint8Array;
  encryptionContext: Record<string, string>;
  attestationDocument: Uint8Array;
  keyId?: string | undefined;
  /** A signature's decision and decoded facts, sent as SymbolonSigningDecision for the custodian's audit. */
  decision?: DecisionAuditFields | undefined;
  /**
   * `DryRun`: nothing is released; the custodian checks the request and records it (with `decision`)
   * in its audit log. The promise then resolves to an empty array.
   */
  dryRun?: boolean | undefined;
}

/** Response size cap: a CMS envelope of a 32-byte share is well under 1 KiB. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const SERVICE = 'kms';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET = 'TrentService.Decrypt';

export interface EncryptRequest {
  credentials: AwsCredentials;
  keyId: string;
  plaintext: Uint8Array;
  encryptionContext: Record<string, string>;
}

/** X-Amz-Date (yyyyMMddTHHmmssZ) of `ms`. */
export function amzDate(ms: number): string {
  const iso = new Date(ms).toISOString(); // yyyy-MM-ddTHH:mm:ss.sssZ
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/** The SigV4 signing key: HMAC chain ("AWS4" + secret, date, region, "kms", "aws4_request"). */
export function sigV4SigningKey(secretAccessKey: string, shortDate: string, region: string): Buffer {
  const kDate = createHmac('sha256', `AWS4${secretAccessKey}`).update(shortDate).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(SERVICE).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

/**
 * SigV4 headers for POST / with this body (header form; every header sent is
 * signed, content-length included); `signingKey` gives sigV4SigningKey() for a day.
 */
export function signDecryptRequest(o: {
  host: string;
  body: Buffer;
  credentials: AwsCredentials;
  region: string;
  now: number;
  signingKey: (shortDate: string) => Buffer;
  /** X-Amz-Target; default `TrentService.Decrypt`. */
  target?: string;
}): Record<string, string> {
  const date = amzDate(o.now);
  const shortDate = date.slice(0, 8);
  const bodyHash = createHash('sha256').update(o.body).digest('hex');
  // As the AWS SDKs send it (x-amz-content-sha256 included).
  const headers: Array<[string, string]> = [
    ['content-length', String(o.body.length)],
    ['content-type', CONTENT_TYPE],
    ['host', o.host],
    ['x-amz-content-sha256', bodyHash],
    ['x-amz-date', date],
    ...(o.credentials.sessionToken ? ([['x-amz-security-token', o.credentials.sessionToken]] as Array<[string, string]>) : []),
    ['x-amz-target', o.target ?? TARGET],
  ]; // sorted by name, as the canonical request needs
  const signedHeaders = headers.map(([k]) => k).join(';');
  const canonical = `POST\n/\n\n${headers.map(([k, v]) => `${k}:${v.trim()}\n`).join('')}\n${signedHeaders}\n${bodyHash}`;
  const scope = `${shortDate}/${o.region}/${SERVICE}/aws4_request`;
  const stringToSign = `AWS4-HMAC-SHA256\n${date}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  const signature = createHmac('sha256', o.signingKey(shortDate)).update(stringToSign).digest('hex');
  const out: Record<string, string> = Object.fromEntries(headers);
  out.authorization = `AWS4-HMAC-SHA256 Credential=${o.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}

export class KmsRecipientClient {
  readonly #endpoint: URL;
  readonly #origin: string;
  readonly #region: string;
  readonly #agent: Agent;
  /** base64 of the session's current attestation document (the same bytes for up to a minute): encoded once. */
  #documentBase64: { document: Uint8Array; base64: string } | undefined;
  /** The derived SigV4 signing key of a credential set (the same object while cached per token), for its day. */
  readonly #signingKeys = new WeakMap<AwsCredentials, { shortDate: string; key: Buffer }>();
  readonly #now: () => number;

  /**
   * @throws {RangeError} when `endpoint` is not an http(s) origin.
   */
  constructor(options: { endpoint: string; region: string; timeoutMs?: number; maxSockets?: number; now?: () => number }) {
    this.#endpoint = new URL(options.endpoint);
    if (this.#endpoint.protocol !== 'http:' && this.#endpoint.protocol !== 'https:') throw new RangeError('the KMS endpoint must be an http(s) URL');
    this.#origin = this.#endpoint.origin;
    this.#region = options.region;
    const timeout = options.timeoutMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    // undici's dispatcher (keep-alive pool per origin), with a handler that collects the body: a fraction of
    // node:http's client CPU per request (packages/sdk/src/node/nodeHttpFetch.ts has the measurements).
    this.#agent = new Agent({ connections: options.maxSockets ?? 64, headersTimeout: timeout, bodyTimeout: timeout });
  }

  #documentAsBase64(document: Uint8Array): string {
    const cached = this.#documentBase64;
    if (cached?.document === document) return cached.base64;
    const base64 = Buffer.from(document.buffer, document.byteOffset, document.byteLength).toString('base64');
    this.#documentBase64 = { document, base64 };
    return base64;
  }

  #signingKey(c: AwsCredentials, shortDate: string): Buffer {
    const cached = this.#signingKeys.get(c);
    if (cached?.shortDate === shortDate) return cached.key;
    const key = sigV4SigningKey(c.secretAccessKey, shortDate, this.#region);
    this.#signingKeys.set(c, { shortDate, key });
    return key;
  }

  /**
   * Calls Decrypt with Recipient and returns CiphertextForRecipient.
   * @throws {SignerError} `release_refused`, `share_ciphertext_invalid`,
   *   `attestation_refused` or `custodian_unavailable`.
   */
  async decryptForRecipient(r: DecryptForRecipientRequest): Promise<Uint8Array> {
    const body = Buffer.from(
      JSON.stringify({
        CiphertextBlob: Buffer.from(r.ciphertextBlob).toString('base64'),
        EncryptionContext: r.encryptionContext,
        ...(r.keyId ? { KeyId: r.keyId } : {}),
        Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: this.#documentAsBase64(r.attestationDocument) },
        // The signing decision this release is for, for the custodian's audit event (src/kms/signer-claims.ts).
        ...(r.decision ? { SymbolonSigningDecision: r.decision } : {}),
        ...(r.dryRun ? { DryRun: true } : {}),
      }),
    );
    const headers = signDecryptRequest({
      host: this.#endpoint.host,
      body,
      credentials: r.credentials,
      region: this.#region,
      now: this.#now(),
      signingKey: (shortDate) => this.#signingKey(r.credentials, shortDate),
    });
    const { status, json } = await this.#send(headers, body);
    if (status === 200) {
      const out = json as { CiphertextForRecipient?: unknown; Plaintext?: unknown };
      if (out.Plaintext !== undefined)
        throw new SignerError('custodian_unavailable', 'The custodian answered with plaintext instead of CiphertextForRecipient; refusing it.');
      if (typeof out.CiphertextForRecipient !== 'string')
        throw new SignerError('custodian_unavailable', 'The custodian response has no CiphertextForRecipient.');
      return new Uint8Array(Buffer.from(out.CiphertextForRecipient, 'base64'));
    }
    const type = String((json as { __type?: unknown })?.__type ?? '').replace(/^.*#/, '');
    // AWS's answer to a DryRun that would have succeeded.
    if (r.dryRun && type === 'DryRunOperationException') return new Uint8Array(0);
    switch (type) {
      case 'AccessDeniedException':
        throw new SignerError('release_refused', 'The custodian refused to release share A to this signer for this token (key policy).');
      case 'InvalidCiphertextException':
      case 'IncorrectKeyException':
        throw new SignerError(
          'share_ciphertext_invalid',
          'The custodian could not open shareACiphertext for this owner and address (wrong owner, wrong address, or altered).',
        );
      case 'ValidationException': {
        const message = String((json as { message?: unknown })?.message ?? '');
        if (message.startsWith('The attestation document')) {
          const reason = /\(([a-z_]+)\)/.exec(message)?.[1] ?? 'invalid';
          throw new SignerError('attestation_refused', `The custodian refused this signer's attestation (${reason}).`, { reason });
        }
        throw new SignerError('share_ciphertext_invalid', 'The custodian refused the release request as invalid (ValidationException).');
      }
      case 'KMSInvalidStateException':
        // The custodian's prefix for a retired split share (src/kms/share-generation.ts; the signer imports no service).
        if (String((json as { message?: unknown })?.message ?? '').startsWith('Share generation retired'))
          throw new SignerError(
            'share_generation_retired',
            "The custodian retired this share generation: a newer one was committed and used (read the wallet's current shares and retry).",
          );
        throw new SignerError('release_refused', `The custodian cannot use the owner's key (${type}).`);
      case 'NotFoundException':
      case 'DisabledException':
        throw new SignerError('release_refused', `The custodian cannot use the owner's key (${type}).`);
      case 'ExpiredTokenException':
      case 'UnrecognizedClientException':
      case 'InvalidSignatureException':
        throw new SignerError('credentials_unavailable', `The custodian did not accept the credentials (${type}).`);
      default:
        throw new SignerError('custodian_unavailable', `The custodian failed (HTTP ${status}${type ? `, ${type.slice(0, 64)}` : ''}).`);
    }
  }

  /**
   * Calls Encrypt (the owner's credentials, the owner's master key) and returns the CiphertextBlob.
   * The plaintext is a share: the request body that carries it is wiped once sent.
   * @throws {SignerError} `release_refused`, `credentials_unavailable` or `custodian_unavailable`.
   */
  async encrypt(r: EncryptRequest): Promise<Uint8Array> {
    const body = Buffer.from(
      JSON.stringify({
        KeyId: r.keyId,
        Plaintext: Buffer.from(r.plaintext.buffer, r.plaintext.byteOffset, r.plaintext.byteLength).toString('base64'),
        EncryptionContext: r.encryptionContext,
      }),
    );
    let result: { status: number; json: unknown };
    try {
      const headers = signDecryptRequest({
        host: this.#endpoint.host,
        body,
        credentials: r.credentials,
        region: this.#region,
        now: this.#now(),
        signingKey: (shortDate) => this.#signingKey(r.credentials, shortDate),
        target: 'TrentService.Encrypt',
      });
      result = await this.#send(headers, body);
    } finally {
      body.fill(0);
    }
    const { status, json } = result;
    if (status === 200) {
      const blob = (json as { CiphertextBlob?: unknown }).CiphertextBlob;
      if (typeof blob !== 'string' || blob.length === 0) throw new SignerError('custodian_unavailable', 'The custodian response has no CiphertextBlob.');
      return new Uint8Array(Buffer.from(blob, 'base64'));
    }
    const type = String((json as { __type?: unknown })?.__type ?? '').replace(/^.*#/, '');
    switch (type) {
      case 'AccessDeniedException':
      case 'NotFoundException':
      case 'DisabledException':
      case 'KMSInvalidStateException':
        throw new SignerError('release_refused', `The custodian refused to encrypt the new share A under the owner's key (${type}).`);
      case 'ExpiredTokenException':
      case 'UnrecognizedClientException':
      case 'InvalidSignatureException':
        throw new SignerError('credentials_unavailable', `The custodian did not accept the credentials (${type}).`);
      default:
        throw new SignerError('custodian_unavailable', `The custodian failed (HTTP ${status}${type ? `, ${type.slice(0, 64)}` : ''}).`);
    }
  }

  #send(headers: Record<string, string>, body: Buffer): Promise<{ status: number; json: unknown }> {
    return new Promise((resolve, reject) => {
      let status = 0;
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      const fail = (e: SignerError) => {
        if (failed) return;
        failed = true;
        reject(e);
      };
      const handler: Dispatcher.DispatchHandler = {
        // undici tells its handler APIs apart by this method (without it, it expects the older onConnect/onHeaders API).
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(controller, chunk) {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            fail(new SignerError('custodian_unavailable', 'The custodian response is too large.'));
            controller.abort(new RangeError('response too large'));
            return;
          }
          chunks.push(chunk);
        },
        onResponseEnd() {
          if (failed) return;
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
          } catch {
            fail(new SignerError('custodian_unavailable', `The custodian answered HTTP ${status} without a JSON body.`));
            return;
          }
          failed = true;
          resolve({ status, json });
        },
        onResponseError(_controller, e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (status !== 0) fail(new SignerError('custodian_unavailable', 'The custodian connection failed.'));
          else fail(new SignerError('custodian_unavailable', `The custodian could not be reached (${code ?? e.message.slice(0, 40)}).`));
        },
      };
      this.#agent.dispatch({ origin: this.#origin, path: '/', method: 'POST', headers, body }, handler);
    });
  }

  close(): void {
    void this.#agent.destroy().catch(() => undefined);
  }
}
