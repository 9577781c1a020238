/**
 * The envelope custody mode end to end (issue 5, docs/architecture.md "envelope"): a real
 * listening server with the built-in issuer (email code via the dev mailbox),
 * the wallet service and the custodian; @symbolon/sdk's EnvelopeWalletClient
 * on the "device": log in, exchange the token at STS, create the wallet
 * (key generated and sealed on the device, data key encrypted by the
 * custodian), sign a transaction, a message and typed data as an ethers
 * Signer and a viem account, verified with ethers and viem; a fresh SDK
 * instance after a new login signs with the same address.
 *
 * Attacks that must fail: another user's session decrypting this user's data
 * key; the wallet service's own credentials decrypting it (or changing the key
 * policy); ciphertexts moved to another user's record; the whole database plus
 * the wallet service's credentials yielding the key (they do not contain it);
 * an expired or untrusted token, the wrong audience, `alg: none`, a forged
 * signature at STS. A second, external OIDC issuer (inline JWKS) shows that
 * any provider's token works as well as the built-in issuer's. Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnsecuredJWT, generateKeyPair, decodeJwt } from 'jose';
import { Transaction, TypedDataEncoder, verifyMessage, verifyTypedData, getAddress, Signature, recoverAddress } from 'ethers';
import { recoverTransactionAddress, verifyTypedData as viemVerifyTypedData, verifyMessage as viemVerifyMessage, parseTransaction, type Hex } from 'viem';
import { KMSClient, DecryptCommand, ReEncryptCommand, PutKeyPolicyCommand, CreateGrantCommand } from '@aws-sdk/client-kms';
import { sql } from 'kysely';
import { emailLogin } from './helpers/email-login.js';
import { staticIssuer } from './helpers/static-issuer.js';
import { startTestServer, REGION, type TestServer } from './helpers/server.js';
import { provisionWalletServicePrincipal } from '../src/wallet/wallet-principal.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { EnvelopeWalletClient, EnvelopeError, StsError, assumeRoleWithWebIdentity, type OidcSession } from '../packages/sdk/src/index.js';
import { openPrivateKey } from '../packages/sdk/src/envelope/envelopeAead.js';

const TYPED = {
  domain: { name: 'Symbolon', version: '1', chainId: 1, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
  types: {
    Person: [
      { name: 'name', type: 'string' },
      { name: 'wallet', type: 'address' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'string' },
    ],
  },
  value: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
  },
} as const;

const EXTERNAL_AUDIENCE = 'symbolon-e2e';

/** An external OIDC provider trusted by configuration with an inline JWKS (no network). */
function externalIssuer() {
  return staticIssuer(EXTERNAL_AUDIENCE);
}

const TX = {
  to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  value: 10n ** 15n,
  nonce: 7,
  gasLimit: 21000n,
  maxFeePerGas: 30n * 10n ** 9n,
  maxPriorityFeePerGas: 10n ** 9n,
  chainId: 1n,
  type: 2,
};

describe('envelope wallets end to end', () => {
  let server: TestServer;
  let issuerUrl: string;
  let accountId: string;
  const clients: Array<{ destroy(): void }> = [];

  const login = (email: string): Promise<OidcSession> => emailLogin(issuerUrl, email);

  function device(session: OidcSession | string): EnvelopeWalletClient {
    const c = new EnvelopeWalletClient({
      walletUrl: server.endpoint,
      custodianUrl: server.endpoint,
      region: REGION,
      roleArn: walletUsersRoleArn(accountId),
      token: session,
      kmsClientConfig: { maxAttempts: 1 },
    });
    clients.push(c);
    return c;
  }

  function kmsAs(creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): KMSClient {
    const c = new KMSClient({ endpoint: server.endpoint, region: REGION, credentials: creds, maxAttempts: 1 });
    clients.push(c);
    return c;
  }

  async function rejectsNamed(p: Promise<unknown>, names: string[], message?: RegExp): Promise<void> {
    await assert.rejects(p, (e: any) => {
      assert.ok(names.includes(e.name) || names.includes(e.code), `expected ${names.join('|')}, got ${e.name}/${e.code}: ${e.message}`);
      if (message) assert.match(e.message, message);
      return true;
    });
  }

  let alice: OidcSession;
  let aliceDevice: EnvelopeWalletClient;
  let aliceAddress: string;
  let bob: OidcSession;
  let bobDevice: EnvelopeWalletClient;
  let external: Awaited<ReturnType<typeof externalIssuer>>;

  before(async () => {
    external = await externalIssuer();
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1', SYMBOLON_OIDC_ISSUERS: JSON.stringify([external.config]) },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
    issuerUrl = `${server.endpoint}/oidc`;
    accountId = server.custodian.accountId;
    alice = await login('alice@example.com');
    bob = await login('bob@example.com');
    aliceDevice = device(alice);
    bobDevice = device(bob);
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await server?.close();
  });

  test('the SDK envelope module is browser-safe: no node: imports, no Node globals, nothing from the server tree', () => {
    const dir = join(import.meta.dirname, '..', 'packages', 'sdk', 'src', 'envelope');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length >= 8);
    for (const f of files) {
      const code = readFileSync(join(dir, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const m of code.matchAll(/\bfrom\s*['"]([^'"]+)['"]/g)) {
        const s = m[1]!;
        assert.ok(
          s.startsWith('./') || s.startsWith('../') || ['ethers', 'viem', 'viem/utils', '@aws-sdk/client-kms', '@noble/curves/secp256k1.js'].includes(s),
          `${f} imports ${s}`,
        );
        assert.ok(!s.startsWith('node:') && !s.includes('../../src') && !s.startsWith('../../../'), `${f} imports ${s}`);
      }
      assert.doesNotMatch(code, /\bBuffer\b|\bprocess\.|\brequire\(/, `${f} uses a Node-only global`);
    }
  });

  test('log in, create: the key is made on the device and the stores keep only ciphertexts', async () => {
    const me = await aliceDevice.me();
    assert.equal(me.wallet, null);
    const wallet = await aliceDevice.createWallet();
    aliceAddress = wallet.address;
    assert.match(aliceAddress, /^0x[0-9a-fA-F]{40}$/);
    assert.equal(getAddress(aliceAddress), aliceAddress);
    const after = await aliceDevice.me();
    assert.deepEqual(after.wallet && { address: after.wallet.address, custodyMode: after.wallet.custodyMode }, {
      address: aliceAddress,
      custodyMode: 'envelope',
    });
    // One wallet per user: a second create is refused on the device, never a second key.
    await rejectsNamed(aliceDevice.createWallet(), ['WALLET_EXISTS']);
    // The session behind the device is alice's role session, tagged with her sub.
    const creds = await aliceDevice.credentials();
    assert.equal(creds.assumedRoleArn, `arn:aws:sts::${accountId}:assumed-role/symbolon-wallet-users/symbolon-device`);
    assert.equal(creds.subject, alice.sub);
  });

  test('sign a transaction, a message and typed data as an ethers Signer; ethers verifies them', async () => {
    const signer = (await aliceDevice.getWallet()).signer();
    assert.equal(await signer.getAddress(), aliceAddress);
    const raw = await signer.signTransaction({ ...TX, from: aliceAddress });
    const parsed = Transaction.from(raw);
    assert.equal(parsed.from, aliceAddress);
    assert.equal(parsed.to, TX.to);
    assert.equal(parsed.value, TX.value);
    assert.equal(parsed.chainId, 1n);
    // RFC 6979: the same payload gives the same bytes.
    assert.equal(await signer.signTransaction(TX), raw);

    const message = 'Symbolon envelope wallet';
    const sig = await signer.signMessage(message);
    assert.equal(verifyMessage(message, sig), aliceAddress);
    assert.ok(Signature.from(sig).s <= '0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'low-s');

    const typed = await signer.signTypedData(TYPED.domain, TYPED.types as never, TYPED.value);
    assert.equal(verifyTypedData(TYPED.domain, TYPED.types as never, TYPED.value, typed), aliceAddress);
    assert.equal(recoverAddress(TypedDataEncoder.hash(TYPED.domain, TYPED.types as never, TYPED.value), typed), aliceAddress);
  });

  test('the same wallet as a viem account: transaction, message and typed data verify with viem', async () => {
    const account = await (await aliceDevice.getWallet()).account();
    assert.equal(account.address, aliceAddress);
    assert.equal(account.source, 'envelope');
    const tx = {
      to: TX.to as Hex,
      value: TX.value,
      nonce: TX.nonce,
      gas: TX.gasLimit,
      maxFeePerGas: TX.maxFeePerGas,
      maxPriorityFeePerGas: TX.maxPriorityFeePerGas,
      chainId: 1,
      type: 'eip1559' as const,
    };
    const raw = await account.signTransaction(tx);
    assert.equal(await recoverTransactionAddress({ serializedTransaction: raw as never }), aliceAddress);
    assert.equal(parseTransaction(raw).to, TX.to.toLowerCase());
    // ethers and viem sign the same bytes for the same key and payload.
    const ethersRaw = await (await aliceDevice.getWallet()).signer().signTransaction({ ...TX, type: 2 });
    assert.equal(raw, ethersRaw);
    const sig = await account.signMessage({ message: 'hello' });
    assert.ok(await viemVerifyMessage({ address: aliceAddress as Hex, message: 'hello', signature: sig }));
    const typed = await account.signTypedData({ domain: TYPED.domain, types: TYPED.types, primaryType: 'Mail', message: TYPED.value } as never);
    assert.ok(
      await viemVerifyTypedData({
        address: aliceAddress as Hex,
        domain: TYPED.domain,
        types: TYPED.types,
        primaryType: 'Mail',
        message: TYPED.value,
        signature: typed,
      } as never),
    );
  });

  test('a new device: a fresh login and SDK instance sign with the same address (no seed phrase)', async () => {
    const again = await login('alice@example.com');
    assert.equal(again.sub, alice.sub);
    const other = device(again);
    const wallet = await other.getWallet();
    assert.equal(wallet.address, aliceAddress);
    const sig = await wallet.signer().signMessage('from my new phone');
    assert.equal(verifyMessage('from my new phone', sig), aliceAddress);
    // Bob has no wallet yet; opening one is a clear error.
    await rejectsNamed(bobDevice.getWallet(), ['NO_WALLET']);
  });

  test("another user's credentials cannot decrypt this user's data key", async () => {
    await bobDevice.createWallet();
    const record = await (await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${await alice.token()}` } })).json();
    const blob = Buffer.from(record.envelope.encryptedDataKey, 'base64');
    const bobKms = kmsAs(await bobDevice.credentials());
    for (const ctx of [{ sub: alice.sub }, { sub: bob.sub }, undefined]) {
      await rejectsNamed(bobKms.send(new DecryptCommand({ CiphertextBlob: blob, ...(ctx ? { EncryptionContext: ctx } : {}) })), [
        'AccessDeniedException',
        'InvalidCiphertextException',
      ]);
    }
    await rejectsNamed(
      bobKms.send(
        new ReEncryptCommand({
          CiphertextBlob: blob,
          SourceEncryptionContext: { sub: alice.sub },
          DestinationKeyId: record.envelope.kmsKeyId,
          DestinationEncryptionContext: { sub: bob.sub },
        }),
      ),
      ['AccessDeniedException'],
    );
    // Alice's own session does decrypt it: the refusals above are about who asks.
    const aliceKms = kmsAs(await aliceDevice.credentials());
    const ok = await aliceKms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { sub: alice.sub } }));
    assert.equal(ok.Plaintext!.length, 32);
    ok.Plaintext!.fill(0);
  });

  test("the wallet service's own credentials cannot decrypt a data key, nor change who may", async () => {
    const { deps } = server.custodian;
    const own = (await provisionWalletServicePrincipal({ store: deps.store, root: deps.root, accountId, now: Date.now() }))!;
    const walletKms = kmsAs({ accessKeyId: own.accessKeyId, secretAccessKey: own.secretAccessKey });
    const record = await (await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${await alice.token()}` } })).json();
    const blob = Buffer.from(record.envelope.encryptedDataKey, 'base64');
    await rejectsNamed(walletKms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { sub: alice.sub } })), ['AccessDeniedException']);
    await rejectsNamed(
      walletKms.send(
        new PutKeyPolicyCommand({
          KeyId: record.envelope.kmsKeyId,
          PolicyName: 'default',
          BypassPolicyLockoutSafetyCheck: true,
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Principal: { AWS: own.principalArn }, Action: 'kms:*', Resource: '*' }],
          }),
        }),
      ),
      ['AccessDeniedException'],
    );
    await rejectsNamed(
      walletKms.send(new CreateGrantCommand({ KeyId: record.envelope.kmsKeyId, GranteePrincipal: own.principalArn, Operations: ['Decrypt'] })),
      ['AccessDeniedException', 'UnknownOperationException', 'UnsupportedOperationException'],
    );
  });

  test("ciphertexts moved to another user's record do not open", async () => {
    const db = server.custodian.deps.store.db;
    const aliceUser = await db.selectFrom('wallet_users').selectAll().where('sub', '=', alice.sub).executeTakeFirstOrThrow();
    const bobUser = await db.selectFrom('wallet_users').selectAll().where('sub', '=', bob.sub).executeTakeFirstOrThrow();
    const aliceRow = await db.selectFrom('wallets').selectAll().where('user_id', '=', aliceUser.id).executeTakeFirstOrThrow();
    const bobRow = await db.selectFrom('wallets').selectAll().where('user_id', '=', bobUser.id).executeTakeFirstOrThrow();
    const restore = () =>
      db
        .updateTable('wallets')
        .set({
          encrypted_private_key: bobRow.encrypted_private_key,
          encrypted_data_key: bobRow.encrypted_data_key,
          kms_key_id: bobRow.kms_key_id,
          address: bobRow.address,
        })
        .where('id', '=', bobRow.id)
        .execute();
    try {
      // Both ciphertexts (alice's data key is under alice's master key; bob's record names bob's).
      await db
        .updateTable('wallets')
        .set({ encrypted_private_key: aliceRow.encrypted_private_key, encrypted_data_key: aliceRow.encrypted_data_key })
        .where('id', '=', bobRow.id)
        .execute();
      await rejectsNamed((await bobDevice.getWallet()).signer().signMessage('x'), [
        'IncorrectKeyException',
        'AccessDeniedException',
        'InvalidCiphertextException',
      ]);
      // And naming alice's master key too.
      await db.updateTable('wallets').set({ kms_key_id: aliceRow.kms_key_id }).where('id', '=', bobRow.id).execute();
      await rejectsNamed((await bobDevice.getWallet()).signer().signMessage('x'), ['AccessDeniedException', 'InvalidCiphertextException']);
      // Only the sealed key, beside bob's own data key: AES-GCM refuses it (another data key, another address and owner).
      await restore();
      await db.updateTable('wallets').set({ encrypted_private_key: aliceRow.encrypted_private_key }).where('id', '=', bobRow.id).execute();
      await rejectsNamed((await bobDevice.getWallet()).signer().signMessage('x'), ['DECRYPT_FAILED']);
      // Alice's whole wallet (address too) under bob's record: bob's session cannot use alice's data key.
      // (An address has one owner, UNIQUE in the store: the attacker moves alice's row aside first.)
      await db.updateTable('wallets').set({ address: '0x000000000000000000000000000000000000dEaD' }).where('id', '=', aliceRow.id).execute();
      await db
        .updateTable('wallets')
        .set({
          encrypted_private_key: aliceRow.encrypted_private_key,
          encrypted_data_key: aliceRow.encrypted_data_key,
          kms_key_id: aliceRow.kms_key_id,
          address: aliceRow.address,
        })
        .where('id', '=', bobRow.id)
        .execute();
      await rejectsNamed((await bobDevice.getWallet()).signer().signMessage('x'), ['AccessDeniedException', 'InvalidCiphertextException']);
    } finally {
      await restore();
      await db.updateTable('wallets').set({ address: aliceRow.address }).where('id', '=', aliceRow.id).execute();
    }
    // Bob's own wallet still works after the restore.
    const w = await bobDevice.getWallet();
    assert.equal(verifyMessage('x', await w.signer().signMessage('x')), w.address);
  });

  test("the whole database plus the wallet service's credentials do not yield a key", async () => {
    // Open alice's key the legitimate way, to know what must appear nowhere.
    const record = await (await fetch(`${server.endpoint}/v1/wallets/me`, { headers: { authorization: `Bearer ${await alice.token()}` } })).json();
    const aliceKms = kmsAs(await aliceDevice.credentials());
    const dataKey = (
      await aliceKms.send(
        new DecryptCommand({ CiphertextBlob: Buffer.from(record.envelope.encryptedDataKey, 'base64'), EncryptionContext: { sub: alice.sub } }),
      )
    ).Plaintext!;
    const privateKey = await openPrivateKey({
      dataKey,
      sealed: Buffer.from(record.envelope.encryptedPrivateKey, 'base64'),
      address: aliceAddress,
      owner: alice.sub,
    });
    const needles = [privateKey, dataKey].flatMap((b) => {
      const buf = Buffer.from(b);
      return [buf.toString('hex'), buf.toString('base64'), buf.toString('latin1')];
    });

    // Every table, every row (the embedded store holds the wallet store's and the custodian's tables alike).
    const db = server.custodian.deps.store.db;
    const tables =
      server.custodian.deps.store.dialect === 'postgres'
        ? (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(db)).rows.map(
            (r) => r.name,
          )
        : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows.map((r) => r.name);
    assert.ok(tables.includes('wallets') && tables.includes('kms_key_material') && tables.includes('sts_sessions'), tables.join(','));
    let rows = 0;
    for (const t of tables) {
      const all = await db
        .selectFrom(t as never)
        .selectAll()
        .execute();
      rows += all.length;
      const dump = JSON.stringify(all, (_k, v) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v && v.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v,
      );
      for (const n of needles) assert.ok(!dump.includes(n), `table ${t} holds key material in clear`);
    }
    assert.ok(rows > 10);

    // With the wallet service's credentials, every stored data key stays shut.
    const { deps } = server.custodian;
    const own = (await provisionWalletServicePrincipal({ store: deps.store, root: deps.root, accountId, now: Date.now() }))!;
    const walletKms = kmsAs({ accessKeyId: own.accessKeyId, secretAccessKey: own.secretAccessKey });
    const wallets = await db
      .selectFrom('wallets')
      .innerJoin('wallet_users', 'wallet_users.id', 'wallets.user_id')
      .select(['wallets.encrypted_data_key', 'wallet_users.sub'])
      .execute();
    assert.ok(wallets.length >= 2);
    for (const w of wallets) {
      await rejectsNamed(walletKms.send(new DecryptCommand({ CiphertextBlob: w.encrypted_data_key!, EncryptionContext: { sub: w.sub } })), [
        'AccessDeniedException',
      ]);
    }
    privateKey.fill(0);
    dataKey.fill(0);
  });

  test('any OIDC provider: a token from an external issuer creates and signs with its own wallet', async () => {
    const token = await external.mint({ sub: 'ext-carol', email: 'carol@idp.example' });
    const carol = device(token);
    const wallet = await carol.createWallet();
    assert.equal(verifyMessage('external', await wallet.signer().signMessage('external')), wallet.address);
    assert.equal((await carol.credentials()).subject, 'ext-carol');
  });

  test('STS refuses tokens it must: expired, untrusted issuer, wrong audience, alg none, forged signature', async () => {
    const roleArn = walletUsersRoleArn(accountId);
    const sts = (token: string) => assumeRoleWithWebIdentity({ endpoint: server.endpoint, roleArn, roleSessionName: 'attack', webIdentityToken: token });
    const now = Math.floor(Date.now() / 1000);
    await rejectsNamed(sts(await external.mint({ sub: 'ext-carol' }, { iat: now - 7200, exp: now - 3600 })), ['ExpiredTokenException'], /Token expired/);
    await rejectsNamed(
      sts(await external.mint({ sub: 'ext-carol' }, { iss: 'https://evil.example' })),
      ['InvalidIdentityToken'],
      /No OpenIDConnect provider found in your account for https:\/\/evil\.example/,
    );
    await rejectsNamed(sts(await external.mint({ sub: 'ext-carol' }, { aud: 'someone-else' })), ['InvalidIdentityToken'], /Incorrect token audience/);
    await rejectsNamed(
      sts(new UnsecuredJWT({ sub: 'ext-carol' }).setIssuer(external.issuer).setAudience(EXTERNAL_AUDIENCE).setIssuedAt().setExpirationTime('10m').encode()),
      ['InvalidIdentityToken'],
    );
    // The right issuer, kid and claims, signed with another key.
    const { privateKey: stranger } = await generateKeyPair('ES256');
    await rejectsNamed(sts(await external.mint({ sub: 'ext-carol' }, { key: stranger })), ['InvalidIdentityToken'], /signature/);
    // A genuine built-in token whose payload was edited to name another user.
    const good = await alice.token();
    const [h, , sig] = good.split('.');
    await rejectsNamed(sts(`${h}.${Buffer.from(JSON.stringify({ ...decodeJwt(good), sub: bob.sub })).toString('base64url')}.${sig}`), ['InvalidIdentityToken']);
    // The device sees STS's refusal as an StsError, and never reaches the wallet.
    const refused = device(await external.mint({ sub: 'ext-carol' }, { aud: 'someone-else' }));
    await assert.rejects(refused.credentials(), (e: unknown) => e instanceof StsError && (e as StsError).code === 'InvalidIdentityToken');
    await assert.rejects(device('not-a-jwt').getWallet(), (e: unknown) => e instanceof EnvelopeError && (e as EnvelopeError).code === 'BAD_TOKEN');
  });
});
