/**
 * Turns a SigV4-signed request into a Caller: parse the Authorization header,
 * check scope and clock skew, find the credential, verify the signature.
 * Credentials come from CredentialSources (long-term access keys here; STS
 * session credentials add a source), tried in order.
 */
import { expiredToken, invalidSignature, unrecognizedClient } from './errors.js';
import type { Caller } from './context.js';
import { checkScope, parseSigV4, SigV4Verifier, type SignedRequest } from './sigv4.js';

/** A credential as the verifier needs it, with who it belongs to. */
export interface ResolvedCredential {
  secretAccessKey: string;
  sessionToken?: string | undefined;
  /** When temporary credentials stop working (ms since the epoch); cached copies honour it. */
  expiresAt?: number | undefined;
  caller: Caller;
}

export interface CredentialSource {
  /**
   * Finds the credential for an access key id, or undefined if this source does
   * not know it. May throw an AwsError (e.g. ExpiredTokenException).
   */
  lookup(accessKeyId: string, sessionToken: string | undefined, now: number): Promise<ResolvedCredential | undefined>;
}

interface CacheEntry {
  credential: ResolvedCredential;
  verifier: SigV4Verifier;
  expires: number;
}

export class Authenticator {
  readonly #sources: CredentialSource[];
  readonly #regions: readonly string[];
  readonly #cache = new Map<string, CacheEntry>();
  readonly #ttlMs: number;
  readonly #acceptsHost: ((host: string) => boolean) | undefined;

  /**
   * @param options.cacheTtlMs how long a verified credential is reused before it
   *   is looked up again; bounds how long a deleted key keeps working in other processes.
   * @param options.acceptsHost whether a (signed) Host header names this server
   *   (src/server/allowed-hosts.ts); every host is accepted without it.
   */
  constructor(options: { sources: CredentialSource[]; regions: readonly string[]; cacheTtlMs?: number; acceptsHost?: (host: string) => boolean }) {
    this.#sources = options.sources;
    this.#regions = options.regions;
    this.#ttlMs = options.cacheTtlMs ?? 5_000;
    this.#acceptsHost = options.acceptsHost;
  }

  /**
   * @param host the request's Host header (`host[:port]`); SigV4 requires it signed.
   * @throws {AwsError} MissingAuthenticationToken, IncompleteSignature, InvalidSignature (also for a
   *   Host that does not name this server), UnrecognizedClient, ExpiredToken.
   */
  async authenticate(req: SignedRequest, service: string, now: number, host: string): Promise<Caller> {
    const claim = parseSigV4(req);
    checkScope(claim, { regions: this.#regions, service, now });
    // The credential scope binds region and service; only the Host binds the server (issue #12, item 13).
    if (this.#acceptsHost && !this.#acceptsHost(host)) throw invalidSignature('The Host header does not name this server.');
    const cacheKey = `${claim.accessKeyId}\u0000${claim.sessionToken ?? ''}\u0000${claim.region}\u0000${service}`;
    let entry = this.#cache.get(cacheKey);
    if (!entry || entry.expires <= now) {
      let credential: ResolvedCredential | undefined;
      for (const source of this.#sources) {
        credential = await source.lookup(claim.accessKeyId, claim.sessionToken, now);
        if (credential) break;
      }
      if (!credential) {
        this.#cache.delete(cacheKey);
        throw unrecognizedClient('The security token included in the request is invalid.');
      }
      const verifier = new SigV4Verifier(
        { accessKeyId: claim.accessKeyId, secretAccessKey: credential.secretAccessKey, sessionToken: credential.sessionToken },
        claim.region,
        service,
      );
      entry = { credential, verifier, expires: Math.min(now + this.#ttlMs, credential.expiresAt ?? Infinity) };
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(cacheKey, entry);
    }
    if (entry.credential.expiresAt !== undefined && entry.credential.expiresAt <= now) {
      this.#cache.delete(cacheKey);
      throw expiredToken('The security token included in the request is expired');
    }
    await entry.verifier.verify(req, claim);
    return entry.credential.caller;
  }

  /** Forgets cached credentials for an access key (after it is deleted or deactivated here). */
  forget(accessKeyId: string): void {
    for (const k of this.#cache.keys()) if (k.startsWith(`${accessKeyId}\u0000`)) this.#cache.delete(k);
  }
}
