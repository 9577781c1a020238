/**
 * Split and envelope wallets from every linked login (docs/signer.md,
 * "Linked logins"; docs/identity.md, "Linking a login that was used
 * before"), against a real listening server, the signer as a child process
 * attested by the custodian's platform key, and @symbolon/sdk's clients:
 *
 * - a split wallet made from login 1 signs; login 2 (used before: it has a
 *   user id and a master key of its own, which never protected anything) is
 *   linked, its key is retired (PendingDeletion); login 2 signs with the same
 *   address; login 1 is unlinked; login 2 still signs, rotates, signs again,
 *   adds the device factor and signs with it;
 * - a login of another user gets share A refused (release_refused), and so
 *   does the unlinked login 1, back as a new user;
 * - a split wallet made from login 1 is exported from linked login 2 through
 *   SplitWalletClient.exportKey (the key derives the address; the Decrypt is
 *   audited as an export of login 2's session); another user's login is
 *   refused the export (release_refused, audited as a denied export);
 * - a split wallet is created from login 2 linked before any wallet existed
 *   (login 2 used at STS only, or never used) and signs from both logins; its
 *   context names login 1's sub (the key's pre-linking sub);
 * - login 1 seen only at STS, login 2 the wallet service's first request:
 *   the wallet made from login 2 names login 1's sub (STS's `osub` for the
 *   user), and signs, rotates and exports from both logins; another user's
 *   login is refused share A;
 * - a login that made an empty wallet user of its own and is then merged
 *   into another user creates a wallet at once (its old row taken over when
 *   the other user has none, that user's row otherwise); both logins sign;
 * - login 1, unlinked from the user whose wallet it created, is refused by
 *   the wallet service (login_moved);
 * - a login whose user protected data with its key cannot be linked
 *   (LoginInUse), nor one whose user has other logins; nothing changes;
 * - an envelope wallet is created from login 2 of a linked user and opens
 *   from login 1.
 *
 * Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { verifyMessage, type Hex } from 'viem';
import { CreateKeyCommand, GenerateDataKeyCommand, GetKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { REGION, startTestServer, type TestServer } from './helpers/server.js';
import { staticIssuer, type StaticIssuer } from './helpers/static-issuer.js';
import { launchCustodianSigner } from './helpers/signer-fixture.js';
import { splitDevice } from './helpers/split-world.js';
import { getPublicKey } from '../src/crypto/secp256k1.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { generateExportKeyPair } from '../packages/sdk/src/split/keyExport.js';
import { bearerJson } from './helpers/split-device.js';
import { webIdentityKms } from './helpers/web-identity-kms.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { walletUsersRoleArn } from '../src/iam/roles/wallet-users-role.js';
import { identityLinksOfUser } from '../src/storage/sts-identity-links.repository.js';
import { WALLET_SERVICE_USER } from '../src/wallet/wallet-principal.js';
import {
  EnvelopeWalletClient,
  linkWebIdentity,
  listWebIdentityLinks,
  masterKeyPolicy,
  memoryDeviceKeyStore,
  unlinkWebIdentity,
  type DeviceKeyStore,
  type SplitWalletClient,
} from '../packages/sdk/src/index.js';

const AUDIENCE = 'symbolon-split-link-test';

describe('split and envelope wallets from every linked login', () => {
  let server: TestServer;
  let signer: SignerProcess;
  let idp: StaticIssuer;
  let accountId: string;
  const clients: Array<{ destroy(): void }> = [];
  const sub = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;
  const token = (s: string) => () => idp.mint({ sub: s });

  function device(s: string, deviceKeys?: DeviceKeyStore): SplitWalletClient {
    const c = splitDevice(server, signer.url, token(s), deviceKeys ? { deviceKeys } : {});
    clients.push(c);
    return c;
  }

  async function kmsOf(t: string): Promise<KMSClient> {
    const kms = await webIdentityKms(server, t);
    clients.push(kms);
    return kms;
  }

  const uidOf = async (s: string) => (await listWebIdentityLinks({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: s }) })).userId;

  /** A template-3 master key of `uid`, as the wallet service makes one (the administrator here). */
  async function masterKeyOf(uid: string, s: string): Promise<string> {
    const policy = masterKeyPolicy({ accountId, uid, sub: s, walletServicePrincipalArn: `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}` });
    const out = await server.kms().send(new CreateKeyCommand({ Policy: policy, BypassPolicyLockoutSafetyCheck: true }));
    return out.KeyMetadata!.KeyId!;
  }

  const keyState = async (keyId: string) =>
    (await server.custodian.deps.store.db.selectFrom('kms_keys').select('key_state').where('key_id', '=', keyId).executeTakeFirstOrThrow()).key_state;

  /** Another user's login, with the wallet's shares and context, is refused share A (release_refused). */
  async function strangerRefused(
    address: string,
    shares: { shareB: string; shareACiphertext: string; kmsKeyId: string; generation: number; encryptionContext: { sub: string } },
  ): Promise<void> {
    const stranger = await bearerJson(`${signer.url}/v1/sign`, 'POST', await idp.mint({ sub: sub('mallory') }), {
      payload: { type: 'message', message: 'not yours' },
      address,
      shareB: shares.shareB,
      shareACiphertext: shares.shareACiphertext,
      keyId: shares.kmsKeyId,
      generation: shares.generation,
      contextSub: shares.encryptionContext.sub,
    });
    assert.equal(stranger.status, 403, JSON.stringify(stranger.json));
    assert.equal(stranger.json.error.code, 'release_refused');
  }

  async function signs(d: SplitWalletClient, address: string, message: string): Promise<void> {
    const out = await d.sign({ type: 'message', message });
    assert.equal(out.type, 'message');
    if (out.type !== 'message') return;
    assert.equal(await verifyMessage({ address: address as Hex, message, signature: out.signature }), true, `${message}: the wallet's address`);
  }

  async function lastSeq(): Promise<number> {
    await server.custodian.audit.flush();
    const row = await server.custodian.deps.store.db.selectFrom('audit_events').select(['seq']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return Number(row?.seq ?? 0);
  }

  /** The custodian's Decrypt events after `seq`, flushed first. */
  async function decryptEvents(seq: number) {
    await server.custodian.audit.flush();
    return server.custodian.deps.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', seq)
      .where('operation', '=', 'Decrypt')
      .orderBy('seq')
      .execute();
  }

  async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
    await assert.rejects(p, (e: any) => {
      assert.equal(e.code ?? e.name, code, `expected ${code}, got ${e.code ?? e.name}: ${e.message}`);
      return true;
    });
  }

  before(async () => {
    idp = await staticIssuer(AUDIENCE);
    server = await startTestServer({ env: { SYMBOLON_OIDC_ISSUERS: JSON.stringify([idp.config]) } });
    accountId = server.custodian.accountId;
    signer = await launchCustodianSigner(server);
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await signer?.stop();
    await server?.close();
  });

  test('a split wallet signs from a linked login that was used before, after the first login is unlinked, and rotates; other users are refused share A', async () => {
    const s1 = sub('carol-first');
    const s2 = sub('carol-second');
    const one = device(s1);
    const wallet = await one.createWallet();
    await signs(one, wallet.address, 'from login 1');
    const uid = await uidOf(s1);

    // Login 2 was used before: the custodian gave it a user id, and that user a master key (never used).
    const uid2 = await uidOf(s2);
    assert.notEqual(uid2, uid);
    const unusedKey = await masterKeyOf(uid2, s2);

    const linked = await linkWebIdentity({
      endpoint: server.endpoint,
      webIdentityToken: await idp.mint({ sub: s1 }),
      linkedWebIdentityToken: await idp.mint({ sub: s2 }),
    });
    assert.equal(linked.userId, uid);
    assert.equal(linked.identities.length, 2);
    assert.equal(await uidOf(s2), uid, 'login 2 is the user now');
    assert.equal(await keyState(unusedKey), 'PendingDeletion', "the old user's unused key is retired");
    assert.deepEqual(await identityLinksOfUser(server.custodian.deps.store.db, uid2), [], 'the old user has no login left');
    const audit = await server.custodian.deps.store.db
      .selectFrom('audit_events')
      .select(['principal_tags', 'outcome'])
      .where('operation', '=', 'LinkWebIdentity')
      .where('outcome', '=', 'allowed')
      .execute();
    assert.ok(
      audit.some((e) => {
        const tags = JSON.parse(e.principal_tags);
        return tags.fromUid === uid2 && tags.retiredKeys === unusedKey && tags.uid === uid;
      }),
      'the merge is audited with the old user and the retired key',
    );

    // Login 2 signs with the same address; share A's context keeps login 1's sub.
    const two = device(s2);
    const record = await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: s2 }));
    assert.equal(record.status, 200);
    assert.equal(record.json.address, wallet.address);
    assert.equal(record.json.split.encryptionContext.sub, s1);
    await signs(two, wallet.address, 'from login 2');

    // Login 1 is lost: unlinked with login 2; login 2 still signs and rotates, and signs after.
    await unlinkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: s2 }), identity: { issuer: idp.issuer, subject: s1 } });
    const after = device(s2);
    await signs(after, wallet.address, 'after unlinking login 1');
    const rotated = await after.rotateShares();
    assert.equal(rotated.generation, 1);
    assert.equal(rotated.address, wallet.address);
    await signs(device(s2), wallet.address, 'after the rotation');

    // Another user's login with the wallet's shares (as a wallet service could hand them over): share A is not released.
    const shares = (await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: s2 }))).json.split;
    const body = {
      payload: { type: 'message', message: 'not yours' },
      address: wallet.address,
      shareB: shares.shareB,
      shareACiphertext: shares.shareACiphertext,
      keyId: shares.kmsKeyId,
      generation: shares.generation,
      contextSub: shares.encryptionContext.sub,
    };
    const stranger = sub('mallory');
    const refused = await bearerJson(`${signer.url}/v1/sign`, 'POST', await idp.mint({ sub: stranger }), body);
    assert.equal(refused.status, 403, JSON.stringify(refused.json));
    assert.equal(refused.json.error.code, 'release_refused');
    // The unlinked login 1 is a new user now: refused the same way.
    const comeback = await bearerJson(`${signer.url}/v1/sign`, 'POST', await idp.mint({ sub: s1 }), body);
    assert.equal(comeback.json.error.code, 'release_refused');
    // The same request with login 2's token signs: the refusals were the logins, not the request.
    const ok = await bearerJson(`${signer.url}/v1/sign`, 'POST', await idp.mint({ sub: s2 }), body);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    // Without contextSub the signer asks under login 2's own sub, which the key policy does not allow.
    const { contextSub: _omitted, ...withoutContextSub } = body;
    const ownSub = await bearerJson(`${signer.url}/v1/sign`, 'POST', await idp.mint({ sub: s2 }), withoutContextSub);
    assert.equal(ownSub.json.error.code, 'release_refused');

    // Login 2 manages the device factor: a third share on its device, and signs with it.
    const phone = device(s2, memoryDeviceKeyStore());
    const factor = await phone.addDeviceFactor();
    assert.equal(factor.generation, 2);
    assert.match(factor.recoveryCode, /\S/);
    await signs(phone, wallet.address, 'with the device factor');
  });

  test('a split wallet made from login 1 is exported from linked login 2 (audited as an export); a login of another user is refused', async () => {
    const s1 = sub('heidi');
    const s2 = sub('heidi-second');
    const one = device(s1);
    const wallet = await one.createWallet();
    const uid = await uidOf(s1);
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: s1 }), linkedWebIdentityToken: await idp.mint({ sub: s2 }) });

    // Login 2 exports through the SDK: HPKE to a key pair the device made; the key derives the wallet's address.
    await server.custodian.audit.flush();
    const from = await lastSeq();
    const exported = await device(s2).exportKey((key) => publicKeyToAddress(getPublicKey(key)));
    assert.equal(exported, wallet.address);
    const events = await decryptEvents(from);
    const exports = events.filter((e) => e.release_purpose === 'export');
    assert.equal(exports.length, 1, JSON.stringify(events.map((e) => [e.outcome, e.release_purpose])));
    assert.equal(exports[0]!.outcome, 'allowed');
    const tags = JSON.parse(exports[0]!.principal_tags);
    assert.equal(tags.sub, s2, "the release is audited with login 2's session");
    assert.equal(tags.uid, uid);
    assert.equal(JSON.parse(exports[0]!.encryption_context!).sub, s1, "share A's context keeps login 1's sub");

    // A login of another user, with the wallet's shares and contextSub: share A is not released for the export.
    const shares = (await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: s2 }))).json.split;
    const { keyPair: _unused, publicKey } = await generateExportKeyPair();
    const body = {
      address: wallet.address,
      shareB: shares.shareB,
      shareACiphertext: shares.shareACiphertext,
      keyId: shares.kmsKeyId,
      generation: shares.generation,
      contextSub: shares.encryptionContext.sub,
      publicKey: Buffer.from(publicKey).toString('base64'),
    };
    const before = await lastSeq();
    const refused = await bearerJson(`${signer.url}/v1/export`, 'POST', await idp.mint({ sub: sub('mallory') }), body);
    assert.equal(refused.status, 403, JSON.stringify(refused.json));
    assert.equal(refused.json.error.code, 'release_refused');
    assert.deepEqual(Object.keys(refused.json), ['error']);
    const denied = (await decryptEvents(before)).map((e) => [e.outcome, e.release_purpose]);
    assert.deepEqual(denied, [['denied', 'export']], 'the refusal is audited as a denied export');
    // The same request with login 2's token exports: the refusal was the login, not the request.
    const ok = await bearerJson(`${signer.url}/v1/export`, 'POST', await idp.mint({ sub: s2 }), body);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.address, wallet.address);
  });

  test('a split wallet is created from login 2 linked before any wallet existed, and signs from both logins', async () => {
    // Login 1 has a wallet user (and master key) but no wallet; login 2 was used at STS only (a user id of its own, holding nothing).
    const s1 = sub('ivan');
    const s2 = sub('ivan-second');
    const first = device(s1);
    const me = await first.envelope.me();
    assert.equal(me.wallet ?? null, null, 'no wallet yet');
    const uid = await uidOf(s1);
    assert.notEqual(await uidOf(s2), uid);
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: s1 }), linkedWebIdentityToken: await idp.mint({ sub: s2 }) });
    assert.equal(await uidOf(s2), uid);

    const created = await device(s2).createWallet();
    const record = await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: s1 }));
    assert.equal(record.status, 200);
    assert.equal(record.json.address, created.address);
    // docs/signer.md, "Linked logins": the key's pre-linking sub, the login whose wallet user made the master key.
    assert.equal(record.json.split.encryptionContext.sub, s1);
    assert.equal(record.json.split.kmsKeyId, me.masterKeyId, 'one user, one master key');
    await signs(device(s2), created.address, 'made from login 2, signed from login 2');
    await signs(device(s1), created.address, 'made from login 2, signed from login 1');

    // Another user's login is refused share A for this wallet.
    const shares = record.json.split;
    await strangerRefused(created.address, shares);

    // Login 2 never used anywhere before the link: the same.
    const n1 = sub('ken');
    const n2 = sub('ken-second');
    const keyOfN = (await device(n1).envelope.me()).masterKeyId;
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: n1 }), linkedWebIdentityToken: await idp.mint({ sub: n2 }) });
    const made = await device(n2).createWallet();
    const rec = await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: n2 }));
    assert.equal(rec.json.address, made.address);
    assert.equal(rec.json.split.encryptionContext.sub, n1);
    assert.equal(rec.json.split.kmsKeyId, keyOfN);
    await signs(device(n1), made.address, 'ken, login 1');
    await signs(device(n2), made.address, 'ken, login 2');
  });

  test('a split wallet created from login 2 when login 1 was seen only at STS signs, rotates and exports from both logins', async () => {
    // Login 1 is seen only at STS (its user id is created there); login 2, linked to it, is the wallet service's first request.
    const t1 = sub('judy');
    const t2 = sub('judy-second');
    const uid = await uidOf(t1);
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: t1 }), linkedWebIdentityToken: await idp.mint({ sub: t2 }) });
    assert.equal(await uidOf(t2), uid);
    const made = await device(t2).createWallet();
    const rec = await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: t1 }));
    assert.equal(rec.json.address, made.address);
    // The context names the sub STS tags the user's sessions `osub` with (login 1's), and the master key allows it.
    assert.equal(rec.json.split.encryptionContext.sub, t1);
    const me = await bearerJson(`${server.endpoint}/v1/me`, 'GET', await idp.mint({ sub: t2 }));
    const walletArn = `arn:aws:iam::${accountId}:user/${WALLET_SERVICE_USER}`;
    const policy = await (await kmsOf(await idp.mint({ sub: t2 }))).send(new GetKeyPolicyCommand({ KeyId: me.json.masterKeyId, PolicyName: 'default' }));
    assert.deepEqual(JSON.parse(policy.Policy!), JSON.parse(masterKeyPolicy({ accountId, uid, sub: t1, walletServicePrincipalArn: walletArn })));
    await signs(device(t2), made.address, 'from the second login');
    await signs(device(t1), made.address, 'from the first login');
    const rotated = await device(t1).rotateShares();
    assert.equal(rotated.address, made.address);
    await signs(device(t2), made.address, 'from the second login, after login 1 rotated');
    assert.equal(await device(t1).exportKey((key) => publicKeyToAddress(getPublicKey(key))), made.address);
    assert.equal(await device(t2).exportKey((key) => publicKeyToAddress(getPublicKey(key))), made.address);

    // Nobody else: another user's login with the wallet's shares and context is refused share A.
    const shares = (await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: t2 }))).json.split;
    await strangerRefused(made.address, shares);
  });

  test('a login that made an empty wallet user of its own, then was merged into another user, creates a wallet at once; both logins sign', async () => {
    // Login 1 seen only at STS; login 2 reached the wallet service first: a wallet user and a master key of its own, unused.
    const s1 = sub('kim');
    const s2 = sub('kim-second');
    const uid = await uidOf(s1);
    const own = (await bearerJson(`${server.endpoint}/v1/me`, 'GET', await idp.mint({ sub: s2 }))).json;
    assert.notEqual(own.userId, uid);
    assert.equal(own.wallet, null);
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: s1 }), linkedWebIdentityToken: await idp.mint({ sub: s2 }) });
    assert.equal(await keyState(own.masterKeyId), 'PendingDeletion', "the merge retired login 2's old key");

    // At once (within the wallet service's user-id cache): login 2's old row is its user's now, with a new key of that user.
    const made = await device(s2).createWallet();
    const me2 = (await bearerJson(`${server.endpoint}/v1/me`, 'GET', await idp.mint({ sub: s2 }))).json;
    assert.equal(me2.id, own.id, 'the row login 2 made, taken over');
    assert.equal(me2.userId, uid);
    assert.notEqual(me2.masterKeyId, own.masterKeyId);
    assert.equal(me2.wallet.address, made.address);
    const me1 = (await bearerJson(`${server.endpoint}/v1/me`, 'GET', await idp.mint({ sub: s1 }))).json;
    assert.equal(me1.id, own.id, 'login 1 reaches the same row');
    const rec = await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: s1 }));
    assert.equal(rec.json.split.encryptionContext.sub, s1, "the context names the user's osub");
    assert.equal(rec.json.split.kmsKeyId, me2.masterKeyId);
    await signs(device(s2), made.address, 'kim, login 2');
    await signs(device(s1), made.address, 'kim, login 1');

    // Login 1 had a wallet user too (no wallet): login 2, merged in, gets login 1's row and key at once.
    const n1 = sub('lou');
    const n2 = sub('lou-second');
    const first = (await bearerJson(`${server.endpoint}/v1/me`, 'GET', await idp.mint({ sub: n1 }))).json;
    const second = (await bearerJson(`${server.endpoint}/v1/me`, 'GET', await idp.mint({ sub: n2 }))).json;
    assert.notEqual(second.id, first.id);
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: n1 }), linkedWebIdentityToken: await idp.mint({ sub: n2 }) });
    const louWallet = await device(n2).createWallet();
    const louRecord = await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: n2 }));
    assert.equal(louRecord.json.address, louWallet.address);
    assert.equal(louRecord.json.split.kmsKeyId, first.masterKeyId, "login 1's user and key");
    await signs(device(n1), louWallet.address, 'lou, login 1');
    await signs(device(n2), louWallet.address, 'lou, login 2');
  });

  test('a login unlinked from the user whose wallet it created is refused by the wallet service (login_moved); the user keeps the wallet', async () => {
    const a = sub('olga');
    const b = sub('olga-second');
    // Only createWallet from login a: its user id was never cached with a wallet (the cache would carry it a minute).
    const wallet = await device(a).createWallet();
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: a }), linkedWebIdentityToken: await idp.mint({ sub: b }) });
    await unlinkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: b }), identity: { issuer: idp.issuer, subject: a } });
    for (const path of ['/v1/me', '/v1/wallets/me']) {
      const moved = await bearerJson(`${server.endpoint}${path}`, 'GET', await idp.mint({ sub: a }));
      assert.equal(moved.status, 409, JSON.stringify(moved.json));
      assert.equal(moved.json.error.code, 'login_moved');
    }
    const kept = await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await idp.mint({ sub: b }));
    assert.equal(kept.json.address, wallet.address);
    await signs(device(b), wallet.address, 'olga, login b');
  });

  test('a used login whose key protected data, or whose user has other logins, is not linked (LoginInUse); nothing changes', async () => {
    const owner = sub('dave');
    const used = sub('dave-used');
    await uidOf(owner);
    const uidUsed = await uidOf(used);
    const keyId = await masterKeyOf(uidUsed, used);
    const usedToken = await idp.mint({ sub: used });
    await (await kmsOf(usedToken)).send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { uid: uidUsed } }));
    await rejectsCode(
      linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: owner }), linkedWebIdentityToken: await idp.mint({ sub: used }) }),
      'LoginInUse',
    );
    assert.equal(await uidOf(used), uidUsed, 'the login stays with its user');
    assert.equal(await keyState(keyId), 'Enabled', 'its key is untouched');

    // A user with two logins is never merged into another.
    const pair1 = sub('erin');
    const pair2 = sub('erin-second');
    await uidOf(pair1);
    await linkWebIdentity({
      endpoint: server.endpoint,
      webIdentityToken: await idp.mint({ sub: pair1 }),
      linkedWebIdentityToken: await idp.mint({ sub: pair2 }),
    });
    await rejectsCode(
      linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: owner }), linkedWebIdentityToken: await idp.mint({ sub: pair2 }) }),
      'LoginInUse',
    );
    assert.equal(await uidOf(pair2), await uidOf(pair1));
    await server.custodian.audit.flush();
    const denied = await server.custodian.deps.store.db
      .selectFrom('audit_events')
      .select('error_code')
      .where('operation', '=', 'LinkWebIdentity')
      .where('outcome', '=', 'denied')
      .execute();
    assert.ok(denied.filter((e) => e.error_code === 'LoginInUse').length >= 2, 'refusals are audited');
  });

  test('an envelope wallet is created from the second login of a linked user and opens from the first', async () => {
    const s1 = sub('frank');
    const s2 = sub('frank-second');
    const envelope = (s: string) => {
      const c = new EnvelopeWalletClient({
        walletUrl: server.endpoint,
        custodianUrl: server.endpoint,
        region: REGION,
        roleArn: walletUsersRoleArn(accountId),
        token: token(s),
        kmsClientConfig: { maxAttempts: 1 },
      });
      clients.push(c);
      return c;
    };
    const first = envelope(s1);
    const me = await first.me();
    await linkWebIdentity({ endpoint: server.endpoint, webIdentityToken: await idp.mint({ sub: s1 }), linkedWebIdentityToken: await idp.mint({ sub: s2 }) });
    const created = await envelope(s2).createWallet();
    const sig = await created.signer().signMessage('made from login 2');
    assert.equal(await verifyMessage({ address: created.address, message: 'made from login 2', signature: sig as Hex }), true);
    const opened = await envelope(s1).getWallet();
    assert.equal(opened.address, created.address);
    assert.equal(await verifyMessage({ address: created.address, message: 'login 1', signature: (await opened.signer().signMessage('login 1')) as Hex }), true);
    assert.equal((await envelope(s2).me()).masterKeyId, me.masterKeyId, 'one user, one master key');
    // Another user cannot open it: their own record is empty, and the record's context names a sub their key does not.
    await rejectsCode(envelope(sub('grace')).getWallet(), 'NO_WALLET');
  });
});
