/**
 * Monitoring webhooks end to end, through a real custodian on a real socket:
 * `symbolon admin webhook add|list|delete` (the CLI function, over HTTP), a
 * receiver of the test's own (a real HTTP server) that verifies the
 * X-Symbolon-Signature HMAC and timestamp as docs/audit.md tells receivers to,
 * a deny burst produced by real denied KMS Sign requests via the AWS SDK,
 * approvals requested and decided through the real approvals API, retries
 * after the receiver fails twice, and the counters scraped from /metrics.
 * Runs on SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './helpers/eventually.js';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, PutKeyPolicyCommand, SignCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ADMIN, REGION, STORE, startTestServer, type TestServer } from './helpers/server.js';
import { callApprovals, callAwsJson } from './helpers/aws-json.js';
import { adminCommand } from '../src/cli/admin.js';
import { queryEvents } from '../src/storage/audit.repository.js';
import { sample } from './helpers/prometheus.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/** The receiver: records every POST; answers 500 while `failNext` > 0. */
class Receiver {
  readonly received: Received[] = [];
  failNext = 0;
  #server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.failNext > 0 ? 500 : 204;
        if (this.failNext > 0) this.failNext--;
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    const a = this.#server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hooks/symbolon`;
  }

  close(): Promise<void> {
    return new Promise((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  /** Accepted deliveries of one event type, parsed. */
  accepted(type: string): Array<{ parsed: any; raw: Received }> {
    return this.received.filter((r) => r.status === 204 && r.headers['x-symbolon-event'] === type).map((raw) => ({ parsed: JSON.parse(raw.body), raw }));
  }
}

/** What docs/audit.md tells a receiver to do: recompute the HMAC over `${timestamp}.${body}`, compare in constant time, bound the age. */
function verifySignature(headers: IncomingHttpHeaders, body: string, secret: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const timestamp = String(headers['x-symbolon-timestamp'] ?? '');
  const signature = String(headers['x-symbolon-signature'] ?? '');
  if (!/^\d+$/.test(timestamp) || !signature.startsWith('sha256=')) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
  const given = Buffer.from(signature.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Added to the custodian's clock (expiry); webhook timestamps and SigV4 dates follow it. */
let offsetMs = 0;

describe(`webhooks on ${STORE}`, () => {
  let server: TestServer;
  const receiver = new Receiver();
  let iam: IAMClient;
  let rootArn = '';
  let secret = '';
  let webhookId = '';
  const tmp = mkdtempSync(join(tmpdir(), 'monitor16-webhooks-'));

  async function admin(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await adminCommand([...args, '--endpoint', server.endpoint], {
      out: (s) => void (out += s),
      err: (s) => void (err += s),
      env: { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION },
    });
    return { code, out, err };
  }

  async function user(name: string, policy?: unknown): Promise<{ accessKeyId: string; secretAccessKey: string; arn: string }> {
    const u = await iam.send(new CreateUserCommand({ UserName: name }));
    if (policy) await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify(policy) }));
    const k = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
    return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn! };
  }

  const newKey = async () => (await server.kms().send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;

  before(async () => {
    await receiver.start();
    server = await startTestServer({
      alertSettings: { threshold: 3, windowSeconds: 60 },
      clock: () => Date.now() + offsetMs,
      webhookSettings: { baseDelayMs: 20, maxDelayMs: 100, maxAttempts: 4, allowPrivateTargets: true },
      ...(STORE === 'postgres' ? { pgSchema: `monitor16_wh_${randomBytes(4).toString('hex')}` } : {}),
    });
    rootArn = `arn:aws:iam::${server.custodian.accountId}:root`;
    iam = new IAMClient({ endpoint: server.endpoint, region: REGION, credentials: ADMIN, maxAttempts: 1 });
  });
  after(async () => {
    iam?.destroy();
    await server?.close();
    await receiver.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('a bad URL or event type is refused at add, and nothing is stored', async () => {
    for (const url of ['ftp://127.0.0.1/x', 'file:///etc/passwd', 'http://user:pass@127.0.0.1/', 'not a url', 'javascript:alert(1)']) {
      const r = await admin('webhook', 'add', '--url', url, '--events', 'deny.burst');
      assert.equal(r.code, 2, `${url}: ${r.err}`);
      assert.match(r.err, /--url: the webhook URL/);
      assert.ok(!r.err.includes('pass@'), 'the refusal never echoes a credential');
    }
    // The API refuses too (a client that skips the CLI's check).
    const api = await callAwsJson({
      endpoint: server.endpoint,
      target: 'SymbolonMonitoring.CreateWebhook',
      body: { Url: 'gopher://x/', Events: ['deny.burst'] },
    });
    assert.equal(api.status, 400);
    assert.equal(api.body.__type, 'ValidationException');
    assert.match(String(api.body.message), /must be http: or https:/);
    const unknown = await admin('webhook', 'add', '--url', receiver.url, '--events', 'deny.burst,key.exported');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /ValidationException: unknown event type 'key.exported'/);
    const noThreshold = await admin('webhook', 'add', '--url', receiver.url, '--events', 'value.threshold');
    assert.match(noThreshold.err, /value.threshold needs a threshold in wei/);
    const listed = await admin('webhook', 'list', '--json');
    assert.equal(listed.code, 0, listed.err);
    assert.deepEqual(JSON.parse(listed.out).Webhooks, []);
  });

  test('add prints the generated secret once; list never shows it', async () => {
    const r = await admin('webhook', 'add', '--url', receiver.url, '--events', 'deny.burst,approval.requested,approval.decided', '--json');
    assert.equal(r.code, 0, r.err);
    const created = JSON.parse(r.out);
    secret = created.Secret;
    webhookId = created.Webhook.WebhookId;
    assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(created.Webhook.Events, ['deny.burst', 'approval.requested', 'approval.decided']);
    assert.equal(created.Webhook.Url, receiver.url);
    const listed = await admin('webhook', 'list', '--json');
    assert.ok(!listed.out.includes(secret), 'list does not show the secret');
    assert.deepEqual(
      JSON.parse(listed.out).Webhooks.map((w: { WebhookId: string }) => w.WebhookId),
      [webhookId],
    );
    const human = await admin('webhook', 'list');
    assert.match(human.out, new RegExp(`^${webhookId}  ${receiver.url.replace(/[/.]/g, '\\$&')}  deny.burst,approval.requested,approval.decided\n$`));
  });

  test('a burst of real denied KMS Sign requests is delivered as deny.burst, signed and without secrets', async () => {
    const key = await newKey();
    const mallory = await user('mallory');
    const kms = server.kms(mallory);
    const digest = createHash('sha256').update('monitor16').digest();
    for (let i = 0; i < 3; i++) {
      await assert.rejects(kms.send(new SignCommand({ KeyId: key, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })), {
        name: 'AccessDeniedException',
      });
    }
    await eventually('deny.burst delivered', () => receiver.accepted('deny.burst').length === 1);
    const { parsed, raw } = receiver.accepted('deny.burst')[0]!;
    assert.ok(verifySignature(raw.headers, raw.body, secret, Math.floor(Date.now() / 1000)), 'the HMAC verifies with the secret shown at add');
    assert.ok(!verifySignature(raw.headers, raw.body, `${secret}x`, Math.floor(Date.now() / 1000)), 'and not with another secret');
    assert.ok(!verifySignature(raw.headers, `${raw.body} `, secret, Math.floor(Date.now() / 1000)), 'nor over another body');
    assert.ok(!verifySignature(raw.headers, raw.body, secret, Math.floor(Date.now() / 1000) + 3600), 'an old timestamp is refused');
    assert.equal(parsed.type, 'deny.burst');
    assert.equal(parsed.webhookId, webhookId);
    assert.deepEqual(parsed.data, { principal: mallory.arn, keyArn: key, count: 3, windowSeconds: 60, service: 'kms' });
    assert.equal(raw.headers['content-type'], 'application/json');
    for (const forbidden of [secret, mallory.secretAccessKey, ADMIN.secretAccessKey, digest.toString('hex'), digest.toString('base64')]) {
      assert.ok(!raw.body.includes(forbidden), 'the body carries no secret, credential or digest');
    }
  });

  test('approvals requested and decided through the real approvals API are delivered', async () => {
    const alice = await user('alice', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] });
    const key = await newKey();
    const call = (op: string, body: Record<string, unknown>, credentials = ADMIN) =>
      callApprovals({ endpoint: server.endpoint, operation: op, body, credentials });
    await call('PutQuorumRule', { KeyId: key, Approvers: [rootArn, alice.arn], Threshold: 2 });
    const policy = (sid: string) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: rootArn }, Action: 'kms:*', Resource: '*' },
          { Sid: sid, Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*' },
        ],
      });
    const propose = async (text: string): Promise<string> => {
      let id = '';
      await assert.rejects(server.kms().send(new PutKeyPolicyCommand({ KeyId: key, Policy: text })), (e: Error) => {
        assert.equal(e.name, 'KMSInvalidStateException');
        id = /change ([0-9a-f-]{36}) pending/.exec(e.message)![1]!;
        return true;
      });
      return id;
    };
    const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

    const first = policy('One');
    const approved = await propose(first);
    await eventually('approval.requested', () => receiver.accepted('approval.requested').some((d) => d.parsed.data.changeId === approved));
    const requested = receiver.accepted('approval.requested').find((d) => d.parsed.data.changeId === approved)!;
    assert.deepEqual(requested.parsed.data, { kind: 'policyChange', changeId: approved, keyArn: key, service: 'kms', proposer: rootArn });
    assert.ok(verifySignature(requested.raw.headers, requested.raw.body, secret, Math.floor(Date.now() / 1000)));
    assert.ok(!requested.raw.body.includes('kms:Decrypt'), 'the proposed text is not in the body');
    assert.equal(receiver.accepted('approval.decided').length, 0, 'nothing decided yet');

    await call('ApprovePolicyChange', { ChangeId: approved, PayloadSha256: sha(first) }, alice);
    await eventually('approval.decided (approved)', () => receiver.accepted('approval.decided').some((d) => d.parsed.data.changeId === approved));

    const second = policy('Two');
    const rejected = await propose(second);
    await call('RejectPolicyChange', { ChangeId: rejected, PayloadSha256: sha(second) }, alice);
    await eventually('approval.decided (rejected)', () => receiver.accepted('approval.decided').some((d) => d.parsed.data.changeId === rejected));
    const decided = receiver.accepted('approval.decided').map((d) => d.parsed.data);
    assert.deepEqual(
      decided.map((d: { changeId: string; decision: string; by: string }) => [d.changeId, d.decision, d.by]),
      [
        [approved, 'approved', alice.arn],
        [rejected, 'rejected', alice.arn],
      ],
      'one decision per change: a rejection vote and the closing rejection are one event',
    );
  });

  test('a delivery the receiver fails twice is retried and then delivered; failures show in /metrics', async () => {
    const before = receiver.received.length;
    receiver.failNext = 2;
    const key = await newKey();
    const eve = await user('eve');
    const kms = server.kms(eve);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(kms.send(new SignCommand({ KeyId: key, Message: randomBytes(32), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })), {
        name: 'AccessDeniedException',
      });
    }
    await eventually('deny.burst for eve delivered', () => receiver.accepted('deny.burst').some((d) => d.parsed.data.principal === eve.arn));
    const attempts = receiver.received.slice(before).filter((r) => r.headers['x-symbolon-event'] === 'deny.burst');
    assert.deepEqual(
      attempts.map((a) => a.status),
      [500, 500, 204],
    );
    assert.equal(new Set(attempts.map((a) => a.headers['x-symbolon-delivery'])).size, 1, 'one delivery id across the retries');
    assert.equal(new Set(attempts.map((a) => a.body)).size, 1, 'the same body');
    for (const a of attempts) assert.ok(verifySignature(a.headers, a.body, secret, Math.floor(Date.now() / 1000)), 'every attempt is signed');

    const text = await (await fetch(`${server.endpoint}/metrics`)).text();
    assert.equal(sample(text, 'symbolon_webhook_delivery_failures_total', { type: 'deny.burst' }), 2);
    assert.equal(sample(text, 'symbolon_webhook_deliveries_total'), receiver.received.filter((r) => r.status === 204).length);
    assert.equal(sample(text, 'symbolon_webhook_dropped_total'), 0);
    assert.equal(sample(text, 'symbolon_webhook_deliveries_abandoned_total'), 0);
    assert.equal(sample(text, 'symbolon_denied_requests_total', { service: 'kms', operation: 'Sign' }), 6);
    assert.equal(sample(text, 'symbolon_monitor_alerts_total', { type: 'deny.burst' }), 2);
    assert.equal(sample(text, 'symbolon_approvals_requested_total', { kind: 'policy_change' }), 2);
    assert.equal(sample(text, 'symbolon_approvals_decided_total', { kind: 'policy_change', decision: 'approved' }), 1);
    assert.equal(sample(text, 'symbolon_approvals_decided_total', { kind: 'policy_change', decision: 'rejected' }), 1);
  });

  test('a signing request (RequireApproval): requested, then approved, rejected or expired, is announced with kind signing', async () => {
    const anyAction = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Sign', 'symbolon:*'], Resource: '*' }] };
    const requester = await user('signing-requester', anyAction);
    const carol = await user('signing-approver-c', anyAction);
    const dave = await user('signing-approver-d', anyAction);
    const key = await newKey();
    const signingCall = (op: string, body: unknown, credentials: { accessKeyId: string; secretAccessKey: string } = ADMIN) =>
      callAwsJson({ endpoint: server.endpoint, target: `SymbolonSigning.${op}`, body, credentials, signingDate: new Date(Date.now() + offsetMs) });
    const policy = {
      Version: '2026-12-01',
      Statement: [
        { Sid: 'Small', Effect: 'Allow' },
        {
          Sid: 'BigPayments',
          Effect: 'RequireApproval',
          Condition: { NumericGreaterThan: { 'eth:Value': '1000000000000000000' } },
          Approval: { Approvers: [carol.arn, dave.arn], MinApprovals: 1, ExpiresInSeconds: 60 },
        },
      ],
    };
    const put = await signingCall('PutSigningPolicy', { KeyId: key, Policy: JSON.stringify(policy) });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const ask = async (nonce: number): Promise<{ id: string; sha: string }> => {
      const payload = {
        type: 'transaction',
        transaction: {
          chainId: 31337,
          nonce,
          gas: 21000,
          maxFeePerGas: '30000000000',
          maxPriorityFeePerGas: '1',
          to: `0x${'11'.repeat(20)}`,
          value: '2000000000000000000',
        },
      };
      const r = await signingCall('SignPayload', { KeyId: key, Payload: payload }, requester);
      assert.equal(r.body.__type, 'SigningApprovalPendingException', JSON.stringify(r.body));
      const m = /signing request ([0-9a-f-]{36}) is pending \(SHA-256 ([0-9a-f]{64})\)/.exec(String(r.body.message))!;
      return { id: m[1]!, sha: m[2]! };
    };
    const vote = (op: string, c: { id: string; sha: string }, who: { accessKeyId: string; secretAccessKey: string }) =>
      callApprovals({ endpoint: server.endpoint, operation: op, body: { ChangeId: c.id, PayloadSha256: c.sha }, credentials: who });
    const decidedOf = (id: string) => receiver.accepted('approval.decided').filter((d) => d.parsed.data.changeId === id);

    const approved = await ask(0);
    await eventually('approval.requested (signing)', () => receiver.accepted('approval.requested').some((d) => d.parsed.data.changeId === approved.id));
    const requested = receiver.accepted('approval.requested').filter((d) => d.parsed.data.changeId === approved.id);
    assert.equal(requested.length, 1, 'announced once (the proposal step and the pending decision are one request)');
    const asked = requested[0]!.parsed.data;
    assert.equal(asked.kind, 'signing');
    assert.equal(asked.keyArn, key);
    assert.equal(asked.principal, requester.arn);
    assert.equal(asked.statement, 'BigPayments');
    assert.equal(asked.chainId, '31337');
    assert.ok(verifySignature(requested[0]!.raw.headers, requested[0]!.raw.body, secret, Math.floor(Date.now() / 1000)));
    assert.ok(!requested[0]!.raw.body.includes('2000000000000000000'), 'the payload is not in the body');
    assert.equal(decidedOf(approved.id).length, 0, 'nothing decided yet');

    assert.equal((await vote('ApprovePolicyChange', approved, carol)).Change.Status, 'APPLIED');
    await eventually('approval.decided (signing, approved)', () => decidedOf(approved.id).length > 0);
    const yes = decidedOf(approved.id)[0]!;
    assert.deepEqual(yes.parsed.data, {
      kind: 'signing',
      changeId: approved.id,
      keyArn: key,
      service: 'kms',
      decision: 'approved',
      by: carol.arn,
      signature: 'SymbolonSigning.GetSigningRequest',
    });
    assert.ok(verifySignature(yes.raw.headers, yes.raw.body, secret, Math.floor(Date.now() / 1000)));
    // What the webhook announces is there: the requester fetches the signed transaction.
    const got = await signingCall('GetSigningRequest', { RequestId: approved.id }, requester);
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.match(String(got.body.Signed), /^0x02/);
    assert.ok(!yes.raw.body.includes(String(got.body.Signed).slice(2, 40)), 'the signature is fetched, not pushed');

    const rejected = await ask(1);
    assert.equal((await vote('RejectPolicyChange', rejected, carol)).Change.Status, 'PENDING');
    assert.equal((await vote('RejectPolicyChange', rejected, dave)).Change.Status, 'REJECTED');
    await eventually('approval.decided (signing, rejected)', () => decidedOf(rejected.id).length > 0);
    assert.deepEqual(
      decidedOf(rejected.id).map((d) => [d.parsed.data.kind, d.parsed.data.decision, d.parsed.data.by]),
      [['signing', 'rejected', dave.arn]],
      'the vote that closes the request is the one decision',
    );
    assert.equal((await signingCall('GetSigningRequest', { RequestId: rejected.id }, requester)).body.__type, 'KMSInvalidStateException');

    const expired = await ask(2);
    offsetMs = 61_000;
    try {
      // Expiry is noticed when the request is next read (here: the requester's fetch).
      const late = await signingCall('GetSigningRequest', { RequestId: expired.id }, requester);
      assert.match(String(late.body.message), /is EXPIRED; nothing is signed/);
      await eventually('approval.decided (signing, expired)', () => decidedOf(expired.id).length > 0);
      const gone = decidedOf(expired.id)[0]!;
      assert.equal(gone.parsed.data.kind, 'signing');
      assert.equal(gone.parsed.data.decision, 'expired');
      assert.ok(verifySignature(gone.raw.headers, gone.raw.body, secret, Math.floor((Date.now() + offsetMs) / 1000)));
    } finally {
      offsetMs = 0;
    }

    const text = await (await fetch(`${server.endpoint}/metrics`)).text();
    assert.equal(sample(text, 'symbolon_approvals_requested_total', { kind: 'signing' }), 3);
    assert.equal(sample(text, 'symbolon_approvals_decided_total', { kind: 'signing', decision: 'approved' }), 1);
    assert.equal(sample(text, 'symbolon_approvals_decided_total', { kind: 'signing', decision: 'rejected' }), 1);
    assert.equal(sample(text, 'symbolon_approvals_decided_total', { kind: 'signing', decision: 'expired' }), 1);
    assert.equal(sample(text, 'symbolon_approvals_requested_total', { kind: 'policy_change' }), 2, 'signing requests are not counted as permission changes');
    // The audit log names the steps as a signing request's.
    await server.custodian.audit.flush();
    const steps = (await queryEvents(server.custodian.deps.store.db, { key, limit: 100 })).map((e) => e.operation).filter((o) => o.endsWith(expired.id));
    assert.deepEqual(steps, [`SigningRequestProposed/${expired.id}`, `SigningRequestExpired/${expired.id}`]);
  });

  test('--secret-file sets the secret; delete stops deliveries to that webhook', async () => {
    const file = join(tmp, 'secret');
    const chosen = `monitor16-${randomBytes(12).toString('hex')}`;
    writeFileSync(file, `${chosen}\n`);
    const r = await admin('webhook', 'add', '--url', `${receiver.url}?second`, '--events', 'deny.burst', '--secret-file', file, '--json');
    assert.equal(r.code, 0, r.err);
    const created = JSON.parse(r.out);
    assert.equal(created.Secret, undefined, 'a secret the administrator chose is not echoed');
    const del = await admin('webhook', 'delete', '--id', webhookId);
    assert.equal(del.code, 0, del.err);
    const gone = await admin('webhook', 'delete', '--id', webhookId);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /NotFoundException/);

    const before = receiver.received.length;
    const key = await newKey();
    const trent = await user('trent');
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        server.kms(trent).send(new SignCommand({ KeyId: key, Message: randomBytes(32), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
        { name: 'AccessDeniedException' },
      );
    }
    await eventually('deny.burst for trent delivered', () => receiver.accepted('deny.burst').some((d) => d.parsed.data.principal === trent.arn));
    const now = receiver.received.slice(before);
    assert.equal(now.length, 1, 'only the remaining webhook is called');
    assert.equal(now[0]!.headers['x-symbolon-signature'] !== undefined, true);
    assert.ok(verifySignature(now[0]!.headers, now[0]!.body, chosen, Math.floor(Date.now() / 1000)), 'signed with the secret from the file');
    assert.equal(JSON.parse(now[0]!.body).webhookId, created.Webhook.WebhookId);
  });

  test('managing webhooks needs symbolon:CreateWebhook / ListWebhooks / DeleteWebhook', async () => {
    const nobody = await user('nobody');
    const hooks = await user('hooks', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'symbolon:CreateWebhook', Resource: '*' }] });
    const create = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
      callAwsJson({ endpoint: server.endpoint, target: 'SymbolonMonitoring.CreateWebhook', body: { Url: receiver.url, Events: ['deny.burst'] }, credentials });
    const refused = await create(nobody);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.__type, 'AccessDeniedException');
    assert.match(String(refused.body.message), /symbolon:CreateWebhook/);
    assert.equal(refused.body.Secret, undefined);
    const allowed = await create(hooks);
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    const list = await callAwsJson({ endpoint: server.endpoint, target: 'SymbolonMonitoring.ListWebhooks', body: {}, credentials: hooks });
    assert.equal(list.body.__type, 'AccessDeniedException', 'CreateWebhook alone does not allow listing');
  });
});
