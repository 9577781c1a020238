/**
 * Webhook targets and SSRF (src/audit/webhook-targets.ts, docs/audit.md
 * "URLs and SSRF"): loopback, link-local (cloud metadata), private, reserved
 * and IPv6 equivalents (IPv4-mapped, NAT64, unique local) are refused when a
 * webhook is registered, through the real AWS-shaped API, and again at
 * delivery on the address the socket would connect to — a row whose name now
 * resolves to 127.0.0.1 (`localhost`, real resolution) reaches nothing. The
 * operator setting lets internal receivers through; a redirect is never
 * followed, not even to an allowed address.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './helpers/eventually.js';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { LookupAddress } from 'node:dns';
import pino from 'pino';
import { startTestServer, type TestServer } from './helpers/server.js';
import { callAwsJson } from './helpers/aws-json.js';
import { KeyRootOfTrust } from '../src/root/root-of-trust.js';
import { insertWebhook, listWebhooks } from '../src/storage/webhooks.repository.js';
import { WebhookDispatcher, WebhookError, webhookSecretAad, webhookSettingsFromEnv } from '../src/audit/webhooks.js';
import { guardedLookup, isRefusedWebhookAddress, RefusedTargetError } from '../src/audit/webhook-targets.js';
import type { Store } from '../src/storage/database.js';

const REFUSED = [
  '127.0.0.1',
  '127.255.255.254',
  '0.0.0.0',
  '10.1.2.3',
  '100.64.0.1',
  '169.254.169.254',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.1.1',
  '192.0.2.1',
  '198.18.0.1',
  '224.0.0.1',
  '255.255.255.255',
  '::',
  '::1',
  '[::1]',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::ffff:169.254.169.254',
  '::ffff:10.0.0.1',
  '::127.0.0.1',
  '64:ff9b::7f00:1',
  '64:ff9b::169.254.169.254',
  '64:ff9b:1::1',
  'fc00::1',
  'fd12:3456::1',
  'fe80::1',
  'fe80::1%eth0',
  'ff02::1',
  '2001:db8::1',
  '2002:7f00:1::1',
  'localhost',
  'not an address',
];
const ALLOWED = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '::ffff:8.8.8.8', '64:ff9b::808:808', '2606:4700:4700::1111', '[2001:4860:4860::8888]'];

/** URLs CreateWebhook refuses: literals in every spelling the URL parser accepts, and names of this machine. */
const REFUSED_URLS = [
  'http://127.0.0.1:8080/hook',
  'http://2130706433/', // 127.0.0.1 as one number
  'http://0x7f.1/', // 127.0.0.1 in hex, short form
  'http://169.254.169.254/latest/meta-data/',
  'http://10.0.0.5/',
  'http://[::1]:8080/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:a9fe:a9fe]/',
  'http://[fd00::1]/',
  'http://[fe80::1]/',
  'http://localhost:8080/', // resolves to 127.0.0.1
  'https://LOCALHOST./',
  'http://alerts.localhost/',
];

class Receiver {
  hits = 0;
  location = '';
  #server: Server | undefined;
  port = 0;
  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.hits++;
        if (this.location) res.writeHead(302, { location: this.location }).end();
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    const a = this.#server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }
  close(): Promise<void> {
    return new Promise((r) => this.#server!.close(() => r()));
  }
}

function lookupOf(hostname: string, all: boolean): Promise<{ error: Error | null; address: string | LookupAddress[] }> {
  return new Promise((resolve) => guardedLookup(hostname, { all }, (error, address) => resolve({ error, address })));
}

test('the address table refuses loopback, link-local, private, reserved and their IPv6 forms', () => {
  for (const a of REFUSED) assert.equal(isRefusedWebhookAddress(a), true, `${a} is refused`);
  for (const a of ALLOWED) assert.equal(isRefusedWebhookAddress(a), false, `${a} is allowed`);
});

test('the delivery lookup refuses a name that resolves to 127.0.0.1, whether one or all addresses are asked for', async () => {
  for (const all of [false, true]) {
    const r = await lookupOf('localhost', all);
    assert.ok(r.error instanceof RefusedTargetError, `all=${all}: ${r.error?.name}`);
    assert.doesNotMatch(r.error.message, /127\.0\.0\.1/, 'the refusal never names the resolved address');
  }
});

test('SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS is 0 or 1', () => {
  assert.deepEqual(webhookSettingsFromEnv({}), {});
  assert.deepEqual(webhookSettingsFromEnv({ SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS: '1' }), { allowPrivateTargets: true });
  assert.deepEqual(webhookSettingsFromEnv({ SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS: '0' }), { allowPrivateTargets: false });
  assert.throws(() => webhookSettingsFromEnv({ SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'yes' }), RangeError);
});

describe('webhook targets on a running custodian', () => {
  let server: TestServer;
  let store: Store;
  const receiver = new Receiver();
  const other = new Receiver();
  const root = new KeyRootOfTrust(randomBytes(32), 'test root');
  const logger = pino({ level: 'silent' });

  before(async () => {
    await receiver.start();
    await other.start();
    server = await startTestServer({});
    store = server.custodian.deps.store;
  });
  after(async () => {
    await server?.close();
    await receiver.close();
    await other.close();
  });

  test('CreateWebhook refuses internal targets with a ValidationException, and stores nothing', async () => {
    for (const url of [...REFUSED_URLS, `http://127.0.0.1:${receiver.port}/`]) {
      const r = await callAwsJson({ endpoint: server.endpoint, target: 'SymbolonMonitoring.CreateWebhook', body: { Url: url, Events: ['deny.burst'] } });
      assert.equal(r.status, 400, url);
      assert.equal(r.body.__type, 'ValidationException', url);
      assert.match(String(r.body.message), /loopback, private, link-local or otherwise reserved address/, url);
      assert.match(String(r.body.message), /SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS/);
    }
    const named = await callAwsJson({
      endpoint: server.endpoint,
      target: 'SymbolonMonitoring.CreateWebhook',
      body: { Url: `http://localhost:${receiver.port}/`, Events: ['deny.burst'] },
    });
    assert.match(String(named.body.message), /host resolves to a loopback/, 'localhost is refused by what it resolves to');
    assert.deepEqual(await listWebhooks(store.db), []);
    assert.equal(receiver.hits, 0);
  });

  test('a stored webhook whose host is now internal is refused at delivery, on the address it would connect to', async () => {
    const d = new WebhookDispatcher({ store, root, logger, settings: { maxAttempts: 1 } });
    try {
      // Rows as if registered while the names pointed elsewhere (DNS rebinding), or before this check existed.
      const urls = [
        `http://localhost:${receiver.port}/rebound`,
        `http://127.0.0.1:${receiver.port}/literal`,
        `http://[::ffff:127.0.0.1]:${receiver.port}/mapped`,
      ];
      for (const [i, url] of urls.entries()) {
        const webhookId = `wh-target-${i}`;
        await insertWebhook(store.db, {
          webhookId,
          url,
          events: ['deny.burst'],
          thresholdWei: null,
          windowSeconds: null,
          sealedSecret: root.seal(new TextEncoder().encode('target-test-secret-0123'), webhookSecretAad(webhookId)),
          createdBy: 'arn:aws:iam::111122223333:root',
          createdAt: Date.now(),
        });
      }
      await d.start();
      receiver.hits = 0;
      d.emit('deny.burst', { principal: 'p', count: 5 }, Date.now());
      await eventually('every delivery given up', () => d.stats.givenUp === 3);
      assert.equal(receiver.hits, 0, 'nothing reached the internal receiver');
      assert.equal(d.stats.delivered, 0);
      assert.equal(d.stats.failedAttempts.get('deny.burst'), 3);

      // The operator setting lets the same rows through (the receiver is real).
      const allowed = new WebhookDispatcher({ store, root, logger, settings: { maxAttempts: 1, allowPrivateTargets: true } });
      try {
        await allowed.start();
        allowed.emit('deny.burst', { principal: 'p', count: 5 }, Date.now());
        await eventually('delivered with the setting', () => allowed.stats.delivered === 3);
        assert.equal(receiver.hits, 3);
      } finally {
        allowed.close();
      }
    } finally {
      d.close();
      for (const w of await listWebhooks(store.db)) await d.delete(w.webhookId);
    }
  });

  test('a redirect is a failed attempt and is never followed', async () => {
    const d = new WebhookDispatcher({ store, root, logger, settings: { maxAttempts: 1, allowPrivateTargets: true } });
    await d.start();
    try {
      receiver.hits = 0;
      other.hits = 0;
      receiver.location = `http://127.0.0.1:${other.port}/`;
      await d.create({ url: `http://127.0.0.1:${receiver.port}/`, events: ['deny.burst'], createdBy: 'x', now: Date.now() });
      d.emit('deny.burst', { principal: 'p', count: 5 }, Date.now());
      await eventually('given up', () => d.stats.givenUp === 1);
      assert.equal(receiver.hits, 1);
      assert.equal(other.hits, 0, 'the redirect target was never contacted');
    } finally {
      receiver.location = '';
      d.close();
      for (const w of await listWebhooks(store.db)) await d.delete(w.webhookId);
    }
  });

  test('the dispatcher refuses at create too (a caller other than the API)', async () => {
    const d = new WebhookDispatcher({ store, root, logger });
    try {
      await assert.rejects(
        d.create({ url: 'http://169.254.169.254/', events: ['deny.burst'], createdBy: 'x', now: 0 }),
        (e: unknown) => e instanceof WebhookError && e.code === 'RefusedTarget',
      );
      assert.deepEqual(await listWebhooks(store.db), []);
    } finally {
      d.close();
    }
  });
});
