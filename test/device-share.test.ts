/**
 * The optional third share on the owner's device (issue #18, item 3;
 * docs/signer.md, "A third share on the user's device"): a real listening
 * server (built-in issuer, wallet service, custodian), the signer launched
 * by the real platform, and SplitWalletClient devices with their own device
 * key stores. Adding the factor makes the wallet 3-of-3 (key = A ⊕ B ⊕ C)
 * without changing the address; the signer refuses a two-share request
 * (`device_share_required`) and a wrong share C (`share_mismatch`, nothing
 * signed); the old two-share generation is retired at the custodian; a new
 * device recovers with the one-time code, after which the old device's share
 * C and the old code are useless; removing the factor goes back to two
 * shares. The signer's log (at trace) never carries a share C.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { verifyMessage, type Hex } from 'viem';
import { emailLogin } from './helpers/email-login.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { bearerJson, splitDevice } from './helpers/split-world.js';
import type { SignerProcess } from '../src/signer/platform.js';
import { launchCustodianSigner } from './helpers/signer-fixture.js';
import { memoryDeviceKeyStore, type DeviceKeyStore, type OidcSession, type SplitWalletClient } from '../packages/sdk/src/index.js';
import { deviceKeyIdOf, readRecoveryCode, unwrapOnDevice, newRecoveryCode } from '../packages/sdk/src/split/deviceShare.js';

interface Shares {
  generation: number;
  shareACiphertext: string;
  shareB: string;
  kmsKeyId: string;
  factor?: 'device';
  shareCWrapped?: string;
  shareCRecoveryWrapped?: string;
  encryptionContext: Record<string, string>;
}

describe('a third share on the owner’s device', () => {
  let server: TestServer;
  let signer: SignerProcess;
  const signerLog: string[] = [];
  const clients: Array<{ destroy(): void }> = [];
  let alice: OidcSession;
  let address: string;
  const oldDevice = memoryDeviceKeyStore();

  function device(deviceKeys?: DeviceKeyStore): SplitWalletClient {
    const c = splitDevice(server, signer.url, alice, deviceKeys ? { deviceKeys } : {});
    clients.push(c);
    return c;
  }

  const http = bearerJson;

  async function stored(): Promise<Shares> {
    const r = await http(`${server.endpoint}/v1/wallets/me`, 'GET', await alice.token());
    assert.equal(r.status, 200);
    return r.json.split as Shares;
  }

  /** A raw signature request to the signer, with share C (base64) or without. */
  async function signWith(shares: Shares, shareC?: string) {
    return http(`${signer.url}/v1/sign`, 'POST', await alice.idToken(), {
      payload: { type: 'message', message: 'three shares' },
      address,
      shareACiphertext: shares.shareACiphertext,
      shareB: shares.shareB,
      keyId: shares.kmsKeyId,
      generation: shares.generation,
      ...(shareC !== undefined ? { shareC } : {}),
    });
  }

  /** Share C as a device holding `keys` unwraps it (base64), for raw requests. */
  async function shareCOf(shares: Shares, keys: DeviceKeyStore): Promise<string> {
    const wrapped = new Uint8Array(Buffer.from(shares.shareCWrapped!, 'base64'));
    const key = await keys.get(deviceKeyIdOf(wrapped)!);
    assert.ok(key, 'this device holds the key');
    const c = await unwrapOnDevice({ deviceKey: key, wrapped, address });
    assert.ok(c);
    return Buffer.from(c).toString('base64');
  }

  function assertRefused(r: { status: number; json: any }, status: number, code: string) {
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.equal(r.json.error.code, code);
    assert.doesNotMatch(r.json.error.message, /[A-Za-z0-9+/]{40,}/, 'no share or ciphertext in the message');
  }

  let twoShares: Shares;
  let recoveryCode: string;
  let firstShareC: string;
  let firstThree: Shares;

  before(async () => {
    server = await startTestServer({
      env: { SYMBOLON_BUILTIN_ISSUER: '1', SYMBOLON_DEV_MAILBOX: '1' },
      identity: { limits: { codesPerEmail: 50, codesPerIp: 500 } },
    });
    signer = await launchCustodianSigner(server, 'trace');
    signer.stdout?.on('data', (d: Buffer) => signerLog.push(d.toString('utf8')));
    signer.stderr?.on('data', (d: Buffer) => signerLog.push(d.toString('utf8')));
    alice = await emailLogin(`${server.endpoint}/oidc`, 'alice@example.com');
    address = (await device().createWallet()).address;
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await signer?.stop();
    await server?.close();
  });

  test('recovery codes: 128 bits in base32, canonical form only', () => {
    const code = newRecoveryCode();
    assert.match(code, /^([A-Z2-7]{4}-){6}[A-Z2-7]{2}$/);
    assert.equal(readRecoveryCode(code.toLowerCase().replaceAll('-', ' ')).length, 16);
    assert.throws(() => readRecoveryCode(code.slice(0, -1)), TypeError);
    // The last character carries 2 unused bits, which must be zero.
    const last = code.at(-1)!;
    const off = last === 'B' ? 'C' : 'B';
    assert.throws(() => readRecoveryCode(code.slice(0, -1) + off), /last character/);
  });

  test('adding the factor: same address, three shares, the recovery code once; the two-share pair is retired', async () => {
    twoShares = await stored();
    assert.equal(twoShares.factor, undefined);
    const client = device(oldDevice);
    assert.ok(await client.sign({ type: 'message', message: 'before' }), 'a two-share wallet signs');
    const added = await client.addDeviceFactor();
    assert.equal(added.address, address);
    assert.equal(added.generation, twoShares.generation + 1);
    assert.match(added.recoveryCode, /^([A-Z2-7]{4}-){6}[A-Z2-7]{2}$/);
    recoveryCode = added.recoveryCode;

    firstThree = await stored();
    assert.equal(firstThree.factor, 'device');
    assert.equal(firstThree.encryptionContext.factor, 'device');
    assert.ok(firstThree.shareCWrapped && firstThree.shareCRecoveryWrapped);
    assert.equal(await client.hasDeviceFactor(), true);

    const signed = await client.sign({ type: 'message', message: 'with my device' });
    assert.equal(signed.type, 'message');
    assert.ok(await verifyMessage({ address: address as Hex, message: 'with my device', signature: (signed as { signature: Hex }).signature }));
    firstShareC = await shareCOf(firstThree, oldDevice);

    // The old two-share pair: retired at the custodian once the new generation was activated.
    assertRefused(await signWith(twoShares), 422, 'share_generation_retired');
  });

  test('the signer: three shares sign; two shares are refused as device_share_required; a wrong share C signs nothing', async () => {
    const ok = await signWith(firstThree, firstShareC);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.ok(await verifyMessage({ address: address as Hex, message: 'three shares', signature: ok.json.signature }));

    assertRefused(await signWith(firstThree), 422, 'device_share_required');
    const wrong = await signWith(firstThree, randomBytes(32).toString('base64'));
    assertRefused(wrong, 422, 'share_mismatch');
    assert.match(wrong.json.error.message, /share C/);
    // Not 32 bytes: refused before anything is released.
    assertRefused(await signWith(firstThree, randomBytes(31).toString('base64')), 400, 'bad_request');
  });

  test('a device without the key cannot sign; the factor cannot be added twice', async () => {
    await assert.rejects(device(memoryDeviceKeyStore()).sign({ type: 'message', message: 'x' }), { code: 'DEVICE_KEY_MISSING' });
    await assert.rejects(device().sign({ type: 'message', message: 'x' }), { code: 'DEVICE_KEY_MISSING' });
    await assert.rejects(device(oldDevice).addDeviceFactor(), { code: 'FACTOR_PRESENT' });
  });

  test('a plain rotation keeps share C: the same device and the same code still work', async () => {
    const before = await stored();
    const rotated = await device(oldDevice).rotateShares();
    assert.equal(rotated.recoveryCode, undefined);
    const now = await stored();
    assert.equal(now.generation, before.generation + 1);
    assert.equal(now.factor, 'device');
    assert.equal(now.shareCWrapped, before.shareCWrapped, 'the wraps are kept');
    assert.ok(await device(oldDevice).sign({ type: 'message', message: 'after a rotation' }));
    assertRefused(await signWith(before, firstShareC), 422, 'share_generation_retired');
  });

  test('the wallet store takes a factor only with both wraps and a proof that names it', async () => {
    const current = await stored();
    const rotated = await http(`${signer.url}/v1/rotate`, 'POST', await alice.idToken(), {
      address,
      shareACiphertext: current.shareACiphertext,
      shareB: current.shareB,
      keyId: current.kmsKeyId,
      generation: current.generation,
      shareC: firstShareC,
    });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.json));
    assert.equal(rotated.json.factor, 'device');
    assert.equal(rotated.json.shareC, undefined, 'a kept share C is not sent back');
    const commit = (extra: Record<string, unknown>) =>
      alice.token().then((t) =>
        http(`${server.endpoint}/v1/wallets/me/shares`, 'POST', t, {
          fromGeneration: current.generation,
          shareACiphertext: rotated.json.shareACiphertext,
          shareB: rotated.json.shareB,
          proof: rotated.json.proof,
          ...extra,
        }),
      );
    // Committed as a two-share generation: the proof names the factor, so it is refused.
    assertRefused(await commit({}), 400, 'invalid_request');
    assertRefused(await commit({ factor: 'device', shareCWrapped: current.shareCWrapped }), 400, 'invalid_request');
    assertRefused(await commit({ shareCWrapped: current.shareCWrapped, shareCRecoveryWrapped: current.shareCRecoveryWrapped }), 400, 'invalid_request');
    assert.deepEqual(await stored(), current, 'nothing changed');
  });

  test('recovery on a new device with the code: same address, a new code; the old device, its share C and the old code are useless', async () => {
    const before = await stored();
    const newDevice = memoryDeviceKeyStore();
    await assert.rejects(device(newDevice).recoverDeviceShare(newRecoveryCode()), { code: 'RECOVERY_CODE_WRONG' });
    await assert.rejects(device(newDevice).recoverDeviceShare('not a code'), TypeError);
    const recovered = await device(newDevice).recoverDeviceShare(recoveryCode);
    assert.equal(recovered.address, address);
    assert.notEqual(recovered.recoveryCode, recoveryCode);

    const signed = await device(newDevice).sign({ type: 'message', message: 'recovered' });
    assert.ok(await verifyMessage({ address: address as Hex, message: 'recovered', signature: (signed as { signature: Hex }).signature }));

    const now = await stored();
    // The old device holds no key for the new wrap.
    await assert.rejects(device(oldDevice).sign({ type: 'message', message: 'x' }), { code: 'DEVICE_KEY_MISSING' });
    // Its share C with the current shares does not rebuild the key; with the old shares, the generation is retired.
    assertRefused(await signWith(now, firstShareC), 422, 'share_mismatch');
    assertRefused(await signWith(before, firstShareC), 422, 'share_generation_retired');
    // The old code opens only the old share C, which nothing pairs with any more.
    await assert.rejects(device(memoryDeviceKeyStore()).recoverDeviceShare(recoveryCode), { code: 'RECOVERY_CODE_WRONG' });
    recoveryCode = recovered.recoveryCode;
    const newShareC = await shareCOf(now, newDevice);
    assert.notEqual(newShareC, firstShareC, 'a recovery draws a new share C');
    // The new device removes the factor: two shares again, the three-share pair retired.
    const removed = await device(newDevice).removeDeviceFactor();
    assert.equal(removed.generation, now.generation + 1);
    const two = await stored();
    assert.equal(two.factor, undefined);
    assert.equal(two.shareCWrapped, undefined);
    assert.ok(await device().sign({ type: 'message', message: 'two shares again' }));
    assertRefused(await signWith(now, newShareC), 422, 'share_generation_retired');
  });

  test('share C never reaches the signer’s log', () => {
    const log = signerLog.join('');
    assert.ok(log.length > 0, 'the signer logged at trace');
    assert.ok(!log.includes(firstShareC), 'no share C');
    assert.doesNotMatch(log, /"shareC"\s*:\s*"[A-Za-z0-9+/]{43}=/);
  });
});
