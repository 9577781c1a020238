/**
 * `symbolon serve`: start the server and log where it listens, the region, the
 * account id, and where a generated admin credential was written.
 */
import { configFromEnv } from '../config.js';
import { createCustodian } from '../server/custodian.js';

export async function serve(flags: Record<string, string | undefined>): Promise<number> {
  const config = configFromEnv(process.env, Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as Record<string, string>);
  const custodian = await createCustodian({ config });
  const { app } = custodian;
  const address = await app.listen({ host: config.host, port: config.port });
  const log = app.log;
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
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await custodian.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  return 0;
}
