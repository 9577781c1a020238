/**
 * Retiring old share generations at the custodian (issue #18, item 1;
 * docs/signer.md "Retiring old generations"): a real listening server
 * (built-in issuer, wallet service, custodian) and the signer launched by the
 * real platform, as in share-rotation.test.ts. Once a rotation is committed
 * and its shares used, the old pair is refused through the real signer with a
 * live token (`share_generation_retired`); a device dying after the commit but
 * before the activation leaves the old pair usable only until the next
 * signature; a signer killed (SIGKILL) at each step leaves exactly the stored
 * generation usable; over PostgreSQL, two custodians on one store race the
 * activation of two competing pairs and exactly one wins.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { bearerJson as http, splitDevice } from './helpers/split-device.js';
import { randomBytes } from 'node:crypto';
import { verifyMessage, type Hex } from 'viem';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, ReEncryptCommand } from '@aws-sdk/client-kms';
import { emailLogin } from './helpers/email-login.js';
import { startTestServer, REGION, STORE, type TestServer } from './helpers/server.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { launchCustodianSigner } from './helpers/signer-fixture.js';
import { SplitWalletClient, type OidcSession } from '../packages/sdk/src/index.js';
import { findShareGeneration } from '../src/storage/share-generations.repository.js';
import { shareOfContext } from '../src/kms/share-generation.js';

interface Shares {
  generation: number;
  shareACiphertext: string;
  shareB: string;
  kmsKeyId: string;
}

describe('old share generations are retired at the custodian', () => {
  let server: TestServer;
  let signer: SignerProcess;
  let issuerUrl: string;
  let accountId: string;
  const clients: Array<{ destroy(): void }> = [];
  let alice: OidcSession;
  let address: string;

  function device(session: OidcSession, signerUrl = signer.url, walletUrl = server.endpoint): SplitWalletClient {
    return splitDevice({ walletUrl, signerUrl, accountId, session, clients });
  }

  async function stored(session = alice, base = server.endpoint): Promise<Shares & { address: string }> {
    const r = await http(`${base}/v1/wallets/me`, 'GET', await session.token());
    assert.equal(r.status, 200);
    return { ...(r.json.split as Shares), address: r.json.address };
  }

  function sharesBody(shares: Shares & { address?: string }, generation = shares.generation) {
    return { address: shares.address ?? address, shareACiphertext: shares.shareACiphertext, shareB: shares.shareB, keyId: shares.kmsKeyId, generation };
  }

  async function signWith(shares: Shares & { address?: string }, session = alice, signerUrl = signer.url) {
    return http(`${signerUrl}/v1/sign`, 'POST', await session.idToken(), { payload: { type: 'message', message: 'still mine' }, ...sharesBody(shares) });
  }

  async function signs(shares: Shares & { address?: string }, session = alice): Promise<boolean> {
    const r = await signWith(shares, session);
    return r.status === 200 && (await verifyMessage({ address: (shares.address ?? address) as Hex, message: 'still mine', signature: r.json.signature }));
  }

  async function retired(shares: Shares & { address?: string }, session = alice): Promise<void> {
    const r = await signWith(shares, session);
    assert.equal(r.status, 422, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'share_generation_retired');
    assert.doesNotMatch(r.json.error.message, /[A-Za-z0-9+/]{40,}/, 'no share or ciphertext in the message');
  }

  /** The signer's half of a rotation: new shares, not committed. */
  async function rotateAtSigner(shares: Shares, session = alice): Promise<Shares> {
    const r = await http(`${signer.url}/v1/rotate`, 'POST', await session.idToken(), sharesBody(shares));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return { ...r.json, kmsKeyId: shares.kmsKeyId };
  }

  /** The wallet store's commit (compare-and-set on the generation), as the device sends it. */
  async function commit(from: Shares, rotated: Shares & { proof?: string }, session = alice) {
    return http(`${server.endpoint}/v1/wallets/me/shares`, 'POST', await session.token(), {
      fromGeneration: from.generation,
      shareACiphertext: rotated.shareACiphertext,
      shareB: rotated.shareB,
      proof: (rotated as { proof: string }).proof,
    });
  }

  async function floor(keyId: string, addr = address) {
    return findShareGeneration(server.custodian.deps.store.db, keyId, addr);
  }

  before(async () => {
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
    issuerUrl = `${server.endpoint}/oidc`;
    accountId = server.custodian.accountId;
    signer = await launchCustodianSigner(server);
    alice = await emailLogin(issuerUrl, 'alice@example.com');
    address = (await device(alice).createWallet()).address;
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await signer?.stop();
    await server?.close();
  });

  test('a generation-0 wallet without a floor keeps working; its first attested release records it', async () => {
    const start = await stored();
    assert.equal(start.generation, 0);
    assert.equal(await floor(start.kmsKeyId), undefined, 'no floor before any release');
    assert.ok(await signs(start));
    const f = await floor(start.kmsKeyId);
    assert.equal(f?.generation, 0);
    assert.ok(await signs(start), 'the same pair again');
  });

  test('after a committed rotation the old pair is refused through the signer with a live token, also for a rotation', async () => {
    const old = await stored();
    const rotated = await device(alice).rotateShares();
    assert.equal(rotated.generation, old.generation + 1);
    const now = await stored();
    assert.equal((await floor(now.kmsKeyId))?.generation, now.generation, 'the SDK activated the committed generation');

    await retired(old);
    const again = await http(`${signer.url}/v1/rotate`, 'POST', await alice.idToken(), sharesBody(old));
    assert.equal(again.status, 422);
    assert.equal(again.json.error.code, 'share_generation_retired', 'no rotation from a retired generation');
    assert.ok(await signs(now));

    // The owner's own session cannot move the old share A into a context that would pass.
    const kms = device(alice).envelope.kms;
    await assert.rejects(
      kms.send(
        new ReEncryptCommand({
          CiphertextBlob: Buffer.from(old.shareACiphertext, 'base64'),
          SourceEncryptionContext: { sub: alice.sub, address },
          DestinationKeyId: old.kmsKeyId,
          DestinationEncryptionContext: { sub: alice.sub, address, generation: String(now.generation + 1) },
        }),
      ),
      (e: Error) => ['AccessDeniedException', 'KMSInvalidStateException'].includes(e.name),
    );

    // Audited: the raise is its own event, by the owner's assumed-role session, naming the new generation.
    await server.custodian.deps.audit.flush();
    const raises = await server.custodian.deps.store.db.selectFrom('audit_events').selectAll().where('operation', '=', 'RaiseShareGeneration').execute();
    const mine = raises.filter((r) => JSON.parse(r.encryption_context ?? '{}').generation === String(now.generation));
    assert.equal(mine.length, 1);
    assert.match(mine[0]!.principal_arn ?? '', /assumed-role\/symbolon-wallet-users\//);
    const refused = await server.custodian.deps.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('operation', '=', 'Decrypt')
      .where('error_code', '=', 'KMSInvalidStateException')
      .execute();
    assert.ok(refused.length >= 2, 'refused releases are audited');
  });

  test('the loser of two concurrent rotations is refused once the winner is in use', async () => {
    const current = await stored();
    const a = await rotateAtSigner(current);
    const b = await rotateAtSigner(current);
    assert.equal((await commit(current, a)).status, 200);
    assert.equal((await commit(current, b)).status, 409);
    const now = await stored();
    assert.ok(await signs(now), 'the first use of the committed pair activates it');
    await retired({ ...b, generation: now.generation });
    await retired(current);
  });

  test('the device dies after the commit and before the activation: the old pair works until the next signature, then never', async () => {
    const old = await stored();
    const rotated = await rotateAtSigner(old);
    assert.equal((await commit(old, rotated)).status, 200);
    // The transient window: committed, not yet used. The floor is still the old generation.
    assert.equal((await floor(old.kmsKeyId))?.generation, old.generation);
    assert.ok(await signs(old), 'inside the window the old pair still opens');
    // The next signature with the stored shares (any device of the owner) retires the old generation.
    const now = await stored();
    assert.equal(now.generation, old.generation + 1);
    const msg = await device(alice).sign({ type: 'message', message: 'next use' });
    assert.ok(msg.type === 'message' && (await verifyMessage({ address: address as Hex, message: 'next use', signature: msg.signature })));
    assert.equal((await floor(old.kmsKeyId))?.generation, now.generation);
    await retired(old);
  });

  test('a signer killed (SIGKILL) at each step leaves exactly the stored generation usable', async () => {
    // During the rotation: nothing committed, the stored pair is the only one.
    const start = await stored();
    const pending = http(`${signer.url}/v1/rotate`, 'POST', await alice.idToken(), sharesBody(start)).catch((e: unknown) => e);
    signer.child.kill('SIGKILL');
    await signer.stop().catch(() => undefined);
    await pending;
    signer = await launchCustodianSigner(server);
    assert.deepEqual(await stored(), start);
    assert.ok(await signs(start));

    // During the activation, after the commit: whether or not the raise happened, the stored pair signs
    // and, after that signature, the previous one never does.
    const rotated = await rotateAtSigner(start);
    assert.equal((await commit(start, rotated)).status, 200);
    const now = await stored();
    const activating = http(`${signer.url}/v1/activate`, 'POST', await alice.idToken(), sharesBody(now)).catch((e: unknown) => e);
    signer.child.kill('SIGKILL');
    await signer.stop().catch(() => undefined);
    await activating;
    signer = await launchCustodianSigner(server);
    assert.ok(await signs(now));
    await retired(start);

    // Activation itself: idempotent, refused for a retired generation, nothing signed.
    const ok = await http(`${signer.url}/v1/activate`, 'POST', await alice.idToken(), sharesBody(now));
    assert.deepEqual([ok.status, ok.json], [200, { address, generation: now.generation }]);
    const stale = await http(`${signer.url}/v1/activate`, 'POST', await alice.idToken(), sharesBody(start));
    assert.equal(stale.json.error.code, 'share_generation_retired');
  });

  test('the custodian rule: under a master key, plain Decrypt never raises and an address context needs a canonical generation', async () => {
    assert.deepEqual(shareOfContext({ sub: 's', address: '0xA' }), { address: '0xA', generation: 0 });
    assert.deepEqual(shareOfContext({ sub: 's', address: '0xA', generation: '7' }), { address: '0xA', generation: 7 });
    for (const g of ['0', '07', '-1', '1.0', ' 1', '2147483648', 'x']) assert.equal(shareOfContext({ address: '0xA', generation: g })?.generation, -1, g);
    assert.equal(shareOfContext({ sub: 's' }), undefined);
    assert.equal(shareOfContext(undefined), undefined);

    // A KMS user's own key: "address" and "generation" are ordinary context pairs, never checked, never a row.
    const kms = server.kms();
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const ctx = (g?: string) => ({ address: '0xabc', ...(g ? { generation: g } : {}) });
    const enc = async (id: string, g?: string) =>
      (await kms.send(new EncryptCommand({ KeyId: id, Plaintext: randomBytes(32), EncryptionContext: ctx(g) }))).CiphertextBlob!;
    const dec = (blob: Uint8Array, g?: string) => kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx(g) }));
    const [g0, g5, odd] = [await enc(keyId), await enc(keyId, '5'), await enc(keyId, '05')];
    await dec(g5, '5');
    await dec(g0);
    await dec(odd, '05');
    assert.equal(await floor(keyId, '0xabc'), undefined, 'no row without an attested release');

    // Under a wallet master key (a policy of the master-key templates) the pair is reserved for shares:
    // a plain Decrypt is checked (never raises), and a non-canonical generation is refused.
    const account = server.custodian.accountId;
    const masterPolicy = JSON.stringify({
      Version: '2012-10-17',
      Id: 'symbolon-wallet-master-key-2',
      Statement: [{ Sid: 'Admin', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' }],
    });
    const masterId = (await kms.send(new CreateKeyCommand({ Policy: masterPolicy }))).KeyMetadata!.KeyId!;
    const [m0, mOdd] = [await enc(masterId), await enc(masterId, '05')];
    await dec(m0);
    assert.equal(await floor(masterId, '0xabc'), undefined, 'no row without an attested release');
    await assert.rejects(dec(mOdd, '05'), (e: Error) => e.name === 'KMSInvalidStateException' && /^Share generation retired/.test(e.message));
  });

  test("the stated limit: a holder of the owner's ID token who uses an uncommitted newer pair retires the stored one", async () => {
    const bob = await emailLogin(issuerUrl, 'bob@example.com');
    const bobAddress = (await device(bob).createWallet()).address;
    const start = await stored(bob);
    assert.equal(start.address, bobAddress);
    assert.ok(await signs(start, bob));
    // POST /v1/rotate without the commit, then a release of the new pair: the custodian cannot tell it from a committed one.
    const r = await http(`${signer.url}/v1/rotate`, 'POST', await bob.idToken(), sharesBody(start));
    assert.equal(r.status, 200);
    assert.ok(await signs({ ...r.json, kmsKeyId: start.kmsKeyId }, bob));
    assert.deepEqual(await stored(bob), start, 'the wallet store still serves generation 0');
    await retired(start, bob);
  });

  test('over one store, two custodians race the activation of two competing pairs: exactly one wins', {
    skip: STORE !== 'postgres' && 'PostgreSQL only (set DATABASE_URL)',
  }, async () => {
    const pgSchema = `t_${randomBytes(6).toString('hex')}`;
    const env = { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' };
    const limits = { identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } } };
    const one = await startTestServer({ env, pgSchema, ...limits });
    // The same issuer URL for both (one store, one issuer key): each custodian's STS and signer trust carol's token.
    const two = await startTestServer({ env: { ...env, SYMBOLON_PUBLIC_URL: one.endpoint }, pgSchema, dataDir: one.dataDir, keepSchema: true, ...limits });
    const [s1, s2] = [await launchCustodianSigner(one), await launchCustodianSigner(two)];
    try {
      const carol = await emailLogin(`${one.endpoint}/oidc`, 'carol@example.com');
      const devOne = new SplitWalletClient({
        walletUrl: one.endpoint,
        custodianUrl: one.endpoint,
        signerUrl: s1.url,
        region: REGION,
        roleArn: walletUsersRoleArn(one.custodian.accountId),
        token: carol,
        kmsClientConfig: { maxAttempts: 1 },
      });
      clients.push(devOne);
      const addr = (await devOne.createWallet()).address;
      const start = await stored(carol, one.endpoint);
      const rot = async (url: string) => {
        const r = await http(`${url}/v1/rotate`, 'POST', await carol.idToken(), sharesBody(start));
        assert.equal(r.status, 200, JSON.stringify(r.json));
        return { ...r.json, kmsKeyId: start.kmsKeyId } as Shares;
      };
      const [a, b] = [await rot(s1.url), await rot(s2.url)];
      const activate = async (url: string, p: Shares) => http(`${url}/v1/activate`, 'POST', await carol.idToken(), { ...sharesBody(p), address: addr });
      const results = await Promise.all([activate(s1.url, a), activate(s2.url, b)]);
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 422], JSON.stringify(results.map((r) => r.json)));
      const loser = results.find((r) => r.status === 422)!;
      assert.equal(loser.json.error.code, 'share_generation_retired');
      const row = await findShareGeneration(two.custodian.deps.store.db, start.kmsKeyId, addr);
      assert.equal(row?.generation, 1);
      const winner = results[0]!.status === 200 ? a : b;
      const ok = await http(`${s2.url}/v1/sign`, 'POST', await carol.idToken(), {
        payload: { type: 'message', message: 'hi' },
        ...sharesBody(winner),
        address: addr,
      });
      assert.equal(ok.status, 200);
      const old = await http(`${s1.url}/v1/sign`, 'POST', await carol.idToken(), {
        payload: { type: 'message', message: 'hi' },
        ...sharesBody(start),
        address: addr,
      });
      assert.equal(old.json.error.code, 'share_generation_retired');
    } finally {
      await s1.stop();
      await s2.stop();
      await two.close();
      await one.close();
    }
  });
});
