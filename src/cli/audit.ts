/**
 * `symbolon audit verify|tail|query`: reads the audit trail straight from the
 * store (`--data DIR` for the embedded SQLite store, or DATABASE_URL with
 * `--schema`), without the root key: checkpoints verify with the public key
 * stored beside them, or with one pinned by `--public-key`.
 *
 * Exit codes: 0 ok; 1 the log failed verification; 2 bad usage or no store.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openStore, type Store } from '../storage/database.js';
import { lastEvents, queryEvents, readEventsAfter, type StoredEvent } from '../storage/audit.repository.js';
import { findAlias } from '../storage/keys.repository.js';
import { verifyAuditLog, type VerifyReport } from '../audit/verify.js';
import { hasEthFilter, matchesEthFilter, parseEthFilter, type EthEventFilter } from '../audit/eth-query.js';
import type { EthAuditFields } from '../audit/event.js';

/** How many of the newest events (after the SQL filters) the decoded-field filters search. */
const ETH_SCAN_LIMIT = 100_000;

const AUDIT_OPTIONS = `Options:
  --data DIR       The embedded SQLite store (default ./data, or SYMBOLON_DATA_DIR).
  --schema NAME    With DATABASE_URL: a non-default PostgreSQL schema.
  --json           One JSON object per line.
  -h, --help       Help (symbolon audit COMMAND --help for one command).

Environment:
  DATABASE_URL       postgres://… reads the PostgreSQL store instead of --data.
  SYMBOLON_DATA_DIR  Default for --data.
`;

export const AUDIT_USAGE = `Usage: symbolon audit <verify|tail|query> [options]

  verify [--public-key HEX] [--json]
        Check every event's hash and every signed checkpoint; name the first event
        that was edited, removed, inserted or reordered. Exit code 1 if any was.
  tail [-n N] [--follow] [--json]
        Print the last N events (20); with --follow keep printing new ones.
  query [--key ARN|ID|alias/NAME] [--principal ARN] [--operation NAME] [--since ISO-TIME]
        [--until ISO-TIME] [--limit N] [--json]
        [--chain-id ID] [--to ADDRESS|create] [--selector 0xHEX8] [--erc20-recipient ADDRESS]
        [--payload-type transaction|message|typedData|authorization] [--decision allow|deny|pending]
        [--min-value WEI]
        Print matching events, oldest first (the newest --limit, default 1000).
        An alias (alias/NAME or its ARN) stands for the key it names now.
        The decoded-field filters (signing decisions) search the newest 100000
        events the other filters select; --min-value compares exact integers.

${AUDIT_OPTIONS}`;

/** `symbolon audit COMMAND --help`. */
function commandUsage(sub: 'verify' | 'tail' | 'query'): string {
  const lines = AUDIT_USAGE.split('\n');
  const i = lines.findIndex((l) => l.startsWith(`  ${sub} `));
  const out = [lines[i]!];
  for (let j = i + 1; lines[j]?.startsWith('        '); j++) out.push(lines[j]!);
  return `Usage: symbolon audit ${sub} [options]\n\n${out.join('\n')}\n\n${AUDIT_OPTIONS}`;
}

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** Ends `tail --follow` (tests); SIGINT ends it otherwise. */
  signal?: AbortSignal;
}

class UsageError extends Error {}

const STORE_OPTIONS = { data: { type: 'string' }, schema: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

/**
 * Runs `symbolon audit …` and returns the exit code.
 * @throws {Error} when the store cannot be read.
 */
export async function auditCommand(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'verify':
        return await verifyCommand(rest, io);
      case 'tail':
        return await tailCommand(rest, io);
      case 'query':
        return await queryCommand(rest, io);
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        io.stdout.write(AUDIT_USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown audit command '${sub.slice(0, 40)}'`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`symbolon audit: ${(e as Error).message}\n${AUDIT_USAGE}`);
      return 2;
    }
    throw e;
  }
}

async function openAuditStore(values: { data?: string | undefined; schema?: string | undefined }, env: CliIo['env']): Promise<Store> {
  const url = env.DATABASE_URL || undefined;
  if (url) {
    const schema = values.schema;
    if (schema !== undefined) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new UsageError('--schema must be a lower-case SQL identifier');
      // openStore would create a missing schema; a typo must not verify as an empty log.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const r = await client.query('select 1 from information_schema.schemata where schema_name = $1', [schema]);
        if (r.rowCount === 0) throw new UsageError(`schema ${schema} does not exist`);
      } finally {
        await client.end();
      }
    }
    // openStore's migration check introspects every schema in the database and
    // fails if another schema is dropped meanwhile (3F000); that is not ours, so retry.
    for (let attempt = 1; ; attempt++) {
      try {
        // A reading tool over a possibly long log: its statements may take longer than a request's.
        return await openStore({ databaseUrl: url, pgSchema: schema, timeoutMs: 60_000 });
      } catch (e) {
        if (attempt >= 3 || (e as { cause?: { code?: string } }).cause?.code !== '3F000') throw e;
      }
    }
  }
  const dir = resolve(values.data ?? env.SYMBOLON_DATA_DIR ?? './data');
  const file = join(dir, 'symbolon.db');
  if (!existsSync(file)) throw new UsageError(`no store at ${file} (use --data DIR, or set DATABASE_URL)`);
  return openStore({ sqliteFile: file });
}

async function withStore<T>(
  values: { data?: string | undefined; schema?: string | undefined },
  env: CliIo['env'],
  fn: (store: Store) => Promise<T>,
): Promise<T> {
  const store = await openAuditStore(values, env);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function positive(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

function isoTime(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const t = Date.parse(raw);
  if (!Number.isFinite(t)) throw new UsageError(`${name} must be an ISO 8601 time, e.g. 2026-11-22T10:00:00Z`);
  return t;
}

async function verifyCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { ...STORE_OPTIONS, 'public-key': { type: 'string' } }, strict: true, allowPositionals: false });
  if (values.help) return help(io, 'verify');
  const pinned = values['public-key'];
  if (pinned !== undefined && !/^[0-9a-fA-F]{64}$/.test(pinned)) throw new UsageError('--public-key must be 64 hex characters (an Ed25519 public key)');
  const report = await withStore(values, io.env, (store) => verifyAuditLog(store.db, pinned === undefined ? {} : { publicKey: pinned }));
  if (values.json) io.stdout.write(JSON.stringify(report) + '\n');
  else io.stdout.write(describeReport(report));
  return report.ok ? 0 : 1;
}

function describeReport(r: VerifyReport): string {
  const lines: string[] = [];
  lines.push(`Audit log: chain head at event ${r.head.seq}; ${r.eventsVerified} events verified.`);
  const cp = r.checkpoints;
  lines.push(
    cp.last
      ? `Checkpoints: ${cp.verified} of ${cp.total} verified; the last covers event ${cp.last.seq} (signed ${new Date(cp.last.time).toISOString()}).`
      : `Checkpoints: ${cp.verified} of ${cp.total} verified.`,
  );
  for (const k of r.keys) lines.push(`Checkpoint public key (${k.algorithm}, key id ${k.keyId}): ${k.publicKey}`);
  const unclean = r.processes.withoutCleanStop;
  lines.push(`Server processes: ${r.processes.started} started, ${r.processes.started - unclean.length} stopped cleanly.`);
  for (const p of unclean) {
    lines.push(
      `  ${p.process} (started ${new Date(p.startedAt).toISOString()}) has no ProcessStopped: still running, or stopped uncleanly — reads it answered just before it stopped may be missing (state changes never are).`,
    );
  }
  if (r.ok) {
    if (r.unsignedEvents > 0) lines.push(`Not yet covered by a signed checkpoint: the last ${r.unsignedEvents} event(s).`);
    lines.push('OK: every event hash and every checkpoint signature verifies.');
  } else {
    lines.push(`TAMPERED at event ${r.problem!.seq} (${r.problem!.kind}): ${r.problem!.message}`);
  }
  return lines.join('\n') + '\n';
}

function eventLine(e: StoredEvent): string {
  const outcome = e.errorCode ? `${e.outcome} ${e.errorCode}` : e.outcome;
  const parts = [
    String(e.seq).padStart(6),
    new Date(e.time).toISOString(),
    e.operation,
    outcome,
    `principal=${e.principalArn ?? '-'}`,
    `key=${e.keyArn ?? '-'}`,
  ];
  if (e.signingAlgorithm) parts.push(`alg=${e.signingAlgorithm}`);
  if (e.encryptionContext) parts.push(`context=${JSON.stringify(e.encryptionContext)}`);
  const eth = (e.eth ?? undefined) as EthAuditFields | undefined;
  if (eth) parts.push(ethSummary(eth));
  parts.push(`ip=${e.sourceIp}`, `request=${e.requestId}`);
  return parts.join('  ') + '\n';
}

/** The decoded signing decision in one field: `eth=transaction/allow chain=1 to=0x… value=…`. */
export function ethSummary(eth: EthAuditFields): string {
  const parts = [`eth=${eth.payloadType}/${eth.decision}`];
  if (eth.statement !== undefined) parts.push(`statement=${eth.statement}`);
  if (eth.signingRequest !== undefined) parts.push(`signing-request=${eth.signingRequest}`);
  if (eth.chainId !== undefined) parts.push(`chain=${eth.chainId}`);
  if (eth.to !== undefined) parts.push(`to=${eth.to ?? 'create'}`);
  if (eth.value !== undefined) parts.push(`value=${eth.value}`);
  if (eth.selector !== undefined) parts.push(`selector=${eth.selector}`);
  if (eth.erc20Recipient !== undefined) parts.push(`erc20=${eth.erc20Recipient}:${eth.erc20Amount ?? '?'}`);
  return parts.join('  ');
}

function print(io: CliIo, events: StoredEvent[], json: boolean | undefined): void {
  for (const e of events) io.stdout.write(json ? JSON.stringify({ ...e, time: new Date(e.time).toISOString() }) + '\n' : eventLine(e));
}

async function tailCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...STORE_OPTIONS, n: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' }, interval: { type: 'string' } },
    strict: true,
  });
  if (values.help) return help(io, 'tail');
  const n = positive(values.n, '-n', 20);
  const intervalMs = positive(values.interval, '--interval', 1000);
  return withStore(values, io.env, async (store) => {
    const events = await lastEvents(store.db, n);
    print(io, events, values.json);
    if (!values.follow) return 0;
    let after = events.at(-1)?.seq ?? 0;
    const signal = io.signal ?? sigint();
    while (!signal.aborted) {
      await sleep(intervalMs, signal);
      for (;;) {
        const more = await readEventsAfter(store.db, after, 1000);
        print(io, more, values.json);
        if (more.length > 0) after = more.at(-1)!.seq;
        if (more.length < 1000) break;
      }
    }
    return 0;
  });
}

async function queryCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...STORE_OPTIONS,
      key: { type: 'string' },
      principal: { type: 'string' },
      operation: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      'chain-id': { type: 'string' },
      to: { type: 'string' },
      selector: { type: 'string' },
      'payload-type': { type: 'string' },
      decision: { type: 'string' },
      'min-value': { type: 'string' },
      'erc20-recipient': { type: 'string' },
    },
    strict: true,
  });
  if (values.help) return help(io, 'query');
  let ethFilter: EthEventFilter;
  try {
    ethFilter = parseEthFilter({
      chainId: values['chain-id'],
      to: values.to,
      selector: values.selector,
      payloadType: values['payload-type'],
      decision: values.decision,
      minValue: values['min-value'],
      erc20Recipient: values['erc20-recipient'],
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const byEth = hasEthFilter(ethFilter);
  const since = isoTime(values.since, '--since');
  const until = isoTime(values.until, '--until');
  const limit = positive(values.limit, '--limit', 1000);
  const events = await withStore(values, io.env, async (store) => {
    let key = values.key;
    // Events record key ARNs; an alias is resolved to the key it names now.
    const alias = key === undefined ? undefined : /^(arn:aws:kms:[^:]*:\d{12}:)?(alias\/.+)$/.exec(key)?.[2];
    if (alias !== undefined) {
      const row = await findAlias(store.db, alias);
      if (!row)
        throw new UsageError(
          `no key has the alias ${alias.slice(0, 260)} in this store (give the key id or ARN to find events of a key whose alias was removed)`,
        );
      if (!values.json) io.stderr.write(`${alias} is key ${row.keyId}\n`);
      key = row.keyId;
    }
    return queryEvents(store.db, {
      // The decoded fields are matched here, over the newest ETH_SCAN_LIMIT events the SQL filters select.
      limit: byEth ? ETH_SCAN_LIMIT : limit,
      ...(key !== undefined ? { key } : {}),
      ...(values.principal !== undefined ? { principalArn: values.principal } : {}),
      ...(values.operation !== undefined ? { operation: values.operation } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
    });
  });
  if (byEth && events.length === ETH_SCAN_LIMIT && !values.json) {
    io.stderr.write(`only the newest ${ETH_SCAN_LIMIT} events were searched for the decoded-field filters; narrow with --since/--until/--key\n`);
  }
  const matching = byEth ? events.filter((e) => matchesEthFilter((e.eth ?? undefined) as EthAuditFields | undefined, ethFilter)).slice(-limit) : events;
  print(io, matching, values.json);
  return 0;
}

function help(io: CliIo, sub: 'verify' | 'tail' | 'query'): number {
  io.stdout.write(commandUsage(sub));
  return 0;
}

function sigint(): AbortSignal {
  const c = new AbortController();
  process.once('SIGINT', () => c.abort());
  return c.signal;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      res();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
