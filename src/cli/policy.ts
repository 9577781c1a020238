/**
 * `symbolon policy put|get|delete --key KEY [--file FILE]`: a KMS key's
 * signing policy (docs/signing-policy.md), through the custodian's
 * `SymbolonSigning.*` API (SigV4, service kms). Credentials and endpoint as
 * `symbolon admin` (src/cli/admin.ts). A change on a key under a quorum rule
 * (the key's or the account's) is reported as pending with its change id.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AdminCliError, connection, symbolonCall } from './admin.js';
import { ENDPOINT_HELP } from './endpoint.js';

export const POLICY_USAGE = `Usage: symbolon policy put|get|delete --key KEY [--file FILE] [options]

A KMS key's signing policy: which Ethereum payloads the key may sign
(docs/signing-policy.md). Once a key has one, KMS Sign of a bare digest is
refused unless the key policy allows symbolon:SignRawDigest.

  put --key KEY --file FILE   Attach FILE (JSON, "-" for stdin) to the key, replacing any policy.
                              Needs kms:PutKeyPolicy; pending under a quorum rule.
  get --key KEY               Print the key's signing policy (kms:GetKeyPolicy).
  delete --key KEY            Remove it (kms:PutKeyPolicy; pending under a quorum rule).

KEY is a key id, key ARN, alias name or alias ARN.

Options:
${ENDPOINT_HELP}
  --data DIR           Where to find admin-credentials.json when AWS_ACCESS_KEY_ID is not set (default ./data).
  --region REGION      Signing region (default AWS_REGION, the credential file's, or us-east-1).
  --json               JSON output.
  -h, --help           This text.

Environment:
  SYMBOLON_ENDPOINT    Default for --endpoint: a URL, or aws.
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
                       Credentials (else DIR/admin-credentials.json).
  AWS_REGION, AWS_DEFAULT_REGION
                       Region.
  SYMBOLON_DATA_DIR    Default for --data.
`;

/** The help text, its first line naming the subcommand when there is one. */
function usage(sub: string | undefined): string {
  if (sub !== 'put' && sub !== 'get' && sub !== 'delete') return POLICY_USAGE;
  const first = { put: 'put --key KEY --file FILE', get: 'get --key KEY', delete: 'delete --key KEY' }[sub];
  return POLICY_USAGE.replace(/^Usage: symbolon policy [^\n]*/, `Usage: symbolon policy ${first} [options]`);
}

/** Runs `symbolon policy …`; returns the exit code (2: usage, 1: the request failed). */
export async function policyCommand(
  args: string[],
  io: { out: (s: string) => void; err: (s: string) => void; env: NodeJS.ProcessEnv; stdin?: () => string } = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
  },
): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    io.out(POLICY_USAGE);
    return command === undefined ? 2 : 0;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      strict: true,
      options: {
        key: { type: 'string' },
        file: { type: 'string' },
        endpoint: { type: 'string' },
        data: { type: 'string' },
        region: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    io.err(`symbolon policy: ${(e as Error).message}\n${POLICY_USAGE}`);
    return 2;
  }
  if (values.help === true) {
    io.out(usage(command));
    return 0;
  }
  if (command !== 'put' && command !== 'get' && command !== 'delete') {
    io.err(`symbolon policy: unknown command '${command.slice(0, 40)}'\n${POLICY_USAGE}`);
    return 2;
  }
  const key = values.key as string | undefined;
  if (!key) {
    io.err('symbolon policy: --key is required\n');
    return 2;
  }
  const json = values.json === true;
  try {
    const conn = connection(
      { endpoint: values.endpoint as string | undefined, data: values.data as string | undefined, region: values.region as string | undefined },
      io.env,
    );
    if (command === 'get') {
      const r = await symbolonCall(conn, 'SymbolonSigning', 'GetSigningPolicy', { KeyId: key });
      io.out(json ? `${JSON.stringify(r, null, 2)}\n` : `${String(r.Policy)}\n`);
      return 0;
    }
    let body: Record<string, unknown> = { KeyId: key };
    if (command === 'put') {
      const file = values.file as string | undefined;
      if (!file) {
        io.err('symbolon policy put: --file is required\n');
        return 2;
      }
      let text: string;
      try {
        text = file === '-' ? (io.stdin ?? (() => readFileSync(0, 'utf8')))() : readFileSync(file, 'utf8');
      } catch {
        io.err(`symbolon policy put: cannot read ${file.slice(0, 200)}\n`);
        return 2;
      }
      body = { KeyId: key, Policy: text.trim() };
    }
    const r = await symbolonCall(conn, 'SymbolonSigning', command === 'put' ? 'PutSigningPolicy' : 'DeleteSigningPolicy', body);
    io.out(
      json ? `${JSON.stringify(r, null, 2)}\n` : `${command === 'put' ? 'signing policy attached to' : 'signing policy removed from'} ${String(r.KeyId)}\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof AdminCliError) {
      io.err(`symbolon policy: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}
