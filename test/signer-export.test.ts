/**
 * An owner's key export through the signer (docs/signer.md, "Export"), all
 * real parts: a custodian on a random port, the signer launched by the real
 * platform as a child process, an OIDC issuer whose tokens carry the claims
 * under test. The device side generates an HPKE key pair for one export
 * (packages/sdk/src/split/keyExport.ts) and opens the answer: the key equals
 * the wallet's and derives its address. Refused, with stable codes and no
 * release: a token whose authentication (auth_time, else iat) is older than
 * 5 minutes, another owner's token, a bad public key, a signer with
 * SYMBOLON_WALLET_EXPORT disabled; a key policy that denies
 * `symbolon:SplitSharePurpose` = export refuses the export while signatures
 * still work. The custodian's Decrypt audit event of an export is marked
 * `releasePurpose: export` (a signature's is not), and no log line of either
 * process carries the key. Also: the custodian reads the purpose from the
 * document's user data (none: sign; anything unknown: refused), and
 * SYMBOLON_WALLET_EXPORT's parsing. Runs on SQLite, and on PostgreSQL with DATABASE_URL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getPublicKey } from '../src/crypto/secp256k1.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { generateExportKeyPair, openExportKey } from '../packages/sdk/src/split/keyExport.js';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { PlatformKey } from '../src/attestation/platform-key.js';
import { signAttestationDocument } from '../src/attestation/signAttestationDocument.js';
import { RecipientAttestation } from '../src/attestation/recipient-attestation.js';
import { encodeReleasePurpose, RELEASE_PURPOSE_KEY } from '../src/attestation/release-purpose.js';
import { AttestationError } from '../src/attestation/errors.js';
import { signerSettingsFromEnv } from '../src/signer/settings.js';
import { configFromEnv } from '../src/config.js';
import { postSign, signBody, startSplitFixture, type LaunchedSigner, type SplitFixture, type SplitWallet } from './helpers/signer-fixture.js';

async function postExport(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/export`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

function exportBody(wallet: SplitWallet, token: string, publicKey: Uint8Array, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    address: wallet.address,
    shareB: Buffer.from(wallet.shareB).toString('base64'),
    shareACiphertext: Buffer.from(wallet.shareACiphertext).toString('base64'),
    publicKey: Buffer.from(publicKey).toString('base64'),
    keyId: wallet.keyId,
    token,
    ...overrides,
  };
}

describe('split key export (real processes)', () => {
  let fx: SplitFixture;
  let signer: LaunchedSigner;
  let alice: SplitWallet;
  const now = () => Math.floor(Date.now() / 1000);

  /** A token whose authentication happened `ageSec` ago (iat now unless given). */
  async function token(sub: string, claims: Record<string, unknown> = {}, iat?: number): Promise<string> {
    const t = await fx.issuer.mint(sub, { claims, ...(iat !== undefined ? { iat } : {}) });
    fx.secrets.add(t);
    return t;
  }

  /** The custodian's Decrypt events since `after` (seq), flushed first. */
  async function decryptEvents(after: number) {
    await fx.server.custodian.audit.flush();
    return fx.server.custodian.deps.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', after)
      .where('operation', '=', 'Decrypt')
      .orderBy('seq')
      .execute();
  }
  async function lastSeq(): Promise<number> {
    await fx.server.custodian.audit.flush();
    const row = await fx.server.custodian.deps.store.db.selectFrom('audit_events').select(['seq']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return Number(row?.seq ?? 0);
  }

  before(async () => {
    fx = await startSplitFixture();
    signer = await fx.launch();
    alice = await fx.createWallet('alice');
  });

  after(async () => {
    await fx?.close();
  });

  test('the sealed answer opens on the device to the wallet key; the custodian audits the release as an export', async () => {
    const from = await lastSeq();
    const { keyPair, publicKey } = await generateExportKeyPair();
    const r = await postExport(signer.url, exportBody(alice, await token('alice', { auth_time: now() - 30, amr: ['otp'] }), new Uint8Array(0)));
    assert.equal(r.status, 400, 'the device key is required and checked');
    const ok = await postExport(signer.url, exportBody(alice, await token('alice', { auth_time: now() - 30, amr: ['otp'] }), publicKey));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.deepEqual(Object.keys(ok.json).sort(), ['address', 'ciphertext', 'enc']);
    assert.equal(ok.json.address, alice.address);
    const key = await openExportKey({
      keyPair,
      address: alice.address,
      enc: Buffer.from(ok.json.enc, 'base64'),
      ciphertext: Buffer.from(ok.json.ciphertext, 'base64'),
    });
    assert.deepEqual(key, alice.privateKey);
    assert.equal(publicKeyToAddress(getPublicKey(key)), alice.address);
    // Sealed for this address: opened as another wallet's, it does not open.
    await assert.rejects(
      openExportKey({
        keyPair,
        address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        enc: Buffer.from(ok.json.enc, 'base64'),
        ciphertext: Buffer.from(ok.json.ciphertext, 'base64'),
      }),
      RangeError,
    );
    // Another device's key pair cannot open it.
    const other = await generateExportKeyPair();
    await assert.rejects(
      openExportKey({
        keyPair: other.keyPair,
        address: alice.address,
        enc: Buffer.from(ok.json.enc, 'base64'),
        ciphertext: Buffer.from(ok.json.ciphertext, 'base64'),
      }),
      RangeError,
    );

    // A signature afterwards: its release is not marked.
    const signed = await postSign(signer.url, signBody(alice, await token('alice'), { type: 'message', message: 'after export' }, { keyId: alice.keyId }));
    assert.equal(signed.status, 200, JSON.stringify(signed.json));

    const events = await decryptEvents(from);
    const exports = events.filter((e) => e.release_purpose === 'export');
    assert.equal(exports.length, 1, JSON.stringify(events.map((e) => [e.outcome, e.release_purpose])));
    const ev = exports[0]!;
    assert.equal(ev.outcome, 'allowed');
    assert.match(ev.principal_arn ?? '', /:assumed-role\//);
    assert.equal(JSON.parse(ev.principal_tags).sub, 'alice');
    assert.equal(JSON.parse(ev.encryption_context!).address, alice.address);
    assert.ok(Math.abs(Number(ev.time) - Date.now()) < 600_000);
    assert.ok(
      events.some((e) => e.release_purpose === null && e.outcome === 'allowed'),
      'the signature release is audited without a purpose',
    );

    // The signer recorded who exported and how they authenticated; no line of either process carries the key.
    await new Promise((r) => setTimeout(r, 200));
    const line = signer.lines.find((l) => l.includes('split key exported'));
    assert.ok(line, 'the signer logs the export');
    assert.deepEqual(JSON.parse(line).amr, ['otp']);
    const keyHex = Buffer.from(alice.privateKey).toString('hex');
    const keyB64 = Buffer.from(alice.privateKey).toString('base64');
    for (const l of [...signer.lines, ...fx.custodianLines]) assert.ok(!l.includes(keyHex) && !l.includes(keyB64), 'a log line carries the key');
  });

  test('an authentication older than 5 minutes is refused before any release (auth_time, else iat)', async () => {
    const from = await lastSeq();
    const { publicKey } = await generateExportKeyPair();
    const staleAuth = await postExport(signer.url, exportBody(alice, await token('alice', { auth_time: now() - 301 }), publicKey));
    assert.equal(staleAuth.status, 401, JSON.stringify(staleAuth.json));
    assert.equal(staleAuth.json.error.code, 'reauthentication_required');
    assert.match(staleAuth.json.error.message, /300 seconds/);
    // A refreshed token (new iat) does not make an old login fresh: auth_time decides.
    const refreshed = await postExport(signer.url, exportBody(alice, await token('alice', { auth_time: now() - 3600 }, now()), publicKey));
    assert.equal(refreshed.json.error?.code, 'reauthentication_required');
    // Without auth_time, iat is the authentication time.
    const staleIat = await postExport(signer.url, exportBody(alice, await token('alice', {}, now() - 400), publicKey));
    assert.equal(staleIat.json.error?.code, 'reauthentication_required');
    assert.equal((await decryptEvents(from)).length, 0, 'nothing was released');
  });

  test("another owner's fresh token is refused: the custodian does not open alice's share A for bob", async () => {
    const { publicKey } = await generateExportKeyPair();
    const r = await postExport(signer.url, exportBody(alice, await token('bob', { auth_time: now() }), publicKey));
    assert.ok(r.status === 422 || r.status === 403, JSON.stringify(r.json));
    assert.ok(['share_ciphertext_invalid', 'release_refused'].includes(r.json.error.code), r.json.error.code);
    assert.deepEqual(Object.keys(r.json), ['error']);
  });

  test('a public key that is not a P-256 point is refused', async () => {
    const bad = new Uint8Array(65).fill(7);
    bad[0] = 4;
    const r = await postExport(signer.url, exportBody(alice, await token('alice'), bad));
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'bad_request');
  });

  test('a key policy denying symbolon:SplitSharePurpose = export refuses the export (audited as a denied export); signing still works', async () => {
    const carol = await fx.createWallet('carol', {
      statements: [
        {
          Sid: 'NoExport',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringEquals: { 'symbolon:SplitSharePurpose': 'export' } },
        },
      ],
    });
    const from = await lastSeq();
    const { publicKey } = await generateExportKeyPair();
    const r = await postExport(signer.url, exportBody(carol, await token('carol'), publicKey));
    assert.equal(r.status, 403, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'release_refused');
    const signed = await postSign(signer.url, signBody(carol, await token('carol'), { type: 'message', message: 'still signs' }, { keyId: carol.keyId }));
    assert.equal(signed.status, 200, JSON.stringify(signed.json));
    const events = await decryptEvents(from);
    assert.deepEqual(
      events.map((e) => [e.outcome, e.release_purpose]),
      [
        ['denied', 'export'],
        ['allowed', null],
      ],
    );
  });

  test('with SYMBOLON_WALLET_EXPORT disabled the signer refuses every export (export_disabled) and still signs', async () => {
    const disabled = await fx.launch({ exportEnabled: false });
    const from = await lastSeq();
    const { publicKey } = await generateExportKeyPair();
    const r = await postExport(disabled.url, exportBody(alice, await token('alice'), publicKey));
    assert.equal(r.status, 403, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'export_disabled');
    assert.equal((await decryptEvents(from)).length, 0, 'nothing was released');
    const signed = await postSign(disabled.url, signBody(alice, await token('alice'), { type: 'message', message: 'hi' }, { keyId: alice.keyId }));
    assert.equal(signed.status, 200, JSON.stringify(signed.json));
  });
});

describe('the release purpose the custodian reads from the attestation document', () => {
  const platform = PlatformKey.fromSecret(PlatformKey.generateSecret());
  const spki = new Uint8Array(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' }));
  const doc = (userData?: Uint8Array) =>
    signAttestationDocument(platform, {
      moduleId: 'test',
      pcrs: new Map([[0, new Uint8Array(48).fill(1)]]),
      publicKey: spki,
      nonce: new Uint8Array(randomBytes(32)),
      userData,
      timestamp: Date.now(),
    });

  test('no user data is a signing release; the stated export is `export`; anything else is refused as malformed', () => {
    const verifier = new RecipientAttestation({ trustedKeys: [platform.spki] });
    const signing = verifier.accept(doc(), Date.now());
    assert.equal(signing.purpose, 'sign');
    assert.equal(signing.conditions[RELEASE_PURPOSE_KEY], 'sign');
    const exporting = verifier.accept(doc(encodeReleasePurpose('export')), Date.now());
    assert.equal(exporting.purpose, 'export');
    assert.equal(exporting.conditions[RELEASE_PURPOSE_KEY], 'export');
    // The same key and measurements, another purpose: not the cached signing result.
    assert.notEqual(exporting, signing);
    for (const bad of ['symbolon:split-share-purpose=sign', 'symbolon:split-share-purpose=', 'export', 'anything']) {
      assert.throws(
        () => verifier.accept(doc(new TextEncoder().encode(bad)), Date.now()),
        (e: unknown) => e instanceof AttestationError && e.code === 'malformed',
        bad,
      );
    }
  });

  test('SYMBOLON_WALLET_EXPORT: enabled by default, disabled when set, anything else refused; the server config carries it', () => {
    assert.equal(signerSettingsFromEnv({}).exportEnabled, true);
    assert.equal(signerSettingsFromEnv({ SYMBOLON_WALLET_EXPORT: 'enabled' }).exportEnabled, true);
    assert.equal(signerSettingsFromEnv({ SYMBOLON_WALLET_EXPORT: 'disabled' }).exportEnabled, false);
    assert.throws(() => signerSettingsFromEnv({ SYMBOLON_WALLET_EXPORT: 'no' }), /SYMBOLON_WALLET_EXPORT must be enabled or disabled/);
    assert.equal(configFromEnv({ SYMBOLON_WALLET_EXPORT: 'disabled' }, { port: '8080' }).signer.exportEnabled, false);
  });
});
