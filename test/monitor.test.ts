/**
 * The signing monitor over decoded signing decisions (`event.eth`, seam B):
 * events recorded through the custodian's own audit sink (`deps.audit`, the
 * sink the KMS, wallet and JSON-RPC paths record through) become the
 * per-key-and-chain signature and value counters scraped from /metrics over
 * HTTP, with bounded key labels, and `value.threshold` /
 * `approval.requested` webhooks delivered to a receiver of the test's own.
 * Then `symbolon audit query`'s decoded-field filters: the matching rules
 * and the refusal of bad flags.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './helpers/eventually.js';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { STORE, startTestServer, type TestServer } from './helpers/server.js';
import { callAwsJson } from './helpers/aws-json.js';
import type { AuditEvent, EthAuditFields } from '../src/audit/event.js';
import { matchesEthFilter, parseEthFilter } from '../src/audit/eth-query.js';
import { auditCommand, ethSummary } from '../src/cli/audit.js';
import { sample } from './helpers/prometheus.js';

const ETH = 10n ** 18n;
const CHAIN = '31337';
const TO = '0x1111111111111111111111111111111111111111';

describe(`signing monitor on ${STORE}`, () => {
  let server: TestServer;
  let receiver: Server;
  let url = '';
  let secret = '';
  const received: Array<{ headers: IncomingHttpHeaders; body: any; raw: string }> = [];
  const account = () => server.custodian.accountId;
  const key = (n: number) => `arn:aws:kms:us-east-1:${account()}:key/00000000-0000-4000-8000-00000000000${n}`;
  const principal = () => `arn:aws:iam::${account()}:user/backend`;

  /** One signing decision, recorded the way the signing paths record it. */
  function decision(k: string, eth: EthAuditFields, time = Date.now(), failed = false): void {
    const outcome = failed ? 'error' : eth.decision === 'allow' ? 'allowed' : eth.decision === 'deny' ? 'denied' : 'error';
    const event: AuditEvent = {
      time,
      requestId: `req-${randomBytes(6).toString('hex')}`,
      service: 'rpc',
      operation: 'eth_signTransaction',
      principalArn: principal(),
      principalTags: {},
      accessKeyId: 'AKIAMONITOR16TEST001',
      sourceIp: '127.0.0.1',
      userAgent: 'monitor16-test',
      keyArn: k,
      encryptionContext: null,
      signingAlgorithm: 'ECDSA_SHA_256',
      outcome,
      errorCode:
        outcome === 'allowed'
          ? null
          : failed
            ? 'KMSInvalidStateException'
            : eth.decision === 'pending'
              ? 'SigningApprovalPendingException'
              : 'AccessDeniedException',
      eth,
    };
    server.custodian.deps.audit.record(event);
  }
  const tx = (value: bigint, decisionValue: EthAuditFields['decision'] = 'allow', chainId = CHAIN): EthAuditFields => ({
    payloadType: 'transaction',
    chainId,
    to: TO,
    value: value.toString(),
    decision: decisionValue,
  });

  before(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({ headers: req.headers, body: JSON.parse(raw), raw });
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const a = receiver.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
    server = await startTestServer({
      monitorMaxKeys: 3,
      webhookSettings: { baseDelayMs: 20, maxDelayMs: 100, allowPrivateTargets: true },
      ...(STORE === 'postgres' ? { pgSchema: `monitor16_mon_${randomBytes(4).toString('hex')}` } : {}),
    });
    const created = await callAwsJson({
      endpoint: server.endpoint,
      target: 'SymbolonMonitoring.CreateWebhook',
      body: { Url: url, Events: ['value.threshold', 'approval.requested'], ThresholdWei: (15n * 10n ** 17n).toString(), WindowSeconds: 3600 },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    secret = String(created.body.Secret);
  });
  after(async () => {
    await server?.close();
    await new Promise<void>((r) => receiver?.close(() => r()));
  });

  test('value signed per key and chain crosses a threshold once, in a rolling window', async () => {
    const a = key(1);
    decision(a, tx(1n * ETH));
    decision(a, tx(5n * ETH, 'deny')); // refused: not signed, not counted as value
    decision(a, tx(4n * 10n ** 17n));
    decision(a, { payloadType: 'message', decision: 'allow' });
    await server.custodian.audit.flush();
    assert.equal(received.filter((r) => r.body.type === 'value.threshold').length, 0, '1.4 ETH signed: below 1.5');
    decision(a, tx(2n * 10n ** 17n)); // 1.6 ETH
    decision(a, tx(1n * ETH)); // 2.6 ETH: already alerted in this window
    decision(a, tx(2n * ETH, 'allow', '1')); // another chain is another series
    await eventually('two value.threshold events', () => received.filter((r) => r.body.type === 'value.threshold').length === 2);
    const events = received.filter((r) => r.body.type === 'value.threshold').map((r) => r.body.data);
    events.sort((x: { chainId: string }, y: { chainId: string }) => Number(y.chainId) - Number(x.chainId));
    assert.deepEqual(events, [
      { keyArn: a, chainId: CHAIN, valueWei: '1600000000000000000', thresholdWei: '1500000000000000000', windowSeconds: 3600, signatures: 3 },
      { keyArn: a, chainId: '1', valueWei: '2000000000000000000', thresholdWei: '1500000000000000000', windowSeconds: 3600, signatures: 1 },
    ]);
    for (const r of received) {
      const ts = String(r.headers['x-symbolon-timestamp']);
      assert.equal(r.headers['x-symbolon-signature'], `sha256=${createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest('hex')}`);
      assert.ok(!r.raw.includes(secret));
    }

    // Key 2: what left the window no longer counts.
    const b = key(2);
    const now = Date.now();
    decision(b, tx(1n * ETH), now - 2 * 3600 * 1000);
    decision(b, tx(1n * ETH), now);
    await server.custodian.audit.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.filter((r) => r.body.data?.keyArn === b).length, 0, '1 ETH in the window (the other is 2 h old)');
    decision(b, tx(6n * 10n ** 17n), now + 1);
    await eventually('key 2 crosses', () => received.some((r) => r.body.type === 'value.threshold' && r.body.data.keyArn === b));
    assert.equal(received.find((r) => r.body.data?.keyArn === b)!.body.data.valueWei, '1600000000000000000');
  });

  test('a signature pending approval is announced as approval.requested (kind signing)', async () => {
    decision(key(1), { ...tx(3n * ETH, 'pending'), statement: 'BigPayments' });
    await eventually('approval.requested', () => received.some((r) => r.body.type === 'approval.requested'));
    const data = received.find((r) => r.body.type === 'approval.requested')!.body.data;
    assert.equal(data.kind, 'signing');
    assert.equal(data.keyArn, key(1));
    assert.equal(data.statement, 'BigPayments');
    assert.equal(data.chainId, CHAIN);
    assert.match(data.requestId, /^req-/);
  });

  test('/metrics shows signatures and value per key and chain, decisions, and bounded key labels', async () => {
    // Keys 3 and 4: with monitorMaxKeys 3, key 4 is counted as `other`.
    decision(key(3), tx(1n));
    decision(key(4), tx(7n));
    decision(key(5), tx(8n));
    // Allowed by the policy, then refused further on (e.g. the custodian would not open share A): not an allow.
    decision(key(5), tx(9n), Date.now(), true);
    const text = await (await fetch(`${server.endpoint}/metrics`)).text();
    const a = key(1);
    assert.equal(sample(text, 'symbolon_signatures_total', { key: a, chain_id: CHAIN, payload_type: 'transaction' }), 4);
    assert.equal(sample(text, 'symbolon_signatures_total', { key: a, chain_id: '1', payload_type: 'transaction' }), 1);
    assert.equal(sample(text, 'symbolon_signatures_total', { key: a, chain_id: '', payload_type: 'message' }), 1);
    assert.equal(sample(text, 'symbolon_signed_value_wei_total', { key: a, chain_id: CHAIN }), 2.6e18);
    assert.equal(sample(text, 'symbolon_signed_value_wei_total', { key: a, chain_id: '1' }), 2e18);
    assert.equal(sample(text, 'symbolon_signed_value_wei_total', { key: key(3), chain_id: CHAIN }), 1);
    assert.equal(sample(text, 'symbolon_signed_value_wei_total', { key: 'other', chain_id: CHAIN }), 15, 'keys beyond the cap share one series');
    assert.equal(sample(text, 'symbolon_signatures_total', { key: key(4), chain_id: CHAIN, payload_type: 'transaction' }), undefined);
    assert.equal(sample(text, 'symbolon_signing_decisions_total', { payload_type: 'transaction', decision: 'deny' }), 1);
    assert.equal(sample(text, 'symbolon_signing_decisions_total', { payload_type: 'transaction', decision: 'pending' }), 1);
    assert.equal(sample(text, 'symbolon_signing_decisions_total', { payload_type: 'transaction', decision: 'allow' }), 11);
    assert.equal(sample(text, 'symbolon_approvals_requested_total', { kind: 'signing' }), 1);
    assert.equal(sample(text, 'symbolon_denied_requests_total', { service: 'rpc', operation: 'eth_signTransaction' }), 1);
  });

  test('the decoded-field filters of audit query match exactly, values as bigint', () => {
    const big: EthAuditFields = { payloadType: 'transaction', chainId: '1', to: TO, value: (2n ** 200n).toString(), selector: '0xa9059cbb', decision: 'allow' };
    const erc20: EthAuditFields = { ...big, value: '0', erc20Recipient: '0x2222222222222222222222222222222222222222', erc20Amount: '5' };
    const create: EthAuditFields = { payloadType: 'transaction', chainId: '1', to: null, value: '1', decision: 'deny', statement: 'NoCreate' };
    const f = (flags: Parameters<typeof parseEthFilter>[0]) => parseEthFilter(flags);
    assert.ok(matchesEthFilter(big, f({ minValue: (2n ** 200n).toString() })), 'equal to the minimum');
    assert.ok(!matchesEthFilter(big, f({ minValue: (2n ** 200n + 1n).toString() })), 'one wei above a 2^200 value: a float compare would say yes');
    assert.ok(matchesEthFilter(big, f({ chainId: '0x1', to: TO.toUpperCase().replace('0X', '0x'), selector: '0xA9059CBB' })));
    assert.ok(!matchesEthFilter(big, f({ chainId: '31337' })));
    assert.ok(matchesEthFilter(create, f({ to: 'create', decision: 'deny' })));
    assert.ok(!matchesEthFilter(big, f({ to: 'create' })));
    assert.ok(matchesEthFilter(erc20, f({ erc20Recipient: '0x2222222222222222222222222222222222222222', payloadType: 'transaction' })));
    assert.ok(!matchesEthFilter(big, f({ erc20Recipient: '0x2222222222222222222222222222222222222222' })));
    assert.ok(!matchesEthFilter(undefined, f({ decision: 'allow' })), 'an event without decoded fields never matches a decoded-field filter');
    assert.ok(matchesEthFilter(undefined, f({})), 'no filter: everything');
    assert.equal(ethSummary(create), 'eth=transaction/deny  statement=NoCreate  chain=1  to=create  value=1');
    assert.equal(
      ethSummary(erc20),
      `eth=transaction/allow  chain=1  to=${TO}  value=0  selector=0xa9059cbb  erc20=0x2222222222222222222222222222222222222222:5`,
    );
  });

  test('audit query refuses bad decoded-field flags with a clear message', async () => {
    for (const [flag, value, message] of [
      ['--min-value', '1.5', /--min-value must be a decimal integer of wei/],
      ['--min-value', '-1', /--min-value must be a decimal integer of wei/],
      ['--to', '0x123', /--to must be a 0x address/],
      ['--selector', 'transfer', /--selector must be 0x and 8 hex digits/],
      ['--payload-type', 'tx', /--payload-type must be one of transaction, message, typedData, authorization/],
      ['--decision', 'maybe', /--decision must be one of allow, deny, pending/],
      ['--chain-id', 'mainnet', /--chain-id must be a decimal or 0x-hex chain id/],
    ] as const) {
      let err = '';
      const code = await auditCommand(['query', `${flag}=${value}`, '--data', server.dataDir], {
        stdout: { write: () => true },
        stderr: { write: (s: string) => (err += s) },
        env: {},
      });
      assert.equal(code, 2, `${flag} ${value}`);
      assert.match(err, message);
    }
  });
});
