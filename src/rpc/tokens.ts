/**
 * API tokens of the JSON-RPC signer: `symrpc_` + 43 base64url characters
 * (256 random bits), bound to one IAM user, shown once and stored only as
 * SHA-256 (src/storage/rpc-tokens.repository.ts). A fast hash is enough: a
 * 256-bit random token cannot be guessed, so there is no low-entropy secret for
 * a slow hash (bcrypt, scrypt) to protect, and the lookup stays one indexed read.
 * RpcTokenAuthenticator turns `Authorization: Bearer TOKEN` into the same
 * `Caller` an access key of that user yields (src/aws/access-key-source.ts):
 * the user's ARN, name and tags, with the token's id as `accessKeyId`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Caller } from '../aws/context.js';
import type { Store } from '../storage/database.js';
import { findRpcTokenByHash } from '../storage/rpc-tokens.repository.js';
import { findUser } from '../storage/iam.repository.js';

export const TOKEN_PREFIX = 'symrpc_';
const TOKEN_RE = /^symrpc_[A-Za-z0-9_-]{43}$/;

/** A new token and its id (the id is public: it names the token in lists, revocation and the audit log). */
export function newRpcToken(): { token: string; tokenId: string; sha256: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, tokenId: `rpct-${randomBytes(8).toString('hex')}`, sha256: tokenSha256(token) };
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Why a request could not be attributed to a live token. `caller` is set when the token is known (revoked). */
export class RpcAuthError extends Error {
  override name = 'RpcAuthError';
  constructor(
    message: string,
    readonly reason: 'MissingToken' | 'UnknownToken' | 'RevokedToken',
    readonly caller?: Caller,
  ) {
    super(message);
  }
}

interface Entry {
  caller: Caller;
  revoked: boolean;
  expires: number;
}

export class RpcTokenAuthenticator {
  readonly #store: Store;
  readonly #accountId: string;
  readonly #tagsFor: (userName: string) => Promise<Record<string, string>>;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, Entry>();

  /** @param options.ttlMs how long a looked-up token is trusted before it is read again: bounds how long another process's revocation takes. */
  constructor(options: { store: Store; accountId: string; tagsFor: (userName: string) => Promise<Record<string, string>>; ttlMs?: number }) {
    this.#store = options.store;
    this.#accountId = options.accountId;
    this.#tagsFor = options.tagsFor;
    this.#ttlMs = options.ttlMs ?? 5_000;
  }

  /**
   * @param authorization the Authorization header as received.
   * @throws {RpcAuthError} without a well-formed bearer token, for an unknown one, a revoked one, or one whose user is gone.
   */
  async authenticate(authorization: string | undefined, now: number): Promise<Caller> {
    const m = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    if (!m) throw new RpcAuthError('An API token is required: Authorization: Bearer TOKEN (symbolon admin create-rpc-token).', 'MissingToken');
    const token = m[1]!;
    if (!TOKEN_RE.test(token)) throw new RpcAuthError('The API token is not valid.', 'UnknownToken');
    const hash = tokenSha256(token);
    let entry = this.#cache.get(hash);
    if (!entry || entry.expires <= now) {
      const row = await findRpcTokenByHash(this.#store.db, hash);
      const user = row ? await findUser(this.#store.db, row.userName) : undefined;
      if (!row || !user || user.arn !== row.principalArn) {
        this.#cache.delete(hash);
        throw new RpcAuthError('The API token is not valid.', 'UnknownToken');
      }
      const caller: Caller = {
        accountId: this.#accountId,
        arn: row.principalArn,
        userName: row.userName,
        accessKeyId: row.tokenId,
        tags: await this.#tagsFor(row.userName),
      };
      entry = { caller, revoked: row.revokedAt !== null, expires: now + this.#ttlMs };
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(hash, entry);
    }
    if (entry.revoked) throw new RpcAuthError('The API token has been revoked.', 'RevokedToken', entry.caller);
    return entry.caller;
  }

  /** Forgets a token at once in this process (after it is revoked here). */
  forget(tokenId: string): void {
    for (const [k, e] of this.#cache) if (e.caller.accessKeyId === tokenId) this.#cache.delete(k);
  }
}
