/**
 * `symbolon operator escrow split|combine` (docs/backup.md "Root-key escrow"):
 * Shamir shares of the file root's 32-byte key, printed once and never
 * stored, and the key file rebuilt from any `threshold` of them.
 *
 * Shamir's scheme over GF(2^8) comes from `shamir-secret-sharing` (Privy;
 * audited by Cure53 and Zellic), pinned in package.json. Each share is one
 * line: `symbolon-root-share-v1-<fingerprint>-<share hex>-<check>`, where the
 * fingerprint (8 bytes of SHA-256 over a label and the key) names the key the
 * shares belong to without revealing it, and the check (4 bytes of SHA-256 of
 * the rest of the line) catches a mistyped share. A rebuilt key whose
 * fingerprint differs (a share altered with its check recomputed, shares of
 * different keys, too few shares) is refused and nothing is written.
 *
 * Exit codes: 0 ok; 1 refused (nothing written); 2 bad usage.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { combine, split } from 'shamir-secret-sharing';
import { wipe } from '../crypto/bytes.js';
import { loadFileRoot, RootKeyError, writeKeyFileAtomically } from '../root/file-root.js';
import { markWalletsForRotation } from './rotate-shares.js';
import { MIGRATE_MASTER_KEYS_USAGE, migrateMasterKeysCommand } from './migrate-master-keys.js';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { mkdirSync } from 'node:fs';
import { openStore } from '../storage/database.js';
import { getMeta, putMetaIfAbsent } from '../storage/meta.repository.js';
import { createStoreKeyRecord, STORE_KEY_META } from '../root/store-key.js';
import { createShamirRoot, encodeShamirRecord, SHAMIR_META } from '../root/shamir-root.js';
import { ROOT_CHECK } from '../server/custodian.js';
import { LOCAL_ENDPOINT, resolveTarget } from './endpoint.js';
import { STORE_KEY_USAGE, storeKeyOperatorCommand } from './store-key-ops.js';

export const OPERATOR_USAGE = `Usage: symbolon operator escrow <split|combine> [options]
       symbolon operator rotate-shares (--all | --address 0x…) [--data DIR]
       symbolon operator migrate-master-keys [--endpoint URL] [--data DIR]
       symbolon operator init --shares N --threshold M [--data DIR]
       symbolon operator unseal|seal [--endpoint URL]

  escrow split --shares N --threshold M
        Print N Shamir shares of the root key (SYMBOLON_ROOT_KEY, else
        DIR/root.key), one a line, any M of which rebuild it (2 <= M <= N <= 255).
        They are printed once and stored nowhere: hand each to its keeper.
  escrow combine [--out FILE]
        Read shares from stdin (one a line; blank lines ignored), rebuild the
        root key and write it to FILE (default DIR/root.key; mode 0600; an
        existing file is never replaced). Too few, altered or mixed shares are
        refused and nothing is written.

  rotate-shares --all | --address 0x…
        Mark split wallets (every one, or one) for share rotation: each is
        re-split by its owner's device at the owner's next login or signature
        (docs/signer.md, "Share rotation"). The operator never sees a share.
        Store: DIR/symbolon.db, or DATABASE_URL.
${MIGRATE_MASTER_KEYS_USAGE}  init --shares N --threshold M
        SYMBOLON_ROOT=shamir (docs/root-of-trust.md): make a fresh random root
        key for a store without a store key (DIR/symbolon.db or DATABASE_URL),
        wrap a new store key under it, and print N shares of it, one a line,
        any M of which unseal the server (2 <= M <= N <= 255). Printed once,
        stored nowhere.
  unseal [--endpoint URL]
        Read shares from stdin (one a line; typed at a terminal they are not
        echoed) and deliver them to the sealed server, printing "k of M".
        Exit 0: unsealed; 3: shares accepted, more needed; 1: refused.
  seal [--endpoint URL] [--region REGION]
        Seal a running server (it drops its store key and answers "sealed").
        Signed (SigV4) with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of the
        account root or a principal allowed symbolon:Seal.

Options:
  --data DIR   The data directory holding root.key (default ./data, or SYMBOLON_DATA_DIR).
  --endpoint URL  The server (default SYMBOLON_ENDPOINT, else ${LOCAL_ENDPOINT}).
  -h, --help   This text.

Environment:
  SYMBOLON_ROOT_KEY  The root key to split (else DIR/root.key).
  SYMBOLON_DATA_DIR  Default for --data.
`;

const PREFIX = 'symbolon-root-share-v1';
const SHARE_LINE = /^symbolon-root-share-v1-([0-9a-f]{16})-([0-9a-f]{66})-([0-9a-f]{8})$/;

class UsageError extends Error {}
/** Shares that do not rebuild the key; nothing was written. */
export class EscrowError extends Error {
  override name = 'EscrowError';
}

export interface OperatorIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** All of stdin (tests pass it; the CLI reads the process's). */
  stdin?: () => Promise<string>;
}

/** 8 bytes of SHA-256 over a label and the key, hex: names the key without revealing it. */
export function rootKeyFingerprint(key: Uint8Array): string {
  return createHash('sha256').update('symbolon/root-key-fingerprint/v1\0').update(key).digest('hex').slice(0, 16);
}

function check(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** Encodes one share as its line. */
export function shareLine(fingerprint: string, share: Uint8Array): string {
  const body = `${PREFIX}-${fingerprint}-${Buffer.from(share).toString('hex')}`;
  return `${body}-${check(body)}`;
}

/**
 * Splits a 32-byte key into `n` share lines, any `m` of which rebuild it.
 * @throws {RangeError} unless 2 <= m <= n <= 255.
 */
export async function splitRootKey(key: Uint8Array, n: number, m: number): Promise<string[]> {
  if (!Number.isInteger(n) || !Number.isInteger(m) || m < 2 || n < m || n > 255) throw new RangeError('need 2 <= threshold <= shares <= 255');
  const shares = await split(key, n, m);
  try {
    const fp = rootKeyFingerprint(key);
    return shares.map((s) => shareLine(fp, s));
  } finally {
    for (const s of shares) wipe(s);
  }
}

/**
 * Rebuilds the key from share lines. The caller wipes the result.
 * @throws {EscrowError} for a malformed or mistyped share, shares of different keys, or shares that do not rebuild the key they name.
 */
export async function combineRootKey(lines: string[]): Promise<Uint8Array> {
  const shares: Uint8Array[] = [];
  let fingerprint: string | undefined;
  try {
    lines.forEach((line, i) => {
      const m = SHARE_LINE.exec(line);
      if (!m) throw new EscrowError(`share ${i + 1} is not a Symbolon root-key share (${PREFIX}-…)`);
      if (check(line.slice(0, line.length - 9)) !== m[3]) throw new EscrowError(`share ${i + 1} is damaged or mistyped (its check digits do not match)`);
      if (fingerprint !== undefined && m[1] !== fingerprint)
        throw new EscrowError(`share ${i + 1} belongs to another root key (fingerprint ${m[1]}, not ${fingerprint})`);
      fingerprint = m[1];
      shares.push(new Uint8Array(Buffer.from(m[2]!, 'hex')));
    });
    if (shares.length < 2) throw new EscrowError('at least 2 shares are needed');
    if (new Set(shares.map((s) => s[s.length - 1])).size !== shares.length) throw new EscrowError('the same share was given twice');
    const key = await combine(shares);
    if (rootKeyFingerprint(key) !== fingerprint) {
      wipe(key);
      throw new EscrowError(
        `the shares do not rebuild root key ${fingerprint}: too few shares (fewer than the threshold it was split with), or a share was altered`,
      );
    }
    return key;
  } finally {
    for (const s of shares) wipe(s);
  }
}

/** Runs `symbolon operator …` and returns the exit code. */
export async function operatorCommand(argv: string[], io: OperatorIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const [group, sub, ...rest] = argv;
  try {
    if (group === undefined || group === '-h' || group === '--help' || group === 'help') {
      io.stdout.write(`${OPERATOR_USAGE}\n${STORE_KEY_USAGE}`);
      return group === undefined ? 2 : 0;
    }
    if (group === 'rotate-shares') {
      const { values } = parseArgs({
        args: sub === undefined ? [] : [sub, ...rest],
        options: { all: { type: 'boolean' }, address: { type: 'string' }, data: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
        strict: true,
      });
      if (values.help) {
        io.stdout.write(OPERATOR_USAGE);
        return 0;
      }
      if (values.all === (values.address !== undefined)) throw new UsageError('give exactly one of --all and --address 0x…');
      let marked: number;
      try {
        marked = await markWalletsForRotation({
          which: values.all ? { all: true } : { address: values.address! },
          dataDir: values.data,
          env: io.env,
        });
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(e.message);
        throw e;
      }
      io.stdout.write(`${marked} split wallet(s) marked for share rotation at their owners' next login or signature.\n`);
      return 0;
    }
    if (group === 'migrate-master-keys') return await migrateMasterKeysCommand(argv.slice(1), io);
    if (group === 'init' || group === 'unseal' || group === 'seal') return await shamirCommand(group, argv.slice(1), io);
    if (group === 'migrate-root' || group === 'rotate-store-key') return await storeKeyOperatorCommand(group, argv.slice(1), io);
    if (group !== 'escrow') throw new UsageError(`unknown operator command '${group.slice(0, 40)}'`);
    const { values } = parseArgs({
      args: rest,
      options: {
        data: { type: 'string' },
        shares: { type: 'string' },
        threshold: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help || sub === undefined || sub === '--help' || sub === '-h') {
      io.stdout.write(OPERATOR_USAGE);
      return sub === undefined ? 2 : 0;
    }
    const dir = resolve(values.data ?? io.env.SYMBOLON_DATA_DIR ?? './data');
    if (sub === 'split') {
      const n = Number(values.shares);
      const m = Number(values.threshold);
      if (!Number.isInteger(n) || !Number.isInteger(m) || m < 2 || n < m || n > 255)
        throw new UsageError('--shares N and --threshold M are needed, with 2 <= M <= N <= 255');
      if (!io.env.SYMBOLON_ROOT_KEY && !existsSync(join(dir, 'root.key')))
        throw new UsageError(`no root key: ${join(dir, 'root.key')} does not exist and SYMBOLON_ROOT_KEY is not set`);
      const key = readRootKey(dir, io.env.SYMBOLON_ROOT_KEY);
      try {
        const lines = await splitRootKey(key, n, m);
        io.stdout.write(`${lines.join('\n')}\n`);
        io.stderr.write(
          `${n} shares of root key ${rootKeyFingerprint(key)}; any ${m} rebuild it (symbolon operator escrow combine). They are not stored anywhere.\n`,
        );
      } finally {
        wipe(key);
      }
      return 0;
    }
    if (sub === 'combine') {
      const out = resolve(values.out ?? join(dir, 'root.key'));
      if (existsSync(out)) throw new UsageError(`${out} exists; a root key file is never replaced (move it away, or give --out)`);
      const text = await (io.stdin ?? readStdin)();
      const lines = text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '');
      const key = await combineRootKey(lines);
      try {
        writeKeyFileAtomically(out, key, 'refuse');
        io.stdout.write(`Root key ${rootKeyFingerprint(key)} rebuilt from ${lines.length} shares and written to ${out}.\n`);
      } finally {
        wipe(key);
      }
      return 0;
    }
    throw new UsageError(`unknown escrow command '${sub.slice(0, 40)}'`);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`symbolon operator: ${(e as Error).message}\n${OPERATOR_USAGE}`);
      return 2;
    }
    if (e instanceof EscrowError || e instanceof RootKeyError) {
      io.stderr.write(`symbolon operator escrow: refused: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** The raw root key, as the file root reads it (the caller wipes it). */
function readRootKey(dir: string, envKey: string | undefined): Uint8Array {
  const text = envKey ? envKey.trim() : readFileSync(join(dir, 'root.key'), 'utf8').trim();
  // Validated the way the server validates it.
  const { root } = loadFileRoot({ dataDir: dir, envKey: text, storeSealed: true });
  void root.close(); // synchronous wipes; nothing to wait for
  const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  const key = new Uint8Array(bytes);
  bytes.fill(0);
  return key;
}

/** Writes the key as the file root does (64 hex characters and a newline, mode 0600), never over an existing file. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `symbolon operator init|unseal|seal` (SYMBOLON_ROOT=shamir, docs/root-of-trust.md).
 * Exit codes: 0 done; 1 refused; 2 bad usage; 3 (unseal) shares accepted, still sealed.
 */
async function shamirCommand(command: 'init' | 'unseal' | 'seal', args: string[], io: OperatorIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      shares: { type: 'string' },
      threshold: { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(OPERATOR_USAGE);
    return 0;
  }
  try {
    if (command === 'init') return await shamirInit(values, io);
    let url: string;
    try {
      const target = resolveTarget(values.endpoint, io.env as NodeJS.ProcessEnv);
      if (target.kind !== 'symbolon') throw new UsageError('--endpoint must be a Symbolon server URL');
      url = target.url.replace(/\/+$/, '');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    return command === 'unseal' ? await shamirUnseal(url, io) : await shamirSeal(url, values.region, io);
  } catch (e) {
    if (e instanceof ShamirCliError) {
      io.stderr.write(`symbolon operator ${command}: refused: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

class ShamirCliError extends Error {}

async function shamirInit(values: { data?: string | undefined; shares?: string | undefined; threshold?: string | undefined }, io: OperatorIo): Promise<number> {
  const n = Number(values.shares);
  const m = Number(values.threshold);
  if (!Number.isInteger(n) || !Number.isInteger(m) || m < 2 || n < m || n > 255)
    throw new UsageError('--shares N and --threshold M are needed, with 2 <= M <= N <= 255');
  const dir = resolve(values.data ?? io.env.SYMBOLON_DATA_DIR ?? './data');
  const databaseUrl = io.env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) throw new UsageError('DATABASE_URL must be a postgres:// URL');
  if (!databaseUrl) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const store = await openStore({ databaseUrl, sqliteFile: join(dir, 'symbolon.db') });
  try {
    if ((await getMeta(store.db, STORE_KEY_META)) !== undefined || (await getMeta(store.db, ROOT_CHECK)) !== undefined)
      throw new ShamirCliError('this store already has a store key (it was started or initialised before); init makes a new store only');
    const { root, record, lines } = await createShamirRoot(n, m);
    try {
      const storeKey = await createStoreKeyRecord(root, false);
      await store.db.transaction().execute(async (trx) => {
        if ((await getMeta(trx, STORE_KEY_META)) !== undefined) throw new ShamirCliError('another process initialised this store meanwhile');
        await putMetaIfAbsent(trx, SHAMIR_META, encodeShamirRecord(record));
        await putMetaIfAbsent(trx, STORE_KEY_META, storeKey);
      });
    } finally {
      await root.close();
    }
    io.stdout.write(`${lines.join('\n')}\n`);
    io.stderr.write(
      `${n} unseal shares of Shamir root ${record.fingerprint}; any ${m} unseal the server (symbolon operator unseal). They are printed once and stored nowhere: hand each to its holder. Serve with SYMBOLON_ROOT=shamir.\n`,
    );
    return 0;
  } finally {
    await store.close();
  }
}

interface UnsealAnswer {
  sealed?: boolean;
  progress?: number;
  threshold?: number;
  error?: { code?: string; message?: string };
}

async function shamirUnseal(url: string, io: OperatorIo): Promise<number> {
  const lines = (await (io.stdin ?? readSharesFromStdin)())
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) throw new UsageError('no shares on stdin (one a line)');
  let last: UnsealAnswer = {};
  for (const [i, share] of lines.entries()) {
    let res: Response;
    try {
      res = await fetch(`${url}/operator/unseal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ share }) });
    } catch (e) {
      throw new ShamirCliError(`${url} does not answer (${(e as { cause?: { code?: string } }).cause?.code ?? 'network error'})`);
    }
    try {
      last = (await res.json()) as UnsealAnswer;
    } catch {
      throw new ShamirCliError(`unexpected answer from ${url} (HTTP ${res.status}): is it a Symbolon server with SYMBOLON_ROOT=shamir?`);
    }
    if (!res.ok) {
      const progress = last.threshold ? ` (${last.progress ?? 0} of ${last.threshold} shares so far)` : '';
      throw new ShamirCliError(`share ${i + 1}: ${last.error?.message ?? `HTTP ${res.status}`} [${last.error?.code ?? 'error'}]${progress}`);
    }
    if (last.sealed === false) {
      io.stdout.write(`unsealed: ${url} serves\n`);
      return 0;
    }
    io.stdout.write(`sealed: ${last.progress} of ${last.threshold} shares\n`);
  }
  io.stdout.write(`still sealed: ${last.progress} of ${last.threshold} shares delivered; ${(last.threshold ?? 0) - (last.progress ?? 0)} more needed\n`);
  return 3;
}

async function shamirSeal(url: string, regionFlag: string | undefined, io: OperatorIo): Promise<number> {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = io.env;
  if (!accessKeyId || !secretAccessKey)
    throw new UsageError('seal is signed: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the account root, or a principal allowed symbolon:Seal)');
  const region = regionFlag ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const u = new URL(`${url}/operator/seal`);
  const body = '{}';
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    region,
    service: 'kms',
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: u.protocol,
      hostname: u.hostname,
      ...(u.port ? { port: Number(u.port) } : {}),
      path: u.pathname,
      headers: { host: u.host, 'content-type': 'application/json' },
      body,
    }),
  );
  let res: Response;
  try {
    res = await fetch(u, { method: 'POST', headers: signed.headers as Record<string, string>, body });
  } catch (e) {
    throw new ShamirCliError(`${url} does not answer (${(e as { cause?: { code?: string } }).cause?.code ?? 'network error'})`);
  }
  const json = (await res.json().catch(() => ({}))) as UnsealAnswer & { __type?: string; message?: string };
  if (!res.ok) throw new ShamirCliError(json.error?.message ?? `${json.__type ?? `HTTP ${res.status}`}: ${json.message ?? ''}`);
  io.stdout.write(`sealed: ${url} answers "sealed" until ${json.threshold} shares unseal it\n`);
  return 0;
}

/**
 * All of stdin. At a terminal, lines are read without echo (raw mode): a
 * share is never shown on screen; an empty line or Ctrl-D ends, Ctrl-C aborts.
 */
async function readSharesFromStdin(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return readStdin();
  process.stderr.write('Paste or type shares, one a line (not echoed); an empty line ends:\n');
  stdin.setRawMode(true);
  stdin.resume();
  let text = '';
  let line = '';
  try {
    await new Promise<void>((done, fail) => {
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\u0003') return fail(new UsageError('aborted'));
          if (ch === '\u0004' || ((ch === '\r' || ch === '\n') && line === '')) {
            stdin.off('data', onData);
            return done();
          }
          if (ch === '\r' || ch === '\n') {
            text += `${line}\n`;
            line = '';
            process.stderr.write(`(share ${text.split('\n').length - 1} read)\n`);
          } else if (ch === '\u007f') line = line.slice(0, -1);
          else line += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
  return text + line;
}
