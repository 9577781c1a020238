/**
 * `npm run bench:eth`: EIP-1559 transactions signed per second through
 * @symbolon/sdk's KmsSigner — each one a KMS Sign over HTTP with SigV4 (the
 * real AWS SDK client) to a custodian in its own process (`symbolon serve`),
 * DER-decoded, low-s normalised and given its yParity here — beside ethers'
 * Wallet.signTransaction and viem's signTransaction with an in-memory key, in
 * the same run on the same machine. Prints each rate, the ratio to ethers,
 * this process's CPU per signed transaction, the client-side ceiling that
 * implies, and where the CPU goes; writes
 * bench/results/eth.json. Target: >= 3,000/s through the custodian, faster
 * than ethers' in-memory Wallet.
 *
 * Three client stacks, measured in the same run against the same server:
 * (a) KmsSigner over the AWS SDK's KMSClient with noble's yParity (the
 * default, browser-safe); (b) KmsSigner over the lean createKmsHttpClient
 * (fetch + SigV4 by @noble/hashes) with nativeParity (libsecp256k1,
 * `@symbolon/sdk/node`); (c) viem's toKmsAccount over the same as (b).
 * The client runs in this one process (one core); the server in its own.
 *
 * BENCH_SECONDS (default 5), BENCH_CONCURRENCY (in-flight signatures, 32),
 * BENCH_WORKERS (server processes, 2), DATABASE_URL (PostgreSQL store).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Readable } from 'node:stream';
import { HttpResponse } from '@smithy/protocol-http';
import { CreateKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Transaction, Wallet } from 'ethers';
import { keccak256, serializeTransaction, type Hex, type TransactionSerializableEIP1559 } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { KmsSigner, RecoveryParity, canonicalSignature, createKmsHttpClient, toKmsAccount } from '@symbolon/sdk';
import { createNodeHttpFetch, nativeParity } from '@symbolon/sdk/node';
import { BENCH_ADMIN, BENCH_REGION, ceiling, startServerProcess } from './lib/load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const TARGET = 3_000;

const TO = '0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a' as const;
function viemTx(nonce: number): TransactionSerializableEIP1559 {
  return { type: 'eip1559', chainId: 1, nonce, to: TO, value: 10n ** 15n, gas: 21_000n, maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
}
function ethersTx(nonce: number) {
  return { type: 2, chainId: 1, nonce, to: TO, value: 10n ** 15n, gasLimit: 21_000n, maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
}

interface Rate {
  perSecond: number;
  signed: number;
  seconds: number;
  p50ms?: number;
  p99ms?: number;
  clientCpuUsPerTx?: number;
}

/** Keeps `concurrency` signatures in flight for `seconds`; every result is checked once at the end. */
async function closedLoop(sign: (nonce: number) => Promise<string>, seconds: number, concurrency: number): Promise<Rate & { samples: string[] }> {
  const latencies: number[] = [];
  const samples: string[] = [];
  let nonce = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const signed = await sign(nonce++);
        latencies.push(performance.now() - t);
        if (samples.length < 64) samples.push(signed);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / elapsed,
    signed: latencies.length,
    seconds: elapsed,
    p50ms: latencies[Math.floor(latencies.length * 0.5)]!,
    p99ms: latencies[Math.floor(latencies.length * 0.99)]!,
    clientCpuUsPerTx: (cpu.user + cpu.system) / latencies.length,
    samples,
  };
}

function inMemory(name: string, sign: (i: number) => Promise<string> | string, seconds: number): Promise<Rate> {
  // Signing with an in-memory key is synchronous work; awaiting each keeps the comparison honest.
  return (async () => {
    for (let i = 0; i < 50; i++) await sign(i);
    let n = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) await sign(n++);
    const elapsed = (performance.now() - start) / 1000;
    return { perSecond: n / elapsed, signed: n, seconds: elapsed };
  })().then((r) => {
    process.stdout.write(`  ${name.padEnd(44)} ${r.perSecond.toFixed(0).padStart(7)}/s\n`);
    return r;
  });
}

async function main() {
  const server = await startServerProcess();
  const nodeFetch = createNodeHttpFetch();
  // cacheMiddleware: the AWS SDK resolves each command's middleware once (what toKmsClient sets for a configuration).
  const client = new KMSClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN, cacheMiddleware: true });
  try {
    const keyId = (await client.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const signer = new KmsSigner({ client, keyId });
    const address = await signer.getAddress();
    const account = await toKmsAccount({ client, keyId });
    const lean = createKmsHttpClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
    const leanSigner = new KmsSigner({ client: lean, keyId, parity: nativeParity });
    const leanAccount = await toKmsAccount({ client: lean, keyId, parity: nativeParity });
    // The same lean client over node:http with keep-alive instead of the global (undici) fetch.
    const leanHttp = createKmsHttpClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN, fetch: nodeFetch });
    const leanHttpSigner = new KmsSigner({ client: leanHttp, keyId, parity: nativeParity });
    const leanHttpAccount = await toKmsAccount({ client: leanHttp, keyId, parity: nativeParity });
    process.stdout.write(`bench:eth — ${cpus().length} cores, server: symbolon serve (${process.env.BENCH_WORKERS ?? 2} workers, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'SQLite'}), ${CONCURRENCY} in flight, ${SECONDS}s per run\n`);

    // Warm-up, unmeasured: the key's and G's tables, the JIT (bigint-heavy code takes a while), keep-alive sockets.
    // 64 signatures were not enough: the first measured seconds ran at half speed.
    await closedLoop((n) => signer.signTransaction(ethersTx(n)), 3, CONCURRENCY);
    await closedLoop((n) => account.signTransaction(viemTx(n)), 2, CONCURRENCY);
    await closedLoop((n) => leanSigner.signTransaction(ethersTx(n)), 2, CONCURRENCY);
    await closedLoop((n) => leanAccount.signTransaction(viemTx(n)), 2, CONCURRENCY);
    await closedLoop((n) => leanHttpSigner.signTransaction(ethersTx(n)), 2, CONCURRENCY);

    const kmsEthers = await closedLoop((n) => signer.signTransaction(ethersTx(n)), SECONDS, CONCURRENCY);
    process.stdout.write(`  ${'KmsSigner (ethers) via custodian, HTTP+SigV4'.padEnd(44)} ${kmsEthers.perSecond.toFixed(0).padStart(7)}/s  p50 ${kmsEthers.p50ms!.toFixed(1)} ms  p99 ${kmsEthers.p99ms!.toFixed(1)} ms  client CPU ${kmsEthers.clientCpuUsPerTx!.toFixed(0)} µs/tx\n`);
    const kmsViem = await closedLoop((n) => account.signTransaction(viemTx(n)), SECONDS, CONCURRENCY);
    process.stdout.write(`  ${'toKmsAccount (viem) via custodian'.padEnd(44)} ${kmsViem.perSecond.toFixed(0).padStart(7)}/s  p50 ${kmsViem.p50ms!.toFixed(1)} ms  p99 ${kmsViem.p99ms!.toFixed(1)} ms  client CPU ${kmsViem.clientCpuUsPerTx!.toFixed(0)} µs/tx\n`);
    const leanEthers = await closedLoop((n) => leanSigner.signTransaction(ethersTx(n)), SECONDS, CONCURRENCY);
    process.stdout.write(`  ${'KmsSigner, lean client + native parity'.padEnd(44)} ${leanEthers.perSecond.toFixed(0).padStart(7)}/s  p50 ${leanEthers.p50ms!.toFixed(1)} ms  p99 ${leanEthers.p99ms!.toFixed(1)} ms  client CPU ${leanEthers.clientCpuUsPerTx!.toFixed(0)} µs/tx\n`);
    const leanViem = await closedLoop((n) => leanAccount.signTransaction(viemTx(n)), SECONDS, CONCURRENCY);
    process.stdout.write(`  ${'toKmsAccount, lean client + native parity'.padEnd(44)} ${leanViem.perSecond.toFixed(0).padStart(7)}/s  p50 ${leanViem.p50ms!.toFixed(1)} ms  p99 ${leanViem.p99ms!.toFixed(1)} ms  client CPU ${leanViem.clientCpuUsPerTx!.toFixed(0)} µs/tx\n`);
    const httpEthers = await closedLoop((n) => leanHttpSigner.signTransaction(ethersTx(n)), SECONDS, CONCURRENCY);
    process.stdout.write(`  ${'KmsSigner, lean + native + node:http fetch'.padEnd(44)} ${httpEthers.perSecond.toFixed(0).padStart(7)}/s  p50 ${httpEthers.p50ms!.toFixed(1)} ms  p99 ${httpEthers.p99ms!.toFixed(1)} ms  client CPU ${httpEthers.clientCpuUsPerTx!.toFixed(0)} µs/tx\n`);
    const httpViem = await closedLoop((n) => leanHttpAccount.signTransaction(viemTx(n)), SECONDS, CONCURRENCY);
    process.stdout.write(`  ${'toKmsAccount, lean + native + node:http'.padEnd(44)} ${httpViem.perSecond.toFixed(0).padStart(7)}/s  p50 ${httpViem.p50ms!.toFixed(1)} ms  p99 ${httpViem.p99ms!.toFixed(1)} ms  client CPU ${httpViem.clientCpuUsPerTx!.toFixed(0)} µs/tx\n`);
    for (const s of [...kmsEthers.samples.slice(0, 16), ...kmsViem.samples.slice(0, 16), ...leanEthers.samples.slice(0, 16), ...leanViem.samples.slice(0, 16), ...httpEthers.samples.slice(0, 16), ...httpViem.samples.slice(0, 16)]) {
      if (Transaction.from(s).from !== address) throw new Error('a benchmark signature did not recover to the KMS address');
    }

    const key = `0x${'42'.repeat(32)}` as Hex;
    const wallet = new Wallet(key);
    const viemLocal = privateKeyToAccount(key);
    const ethersRate = await inMemory("ethers Wallet.signTransaction (in memory)", (n) => wallet.signTransaction(ethersTx(n)), Math.min(SECONDS, 3));
    const viemRate = await inMemory('viem signTransaction (in memory)', (n) => viemLocal.signTransaction(viemTx(n)), Math.min(SECONDS, 3));

    // Where the SDK's CPU goes, per transaction, measured in this process.
    const digest = keccak256(serializeTransaction(viemTx(1)), 'bytes');
    const der = (await client.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!;
    const uncompressed = Uint8Array.from(Buffer.from((await signer.kmsKey.getPublicKey()).publicKey.slice(2), 'hex'));
    const parity = new RecoveryParity(uncompressed);
    for (let i = 0; i < 16; i++) canonicalSignature(der, digest, parity); // past the table threshold
    const parityPerSecond = ceiling(() => canonicalSignature(der, digest, parity));
    const nativeFinder = (sig: Uint8Array, d: Uint8Array) => nativeParity(sig, d, uncompressed);
    const nativeParityPerSecond = ceiling(() => canonicalSignature(der, digest, nativeFinder));
    const sig = secp256k1.Signature.fromBytes(der, 'der');
    const recoverPerSecond = ceiling(() => sig.addRecoveryBit(0).recoverPublicKey(digest), 1);
    const serializePerSecond = ceiling((n) => keccak256(serializeTransaction(viemTx(n)), 'bytes'));
    // The AWS SDK's own cost per Sign (middleware, SigV4, JSON), with a stub handler in place of HTTP.
    const stubBody = JSON.stringify({ KeyId: keyId, Signature: Buffer.from(der).toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' });
    const stub = new KMSClient({
      region: BENCH_REGION,
      endpoint: server.endpoint,
      credentials: BENCH_ADMIN,
      cacheMiddleware: true,
      requestHandler: {
        handle: async () => ({ response: new HttpResponse({ statusCode: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: Readable.from([Buffer.from(stubBody)]) }) }),
        destroy() {},
        updateHttpClientConfig() {},
        httpHandlerConfigs: () => ({}),
      } as never,
    });
    const signCommand = () => stub.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    for (let i = 0; i < 200; i++) await signCommand();
    const sdkCpu0 = process.cpuUsage();
    for (let i = 0; i < 2000; i++) await signCommand();
    const sdkCpu = process.cpuUsage(sdkCpu0);
    const awsSdkUs = (sdkCpu.user + sdkCpu.system) / 2000;
    stub.destroy();
    // The lean client's own cost per Sign (JSON, SigV4, base64), with a stub fetch in place of HTTP.
    const leanStub = createKmsHttpClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN, fetch: async () => new Response(stubBody, { status: 200 }) });
    const leanCommand = () => leanStub.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    for (let i = 0; i < 200; i++) await leanCommand();
    const leanCpu0 = process.cpuUsage();
    for (let i = 0; i < 2000; i++) await leanCommand();
    const leanCpu = process.cpuUsage(leanCpu0);
    const leanUs = (leanCpu.user + leanCpu.system) / 2000;
    process.stdout.write(
      `  SDK per tx: AWS SDK Sign call without network ${awsSdkUs.toFixed(0)} µs, lean client's ${leanUs.toFixed(0)} µs (stub fetch); yParity+verify noble ${(1e6 / parityPerSecond).toFixed(0)} µs, native ${(1e6 / nativeParityPerSecond).toFixed(0)} µs (noble full recovery would be ${(1e6 / recoverPerSecond).toFixed(0)} µs), serialize+keccak ${(1e6 / serializePerSecond).toFixed(0)} µs\n`,
    );

    // Client-side ceiling: this process's CPU per signed transaction (AWS SDK, SigV4, HTTP, DER,
    // yParity, encoding) bounds it at 1e6 / that many per second on one core, however fast the server.
    const clientCeiling = 1e6 / kmsEthers.clientCpuUsPerTx!;
    const leanCeiling = 1e6 / leanEthers.clientCpuUsPerTx!;
    process.stdout.write(`  client-side ceiling (1 core, free server): AWS SDK + noble ${clientCeiling.toFixed(0)}/s (achieved ${(kmsEthers.perSecond / clientCeiling).toFixed(2)}), lean + native ${leanCeiling.toFixed(0)}/s (achieved ${(leanEthers.perSecond / leanCeiling).toFixed(2)})\n`);
    const ratio = leanEthers.perSecond / ethersRate.perSecond;
    const met = leanEthers.perSecond >= TARGET && ratio > 1;
    process.stdout.write(`  lean+native / AWS SDK+noble (KmsSigner): ${(leanEthers.perSecond / kmsEthers.perSecond).toFixed(2)}x; (viem account): ${(leanViem.perSecond / kmsViem.perSecond).toFixed(2)}x\n`);
    process.stdout.write(`  ratio to ethers in memory: AWS SDK+noble ${(kmsEthers.perSecond / ethersRate.perSecond).toFixed(2)}x, lean+native ${ratio.toFixed(2)}x; viem account lean+native / viem in memory: ${(leanViem.perSecond / viemRate.perSecond).toFixed(2)}x\n`);
    process.stdout.write(`  target >= ${TARGET}/s and faster than ethers in memory (KmsSigner, lean + native): ${met ? 'met' : 'NOT met'}\n`);

    const strip = ({ samples: _s, ...r }: Rate & { samples?: string[] }) => r;
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/eth.json',
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores: cpus().length,
          serverWorkers: Number(process.env.BENCH_WORKERS ?? 2),
          store: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
          concurrency: CONCURRENCY,
          seconds: SECONDS,
          kmsSignerEthers: strip(kmsEthers),
          kmsAccountViem: strip(kmsViem),
          kmsSignerEthersLeanNative: strip(leanEthers),
          kmsAccountViemLeanNative: strip(leanViem),
          kmsSignerEthersLeanNativeNodeHttp: strip(httpEthers),
          kmsAccountViemLeanNativeNodeHttp: strip(httpViem),
          ethersInMemory: ethersRate,
          viemInMemory: viemRate,
          sdkMicrosecondsPerTx: { awsSdkSignWithoutNetwork: awsSdkUs, leanClientSignWithoutNetwork: leanUs, yParityAndVerify: 1e6 / parityPerSecond, yParityNative: 1e6 / nativeParityPerSecond, nobleFullRecovery: 1e6 / recoverPerSecond, serializeAndKeccak: 1e6 / serializePerSecond },
          clientCeilingPerSecond: clientCeiling,
          clientCeilingLeanNativePerSecond: leanCeiling,
          ratioToEthers: ratio,
          ratioToEthersAwsSdkNoble: kmsEthers.perSecond / ethersRate.perSecond,
          ratioLeanNativeToAwsSdkNoble: leanEthers.perSecond / kmsEthers.perSecond,
          target: `>= ${TARGET}/s and > ethers in memory`,
          met,
        },
        null,
        2,
      ) + '\n',
    );
  } finally {
    client.destroy();
    nodeFetch.destroy();
    await server.stop();
  }
}

main().catch((e) => {
  process.stderr.write(`bench:eth failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
