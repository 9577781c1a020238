/**
 * Wiring of the signer role into `symbolon serve`:
 *  - setUpRecipientAttestation: the custodian's side, at start-up — load (or
 *    create, alongside the root key) the embedded platform key, and build the
 *    `Recipient` verifier trusting SYMBOLON_ATTESTATION_TRUSTED_KEYS plus, by
 *    default, the embedded platform key;
 *  - startSignerChild: `--role all` — the server process is the platform and
 *    forks the signer as a child process (never inside the wallet service's
 *    or the custodian's process); unless configured otherwise, the signer
 *    assumes the custodian's `symbolon-wallet-users` role with each owner's
 *    token (src/iam/roles/wallet-users-role.ts), as the owner's device would;
 *  - runSignerRole: `--role signer` — this process is only the platform (key
 *    from a 0600 key file) and forks the signer. Platform and signer are then
 *    one process tree on one machine: the OS process boundary is the only
 *    isolation (docs/signer.md).
 */
import { join } from 'node:path';
import pino from 'pino';
import type { Kysely } from 'kysely';
import type { ServerConfig } from '../config.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import type { Tables } from '../storage/tables.js';
import type { TrustedIssuer } from '../identity/trusted-issuer.js';
import { loadTrustedIssuers } from '../identity/issuers-config.js';
import { walletUsersRoleArn } from '../iam/roles/wallet-users-role.js';
import {
  encodeTrustedKey,
  loadOrCreatePlatformKeyFile,
  loadOrCreateStoredPlatformKey,
  parseTrustedKeys,
  type PlatformKey,
} from '../attestation/platform-key.js';
import { RecipientAttestation } from '../attestation/recipient-attestation.js';
import type { SignerCredentialsConfig } from '../signer/child-config.js';
import { launchSigner, type PlatformLogger, type SignerProcess } from '../signer/platform.js';
import type { AttestationSettings, SignerSettings } from '../signer/settings.js';

/**
 * Loads the embedded platform key and builds the `Recipient` verifier (it goes into KmsDeps.recipientAttestation).
 * @throws {SealedBoxError} when the stored platform key does not open under `root`.
 */
export async function setUpRecipientAttestation(options: {
  db: Kysely<Tables>;
  root: RootOfTrust;
  settings: AttestationSettings;
}): Promise<{ platformKey: PlatformKey; verifier: RecipientAttestation }> {
  const platformKey = await loadOrCreateStoredPlatformKey(options.db, options.root);
  const trustedKeys = [...parseTrustedKeys(options.settings.trustedKeys), ...(options.settings.trustEmbedded ? [platformKey.spki] : [])];
  const verifier = new RecipientAttestation({ trustedKeys, sessionMs: options.settings.sessionSeconds * 1000 });
  return { platformKey, verifier };
}

function credentialsConfig(settings: SignerSettings, defaultRoleArn?: string): SignerCredentialsConfig {
  if (settings.roleArn) return { mode: 'web-identity', roleArn: settings.roleArn };
  if (settings.accessKeyId && settings.secretAccessKey) return { mode: 'static', accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey };
  if (defaultRoleArn) return { mode: 'web-identity', roleArn: defaultRoleArn };
  return { mode: 'none' };
}

function plainIssuers(issuers: readonly TrustedIssuer[]): TrustedIssuer[] {
  // Frozen, checked entries become plain objects for the fork channel.
  return JSON.parse(JSON.stringify(issuers)) as TrustedIssuer[];
}

function warnIfNoCredentials(c: SignerCredentialsConfig, log: PlatformLogger): void {
  if (c.mode === 'none') {
    log.warn(
      'the signer has no way to obtain custodian credentials: set SYMBOLON_SIGNER_ROLE_ARN (STS web identity) or SYMBOLON_SIGNER_ACCESS_KEY_ID/_SECRET_ACCESS_KEY; split-key signing is unavailable',
    );
  }
}

/**
 * `--role all`: forks the signer beside a listening custodian. Call after the
 * custodian listens (its URL and the built-in issuer's depend on the port).
 * @throws {Error} when the signer cannot be measured or does not start.
 */
export async function startSignerChild(options: {
  config: ServerConfig;
  platformKey: PlatformKey;
  /** The custodian's own URL (used unless SYMBOLON_SIGNER_KMS_ENDPOINT is set). */
  custodianUrl: string;
  issuers: readonly TrustedIssuer[];
  /** The custodian's account: by default the signer assumes its symbolon-wallet-users role with each owner's token. */
  accountId: string;
  logger: PlatformLogger;
}): Promise<SignerProcess> {
  const { config } = options;
  const s = config.signer;
  const credentials = credentialsConfig(s, walletUsersRoleArn(options.accountId));
  warnIfNoCredentials(credentials, options.logger);
  const signer = await launchSigner({
    platformKey: options.platformKey,
    logger: options.logger,
    config: {
      host: s.host ?? config.host,
      port: s.port ?? (config.port === 0 ? 0 : config.port + 2),
      logLevel: config.logLevel,
      region: config.region,
      kmsEndpoint: s.kmsEndpoint ?? options.custodianUrl,
      credentials,
      issuers: plainIssuers(options.issuers),
      // The custodian beside it: reuse a document for as long as it accepts one (0: a fresh document per release).
      attestationRefreshMs: Math.min(config.attestation.sessionSeconds, s.attestationRefreshSeconds) * 1000,
      // The wallet frame (served by this server at its public URL) calls /v1/sign from the browser.
      corsOrigins: [...new Set([new URL(config.publicUrl ?? options.custodianUrl).origin, ...s.corsOrigins])],
      exportEnabled: s.exportEnabled,
    },
  });
  options.logger.info(
    { signer: signer.url, imageSha384: signer.image.imageSha384 },
    `Signer listening on ${signer.url} (ImageSha384 ${signer.image.imageSha384})`,
  );
  return signer;
}

/**
 * `--role signer`: this process is the signer's platform only.
 * @throws {RangeError} when SYMBOLON_SIGNER_KMS_ENDPOINT is missing.
 * @throws {PlatformKeyError|IssuerConfigError} on an unusable key file or issuer list.
 */
export async function runSignerRole(config: ServerConfig): Promise<number> {
  const log = pino({ level: config.logLevel }).child({ role: 'platform' });
  const s = config.signer;
  if (!s.kmsEndpoint) throw new RangeError('--role signer needs SYMBOLON_SIGNER_KMS_ENDPOINT (the custodian URL)');
  const keyFile = s.platformKeyFile ?? join(config.dataDir, 'platform-attestation.key');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const { key, created } = loadOrCreatePlatformKeyFile(keyFile);
  log.info(
    { keyFile, created, trustedKey: encodeTrustedKey(key.spki) },
    'platform key loaded; the custodian must list it in SYMBOLON_ATTESTATION_TRUSTED_KEYS',
  );
  const issuers = loadTrustedIssuers({ json: config.identity.issuersJson, file: config.identity.issuersFile });
  if (issuers.length === 0) log.warn('no trusted token issuers (SYMBOLON_OIDC_ISSUERS): every sign request will be refused');
  const credentials = credentialsConfig(s);
  warnIfNoCredentials(credentials, log);
  const signer = await launchSigner({
    platformKey: key,
    logger: log,
    config: {
      host: config.host,
      port: config.port,
      logLevel: config.logLevel,
      region: config.region,
      kmsEndpoint: s.kmsEndpoint,
      credentials,
      issuers: plainIssuers(issuers as TrustedIssuer[]),
      attestationRefreshMs: s.attestationRefreshSeconds * 1000,
      corsOrigins: s.corsOrigins,
      exportEnabled: s.exportEnabled,
    },
  });
  log.info({ signer: signer.url, imageSha384: signer.image.imageSha384 }, `Signer listening on ${signer.url} (ImageSha384 ${signer.image.imageSha384})`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await signer.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  signer.child.once('exit', (code) => {
    if (!stopping) {
      log.error({ code }, 'the signer exited; stopping');
      process.exit(1);
    }
  });
  return 0;
}
