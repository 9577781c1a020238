/**
 * `symbolon wallet create|list|address|sign-tx|sign-message|send`: KMS-backed
 * Ethereum wallets (one ECC_SECG_P256K1 / SIGN_VERIFY key each) against a KMS
 * endpoint chosen by the one rule of src/cli/endpoint.ts: `--endpoint`, else
 * SYMBOLON_ENDPOINT, else the local server; real AWS KMS only with `aws`.
 * Signing goes through @symbolon/sdk's KmsSigner, so the bytes are the SDK's.
 * Credentials come from the standard AWS environment variables
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else, for a
 * Symbolon endpoint, the data directory's admin-credentials.json (never sent
 * to AWS); the region from --region, AWS_REGION or AWS_DEFAULT_REGION, else
 * that file, else us-east-1. Transactions are JSON (ethers TransactionRequest
 * fields; numbers may be decimal or 0x strings); `--json` prints one JSON
 * object for scripts.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { KMSClientConfig } from '@aws-sdk/client-kms';
import type { Provider, TransactionRequest } from 'ethers';
import { ENDPOINT_HELP, resolveTarget } from './endpoint.js';

const COMMANDS: Record<string, { usage: string; about: string }> = {
  create: {
    usage: 'create [--alias NAME] [--tag KEY=VALUE]... [--description TEXT]',
    about: 'Create a KMS key (ECC_SECG_P256K1, SIGN_VERIFY); print its key id and address.',
  },
  list: {
    usage: 'list',
    about:
      'The secp256k1 signing keys you may describe: key id, address, state, aliases. Keys whose policy hides them from you are skipped (counted on stderr).',
  },
  address: { usage: 'address --key ID', about: 'The address of a key (id, ARN or alias/NAME).' },
  'sign-tx': {
    usage: 'sign-tx --key ID (--tx JSON | --tx-file FILE|-) [--rpc URL] [--allow-no-chain-id]',
    about: `Sign a transaction (JSON) and print it. With --rpc, a missing nonce, fees, gas
                       limit and chain id are filled in from the node (and named on stderr);
                       without it they must be given. A transaction with no chain id (valid on
                       every chain: replayable) or a typed one with chain id 0 (valid on none)
                       is refused unless --allow-no-chain-id.`,
  },
  'sign-message': { usage: 'sign-message --key ID (--message TEXT | --hex 0x...)', about: 'Sign an EIP-191 personal message.' },
  send: {
    usage: 'send --key ID --rpc URL (--tx JSON | --tx-file FILE|-) [--no-wait]',
    about: `Fill, sign and broadcast a transaction; wait for its receipt unless --no-wait.
                       Refused with the amounts when the key's balance cannot pay for it.`,
  },
};

const COMMON = `Options:
${ENDPOINT_HELP}
  --region REGION      Region (default AWS_REGION, AWS_DEFAULT_REGION, the data dir's, or us-east-1).
  --data DIR           Data directory whose admin-credentials.json is used with a Symbolon
                       endpoint when no AWS_* credentials are set (default ./data).
  --json               Print one JSON object.
  -h, --help           Help (symbolon wallet COMMAND --help for one command).

Environment:
  SYMBOLON_ENDPOINT    Default for --endpoint: a URL, or aws.
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
                       Credentials. Else, for a Symbolon endpoint, DIR/admin-credentials.json;
                       for aws, the AWS SDK's default chain (AWS_PROFILE, SSO, instance roles).
  AWS_REGION, AWS_DEFAULT_REGION
                       Region.
  SYMBOLON_DATA_DIR    Default for --data.
`;

const USAGE = `Usage: symbolon wallet <command> [options]

KMS-backed Ethereum wallets: one ECC_SECG_P256K1 / SIGN_VERIFY key each.

Commands:
${Object.values(COMMANDS)
  .map((c) => (c.usage.length <= 20 ? `  ${c.usage.padEnd(21)}${c.about}` : `  ${c.usage}\n                       ${c.about}`))
  .join('\n')}

${COMMON}`;

function commandUsage(name: string): string {
  const c = COMMANDS[name]!;
  return `Usage: symbolon wallet ${c.usage} [options]\n\n  ${c.about.replace(/\n +/g, '\n  ')}\n\n${COMMON}`;
}

const OPTIONS = {
  endpoint: { type: 'string' },
  region: { type: 'string' },
  data: { type: 'string' },
  json: { type: 'boolean' },
  key: { type: 'string' },
  alias: { type: 'string' },
  tag: { type: 'string', multiple: true },
  description: { type: 'string' },
  tx: { type: 'string' },
  'tx-file': { type: 'string' },
  rpc: { type: 'string' },
  message: { type: 'string' },
  hex: { type: 'string' },
  'no-wait': { type: 'boolean' },
  'allow-no-chain-id': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = Partial<Record<string, string | boolean | string[]>>;

/** A usage mistake: printed with the usage text, exit code 2. */
class UsageError extends Error {}

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

function required(flags: Flags, name: string): string {
  const v = str(flags, name);
  if (!v) throw new UsageError(`--${name} is required`);
  return v;
}

function kmsConfig(flags: Flags, env: NodeJS.ProcessEnv): KMSClientConfig {
  let target: ReturnType<typeof resolveTarget>;
  try {
    target = resolveTarget(str(flags, 'endpoint'), env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let fileCreds: { accessKeyId?: string; secretAccessKey?: string; region?: string } | undefined;
  const readFile = () => {
    if (fileCreds) return fileCreds;
    // The local administrator credential belongs to a Symbolon server: never sent to AWS.
    if (target.kind === 'aws') return (fileCreds = {});
    const file = join(resolve(str(flags, 'data') ?? env.SYMBOLON_DATA_DIR ?? './data'), 'admin-credentials.json');
    try {
      fileCreds = JSON.parse(readFileSync(file, 'utf8')) as typeof fileCreds;
    } catch {
      fileCreds = {};
    }
    return fileCreds!;
  };
  const region = str(flags, 'region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? readFile().region ?? 'us-east-1';
  const config: KMSClientConfig = { region };
  if (target.kind === 'symbolon') config.endpoint = target.url;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    config.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  } else {
    const file = readFile();
    // Without either, the AWS SDK's default chain (profiles, SSO, instance roles) applies.
    if (file.accessKeyId && file.secretAccessKey) config.credentials = { accessKeyId: file.accessKeyId, secretAccessKey: file.secretAccessKey };
  }
  return config;
}

/** The fields a transaction must carry to be signed as given (without --rpc to fill them). */
function missingFields(tx: TransactionRequest): string[] {
  const legacy = tx.type === 0 || tx.type === 1 || (tx.type == null && tx.gasPrice != null && tx.maxFeePerGas == null);
  const need = ['chainId', 'nonce', 'gasLimit', ...(legacy ? ['gasPrice'] : ['maxFeePerGas', 'maxPriorityFeePerGas'])];
  return need.filter((f) => (tx as Record<string, unknown>)[f] == null);
}

/** Why a transaction's chain id makes it unsafe to sign (no chain id: replayable; typed with 0: valid on no chain), or undefined. */
function chainIdProblem(tx: TransactionRequest): string | undefined {
  if (tx.chainId == null) return 'the transaction has no chain id: signed, it is valid on every chain (replayable)';
  let id: bigint;
  try {
    id = BigInt(tx.chainId as bigint | number | string);
  } catch {
    return undefined; // ethers refuses it with its own message
  }
  if (id === 0n)
    return tx.type === 0
      ? 'the transaction has chain id 0: signed without EIP-155, it is valid on every chain (replayable)'
      : 'the transaction has chain id 0: a typed transaction with chain id 0 is valid on no chain';
  return undefined;
}

/** ETH with up to 18 decimals, trailing zeros trimmed. */
function eth(wei: bigint): string {
  const neg = wei < 0n;
  const v = neg ? -wei : wei;
  const frac = (v % 10n ** 18n).toString().padStart(18, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${v / 10n ** 18n}${frac ? `.${frac}` : ''} ETH`;
}

/** A failure the user must see as such: printed as `symbolon wallet CMD: message`, exit 1. */
class WalletCliError extends Error {}

/**
 * Refuses a transaction the key's balance cannot pay for, with the amounts.
 * `tx` may be unfilled (value only) or filled (value + gas limit × max fee).
 * @throws {WalletCliError} insufficient funds.
 */
async function checkFunds(provider: Provider, from: string, tx: TransactionRequest, nodeRefused = false): Promise<void> {
  const value = BigInt((tx.value as bigint | number | string | null | undefined) ?? 0);
  const fee = tx.maxFeePerGas ?? tx.gasPrice;
  const gas = tx.gasLimit != null && fee != null ? BigInt(tx.gasLimit as bigint | number | string) * BigInt(fee as bigint | number | string) : undefined;
  const cost = value + (gas ?? 0n);
  const balance = await provider.getBalance(from);
  if (balance >= cost && !nodeRefused) return;
  const what = gas === undefined ? `value ${eth(value)} plus gas` : `up to ${eth(cost)} (value ${eth(value)} + gas ${tx.gasLimit} × max fee ${fee} wei)`;
  throw new WalletCliError(`insufficient funds: the transaction needs ${what}; ${from} holds ${eth(balance)}`);
}

/** ethers' and the node's words for a balance too small (ethers cannot always name it: "could not coalesce error"). */
function isInsufficientFunds(e: unknown): boolean {
  const err = e as { code?: string; message?: string; error?: { message?: string }; info?: { error?: { message?: string } } };
  if (err?.code === 'INSUFFICIENT_FUNDS') return true;
  const text = [err?.message, err?.error?.message, err?.info?.error?.message].filter(Boolean).join(' ');
  return /insufficient funds|enough funds/i.test(text);
}

function readTransaction(flags: Flags): TransactionRequest {
  const inline = str(flags, 'tx');
  const file = str(flags, 'tx-file');
  if ((inline === undefined) === (file === undefined))
    throw new UsageError('give the transaction with exactly one of --tx JSON or --tx-file FILE (- for stdin)');
  const text = inline ?? readFileSync(file === '-' ? 0 : file!, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError('the transaction is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('the transaction must be a JSON object');
  const tx = { ...(parsed as Record<string, unknown>) };
  // viem's spelling is accepted too.
  if (tx.gas !== undefined && tx.gasLimit === undefined) tx.gasLimit = tx.gas;
  delete tx.gas;
  if (tx.input !== undefined && tx.data === undefined) tx.data = tx.input;
  delete tx.input;
  const TYPES: Record<string, number> = { legacy: 0, eip2930: 1, eip1559: 2, eip4844: 3, eip7702: 4 };
  if (typeof tx.type === 'string' && tx.type in TYPES) tx.type = TYPES[tx.type];
  return tx as TransactionRequest;
}

function output(flags: Flags, value: Record<string, unknown> | Record<string, unknown>[], human: () => string): void {
  const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2);
  process.stdout.write(flags.json ? `${json(value)}\n` : `${human()}\n`);
}

function describeTransaction(Transaction: typeof import('ethers').Transaction, serialized: string): Record<string, unknown> {
  const t = Transaction.from(serialized);
  return { hash: t.hash, from: t.from, type: t.type, chainId: t.chainId.toString(), nonce: t.nonce };
}

/**
 * Runs `symbolon wallet ...`; returns the exit code (0 done, 1 failed, 2 usage).
 * @throws never: failures become an exit code and a message on stderr.
 */
export async function walletCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (!(sub in COMMANDS)) {
    process.stderr.write(`symbolon wallet: unknown wallet command '${sub.slice(0, 40)}'\n${USAGE}`);
    return 2;
  }
  let flags: Flags;
  try {
    flags = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: false }).values as Flags;
  } catch (e) {
    process.stderr.write(`symbolon wallet ${sub}: ${(e as Error).message}\n${commandUsage(sub)}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(commandUsage(sub));
    return 0;
  }
  let config: KMSClientConfig;
  try {
    config = kmsConfig(flags, env);
  } catch (e) {
    process.stderr.write(`symbolon wallet ${sub}: ${(e as Error).message}\n`);
    return 2;
  }
  // Loaded here, not at the top: `symbolon serve` imports this module and needs none of them.
  const [{ KMSClient }, { JsonRpcProvider, Transaction }, { KmsWalletManager }] = await Promise.all([
    import('@aws-sdk/client-kms'),
    import('ethers'),
    import('@symbolon/sdk'),
  ]);
  const client = new KMSClient(config);
  const rpc = str(flags, 'rpc');
  const provider = rpc ? new JsonRpcProvider(rpc, undefined, { staticNetwork: true }) : null;
  const manager = new KmsWalletManager({ client, provider });
  try {
    switch (sub) {
      case 'create': {
        const tags: Record<string, string> = {};
        for (const t of (flags.tag as string[] | undefined) ?? []) {
          const i = t.indexOf('=');
          if (i <= 0) throw new UsageError('--tag must be KEY=VALUE');
          tags[t.slice(0, i)] = t.slice(i + 1);
        }
        const alias = str(flags, 'alias');
        const description = str(flags, 'description');
        const wallet = await manager.createWallet({
          ...(alias !== undefined ? { alias } : {}),
          ...(Object.keys(tags).length ? { tags } : {}),
          ...(description !== undefined ? { description } : {}),
        });
        output(flags, { ...wallet }, () => `Created wallet ${wallet.address}\n  key id: ${wallet.keyId}${wallet.alias ? `\n  alias:  ${wallet.alias}` : ''}`);
        return 0;
      }
      case 'list': {
        const skipped: string[] = [];
        const wallets = await manager.listWallets({ onSkipped: (keyId) => skipped.push(keyId) });
        output(flags, { wallets, skippedKeyIds: skipped }, () =>
          wallets.length === 0
            ? 'No secp256k1 signing keys.'
            : wallets
                .map((w) => `${w.address ?? '(no address)'}  ${w.keyId}  ${w.keyState ?? ''}${w.aliases.length ? `  ${w.aliases.join(',')}` : ''}`)
                .join('\n'),
        );
        if (skipped.length > 0 && !flags.json)
          process.stderr.write(`(${skipped.length} key${skipped.length === 1 ? '' : 's'} not shown: their key policy does not let you describe them)\n`);
        return 0;
      }
      case 'address': {
        const keyId = required(flags, 'key');
        const address = await manager.getAddress(keyId);
        output(flags, { keyId, address }, () => address);
        return 0;
      }
      case 'sign-tx': {
        const keyId = required(flags, 'key');
        const signer = manager.getSigner(keyId);
        const given = readTransaction(flags);
        let tx = given;
        let filled: string[] = [];
        if (provider) {
          tx = await signer.populateTransaction(given);
          filled = ['chainId', 'nonce', 'gasLimit', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'type'].filter(
            (f) => (given as Record<string, unknown>)[f] == null && (tx as Record<string, unknown>)[f] != null,
          );
        } else {
          const missing = missingFields(given).filter((f) => f !== 'chainId');
          if (missing.length > 0) throw new UsageError(`the transaction has no ${missing.join(', ')}: give them, or --rpc URL to fill them in from a node`);
        }
        const problem = chainIdProblem(tx);
        if (problem && !flags['allow-no-chain-id']) {
          throw new UsageError(
            `${problem}. Give "chainId"${provider ? '' : ' (or --rpc URL to fill it in)'}, or pass --allow-no-chain-id if that is what you mean`,
          );
        }
        const signed = await signer.signTransaction(tx);
        if (filled.length > 0 && !flags.json) process.stderr.write(`filled in from --rpc: ${filled.join(', ')}\n`);
        output(flags, { keyId, signedTransaction: signed, ...describeTransaction(Transaction, signed), filled }, () => signed);
        return 0;
      }
      case 'sign-message': {
        const keyId = required(flags, 'key');
        const text = str(flags, 'message');
        const hex = str(flags, 'hex');
        if ((text === undefined) === (hex === undefined)) throw new UsageError('give exactly one of --message TEXT or --hex 0x...');
        if (hex !== undefined && !/^0x([0-9a-fA-F]{2})*$/.test(hex)) throw new UsageError('--hex must be 0x-prefixed bytes');
        const message = text ?? Uint8Array.from(Buffer.from(hex!.slice(2), 'hex'));
        const signer = manager.getSigner(keyId);
        const signature = await signer.signMessage(message);
        output(flags, { keyId, address: await signer.getAddress(), signature }, () => signature);
        return 0;
      }
      case 'send': {
        const keyId = required(flags, 'key');
        if (!provider) throw new UsageError('send needs --rpc URL');
        const signer = manager.getSigner(keyId);
        const tx = readTransaction(flags);
        const from = await signer.getAddress();
        // A node asked to estimate gas for an account that cannot pay answers an error ethers cannot name: check first, with the amounts.
        await checkFunds(provider, from, tx);
        let response;
        try {
          const populated = await signer.populateTransaction(tx);
          await checkFunds(provider, from, populated);
          response = await signer.sendTransaction(populated);
        } catch (e) {
          if (e instanceof WalletCliError || !isInsufficientFunds(e)) throw e;
          await checkFunds(provider, from, tx, true);
          throw e;
        }
        const receipt = flags['no-wait'] ? null : await response.wait();
        output(
          flags,
          {
            keyId,
            hash: response.hash,
            from: response.from,
            nonce: response.nonce,
            ...(receipt ? { status: receipt.status, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed.toString() } : {}),
          },
          () => (receipt ? `${response.hash} (block ${receipt.blockNumber}, status ${receipt.status})` : response.hash),
        );
        return receipt && receipt.status !== 1 ? 1 : 0;
      }
      default:
        throw new UsageError(`unknown wallet command '${sub.slice(0, 40)}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`symbolon wallet ${sub}: ${e.message}\n(symbolon wallet ${sub} --help)\n`);
      return 2;
    }
    if (e instanceof WalletCliError) {
      process.stderr.write(`symbolon wallet ${sub}: ${e.message}\n`);
      return 1;
    }
    const err = e as Error & { code?: string };
    if (isInsufficientFunds(e)) {
      process.stderr.write(`symbolon wallet ${sub}: insufficient funds (${(err as { shortMessage?: string }).shortMessage ?? err.message})\n`);
      return 1;
    }
    // AWS errors carry their __type as name; ethers' and the SDK's carry a code. Never the payload.
    process.stderr.write(
      `symbolon wallet ${sub}: ${err.name ?? 'Error'}${err.code ? ` (${err.code})` : ''}: ${(err as { shortMessage?: string }).shortMessage ?? err.message}\n`,
    );
    return 1;
  } finally {
    provider?.destroy();
    client.destroy();
  }
}
