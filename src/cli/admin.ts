/**
 * `symbolon admin …`: a thin client of a running custodian's IAM-compatible
 * API (@aws-sdk/client-iam) and its quorum approvals API (SigV4-signed JSON,
 * `X-Amz-Target: SymbolonApprovals.*`, and `SymbolonMonitoring.*` for
 * webhooks). Credentials come from the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or from the
 * administrator credential a server wrote to its data directory
 * (admin-credentials.json). `--json` prints machine-readable output.
 * Secrets are printed once, by the commands that create them, and never logged.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
  PutUserPolicyCommand,
  type User,
} from '@aws-sdk/client-iam';
import { signedPostHeaders } from '../aws/sign-post.js';
import { ENDPOINT_HELP, resolveTarget } from './endpoint.js';
import { validateWebhookUrl, WebhookError } from '../audit/webhooks.js';

const ADMIN_OPTIONS = `Options:
${ENDPOINT_HELP}
                       With aws, the IAM commands go to AWS IAM; approvals are
                       Symbolon's own and are refused.
  --data DIR           Where to find admin-credentials.json when AWS_ACCESS_KEY_ID is not
                       set, for a Symbolon endpoint (default ./data).
  --region REGION      Signing region (default AWS_REGION, the credential file's, or us-east-1).
  --json               JSON output.
  -h, --help           Help (symbolon admin COMMAND --help for one command).

Environment:
  SYMBOLON_ENDPOINT    Default for --endpoint: a URL, or aws.
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
                       Credentials (else DIR/admin-credentials.json for a Symbolon endpoint).
  AWS_REGION, AWS_DEFAULT_REGION
                       Region.
  SYMBOLON_DATA_DIR    Default for --data.
`;

export const ADMIN_USAGE = `Usage: symbolon admin <command> [options]

Users and access keys (IAM API):
  create-user --name NAME [--path /p/] [--tag KEY=VALUE]... [--no-access-key]
        Create a user and (unless --no-access-key) an access key; prints the secret once.
  list-users
  delete-user --name NAME           Deletes the user's access keys and inline policies, then the user.
  create-access-key --name NAME     Prints the secret once.
  list-access-keys --name NAME
  delete-access-key --name NAME --access-key-id ID
  put-user-policy --name NAME --policy-file FILE [--policy-name default]
  get-user-policy --name NAME [--policy-name default]
  delete-user-policy --name NAME [--policy-name default]
  list-user-policies --name NAME

JSON-RPC signer tokens (docs/rpc.md):
  create-rpc-token --user NAME      An API token for POST /rpc acting as the IAM user; printed once
        (--json: {"token": "…", "tokenId": "…"}); only its SHA-256 is stored.
  list-rpc-tokens [--user NAME]     Token ids, users and dates; never the tokens.
  delete-rpc-token --id TOKEN_ID    Revokes the token at once (other servers within 5 s).

Quorum approvals (docs/access-control.md):
  approvals list [--key KEY | --account] [--status PENDING|APPLIED|REJECTED|EXPIRED|SUPERSEDED]
                                    Without --key or --account: the account's changes, then the keys'.
  approvals show --id CHANGE_ID     The change, with the exact text to review.
  approvals approve --id CHANGE_ID --sha256 HASH
  approvals reject --id CHANGE_ID --sha256 HASH
  approvals set-rule (--key KEY | --account) --approver ARN --approver ARN... --threshold M [--expires-in SECONDS]
                                    --account: every permission change in the account needs M approvals.
  approvals get-rule (--key KEY | --account)
  approvals delete-rule (--key KEY | --account)

Monitoring webhooks (docs/audit.md):
  webhook add --url URL --events E1,E2 [--threshold-wei WEI] [--window-seconds S] [--secret-file FILE]
                                    Events: deny.burst, approval.requested, approval.decided, value.threshold
                                    (value.threshold needs --threshold-wei: wei signed by one key on one chain
                                    within the window, default 3600 s). Prints the generated signing secret
                                    once, unless --secret-file gives one (16-256 characters).
  webhook list
  webhook delete --id WEBHOOK_ID

${ADMIN_OPTIONS}`;

/** `symbolon admin COMMAND [SUB] --help`: the command's lines of ADMIN_USAGE with the options; undefined for an unknown command. */
function commandHelp(command: string, sub: string | undefined): string | undefined {
  const lines = ADMIN_USAGE.split('\n');
  const name = command === 'approvals' || command === 'webhook' ? `${command} ${sub ?? ''}`.trim() : command;
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === `  ${name}` || line.startsWith(`  ${name} `)) {
      out.push(line);
      while (lines[i + 1]?.startsWith('        ')) out.push(lines[++i]!);
    }
  }
  if (out.length === 0) return undefined;
  return `Usage: symbolon admin ${name} [options]\n\n${out.join('\n')}\n\n${ADMIN_OPTIONS}`;
}

/** A failure the CLI reports as `symbolon admin: <message>` (exit 1), or a usage error (exit 2). */
export class AdminCliError extends Error {
  override name = 'AdminCliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Connection {
  /** A Symbolon server's URL; undefined: real AWS (the SDK's endpoints). */
  endpoint: string | undefined;
  region: string;
  credentials: Credentials;
}

export function connection(
  values: { endpoint?: string | undefined; data?: string | undefined; region?: string | undefined },
  env: NodeJS.ProcessEnv,
): Connection {
  let target: ReturnType<typeof resolveTarget>;
  try {
    target = resolveTarget(values.endpoint, env);
  } catch (e) {
    throw new AdminCliError((e as Error).message, 2);
  }
  const endpoint = target.kind === 'symbolon' ? target.url : undefined;
  let credentials: Credentials;
  let fileRegion: string | undefined;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  } else if (endpoint === undefined) {
    // The local administrator credential belongs to a Symbolon server: never sent to AWS.
    throw new AdminCliError('no credentials for AWS: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  } else {
    const file = join(resolve(values.data ?? env.SYMBOLON_DATA_DIR ?? './data'), 'admin-credentials.json');
    let parsed: { accessKeyId?: unknown; secretAccessKey?: unknown; region?: unknown };
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      throw new AdminCliError(
        `no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --data DIR holding admin-credentials.json (tried ${file})`,
      );
    }
    if (typeof parsed.accessKeyId !== 'string' || typeof parsed.secretAccessKey !== 'string') throw new AdminCliError(`${file} does not hold an access key`);
    credentials = { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey };
    if (typeof parsed.region === 'string') fileRegion = parsed.region;
  }
  const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? fileRegion ?? 'us-east-1';
  return { endpoint, region, credentials };
}

/** Calls one `SymbolonApprovals.<operation>` (or another of Symbolon's own JSON targets, `prefix`) with SigV4 (service kms). */
function approvalsCall(conn: Connection, operation: string, body: Record<string, unknown>, prefix = 'SymbolonApprovals'): Promise<Record<string, unknown>> {
  return symbolonCall(conn, prefix, operation, body);
}

/** Calls one of Symbolon's own JSON 1.1 targets (`<prefix>.<operation>`) with SigV4 (service kms). */
export async function symbolonCall(conn: Connection, prefix: string, operation: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const what = prefix === 'SymbolonApprovals' ? 'approvals are' : prefix === 'SymbolonSigning' ? 'signing policies are' : 'this is';
  if (conn.endpoint === undefined) throw new AdminCliError(`${what} Symbolon's own API, not AWS's: give --endpoint URL of a Symbolon server`, 2);
  const endpoint = conn.endpoint;
  const payload = JSON.stringify(body);
  const headers = await signedPostHeaders({
    endpoint,
    service: 'kms',
    region: conn.region,
    credentials: conn.credentials,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${prefix}.${operation}` },
    body: payload,
  });
  const res = await fetch(endpoint, { method: 'POST', headers, body: payload });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw new AdminCliError(`unexpected response from ${endpoint} (HTTP ${res.status})`);
  }
  if (!res.ok) throw new AdminCliError(`${String(json.__type ?? `HTTP ${res.status}`)}: ${String(json.message ?? '')}`);
  return json;
}

function parseTag(t: string): { Key: string; Value: string } {
  const eq = t.indexOf('=');
  if (eq <= 0) throw new AdminCliError(`--tag must be KEY=VALUE (got ${t.slice(0, 40)})`, 2);
  return { Key: t.slice(0, eq), Value: t.slice(eq + 1) };
}

function need(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new AdminCliError(`${flag} is required`, 2);
  return value;
}

function iso(d: Date | number | undefined): string {
  if (d === undefined) return '';
  return (typeof d === 'number' ? new Date(d * 1000) : d).toISOString();
}

function userLine(u: User): string {
  return `${u.UserName}\t${u.Arn}\t${iso(u.CreateDate)}`;
}

interface ChangeView {
  ChangeId: string;
  KeyId?: string;
  Scope?: string;
  Target?: string;
  Outcome?: string;
  Kind: string;
  Status: string;
  PayloadSha256: string;
  ProposerArn: string;
  Threshold: number;
  Approvers: string[];
  Approvals: string[];
  Rejections: string[];
  CreationDate: number;
  ExpirationDate: number;
  DecisionDate?: number;
  Payload?: string;
}

function changeLines(c: ChangeView): string {
  return [
    `change ${c.ChangeId}  ${c.Status}  ${c.Kind}  ${c.Approvals.length} of ${c.Threshold} approvals${c.Rejections.length ? `, ${c.Rejections.length} rejections` : ''}`,
    c.Scope === 'Account' ? `  target    ${c.Target ?? ''} (account rule)` : `  key       ${c.KeyId ?? ''}`,
    `  sha256    ${c.PayloadSha256}`,
    `  proposer  ${c.ProposerArn}`,
    `  approvers ${c.Approvers.join(', ')}`,
    `  approved  ${c.Approvals.join(', ') || '-'}`,
    `  expires   ${iso(c.ExpirationDate)}`,
    ...(c.Outcome ? [`  outcome   ${c.Outcome}`] : []),
  ].join('\n');
}

/**
 * Runs `symbolon admin <args>`; writes to `out`/`err` and returns the exit code.
 * @throws never: failures become an exit code and a message on `err`.
 */
export async function adminCommand(
  args: string[],
  io: { out: (s: string) => void; err: (s: string) => void; env: NodeJS.ProcessEnv } = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
  },
): Promise<number> {
  const [command, ...rest] = args;
  const grouped = command === 'approvals' || command === 'webhook';
  const sub = grouped ? rest[0] : undefined;
  const flagArgs = grouped ? rest.slice(1) : rest;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    io.out(ADMIN_USAGE);
    return command === undefined ? 2 : 0;
  }
  if (grouped && (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h')) {
    io.out(commandHelp(command, undefined)!);
    return sub === undefined ? 2 : 0;
  }
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: flagArgs,
      strict: true,
      options: {
        endpoint: { type: 'string' },
        data: { type: 'string' },
        region: { type: 'string' },
        json: { type: 'boolean' },
        name: { type: 'string' },
        user: { type: 'string' },
        path: { type: 'string' },
        tag: { type: 'string', multiple: true },
        'no-access-key': { type: 'boolean' },
        'access-key-id': { type: 'string' },
        'policy-file': { type: 'string' },
        'policy-name': { type: 'string' },
        key: { type: 'string' },
        account: { type: 'boolean' },
        status: { type: 'string' },
        id: { type: 'string' },
        sha256: { type: 'string' },
        approver: { type: 'string', multiple: true },
        threshold: { type: 'string' },
        'expires-in': { type: 'string' },
        url: { type: 'string' },
        events: { type: 'string' },
        'threshold-wei': { type: 'string' },
        'window-seconds': { type: 'string' },
        'secret-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    io.err(`symbolon admin: ${(e as Error).message}\n${ADMIN_USAGE}`);
    return 2;
  }
  if (values.help === true) {
    const text = commandHelp(command, sub);
    if (text === undefined) {
      io.err(`symbolon admin: unknown admin command '${[command, sub].filter(Boolean).join(' ').slice(0, 60)}'\n${ADMIN_USAGE}`);
      return 2;
    }
    io.out(text);
    return 0;
  }
  const json = values.json === true;
  const print = (human: string, data: unknown) => io.out(json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
  const str = (k: string) => values[k] as string | undefined;
  let client: IAMClient | undefined;
  try {
    const conn = connection({ endpoint: str('endpoint'), data: str('data'), region: str('region') }, io.env);
    const iam = () =>
      (client ??= new IAMClient({
        ...(conn.endpoint !== undefined ? { endpoint: conn.endpoint } : {}),
        region: conn.region,
        credentials: conn.credentials,
        maxAttempts: 1,
      }));
    const policyName = str('policy-name') ?? 'default';
    switch (command) {
      case 'create-user': {
        const name = need(str('name'), '--name');
        const tags = ((values.tag as string[] | undefined) ?? []).map(parseTag);
        const u = await iam().send(
          new CreateUserCommand({ UserName: name, ...(str('path') ? { Path: str('path') } : {}), ...(tags.length ? { Tags: tags } : {}) }),
        );
        if (values['no-access-key'] === true) {
          print(`created user ${u.User!.Arn}`, { User: u.User });
          return 0;
        }
        const k = await iam().send(new CreateAccessKeyCommand({ UserName: name }));
        print(
          [
            `created user ${u.User!.Arn}`,
            `AWS_ACCESS_KEY_ID=${k.AccessKey!.AccessKeyId}`,
            `AWS_SECRET_ACCESS_KEY=${k.AccessKey!.SecretAccessKey}`,
            'The secret is shown only now; store it safely.',
          ].join('\n'),
          { User: u.User, AccessKey: k.AccessKey },
        );
        return 0;
      }
      case 'list-users': {
        const users: User[] = [];
        let marker: string | undefined;
        do {
          const r = await iam().send(new ListUsersCommand(marker ? { Marker: marker } : {}));
          users.push(...(r.Users ?? []));
          marker = r.IsTruncated ? r.Marker : undefined;
        } while (marker);
        print(users.map(userLine).join('\n') || '(no users)', { Users: users });
        return 0;
      }
      case 'delete-user': {
        const name = need(str('name'), '--name');
        const keys = await iam().send(new ListAccessKeysCommand({ UserName: name }));
        for (const k of keys.AccessKeyMetadata ?? []) await iam().send(new DeleteAccessKeyCommand({ UserName: name, AccessKeyId: k.AccessKeyId! }));
        const policies = await iam().send(new ListUserPoliciesCommand({ UserName: name }));
        for (const p of policies.PolicyNames ?? []) await iam().send(new DeleteUserPolicyCommand({ UserName: name, PolicyName: p }));
        await iam().send(new DeleteUserCommand({ UserName: name }));
        print(`deleted user ${name}`, {
          UserName: name,
          DeletedAccessKeys: (keys.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId),
          DeletedPolicies: policies.PolicyNames ?? [],
        });
        return 0;
      }
      case 'create-access-key': {
        const name = need(str('name'), '--name');
        const k = await iam().send(new CreateAccessKeyCommand({ UserName: name }));
        print(
          `AWS_ACCESS_KEY_ID=${k.AccessKey!.AccessKeyId}\nAWS_SECRET_ACCESS_KEY=${k.AccessKey!.SecretAccessKey}\nThe secret is shown only now; store it safely.`,
          { AccessKey: k.AccessKey },
        );
        return 0;
      }
      case 'list-access-keys': {
        const name = need(str('name'), '--name');
        const r = await iam().send(new ListAccessKeysCommand({ UserName: name }));
        const keys = r.AccessKeyMetadata ?? [];
        print(keys.map((k) => `${k.AccessKeyId}\t${k.Status}\t${iso(k.CreateDate)}`).join('\n') || '(no access keys)', { AccessKeyMetadata: keys });
        return 0;
      }
      case 'delete-access-key': {
        const name = need(str('name'), '--name');
        const id = need(str('access-key-id'), '--access-key-id');
        await iam().send(new DeleteAccessKeyCommand({ UserName: name, AccessKeyId: id }));
        print(`deleted access key ${id}`, { AccessKeyId: id });
        return 0;
      }
      case 'put-user-policy': {
        const name = need(str('name'), '--name');
        const file = need(str('policy-file'), '--policy-file');
        let doc: string;
        try {
          doc = readFileSync(file, 'utf8');
        } catch {
          throw new AdminCliError(`cannot read --policy-file ${file}`);
        }
        await iam().send(new PutUserPolicyCommand({ UserName: name, PolicyName: policyName, PolicyDocument: doc }));
        print(`put policy ${policyName} on user ${name}`, { UserName: name, PolicyName: policyName });
        return 0;
      }
      case 'get-user-policy': {
        const name = need(str('name'), '--name');
        const r = await iam().send(new GetUserPolicyCommand({ UserName: name, PolicyName: policyName }));
        const doc = decodeURIComponent(r.PolicyDocument ?? '');
        print(doc, { UserName: r.UserName, PolicyName: r.PolicyName, PolicyDocument: JSON.parse(doc) });
        return 0;
      }
      case 'delete-user-policy': {
        const name = need(str('name'), '--name');
        await iam().send(new DeleteUserPolicyCommand({ UserName: name, PolicyName: policyName }));
        print(`deleted policy ${policyName} from user ${name}`, { UserName: name, PolicyName: policyName });
        return 0;
      }
      case 'list-user-policies': {
        const name = need(str('name'), '--name');
        const r = await iam().send(new ListUserPoliciesCommand({ UserName: name }));
        print((r.PolicyNames ?? []).join('\n') || '(no policies)', { PolicyNames: r.PolicyNames ?? [] });
        return 0;
      }
      case 'approvals':
        return await approvals(sub, conn, values, print);
      case 'webhook':
        return await webhookCommand(sub, conn, values, print);
      case 'create-rpc-token':
      case 'list-rpc-tokens':
      case 'delete-rpc-token':
        return await rpcTokens(command, conn, values, print);
      default:
        throw new AdminCliError(`unknown admin command '${command.slice(0, 40)}'\n${ADMIN_USAGE}`, 2);
    }
  } catch (e) {
    if (e instanceof AdminCliError) {
      io.err(`symbolon admin: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as { name?: string; message?: string; Error?: { Code?: string } };
    io.err(`symbolon admin: ${err.Error?.Code ?? err.name ?? 'Error'}: ${err.message ?? String(e)}\n`);
    return 1;
  } finally {
    client?.destroy();
  }
}

async function approvals(
  sub: string | undefined,
  conn: Connection,
  values: Record<string, string | boolean | string[] | undefined>,
  print: (human: string, data: unknown) => void,
): Promise<number> {
  const str = (k: string) => values[k] as string | undefined;
  const account = values.account === true;
  if (account && str('key') !== undefined) throw new AdminCliError('give --key KEY or --account, not both', 2);
  const keyOrAccount = () => (account ? {} : { KeyId: need(str('key'), '--key (or --account)') });
  switch (sub) {
    case 'list': {
      const changes: ChangeView[] = [];
      // The account's changes, then (unless --account) the keys' own.
      for (const scope of account ? [true] : str('key') !== undefined ? [false] : [true, false]) {
        let marker: string | undefined;
        do {
          const r = await approvalsCall(conn, 'ListPolicyChanges', {
            ...(str('key') ? { KeyId: str('key') } : {}),
            ...(str('status') ? { Status: str('status') } : {}),
            ...(scope ? { Account: true } : {}),
            ...(marker ? { Marker: marker } : {}),
          });
          changes.push(...(r.Changes as ChangeView[]));
          marker = r.Truncated ? (r.NextMarker as string) : undefined;
        } while (marker);
      }
      print(changes.map(changeLines).join('\n') || '(no policy changes)', { Changes: changes });
      return 0;
    }
    case 'show': {
      const r = await approvalsCall(conn, 'GetPolicyChange', { ChangeId: need(str('id'), '--id') });
      const c = r.Change as ChangeView;
      print(
        `${changeLines(c)}\n--- proposed ${c.Scope === 'Account' ? `${c.Kind} request` : c.Kind === 'KeyPolicy' ? 'key policy' : c.Kind === 'Grant' ? 'grant' : 'quorum rule'} (SHA-256 ${c.PayloadSha256}) ---\n${c.Payload ?? ''}`,
        r,
      );
      return 0;
    }
    case 'approve':
    case 'reject': {
      const r = await approvalsCall(conn, sub === 'approve' ? 'ApprovePolicyChange' : 'RejectPolicyChange', {
        ChangeId: need(str('id'), '--id'),
        PayloadSha256: need(str('sha256'), '--sha256'),
      });
      const c = r.Change as ChangeView;
      print(`${sub === 'approve' ? 'approved' : 'rejected'}: ${changeLines(c)}`, r);
      return 0;
    }
    case 'set-rule': {
      const threshold = Number(need(str('threshold'), '--threshold'));
      const expires = str('expires-in');
      if (!Number.isInteger(threshold)) throw new AdminCliError('--threshold must be an integer', 2);
      if (expires !== undefined && !/^\d+$/.test(expires)) throw new AdminCliError('--expires-in must be a number of seconds', 2);
      const r = await approvalsCall(conn, account ? 'PutAccountQuorumRule' : 'PutQuorumRule', {
        ...keyOrAccount(),
        Approvers: (values.approver as string[] | undefined) ?? [],
        Threshold: threshold,
        ...(expires !== undefined ? { ExpirationSeconds: Number(expires) } : {}),
      });
      print(
        r.Status === 'APPLIED'
          ? `quorum rule set on ${account ? 'the account' : String(r.KeyId)}`
          : `quorum rule change ${String(r.ChangeId)} pending approval (${String(r.Approvals)} of ${String(r.Threshold)}), sha256 ${String(r.PayloadSha256)}`,
        r,
      );
      return 0;
    }
    case 'get-rule': {
      const r = await approvalsCall(conn, account ? 'GetAccountQuorumRule' : 'GetQuorumRule', keyOrAccount());
      const what = account ? 'account' : String(r.KeyId);
      print(
        r.Threshold === undefined
          ? `${what}: no quorum rule`
          : `${what}: ${String(r.Threshold)} of ${(r.Approvers as string[]).join(', ')}; changes expire after ${String(r.ExpirationSeconds)} s`,
        r,
      );
      return 0;
    }
    case 'delete-rule': {
      const r = await approvalsCall(conn, account ? 'DeleteAccountQuorumRule' : 'DeleteQuorumRule', keyOrAccount());
      print(
        `quorum rule removal ${String(r.ChangeId)} pending approval (${String(r.Approvals)} of ${String(r.Threshold)}), sha256 ${String(r.PayloadSha256)}`,
        r,
      );
      return 0;
    }
    default:
      throw new AdminCliError(`approvals needs list|show|approve|reject|set-rule|get-rule|delete-rule\n${ADMIN_USAGE}`, 2);
  }
}

interface WebhookView {
  WebhookId: string;
  Url: string;
  Events: string[];
  ThresholdWei?: string;
  WindowSeconds?: number;
}

function webhookLine(w: WebhookView): string {
  const threshold = w.ThresholdWei !== undefined ? `  threshold ${w.ThresholdWei} wei per ${w.WindowSeconds} s` : '';
  return `${w.WebhookId}  ${w.Url}  ${w.Events.join(',')}${threshold}`;
}

/** `symbolon admin webhook add|list|delete` over `SymbolonMonitoring.*` (src/audit/webhook-operations.ts). */
async function webhookCommand(
  sub: string | undefined,
  conn: Connection,
  values: Record<string, string | boolean | string[] | undefined>,
  print: (human: string, data: unknown) => void,
): Promise<number> {
  const str = (k: string) => values[k] as string | undefined;
  const call = (op: string, body: Record<string, unknown>) => approvalsCall(conn, op, body, 'SymbolonMonitoring');
  switch (sub) {
    case 'add': {
      let url: string;
      try {
        url = validateWebhookUrl(need(str('url'), '--url'));
      } catch (e) {
        if (e instanceof WebhookError) throw new AdminCliError(`--url: ${e.message}`, 2);
        throw e;
      }
      const events = need(str('events'), '--events')
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
      const threshold = str('threshold-wei');
      const window = str('window-seconds');
      if (threshold !== undefined && !/^[0-9]{1,78}$/.test(threshold)) throw new AdminCliError('--threshold-wei must be a decimal integer of wei', 2);
      if (window !== undefined && !/^[0-9]{1,7}$/.test(window)) throw new AdminCliError('--window-seconds must be a number of seconds', 2);
      let secret: string | undefined;
      const secretFile = str('secret-file');
      if (secretFile !== undefined) {
        try {
          secret = readFileSync(secretFile, 'utf8').trim();
        } catch {
          throw new AdminCliError(`cannot read --secret-file ${secretFile.slice(0, 200)}`, 2);
        }
      }
      const r = await call('CreateWebhook', {
        Url: url,
        Events: events,
        ...(threshold !== undefined ? { ThresholdWei: threshold } : {}),
        ...(window !== undefined ? { WindowSeconds: Number(window) } : {}),
        ...(secret !== undefined ? { Secret: secret } : {}),
      });
      const w = r.Webhook as WebhookView;
      print(
        r.Secret !== undefined
          ? `created webhook ${webhookLine(w)}\nsigning secret (shown once; store it now): ${String(r.Secret)}`
          : `created webhook ${webhookLine(w)} (signing secret from ${secretFile})`,
        r,
      );
      return 0;
    }
    case 'list': {
      const r = await call('ListWebhooks', {});
      const hooks = r.Webhooks as WebhookView[];
      print(hooks.map(webhookLine).join('\n') || '(no webhooks)', r);
      return 0;
    }
    case 'delete': {
      const id = need(str('id'), '--id');
      await call('DeleteWebhook', { WebhookId: id });
      print(`deleted webhook ${id}`, { WebhookId: id, Deleted: true });
      return 0;
    }
    default:
      throw new AdminCliError(`webhook needs add|list|delete\n${ADMIN_USAGE}`, 2);
  }
}

interface RpcTokenView {
  TokenId: string;
  UserName: string;
  UserArn: string;
  CreatedBy: string;
  CreationDate: number;
  RevocationDate?: number;
}

/** `create-rpc-token`, `list-rpc-tokens`, `delete-rpc-token`: the JSON-RPC signer's API tokens (`SymbolonRpc.*`, src/rpc/token-operations.ts). */
async function rpcTokens(
  command: string,
  conn: Connection,
  values: Record<string, string | boolean | string[] | undefined>,
  print: (human: string, data: unknown) => void,
): Promise<number> {
  const str = (k: string) => values[k] as string | undefined;
  switch (command) {
    case 'create-rpc-token': {
      const r = await approvalsCall(conn, 'CreateRpcToken', { UserName: need(str('user'), '--user') }, 'SymbolonRpc');
      print(
        [
          `created JSON-RPC token ${String(r.TokenId)} for ${String(r.UserArn)}`,
          `token: ${String(r.Token)}`,
          'Send it as Authorization: Bearer TOKEN to /rpc. The token is shown only now; store it safely.',
        ].join('\n'),
        { token: r.Token, tokenId: r.TokenId, userName: r.UserName, userArn: r.UserArn },
      );
      return 0;
    }
    case 'list-rpc-tokens': {
      const r = await approvalsCall(conn, 'ListRpcTokens', str('user') ? { UserName: str('user') } : {}, 'SymbolonRpc');
      const tokens = r.Tokens as RpcTokenView[];
      print(
        tokens
          .map((t) => `${t.TokenId}\t${t.UserName}\t${iso(t.CreationDate)}\t${t.RevocationDate === undefined ? 'active' : `revoked ${iso(t.RevocationDate)}`}`)
          .join('\n') || '(no tokens)',
        { Tokens: tokens },
      );
      return 0;
    }
    default: {
      const r = await approvalsCall(conn, 'RevokeRpcToken', { TokenId: need(str('id'), '--id') }, 'SymbolonRpc');
      print(`revoked JSON-RPC token ${String(r.TokenId)}`, r);
      return 0;
    }
  }
}
