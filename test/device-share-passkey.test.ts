/**
 * The device share's passkey wrap (docs/signer.md, "The passkey wrap") over
 * the real wallet service, custodian and signer, with SplitWalletClient
 * devices: share C is wrapped a third time under a key derived from a
 * passkey's PRF output, stored with the shares, kept by plain rotations, and
 * opened by a device that holds no device key but can evaluate the passkey
 * (the frame in a DApp of another site, test/frame-device-share-prf.test.ts,
 * with Chromium's authenticator). Here the PRF is computed in the test as
 * an authenticator does (WebAuthn's PRF over CTAP2 hmac-secret:
 * HMAC-SHA-256(credential secret, SHA-256("WebAuthn PRF" ‖ 0 ‖ input))).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { verifyMessage, type Hex } from 'viem';
import { emailLogin } from './helpers/email-login.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { bearerJson, splitDevice } from './helpers/split-world.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { launchCustodianSigner } from './helpers/signer-fixture.js';
import { memoryDeviceKeyStore, type DeviceKeyStore, type OidcSession, type PasskeyPrf, type SplitWalletClient } from '../packages/sdk/src/index.js';
import { passkeyCredentialIdOf, PASSKEY_PRF_INPUT } from '../packages/sdk/src/split/deviceShare.js';

interface Shares {
  generation: number;
  shareACiphertext: string;
  shareB: string;
  factor?: 'device';
  shareCWrapped?: string;
  shareCRecoveryWrapped?: string;
  shareCPasskeyWrapped?: string;
}

/** A passkey's PRF as its authenticator computes it; counts its evaluations. */
function passkey(): { credentialId: Uint8Array; prf: PasskeyPrf; evaluations: number } {
  const secret = randomBytes(32);
  const p = {
    credentialId: new Uint8Array(randomBytes(16)),
    evaluations: 0,
    prf: async (r: { allow: Uint8Array[]; input: Uint8Array }) => {
      assert.ok(
        r.allow.some((id) => Buffer.from(id).equals(Buffer.from(p.credentialId))),
        'the request names this passkey',
      );
      p.evaluations++;
      const salt = createHash('sha256')
        .update(Buffer.concat([Buffer.from('WebAuthn PRF'), Buffer.from([0]), r.input]))
        .digest();
      return { credentialId: p.credentialId.slice(), output: new Uint8Array(createHmac('sha256', secret).update(salt).digest()) };
    },
  };
  return p;
}

describe('the device share wrapped under a passkey’s PRF output', () => {
  let server: TestServer;
  let signer: SignerProcess;
  const clients: Array<{ destroy(): void }> = [];
  let bob: OidcSession;
  let address: string;
  const phone = memoryDeviceKeyStore();
  const key = passkey();

  function device(options: { deviceKeys?: DeviceKeyStore; passkeyPrf?: PasskeyPrf } = {}): SplitWalletClient {
    const c = splitDevice(server, signer.url, bob, options);
    clients.push(c);
    return c;
  }

  async function stored(): Promise<Shares> {
    const r = await bearerJson(`${server.endpoint}/v1/wallets/me`, 'GET', await bob.token());
    assert.equal(r.status, 200);
    return r.json.split as Shares;
  }

  async function signs(client: SplitWalletClient, message: string): Promise<void> {
    const signed = await client.sign({ type: 'message', message });
    assert.ok(await verifyMessage({ address: address as Hex, message, signature: (signed as { signature: Hex }).signature }), message);
  }

  before(async () => {
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
    signer = await launchCustodianSigner(server);
    bob = await emailLogin(`${server.endpoint}/oidc`, 'bob@example.com');
    address = (await device().createWallet()).address;
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await signer?.stop();
    await server?.close();
  });

  test('added with a passkey: the store holds a third wrap naming the credential; a device without the key signs with the passkey', async () => {
    const prf = await key.prf({ allow: [key.credentialId], input: PASSKEY_PRF_INPUT });
    const added = await device({ deviceKeys: phone }).addDeviceFactor({ passkeyPrf: prf });
    assert.equal(added.address, address);
    const shares = await stored();
    assert.equal(shares.factor, 'device');
    assert.ok(shares.shareCPasskeyWrapped, 'the passkey wrap is stored');
    const wrapped = new Uint8Array(Buffer.from(shares.shareCPasskeyWrapped, 'base64'));
    assert.deepEqual(passkeyCredentialIdOf(wrapped), key.credentialId);
    assert.ok(!Buffer.from(wrapped).includes(Buffer.from(prf.output)), 'the wrap does not carry the PRF output');

    // The device that added it signs with its device key, without the passkey.
    const before = key.evaluations;
    await signs(device({ deviceKeys: phone, passkeyPrf: key.prf }), 'with the device key');
    assert.equal(key.evaluations, before, 'the device key comes first: no passkey ceremony');
    // Another place (no device key): the passkey unwraps C.
    await signs(device({ deviceKeys: memoryDeviceKeyStore(), passkeyPrf: key.prf }), 'with the passkey');
    assert.equal(key.evaluations, before + 1);
    // Without a passkey evaluator, as before.
    await assert.rejects(device({ deviceKeys: memoryDeviceKeyStore() }).sign({ type: 'message', message: 'x' }), { code: 'DEVICE_KEY_MISSING' });
  });

  test('another passkey’s PRF output opens nothing, and nothing is signed', async () => {
    const other = passkey();
    const wrongPrf: PasskeyPrf = async (r) => other.prf({ ...r, allow: [other.credentialId] });
    await assert.rejects(device({ deviceKeys: memoryDeviceKeyStore(), passkeyPrf: wrongPrf }).sign({ type: 'message', message: 'x' }), {
      code: 'PASSKEY_PRF_MISMATCH',
    });
  });

  test('a plain rotation keeps the passkey wrap; the passkey still signs', async () => {
    const before = await stored();
    await device({ deviceKeys: memoryDeviceKeyStore(), passkeyPrf: key.prf }).rotateShares();
    const now = await stored();
    assert.equal(now.generation, before.generation + 1);
    assert.equal(now.shareCPasskeyWrapped, before.shareCPasskeyWrapped);
    assert.equal(now.shareCWrapped, before.shareCWrapped);
    await signs(device({ deviceKeys: memoryDeviceKeyStore(), passkeyPrf: key.prf }), 'after a rotation');
  });

  test('the wallet store takes a passkey wrap only with the factor, and only of its size', async () => {
    const current = await stored();
    const commit = (extra: Record<string, unknown>) =>
      bob.token().then((t) =>
        bearerJson(`${server.endpoint}/v1/wallets/me/shares`, 'POST', t, {
          fromGeneration: current.generation,
          shareACiphertext: current.shareACiphertext,
          shareB: current.shareB,
          proof: `0x${'00'.repeat(65)}`,
          ...extra,
        }),
      );
    const noFactor = await commit({ shareCPasskeyWrapped: current.shareCPasskeyWrapped });
    assert.equal(noFactor.status, 400, JSON.stringify(noFactor.json));
    assert.equal(noFactor.json.error.code, 'invalid_request');
    assert.match(noFactor.json.error.message, /shareCPasskeyWrapped/);
    const short = await commit({
      factor: 'device',
      shareCWrapped: current.shareCWrapped,
      shareCRecoveryWrapped: current.shareCRecoveryWrapped,
      shareCPasskeyWrapped: Buffer.alloc(20).toString('base64'),
    });
    assert.equal(short.status, 400, JSON.stringify(short.json));
    assert.equal(short.json.error.code, 'invalid_request');
    assert.match(short.json.error.message, /shareCPasskeyWrapped/);
    assert.deepEqual(await stored(), current, 'nothing changed');
  });

  test('recovery with the code re-wraps under the passkey when given one; removing the factor drops every wrap', async () => {
    // A recovery needs the code, so this test adds the factor again from two shares.
    await device({ deviceKeys: phone }).removeDeviceFactor();
    assert.equal((await stored()).shareCPasskeyWrapped, undefined);
    const added = await device({ deviceKeys: phone }).addDeviceFactor();
    assert.equal((await stored()).shareCPasskeyWrapped, undefined, 'no passkey given: no passkey wrap');
    const prf = await key.prf({ allow: [key.credentialId], input: PASSKEY_PRF_INPUT });
    await device({ deviceKeys: memoryDeviceKeyStore() }).recoverDeviceShare(added.recoveryCode, { passkeyPrf: prf });
    assert.ok((await stored()).shareCPasskeyWrapped);
    await signs(device({ deviceKeys: memoryDeviceKeyStore(), passkeyPrf: key.prf }), 'after a recovery');
  });

  test('a device share added without a passkey is wrapped under one later, from the device that holds it; the device key and the code stay', async () => {
    // After the recovery above, the passkey opens C (the recovering device's key is not kept here).
    await device({ deviceKeys: memoryDeviceKeyStore(), passkeyPrf: key.prf }).removeDeviceFactor();
    const second = passkey();
    const secondPrf = await second.prf({ allow: [second.credentialId], input: PASSKEY_PRF_INPUT });
    // A two-share wallet has nothing to wrap.
    await assert.rejects(device({ deviceKeys: phone }).wrapDeviceShareForPasskey({ passkeyPrf: secondPrf }), { code: 'NO_FACTOR' });
    await device({ deviceKeys: phone }).addDeviceFactor();
    const before = await stored();
    assert.equal(before.shareCPasskeyWrapped, undefined);
    // Not from a device without the key: nothing changes.
    await assert.rejects(device({ deviceKeys: memoryDeviceKeyStore() }).wrapDeviceShareForPasskey({ passkeyPrf: secondPrf }), {
      code: 'DEVICE_KEY_MISSING',
    });
    assert.deepEqual(await stored(), before, 'nothing changed');

    const wrapped = await device({ deviceKeys: phone }).wrapDeviceShareForPasskey({ passkeyPrf: secondPrf });
    assert.equal(wrapped.address, address);
    const after = await stored();
    assert.equal(after.generation, before.generation + 1, 'one rotation');
    assert.equal(after.shareCWrapped, before.shareCWrapped, 'the device key still opens C');
    assert.equal(after.shareCRecoveryWrapped, before.shareCRecoveryWrapped, 'the recovery code still opens C');
    assert.ok(after.shareCPasskeyWrapped, 'the passkey wrap is stored');
    assert.deepEqual(passkeyCredentialIdOf(new Uint8Array(Buffer.from(after.shareCPasskeyWrapped, 'base64'))), second.credentialId);
    // A place without the device key signs with that passkey; the first passkey opens nothing.
    await signs(device({ deviceKeys: memoryDeviceKeyStore(), passkeyPrf: second.prf }), 'with the passkey added later');
    const otherPrf: PasskeyPrf = async (r) => key.prf({ ...r, allow: [key.credentialId] });
    await assert.rejects(device({ deviceKeys: memoryDeviceKeyStore(), passkeyPrf: otherPrf }).sign({ type: 'message', message: 'x' }), {
      code: 'PASSKEY_PRF_MISMATCH',
    });
    // The device that holds the key signs without a ceremony, as before.
    await signs(device({ deviceKeys: phone }), 'with the device key, after the wrap');
  });
});
