/**
 * `npm run bench:envelope`: the server-side work of envelope signatures (issue
 * 5, "Performance") and the device's own. The server runs in its own process
 * (`symbolon serve`, embedded SQLite unless DATABASE_URL is set) with an
 * external OIDC issuer trusted by inline JWKS (this process mints its tokens),
 * the wallet service and the custodian. For N users, each a real
 * @symbolon/sdk EnvelopeWalletClient, this script creates envelope wallets,
 * then measures over pipelined keep-alive HTTP:
 *
 * - custodian `Decrypt`s/s by authenticated users: SigV4 with each user's STS
 *   session credentials, the master-key policy and the role policy evaluated on
 *   every request (target >= 5,000/s);
 * - `AssumeRoleWithWebIdentity`s/s (token verification, trust policy, a session
 *   row), and the server's envelope signatures/s once STS is amortised over k
 *   signatures per session;
 * - device-side signatures/s: open the envelope and sign (AES-256-GCM +
 *   secp256k1, in process), and whole EnvelopeKey signatures (custodian round
 *   trip included) at a given concurrency.
 *
 * Results go to bench/results/envelope.json. Both processes share the cores.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { BENCH_REGION, BENCH_ADMIN, makeSigner, runPipelined, signKmsRequest, startServerProcess, type LoadResult, type PreparedRequest } from './lib/load.js';
import { EnvelopeWalletClient, type EnvelopeWallet } from '../packages/sdk/src/index.js';
import { openPrivateKey, sealPrivateKey } from '../packages/sdk/src/envelope/envelopeAead.js';
import { addressOfPublicKey } from '../packages/sdk/src/envelope/EnvelopeKey.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DEPTH = Number(process.env.BENCH_DEPTH ?? 4);
const USERS = Number(process.env.BENCH_USERS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const DEVICE_CONCURRENCY = Number(process.env.BENCH_DEVICE_CONCURRENCY ?? 16);
const ISSUER = 'https://idp.bench.example';
const AUDIENCE = 'symbolon-bench';

interface Row {
  measure: string;
  perSecond: number;
  p50ms?: number;
  p99ms?: number;
  errors?: number;
  target?: string;
  met?: boolean;
  note?: string;
}

function rowOf(measure: string, load: LoadResult, target?: { text: string; min: number }): Row {
  return {
    measure,
    perSecond: load.perSecond,
    p50ms: load.p50ms,
    p99ms: load.p99ms,
    errors: load.errors,
    ...(target ? { target: target.text, met: load.perSecond >= target.min && load.errors === 0 } : {}),
    ...(load.firstError ? { note: `first error: ${load.firstError}` } : {}),
  };
}

/** An unsigned form-encoded STS request, as @aws-sdk/client-sts sends AssumeRoleWithWebIdentity. */
function stsRequest(port: number, roleArn: string, token: string, i: number): PreparedRequest {
  const body = Buffer.from(
    new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: roleArn,
      RoleSessionName: `bench-${i}`,
      WebIdentityToken: token,
    }).toString(),
  );
  return {
    headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': String(body.length) },
    body,
  };
}

async function main() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' };
  const mint = (sub: string, ttlSec = 3600) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email: `${sub}@bench.example` })
      .setProtectedHeader({ alg: 'ES256', kid: 'bench-1', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(sub)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSec)
      .sign(privateKey);
  };
  const server = await startServerProcess({
    SYMBOLON_OIDC_ISSUERS: JSON.stringify([{ issuer: ISSUER, audiences: [AUDIENCE], jwks: { keys: [jwk] }, algorithms: ['ES256'] }]),
  });
  const rows: Row[] = [];
  const devices: EnvelopeWalletClient[] = [];
  try {
    // The role devices assume is the one the custodian provisions (src/iam/roles/wallet-users-role.ts).
    const accountId = await accountOf(server.endpoint);
    const roleArn = `arn:aws:iam::${accountId}:role/symbolon-wallet-users`;

    // N users, each with an envelope wallet made by the SDK on its "device".
    const tokens: string[] = [];
    const wallets: EnvelopeWallet[] = [];
    const setupStart = performance.now();
    for (let i = 0; i < USERS; i++) {
      const token = await mint(`bench-user-${i}`);
      tokens.push(token);
      const device = new EnvelopeWalletClient({
        walletUrl: server.endpoint,
        custodianUrl: server.endpoint,
        region: BENCH_REGION,
        roleArn,
        token,
        roleSessionName: `device-${i}`,
      });
      devices.push(device);
      wallets.push(await device.createWallet());
    }
    const setupMs = performance.now() - setupStart;

    // Pre-signed Decrypt requests, each with its own user's session credentials and context.
    const decrypts: PreparedRequest[] = [];
    for (let i = 0; i < USERS; i++) {
      const creds = await devices[i]!.credentials();
      const signer = new SignatureV4({
        credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
        region: BENCH_REGION,
        service: 'kms',
        sha256: Hash.bind(null, 'sha256'),
      });
      const record = (await (await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${tokens[i]}` } })).json()) as {
        envelope: { encryptedDataKey: string; kmsKeyId: string };
      };
      for (let j = 0; j < 32; j++) {
        decrypts.push(
          await signKmsRequest(
            server.port,
            'Decrypt',
            { CiphertextBlob: record.envelope.encryptedDataKey, KeyId: record.envelope.kmsKeyId, EncryptionContext: { sub: `bench-user-${i}` } },
            signer,
          ),
        );
      }
    }
    // The same operation by the long-term admin credential on a default-policy key: what session auth costs, on this machine now.
    const admin = new KMSClient({ endpoint: server.endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
    let decrypt: LoadResult;
    try {
      // One default-policy key per user, as each user has their own master key.
      const adminSigner = makeSigner();
      const adminDecrypts: PreparedRequest[] = [];
      for (let i = 0; i < USERS; i++) {
        const keyId = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
        const gdk = await admin.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { sub: `bench-user-${i}` } }));
        gdk.Plaintext?.fill(0);
        const blob = Buffer.from(gdk.CiphertextBlob!).toString('base64');
        for (let j = 0; j < 32; j++)
          adminDecrypts.push(
            await signKmsRequest(server.port, 'Decrypt', { CiphertextBlob: blob, KeyId: keyId, EncryptionContext: { sub: `bench-user-${i}` } }, adminSigner),
          );
      }
      // Alternate the two, best of ROUNDS each, so a busy neighbour on the machine hurts both alike.
      await runPipelined(server.port, decrypts, CONNECTIONS, DEPTH, 1);
      await runPipelined(server.port, adminDecrypts, CONNECTIONS, DEPTH, 1);
      const best = (a: LoadResult | undefined, b: LoadResult) => (a && a.perSecond >= b.perSecond ? a : b);
      let session: LoadResult | undefined;
      let base: LoadResult | undefined;
      for (let round = 0; round < ROUNDS; round++) {
        session = best(session, await runPipelined(server.port, decrypts, CONNECTIONS, DEPTH, SECONDS));
        base = best(base, await runPipelined(server.port, adminDecrypts, CONNECTIONS, DEPTH, SECONDS));
      }
      decrypt = session!;
      rows.push(rowOf('custodian Decrypt (STS session users)', decrypt, { text: '>= 5000/s', min: 5000 }));
      rows.push({
        ...rowOf('custodian Decrypt (admin access key, baseline)', base!),
        note: `session/admin ratio ${(decrypt.perSecond / base!.perSecond).toFixed(2)}`,
      });
    } finally {
      admin.destroy();
    }

    const sts = Array.from({ length: 256 }, (_, i) => stsRequest(server.port, roleArn, tokens[i % USERS]!, i));
    await runPipelined(server.port, sts, CONNECTIONS, DEPTH, 1);
    const assume = await runPipelined(server.port, sts, CONNECTIONS, DEPTH, SECONDS);
    rows.push(rowOf('AssumeRoleWithWebIdentity', assume));
    for (const k of [1, 10, 100]) {
      const perSig = 1 / decrypt.perSecond + 1 / (assume.perSecond * k);
      rows.push({ measure: `server: envelope signatures, STS over ${k} signature(s)`, perSecond: 1 / perSig, note: '1 / (1/Decrypt + 1/(STS * k))' });
    }

    // Device side, in process: open the envelope and sign (no network).
    const dataKey = crypto.getRandomValues(new Uint8Array(32));
    const sk = secp256k1.utils.randomSecretKey();
    const address = addressOfPublicKey(secp256k1.getPublicKey(sk, false));
    const sealed = await sealPrivateKey({ dataKey, privateKey: sk, address, owner: 'bench' });
    const digest = crypto.getRandomValues(new Uint8Array(32));
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < SECONDS * 1000) {
      const key = await openPrivateKey({ dataKey, sealed, address, owner: 'bench' });
      if (addressOfPublicKey(secp256k1.getPublicKey(key, false)) !== address) throw new Error('envelope did not open to its key');
      secp256k1.sign(digest, key, { prehash: false, format: 'recovered' });
      key.fill(0);
      n++;
    }
    rows.push({
      measure: 'device: open envelope + sign (in process)',
      perSecond: n / ((performance.now() - t0) / 1000),
      note: 'AES-256-GCM open, address check, secp256k1 sign, wipe',
    });

    // Device side with the custodian: EnvelopeKey.signDigest (Decrypt round trip + open + sign), many devices at once.
    const lat: number[] = [];
    let errors = 0;
    const end = performance.now() + SECONDS * 1000;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: DEVICE_CONCURRENCY }, async (_, w) => {
        while (performance.now() < end) {
          const t = performance.now();
          try {
            await wallets[w % USERS]!.key.signDigest(digest);
            lat.push(performance.now() - t);
          } catch {
            errors++;
          }
        }
      }),
    );
    lat.sort((a, b) => a - b);
    rows.push({
      measure: `device: EnvelopeKey signatures (${DEVICE_CONCURRENCY} devices)`,
      perSecond: lat.length / ((performance.now() - start) / 1000),
      p50ms: lat[Math.floor(lat.length / 2)] ?? NaN,
      p99ms: lat[Math.floor(lat.length * 0.99)] ?? NaN,
      errors,
      note: 'custodian Decrypt over HTTP + open + sign, via the SDK and the AWS SDK client',
    });

    const pad = (s: string, w: number) => s.padEnd(w);
    console.log(
      `\nSymbolon envelope wallets, ${cpus().length} cores, server (${process.env.BENCH_WORKERS ?? 2} workers) and load generator on this machine, ${SECONDS}s per run`,
    );
    console.log(
      `store: ${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded SQLite'}; ${USERS} users; setup (login-free token, STS, wallet create) ${(setupMs / USERS).toFixed(1)} ms/user; HTTP runs: ${CONNECTIONS} connections x ${DEPTH} pipelined\n`,
    );
    console.log(pad('measure', 52) + pad('per s', 10) + pad('p50 ms', 9) + pad('p99 ms', 9) + pad('errors', 8) + pad('target', 12) + 'met');
    for (const r of rows) {
      console.log(
        pad(r.measure, 52) +
          pad(r.perSecond.toFixed(0), 10) +
          pad(r.p50ms === undefined ? '' : r.p50ms.toFixed(2), 9) +
          pad(r.p99ms === undefined ? '' : r.p99ms.toFixed(2), 9) +
          pad(r.errors === undefined ? '' : String(r.errors), 8) +
          pad(r.target ?? '', 12) +
          (r.met === undefined ? '' : r.met ? 'yes' : 'NO'),
      );
      if (r.note?.startsWith('first error') || r.note?.startsWith('session/admin')) console.log(`  ${r.note}`);
    }
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/envelope.json',
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores: cpus().length,
          store: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
          seconds: SECONDS,
          users: USERS,
          connections: CONNECTIONS,
          depth: DEPTH,
          rows,
        },
        null,
        2,
      ) + '\n',
    );
    console.log('\nwritten: bench/results/envelope.json');
  } finally {
    for (const d of devices) d.destroy();
    await server.stop();
  }
}

/** The custodian's account id, from the admin's GetCallerIdentity. */
async function accountOf(endpoint: string): Promise<string> {
  const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
  const sts = new STSClient({ endpoint, region: BENCH_REGION, credentials: BENCH_ADMIN });
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Account!;
  } finally {
    sts.destroy();
  }
}

await main();
