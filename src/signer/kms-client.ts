/**
 * The one KMS call the signer makes: `Decrypt` with `Recipient` (AWS KMS API
 * Reference, Decrypt; JSON 1.1 over HTTP, SigV4-signed with @smithy's
 * SignatureV4, which the AWS SDKs use), over keep-alive connections. Its
 * response carries `CiphertextForRecipient`, never `Plaintext`; a response
 * with `Plaintext` is refused, since it would mean share A crossed the network
 * in the clear.
 *
 * A hand-written client rather than @aws-sdk/client-kms: it is one operation,
 * it keeps the signer's dependencies to runtime packages, and it spends a
 * fraction of the SDK's per-call time on the release path.
 */
import http from 'node:http';
import https from 'node:https';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
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
}

/** Response size cap: a CMS envelope of a 32-byte share is well under 1 KiB. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export class KmsRecipientClient {
  readonly #endpoint: URL;
  readonly #region: string;
  readonly #agent: http.Agent;
  readonly #timeoutMs: number;
  readonly #signers = new Map<string, SignatureV4>();

  /**
   * @throws {RangeError} when `endpoint` is not an http(s) origin.
   */
  constructor(options: { endpoint: string; region: string; timeoutMs?: number; maxSockets?: number }) {
    this.#endpoint = new URL(options.endpoint);
    if (this.#endpoint.protocol !== 'http:' && this.#endpoint.protocol !== 'https:') throw new RangeError('the KMS endpoint must be an http(s) URL');
    this.#region = options.region;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    const Agent = this.#endpoint.protocol === 'https:' ? https.Agent : http.Agent;
    this.#agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  }

  #signer(c: AwsCredentials): SignatureV4 {
    // One SignatureV4 per credential set: it caches the derived signing key.
    const id = `${c.accessKeyId}\u0000${c.sessionToken ?? ''}`;
    let s = this.#signers.get(id);
    if (!s) {
      if (this.#signers.size >= 10_000) this.#signers.clear();
      s = new SignatureV4({ credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) }, region: this.#region, service: 'kms', sha256: Hash.bind(null, 'sha256') });
      this.#signers.set(id, s);
    }
    return s;
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
        Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: Buffer.from(r.attestationDocument).toString('base64') },
      }),
    );
    const url = this.#endpoint;
    const request = new HttpRequest({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: '/',
      headers: {
        host: url.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'TrentService.Decrypt',
        'content-length': String(body.length),
      },
      body,
    });
    const signed = (await this.#signer(r.credentials).sign(request)) as HttpRequest;
    const { status, json } = await this.#send(signed.headers as Record<string, string>, body);
    if (status === 200) {
      const out = json as { CiphertextForRecipient?: unknown; Plaintext?: unknown };
      if (out.Plaintext !== undefined) throw new SignerError('custodian_unavailable', 'The custodian answered with plaintext instead of CiphertextForRecipient; refusing it.');
      if (typeof out.CiphertextForRecipient !== 'string') throw new SignerError('custodian_unavailable', 'The custodian response has no CiphertextForRecipient.');
      return new Uint8Array(Buffer.from(out.CiphertextForRecipient, 'base64'));
    }
    const type = String((json as { __type?: unknown })?.__type ?? '').replace(/^.*#/, '');
    switch (type) {
      case 'AccessDeniedException':
        throw new SignerError('release_refused', 'The custodian refused to release share A to this signer for this token (key policy).');
      case 'InvalidCiphertextException':
      case 'IncorrectKeyException':
        throw new SignerError('share_ciphertext_invalid', 'The custodian could not open shareACiphertext for this owner and address (wrong owner, wrong address, or altered).');
      case 'ValidationException': {
        const message = String((json as { message?: unknown })?.message ?? '');
        if (message.startsWith('The attestation document')) {
          const reason = /\(([a-z_]+)\)/.exec(message)?.[1] ?? 'invalid';
          throw new SignerError('attestation_refused', `The custodian refused this signer's attestation (${reason}).`, { reason });
        }
        throw new SignerError('share_ciphertext_invalid', 'The custodian refused the release request as invalid (ValidationException).');
      }
      case 'NotFoundException':
      case 'DisabledException':
      case 'KMSInvalidStateException':
        throw new SignerError('release_refused', `The custodian cannot use the owner's key (${type}).`);
      case 'ExpiredTokenException':
      case 'UnrecognizedClientException':
      case 'InvalidSignatureException':
        throw new SignerError('credentials_unavailable', `The custodian did not accept the credentials (${type}).`);
      default:
        throw new SignerError('custodian_unavailable', `The custodian failed (HTTP ${status}${type ? `, ${type.slice(0, 64)}` : ''}).`);
    }
  }

  #send(headers: Record<string, string>, body: Buffer): Promise<{ status: number; json: unknown }> {
    const url = this.#endpoint;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        { method: 'POST', hostname: url.hostname, port: url.port || undefined, path: '/', headers, agent: this.#agent, timeout: this.#timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy();
              reject(new SignerError('custodian_unavailable', 'The custodian response is too large.'));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            let json: unknown;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              reject(new SignerError('custodian_unavailable', `The custodian answered HTTP ${res.statusCode} without a JSON body.`));
              return;
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
          res.on('error', () => reject(new SignerError('custodian_unavailable', 'The custodian connection failed.')));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => reject(new SignerError('custodian_unavailable', `The custodian could not be reached (${(e as NodeJS.ErrnoException).code ?? e.message.slice(0, 40)}).`)));
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
