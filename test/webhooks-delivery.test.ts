/**
 * The webhook store and the delivery queue, on each dialect in a loop
 * (SQLite always, PostgreSQL when DATABASE_URL is set): the repository keeps
 * what was added, the secret only sealed (bound to its webhook id), and the
 * dispatcher's bounded queue drops and counts what does not fit, gives up
 * after its last attempt, and never blocks the caller. A real HTTP receiver
 * that holds or refuses requests stands in for a slow or broken endpoint.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './helpers/eventually.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse, type Server } from 'node:http';
import pino from 'pino';
import { dropPgSchema, openStore, type Store } from '../src/storage/database.js';
import { KeyRootOfTrust, SealedBoxError } from '../src/root/root-of-trust.js';
import { listWebhooks } from '../src/storage/webhooks.repository.js';
import { WebhookDispatcher, WebhookError, webhookSecretAad } from '../src/audit/webhooks.js';

const dialects: Array<{ name: string; open(): Promise<{ store: Store; cleanup(): Promise<void> }> }> = [
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'monitor16-store-'));
      const store = await openStore({ sqliteFile: join(dir, 'symbolon.db') });
      return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
];
if (process.env.DATABASE_URL) {
  const url = process.env.DATABASE_URL;
  dialects.push({
    name: 'postgres',
    async open() {
      const schema = `monitor16_store_${randomBytes(4).toString('hex')}`;
      const store = await openStore({ databaseUrl: url, pgSchema: schema });
      return { store, cleanup: () => dropPgSchema(url, schema) };
    },
  });
}

/** A receiver that answers `status`, or holds every request until release(). */
class Receiver {
  hits = 0;
  status = 204;
  hold = false;
  readonly #held: ServerResponse[] = [];
  #server: Server | undefined;
  url = '';
  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.hits++;
        if (this.hold) this.#held.push(res);
        else res.writeHead(this.status).end();
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    const a = this.#server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
  }
  release(): void {
    this.hold = false;
    for (const res of this.#held.splice(0)) res.writeHead(this.status).end();
  }
  close(): Promise<void> {
    this.release();
    return new Promise((r) => this.#server!.close(() => r()));
  }
}

for (const dialect of dialects) {
  describe(`webhook store and delivery queue on ${dialect.name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    const root = new KeyRootOfTrust(randomBytes(32), 'test root');
    const receiver = new Receiver();
    const logger = pino({ level: 'silent' });

    before(async () => {
      ({ store, cleanup } = await dialect.open());
      await receiver.start();
    });
    after(async () => {
      await receiver.close();
      await store.close();
      await cleanup();
    });

    test('the repository keeps a webhook with its secret sealed, bound to its id', async () => {
      const d = new WebhookDispatcher({ store, root, logger, settings: { allowPrivateTargets: true } });
      await d.start();
      try {
        const chosen = `monitor16-secret-${randomBytes(8).toString('hex')}`;
        const a = await d.create({ url: receiver.url, events: ['deny.burst'], secret: chosen, createdBy: 'arn:aws:iam::111122223333:root', now: 1_000 });
        const b = await d.create({
          url: `${receiver.url}b#fragment`,
          events: ['value.threshold', 'value.threshold'],
          thresholdWei: '000123',
          createdBy: 'arn:aws:iam::111122223333:root',
          now: 2_000,
        });
        assert.equal(a.secret, undefined);
        assert.match(b.secret!, /^whsec_/);
        const rows = await listWebhooks(store.db);
        assert.deepEqual(
          rows.map((r) => [r.webhookId, r.url, r.events, r.thresholdWei, r.windowSeconds, r.createdAt]),
          [
            [a.webhook.webhookId, receiver.url, ['deny.burst'], null, null, 1000],
            [b.webhook.webhookId, `${receiver.url}b`, ['value.threshold'], '123', 3600, 2000],
          ],
        );
        for (const [row, secret] of [
          [rows[0]!, chosen],
          [rows[1]!, b.secret!],
        ] as const) {
          assert.ok(!Buffer.from(row.sealedSecret).includes(Buffer.from(secret)), 'the stored row never holds the secret in the clear');
        }
        // It opens to the secret under its own webhook id, and not when moved to another webhook's row.
        assert.equal(Buffer.from(root.open(rows[0]!.sealedSecret, webhookSecretAad(rows[0]!.webhookId))).toString('utf8'), chosen);
        assert.throws(() => root.open(rows[0]!.sealedSecret, webhookSecretAad(rows[1]!.webhookId)), SealedBoxError);
        await assert.rejects(d.create({ url: 'ftp://x/', events: ['deny.burst'], createdBy: 'x', now: 0 }), WebhookError);
        await assert.rejects(d.create({ url: receiver.url, events: ['deny.burst'], thresholdWei: '5', createdBy: 'x', now: 0 }), /only to the value.threshold/);
        await assert.rejects(d.create({ url: receiver.url, events: ['value.threshold'], thresholdWei: '0', createdBy: 'x', now: 0 }), /positive decimal/);
        await assert.rejects(d.create({ url: receiver.url, events: ['deny.burst'], secret: 'short', createdBy: 'x', now: 0 }), /16 to 256/);
        assert.equal((await listWebhooks(store.db)).length, 2, 'a refused add stores nothing');
        assert.equal(await d.delete(a.webhook.webhookId), true);
        assert.equal(await d.delete(a.webhook.webhookId), false);
        assert.equal(await d.delete(b.webhook.webhookId), true);
        assert.deepEqual(await listWebhooks(store.db), []);
      } finally {
        d.close();
      }
    });

    test('the queue is bounded: what does not fit is dropped and counted, and emit never waits', async () => {
      const d = new WebhookDispatcher({ store, root, logger, settings: { maxQueue: 3, concurrency: 1, maxAttempts: 1, allowPrivateTargets: true } });
      await d.start();
      try {
        const { webhook } = await d.create({ url: receiver.url, events: ['approval.requested'], createdBy: 'x', now: Date.now() });
        receiver.hits = 0;
        receiver.hold = true;
        for (let i = 0; i < 10; i++) d.emit('approval.requested', { changeId: String(i) }, Date.now());
        assert.equal(d.queued, 3, 'three queued (one in flight)');
        assert.equal(d.stats.dropped, 7);
        await eventually('the first POST reaches the receiver', () => receiver.hits === 1);
        receiver.release();
        await eventually('the queue drains', () => d.queued === 0);
        assert.equal(receiver.hits, 3);
        assert.equal(d.stats.delivered, 3);
        await d.delete(webhook.webhookId);
      } finally {
        d.close();
      }
    });

    test('a receiver that always fails is given up after the last attempt, and counted', async () => {
      const d = new WebhookDispatcher({ store, root, logger, settings: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 40, allowPrivateTargets: true } });
      await d.start();
      try {
        const { webhook } = await d.create({ url: receiver.url, events: ['deny.burst'], createdBy: 'x', now: Date.now() });
        receiver.hits = 0;
        receiver.status = 503;
        d.emit('deny.burst', { principal: 'p', count: 5 }, Date.now());
        await eventually('given up', () => d.stats.givenUp === 1);
        assert.equal(receiver.hits, 3);
        assert.equal(d.stats.failedAttempts.get('deny.burst'), 3);
        assert.equal(d.stats.delivered, 0);
        assert.equal(d.queued, 0);
        receiver.status = 204;
        await d.delete(webhook.webhookId);
      } finally {
        d.close();
      }
    });
  });
}
