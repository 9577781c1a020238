/**
 * `symbolon wallet create|list|address|sign-tx|sign-message|send`: KMS-backed
 * Ethereum wallets (one ECC_SECG_P256K1 / SIGN_VERIFY key each) against a KMS
 * endpoint — Symbolon's custodian (`--endpoint http://127.0.0.1:8080`) or AWS
 * KMS (no --endpoint). Signing goes through @symbolon/sdk's KmsSigner, so the
 * bytes are the SDK's. Credentials come from the standard AWS environment
 * variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
 * else the data directory's admin-credentials.json; the region from --region,
 * AWS_REGION or AWS_DEFAULT_REGION, else that file, else us-east-1.
 * Transactions are JSON (ethers TransactionRequest fields; numbers may be
 * decimal or 0x strings); `--json` prints one JSON object for scripts.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { KMSClientConfig } from '@aws-sdk/client-kms';
import type { TransactionRequest } from 'ethers';

const USAGE = `Usage: symbolon wallet <command> [options]

Commands:
  create [--alias NAME] [--tag KEY=VALUE]... [--description TEXT]
                       Create a KMS key (ECC_SECG_P256K1, SIGN_VERIFY); print its key id and address.
  list                 Every secp256k1 signing key: key id, address, state, aliases.
  address --key ID     The address of a key (id, ARN or alias/NAME).
  sign-tx --key ID (--tx JSON | --tx-file FILE|-) [--rpc URL]
                       Sign a transaction (JSON); with --rpc, missing nonce, fees, gas and chain id are filled in.
  sign-message --key ID (--message TEXT | --hex 0x...)
                       Sign an EIP-191 personal message.
  send --key ID --rpc URL (--tx JSON | --tx-file FILE|-) [--no-wait]
                       Fill, sign and broadcast a transaction; wait for its receipt unless --no-wait.

Options:
  --endpoint URL       KMS endpoint (Symbolon's custodian); AWS KMS when omitted.
  --region REGION      Region (default AWS_REGION, AWS_DEFAULT_REGION, the data dir's, or us-east-1).
  --data DIR           Data directory whose admin-credentials.json is used when no AWS_* credentials are set (./data).
  --json               Print one JSON object.
`;

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
  let fileCreds: { accessKeyId?: string; secretAccessKey?: string; region?: string } | undefined;
  const readFile = () => {
    if (fileCreds) return fileCreds;
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
  const endpoint = str(flags, 'endpoint');
  if (endpoint) config.endpoint = endpoint;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    config.credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
  } else {
    const file = readFile();
    // Without either, the AWS SDK's default chain (profiles, SSO, instance roles) applies.
    if (file.accessKeyId && file.secretAccessKey) config.credentials = { accessKeyId: file.accessKeyId, secretAccessKey: file.secretAccessKey };
  }
  return config;
}

function readTransaction(flags: Flags): TransactionRequest {
  const inline = str(flags, 'tx');
  const file = str(flags, 'tx-file');
  if ((inline === undefined) === (file === undefined)) throw new UsageError('give the transaction with exactly one of --tx JSON or --tx-file FILE (- for stdin)');
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
 */
export async function walletCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  let flags: Flags;
  try {
    flags = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: false }).values as Flags;
  } catch (e) {
    process.stderr.write(`symbolon wallet: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // Loaded here, not at the top: `symbolon serve` imports this module and needs none of them.
  const [{ KMSClient }, { JsonRpcProvider, Transaction }, { KmsWalletManager }] = await Promise.all([import('@aws-sdk/client-kms'), import('ethers'), import('@symbolon/sdk')]);
  const client = new KMSClient(kmsConfig(flags, env));
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
        const wallets = await manager.listWallets();
        output(flags, { wallets }, () =>
          wallets.length === 0
            ? 'No secp256k1 signing keys.'
            : wallets.map((w) => `${w.address ?? '(no address)'}  ${w.keyId}  ${w.keyState ?? ''}${w.aliases.length ? `  ${w.aliases.join(',')}` : ''}`).join('\n'),
        );
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
        let tx = readTransaction(flags);
        if (provider) tx = await signer.populateTransaction(tx);
        const signed = await signer.signTransaction(tx);
        output(flags, { keyId, signedTransaction: signed, ...describeTransaction(Transaction, signed) }, () => signed);
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
        const response = await signer.sendTransaction(readTransaction(flags));
        const receipt = flags['no-wait'] ? null : await response.wait();
        output(
          flags,
          { keyId, hash: response.hash, from: response.from, nonce: response.nonce, ...(receipt ? { status: receipt.status, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed.toString() } : {}) },
          () => (receipt ? `${response.hash} (block ${receipt.blockNumber}, status ${receipt.status})` : response.hash),
        );
        return receipt && receipt.status !== 1 ? 1 : 0;
      }
      default:
        throw new UsageError(`unknown wallet command '${sub.slice(0, 40)}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`symbolon wallet: ${e.message}\n${USAGE}`);
      return 2;
    }
    const err = e as Error & { code?: string };
    // AWS errors carry their __type as name; ethers' and the SDK's carry a code. Never the payload.
    process.stderr.write(`symbolon wallet ${sub}: ${err.name ?? 'Error'}${err.code ? ` (${err.code})` : ''}: ${(err as { shortMessage?: string }).shortMessage ?? err.message}\n`);
    return 1;
  } finally {
    provider?.destroy();
    client.destroy();
  }
}
