/**
 * The yardstick of `npm run bench:kms`: a bare fastify route that does one
 * libsecp256k1 sign and nothing else (no authentication, no policy, no audit,
 * no store, no logging). It reads the same request the custodian's Sign gets
 * (AWS JSON 1.1 body with a base64 DIGEST), signs it with a fixed key through
 * the same native binding, and answers the same JSON shape. Benchmark code only.
 *
 * `POST /noop` (bench:split's HTTP floor) parses the body and answers a fixed one.
 *
 * Usage: node --import tsx bench/lib/bare-server.ts --port P [--data DIR]
 */
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';

interface Native {
  privateKeyVerify(sk: Uint8Array): boolean;
  ecdsaSign(msg32: Uint8Array, sk: Uint8Array): { signature: Uint8Array; recid: number };
}
const native = createRequire(import.meta.url)('secp256k1/bindings') as Native;

const { values } = parseArgs({ options: { port: { type: 'string' }, data: { type: 'string' } }, strict: false });
let sk = new Uint8Array(randomBytes(32));
while (!native.privateKeyVerify(sk)) sk = new Uint8Array(randomBytes(32));

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('application/x-amz-json-1.1', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.get('/health', async () => ({ status: 'ok' }));
app.post('/', async (req, reply) => {
  const input = JSON.parse((req.body as Buffer).toString('utf8')) as { KeyId: string; Message: string };
  const digest = Buffer.from(input.Message, 'base64');
  const { signature } = native.ecdsaSign(digest, sk);
  return reply
    .code(200)
    .header('content-type', 'application/x-amz-json-1.1')
    .send(JSON.stringify({ KeyId: input.KeyId, Signature: Buffer.from(signature).toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' }));
});
// bench:split's HTTP floor: one hop with nothing behind it. Parses the JSON body (as every route does) and answers a
// fixed body of `x-reply-bytes` bytes (a Decrypt-for-recipient answer is about 600).
app.post('/noop', async (req, reply) => {
  JSON.parse((req.body as Buffer).toString('utf8'));
  const size = Math.min(64 * 1024, Number(req.headers['x-reply-bytes'] ?? 2));
  return reply
    .code(200)
    .header('content-type', 'application/x-amz-json-1.1')
    .send(JSON.stringify({ r: 'x'.repeat(Math.max(0, size - 8)) }));
});
await app.listen({ host: '127.0.0.1', port: Number(values.port) });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
