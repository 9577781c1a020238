/**
 * The signer process's entry point: it must be launched by its platform
 * (platform.ts) over a `child_process.fork` channel. It waits for its
 * configuration on that channel, starts the HTTP API, reports the port, and
 * asks the platform for attestation documents over the same channel; it
 * never chooses its own measurement. It has no database, no wallet-store
 * credential and keeps nothing between requests beyond its session key pair.
 */
import pino from 'pino';
import { createTokenVerifier } from '../identity/token-verifier.js';
import type { PlatformToSigner, SignerChildConfig, SignerToPlatform } from './child-config.js';
import { staticCredentials, webIdentityCredentials, type CredentialSource } from './credentials.js';
import { SignerError } from './errors.js';
import { KmsRecipientClient } from './kms-client.js';
import { buildSignerApp, SIGNER_LOG_REDACT } from './server.js';
import { AttestedSession } from './session.js';

const ATTEST_TIMEOUT_MS = 10_000;

function send(message: SignerToPlatform): void {
  process.send!(message);
}

if (!process.send) {
  process.stderr.write('symbolon signer: must be launched by its platform (symbolon serve --role signer|all), not directly\n');
  process.exit(2);
}

const waiting = new Map<number, { resolve: (doc: Uint8Array) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
let nextId = 1;

function attest(request: { publicKey: Uint8Array; nonce: Uint8Array; userData?: Uint8Array | undefined }): Promise<Uint8Array> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new SignerError('unavailable', 'The platform did not issue an attestation document in time.'));
    }, ATTEST_TIMEOUT_MS);
    waiting.set(id, { resolve, reject, timer });
    send({ type: 'attest', id, publicKey: request.publicKey, nonce: request.nonce, ...(request.userData ? { userData: request.userData } : {}) });
  });
}

function credentialsFor(config: SignerChildConfig): CredentialSource {
  const c = config.credentials;
  if (c.mode === 'static') return staticCredentials({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey });
  if (c.mode === 'web-identity') return webIdentityCredentials({ endpoint: config.kmsEndpoint, region: config.region, roleArn: c.roleArn });
  return {
    mode: 'static',
    async forToken() {
      throw new SignerError('unavailable', 'This signer has no way to obtain credentials for the custodian (set SYMBOLON_SIGNER_ROLE_ARN).');
    },
    close() {},
  };
}

async function start(config: SignerChildConfig): Promise<void> {
  const logger = pino({ level: config.logLevel, redact: { paths: SIGNER_LOG_REDACT, censor: '[redacted]' } }).child({ role: 'signer' });
  const session = new AttestedSession({
    attest,
    ...(config.sessionLifetimeMs ? { lifetimeMs: config.sessionLifetimeMs } : {}),
    ...(config.attestationRefreshMs !== undefined ? { refreshMs: config.attestationRefreshMs } : {}),
  });
  const kms = new KmsRecipientClient({ endpoint: config.kmsEndpoint, region: config.region });
  const credentials = credentialsFor(config);
  const verifier = createTokenVerifier({
    issuers: config.issuers,
    ...(config.clockToleranceSec !== undefined ? { clockToleranceSec: config.clockToleranceSec } : {}),
  });
  const app = buildSignerApp({
    verifier,
    credentials,
    kms,
    session,
    logger,
    exportEnabled: config.exportEnabled ?? true,
    ...(config.corsOrigins ? { corsOrigins: config.corsOrigins } : {}),
  });
  await session.warm();
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info({ port, credentials: credentials.mode, issuers: verifier.issuers.length, exportEnabled: config.exportEnabled ?? true }, 'signer ready');
  send({ type: 'ready', port });

  const stop = async () => {
    await app.close();
    kms.close();
    credentials.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  // The platform is this process's only parent: when it goes, so does the signer.
  process.on('disconnect', () => void stop());
}

process.on('message', (message: PlatformToSigner) => {
  switch (message?.type) {
    case 'config':
      start(message.config).catch((e: unknown) => {
        send({ type: 'fatal', message: `${(e as Error).name}: ${(e as Error).message}`.slice(0, 300) });
        process.exit(1);
      });
      break;
    case 'attestation':
    case 'attestation-error': {
      const w = waiting.get(message.id);
      if (!w) return;
      waiting.delete(message.id);
      clearTimeout(w.timer);
      if (message.type === 'attestation') w.resolve(message.document);
      else w.reject(new SignerError('unavailable', `The platform refused to attest (${message.message.slice(0, 100)}).`));
      break;
    }
  }
});
