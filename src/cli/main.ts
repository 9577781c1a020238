/**
 * `symbolon` command line: dispatches to `serve`, `admin`, `audit` and
 * `wallet`, each loaded only when used (so `--help` and `--version` answer at
 * once). Every command and subcommand answers `--help` / `-h` with its options
 * and the environment variables it reads; `--version` prints package.json's.
 *
 * No warning of a third party's reaches the CLI's output on a tested Node
 * (20, 22, 24; test/cli-warnings.test.ts checks each command's stderr), with
 * one targeted exception: on Node 20 the AWS SDK for JavaScript prints, on
 * every run, an 8-line process warning that its releases after the first week
 * of January 2027 will need Node 22 (@aws-sdk/core,
 * emitWarningIfUnsupportedVersion). That notice is about the runtime the
 * operator chose, not about anything the command did, so on Node < 22 — and
 * only there — the CLI turns it off with the SDK's own switch,
 * AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED (an operator's own value
 * wins). Every other warning stays visible. On Node 22 and later the SDK does
 * not warn and the switch is left alone.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

if (Number(process.versions.node.split('.')[0]) < 22) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const USAGE = `Usage: symbolon <command> [options]

Commands:
  serve [--role all|kms|wallet|signer] [--host 127.0.0.1] [--port 8080] [--data DIR] [--workers N|auto]
        Run Symbolon. With no DATABASE_URL it uses an embedded SQLite store in DIR (./data).
        --workers runs N server processes on one port (default 1).
  admin <command> [--endpoint URL] [--json] …
        Manage users, access keys, identity policies and quorum approvals on a
        running custodian (symbolon admin --help).
  policy put|get|delete --key KEY [--file FILE] [--endpoint URL] [--json]
        A KMS key's signing policy: which Ethereum payloads it may sign
        (symbolon policy --help; docs/signing-policy.md).
  audit verify|tail|query [--data DIR] [--json] …
        Verify the hash-chained audit log and its signed checkpoints, or read it
        (symbolon audit --help).
  wallet create|list|address|sign-tx|sign-message|send [--endpoint URL|aws] [--json] …
        KMS-backed Ethereum wallets on Symbolon's custodian, or on AWS KMS when
        asked with --endpoint aws (symbolon wallet --help).
  backup create|verify|restore [--data DIR] …
        Back up the store online to a signed file, verify one, or restore one into
        an empty store (symbolon backup --help; docs/backup.md).
  operator escrow split|combine [--data DIR] …
        Shamir shares of the root key file, and rebuilding it from them
        (symbolon operator --help).
  operator init|unseal|seal …
        SYMBOLON_ROOT=shamir: make a store's root as N shares, unseal a sealed
        server with M of them, seal it again (docs/root-of-trust.md).
  operator migrate-root --to file|pkcs11|kms | rotate-store-key [--data DIR] …
        Move the store key to another root of trust, or rotate it and re-seal
        every record in the background (docs/root-of-trust.md).

Options:
  -h, --help     This text; \`symbolon <command> --help\` and
                 \`symbolon <command> <subcommand> --help\` describe each command.
  -v, --version  Print the version.

Endpoint (admin, policy, wallet): --endpoint URL, else SYMBOLON_ENDPOINT, else the local
server http://127.0.0.1:8080. Requests go to real AWS only when asked for with
--endpoint aws (or SYMBOLON_ENDPOINT=aws).
`;

export const SERVE_USAGE = `Usage: symbolon serve [options]

Run Symbolon: the custodian (KMS, IAM, STS), the wallet API, the built-in
identity issuer, the wallet frame at /frame/ (built from web/ on start when
missing or older than its sources) and, with --role all, the signer as a
child process. With no DATABASE_URL it uses an embedded SQLite store in DIR.

Options:
  --role all|kms|wallet|signer  Which roles this process serves (default all, or SYMBOLON_ROLE).
  --host ADDRESS         Address to listen on (default 127.0.0.1, or SYMBOLON_HOST).
  --port N               Port (default 8080, or SYMBOLON_PORT; 0 picks a free one).
  --data DIR             Embedded store, root key file, generated admin credentials
                         (default ./data, or SYMBOLON_DATA_DIR).
  --workers N|auto       Server processes sharing the port (default 1, or SYMBOLON_WORKERS).
  -h, --help             This text.

Environment (every setting is in the README's configuration table):
  DATABASE_URL, SYMBOLON_HOST, SYMBOLON_PORT, SYMBOLON_DATA_DIR, SYMBOLON_WORKERS,
  SYMBOLON_ROLE, SYMBOLON_REGION, SYMBOLON_ACCOUNT_ID, SYMBOLON_ROOT_KEY,
  SYMBOLON_ADMIN_ACCESS_KEY_ID, SYMBOLON_ADMIN_SECRET_ACCESS_KEY, SYMBOLON_PUBLIC_URL,
  SYMBOLON_LOG_LEVEL, SYMBOLON_KEY_CACHE_TTL_MS, SYMBOLON_METRICS_TOKEN, SYMBOLON_SQLITE_CHECKPOINTS,
  SYMBOLON_AUDIT_*, SYMBOLON_DENIED_ALERT_*, SYMBOLON_BUILTIN_ISSUER,
  SYMBOLON_OIDC_*, SYMBOLON_SMTP_*, SYMBOLON_DEV_MAILBOX, SYMBOLON_WALLET_KMS_*,
  SYMBOLON_FRAME_*, SYMBOLON_DAPP_PORT, SYMBOLON_CHAIN_*, SYMBOLON_SIGNER_*,
  SYMBOLON_ATTESTATION_*, SYMBOLON_PLATFORM_KEY_FILE.
`;

/** package.json's version. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      let values: Record<string, string | boolean | undefined>;
      try {
        ({ values } = parseArgs({
          args: rest,
          options: {
            role: { type: 'string' },
            host: { type: 'string' },
            port: { type: 'string' },
            data: { type: 'string' },
            workers: { type: 'string' },
            help: { type: 'boolean', short: 'h' },
          },
          strict: true,
        }));
      } catch (e) {
        process.stderr.write(`symbolon serve: ${(e as Error).message}\n${SERVE_USAGE}`);
        return 2;
      }
      const { help, ...flags } = values;
      if (help) {
        process.stdout.write(SERVE_USAGE);
        return 0;
      }
      const [{ serve }, { ensureWebBuilt }, cluster] = await Promise.all([import('./serve.js'), import('./web-build.js'), import('node:cluster')]);
      // Only the process that prepares the server builds (not each cluster worker, not the signer role).
      const role = (flags.role as string | undefined) ?? process.env.SYMBOLON_ROLE ?? 'all';
      if (cluster.default.isPrimary && role !== 'signer') await ensureWebBuilt();
      return serve(flags as Record<string, string | undefined>);
    }
    case 'audit':
      return (await import('./audit.js')).auditCommand(rest);
    case 'wallet':
      return (await import('./wallet.js')).walletCommand(rest);
    case 'admin':
      return (await import('./admin.js')).adminCommand(rest);
    case 'policy':
      return (await import('./policy.js')).policyCommand(rest);
    case 'backup':
      return (await import('./backup.js')).backupCommand(rest);
    case 'operator':
      return (await import('./operator.js')).operatorCommand(rest);
    case '--version':
    case '-v':
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`symbolon: unknown command '${command.slice(0, 40)}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error;
    process.stderr.write(`symbolon: ${e?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
