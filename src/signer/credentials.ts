/**
 * How the signer obtains credentials for the custodian on behalf of the
 * token's owner:
 *
 *  - `web-identity` (the design): STS AssumeRoleWithWebIdentity (AWS STS API
 *    Reference) at the custodian, with the owner's OIDC token, through
 *    @aws-sdk/client-sts's AssumeRoleWithWebIdentityCommand. The temporary
 *    credentials are tagged with the token's `sub`, which is what the owner's
 *    key policy tests, so a release happens only with that owner's token.
 *    They are cached per whole token (keyed by its SHA-256, never the token
 *    itself) until the earlier of their expiry and the token's, less a margin.
 *  - `static`: fixed credentials from configuration, for deployments (and
 *    tests) without STS; the signer still verifies every token itself, but the
 *    custodian then cannot tell one owner's release from another's.
 */
import { createHash } from 'node:crypto';
import { SignerError } from './errors.js';
import type { AwsCredentials } from './kms-client.js';

export interface CredentialSource {
  readonly mode: 'web-identity' | 'static';
  /**
   * @param tokenExp the verified token's `exp` (seconds since the epoch).
   * @throws {SignerError} `credentials_unavailable`.
   */
  forToken(token: string, tokenExp: number): Promise<AwsCredentials>;
  close(): void;
}

/** Fixed credentials (see the module header for what this gives up). */
export function staticCredentials(credentials: AwsCredentials): CredentialSource {
  return {
    mode: 'static',
    async forToken() {
      return credentials;
    },
    close() {},
  };
}

/** Seconds before expiry at which cached credentials are no longer handed out. */
const EXPIRY_MARGIN_MS = 30_000;
const MAX_CACHED = 10_000;

interface StsLike {
  send(command: unknown): Promise<{ Credentials?: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date } }>;
  destroy(): void;
}

/**
 * STS AssumeRoleWithWebIdentity against `endpoint` (the custodian).
 * @throws {RangeError} when the role ARN is not an IAM role ARN.
 */
export function webIdentityCredentials(options: {
  endpoint: string;
  region: string;
  roleArn: string;
  durationSeconds?: number;
  now?: () => number;
}): CredentialSource {
  if (!/^arn:aws:iam::\d{12}:role\/[\w+=,.@\-/]{1,512}$/.test(options.roleArn)) throw new RangeError('the signer role ARN must be an IAM role ARN');
  const now = options.now ?? Date.now;
  const cache = new Map<string, { credentials: AwsCredentials; until: number }>();
  const pending = new Map<string, Promise<AwsCredentials>>();
  let client: Promise<{ sts: StsLike; Command: new (input: object) => unknown }> | undefined;

  function load() {
    client ??= import('@aws-sdk/client-sts').then(({ STSClient, AssumeRoleWithWebIdentityCommand }) => ({
      // AssumeRoleWithWebIdentity is unsigned: the token is the credential.
      sts: new STSClient({
        endpoint: options.endpoint,
        region: options.region,
        maxAttempts: 1,
        credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
      }) as unknown as StsLike,
      Command: AssumeRoleWithWebIdentityCommand as unknown as new (input: object) => unknown,
    }));
    return client;
  }

  async function assume(token: string, id: string, tokenExp: number): Promise<AwsCredentials> {
    const { sts, Command } = await load();
    let out;
    try {
      out = await sts.send(
        new Command({
          RoleArn: options.roleArn,
          RoleSessionName: `symbolon-signer-${id.slice(0, 16)}`,
          WebIdentityToken: token,
          DurationSeconds: options.durationSeconds ?? 900,
        }),
      );
    } catch (e) {
      const name = (e as { name?: string }).name ?? 'Error';
      throw new SignerError('credentials_unavailable', `STS refused AssumeRoleWithWebIdentity for this token (${name.slice(0, 64)}).`);
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new SignerError('credentials_unavailable', 'STS returned no credentials.');
    const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
    const until = Math.min(c.Expiration ? c.Expiration.getTime() : now() + 900_000, tokenExp * 1000) - EXPIRY_MARGIN_MS;
    if (until > now()) {
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(id, { credentials, until });
    }
    return credentials;
  }

  return {
    mode: 'web-identity',
    async forToken(token, tokenExp) {
      const id = createHash('sha256').update(token).digest('hex');
      const hit = cache.get(id);
      if (hit && hit.until > now()) return hit.credentials;
      if (hit) cache.delete(id);
      // Concurrent requests with one token share one STS call.
      let p = pending.get(id);
      if (!p) {
        p = assume(token, id, tokenExp).finally(() => pending.delete(id));
        pending.set(id, p);
      }
      return p;
    },
    close() {
      void client?.then(({ sts }) => sts.destroy());
    },
  };
}
