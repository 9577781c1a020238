/**
 * `npm run bench:monitor`: what the signing monitor adds to recording one
 * audit event. In process: AuditSink.record of a signing decision with
 * decoded fields (`eth`: an allowed transaction with a value) into a sink
 * that keeps nothing — the ceiling — and the same through monitoredSink, with
 * one value.threshold webhook whose threshold is never reached (so the
 * rolling-window sums run on every event and nothing is sent). A denied event
 * is measured too (the denied-burst detector runs). Prints each rate, the
 * cost per event in microseconds and the ratio; writes
 * bench/results/monitor.json.
 *
 * BENCH_SECONDS (per measurement, default 1.5), BENCH_KEYS (distinct keys cycled through, 50).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { openStore } from '../src/storage/database.js';
import { KeyRootOfTrust } from '../src/root/root-of-trust.js';
import type { AuditEvent, AuditSink } from '../src/audit/event.js';
import { DeniedAlerts } from '../src/audit/denied-alerts.js';
import { monitoredSink, SigningMonitor } from '../src/audit/monitor.js';
import { WebhookDispatcher } from '../src/audit/webhooks.js';
import { ceiling } from './lib/load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);
const KEYS = Number(process.env.BENCH_KEYS ?? 50);

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'symbolon-bench-monitor-'));
const store = await openStore({ sqliteFile: join(dir, 'symbolon.db') });
const webhooks = new WebhookDispatcher({ store, root: new KeyRootOfTrust(randomBytes(32), 'bench'), logger });
await webhooks.start();
await webhooks.create({
  url: 'http://127.0.0.1:9/never',
  events: ['value.threshold'],
  thresholdWei: (10n ** 40n).toString(),
  windowSeconds: 3600,
  createdBy: 'bench',
  now: Date.now(),
});
const monitor = new SigningMonitor({ logger, alerts: new DeniedAlerts({ logger, settings: { threshold: 5, windowSeconds: 60 } }), webhooks });

let kept = 0;
const bare: AuditSink = {
  record() {
    kept++;
  },
  async recordDurable() {},
  async flush() {},
};
const watched = monitoredSink(bare, monitor);

const keys = Array.from({ length: KEYS }, (_, i) => `arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
function event(i: number, denied: boolean): AuditEvent {
  return {
    time: Date.now(),
    requestId: `r${i}`,
    service: 'rpc',
    operation: 'eth_signTransaction',
    principalArn: 'arn:aws:iam::111122223333:user/backend',
    principalTags: {},
    accessKeyId: 'AKIABENCH',
    sourceIp: '127.0.0.1',
    userAgent: 'bench',
    keyArn: keys[i % KEYS]!,
    encryptionContext: null,
    signingAlgorithm: 'ECDSA_SHA_256',
    outcome: denied ? 'denied' : 'allowed',
    errorCode: denied ? 'AccessDeniedException' : null,
    eth: {
      payloadType: 'transaction',
      chainId: i % 3 === 0 ? '1' : '31337',
      to: '0x1111111111111111111111111111111111111111',
      value: '1000000000000000',
      decision: denied ? 'deny' : 'allow',
    },
  };
}

// Events are built outside the timed loop by the ceiling too, so both pay the same.
const ceilingRate = ceiling((i) => bare.record(event(i, false)), SECONDS);
const allowedRate = ceiling((i) => watched.record(event(i, false)), SECONDS);
const deniedRate = ceiling((i) => watched.record(event(i, true)), SECONDS);
const us = (rate: number) => 1e6 / rate;
const result = {
  date: new Date().toISOString(),
  cores: cpus().length,
  keys: KEYS,
  seconds: SECONDS,
  ceilingPerSecond: ceilingRate,
  allowedPerSecond: allowedRate,
  deniedPerSecond: deniedRate,
  monitorUsPerAllowedEvent: us(allowedRate) - us(ceilingRate),
  monitorUsPerDeniedEvent: us(deniedRate) - us(ceilingRate),
  allowedRatio: allowedRate / ceilingRate,
  deniedRatio: deniedRate / ceilingRate,
  eventsKept: kept,
};
console.log(`audit record, no monitor (ceiling): ${Math.round(ceilingRate).toLocaleString()} events/s (${us(ceilingRate).toFixed(2)} µs)`);
console.log(
  `with the monitor, allowed tx:        ${Math.round(allowedRate).toLocaleString()} events/s (+${result.monitorUsPerAllowedEvent.toFixed(2)} µs, ${result.allowedRatio.toFixed(2)} × ceiling)`,
);
console.log(
  `with the monitor, denied tx:         ${Math.round(deniedRate).toLocaleString()} events/s (+${result.monitorUsPerDeniedEvent.toFixed(2)} µs, ${result.deniedRatio.toFixed(2)} × ceiling)`,
);
webhooks.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/monitor.json', `${JSON.stringify(result, null, 2)}\n`);
console.log('wrote bench/results/monitor.json');
