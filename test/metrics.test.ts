/**
 * GET /metrics (Prometheus text format) and the denied-burst alert, through a
 * real server and the AWS SDK: request counts by operation and outcome, latency
 * histograms, denied attempts by principal and key, keys by state read from the
 * store at scrape time, one warning line per burst of denied requests. Runs on
 * SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import pino from 'pino';
import { CreateKeyCommand, DisableKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from './helpers/server.js';
import { accessDenied } from '../src/aws/errors.js';
import type { Authorizer } from '../src/kms/context.js';
import { alertSettingsFromEnv, auditSettingsFromEnv } from '../src/audit/settings.js';
import { sample } from './helpers/prometheus.js';

/** Denies Sign of RAW messages, standing in for a key policy that does. */
const denyRawSign: Authorizer = {
  async authorize({ caller, action, conditions }) {
    if (action === 'kms:Sign' && conditions['kms:MessageType'] === 'RAW') throw accessDenied(`User: ${caller.arn} is not authorized to perform: kms:Sign`);
  },
};

async function scrape(server: TestServer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.endpoint}/metrics`, { headers });
}

describe('metrics and denied-burst alerts', () => {
  let server: TestServer;
  let kms: KMSClient;
  const lines: string[] = [];
  let keyA = '';
  let keyB = '';
  let root = '';

  const signDigest = (keyId: string) =>
    kms.send(
      new SignCommand({
        KeyId: keyId,
        Message: createHash('sha256').update(randomBytes(8)).digest(),
        MessageType: 'DIGEST',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
  const signRaw = (keyId: string) =>
    kms.send(new SignCommand({ KeyId: keyId, Message: randomBytes(20), MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' })).then(
      () => assert.fail('a RAW Sign should be denied'),
      (e: Error) => assert.equal(e.name, 'AccessDeniedException'),
    );
  const alertLines = () => lines.filter((l) => l.includes('kms_denied_burst')).map((l) => JSON.parse(l));

  before(async () => {
    server = await startTestServer({
      authorizer: denyRawSign,
      alertSettings: { threshold: 3, windowSeconds: 60 },
      logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }),
    });
    root = `arn:aws:iam::${server.custodian.accountId}:root`;
    kms = server.kms();
    keyA = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
    keyB = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
  });
  after(async () => {
    await server?.close();
  });

  test('a burst of denied requests logs one warning naming principal, key and count', async () => {
    await signRaw(keyA);
    await signRaw(keyA);
    assert.equal(alertLines().length, 0, 'below the threshold: no alert');
    await signRaw(keyA);
    assert.equal(alertLines().length, 1);
    const [alert] = alertLines();
    assert.equal(alert.level, 40, 'a warning');
    assert.equal(alert.principal, root);
    assert.equal(alert.key, keyA);
    assert.equal(alert.count, 3);
    assert.match(alert.msg, new RegExp(`3 denied KMS requests from ${root.replace(/[:]/g, '\\:')} on ${keyA.replace(/[:/-]/g, '\\$&')} within 60s`));
    await signRaw(keyA);
    await signRaw(keyA);
    assert.equal(alertLines().length, 1, 'not again for the same principal and key within the window');
    for (let i = 0; i < 3; i++) await signRaw(keyB);
    assert.equal(alertLines().length, 2, 'another key is another burst');
    assert.equal(alertLines()[1].key, keyB);
  });

  test('GET /metrics counts requests by operation and outcome, latency, denials by principal and key', async () => {
    await signDigest(keyA);
    await signDigest(keyA);
    await signDigest('11111111-2222-3333-4444-555555555555').catch((e: Error) => assert.equal(e.name, 'NotFoundException'));
    // Not signed: refused before authentication, with a made-up operation name.
    const unsigned = await fetch(`${server.endpoint}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.Made${randomBytes(4).toString('hex')}Up` },
      body: '{}',
    });
    assert.equal(unsigned.status, 403);

    const res = await scrape(server);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(sample(text, 'symbolon_kms_requests_total', { operation: 'CreateKey', outcome: 'ok', error_code: '' }), 2);
    assert.equal(sample(text, 'symbolon_kms_requests_total', { operation: 'Sign', outcome: 'ok', error_code: '' }), 2);
    assert.equal(sample(text, 'symbolon_kms_requests_total', { operation: 'Sign', outcome: 'denied', error_code: 'AccessDeniedException' }), 8);
    assert.equal(sample(text, 'symbolon_kms_requests_total', { operation: 'Sign', outcome: 'error', error_code: 'NotFoundException' }), 1);
    assert.equal(sample(text, 'symbolon_kms_requests_total', { operation: 'unknown', outcome: 'error', error_code: 'MissingAuthenticationTokenException' }), 1);
    assert.ok(!text.includes('Made'), 'an operation name a client made up never becomes a label');
    assert.equal(sample(text, 'symbolon_kms_request_duration_seconds_count', { operation: 'Sign' }), 11);
    assert.equal(sample(text, 'symbolon_kms_request_duration_seconds_bucket', { operation: 'Sign', le: '+Inf' }), 11);
    const seconds = sample(text, 'symbolon_kms_request_duration_seconds_sum', { operation: 'Sign' })!;
    assert.ok(seconds > 0 && seconds < 30);
    assert.equal(sample(text, 'symbolon_kms_denied_total', { principal: root, key: keyA }), 5);
    assert.equal(sample(text, 'symbolon_kms_denied_total', { principal: root, key: keyB }), 3);
    assert.equal(sample(text, 'symbolon_kms_denied_alerts_total'), 2);
    assert.match(text, /^symbolon_process_cpu_seconds_total /m);
  });

  test('keys by state are read from the store at each scrape', async () => {
    const before = await (await scrape(server)).text();
    assert.equal(sample(before, 'symbolon_kms_keys', { state: 'Enabled' }), 2);
    assert.equal(sample(before, 'symbolon_kms_keys', { state: 'Disabled' }), 0);
    assert.equal(sample(before, 'symbolon_kms_keys', { state: 'PendingDeletion' }), 0);
    await kms.send(new DisableKeyCommand({ KeyId: keyB }));
    const afterDisable = await (await scrape(server)).text();
    assert.equal(sample(afterDisable, 'symbolon_kms_keys', { state: 'Enabled' }), 1);
    assert.equal(sample(afterDisable, 'symbolon_kms_keys', { state: 'Disabled' }), 1);
  });

  test('the audit log reports what it wrote', async () => {
    await server.custodian.audit.flush();
    const text = await (await scrape(server)).text();
    // The process's ProcessStarted, then every authenticated KMS request so far: 2 CreateKey, 8 denied, 3 Sign, 1 DisableKey.
    assert.equal(sample(text, 'symbolon_audit_events_written_total'), 15);
    assert.equal(sample(text, 'symbolon_audit_buffered_events'), 0);
    assert.equal(sample(text, 'symbolon_audit_write_failures_total'), 0);
    assert.equal(sample(text, 'symbolon_audit_dropped_events_total'), 0);
  });
});

describe('metrics endpoint options', () => {
  test('each server has its own registry, and a token protects /metrics when set', async () => {
    const token = randomBytes(16).toString('hex');
    const server = await startTestServer({ metricsToken: token });
    try {
      assert.equal((await scrape(server)).status, 401);
      assert.equal((await scrape(server, { authorization: 'Bearer wrong' })).status, 401);
      const res = await scrape(server, { authorization: `Bearer ${token}` });
      assert.equal(res.status, 200);
      const text = await res.text();
      // The other server's Sign requests are not counted here.
      assert.equal(sample(text, 'symbolon_kms_requests_total', { operation: 'Sign', outcome: 'ok', error_code: '' }), undefined);
      assert.equal(sample(text, 'symbolon_kms_keys', { state: 'Enabled' }), 0);
    } finally {
      await server.close();
    }
  });

  test('thresholds and windows come from the environment, and bad values are refused', () => {
    assert.deepEqual(alertSettingsFromEnv({ SYMBOLON_DENIED_ALERT_THRESHOLD: '7', SYMBOLON_DENIED_ALERT_WINDOW_SECONDS: '30' }), {
      threshold: 7,
      windowSeconds: 30,
    });
    assert.deepEqual(alertSettingsFromEnv({}), { threshold: 5, windowSeconds: 60 });
    assert.throws(() => alertSettingsFromEnv({ SYMBOLON_DENIED_ALERT_THRESHOLD: '0' }), /SYMBOLON_DENIED_ALERT_THRESHOLD must be a positive integer/);
    assert.throws(() => alertSettingsFromEnv({ SYMBOLON_DENIED_ALERT_WINDOW_SECONDS: 'soon' }), RangeError);
    const audit = auditSettingsFromEnv({
      SYMBOLON_AUDIT_FLUSH_MS: '20',
      SYMBOLON_AUDIT_BATCH_SIZE: '100',
      SYMBOLON_AUDIT_CHECKPOINT_EVENTS: '50',
      SYMBOLON_AUDIT_CHECKPOINT_SECONDS: '10',
    });
    assert.equal(audit.flushIntervalMs, 20);
    assert.equal(audit.batchSize, 100);
    assert.equal(audit.checkpointEvents, 50);
    assert.equal(audit.checkpointSeconds, 10);
    assert.throws(() => auditSettingsFromEnv({ SYMBOLON_AUDIT_BATCH_SIZE: '-1' }), RangeError);
  });
});
