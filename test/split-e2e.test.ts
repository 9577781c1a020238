/**
 * The split custody mode end to end (issue 6, "Splitting"; docs/architecture.md
 * "split"): a real listening server with the built-in issuer (email code via
 * the dev mailbox), the wallet service and the custodian, and the signer
 * launched by the real platform as a child process (as `serve --role all`
 * does: the custodian's platform key, the `symbolon-wallet-users` role
 * assumed with each owner's token). @symbolon/sdk's SplitWalletClient on the
 * "device": log in, create a split wallet (share A encrypted by the device's
 * own STS session under `{ sub, address }`, share B sealed by the wallet
 * service), sign a transaction and a message through the signer, verified
 * with viem.
 *
 * Also: the wallet store's row holds share B only sealed and share A only as
 * a KMS ciphertext; another user's token cannot sign with the wallet; a
 * retry with the same idempotency key returns the same wallet, other content
 * under it is 409; a split create missing a share stores nothing. Runs on
 * SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { recoverTransactionAddress, verifyMessage, parseTransaction, getAddress, type Hex } from 'viem';
import { DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { emailLogin } from './helpers/email-login.js';
import { startTestServer, REGION, type TestServer } from './helpers/server.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { launchCustodianSigner } from './helpers/signer-fixture.js';
import { generatePrivateKey, getPublicKey } from '../src/crypto/secp256k1.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { SplitWalletClient, EnvelopeWalletClient, type OidcSession } from '../packages/sdk/src/index.js';

const TX = {
  type: 'eip1559',
  chainId: 1,
  nonce: 3,
  to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  value: 10n ** 15n,
  gas: 21000,
  maxFeePerGas: '30000000000',
  maxPriorityFeePerGas: '0x3b9aca00',
};

function includes(haystack: Uint8Array | null, needle: Uint8Array): boolean {
  return haystack !== null && Buffer.from(haystack).includes(Buffer.from(needle));
}

describe('split wallets end to end', () => {
  let server: TestServer;
  let signer: SignerProcess;
  const signerLines: string[] = [];
  let issuerUrl: string;
  let accountId: string;
  const clients: Array<{ destroy(): void }> = [];
  let alice: OidcSession;
  let bob: OidcSession;
  let aliceDevice: SplitWalletClient;
  let aliceAddress: string;

  const login = (email: string): Promise<OidcSession> => emailLogin(issuerUrl, email);

  function device(session: OidcSession): SplitWalletClient {
    const c = new SplitWalletClient({
      walletUrl: server.endpoint,
      custodianUrl: server.endpoint,
      signerUrl: signer.url,
      region: REGION,
      roleArn: walletUsersRoleArn(accountId),
      token: session,
      kmsClientConfig: { maxAttempts: 1 },
    });
    clients.push(c);
    return c;
  }

  async function api(method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${server.endpoint}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: await res.json() };
  }

  async function rowOf(address: string) {
    return server.custodian.deps.store.db.selectFrom('wallets').selectAll().where('address', '=', address).executeTakeFirstOrThrow();
  }

  before(async () => {
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
    issuerUrl = `${server.endpoint}/oidc`;
    accountId = server.custodian.accountId;
    // As `serve --role all` (src/server/signer-launcher.ts): the signer is a child process, attested by the custodian's platform key.
    signer = await launchCustodianSigner(server, 'trace');
    const collect = new Writable({
      write(chunk: Buffer, _e, cb) {
        signerLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        cb();
      },
    });
    signer.stdout?.pipe(collect);
    signer.stderr?.pipe(collect);
    alice = await login('alice@example.com');
    bob = await login('bob@example.com');
    aliceDevice = device(alice);
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await signer?.stop();
    await server?.close();
  });

  test('log in and create a split wallet with the SDK; the owner reads share A ciphertext and share B, nothing of another mode', async () => {
    const wallet = await aliceDevice.createWallet();
    aliceAddress = wallet.address;
    assert.equal(wallet.custodyMode, 'split');
    assert.equal(getAddress(aliceAddress), aliceAddress);
    assert.deepEqual(Object.keys(wallet).sort(), ['address', 'createdAt', 'custodyMode', 'id'], 'the create answer carries no share');
    const me = await aliceDevice.envelope.me();
    assert.deepEqual(me.wallet, { id: wallet.id, address: aliceAddress, custodyMode: 'split' });

    const mine = await api('GET', '/v1/wallets/me', await alice.token());
    assert.equal(mine.status, 200);
    assert.deepEqual(Object.keys(mine.json).sort(), ['address', 'createdAt', 'custodyMode', 'id', 'split']);
    assert.deepEqual(Object.keys(mine.json.split).sort(), ['encryptionContext', 'generation', 'kmsKeyId', 'rotationRequired', 'shareACiphertext', 'shareB']);
    assert.deepEqual(mine.json.split.encryptionContext, { sub: alice.sub, address: aliceAddress });
    assert.equal(mine.json.split.kmsKeyId, me.masterKeyId);
    assert.equal(Buffer.from(mine.json.split.shareB, 'base64').length, 32);

    // One wallet per user, whatever the mode.
    await assert.rejects(aliceDevice.createWallet(), (e: any) => e.code === 'WALLET_EXISTS');
  });

  test('sign a transaction and a message through the signer; viem recovers the wallet address', async () => {
    const tx = await aliceDevice.sign({ type: 'transaction', transaction: TX });
    assert.equal(tx.type, 'transaction');
    if (tx.type !== 'transaction') return;
    assert.equal(await recoverTransactionAddress({ serializedTransaction: tx.signedTransaction as `0x02${string}` }), aliceAddress);
    const parsed = parseTransaction(tx.signedTransaction);
    assert.equal(getAddress(parsed.to!), TX.to);
    assert.equal(parsed.value, TX.value);
    assert.equal(parsed.nonce, 3);

    const msg = await aliceDevice.sign({ type: 'message', message: 'Symbolon split wallet' });
    assert.equal(msg.type, 'message');
    if (msg.type !== 'message') return;
    assert.equal(await verifyMessage({ address: aliceAddress as Hex, message: 'Symbolon split wallet', signature: msg.signature }), true);
    assert.equal(await verifyMessage({ address: aliceAddress as Hex, message: 'another message', signature: msg.signature }), false);
  });

  test('a client reads the wallet record once (counted by the server): N signatures, one GET /v1/wallets/me; a damaged record is read again and the signature retried once', async () => {
    const walletReads: string[] = [];
    const onRequest = (req: IncomingMessage) => {
      if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/v1/wallets/me') walletReads.push(req.url!);
    };
    server.custodian.app.server.on('request', onRequest);
    /** A device whose first `damaged` reads of its record arrive with share B altered; the signer calls it makes are listed. */
    const damagingDevice = (damaged: number) => {
      const signerAnswers: number[] = [];
      const client = new SplitWalletClient({
        walletUrl: server.endpoint,
        custodianUrl: server.endpoint,
        signerUrl: signer.url,
        region: REGION,
        roleArn: walletUsersRoleArn(accountId),
        token: alice,
        kmsClientConfig: { maxAttempts: 1 },
        fetch: async (input, init) => {
          const res = await fetch(input, init);
          const url = String(input);
          if (url.endsWith('/v1/sign')) signerAnswers.push(res.status);
          if (!url.endsWith('/v1/wallets/me') || damaged-- <= 0) return res;
          const body = (await res.json()) as { split: { shareB: string } };
          const shareB = Buffer.from(body.split.shareB, 'base64');
          shareB[0]! ^= 1;
          body.split.shareB = shareB.toString('base64');
          return new Response(JSON.stringify(body), { status: res.status, headers: { 'content-type': 'application/json' } });
        },
      });
      clients.push(client);
      return { client, signerAnswers };
    };
    try {
      const N = 4;
      const d = device(alice);
      for (let i = 0; i < N; i++) {
        const r = await d.sign({ type: 'message', message: `one read ${i}` });
        assert.ok(r.type === 'message' && (await verifyMessage({ address: aliceAddress as Hex, message: `one read ${i}`, signature: r.signature })));
      }
      assert.equal(walletReads.length, 1, `${N} signatures, one read`);
      // Concurrent signatures on a new client share its one read.
      const e = device(alice);
      const both = await Promise.all([e.sign({ type: 'message', message: 'a' }), e.sign({ type: 'message', message: 'b' })]);
      assert.equal(both.length, 2);
      assert.equal(walletReads.length, 2);

      // Share B altered on the way once: the signer refuses (share_mismatch), the client reads again and retries, once.
      const once = damagingDevice(1);
      const r = await once.client.sign({ type: 'message', message: 'after a damaged read' });
      assert.ok(r.type === 'message' && (await verifyMessage({ address: aliceAddress as Hex, message: 'after a damaged read', signature: r.signature })));
      assert.deepEqual(once.signerAnswers, [422, 200]);
      assert.equal(walletReads.length, 4);
      await once.client.sign({ type: 'message', message: 'kept again' });
      assert.equal(walletReads.length, 4, 'the good record is kept');

      // Altered every time: one retry at most, then the signer's code.
      const always = damagingDevice(Infinity);
      await assert.rejects(always.client.sign({ type: 'message', message: 'never' }), (err: any) => err.name === 'SplitError' && err.code === 'share_mismatch');
      assert.deepEqual(always.signerAnswers, [422, 422]);
      assert.equal(walletReads.length, 6);
      // Nothing damaged is kept: the next signature reads the record again.
      await assert.rejects(always.client.sign({ type: 'message', message: 'never' }), (err: any) => err.code === 'share_mismatch');
      assert.equal(walletReads.length, 8);
    } finally {
      server.custodian.app.server.off('request', onRequest);
    }
  });

  test("the wallet store's row holds share B only sealed and share A only as a KMS ciphertext", async () => {
    const mine = (await api('GET', '/v1/wallets/me', await alice.token())).json.split;
    const shareB = new Uint8Array(Buffer.from(mine.shareB, 'base64'));
    const shareACiphertext = new Uint8Array(Buffer.from(mine.shareACiphertext, 'base64'));
    // Not even the owner's own session gets share A as plaintext: only an attested signer does (the
    // transaction and message signed above prove share A XOR share B is the wallet's key).
    await assert.rejects(
      aliceDevice.envelope.kms.send(new DecryptCommand({ CiphertextBlob: shareACiphertext, EncryptionContext: { sub: alice.sub, address: aliceAddress } })),
      (e: any) => e.name === 'AccessDeniedException',
    );
    assert.equal(shareB.length, 32);

    const row = await rowOf(aliceAddress);
    assert.equal(row.custody_mode, 'split');
    assert.equal(row.encrypted_private_key, null);
    assert.deepEqual(new Uint8Array(row.encrypted_data_key!), shareACiphertext, 'share A is stored as the ciphertext the device made');
    assert.ok(row.share_b_sealed && row.share_b_sealed.length > 32);
    for (const column of [row.encrypted_data_key, row.share_b_sealed]) assert.ok(!includes(column, shareB), 'share B is not in the row in clear');
    // Share A's ciphertext does not open without the owner's session: not for bob.
    const bobKms = new EnvelopeWalletClient({
      walletUrl: server.endpoint,
      custodianUrl: server.endpoint,
      region: REGION,
      roleArn: walletUsersRoleArn(accountId),
      token: bob,
      kmsClientConfig: { maxAttempts: 1 },
    });
    clients.push(bobKms);
    await assert.rejects(
      bobKms.kms.send(new DecryptCommand({ CiphertextBlob: shareACiphertext, EncryptionContext: { sub: alice.sub, address: aliceAddress } })),
      (e: any) => e.name === 'AccessDeniedException',
    );
  });

  test('the token the wallet service sees (the access token) cannot sign, even with the share B it stores; the ID token can', async () => {
    // What a running wallet service holds: the user's access token (every API call carries it) and share B.
    const accessToken = await alice.token();
    const mine = (await api('GET', '/v1/wallets/me', accessToken)).json.split;
    const sign = (token: string) =>
      fetch(`${signer.url}/v1/sign`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          payload: { type: 'message', message: 'the provider wants this signed' },
          address: aliceAddress,
          shareB: mine.shareB,
          shareACiphertext: mine.shareACiphertext,
        }),
      });
    const refused = await sign(accessToken);
    const body = (await refused.json()) as any;
    assert.equal(refused.status, 401);
    assert.equal(body.error.code, 'invalid_token');
    assert.match(body.error.message, /wrong_token_use/);
    assert.equal(body.signature, undefined);
    // Nor can it be exchanged at STS for the user's credentials.
    const sts = await fetch(server.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: walletUsersRoleArn(accountId),
        RoleSessionName: 'provider',
        WebIdentityToken: accessToken,
      }),
    });
    assert.equal(sts.status, 400);
    assert.match(await sts.text(), /InvalidIdentityToken/);
    // The device's own ID token signs (what SplitWalletClient sends), and the wallet API refuses that one.
    const ok = await sign(await alice.idToken());
    assert.equal(ok.status, 200);
    assert.match(((await ok.json()) as any).signature, /^0x[0-9a-f]{130}$/);
    assert.equal((await api('GET', '/v1/wallets/me', await alice.idToken())).status, 401);
  });

  test("another user's token cannot sign with this wallet", async () => {
    const mine = (await api('GET', '/v1/wallets/me', await alice.token())).json.split;
    const res = await fetch(`${signer.url}/v1/sign`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await bob.idToken()}` },
      body: JSON.stringify({
        payload: { type: 'message', message: 'not yours' },
        address: aliceAddress,
        shareB: mine.shareB,
        shareACiphertext: mine.shareACiphertext,
      }),
    });
    const body = (await res.json()) as any;
    assert.equal(body.signature, undefined);
    // Bob's token names bob's sub: the custodian refuses to release alice's share A for it.
    assert.ok(['release_refused', 'share_ciphertext_invalid'].includes(body.error.code), `${res.status} ${body.error.code}`);
    assert.ok(res.status === 403 || res.status === 422, `status ${res.status}`);
    // And bob's own device has no wallet to sign with.
    await assert.rejects(device(bob).sign({ type: 'message', message: 'x' }), (e: any) => e.code === 'NO_WALLET');
  });

  test('a retry with the same idempotency key returns the same wallet; other content is 409; a missing share stores nothing', async () => {
    const carol = await login('carol@example.com');
    const carolDevice = device(carol);
    const token = await carol.token();
    const me = await carolDevice.envelope.me();
    const key = generatePrivateKey();
    const shareA = new Uint8Array(randomBytes(32));
    const shareB = key.map((b, i) => b ^ shareA[i]!);
    const address = publicKeyToAddress(getPublicKey(key));
    const enc = await carolDevice.envelope.kms.send(
      new EncryptCommand({ KeyId: me.masterKeyId, Plaintext: shareA, EncryptionContext: { sub: carol.sub, address } }),
    );
    const body = {
      custodyMode: 'split',
      address,
      shareACiphertext: Buffer.from(enc.CiphertextBlob!).toString('base64'),
      shareB: Buffer.from(shareB).toString('base64'),
      idempotencyKey: 'carol-1',
    };

    const missing = await api('POST', '/v1/wallets', token, { ...body, shareB: undefined });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.code, 'invalid_request');
    const mixed = await api('POST', '/v1/wallets', token, { ...body, encryptedDataKey: body.shareACiphertext });
    assert.equal(mixed.status, 400);
    assert.equal((await carolDevice.envelope.me()).wallet, null, 'refused creates store nothing');

    const first = await api('POST', '/v1/wallets', token, body);
    assert.equal(first.status, 201, JSON.stringify(first.json));
    const again = await api('POST', '/v1/wallets', token, body);
    assert.equal(again.status, 200);
    assert.deepEqual(again.json, first.json);
    const other = await api('POST', '/v1/wallets', token, { ...body, shareB: Buffer.from(randomBytes(32)).toString('base64') });
    assert.equal(other.status, 409);
    assert.equal(other.json.error.code, 'wallet_exists');
    const rows = await server.custodian.deps.store.db.selectFrom('wallets').select('id').where('address', '=', address).execute();
    assert.deepEqual(rows, [{ id: first.json.id }]);

    // The stored wallet signs: the shares round-trip through the wallet service intact.
    const signed = await carolDevice.sign({ type: 'message', message: 'carol' });
    assert.ok(signed.type === 'message' && (await verifyMessage({ address: address as Hex, message: 'carol', signature: signed.signature })));
  });

  test('no share or key appears in the signer log lines', async () => {
    const mine = (await api('GET', '/v1/wallets/me', await alice.token())).json.split;
    assert.ok(signerLines.length > 0);
    for (const line of signerLines) assert.ok(!line.includes(mine.shareB) && !line.includes(mine.shareACiphertext), 'a share in a log line');
  });
});
