/**
 * The platform: the process that launches the signer, in the part a Nitro
 * hypervisor plays for an enclave. It
 *  1. measures the signer image (measure.ts: the files reached from
 *     src/signer/main.ts by walking imports) and copies exactly those bytes
 *     into a private image directory (0700), so what runs is what was
 *     measured — a file changed after launch changes nothing that runs;
 *  2. forks the signer from that directory with a clean environment (no
 *     DATABASE_URL, no root key, no credentials: configuration goes over the
 *     fork channel) and hands it its configuration;
 *  3. answers the signer's attestation requests over that channel: a COSE_Sign1
 *     document binding the public key and nonce the signer sends to the
 *     measurements the PLATFORM took at launch, signed with the platform key.
 *     The signer cannot choose its measurement.
 *
 * No TEE here: the isolation is an OS process boundary, and the platform key
 * lives in the launching process on the same machine (docs/signer.md).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { LogFn } from 'pino';

/** The few logger methods the platform uses (a pino or fastify logger). */
export interface PlatformLogger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}
import type { PlatformToSigner, SignerChildConfig, SignerToPlatform } from './child-config.js';
import { measureSignerImage, REPOSITORY_ROOT, SIGNER_ENTRY, type SignerImage } from './measure.js';
import { signAttestationDocument } from '../attestation/signAttestationDocument.js';
import { MAX_USER_DATA_BYTES } from '../attestation/document.js';
import type { PlatformKey } from '../attestation/platform-key.js';

export const DEFAULT_MODULE_ID = 'symbolon-platform';
const START_TIMEOUT_MS = 60_000;

export interface LaunchSignerOptions {
  platformKey: PlatformKey;
  config: SignerChildConfig;
  /** The source tree to measure and run (default: this repository). */
  sourceRoot?: string;
  /** Where node_modules is (default: `sourceRoot`). */
  modulesRoot?: string;
  logger?: PlatformLogger;
  /** 'pipe' exposes the signer's stdout/stderr (tests read its log lines); default 'inherit'. */
  stdio?: 'inherit' | 'pipe';
  moduleId?: string;
  /** Clock for document timestamps (tests). */
  now?: () => number;
}

export interface SignerProcess {
  /** http://host:port of the signer's API. */
  url: string;
  port: number;
  image: SignerImage;
  child: ChildProcess;
  stdout: Readable | null;
  stderr: Readable | null;
  /** Documents issued so far. */
  readonly issued: number;
  stop(): Promise<void>;
}

function buildImageDirectory(image: SignerImage, modulesRoot: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-signer-image-'));
  chmodSync(dir, 0o700);
  for (const f of image.files) {
    const target = join(dir, f.path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    writeFileSync(target, f.content, { mode: 0o400 });
  }
  // Dependencies are not copied (PCR2 records their versions); the image resolves them here.
  symlinkSync(join(modulesRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** PATH, HOME, TZ, LANG and TMPDIR only. Node's warnings stay on: the signer's stderr is the server's (test/cli-warnings.test.ts). */
function cleanEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['PATH', 'HOME', 'TZ', 'LANG', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

/**
 * Measures, launches and serves one signer process; resolves once it listens.
 * @throws {MeasurementError} when the image cannot be built.
 * @throws {Error} when the signer does not start (its reason, when it gave one).
 */
export async function launchSigner(options: LaunchSignerOptions): Promise<SignerProcess> {
  const sourceRoot = resolve(options.sourceRoot ?? REPOSITORY_ROOT);
  const image = measureSignerImage({ sourceRoot });
  const imageDir = buildImageDirectory(image, resolve(options.modulesRoot ?? sourceRoot));
  const moduleId = options.moduleId ?? DEFAULT_MODULE_ID;
  const now = options.now ?? Date.now;
  const log = options.logger;
  let issued = 0;

  const child = fork(join(imageDir, SIGNER_ENTRY), [], {
    cwd: imageDir,
    env: cleanEnvironment(),
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    stdio: options.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const cleanup = () => rmSync(imageDir, { recursive: true, force: true });
  child.once('exit', cleanup);

  const post = (m: PlatformToSigner) => {
    if (child.connected) child.send(m);
  };

  child.on('message', (m: SignerToPlatform) => {
    if (m?.type !== 'attest') return;
    const okBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.length > 0 && v.length <= MAX_USER_DATA_BYTES;
    if (!Number.isSafeInteger(m.id) || !okBytes(m.publicKey) || !okBytes(m.nonce) || (m.userData !== undefined && !okBytes(m.userData))) {
      post({ type: 'attestation-error', id: Number.isSafeInteger(m.id) ? m.id : 0, message: 'public key, nonce and user data must be 1 to 1024 bytes' });
      return;
    }
    // user_data is the signer's own statement (the release purpose, src/attestation/release-purpose.ts), signed as it is.
    const document = signAttestationDocument(options.platformKey, {
      pcrs: image.pcrs,
      moduleId,
      publicKey: m.publicKey,
      nonce: m.nonce,
      userData: m.userData,
      timestamp: now(),
    });
    issued++;
    post({ type: 'attestation', id: m.id, document });
  });

  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => fail(new Error('the signer did not start in time')), START_TIMEOUT_MS);
    const onMessage = (m: SignerToPlatform) => {
      if (m?.type === 'ready') done(() => resolvePort(m.port));
      else if (m?.type === 'fatal') fail(new Error(`the signer failed to start: ${m.message}`));
    };
    const onExit = (code: number | null) => fail(new Error(`the signer exited during start-up (code ${code})`));
    function done(f: () => void) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      f();
    }
    function fail(e: Error) {
      done(() => reject(e));
      child.kill('SIGKILL');
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
    post({ type: 'config', config: options.config });
  });

  const host = options.config.host.includes(':') ? `[${options.config.host}]` : options.config.host;
  log?.info({ pid: child.pid, port, imageSha384: image.imageSha384, files: image.files.length }, 'signer launched');
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    image,
    child,
    stdout: child.stdout,
    stderr: child.stderr,
    get issued() {
      return issued;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return cleanup();
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
