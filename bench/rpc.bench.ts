/**
 * `npm run bench:rpc`: the JSON-RPC signer (docs/rpc.md) against KMS `Sign`
 * of the same server in the same run. One server process (`symbolon serve`,
 * embedded SQLite unless DATABASE_URL is set), one secp256k1 key, one IAM
 * user allowed kms:Sign on it with both an access key (for Sign, SigV4) and
 * an API token (for /rpc): so both paths authorize the same principal against
 * the same policies. Driven over pipelined keep-alive connections in
 * alternating rounds (BENCH_ROUNDS, default 3); the medians, their ratio
 * (target: /rpc ≥ 0.7 × Sign) and the in-process ceiling (the keystore's
 * signDigest in a loop, and src/eth's whole transaction signature in a
 * loop) are printed and written to bench/results/rpc.json.
 *
 * /rpc requests are complete EIP-1559 transactions (chain id, nonce, gas,
 * fees given), so no upstream node is involved; each distinct request is
 * checked to return a signed transaction before the load (a JSON-RPC error
 * also answers HTTP 200, which the load generator would count as a success).
 * The /rpc key carries a signing policy (RPC_POLICY: a few statements, one of
 * them a rolling-window limit, eth:ValueInWindow/86400), so every /rpc
 * request is authenticated, authorized, policy-checked (with its window
 * read and its one usage row written) and audited; the Sign key has none
 * (a key with a signing policy refuses raw Sign). BENCH_NO_POLICY=1 runs
 * /rpc without it. One server process (`--workers 1`): its CPU time per
 * request (from /proc) is printed for both paths, the primary evidence on a
 * loaded machine.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { createMaterial, signDigest, signDigestCompact } from '../src/kms/keystore.js';
import { fromCompact } from '../src/kms/sign-payload.js';
import { serializeTransaction } from 'viem';
import { KeyRootOfTrust } from '../src/root/root-of-trust.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { adminCommand } from '../src/cli/admin.js';
import { parsePayload } from '../src/eth/payload.js';
import { signPreparedTransaction } from '../src/eth/signTransaction.js';
import { BENCH_ADMIN, BENCH_REGION, ceiling, cpuMs, runPipelined, signKmsRequest, startServer, type PreparedRequest } from './lib/load.js';
import { policyCommand } from '../src/cli/policy.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DEPTH = Number(process.env.BENCH_DEPTH ?? 4);
const TARGET = 0.7;
const WITH_POLICY = process.env.BENCH_NO_POLICY !== '1';
/** BENCH_POLICY=stateless: the same policy without its rolling-window limit (isolates the window's cost). */
const STATELESS = process.env.BENCH_POLICY === 'stateless';

/** A realistic signing policy: payments only, on one chain, at most 1 ETH each and 1000 ETH a day; no approve, no contract creation. */
const RPC_POLICY = {
  Version: '2026-12-01',
  Statement: [
    { Sid: 'OneChain', Effect: 'Deny', Condition: { NumericNotEquals: { 'eth:ChainId': '31337' } } },
    { Sid: 'NoApprove', Effect: 'Deny', Condition: { StringEquals: { 'eth:FunctionSelector': '0x095ea7b3' } } },
    {
      Sid: 'Payments',
      Effect: 'Allow',
      Condition: {
        StringEquals: { 'eth:PayloadType': 'transaction' },
        NumericLessThanEquals: STATELESS
          ? { 'eth:Value': '1000000000000000000' }
          : { 'eth:Value': '1000000000000000000', 'eth:ValueInWindow/86400': '1000000000000000000000' },
      },
    },
  ],
};

async function admin(endpoint: string, args: string[]): Promise<any> {
  let out = '';
  let err = '';
  const env = { AWS_ACCESS_KEY_ID: BENCH_ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: BENCH_ADMIN.secretAccessKey, AWS_REGION: BENCH_REGION };
  const code = await adminCommand([...args, '--endpoint', endpoint, '--json'], { out: (s) => void (out += s), err: (s) => void (err += s), env });
  if (code !== 0) throw new Error(`symbolon admin ${args[0]}: ${err}`);
  return JSON.parse(out);
}

/** ceiling() for an async step: runs per second in a loop for 1.5 s after a warm-up. */
async function asyncCeiling(fn: (i: number) => Promise<void>, seconds = 1.5): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(i);
  let n = 0;
  const start = performance.now();
  while (performance.now() < start + seconds * 1000) await fn(n++);
  return n / ((performance.now() - start) / 1000);
}

/** An EIP-1559 transaction with nonce `i`, read and encoded as /rpc does (src/eth/payload.ts). */
function preparedTransaction(i: number) {
  const payload = parsePayload({
    type: 'transaction',
    transaction: {
      type: 'eip1559',
      chainId: 31337,
      nonce: i,
      to: `0x${'11'.repeat(20)}`,
      value: '1',
      gas: '21000',
      maxFeePerGas: '2000000000',
      maxPriorityFeePerGas: '1',
    },
  });
  if (payload.type !== 'transaction' || !payload.prepared) throw new Error('not prepared');
  return payload.prepared;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const server = await startServer({
    workers: '1',
    ...(process.env.BENCH_PROF ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] } : {}),
  });
  const kms = new KMSClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
  const scratch = mkdtempSync(join(tmpdir(), 'symbolon-bench-rpc-'));
  try {
    // The in-process ceiling: the keystore's signature, no HTTP, no authorization, no encoding.
    const root = new KeyRootOfTrust(new Uint8Array(randomBytes(32)), 'bench');
    const k1Id = randomUUID();
    const k1 = createMaterial(root, 'ECC_SECG_P256K1', k1Id, 1);
    const digests = Array.from({ length: 1024 }, () => new Uint8Array(randomBytes(32)));
    const ceil = ceiling((i) => signDigest(root, 'ECC_SECG_P256K1', k1Id, 1, k1.sealed, digests[i % 1024]!));
    // The in-process ceiling of what eth_signTransaction adds to it: src/eth's encoding, the signature checked by recovery, the signed serialization.
    const k1Address = publicKeyToAddress(k1.publicKey!);
    const digestSigner = async (d: Uint8Array) => {
      const { der, recoveryId } = signDigest(root, 'ECC_SECG_P256K1', k1Id, 1, k1.sealed, d);
      return { signature: der, recovery: recoveryId };
    };
    const ethCeil = await asyncCeiling(async (i) => {
      await signPreparedTransaction({ prepared: preparedTransaction(i), signer: digestSigner, address: k1Address });
    });

    // What /rpc does now once the key is proven (src/kms/sign-payload.ts signWithKey): libsecp256k1's recovery id, no recovery.
    const fastCeil = await asyncCeiling(async (i) => {
      const prepared = preparedTransaction(i);
      const { signature, recoveryId } = signDigestCompact(root, k1Id, 1, k1.sealed, prepared.digest);
      const sig = fromCompact(signature, recoveryId);
      if (!sig) throw new Error('not canonical');
      serializeTransaction(prepared.unsigned, sig);
    });

    const key = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
    const rpcKey = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
    const address = publicKeyToAddress((await kms.send(new GetPublicKeyCommand({ KeyId: rpcKey.KeyId! }))).PublicKey!);
    const policy = join(scratch, 'policy.json');
    writeFileSync(policy, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Sign', Resource: [key.Arn, rpcKey.Arn] }] }));
    if (WITH_POLICY) {
      const file = join(scratch, 'signing-policy.json');
      writeFileSync(file, JSON.stringify(RPC_POLICY));
      let err = '';
      const env = {
        AWS_ACCESS_KEY_ID: BENCH_ADMIN.accessKeyId,
        AWS_SECRET_ACCESS_KEY: BENCH_ADMIN.secretAccessKey,
        AWS_REGION: BENCH_REGION,
        SYMBOLON_ENDPOINT: server.endpoint,
      };
      const code = await policyCommand(['put', '--key', rpcKey.Arn!, '--file', file], { out: () => undefined, err: (s) => void (err += s), env });
      if (code !== 0) throw new Error(`symbolon policy put: ${err}`);
    }
    const user = await admin(server.endpoint, ['create-user', '--name', 'bench-signer']);
    await admin(server.endpoint, ['put-user-policy', '--name', 'bench-signer', '--policy-file', policy]);
    const { token } = await admin(server.endpoint, ['create-rpc-token', '--user', 'bench-signer']);
    const credentials = { accessKeyId: user.AccessKey.AccessKeyId as string, secretAccessKey: user.AccessKey.SecretAccessKey as string };
    const signer = new SignatureV4({ credentials, region: BENCH_REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });

    const signReqs: PreparedRequest[] = [];
    for (let i = 0; i < 1024; i++) {
      const body = { KeyId: key.KeyId, Message: Buffer.from(digests[i]!).toString('base64'), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' };
      signReqs.push(await signKmsRequest(server.port, 'Sign', body, signer));
    }
    const rpcReqs: PreparedRequest[] = [];
    for (let i = 0; i < 1024; i++) {
      const tx = {
        from: address,
        to: `0x${randomBytes(20).toString('hex')}`,
        value: `0x${(i + 1).toString(16)}`,
        gas: '0x5208',
        maxFeePerGas: '0x77359400',
        maxPriorityFeePerGas: '0x3b9aca00',
        nonce: `0x${i.toString(16)}`,
        chainId: '0x7a69',
        type: '0x2',
      };
      const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_signTransaction', params: [tx] }));
      rpcReqs.push({
        path: '/rpc',
        headers: {
          host: `127.0.0.1:${server.port}`,
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'content-length': String(body.length),
        },
        body,
      });
    }
    // Every distinct /rpc request must sign (a JSON-RPC error is HTTP 200 too).
    for (const r of rpcReqs.slice(0, 64)) {
      const res = await fetch(`${server.endpoint}/rpc`, { method: 'POST', headers: r.headers, body: r.body.toString('utf8') });
      const json = (await res.json()) as { result?: string; error?: unknown };
      if (typeof json.result !== 'string' || !json.result.startsWith('0x02'))
        throw new Error(`eth_signTransaction did not sign: ${JSON.stringify(json.error)}`);
    }

    const runs = { sign: [] as number[], rpc: [] as number[] };
    const p50 = { sign: [] as number[], rpc: [] as number[] };
    const cpuUs = { sign: [] as number[], rpc: [] as number[] };
    const pid = server.child.pid!;
    await runPipelined(server.port, signReqs, CONNECTIONS, DEPTH, 1); // warm up
    await runPipelined(server.port, rpcReqs, CONNECTIONS, DEPTH, 1);
    for (let round = 0; round < ROUNDS; round++) {
      for (const which of round % 2 === 0 ? (['sign', 'rpc'] as const) : (['rpc', 'sign'] as const)) {
        const cpu0 = cpuMs(pid);
        const load = await runPipelined(server.port, which === 'sign' ? signReqs : rpcReqs, CONNECTIONS, DEPTH, SECONDS);
        const cpu1 = cpuMs(pid);
        if (load.errors > 0) throw new Error(`${which}: ${load.errors} errors (${load.firstError})`);
        if (cpu0 !== undefined && cpu1 !== undefined && load.requests > 0) cpuUs[which].push(((cpu1 - cpu0) * 1000) / load.requests);
        runs[which].push(load.perSecond);
        p50[which].push(load.p50ms);
      }
    }
    const sign = median(runs.sign);
    const rpc = median(runs.rpc);
    const ratio = rpc / sign;
    console.log(
      `\nJSON-RPC eth_signTransaction vs KMS Sign, same server, same user, ${cpus().length} cores, ${ROUNDS} alternating rounds of ${SECONDS}s, ${CONNECTIONS * DEPTH} in flight`,
    );
    console.log(`store: ${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded SQLite'}\n`);
    console.log(`${'operation'.padEnd(36)}${'rounds (req/s)'.padEnd(44)}${'median'.padEnd(9)}${'p50 ms'.padEnd(9)}ceiling/s`);
    const line = (name: string, xs: number[], m: number, lat: number[]) =>
      console.log(
        `${name.padEnd(36)}${xs
          .map((x) => Math.round(x))
          .join(', ')
          .padEnd(44)}${String(Math.round(m)).padEnd(9)}${median(lat).toFixed(2).padEnd(9)}${Math.round(ceil)}`,
      );
    line('KMS Sign (secp256k1, DIGEST)', runs.sign, sign, p50.sign);
    line('/rpc eth_signTransaction (EIP-1559)', runs.rpc, rpc, p50.rpc);
    console.log(`\nratio /rpc : Sign = ${ratio.toFixed(3)}  (target >= ${TARGET})  ${ratio >= TARGET ? 'met' : 'NOT MET'}`);
    const cpuLine = (xs: number[]) => (xs.length ? `${xs.map((x) => x.toFixed(0)).join(', ')} (median ${median(xs).toFixed(0)})` : 'n/a');
    console.log(
      `server CPU µs per request: Sign ${cpuLine(cpuUs.sign)}; /rpc ${cpuLine(cpuUs.rpc)}${WITH_POLICY ? (STATELESS ? ' (with a signing policy, no window)' : ' (with a windowed signing policy)') : ' (no signing policy)'}`,
    );
    console.log(
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      `in process: signDigest ${Math.round(ceil)}/s, a transaction's encode + sign + recovery check + serialize (src/eth) ${Math.round(ethCeil)}/s (${(ethCeil / ceil).toFixed(2)} x)`,
    );
    console.log(
      `in process: the same without the recovery (libsecp256k1's recovery id, as /rpc signs once a key is proven) ${Math.round(fastCeil)}/s (${(fastCeil / ceil).toFixed(2)} x)`,
    );
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/rpc.json',
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores: cpus().length,
          node: process.version,
          loadAverage: loadavg(),
          signingPolicy: WITH_POLICY ? RPC_POLICY : null,
          store: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
          seconds: SECONDS,
          rounds: ROUNDS,
          concurrency: CONNECTIONS * DEPTH,
          ceilingPerSecond: Math.round(ceil),
          ethTransactionCeilingPerSecond: Math.round(ethCeil),
          ethTransactionWithoutRecoveryPerSecond: Math.round(fastCeil),
          sign: { rounds: runs.sign.map(Math.round), median: Math.round(sign), p50ms: median(p50.sign), serverCpuUsPerRequest: cpuUs.sign.map(Math.round) },
          rpcSignTransaction: {
            rounds: runs.rpc.map(Math.round),
            median: Math.round(rpc),
            p50ms: median(p50.rpc),
            serverCpuUsPerRequest: cpuUs.rpc.map(Math.round),
          },
          ratio,
          target: TARGET,
          met: ratio >= TARGET,
        },
        null,
        2,
      ) + '\n',
    );
    console.log('\nwritten: bench/results/rpc.json');
  } finally {
    kms.destroy();
    rmSync(scratch, { recursive: true, force: true });
    await server.stop();
  }
}

await main();
