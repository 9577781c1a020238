/**
 * AWS Signature Version 4 request authentication (src/aws/sigv4.ts)
 * against published and captured requests:
 *  - AWS's SigV4 test suite as aws-c-auth ships it
 *    (tests/aws-signing-test-suite/v4/<case>/: context.json, header-signed-request.txt):
 *    every header-signed case for a non-S3 service with path normalization must
 *    verify with the context's credentials, region, service and time, and must
 *    be refused (InvalidSignatureException) after one byte of the body, any
 *    signed header value, or the date changes. Unnormalized-path cases (S3-style
 *    signing) are counted and reported, not run. The presigned (query-string)
 *    variants must be refused: the endpoint accepts only the Authorization header.
 *  - Requests Debian's awscli 2.9.19 sent (local-captures/): each must verify
 *    in-process, and replayed byte for byte to a real listening custodian
 *    (clock set to the capture time) each must get past authentication.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { AwsError } from '../src/aws/errors.js';
import { checkScope, parseSigV4, SigV4Verifier, type SignedRequest } from '../src/aws/sigv4.js';
import { insertAccessKey } from '../src/storage/access-keys.repository.js';
import { accessKeySecretAad } from '../src/aws/access-key-source.js';
import { utf8Bytes } from '../src/crypto/bytes.js';
import { absentMessage, readVectorJson, vectorPath } from './helpers/vectors.js';
import { startTestServer } from './helpers/server.js';

const SUITE = 'aws-c-auth/tests/aws-signing-test-suite/v4';
const CAPTURES = 'local-captures/awscli-2.9.19-kms-requests.txt';
const CAPTURE_VECTORS = 'local-captures/awscli-kms-sigv4-vectors.json';

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Where and when a request is checked: what the server would know. */
interface Scope {
  credentials: Credentials;
  region: string;
  service: string;
  now: number;
  hostname: string;
}

interface SuiteContext {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  normalize: boolean;
  region: string;
  service: string;
  timestamp: string;
}

interface HttpText {
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

const AUTH_ERRORS = new Set([
  'MissingAuthenticationTokenException',
  'IncompleteSignatureException',
  'InvalidSignatureException',
  'UnrecognizedClientException',
]);

/**
 * Parses the suite's request files: a request line, `Name:value` header lines
 * (a line starting with white space continues the previous value, folded to one
 * space as RFC 7230 §3.2.4 says a recipient does), a blank line, the body.
 * Values are trimmed of surrounding white space, as an HTTP server presents them.
 */
function parseSuiteRequest(text: string): HttpText {
  const sep = text.indexOf('\n\n');
  const head = sep >= 0 ? text.slice(0, sep) : text.replace(/\n$/, '');
  const body = sep >= 0 ? text.slice(sep + 2) : '';
  const [requestLine, ...lines] = head.split('\n');
  const m = /^(\S+) (.*) HTTP\/1\.1$/.exec(requestLine ?? '');
  assert.ok(m, `unparsable request line: ${requestLine}`);
  const headers: Array<[string, string]> = [];
  for (const line of lines) {
    const last = headers[headers.length - 1];
    if (/^[ \t]/.test(line) && last) {
      last[1] = `${last[1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `unparsable header line: ${line}`);
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { method: m[1]!, target: m[2]!, headers, body: utf8Bytes(body) };
}

/** The same mapping the endpoint makes from a received request (src/server/aws-endpoint.ts). */
function toSignedRequest(r: HttpText): SignedRequest {
  const q = r.target.indexOf('?');
  const query: Record<string, string | string[]> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(r.target.slice(q + 1))) {
      const prior = query[k];
      query[k] = prior === undefined ? v : Array.isArray(prior) ? [...prior, v] : [prior, v];
    }
  }
  const path = decodeURIComponent(q >= 0 ? r.target.slice(0, q) : r.target);
  return { method: r.method, path, query, rawHeaders: r.headers.map(([k, v]) => [k, v] as const), body: r.body };
}

/** The full check the authenticator makes: parse, scope and clock, signature. */
async function authenticate(req: SignedRequest, scope: Scope): Promise<void> {
  const claim = parseSigV4(req);
  assert.equal(claim.accessKeyId, scope.credentials.accessKeyId);
  checkScope(claim, { regions: [scope.region], service: scope.service, now: scope.now });
  const verifier = new SigV4Verifier(scope.credentials, scope.region, scope.service);
  await verifier.verify(req, claim, { hostname: scope.hostname });
}

async function assertRefused(p: Promise<void>, type: string, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AwsError, `${what}: threw ${String(e)}`);
    assert.equal(e.type, type, `${what}: ${e.type}: ${e.message}`);
    return true;
  });
}

function withHeader(req: SignedRequest, name: string, mutate: (v: string) => string): SignedRequest {
  const headers = req.rawHeaders.map(([k, v]) => [k, v] as [string, string]);
  let at = -1;
  headers.forEach(([k], i) => {
    if (k.toLowerCase() === name) at = i;
  });
  assert.ok(at >= 0, `no ${name} header`);
  headers[at]![1] = mutate(headers[at]![1]);
  return { ...req, rawHeaders: headers };
}

function changeLastChar(v: string): string {
  return v.slice(0, -1) + (v.endsWith('x') ? 'y' : 'x');
}

function amzDatePlusOneSecond(v: string): string {
  const t = Date.UTC(+v.slice(0, 4), +v.slice(4, 6) - 1, +v.slice(6, 8), +v.slice(9, 11), +v.slice(11, 13), +v.slice(13, 15)) + 1000;
  return new Date(t)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** Flips one bit of the first body byte, or adds one byte to an empty body. */
function withOneBodyByteChanged(req: SignedRequest): SignedRequest {
  if (req.body.length === 0) return { ...req, body: Uint8Array.of(0x20) };
  const body = Uint8Array.from(req.body);
  body[0]! ^= 0x01;
  return { ...req, body };
}

/** Accepted as is; refused after each single change a forger or a corrupting proxy could make. */
async function assertAcceptedAndTamperEvident(req: SignedRequest, scope: Scope, label: string): Promise<number> {
  await authenticate(req, scope);
  let mutations = 0;
  await assertRefused(authenticate(withOneBodyByteChanged(req), scope), 'InvalidSignatureException', `${label}: body byte changed`);
  mutations++;
  await assertRefused(authenticate(withHeader(req, 'x-amz-date', amzDatePlusOneSecond), scope), 'InvalidSignatureException', `${label}: date changed`);
  mutations++;
  const claim = parseSigV4(req);
  for (const name of claim.signedHeaders) {
    if (name === 'x-amz-date') continue;
    await assertRefused(authenticate(withHeader(req, name, changeLastChar), scope), 'InvalidSignatureException', `${label}: signed header ${name} changed`);
    mutations++;
  }
  return mutations;
}

test('AWS SigV4 suite (aws-c-auth): every normalized header-signed case verifies and every tampered copy is refused', async (t) => {
  const suiteDir = vectorPath(SUITE);
  if (!suiteDir) {
    t.skip(absentMessage(SUITE));
    return;
  }
  const cases = readdirSync(suiteDir)
    .filter((name) => existsSync(join(suiteDir, name, 'context.json')))
    .sort();
  assert.ok(cases.length > 0);
  const skippedUnnormalized: string[] = [];
  let ran = 0;
  let mutations = 0;
  let presignedRefused = 0;
  for (const name of cases) {
    const dir = join(suiteDir, name);
    const ctx = JSON.parse(readFileSync(join(dir, 'context.json'), 'utf8')) as SuiteContext;
    // Only S3 signs the path as sent; every other service (KMS among them) normalizes it.
    if (!ctx.normalize) {
      skippedUnnormalized.push(name);
      continue;
    }
    assert.notEqual(ctx.service, 's3');
    const scope: Scope = {
      credentials: {
        accessKeyId: ctx.credentials.access_key_id,
        secretAccessKey: ctx.credentials.secret_access_key,
        ...(ctx.credentials.token ? { sessionToken: ctx.credentials.token } : {}),
      },
      region: ctx.region,
      service: ctx.service,
      now: Date.parse(ctx.timestamp),
      hostname: 'example.amazonaws.com',
    };
    const signed = toSignedRequest(parseSuiteRequest(readFileSync(join(dir, 'header-signed-request.txt'), 'utf8')));
    // The file's signature is the one AWS's reference signer produced.
    assert.equal(parseSigV4(signed).signature, readFileSync(join(dir, 'header-signature.txt'), 'utf8').trim());
    await t.test(name, async () => {
      mutations += await assertAcceptedAndTamperEvident(signed, scope, name);
    });
    ran++;

    const presigned = join(dir, 'query-signed-request.txt');
    if (existsSync(presigned)) {
      const req = toSignedRequest(parseSuiteRequest(readFileSync(presigned, 'utf8')));
      await assertRefused(authenticate(req, scope), 'IncompleteSignatureException', `${name}: presigned URL`);
      presignedRefused++;
    }
  }
  const applicable = cases.length - skippedUnnormalized.length;
  assert.ok(ran > 0);
  assert.equal(ran, applicable);
  t.diagnostic(
    `${ran} of ${cases.length} cases verified, ${mutations} tampered copies refused; ` +
      `${skippedUnnormalized.length} skipped (unnormalized paths, S3-style signing): ${skippedUnnormalized.join(', ')}; ` +
      `${presignedRefused} presigned (query-string) variants refused with IncompleteSignatureException`,
  );
});

interface Capture {
  http: HttpText;
  /** The request line's path. */
  path: string;
}

/**
 * Parses the awscli capture file: requests separated by `----` lines, each a
 * request line without a version, `Name: value` headers, blank lines, and a
 * body of Content-Length bytes.
 */
function parseCaptures(text: string): Capture[] {
  const out: Capture[] = [];
  for (const chunk of text.split(/^----$/m)) {
    if (!chunk.trim()) continue;
    const lines = chunk.replace(/^\n+/, '').split('\n');
    const [method, path] = (lines.shift() ?? '').split(' ') as [string, string];
    const headers: Array<[string, string]> = [];
    let line: string | undefined;
    while ((line = lines.shift()) !== undefined && line !== '') {
      const colon = line.indexOf(':');
      headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
    const rest = lines.join('\n').replace(/^\n+/, '');
    const length = Number(headers.find(([k]) => k.toLowerCase() === 'content-length')?.[1]);
    assert.ok(Number.isInteger(length));
    const body = utf8Bytes(rest).subarray(0, length);
    assert.equal(Buffer.from(utf8Bytes(rest).subarray(length)).toString().trim(), '', 'bytes after Content-Length');
    out.push({ http: { method, target: path, headers, body }, path });
  }
  return out;
}

interface CaptureVectors {
  requests: Array<{
    target: string;
    method: string;
    path: string;
    headers: Record<string, string>;
    authorization: string;
    body: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    region: string;
    service: string;
    signature: string;
  }>;
}

function captureScope(req: SignedRequest, credentials: Credentials, region: string, service: string): Scope {
  const claim = parseSigV4(req);
  return { credentials, region, service, now: claim.signingTime, hostname: '127.0.0.1' };
}

test('awscli 2.9.19 KMS requests (local capture): each verifies and each tampered copy is refused', async (t) => {
  const capturesPath = vectorPath(CAPTURES);
  const vectorsPath = vectorPath(CAPTURE_VECTORS);
  if (!capturesPath || !vectorsPath) {
    t.skip(absentMessage(capturesPath ? CAPTURE_VECTORS : CAPTURES));
    return;
  }
  const captures = parseCaptures(readFileSync(capturesPath, 'utf8'));
  const vectors = readVectorJson<CaptureVectors>(vectorsPath).requests;
  assert.ok(vectors.length > 0);
  assert.equal(captures.length, vectors.length);
  let ran = 0;
  for (const [i, v] of vectors.entries()) {
    const fromJson: SignedRequest = {
      method: v.method,
      path: v.path,
      query: {},
      rawHeaders: [...Object.entries(v.headers), ['Authorization', v.authorization] as const],
      body: utf8Bytes(v.body),
    };
    const fromText = toSignedRequest(captures[i]!.http);
    // The two files describe the same bytes.
    assert.deepEqual(fromText.body, fromJson.body, `${v.target}: body`);
    assert.equal(fromText.rawHeaders.find(([k]) => k === 'Authorization')?.[1], v.authorization, `${v.target}: Authorization`);
    assert.equal(parseSigV4(fromJson).signature, v.signature);
    const scope = captureScope(fromJson, v.credentials, v.region, v.service);
    await t.test(`${v.target} (JSON vector)`, () => assertAcceptedAndTamperEvident(fromJson, scope, v.target).then(() => undefined));
    await t.test(`${v.target} (raw capture)`, () => assertAcceptedAndTamperEvident(fromText, scope, v.target).then(() => undefined));
    ran++;
  }
  assert.equal(ran, vectors.length);
  t.diagnostic(`${ran} awscli requests verified from both capture files`);
});

interface RawResponse {
  status: number;
  json: { __type?: string; message?: string; KeyMetadata?: { KeySpec?: string; KeyUsage?: string } };
}

/** Sends exactly the captured request line, headers (the captured Host included) and body. */
function replay(port: number, capture: Capture, body: Uint8Array = capture.http.body): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: capture.http.method, path: capture.path, setHost: false, headers: Object.fromEntries(capture.http.headers) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('awscli 2.9.19 KMS requests replayed to a real custodian get past SigV4 authentication', async (t) => {
  const capturesPath = vectorPath(CAPTURES);
  if (!capturesPath) {
    t.skip(absentMessage(CAPTURES));
    return;
  }
  const captures = parseCaptures(readFileSync(capturesPath, 'utf8'));
  assert.ok(captures.length > 0);
  const dates = captures.map((c) => parseSigV4(toSignedRequest(c.http)).signingTime);
  // The server's clock stands at the capture time, so the 5-minute skew check passes.
  const captureTime = Math.max(...dates);
  // The captures were signed for the capture's host:port; this server is configured to answer to it (SYMBOLON_ALLOWED_HOSTS).
  const server = await startTestServer({
    clock: () => captureTime,
    env: { SYMBOLON_ALLOWED_HOSTS: [...new Set(captures.map((c) => c.http.headers.find(([k]) => k.toLowerCase() === 'host')?.[1] ?? ''))].join(',') },
  });
  try {
    const { store, root } = server.custodian.deps;
    // The CLI signed with AWS's published example credential; register it as this account's root user's key.
    await insertAccessKey(store.db, {
      accessKeyId: 'AKIDEXAMPLE',
      userName: 'root',
      principalArn: `arn:aws:iam::${server.custodian.accountId}:root`,
      sealedSecret: root.seal(utf8Bytes('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'), accessKeySecretAad('AKIDEXAMPLE')),
      status: 'Active',
      createdAt: captureTime,
    });
    let replayed = 0;
    for (const capture of captures) {
      const target = capture.http.headers.find(([k]) => k.toLowerCase() === 'x-amz-target')?.[1] ?? '';
      const res = await replay(server.port, capture);
      assert.ok(res.status < 500, `${target}: status ${res.status}`);
      assert.ok(!AUTH_ERRORS.has(res.json.__type ?? ''), `${target}: refused by authentication: ${res.json.__type}: ${res.json.message}`);
      if (target === 'TrentService.CreateKey') {
        assert.equal(res.status, 200);
        assert.equal(res.json.KeyMetadata?.KeySpec, 'ECC_SECG_P256K1');
        assert.equal(res.json.KeyMetadata?.KeyUsage, 'SIGN_VERIFY');
      }
      if (target === 'TrentService.Sign') {
        // Authenticated, then refused for the reason a user expects: alias/x does not exist here.
        assert.equal(res.json.__type, 'NotFoundException');
      }
      // The same bytes with one body byte changed are refused by the server.
      const tampered = Uint8Array.from(capture.http.body);
      tampered[1]! ^= 0x01;
      const refused = await replay(server.port, capture, tampered);
      assert.equal(refused.status, 400);
      assert.equal(refused.json.__type, 'InvalidSignatureException', `${target}: tampered body`);
      replayed++;
    }
    assert.equal(replayed, captures.length);
    t.diagnostic(`${replayed} captured awscli requests replayed; ${replayed} tampered copies refused`);
  } finally {
    await server.close();
  }
});
