// Issue #12, item 13, through a real listening custodian: the signed Host
// header must name this server (SYMBOLON_PUBLIC_URL, the listening address
// under each of its names, SYMBOLON_ALLOWED_HOSTS) — a request signed for
// another host:port is refused with InvalidSignatureException (IAM/STS:
// SignatureDoesNotMatch) and changes nothing; and an IAM or STS request over
// the 64 KiB body limit gets its service's query-protocol XML error, not KMS's
// JSON.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { MAX_BODY_BYTES } from '../src/server/aws-endpoint.js';
import { configFromEnv } from '../src/config.js';
import { allowedHosts, hostAccepted } from '../src/server/allowed-hosts.js';

let server: TestServer;
let port: number;

before(async () => {
  server = await startTestServer({ env: { SYMBOLON_PUBLIC_URL: 'https://kms.example.com', SYMBOLON_ALLOWED_HOSTS: 'custodian.internal:8080' } });
  port = server.port;
});
after(() => server?.close());

interface Reply {
  status: number;
  contentType: string;
  text: string;
}

/** Signs a request for `host` (SigV4 signs the Host header) and sends it to the server's real socket. */
async function send(o: { host: string; service: 'kms' | 'sts' | 'iam'; body: string; target?: string; sign?: boolean }): Promise<Reply> {
  const headers: Record<string, string> = {
    host: o.host,
    'content-type': o.target ? 'application/x-amz-json-1.1' : 'application/x-www-form-urlencoded',
    ...(o.target ? { 'x-amz-target': o.target } : {}),
  };
  let req = new HttpRequest({ method: 'POST', protocol: 'http:', hostname: o.host.replace(/:\d+$/, ''), path: '/', headers, body: o.body });
  if (o.sign !== false) {
    const signer = new SignatureV4({ credentials: ADMIN, region: REGION, service: o.service, sha256: Hash.bind(null, 'sha256') });
    req = (await signer.sign(req)) as HttpRequest;
  }
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/', headers: { ...req.headers, 'content-length': String(Buffer.byteLength(o.body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    r.on('error', reject);
    r.end(o.body);
  });
}

const keyCount = async () => (await server.kms().send(new ListKeysCommand({ Limit: 1000 }))).Keys!.length;

describe('the Host header must name this server', () => {
  test('a CreateKey signed for another host or another port is refused and creates nothing', async () => {
    const before = await keyCount();
    for (const host of ['kms.attacker.example', `127.0.0.1:${port + 1}`, `localhost:${port + 1}`, 'kms.example.com:8443', 'custodian.internal:9090']) {
      const r = await send({ host, service: 'kms', target: 'TrentService.CreateKey', body: '{}' });
      assert.equal(r.status, 400, `${host}: ${r.status} ${r.text}`);
      assert.match(r.contentType, /^application\/x-amz-json-1\.1/);
      assert.deepEqual(JSON.parse(r.text), { __type: 'InvalidSignatureException', message: 'The Host header does not name this server.' }, host);
    }
    assert.equal(await keyCount(), before);
  });

  test('the configured names are accepted: public URL, listening address (every loopback name), SYMBOLON_ALLOWED_HOSTS', async () => {
    const before = await keyCount();
    const hosts = ['kms.example.com', 'KMS.example.com:443', `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'custodian.internal:8080'];
    for (const host of hosts) {
      const r = await send({ host, service: 'kms', target: 'TrentService.CreateKey', body: '{}' });
      assert.equal(r.status, 200, `${host}: ${r.text}`);
    }
    assert.equal(await keyCount(), before + hosts.length);
  });

  test('IAM and STS refuse another host in their own XML (SignatureDoesNotMatch)', async () => {
    const sts = await send({ host: `127.0.0.1:${port + 1}`, service: 'sts', body: 'Action=GetCallerIdentity&Version=2011-06-15' });
    assert.equal(sts.status, 403);
    assert.match(
      sts.text,
      /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/"><Error><Type>Sender<\/Type><Code>SignatureDoesNotMatch<\/Code>/,
    );
    const iam = await send({ host: 'kms.attacker.example', service: 'iam', body: 'Action=CreateUser&Version=2010-05-08&UserName=host-test' });
    assert.equal(iam.status, 403);
    assert.match(iam.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    const ok = await send({ host: `127.0.0.1:${port}`, service: 'sts', body: 'Action=GetCallerIdentity&Version=2011-06-15' });
    assert.equal(ok.status, 200, ok.text);
  });

  test('the accepted names for other configurations: a wildcard address, IPv6, a public URL on its default port', () => {
    const wildcard = allowedHosts({ publicUrl: undefined, extra: [], address: { address: '0.0.0.0', family: 'IPv4', port: 8080 } });
    for (const h of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080']) assert.ok(hostAccepted(wildcard, h), h);
    assert.ok(!hostAccepted(wildcard, 'localhost:8081'));
    assert.ok(!hostAccepted(wildcard, 'attacker.example:8080'));
    const v6 = allowedHosts({ publicUrl: undefined, extra: [], address: { address: 'fd00::5', family: 'IPv6', port: 9000 } });
    assert.deepEqual([...v6], ['[fd00::5]:9000']);
    const pub = allowedHosts({ publicUrl: 'http://Wallet.Example.com', extra: [], address: null });
    assert.ok(hostAccepted(pub, 'wallet.example.com') && hostAccepted(pub, 'wallet.example.com:80'));
    assert.ok(!hostAccepted(pub, 'wallet.example.com:8080'));
  });

  test('SYMBOLON_ALLOWED_HOSTS takes host[:port] names only', () => {
    assert.deepEqual(configFromEnv({ SYMBOLON_ALLOWED_HOSTS: 'A.example:8080, [::1]:9000,b' }, {}).allowedHosts, ['a.example:8080', '[::1]:9000', 'b']);
    assert.throws(() => configFromEnv({ SYMBOLON_ALLOWED_HOSTS: 'https://a.example' }, {}), /SYMBOLON_ALLOWED_HOSTS must list host\[:port\] names/);
  });
});

describe('a body over 64 KiB is refused in the protocol of the service it was sent to', () => {
  const big = (prefix: string) => `${prefix}&Padding=${'x'.repeat(MAX_BODY_BYTES)}`;

  test('STS (signed or not): the query protocol XML error', async () => {
    for (const sign of [true, false]) {
      const r = await send({ host: `127.0.0.1:${port}`, service: 'sts', body: big('Action=GetCallerIdentity&Version=2011-06-15'), sign });
      assert.equal(r.status, 400, r.text);
      assert.match(r.contentType, /^text\/xml/);
      assert.match(
        r.text,
        /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/"><Error><Type>Sender<\/Type><Code>ValidationError<\/Code><Message>Request body is too large\.<\/Message><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/,
      );
    }
  });

  test("IAM: IAM's XML error", async () => {
    const r = await send({ host: `127.0.0.1:${port}`, service: 'iam', body: big('Action=ListUsers&Version=2010-05-08') });
    assert.equal(r.status, 400);
    assert.match(
      r.text,
      /^<ErrorResponse xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/"><Error><Type>Sender<\/Type><Code>ValidationError<\/Code><Message>Request body is too large\.<\/Message>/,
    );
  });

  test("KMS: still KMS's JSON ValidationException", async () => {
    const r = await send({
      host: `127.0.0.1:${port}`,
      service: 'kms',
      target: 'TrentService.ListKeys',
      body: JSON.stringify({ Padding: 'x'.repeat(MAX_BODY_BYTES) }),
    });
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.text), { __type: 'ValidationException', message: 'Request body is too large.' });
  });
});
