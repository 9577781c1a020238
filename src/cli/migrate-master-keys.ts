/**
 * `symbolon operator migrate-master-keys`: the batch migration of wallet
 * master keys to template 3 (src/wallet/migrate-master-keys.ts), with the
 * account root's credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else
 * DIR/admin-credentials.json, as `symbolon admin`) against a Symbolon
 * custodian, over the wallet store (DIR/symbolon.db, or DATABASE_URL).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { openStore } from '../storage/database.js';
import { getWebIdentityUser } from '../wallet/custodian-users.js';
import { migrateMasterKeys } from '../wallet/migrate-master-keys.js';
import { WALLET_SERVICE_USER } from '../wallet/wallet-principal.js';
import { AdminCliError, connection } from './admin.js';

export const MIGRATE_MASTER_KEYS_USAGE = `  migrate-master-keys [--endpoint URL] [--data DIR] [--region REGION] [--json]
                      [--wallet-principal-arn ARN] [--signer-image-sha384 HEX]
        Move every wallet user's template-1/2 master key to its template-3
        form (bound to the user id all their linked logins share; old
        ciphertexts keep opening) and key their row by that user id. The old
        policies' wallet-service principal (default: the provisioned IAM user
        symbolon-wallet-service) and signer pin (default
        SYMBOLON_SIGNER_IMAGE_SHA384) must be the ones they were made with. Needs
        the account root's credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
        else DIR/admin-credentials.json). Idempotent: run again to resume.
        Store: DIR/symbolon.db, or DATABASE_URL. Exit 0: nothing failed; 1: some
        users failed (listed on stderr; run again).
`;

/** @returns the exit code. */
export async function migrateMasterKeysCommand(
  args: string[],
  io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown }; env: NodeJS.ProcessEnv },
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      endpoint: { type: 'string' },
      data: { type: 'string' },
      region: { type: 'string' },
      json: { type: 'boolean' },
      'wallet-principal-arn': { type: 'string' },
      'signer-image-sha384': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`Usage: symbolon operator migrate-master-keys [options]\n${MIGRATE_MASTER_KEYS_USAGE}`);
    return 0;
  }
  let conn: ReturnType<typeof connection>;
  try {
    conn = connection(values, io.env);
  } catch (e) {
    if (e instanceof AdminCliError) {
      io.stderr.write(`symbolon operator migrate-master-keys: ${e.message}\n`);
      return e.exitCode === 1 ? 2 : e.exitCode;
    }
    throw e;
  }
  if (conn.endpoint === undefined) {
    io.stderr.write("symbolon operator migrate-master-keys: linked logins are a Symbolon custodian's; give --endpoint URL of one\n");
    return 2;
  }
  const endpoint = conn.endpoint;
  const url = io.env.DATABASE_URL || undefined;
  const file = join(resolve(values.data ?? io.env.SYMBOLON_DATA_DIR ?? './data'), 'symbolon.db');
  if (!url && !existsSync(file)) {
    io.stderr.write(`symbolon operator migrate-master-keys: no store at ${file} (use --data DIR, or set DATABASE_URL)\n`);
    return 2;
  }
  const sts = new STSClient({ endpoint, region: conn.region, credentials: conn.credentials });
  const kms = new KMSClient({ endpoint, region: conn.region, credentials: conn.credentials });
  const store = await openStore(url ? { databaseUrl: url } : { sqliteFile: file });
  try {
    const arn = (await sts.send(new GetCallerIdentityCommand({}))).Arn ?? '';
    const root = /^arn:aws:iam::(\d{12}):root$/.exec(arn);
    if (!root) {
      io.stderr.write(`symbolon operator migrate-master-keys: these credentials are ${arn.slice(0, 128)}, not the account root\n`);
      return 2;
    }
    const counts = await migrateMasterKeys({
      store,
      kms,
      accountId: root[1]!,
      walletServicePrincipalArn: values['wallet-principal-arn'] ?? `arn:aws:iam::${root[1]!}:user/${WALLET_SERVICE_USER}`,
      signerImageSha384: values['signer-image-sha384'] ?? (io.env.SYMBOLON_SIGNER_IMAGE_SHA384 || undefined),
      userIdOf: (login) => getWebIdentityUser({ endpoint, region: conn.region, credentials: conn.credentials }, login),
      log: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(
      values.json
        ? `${JSON.stringify(counts)}\n`
        : `${counts.users} user(s): ${counts.migrated} migrated, ${counts.alreadyTemplate3} already template 3, ${counts.withoutKey} without a key yet, ${counts.failed} failed.\n`,
    );
    return counts.failed > 0 ? 1 : 0;
  } finally {
    sts.destroy();
    kms.destroy();
    await store.close();
  }
}
