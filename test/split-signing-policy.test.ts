/**
 * A split wallet's signing policy (issue #16; docs/signing-policy.md, "Split
 * and envelope wallets"): a real listening server (built-in issuer, wallet
 * service, custodian) and the signer launched by the real platform, as in
 * share-rotation.test.ts. The owner's SplitWalletClient attaches a policy (a
 * share rotation whose new share A is sealed with the policy's SHA-256); the
 * signer then signs only what it allows, refuses the rest naming the Sid, and
 * the custodian opens share A only with the very text it was sealed with:
 * the wallet service swapping or dropping the text (a direct write to its
 * store) makes share A fail to open. The custodian's audit event of each
 * release carries the decoded fields the signer claims.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { bearerJson as http, splitDevice } from './helpers/split-device.js';
import { encodeFunctionData, erc20Abi, parseEther, recoverTransactionAddress, type Hex } from 'viem';
import { emailLogin } from './helpers/email-login.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { launchCustodianSigner } from './helpers/signer-fixture.js';
import type { SplitWalletClient, OidcSession } from '../packages/sdk/src/index.js';
import { signingPolicySha256 } from '../src/signing-policy/signingPolicySha256.js';
import { Input } from '../src/kms/input.js';
import { readSignerClaims } from '../src/kms/signer-claims.js';

const TREASURY = '0x1111111111111111111111111111111111111111';
const OTHER = '0x2222222222222222222222222222222222222222';

/** The issue's example, plus an explicit Deny and a RequireApproval to show each refusal. */
const POLICY = JSON.stringify({
  Version: '2026-12-01',
  Statement: [
    {
      Sid: 'PayTreasury',
      Effect: 'Allow',
      Condition: {
        StringEqualsIgnoreCase: { 'eth:To': TREASURY },
        NumericEquals: { 'eth:ChainId': '31337' },
        NumericLessThanEquals: { 'eth:Value': '1000000000000000000' },
      },
    },
    { Sid: 'NoBigGas', Effect: 'Deny', Condition: { NumericGreaterThan: { 'eth:GasLimit': '1000000' } } },
    {
      Sid: 'AskForMessages',
      Effect: 'RequireApproval',
      Condition: { StringEquals: { 'eth:PayloadType': 'message' } },
      Approval: { Approvers: ['arn:aws:iam::000000000000:user/bob', 'arn:aws:iam::000000000000:user/carol'], MinApprovals: 1 },
    },
  ],
});

const ALLOW_ALL = JSON.stringify({ Version: '2026-12-01', Statement: [{ Sid: 'Anything', Effect: 'Allow' }] });

function tx(to: string, value: bigint, gas = 21000n) {
  return { type: 'eip1559', chainId: 31337, nonce: 0, to, value, gas, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
}

describe('split wallet signing policy', () => {
  let server: TestServer;
  let signer: SignerProcess;
  let accountId: string;
  const clients: Array<{ destroy(): void }> = [];
  let alice: OidcSession;
  let device: SplitWalletClient;
  let address: string;

  function client(session: OidcSession): SplitWalletClient {
    return splitDevice({ walletUrl: server.endpoint, signerUrl: signer.url, accountId, session, clients });
  }

  async function stored(): Promise<any> {
    const r = await http(`${server.endpoint}/v1/wallets/me`, 'GET', await alice.token());
    assert.equal(r.status, 200);
    return r.json.split;
  }

  /** The SDK's refusal code for a signature (a fresh client: no kept record). */
  async function refusal(payload: Parameters<SplitWalletClient['sign']>[0]): Promise<{ code: string; message: string }> {
    try {
      await client(alice).sign(payload);
    } catch (e) {
      return { code: (e as { code: string }).code, message: (e as Error).message };
    }
    assert.fail('the signature was not refused');
  }

  async function decrypts() {
    await server.custodian.deps.audit.flush();
    return server.custodian.deps.store.db.selectFrom('audit_events').selectAll().where('operation', '=', 'Decrypt').orderBy('seq').execute();
  }

  before(async () => {
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
    accountId = server.custodian.accountId;
    signer = await launchCustodianSigner(server);
    alice = await emailLogin(`${server.endpoint}/oidc`, 'alice@example.com');
    device = client(alice);
    address = (await device.createWallet()).address;
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await signer?.stop();
    await server?.close();
  });

  test('without a policy the wallet signs anything, and its shares keep the policy-less context', async () => {
    const s = await stored();
    assert.equal(s.signingPolicy, undefined);
    assert.deepEqual(s.encryptionContext, { sub: alice.sub, address });
    const r = await device.sign({ type: 'transaction', transaction: tx(OTHER, parseEther('5')) });
    assert.equal(r.type, 'transaction');
    // The release's audit event carries what was signed, with no deciding statement (no policy).
    const last = (await decrypts()).at(-1)!;
    assert.deepEqual(JSON.parse(last.eth!), { payloadType: 'transaction', decision: 'allow', chainId: '31337', to: OTHER, value: '5000000000000000000' });
  });

  test('a policy that does not parse, or uses rolling windows, is refused and changes nothing', async () => {
    const before = await stored();
    const windowed = JSON.stringify({
      Version: '2026-12-01',
      Statement: [{ Sid: 'Daily', Effect: 'Allow', Condition: { NumericLessThanEquals: { 'eth:ValueInWindow/86400': '1' } } }],
    });
    for (const [text, pattern] of [
      ['{"Version":"2026-12-01","Statement":[{"Sid":"A","Effect":"Allow","Condition":{"StringEquals":{"eth:Nope":"1"}}}]}', /invalid/i],
      [windowed, /rolling-window/],
    ] as const) {
      const e = await device.setSigningPolicy(text).then(
        () => assert.fail('accepted'),
        (err: unknown) => err as { code: string; message: string },
      );
      assert.equal(e.code, 'invalid_policy');
      assert.match(e.message, pattern);
    }
    const after = await stored();
    assert.equal(after.generation, before.generation);
    assert.equal(after.shareACiphertext, before.shareACiphertext);
    assert.equal(after.signingPolicy, undefined);
  });

  test('the owner attaches a policy: share A is resealed with its SHA-256, and the wallet serves the text', async () => {
    const before = await stored();
    const rotated = await device.setSigningPolicy(POLICY);
    assert.deepEqual(rotated, { address, generation: before.generation + 1 });
    const s = await stored();
    assert.equal(s.signingPolicy, POLICY);
    assert.deepEqual(s.encryptionContext, {
      sub: alice.sub,
      address,
      generation: String(rotated.generation),
      'signing-policy-sha256': signingPolicySha256(POLICY),
    });
    assert.equal(await device.signingPolicy(), POLICY);
  });

  test('the signer signs what the policy allows and refuses the rest, naming the statement', async () => {
    const ok = await client(alice).sign({ type: 'transaction', transaction: tx(TREASURY, parseEther('0.5')) });
    assert.ok(ok.type === 'transaction');
    assert.equal(await recoverTransactionAddress({ serializedTransaction: ok.signedTransaction as never }), address);

    const cases: Array<[string, Parameters<SplitWalletClient['sign']>[0], string, RegExp]> = [
      ['another recipient (no statement allows it)', { type: 'transaction', transaction: tx(OTHER, 1n) }, 'policy_denied', /implicit deny/],
      ['over 1 ETH', { type: 'transaction', transaction: tx(TREASURY, parseEther('1') + 1n) }, 'policy_denied', /implicit deny/],
      ['another chain', { type: 'transaction', transaction: { ...tx(TREASURY, 1n), chainId: 1 } }, 'policy_denied', /implicit deny/],
      ['explicit Deny wins over the Allow', { type: 'transaction', transaction: tx(TREASURY, 1n, 2_000_000n) }, 'policy_denied', /NoBigGas/],
      ['RequireApproval is a refusal for a wallet owner', { type: 'message', message: 'hi' }, 'policy_requires_approval', /AskForMessages/],
    ];
    const before = await decrypts();
    const released = (rows: typeof before) => rows.filter((e) => e.outcome === 'allowed').length;
    for (const [name, payload, code, message] of cases) {
      const r = await refusal(payload);
      assert.equal(r.code, code, name);
      assert.match(r.message, message, name);
    }
    // A refusal is decided before share A is asked for: the custodian released nothing …
    const after = await decrypts();
    assert.equal(released(after), released(before));
    // … and each refusal is on its record: a DryRun Decrypt carrying the decision and the deciding Sid.
    const refusals = after.slice(before.length);
    assert.deepEqual(
      refusals.map((e) => [e.error_code, JSON.parse(e.eth!).decision, JSON.parse(e.eth!).statement ?? null]),
      [
        ['DryRunOperationException', 'deny', null],
        ['DryRunOperationException', 'deny', null],
        ['DryRunOperationException', 'deny', null],
        ['DryRunOperationException', 'deny', 'NoBigGas'],
        ['DryRunOperationException', 'pending', 'AskForMessages'],
      ],
    );
    assert.deepEqual(JSON.parse(refusals[0]!.eth!), { payloadType: 'transaction', decision: 'deny', chainId: '31337', to: OTHER, value: '1' });
  });

  test("the custodian's audit event of an allowed release carries the decoded fields and the Sid", async () => {
    await client(alice).sign({ type: 'transaction', transaction: tx(TREASURY, 123n) });
    const last = (await decrypts()).at(-1)!;
    assert.equal(last.outcome, 'allowed');
    assert.deepEqual(JSON.parse(last.eth!), {
      payloadType: 'transaction',
      decision: 'allow',
      statement: 'PayTreasury',
      chainId: '31337',
      to: TREASURY,
      value: '123',
    });
    assert.equal(JSON.parse(last.encryption_context!)['signing-policy-sha256'], signingPolicySha256(POLICY));
  });

  test('the preview says what the signer will decide, with the Sid', async () => {
    assert.deepEqual(await device.previewSigningPolicy({ type: 'transaction', transaction: tx(TREASURY, 1n) }), {
      decision: 'allow',
      statement: 'PayTreasury',
      message: 'Allowed by signing policy statement PayTreasury.',
    });
    const denied = await device.previewSigningPolicy({ type: 'transaction', transaction: tx(TREASURY, 1n, 2_000_000n) });
    assert.equal(denied?.decision, 'deny');
    assert.equal(denied?.statement, 'NoBigGas');
    const pending = await device.previewSigningPolicy({ type: 'message', message: 'hi' });
    assert.equal(pending?.decision, 'pending');
    // Without the owner's token: refused.
    const anonymous = await fetch(`${signer.url}/v1/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload: { type: 'message', message: 'hi' }, signingPolicy: POLICY }),
    });
    assert.equal(anonymous.status, 401);
  });

  test('the wallet service swapping or dropping the policy text: share A does not open', async () => {
    const db = server.custodian.deps.store.db;
    const where = () => db.updateTable('wallets').where('address', '=', address);
    try {
      // Each text allows the payload, so the signer asks for share A, and the custodian refuses it.
      for (const [swapped, payload] of [
        [ALLOW_ALL, tx(OTHER, parseEther('10'))],
        [`${POLICY} `, tx(TREASURY, 1n)],
        [null, tx(OTHER, parseEther('10'))],
      ] as const) {
        await where().set({ signing_policy: swapped }).execute();
        const r = await refusal({ type: 'transaction', transaction: payload });
        assert.equal(r.code, 'share_ciphertext_invalid', String(swapped).slice(0, 20));
      }
      // Straight to the signer with the permissive text: the same answer, and nothing signed.
      const s = await stored();
      const direct = await http(`${signer.url}/v1/sign`, 'POST', await alice.idToken(), {
        payload: { type: 'message', message: 'drain' },
        address,
        shareACiphertext: s.shareACiphertext,
        shareB: s.shareB,
        keyId: s.kmsKeyId,
        generation: s.generation,
        signingPolicy: ALLOW_ALL,
      });
      assert.equal(direct.status, 422);
      assert.equal(direct.json.error.code, 'share_ciphertext_invalid');
    } finally {
      await where().set({ signing_policy: POLICY }).execute();
    }
    assert.equal((await client(alice).sign({ type: 'transaction', transaction: tx(TREASURY, 1n) })).type, 'transaction');
  });

  test('a commit whose policy text is not the one the signer sealed is refused', async () => {
    const s = await stored();
    const rotated = await http(`${signer.url}/v1/rotate`, 'POST', await alice.idToken(), {
      address,
      shareACiphertext: s.shareACiphertext,
      shareB: s.shareB,
      generation: s.generation,
      keyId: s.kmsKeyId,
      signingPolicy: POLICY,
    });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.json));
    assert.equal(rotated.json.signingPolicySha256, signingPolicySha256(POLICY));
    for (const signingPolicy of [ALLOW_ALL, undefined]) {
      const commit = await http(`${server.endpoint}/v1/wallets/me/shares`, 'POST', await alice.token(), {
        fromGeneration: s.generation,
        shareACiphertext: rotated.json.shareACiphertext,
        shareB: rotated.json.shareB,
        proof: rotated.json.proof as Hex,
        ...(signingPolicy ? { signingPolicy } : {}),
      });
      assert.equal(commit.status, 400);
      assert.equal(commit.json.error.code, 'invalid_request');
    }
    const after = await stored();
    assert.equal(after.generation, s.generation);
    assert.equal(after.signingPolicy, POLICY);
  });

  test('the owner removes the policy: anything signs again', async () => {
    await device.setSigningPolicy(null);
    const s = await stored();
    assert.equal(s.signingPolicy, undefined);
    assert.equal(s.encryptionContext['signing-policy-sha256'], undefined);
    assert.equal((await client(alice).sign({ type: 'message', message: 'free again' })).type, 'message');
  });

  test('an ERC-20 transfer and short calldata: the release audit carries selector, recipient and amount', async () => {
    const token = '0x3333333333333333333333333333333333333333';
    const data = encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [OTHER, 42n] });
    await client(alice).sign({ type: 'transaction', transaction: { ...tx(token, 0n, 60000n), data } });
    assert.deepEqual(JSON.parse((await decrypts()).at(-1)!.eth!), {
      payloadType: 'transaction',
      decision: 'allow',
      chainId: '31337',
      to: token,
      value: '0',
      selector: '0xa9059cbb',
      erc20Recipient: OTHER,
      erc20Amount: '42',
    });
    await client(alice).sign({ type: 'transaction', transaction: { ...tx(token, 0n, 60000n), data: '0x12ab' } });
    assert.equal(JSON.parse((await decrypts()).at(-1)!.eth!).selector, '0x12ab');
  });

  test('the custodian takes the signer claims only beside an attested Recipient, and only well formed', () => {
    const good = { payloadType: 'transaction', decision: 'allow', to: TREASURY, value: '1', statement: 'PayTreasury' };
    assert.deepEqual(readSignerClaims(new Input({ SymbolonSigningDecision: good }), true), good);
    assert.equal(readSignerClaims(new Input({}), false), undefined);
    // A refusal is a claim only on a DryRun (nothing released): how the signer records a denial.
    const denied = { ...good, decision: 'deny' };
    assert.deepEqual(readSignerClaims(new Input({ SymbolonSigningDecision: denied }), true, true), denied);
    assert.throws(() => readSignerClaims(new Input({ SymbolonSigningDecision: denied }), false, true), /SymbolonSigningDecision/);
    const refused: Array<[string, unknown, boolean]> = [
      ['without Recipient', good, false],
      ['a deny is never a release (no DryRun)', { ...good, decision: 'deny' }, true],
      ['a pending is never a release (no DryRun)', { ...good, decision: 'pending' }, true],
      ['unknown member', { ...good, note: 'x' }, true],
      ['mixed-case address', { ...good, to: '0xAbC1111111111111111111111111111111111111' }, true],
      ['value not decimal', { ...good, value: '0x10' }, true],
      ['selector over 4 bytes', { ...good, selector: '0xa9059cbb00' }, true],
      ['Sid with a space', { ...good, statement: 'a b' }, true],
      ['no payloadType', { decision: 'allow' }, true],
      ['a list', [good], true],
    ];
    for (const [name, claims, attested] of refused) {
      assert.throws(() => readSignerClaims(new Input({ SymbolonSigningDecision: claims }), attested), /ValidationException|SymbolonSigningDecision/, name);
    }
  });
});

test('a split policy that wants a second factor: mfa_required without one, allowed with a fresh one, policy_denied when a step-up would not help', async () => {
  const { readSplitSigningPolicy, decideSplitPayload, enforceSplitDecision } = await import('../src/signer/splitSigningPolicy.js');
  const { ownerAuth } = await import('../src/signer/ownerAuth.js');
  const { SignerError } = await import('../src/signer/errors.js');
  const { policy } = readSplitSigningPolicy(
    JSON.stringify({
      Version: '2026-12-01',
      Statement: [
        {
          Sid: 'FreshPasskey',
          Effect: 'Allow',
          Condition: {
            StringEquals: { 'eth:PayloadType': 'message' },
            Bool: { 'aws:MultiFactorAuthPresent': 'true' },
            NumericLessThan: { 'aws:MultiFactorAuthAge': '300' },
          },
        },
      ],
    }),
  );
  const now = 1_900_000_000_000;
  const message = { type: 'message' as const, message: { raw: '0x6869' as Hex } };
  const token = (claims: Record<string, unknown>) => ({ issuer: 'i', sub: 's', aud: 'a', exp: 0, claims }) as never;
  const emailOnly = ownerAuth(token({ amr: ['otp'], auth_time: now / 1000 - 10 }), now);
  const stale = ownerAuth(token({ amr: ['otp', 'hwk', 'mfa'], auth_time: now / 1000 - 600 }), now);
  const fresh = ownerAuth(token({ amr: ['otp', 'hwk', 'mfa'], auth_time: now / 1000 - 10 }), now);
  for (const auth of [emailOnly, stale]) {
    const d = decideSplitPayload(policy, message, auth, now);
    assert.deepEqual([d.decision, d.mfaRequired], ['deny', true]);
    assert.throws(
      () => enforceSplitDecision(d),
      (e: unknown) => e instanceof SignerError && e.code === 'mfa_required' && e.status === 403,
    );
  }
  assert.equal(enforceSplitDecision(decideSplitPayload(policy, message, fresh, now)), 'FreshPasskey');
  const tx = {
    type: 'transaction' as const,
    transaction: { to: TREASURY, value: '0x1', chainId: 31337, nonce: 0, gas: '0x5208', maxFeePerGas: '0x1', maxPriorityFeePerGas: '0x1' },
  };
  const notHelped = decideSplitPayload(policy, tx as never, emailOnly, now);
  assert.deepEqual([notHelped.decision, notHelped.mfaRequired], ['deny', false]);
  assert.throws(
    () => enforceSplitDecision(notHelped),
    (e: unknown) => e instanceof SignerError && e.code === 'policy_denied',
  );
  assert.throws(
    () => ownerAuth(token({ amr: 'mfa' }), now),
    (e: unknown) => e instanceof SignerError && e.code === 'invalid_token',
  );

  // A statement asking for a hardware passkey by method (symbolon:AuthMethods) is lifted by a step-up too, as at
  // the custodian (src/aws/context.ts steppedUpLogins): the signer imagines either kind of passkey, not only `mfa`.
  const { policy: byMethod } = readSplitSigningPolicy(
    JSON.stringify({
      Version: '2026-12-01',
      Statement: [{ Sid: 'HardwareKey', Effect: 'Allow', Condition: { 'ForAnyValue:StringEquals': { 'symbolon:AuthMethods': ['hwk'] } } }],
    }),
  );
  const byMethodDecision = decideSplitPayload(byMethod, message, emailOnly, now);
  assert.deepEqual([byMethodDecision.decision, byMethodDecision.mfaRequired], ['deny', true]);
  assert.equal(enforceSplitDecision(decideSplitPayload(byMethod, message, fresh, now)), 'HardwareKey');
});
