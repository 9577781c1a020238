/**
 * `symbolon serve`: start the server and log where it listens, the region, the
 * account id, and where a generated admin credential was written.
 *
 * `--workers N` (or SYMBOLON_WORKERS; `auto` = one per core) runs N server
 * processes on one port through node:cluster. The primary process prepares the
 * store first (migrations, root-key check, admin credential) so workers never
 * race to create them; every worker is a full, stateless custodian over the
 * same store (SQLite in WAL mode, or PostgreSQL), which is how the roles scale.
 *
 * `--role` picks the party: `all` (the embedded default: custodian, wallet API,
 * frame, and the signer forked), `kms` (the custodian), `wallet` (the wallet
 * API on its own store and root, src/server/wallet-role.ts), `signer` (the
 * signer's platform, src/server/signer-launcher.ts).
 */
import cluster from 'node:cluster';
import pino from 'pino';
import { availableParallelism } from 'node:os';
import { configFromEnv, type ServerConfig } from '../config.js';
import { createCustodian } from '../server/custodian.js';
import { runSignerRole, startSignerChild } from '../server/signer-launcher.js';
import { createWalletServer } from '../server/wallet-role.js';
import { startSealedGate, type SealedGate, type UnsealedServer } from '../server/sealed-gate.js';

function workerCount(flag: string | undefined): number {
  const raw = flag ?? process.env.SYMBOLON_WORKERS ?? '1';
  const n = raw === 'auto' ? availableParallelism() : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError('--workers must be an integer from 1 to 64, or auto');
  return n;
}

export async function serve(flags: Record<string, string | undefined>): Promise<number> {
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const config = configFromEnv(process.env, defined);
  // The signer role is only its platform and the forked signer (src/server/signer-launcher.ts).
  if (config.role === 'signer') return runSignerRole(config);
  const workers = workerCount(defined.workers);
  // Each worker would be sealed on its own and a share posted to the port reaches one of them: not offered (docs/root-of-trust.md).
  if (workers > 1 && config.root.kind === 'shamir')
    throw new RangeError('SYMBOLON_ROOT=shamir runs one process per store: --workers must be 1 (each worker would need its own unseal)');
  // SYMBOLON_ROOT=shamir: listen sealed until operators deliver the shares (src/server/sealed-gate.ts).
  if (config.root.kind === 'shamir') return runSealedServer(config);
  if (workers > 1 && cluster.isPrimary) return primary(config, workers);
  // The wallet role: the wallet API over its own store and root (src/server/wallet-role.ts).
  if (config.role === 'wallet') return runWalletServer(config, cluster.isWorker);
  return runServer(config, cluster.isWorker);
}

async function primary(config: ServerConfig, workers: number): Promise<number> {
  // Prepare the store once, then hand the port to the workers.
  const prepared = config.role === 'wallet' ? await createWalletServer({ config }) : await createCustodian({ config });
  const accountId = 'accountId' in prepared ? prepared.accountId : undefined;
  const adminCredentialsFile = 'adminCredentialsFile' in prepared ? prepared.adminCredentialsFile : undefined;
  const log = prepared.app.log;
  await prepared.close();
  for (let i = 0; i < workers; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    // Workers also listen for the example DApp (SYMBOLON_DAPP_PORT): only the server's own port counts.
    // With --port 0 there is no example DApp, and the workers share the one port the first one got.
    if (config.port !== 0 && address.port !== config.port) return;
    if (++listening === workers) {
      const endpoint = `http://${address.address ?? config.host}:${address.port}`;
      log.info(
        { endpoint, region: config.region, accountId, role: config.role, workers, store: config.databaseUrl ? 'postgresql' : `sqlite (${config.dataDir})` },
        config.role === 'wallet'
          ? `Symbolon wallet service listening on ${endpoint} (${workers} workers)`
          : `Symbolon listening on ${endpoint} (region ${config.region}, account ${accountId}, ${workers} workers)`,
      );
      if (adminCredentialsFile) log.info({ file: adminCredentialsFile }, `Generated administrator credentials written to ${adminCredentialsFile} (mode 0600)`);
    }
  });
  let stopping = false;
  cluster.on('exit', (worker, code) => {
    if (!stopping) {
      log.error({ worker: worker.id, code }, 'worker exited; stopping');
      void stop('worker-exit');
    }
  });
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    await new Promise<void>((resolve) => {
      const check = () => (Object.keys(cluster.workers ?? {}).length === 0 ? resolve() : setTimeout(check, 50));
      check();
    });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  return 0;
}

/** The forked signer's URL as a browser on this machine reaches it (as src/config.ts names it when the port is known up front). */
function forkedSignerUrl(config: ServerConfig, port: number): string {
  const host = config.signer.host ?? config.host;
  const h = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/**
 * Runs one server process. SIGTERM/SIGINT are handled from the first line, not
 * once everything has started: a signal during start-up lets the step under way
 * finish, starts nothing more, then closes what exists (the forked signer, the
 * HTTP server, the audit log's buffer and final checkpoint, the store) and exits 0.
 * @throws {Error} when start-up fails (the caller prints it and exits non-zero).
 */
async function runServer(config: ServerConfig, quiet: boolean): Promise<number> {
  let custodian: Awaited<ReturnType<typeof createCustodian>> | undefined;
  // --role all: this process is the signer's platform and forks it (not in the cluster's workers).
  let signer: Awaited<ReturnType<typeof startSignerChild>> | undefined;
  const shutdown = async (signal: string) => {
    if (!quiet) custodian?.app.log.info({ signal }, 'shutting down');
    try {
      await signer?.stop();
    } finally {
      await custodian?.close();
    }
  };
  return serveUntilSignalled(shutdown, async (stopping) => {
    custodian = await createCustodian({ config });
    if (stopping()) return;
    const { app } = custodian;
    const address = await app.listen({ host: config.host, port: config.port });
    const log = app.log;
    if (!quiet) {
      log.info(
        {
          endpoint: address,
          region: config.region,
          accountId: custodian.accountId,
          role: config.role,
          store: config.databaseUrl ? 'postgresql' : `sqlite (${config.dataDir})`,
        },
        `Symbolon listening on ${address} (region ${config.region}, account ${custodian.accountId})`,
      );
      if (custodian.adminCredentialsFile) {
        log.info({ file: custodian.adminCredentialsFile }, `Generated administrator credentials written to ${custodian.adminCredentialsFile} (mode 0600)`);
      }
    }
    if (config.role !== 'all' || quiet || stopping()) return;
    try {
      signer = await startSignerChild({
        config,
        platformKey: custodian.platformKey,
        custodianUrl: address,
        issuers: custodian.identity.trustedIssuers('custodian'),
        accountId: custodian.accountId,
        logger: log,
      });
    } catch (e) {
      if (stopping()) return; // shutdown closes the custodian
      await custodian.close();
      custodian = undefined;
      throw e;
    }
    // With --port 0 (or SYMBOLON_SIGNER_PORT=0) the configuration could not name the forked signer: the frame learns its URL now.
    // Not behind SYMBOLON_PUBLIC_URL, where the signer's local address means nothing to a browser (SYMBOLON_FRAME_SIGNER_URL names it).
    if (custodian.frame && config.frame.signerUrl === undefined && !process.env.SYMBOLON_PUBLIC_URL) {
      custodian.frame.useSignerUrl(forkedSignerUrl(config, signer.port));
      log.info({ signer: custodian.frame.signerUrl }, `The wallet frame calls the signer at ${custodian.frame.signerUrl}`);
    }
    signer.child.once('exit', (code) => {
      if (!stopping()) log.error({ code }, 'the signer process exited; split-key signing is unavailable');
    });
  });
}

/**
 * Runs one wallet-role process (`--role wallet`): as runServer, without the
 * custodian and the signer. SIGTERM/SIGINT close the HTTP server and the store.
 * @throws {Error} when start-up fails (the caller prints it and exits non-zero).
 */
async function runWalletServer(config: ServerConfig, quiet: boolean): Promise<number> {
  let server: Awaited<ReturnType<typeof createWalletServer>> | undefined;
  const shutdown = async (signal: string) => {
    if (!quiet) server?.app.log.info({ signal }, 'shutting down');
    await server?.close();
  };
  return serveUntilSignalled(shutdown, async (stopping) => {
    server = await createWalletServer({ config });
    if (stopping()) return;
    const address = await server.app.listen({ host: config.host, port: config.port });
    if (!quiet) {
      server.app.log.info(
        {
          endpoint: address,
          role: config.role,
          custodian: config.wallet.kmsEndpoint,
          store: config.databaseUrl ? 'postgresql' : `sqlite (${config.dataDir})`,
        },
        `Symbolon wallet service listening on ${address} (custodian ${config.wallet.kmsEndpoint})`,
      );
    }
  });
}

/**
 * Runs `start` until SIGINT or SIGTERM; then waits for start-up to settle,
 * runs `shutdown` and exits: 0 when start-up had succeeded, 1 when it had
 * failed. `start` asks `stopping()` between its steps.
 * @throws {Error} when start-up fails.
 */
async function serveUntilSignalled(shutdown: (signal: string) => Promise<void>, start: (stopping: () => boolean) => Promise<void>): Promise<number> {
  let stopping = false;
  let startup: Promise<void> = Promise.resolve();
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = await startup.then(
      () => true,
      () => false,
    );
    try {
      await shutdown(signal);
    } finally {
      process.exit(started ? 0 : 1);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  startup = start(() => stopping);
  await startup;
  return 0;
}

/**
 * Runs one process with the Shamir root (`--role all`, `kms` or `wallet`):
 * listens sealed at once; each unseal runs the role's normal start-up with the
 * rebuilt root, each seal closes it again (src/server/sealed-gate.ts). With
 * `--role all` the signer is forked after the first unseal (it needs the
 * platform key from the store) and kept across seals.
 * @throws {Error} when the store has no Shamir root, or the port cannot be bound.
 */
async function runSealedServer(config: ServerConfig): Promise<number> {
  const logger = pino({
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', '*.secretAccessKey', '*.SecretAccessKey', '*.sessionToken', '*.share'], censor: '[redacted]' },
  });
  type Opened = UnsealedServer & { custodian?: Awaited<ReturnType<typeof createCustodian>> };
  let gate: SealedGate<Opened> | undefined;
  let signer: Awaited<ReturnType<typeof startSignerChild>> | undefined;
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    try {
      await signer?.stop();
    } finally {
      await gate?.close();
    }
  };
  return serveUntilSignalled(shutdown, async (stopping) => {
    gate = await startSealedGate<Opened>({
      config,
      logger,
      open: async (root, serverFactory) => {
        if (config.role === 'wallet') return createWalletServer({ config, logger, unsealedRoot: root, serverFactory });
        const c = await createCustodian({ config, logger, unsealedRoot: root, serverFactory });
        return { app: c.app, close: () => c.close(), authenticator: c.authenticator, authorizer: c.deps.authorizer, audit: c.audit, custodian: c };
      },
      onUnsealed: async (opened, address) => {
        const custodian = opened.custodian;
        if (config.role !== 'all' || !custodian || stopping()) return;
        signer ??= await startSignerChild({
          config,
          platformKey: custodian.platformKey,
          custodianUrl: address,
          issuers: custodian.identity.trustedIssuers('custodian'),
          accountId: custodian.accountId,
          logger,
        });
        if (custodian.frame && config.frame.signerUrl === undefined && !process.env.SYMBOLON_PUBLIC_URL)
          custodian.frame.useSignerUrl(forkedSignerUrl(config, signer.port));
      },
    });
    logger.info(
      { endpoint: gate.address, role: config.role, sealed: true, store: config.databaseUrl ? 'postgresql' : `sqlite (${config.dataDir})` },
      `Symbolon ${config.role === 'wallet' ? 'wallet service ' : ''}listening on ${gate.address} (sealed: symbolon operator unseal --endpoint ${gate.address})`,
    );
  });
}
