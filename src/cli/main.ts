/**
 * `symbolon` command line: `serve` runs the server; more commands register here.
 */
import { parseArgs } from 'node:util';
import { serve } from './serve.js';
import { adminCommand } from './admin.js';
import { auditCommand } from './audit.js';
import { walletCommand } from './wallet.js';

const USAGE = `Usage: symbolon <command> [options]

Commands:
  serve [--role all|kms|signer] [--host 127.0.0.1] [--port 8080] [--data DIR] [--workers N|auto]
        Run Symbolon. With no DATABASE_URL it uses an embedded SQLite store in DIR (./data).
        --workers runs N server processes on one port (default 1).
  admin <command> [--endpoint URL] [--json] …
        Manage users, access keys, identity policies and quorum approvals on a
        running custodian (symbolon admin help).
  audit verify|tail|query [--data DIR] [--json] …
        Verify the hash-chained audit log and its signed checkpoints, or read it
        (symbolon audit help).
  wallet create|list|address|sign-tx|sign-message|send [--endpoint URL] [--json] …
        KMS-backed Ethereum wallets on Symbolon's custodian or AWS KMS
        (symbolon wallet help).
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({
        args: rest,
        options: { role: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' }, workers: { type: 'string' } },
        strict: true,
      });
      return serve(values);
    }
    case 'audit':
      return auditCommand(rest);
    case 'wallet':
      return walletCommand(rest);
    case 'admin':
      return adminCommand(rest);
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
