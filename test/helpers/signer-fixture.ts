/**
 * A split-key world for the signer's tests and benchmark, all real parts: a
 * custodian on a random loopback port (startTestServer), a minimal OIDC issuer
 * on loopback (jose, ES256, discovery + JWKS) that the custodian's STS and the
 * signer both trust, an IAM role the owners' tokens assume, one master key per
 * owner whose key policy is the wallet's (src/wallet/master-key-policy.ts)
 * plus "Decrypt only to a signer with this ImageSha384", and the device side
 * of a split (key, share A = random, share B = key XOR A; share A encrypted
 * by the owner's own session under `{ sub, address }`). Signers are launched
 * by the real platform (src/signer/platform.ts) as child processes; every log
 * line of the custodian and of the signers is kept for leak checks.
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type CryptoKey as JoseKey } from 'jose';
import { STSClient, AssumeRoleWithWebIdentityCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { IAMClient, CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { KMSClient, CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { startTestServer, ADMIN, REGION, type TestServer } from './server.js';
import { generatePrivateKey, getPublicKey } from '../../src/crypto/secp256k1.js';
import { publicKeyToAddress } from '../../src/eth/publicKeyToAddress.js';
import { masterKeyPolicy } from '../../src/wallet/master-key-policy.js';
import { launchSigner, type LaunchSignerOptions, type SignerProcess } from '../../src/signer/platform.js';
import { measureSignerImage } from '../../src/signer/measure.js';
import type { SignerCredentialsConfig } from '../../src/signer/child-config.js';
import type { PlatformKey } from '../../src/attestation/platform-key.js';
import { walletUsersRoleArn } from '../../src/iam/roles/wallet-users-role.js';
import type { TrustedIssuer } from '../../src/identity/trusted-issuer.js';

export const AUDIENCE = 'symbolon-signer-test';
export const ROLE_NAME = 'signer-test-owners';

export interface Issuer {
  url: string;
  /** `iat` (seconds) and extra `claims` (e.g. auth_time, amr) for step-up checks. */
  mint(sub: string, options?: { exp?: number; aud?: string; key?: JoseKey; iat?: number; claims?: Record<string, unknown> }): Promise<string>;
  close(): Promise<void>;
}

/** A minimal OIDC issuer: discovery and JWKS over loopback HTTP, ES256 tokens. */
export async function startIssuer(): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = `k-${randomBytes(4).toString('hex')}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  let url = '';
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration')
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ['ES256'] }));
    else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwk] }));
    else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async mint(sub, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ email: `${sub}@example.test`, ...options.claims })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setSubject(sub)
        .setIssuer(url)
        .setAudience(options.aud ?? AUDIENCE)
        .setIssuedAt(options.iat ?? now)
        .setExpirationTime(options.exp ?? now + 3600)
        .sign(options.key ?? privateKey);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export interface SplitWallet {
  sub: string;
  address: `0x${string}`;
  keyId: string;
  /** What the device keeps for the test's checks (a real device wipes these). */
  privateKey: Uint8Array;
  shareA: Uint8Array;
  shareB: Uint8Array;
  shareACiphertext: Uint8Array;
}

export interface LaunchedSigner extends SignerProcess {
  /** Every line the signer process wrote (stdout and stderr). */
  lines: string[];
}

export interface SplitFixture {
  server: TestServer;
  issuer: Issuer;
  accountId: string;
  roleArn: string;
  /** ImageSha384 of this repository's signer: what the master keys' policies require. */
  imageSha384: string;
  /** Every custodian log line (level trace). */
  custodianLines: string[];
  /** Every secret the fixture made (shares, keys, tokens), for leak checks. */
  secrets: Set<string>;
  token(sub: string, options?: { exp?: number }): Promise<string>;
  /** `statements`: extra key policy statements for the owner's master key (set at creation: the policy denies later changes). */
  createWallet(sub: string, options?: { requireImageSha384?: string; statements?: unknown[] }): Promise<SplitWallet>;
  launch(
    options?: Partial<Omit<LaunchSignerOptions, 'config'>> & {
      credentials?: SignerCredentialsConfig;
      platformKey?: PlatformKey;
      logLevel?: string;
      exportEnabled?: boolean;
    },
  ): Promise<LaunchedSigner>;
  close(): Promise<void>;
}

function lineCollector(lines: string[]): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop()!;
      lines.push(...parts.filter(Boolean));
      cb();
    },
    final(cb) {
      if (partial) lines.push(partial);
      cb();
    },
  });
}

/** Records every encoding of a secret a log line might carry. */
function remember(secrets: Set<string>, bytes: Uint8Array): void {
  const b = Buffer.from(bytes);
  secrets.add(b.toString('hex'));
  secrets.add(b.toString('base64'));
  secrets.add(b.toString('base64').replace(/=+$/, ''));
  secrets.add(b.toString('base64url'));
}

/** True when STS answers on the custodian (GetCallerIdentity). */
async function stsAnswers(endpoint: string): Promise<boolean> {
  const sts = new STSClient({ endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  try {
    await sts.send(new GetCallerIdentityCommand({}));
    return true;
  } catch {
    return false;
  } finally {
    sts.destroy();
  }
}

/**
 * Starts the custodian and the issuer and creates the owners' role.
 * @throws when STS is not served by the custodian (the caller gates on `stsPresent` first).
 */
export async function startSplitFixture(options: { env?: Record<string, string> } = {}): Promise<SplitFixture> {
  const issuer = await startIssuer();
  const custodianLines: string[] = [];
  const server = await startTestServer({
    env: {
      SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: issuer.url, audiences: [AUDIENCE], algorithms: ['ES256'] }]),
      SYMBOLON_BUILTIN_ISSUER: '0',
      ...options.env,
    },
    logger: pino({ level: 'trace' }, lineCollector(custodianLines)),
  });
  const accountId = server.custodian.accountId;
  const clients: Array<{ destroy(): void }> = [];
  const signers: LaunchedSigner[] = [];
  const secrets = new Set<string>();
  if (!(await stsAnswers(server.endpoint))) {
    await server.close();
    await issuer.close();
    throw new Error('STS is not served by the custodian');
  }

  const iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  const admin = server.kms();
  clients.push(iam);
  const roleArn = await createOwnersRole(iam, accountId, issuer.url);
  const imageSha384 = measureSignerImage().imageSha384;

  async function token(sub: string, o: { exp?: number } = {}): Promise<string> {
    const t = await issuer.mint(sub, o);
    secrets.add(t);
    secrets.add(t.split('.')[2]!);
    return t;
  }

  return {
    server,
    issuer,
    accountId,
    roleArn,
    imageSha384,
    custodianLines,
    secrets,
    token,
    async createWallet(sub, o = {}) {
      const wallet = await createSplitWallet({
        endpoint: server.endpoint,
        admin,
        accountId,
        issuer: issuer.url,
        roleArn,
        sub,
        token: await token(sub),
        imageSha384: o.requireImageSha384 ?? imageSha384,
        ...(o.statements ? { statements: o.statements } : {}),
      });
      for (const s of [wallet.privateKey, wallet.shareA, wallet.shareB]) remember(secrets, s);
      return wallet;
    },
    async launch(o = {}) {
      const lines: string[] = [];
      const signer = await launchSigner({
        platformKey: o.platformKey ?? server.custodian.platformKey,
        stdio: 'pipe',
        ...(o.sourceRoot ? { sourceRoot: o.sourceRoot } : {}),
        ...(o.modulesRoot ? { modulesRoot: o.modulesRoot } : {}),
        ...(o.now ? { now: o.now } : {}),
        config: {
          host: '127.0.0.1',
          port: 0,
          logLevel: o.logLevel ?? 'trace',
          region: REGION,
          kmsEndpoint: server.endpoint,
          credentials: o.credentials ?? { mode: 'web-identity', roleArn },
          issuers: [{ issuer: issuer.url, audiences: [AUDIENCE], algorithms: ['ES256'] }],
          ...(o.exportEnabled !== undefined ? { exportEnabled: o.exportEnabled } : {}),
        },
      });
      signer.stdout?.pipe(lineCollector(lines));
      signer.stderr?.pipe(lineCollector(lines));
      const launched = Object.assign(signer, { lines });
      signers.push(launched);
      return launched;
    },
    async close() {
      for (const s of signers) await s.stop();
      for (const c of clients) c.destroy();
      await server.close();
      await issuer.close();
    },
  };
}

/** An owner's master key policy: the wallet's (src/wallet/master-key-policy.ts), plus Decrypt only to a signer with this ImageSha384. */
export function ownerKeyPolicy(accountId: string, issuer: string, sub: string, imageSha384: string, statements: unknown[] = []): string {
  const root = `arn:aws:iam::${accountId}:root`;
  // A variable, not a literal: the builder's input gained `issuer` (sessions are tagged with iss as well as sub).
  const input = { accountId, issuer, sub, walletServicePrincipalArn: root };
  const policy = JSON.parse(masterKeyPolicy(input)) as { Statement: unknown[] };
  policy.Statement.push(
    { Sid: 'AdminManages', Effect: 'Allow', Principal: { AWS: root }, Action: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy'], Resource: '*' },
    {
      Sid: 'DecryptOnlyToTheSigner',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:Decrypt',
      Resource: '*',
      // A negated operator also matches a request with no attestation at all: a plain Decrypt is refused.
      Condition: { StringNotEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': imageSha384 } },
    },
    ...statements,
  );
  return JSON.stringify(policy);
}

/**
 * Creates the owner's master key (as the administrator) and does what the
 * device does: make a key, split it, and send share A straight to the
 * custodian, encrypted under the owner's own STS session with `{ sub, address }`.
 */
export async function createSplitWallet(o: {
  endpoint: string;
  admin: KMSClient;
  accountId: string;
  issuer: string;
  roleArn: string;
  sub: string;
  token: string;
  imageSha384: string;
  statements?: unknown[];
}): Promise<SplitWallet> {
  const key = await o.admin.send(
    new CreateKeyCommand({
      Policy: ownerKeyPolicy(o.accountId, o.issuer, o.sub, o.imageSha384, o.statements),
      BypassPolicyLockoutSafetyCheck: true,
      Description: 'owner master key',
    }),
  );
  const keyId = key.KeyMetadata!.KeyId!;
  const privateKey = generatePrivateKey();
  const address = publicKeyToAddress(getPublicKey(privateKey));
  const shareA = new Uint8Array(randomBytes(32));
  const shareB = privateKey.map((b, i) => b ^ shareA[i]!);
  const sts = new STSClient({ endpoint: o.endpoint, region: REGION, maxAttempts: 1 });
  let owner: KMSClient | undefined;
  try {
    const session = await sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: o.roleArn, RoleSessionName: 'device', WebIdentityToken: o.token }));
    const c = session.Credentials!;
    owner = new KMSClient({
      endpoint: o.endpoint,
      region: REGION,
      credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! },
      maxAttempts: 1,
    });
    const enc = await owner.send(new EncryptCommand({ KeyId: keyId, Plaintext: shareA, EncryptionContext: { sub: o.sub, address } }));
    return { sub: o.sub, address, keyId, privateKey, shareA, shareB, shareACiphertext: enc.CiphertextBlob! };
  } finally {
    sts.destroy();
    owner?.destroy();
  }
}

/** Creates the role owners' tokens assume: trusts `issuerUrl` for `AUDIENCE`; may Encrypt/Decrypt under its own `sub`. */
export async function createOwnersRole(iam: IAMClient, accountId: string, issuerUrl: string, roleName = ROLE_NAME): Promise<string> {
  const provider = issuerUrl.replace(/^https?:\/\//, '');
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Federated: `arn:aws:iam::${accountId}:oidc-provider/${provider}` },
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: { StringEquals: { [`${provider}:aud`]: AUDIENCE } },
          },
        ],
      }),
    }),
  );
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: roleName,
      PolicyName: 'own-keys',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['kms:Encrypt', 'kms:Decrypt'],
            Resource: '*',
            Condition: { StringEquals: { 'kms:EncryptionContext:sub': '${aws:PrincipalTag/sub}' } },
          },
        ],
      }),
    }),
  );
  return role.Role!.Arn!;
}

/** POST /v1/sign and the decoded answer. */
export async function postSign(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/sign`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

/** The body of a sign request for `wallet` (share B and share A's ciphertext as base64). */
export function signBody(wallet: SplitWallet, token: string, payload: unknown, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    payload,
    address: wallet.address,
    shareB: Buffer.from(wallet.shareB).toString('base64'),
    shareACiphertext: Buffer.from(wallet.shareACiphertext).toString('base64'),
    token,
    ...overrides,
  };
}

/**
 * Launches the signer as `serve --role all` does (src/server/signer-launcher.ts):
 * a child process attested by the custodian's platform key, with web-identity
 * credentials for the wallet-users role and the custodian's own issuers.
 */
export function launchCustodianSigner(server: TestServer, logLevel: 'trace' | 'warn' = 'warn'): Promise<SignerProcess> {
  return launchSigner({
    platformKey: server.custodian.platformKey,
    stdio: 'pipe',
    config: {
      host: '127.0.0.1',
      port: 0,
      logLevel,
      region: REGION,
      kmsEndpoint: server.endpoint,
      credentials: { mode: 'web-identity', roleArn: walletUsersRoleArn(server.custodian.accountId) },
      issuers: JSON.parse(JSON.stringify(server.custodian.identity.trustedIssuers('custodian'))) as TrustedIssuer[],
    },
  });
}
